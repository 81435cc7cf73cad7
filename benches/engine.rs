//! The engine's throughput (issue: `sma_cross` with the default risk layer, isolated margin,
//! funding and mark price on 1,000,000 1m bars of one symbol ≥ 20 million bars/s on one core;
//! `core_hedge` on two symbols ≥ 10 million bar-steps/s), beside a tight-loop baseline.
//!
//! Regimes, one thread, history in memory (loading and writing excluded), engine built in the
//! untimed setup:
//! - `baseline/sma_cross_pnl`: the SMA crossover PnL in a plain loop — no exchange, no risk,
//!   no fees: the floor the engine is measured against;
//! - `engine/sma_cross`: the full engine — venue (funding, mark path, stops), risk layer
//!   (default rules: ATR stops, sizing, caps, breakers, guards), strategy, per-step record
//!   (the running figures, and the account log the report's columns are rebuilt from);
//! - `engine/sma_cross_no_curve`: the same without the account log (as a sweep runs);
//! - `engine/sma_cross_columns`: rebuilding the per-step columns of `engine/sma_cross`'s run
//!   from its account log and the marks, as the report does before writing `equity.csv`
//!   (output, outside the run's figure, but measured);
//! - `engine/sma_cross_trading`: the same with the curve but without the drawdown kill
//!   switch: on this market the default rules stop the bot for good (30 % drawdown) early,
//!   after which most steps are flat and refused; here it trades to the end;
//! - `engine/core_hedge`: two symbols (bar-steps = 2 × steps), cross margin;
//! - `engine/signals_replay`: `engine/sma_cross`'s own signals written to a signal file and
//!   replayed (`kind = "signals"`; issue: ≥ 10 million bars/s after loading);
//! - `engine/sma_cross_1h_detail_1m`: `sma_cross_trading` on the same minutes gathered into
//!   1h bars, each bar's path walked from its 60 minutes (`data.detail = "1m"`) whenever it
//!   reaches a level; throughput counted in detail (1m) bars (issue: ≥ 2 million/s).

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use perpsim::data::synth::{self, SynthConfig};
use perpsim::engine::{Engine, run_history};
use perpsim::market::{Detail, MarkSource, MarketData, Ohlc, SymbolHistory, Timeframe};
use perpsim::spec::{self, RunSpec};

const BARS: usize = 1_000_000;

fn market() -> MarketData {
    let config = SynthConfig {
        days: (BARS / 1440) as u32 + 1,
        timeframe: Timeframe::MINUTE,
        ..SynthConfig::default()
    };
    let m = synth::generate(&config).unwrap();
    let mut histories: Vec<SymbolHistory> = ["BTCUSDT", "ETHUSDT"]
        .iter()
        .zip(&m.series)
        .map(|(name, s)| s.history(name, Timeframe::MINUTE))
        .collect();
    for h in &mut histories {
        h.truncate(BARS);
    }
    MarketData::new(histories)
}

/// `minutes` gathered into 1h bars, with the minutes as their detail.
fn hourly_with_detail(minutes: &SymbolHistory) -> SymbolHistory {
    let (c, m) = (&minutes.candles, &minutes.mark);
    let hours = c.len() / 60;
    let mut h = minutes.clone();
    h.truncate(hours * 60);
    let ohlc = |o: &[f64], hi: &[f64], lo: &[f64], cl: &[f64], i: usize| Ohlc {
        open: o[i],
        high: hi[i],
        low: lo[i],
        close: cl[i],
    };
    let last: Vec<Ohlc> = (0..hours * 60)
        .map(|i| ohlc(&c.open, &c.high, &c.low, &c.close, i))
        .collect();
    let mark: Vec<Ohlc> = (0..hours * 60)
        .map(|i| ohlc(&m.open, &m.high, &m.low, &m.close, i))
        .collect();
    let gather = |bars: &[Ohlc], k: usize| {
        let b = &bars[k * 60..(k + 1) * 60];
        Ohlc {
            open: b[0].open,
            high: b.iter().map(|x| x.high).fold(f64::MIN, f64::max),
            low: b.iter().map(|x| x.low).fold(f64::MAX, f64::min),
            close: b[59].close,
        }
    };
    h.timeframe = Timeframe::HOUR;
    h.candles = perpsim::market::Candles::with_capacity(hours);
    (h.mark.open, h.mark.high, h.mark.low, h.mark.close) = Default::default();
    for k in 0..hours {
        let b = gather(&last, k);
        let volume = c.volume[k * 60..(k + 1) * 60].iter().sum();
        h.candles
            .push(c.open_time[k * 60], b.open, b.high, b.low, b.close, volume);
        let mk = gather(&mark, k);
        h.mark.open.push(mk.open);
        h.mark.high.push(mk.high);
        h.mark.low.push(mk.low);
        h.mark.close.push(mk.close);
    }
    for bar in &mut h.funding.bar {
        *bar /= 60;
    }
    h.detail = Some(Detail {
        timeframe: Timeframe::MINUTE,
        per_bar: 60,
        last,
        mark,
        mark_source: MarkSource::MarkCandles,
    });
    h
}

/// A spec naming the sample's files (checked to exist) whose history is replaced in memory.
fn spec(strategy: &str, symbols: &[&str], mode: &str) -> RunSpec {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut text = format!(
        "name = \"bench\"\n[account]\nmargin_mode = \"{mode}\"\n[strategy]\n{strategy}\n[data]\n"
    );
    for s in symbols {
        text +=
            &format!("[[data.symbols]]\nsymbol = \"{s}\"\ncandles = \"{root}/data/{s}-1h.zip\"\n");
    }
    spec::parse(&text, std::path::Path::new("bench.toml")).unwrap()
}

/// The floor: SMA(20)/SMA(50) crossover PnL over the closes, nothing else.
fn baseline(closes: &[f64]) -> f64 {
    let (fast, slow) = (20, 50);
    let (mut sf, mut ss) = (0.0, 0.0);
    let (mut state, mut entry, mut pnl) = (0.0f64, 0.0, 0.0);
    for (i, &c) in closes.iter().enumerate() {
        sf += c;
        ss += c;
        if i >= fast {
            sf -= closes[i - fast];
        }
        if i >= slow {
            ss -= closes[i - slow];
        }
        if i + 1 >= slow {
            let d = sf / fast as f64 - ss / slow as f64;
            let now = if d > 0.0 {
                1.0
            } else if d < 0.0 {
                -1.0
            } else {
                state
            };
            if now != state {
                pnl += state * (c - entry);
                state = now;
                entry = c;
            }
        }
    }
    pnl
}

/// Whole runs of `spec` over `market`; the engine is built outside the timing.
fn runs(
    group: &mut BenchmarkGroup<WallTime>,
    name: &str,
    spec: &RunSpec,
    market: &MarketData,
    keep: bool,
) {
    let timeframe = market.symbols[0].timeframe.ms();
    group.bench_function(name, |b| {
        b.iter_batched(
            || Engine::new(spec, timeframe, keep),
            |mut engine| {
                run_history(&mut engine, market);
                engine
            },
            BatchSize::LargeInput,
        )
    });
}

fn bench(c: &mut Criterion) {
    let market = market();
    let one = MarketData::new(vec![(*market.symbols[0]).clone()]);
    let closes = one.symbols[0].candles.close.clone();
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BARS as u64));
    group.bench_function("baseline/sma_cross_pnl", |b| {
        b.iter(|| black_box(baseline(black_box(&closes))))
    });
    let sma = spec(
        "kind = \"sma_cross\"\nfast = 20\nslow = 50",
        &["BTCUSDT"],
        "isolated",
    );
    runs(&mut group, "engine/sma_cross", &sma, &one, true);
    // a sweep's run: the running figures only, no per-step columns
    runs(&mut group, "engine/sma_cross_no_curve", &sma, &one, false);
    let mut ran = Engine::new(&sma, 60_000, true);
    run_history(&mut ran, &one);
    group.bench_function("engine/sma_cross_columns", |b| {
        b.iter_batched(
            || {
                let mut engine = Engine::new(&sma, 60_000, true);
                engine.curve = ran.curve.clone();
                engine.venue = ran.venue.clone();
                engine
            },
            |mut engine| {
                engine.fill_columns(&one);
                engine
            },
            BatchSize::LargeInput,
        )
    });
    // the same signals from a file, as another program would have written them
    let recorded = perpsim::engine::record_signals(&sma, &one).expect("market-only");
    let dir = std::env::temp_dir().join(format!("perpsim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("signals.csv");
    let mut csv = String::from("time,symbol,intent\n");
    for (&step, signal) in recorded.steps.iter().zip(&recorded.signals) {
        let intent = match signal.intent {
            perpsim::strategy::Intent::Enter { side, .. } => format!("{side:?}").to_lowercase(),
            _ => "flat".into(),
        };
        csv += &format!("{},BTCUSDT,{intent}\n", one.clock[step as usize]);
    }
    std::fs::write(&file, csv).unwrap();
    let signals = spec(
        &format!(
            "kind = \"signals\"\nfile = {:?}",
            file.display().to_string()
        ),
        &["BTCUSDT"],
        "isolated",
    );
    runs(&mut group, "engine/signals_replay", &signals, &one, true);
    let _ = std::fs::remove_dir_all(&dir);
    let trading = spec(
        "kind = \"sma_cross\"\nfast = 20\nslow = 50\n[risk]\nmax_drawdown = false",
        &["BTCUSDT"],
        "isolated",
    );
    runs(&mut group, "engine/sma_cross_trading", &trading, &one, true);
    let hedge = spec(
        "kind = \"core_hedge\"\ncore = \"BTCUSDT\"\nhedge = \"ETHUSDT\"\nbeta_bars = 1440",
        &["BTCUSDT", "ETHUSDT"],
        "cross",
    );
    group.throughput(Throughput::Elements(2 * BARS as u64));
    runs(&mut group, "engine/core_hedge", &hedge, &market, true);
    let detailed = MarketData::new(vec![hourly_with_detail(&one.symbols[0])]);
    group.throughput(Throughput::Elements(BARS as u64));
    runs(
        &mut group,
        "engine/sma_cross_1h_detail_1m",
        &trading,
        &detailed,
        true,
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
