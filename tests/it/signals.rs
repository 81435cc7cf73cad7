//! A signal file (`strategy.kind = "signals"`): another program's intents, replayed through the
//! risk layer and the exchange exactly as a built-in's are.

use std::fmt::Write as _;
use std::process::Command;

use perpsim::engine;
use perpsim::exchange::Side;
use perpsim::outcome;
use perpsim::spec;
use perpsim::strategy::Intent;
use tempfile::TempDir;

use super::{repo, write};

/// sma_cross on the sample, as the spec ships it, with `strategy` in place of its table.
fn spec_text(strategy: &str, extra: &str) -> String {
    let data = repo().join("data");
    let file = |name: &str| format!("{:?}", data.join(name));
    format!(
        "name = \"sig\"\n[data]\ntimeframe = \"4h\"\n[[data.symbols]]\nsymbol = \"BTCUSDT\"\ncandles = {}\nmark = {}\nfunding = {}\n[[data.symbols]]\nsymbol = \"ETHUSDT\"\ncandles = {}\nmark = {}\nfunding = {}\n[exchange]\nslippage = {{ model = \"fixed_bps\", bps = 2 }}\n[strategy]\n{strategy}\n[risk]\npreset = \"default\"\n{extra}",
        file("BTCUSDT-1h.zip"),
        file("BTCUSDT-1h-markPrice.zip"),
        file("BTCUSDT-fundingRate.zip"),
        file("ETHUSDT-1h.zip"),
        file("ETHUSDT-1h-markPrice.zip"),
        file("ETHUSDT-fundingRate.zip"),
    )
}

/// sma_cross's own signals, written as a signal file stamped with each bar's open time (as
/// tools stamp a bar's signal), give exactly sma_cross's run: every fill, funding payment
/// and risk decision.
#[test]
fn a_strategys_signals_written_to_a_file_replay_to_the_same_run() {
    let dir = TempDir::new().unwrap();
    let built_in = write(
        dir.path(),
        "sma.toml",
        &spec_text("kind = \"sma_cross\"\nfast = 10\nslow = 40", ""),
    );
    let spec = spec::read(&built_in).unwrap();
    let market = spec.load_market().unwrap();
    let recorded = engine::record_signals(&spec, &market).expect("sma_cross is market-only");
    assert!(
        recorded.signals.len() > 20,
        "{} signals",
        recorded.signals.len()
    );
    let names = ["BTCUSDT", "ETHUSDT"];
    let mut csv = String::from("time,symbol,intent,stop,take_profit\n");
    for (&step, signal) in recorded.steps.iter().zip(&recorded.signals) {
        let time = market.clock[step as usize];
        let symbol = names[signal.symbol];
        let line = match signal.intent {
            Intent::Enter {
                side,
                stop,
                take_profit,
            } => {
                let side = if side == Side::Long { "long" } else { "short" };
                let price = |p: Option<f64>| p.map_or(String::new(), |p| p.to_string());
                format!(
                    "{time},{symbol},{side},{},{}",
                    price(stop),
                    price(take_profit)
                )
            }
            Intent::Exit => format!("{time},{symbol},flat,,"),
            other => panic!("sma_cross does not say {other:?}"),
        };
        writeln!(csv, "{line}").unwrap();
    }
    write(dir.path(), "sma_signals.csv", &csv);
    let replay = write(
        dir.path(),
        "replay.toml",
        &spec_text("kind = \"signals\"\nfile = \"sma_signals.csv\"", ""),
    );
    let replay = spec::read(&replay).unwrap();
    let from_file = outcome::run(&replay, &market, false);
    let original = outcome::run(&spec, &market, false);
    assert!(original.trades.len() > 10);
    assert_eq!(
        from_file.engine.venue.events(),
        original.engine.venue.events()
    );
    let text = |e: &[perpsim::risk::audit::RiskEvent]| format!("{e:?}");
    assert_eq!(
        text(from_file.engine.risk.audit().events()),
        text(original.engine.risk.audit().events())
    );
    assert!(
        from_file.summary.notes.is_empty(),
        "{:?}",
        from_file.summary.notes
    );
}

#[test]
fn a_signal_file_sweeps_on_the_history_refuses_monte_carlo_and_names_a_bad_row() {
    let dir = TempDir::new().unwrap();
    write(
        dir.path(),
        "s.csv",
        "time,symbol,intent,stop\n2023-06-01,BTCUSDT,long,\n2024-02-01T04:00:00Z,BTCUSDT,long,30000\n2024-03-01,ETHUSDT,short,\n2024-04-01,BTCUSDT,flat,\n2024-06-01 12:00,ETHUSDT,flat,\n2031-01-01,BTCUSDT,long,\n",
    );
    let strategy = "kind = \"signals\"\nfile = \"s.csv\"";
    let grid = "[sweep]\n\"risk.max_leverage\" = [2, 5]\n";
    let spec = write(dir.path(), "s.toml", &spec_text(strategy, grid));
    let perpsim = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_perpsim"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = dir.path().join("out");
    let run = perpsim(&[
        "run",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("trades      2"), "{stdout}");
    assert!(
        stdout.contains("note: s.csv: 1 row(s) before the data's first bar and 1 after its last were not acted on"),
        "{stdout}"
    );
    let sweep_out = dir.path().join("sweep");
    let sweep = perpsim(&[
        "sweep",
        spec.to_str().unwrap(),
        "--out",
        sweep_out.to_str().unwrap(),
    ]);
    assert_eq!(
        sweep.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sweep.stderr)
    );
    let results = std::fs::read_to_string(sweep_out.join("results.csv")).unwrap();
    assert_eq!(results.lines().count(), 3, "{results}");

    let mc = write(
        dir.path(),
        "mc.toml",
        &spec_text(strategy, &format!("{grid}[sweep.montecarlo]\npaths = 10\n")),
    );
    let refused = perpsim(&[
        "sweep",
        mc.to_str().unwrap(),
        "--out",
        dir.path().join("mc").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "sweep.montecarlo: a signal file's rows were decided on the history's prices"
        ),
        "{stderr}"
    );

    write(
        dir.path(),
        "bad.csv",
        "time,symbol,intent\n2024-02-01,BTCUSDT,long\n2024-03-01,SOLUSDT,long\n",
    );
    let bad = write(
        dir.path(),
        "bad.toml",
        &spec_text("kind = \"signals\"\nfile = \"bad.csv\"", ""),
    );
    let e = spec::read(&bad).unwrap_err().to_string();
    assert!(
        e.contains("strategy.file: ")
            && e.contains(
                "bad.csv line 3, column 'symbol', value \"SOLUSDT\": not one of the spec's symbols"
            ),
        "{e}"
    );
}
