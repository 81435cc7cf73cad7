//! The engine end to end on the sample data: no look-ahead, a peer re-implementation of
//! `sma_cross`, money conservation across trades, byte-identical outputs, every shipped spec.

use std::path::{Path, PathBuf};

use perpsim::exchange::Side;
use perpsim::outcome::{self, trades::ExitReason};
use perpsim::report;
use perpsim::spec::{self, RunSpec};
use tempfile::TempDir;

use super::repo;

/// A spec for the sample data written in `dir` (paths absolute, so it can live anywhere).
fn spec_in(dir: &Path, body: &str) -> RunSpec {
    let data = repo().join("data");
    let text = body.replace("DATA", &data.display().to_string());
    let file = dir.join("spec.toml");
    std::fs::write(&file, &text).unwrap();
    spec::read(&file).unwrap_or_else(|e| panic!("{e}"))
}

const SMA: &str = r#"
name = "t"
[data]
timeframe = "1h"
from = "2024-01-01"
to = "TO"
[[data.symbols]]
symbol = "BTCUSDT"
candles = "DATA/BTCUSDT-1h.zip"
mark = "DATA/BTCUSDT-1h-markPrice.zip"
funding = "DATA/BTCUSDT-fundingRate.zip"
[strategy]
kind = "sma_cross"
fast = 10
slow = 30
"#;

#[test]
fn decisions_do_not_depend_on_the_future() {
    // The same history cut at 1 March and at 1 May: every decision and every exchange event
    // before the cut is identical. A strategy or an engine that peeked at later bars would
    // decide differently in the run that has them.
    let dir = TempDir::new().unwrap();
    let cut = 1_709_251_200_000; // 2024-03-01 00:00 UTC
    let run = |to: &str| {
        let spec = spec_in(dir.path(), &SMA.replace("TO", to));
        let market = spec.load_market().unwrap();
        outcome::run(&spec, &market, true)
    };
    let (short, long) = (run("2024-03-01"), run("2024-05-01"));
    let before = |r: &outcome::RunResult| {
        let risk: Vec<String> = r
            .engine
            .risk
            .audit()
            .events()
            .iter()
            .filter(|e| e.time < cut)
            .map(|e| format!("{e:?}"))
            .collect();
        let venue: Vec<String> = r
            .engine
            .venue
            .events()
            .iter()
            .filter(|e| e.time < cut)
            .map(|e| format!("{e:?}"))
            .collect();
        (risk, venue)
    };
    let (a, b) = (before(&short), before(&long));
    assert!(
        a.0.len() > 10 && a.1.len() > 10,
        "too few events to compare"
    );
    assert_eq!(a, b);
    let n = short.engine.curve.equity.len();
    assert_eq!(short.engine.curve.equity[..], long.engine.curve.equity[..n]);
}

/// Closes of the sample's BTC candles in the span, read by the test itself (csv + zip).
fn closes_and_opens(from: i64, to: i64) -> Vec<(i64, f64, f64)> {
    let file = std::fs::File::open(repo().join("data/BTCUSDT-1h.zip")).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut reader = csv::Reader::from_reader(zip.by_index(0).unwrap());
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let t: i64 = r[0].parse().unwrap();
            (t, r[1].parse().unwrap(), r[4].parse().unwrap())
        })
        .filter(|(t, _, _)| *t >= from && *t < to)
        .collect()
}

#[test]
fn sma_cross_matches_a_straightforward_reimplementation() {
    // Peer check. sma_cross at 1x with fees, no funding, no mark file, no risk rules: the
    // trades must be, to the bar, those of this plain loop — SMA by summing the window each
    // bar, state = sign(fast − slow) with ties keeping the state, a flip decided at a bar's
    // close fills at the next bar's open; the first sign is where the averages start, not a
    // cross, so the first trade waits for the first flip.
    let dir = TempDir::new().unwrap();
    let body = r#"
name = "peer"
[data]
from = "2024-01-01"
to = "2024-07-01"
[[data.symbols]]
symbol = "BTCUSDT"
candles = "DATA/BTCUSDT-1h.zip"
[strategy]
kind = "sma_cross"
fast = 5
slow = 20
[risk]
preset = "off"
max_leverage = 1
fixed_fraction = 0.5
"#;
    let spec = spec_in(dir.path(), body);
    let market = spec.load_market().unwrap();
    let run = outcome::run(&spec, &market, false);

    let bars = closes_and_opens(1_704_067_200_000, 1_719_792_000_000);
    let sma = |i: usize, n: usize| bars[i + 1 - n..=i].iter().map(|b| b.2).sum::<f64>() / n as f64;
    let mut state = 0i8;
    let mut expected: Vec<(i64, Side)> = Vec::new(); // entry time and side
    for i in 19..bars.len() - 1 {
        let (f, s) = (sma(i, 5), sma(i, 20));
        let now = if f > s {
            1
        } else if f < s {
            -1
        } else {
            state
        };
        if now != state && now != 0 {
            let crossed = state != 0;
            state = now;
            let side = if now > 0 { Side::Long } else { Side::Short };
            if crossed {
                expected.push((bars[i + 1].0, side));
            }
        }
    }
    let got: Vec<(i64, Side)> = run.trades.iter().map(|t| (t.entry_time, t.side)).collect();
    assert!(expected.len() > 50, "{} flips", expected.len());
    assert_eq!(got, expected);
    // the old behaviour, on request: one more trade, on the averages' first sign
    let eager = spec_in(
        dir.path(),
        &body.replace("slow = 20", "slow = 20\nenter_at_start = true"),
    );
    let eager = outcome::run(&eager, &market, false);
    assert_eq!(eager.trades.len(), run.trades.len() + 1);
    assert_eq!(eager.trades[0].entry_time, bars[20].0);
    assert_eq!(eager.trades[1].entry_time, expected[0].0);
    // each trade ends where the next begins, at that bar's open, and pays the taker fee twice
    let open_at = |t: i64| bars.iter().find(|b| b.0 == t).unwrap().1;
    for pair in run.trades.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(a.exit_time, b.entry_time);
        assert_eq!(a.exit_reason, ExitReason::Signal);
        assert_eq!(a.entry_price, open_at(a.entry_time));
        assert_eq!(a.exit_price, open_at(a.exit_time));
        let fees = 0.0005 * a.qty * (a.entry_price + a.exit_price);
        assert!((a.fees - fees).abs() < 1e-6, "{} vs {fees}", a.fees);
        let sign = if a.side == Side::Long { 1.0 } else { -1.0 };
        let pnl = sign * a.qty * (a.exit_price - a.entry_price) - fees;
        assert!((a.pnl - pnl).abs() < 1e-6, "{} vs {pnl}", a.pnl);
        assert_eq!(a.funding, 0.0);
    }
}

/// Σ trade PnL = final equity − start, for every shipped spec (each trade's fees, funding and
/// realised PnL, and the open trade's unrealised PnL at the last mark).
#[test]
fn every_shipped_spec_runs_and_its_trades_add_up() {
    let specs: Vec<PathBuf> = glob::glob(&repo().join("strategies/*.toml").display().to_string())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(specs.len() >= 8, "{specs:?}");
    for file in specs {
        let spec = spec::read(&file).unwrap_or_else(|e| panic!("{e}"));
        let market = spec.load_market().unwrap();
        let run = outcome::run(&spec, &market, false);
        let m = &run.summary.metrics;
        assert!(
            run.engine.venue.account.is_conserved(),
            "{}",
            file.display()
        );
        let total: f64 = run.trades.iter().map(|t| t.pnl).sum();
        let change = m.final_equity - m.start_equity;
        assert!(
            (total - change).abs() < 1e-6 * m.start_equity,
            "{}: trades {total} vs equity change {change}",
            file.display()
        );
    }
}

#[test]
fn identical_inputs_give_identical_files() {
    let dir = TempDir::new().unwrap();
    let spec = spec::read(&repo().join("strategies/donchian_breakout.toml")).unwrap();
    let market = spec.load_market().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let run = outcome::run(&spec, &market, true);
        report::files::write_run(out, &run).unwrap();
    }
    for name in ["summary.json", "trades.csv", "equity.csv", "events.csv"] {
        let (x, y) = (
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
        );
        assert!(x.len() > 100, "{name} is nearly empty");
        assert!(x == y, "{name} differs");
    }
}

#[test]
fn naive_leverage_is_liquidated_where_the_default_rules_survive() {
    // The sample's first crash (−33.9 % from 2024-03-15) liquidates a 10x long with no stop;
    // the same always-long intent behind the default risk layer is not liquidated.
    let dir = TempDir::new().unwrap();
    let body = |risk: &str| {
        format!(
            r#"
name = "n"
[data]
to = "2024-06-01"
[[data.symbols]]
symbol = "BTCUSDT"
candles = "DATA/BTCUSDT-1h.zip"
mark = "DATA/BTCUSDT-1h-markPrice.zip"
funding = "DATA/BTCUSDT-fundingRate.zip"
[strategy]
kind = "naive_leverage"
leverage = 10
[risk]
{risk}
"#
        )
    };
    let run = |risk: &str| {
        let spec = spec_in(dir.path(), &body(risk));
        let market = spec.load_market().unwrap();
        outcome::run(&spec, &market, false).summary.metrics
    };
    let naive = run("preset = \"off\"\nmax_leverage = 10");
    assert!(naive.liquidations >= 1 && !naive.survived, "{naive:?}");
    let guarded = run("preset = \"default\"");
    assert_eq!(guarded.liquidations, 0, "{guarded:?}");
    assert!(guarded.survived && guarded.max_drawdown < naive.max_drawdown);
}

#[test]
fn a_step_allocates_nothing_in_steady_state() {
    // buy_and_hold behind the default rules: after the entry, every step walks an open
    // position through the venue, the risk layer's guards, the strategy and the record —
    // with no signal, no fill and (no funding file) no booking: nothing may be allocated.
    let dir = TempDir::new().unwrap();
    let body = r#"
name = "a"
[data]
to = "2024-03-01"
[[data.symbols]]
symbol = "BTCUSDT"
candles = "DATA/BTCUSDT-1h.zip"
mark = "DATA/BTCUSDT-1h-markPrice.zip"
[strategy]
kind = "buy_and_hold"
exposure = 1.0
"#;
    let spec = spec_in(dir.path(), body);
    let market = spec.load_market().unwrap();
    let steps = market.clock.len();
    let mut engine = perpsim::engine::Engine::new(&spec, 3_600_000, true);
    let mut cursor = 0;
    let mut one = |engine: &mut perpsim::engine::Engine, i: usize| {
        let input = [perpsim::engine::step_bar(&market, 0, i, &mut cursor)];
        engine.step(market.clock[i], &input);
    };
    let start = super::counting::allocations();
    for i in 0..500 {
        one(&mut engine, i);
    }
    // the counter works: the entry (decision, order, fill, ledger) allocated
    assert!(super::counting::allocations() > start);
    assert!(
        engine.venue.account.position(0).is_some(),
        "buy_and_hold holds by now"
    );
    let events = engine.venue.events().len();
    let before = super::counting::allocations();
    for i in 500..steps {
        one(&mut engine, i);
    }
    let allocated = super::counting::allocations() - before;
    assert_eq!(
        engine.venue.events().len(),
        events,
        "something happened: not a steady state"
    );
    assert_eq!(
        allocated,
        0,
        "{} steps allocated {allocated} times",
        steps - 500
    );
}

#[test]
fn replayed_signals_give_the_run_of_the_live_strategy() {
    // A sweep shares a market-only strategy's signals between configurations: recorded once,
    // played back. The played-back run must be the live run, event for event.
    let dir = TempDir::new().unwrap();
    let spec = spec_in(dir.path(), &SMA.replace("TO", "2024-06-01"));
    let market = spec.load_market().unwrap();
    let recorded =
        perpsim::engine::record_signals(&spec, &market).expect("sma_cross is market-only");
    assert!(
        recorded.signals.len() > 10,
        "{} signals",
        recorded.signals.len()
    );
    let live = outcome::run(&spec, &market, true);
    let replayed =
        outcome::run_replaying(&spec, &market, true, Some(std::sync::Arc::new(recorded)));
    let files = |r: &outcome::RunResult, name: &str| {
        let out = dir.path().join(name);
        report::files::write_run(&out, r).unwrap();
        ["summary.json", "trades.csv", "equity.csv", "events.csv"]
            .map(|f| std::fs::read(out.join(f)).unwrap())
    };
    assert!(files(&live, "live") == files(&replayed, "replayed"));
    // a strategy that looks at its position is never recorded
    let long_only = SMA
        .replace("TO", "2024-06-01")
        .replace("slow = 30", "slow = 30\nlong_only = true");
    let spec = spec_in(dir.path(), &long_only);
    assert!(perpsim::engine::record_signals(&spec, &market).is_none());
}

#[test]
fn columns_rebuilt_from_the_account_log_are_the_snapshots_of_every_step() {
    // the report's per-step columns are rebuilt after the run from the account's logged
    // changes and the marks; they must be, bit for bit, what the venue's snapshot said at
    // each step — on isolated margin (sparse log) and on a cross-margin pair, whose
    // liquidation prices move with the other leg's mark every step
    for name in ["sma_cross", "core_hedge"] {
        let spec = spec::read(&repo().join(format!("strategies/{name}.toml"))).unwrap();
        let market = spec.load_market().unwrap();
        let timeframe = market.symbols[0].timeframe.ms();
        let n = market.symbols.len();
        let mut engine = perpsim::engine::Engine::new(&spec, timeframe, true);
        let mut cursors = vec![0; n];
        let mut seen = Vec::new();
        let mut liquidation = Vec::new();
        for (i, &time) in market.clock.iter().enumerate() {
            let bars: Vec<_> = (0..n)
                .filter(|&s| market.bar_at[s][i] != perpsim::market::NO_BAR)
                .map(|s| {
                    let at = market.bar_at[s][i] as usize;
                    perpsim::engine::step_bar(&market, s, at, &mut cursors[s])
                })
                .collect();
            engine.step(time, &bars);
            seen.push(engine.venue.snapshot());
            liquidation.extend((0..n).map(|s| engine.venue.liquidation_price(s)));
        }
        let logged = engine.curve.log.len();
        engine.fill_columns(&market);
        let c = &engine.curve;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let column = |f: fn(&perpsim::exchange::venue::Snapshot) -> f64| {
            bits(&seen.iter().map(f).collect::<Vec<_>>())
        };
        assert_eq!(c.time, market.clock, "{name}");
        assert_eq!(bits(&c.wallet), column(|s| s.wallet), "{name}");
        assert_eq!(bits(&c.equity), column(|s| s.equity()), "{name}");
        assert_eq!(bits(&c.margin_ratio), column(|s| s.margin_ratio), "{name}");
        assert_eq!(
            bits(&c.gross_notional),
            column(|s| s.gross_notional),
            "{name}"
        );
        assert_eq!(bits(&c.liquidation), bits(&liquidation), "{name}");
        assert!(
            engine.venue.events().len() > 20,
            "{name}: too few events to test the log"
        );
        if name == "sma_cross" {
            assert!(
                logged * 10 < market.clock.len(),
                "{logged} states logged over {} steps",
                market.clock.len()
            );
        }
    }
}

#[test]
fn a_run_uses_the_bracket_table_in_force_at_each_step_and_says_which() {
    // The sample spans 2024-01-01 to 2025-12-31: Binance's BTCUSDT table of 2023-12-12 is in
    // force at the start, those of 2024-02-03 and 2024-05-30 take over on their dates.
    let path = crate::repo().join("strategies/naive_leverage.toml");
    let spec = perpsim::spec::read(&path).unwrap();
    let market = spec.load_market().unwrap();
    let run = outcome::run(&spec, &market, false);
    assert_eq!(
        run.summary.brackets["BTCUSDT"],
        [
            "table of 2023-12-12 from 2024-01-01 00:00",
            "table of 2024-02-03 from 2024-02-03 00:00",
            "table of 2024-05-30 from 2024-05-30 00:00"
        ]
    );
    let json = serde_json::to_value(&run.summary).unwrap();
    assert_eq!(
        json["brackets"]["BTCUSDT"][2],
        "table of 2024-05-30 from 2024-05-30 00:00"
    );
}

#[test]
fn the_worst_point_margin_ratio_reaches_the_liquidation_and_bounds_the_close() {
    // naive_leverage at 10x on the sample is liquidated on 2024-03-16 00:00: that step's
    // worst-point ratio is at least 1 though the account is flat at the close; every step's
    // worst point is at least its close (the adverse extreme is no better than the close)
    let path = crate::repo().join("strategies/naive_leverage.toml");
    let spec = perpsim::spec::read(&path).unwrap();
    let market = spec.load_market().unwrap();
    let mut run = outcome::run(&spec, &market, true);
    run.engine.fill_columns(&market);
    let c = &run.engine.curve;
    let at = c.time.iter().position(|&t| t == 1_710_547_200_000).unwrap();
    assert!(
        c.margin_ratio_worst[at] >= 1.0,
        "{}",
        c.margin_ratio_worst[at]
    );
    assert_eq!(c.margin_ratio[at], 0.0);
    assert!(c.margin_ratio_worst[at - 1] < 1.0);
    let below = (0..c.time.len()).filter(|&i| c.margin_ratio_worst[i] + 1e-12 < c.margin_ratio[i]);
    assert_eq!(below.count(), 0);
}
