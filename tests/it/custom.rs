//! A strategy of the user's own (`examples/custom_strategy.rs`, compiled in here as it is)
//! registered beside the built-ins: checked, run, swept with Monte Carlo and paper-traded
//! through the same spec, with the built-ins' strict parameter errors.

use std::sync::Once;
use std::sync::atomic::AtomicBool;

use perpsim::outcome;
use perpsim::paper::Paper;
use perpsim::spec;
use perpsim::strategy::{self, RegisterError};
use perpsim::sweep::{self, Sweep};
use tempfile::TempDir;

use super::repo;

#[allow(dead_code)] // its `main` is the example binary's
#[path = "../../examples/custom_strategy.rs"]
mod example;

fn registered() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| strategy::register("momentum", example::build).unwrap());
}

fn spec_file() -> std::path::PathBuf {
    repo().join("examples/custom_strategy.toml")
}

#[test]
fn a_registered_strategy_runs_sweeps_and_paper_trades_from_its_spec() {
    registered();
    let spec = spec::read(&spec_file()).unwrap();
    let market = spec.load_market().unwrap();
    let run = outcome::run(&spec, &market, false);
    assert!(run.trades.len() >= 4, "{} trades", run.trades.len());

    // the sweep: 4 leverages × 2 thresholds, each on the history and 50 paths
    let dir = TempDir::new().unwrap();
    let sweep = Sweep::prepare(&spec_file()).unwrap();
    assert_eq!(sweep.points.len(), 8);
    let stop = AtomicBool::new(false);
    let out = dir.path().join("out");
    let done = sweep::run(&sweep, &out, false, None, &stop, &|_, _| {}).unwrap();
    assert!(!done.interrupted && done.total == 8);
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(results.lines().count(), 9, "{results}");
    let survival = std::fs::read_to_string(out.join("survival.csv")).unwrap();
    assert!(survival.lines().count() > 8, "Monte Carlo rows: {survival}");

    // paper, fed the history, decides as the run did
    let mut paper = Paper::new(&spec, market.symbols[0].timeframe.ms());
    let mut sink = Vec::new();
    for (i, line) in super::paper::messages(&market).iter().enumerate() {
        paper.feed(i + 1, line, &mut sink).unwrap();
    }
    paper.finish(&mut sink).unwrap();
    assert_eq!(paper.engine.venue.events(), run.engine.venue.events());

    // the same strategy built by the caller and handed to the engine
    let names: Vec<String> = spec.symbols.iter().map(|s| s.symbol.clone()).collect();
    let build = strategy::Build {
        params: &spec.strategy_params,
        symbols: &names,
        max_leverage: spec.risk.max_leverage,
        spec_dir: None,
    };
    let own = example::build(&build).unwrap();
    let with = outcome::run_with(&spec, &market, false, own);
    assert_eq!(with.engine.venue.events(), run.engine.venue.events());
}

#[test]
fn its_parameters_get_the_built_ins_errors_and_its_name_is_listed() {
    registered();
    let text = std::fs::read_to_string(spec_file()).unwrap();
    let typo = text.replace("lookback = 30", "lookbak = 30");
    let e = spec::parse(&typo, &spec_file()).unwrap_err();
    assert_eq!(e.field, "strategy.lookbak");
    assert_eq!(e.line, spec::line_of_key(&typo, "strategy.lookbak"));
    assert!(e.message.contains("did you mean `lookback`?"), "{e}");
    let bad = text.replace("threshold = 0.06", "threshold = 2");
    let e = spec::parse(&bad, &spec_file()).unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.message.as_str()),
        ("strategy.threshold", "2: must be in (0, 1)")
    );
    let unknown = text.replace("kind = \"momentum\"", "kind = \"momentun\"");
    let e = spec::parse(&unknown, &spec_file()).unwrap_err();
    assert!(
        e.message.contains("(did you mean \"momentum\"?)")
            && e.message.contains("buy_and_hold, signals, momentum"),
        "{e}"
    );
    assert_eq!(
        strategy::register("sma_cross", example::build),
        Err(RegisterError::BuiltIn("sma_cross"))
    );
    assert_eq!(
        strategy::register("momentum", example::build),
        Err(RegisterError::Taken("momentum"))
    );
    assert_eq!(
        strategy::register("My Strategy", example::build),
        Err(RegisterError::Name("My Strategy"))
    );
}
