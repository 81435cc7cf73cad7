//! A run report's rendering time (issue: the report of a run with 100,000 bars renders in
//! ≤ 1 s). Timed: the two baseline runs (buy-and-hold, naive_leverage), the six charts (in
//! parallel on the machine's cores), the PNG files and `report.html`. Not timed: the run
//! itself and its CSVs (those are `run`'s, measured in the engine bench).
//!
//! - `report/sma_cross_100k`: `sma_cross` with the default risk layer on 100,000 1h bars of
//!   one synthetic symbol;
//! - `report/charts_only_100k`: the charts alone (no baselines, no HTML), to see the split.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use perpsim::data::synth::{self, SynthConfig};
use perpsim::market::{MarketData, SymbolHistory, Timeframe};
use perpsim::outcome;
use perpsim::report::run_page;
use perpsim::spec::{self, RunSpec};

const BARS: usize = 100_000;

fn market() -> MarketData {
    let config = SynthConfig {
        days: (BARS / 24) as u32 + 1,
        timeframe: Timeframe::HOUR,
        ..SynthConfig::default()
    };
    let m = synth::generate(&config).unwrap();
    let mut h: SymbolHistory = m.series[0].history("BTCUSDT", Timeframe::HOUR);
    h.truncate(BARS);
    MarketData::new(vec![h])
}

/// A spec naming the sample's file (checked to exist) whose history is replaced in memory.
fn spec() -> RunSpec {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        "name = \"bench\"\n[strategy]\nkind = \"sma_cross\"\nfast = 20\nslow = 50\n[data]\n\
         [[data.symbols]]\nsymbol = \"BTCUSDT\"\ncandles = \"{root}/data/BTCUSDT-1h.zip\"\n"
    );
    spec::parse(&text, std::path::Path::new("bench.toml")).unwrap()
}

fn bench(c: &mut Criterion) {
    let market = market();
    let spec = spec();
    let run = outcome::run(&spec, &market, true);
    assert_eq!(run.engine.curve.time.len(), BARS);
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    group.bench_function("sma_cross_100k", |b| {
        b.iter(|| {
            run_page::write_report(dir.path(), &spec, &market, &run, Default::default()).unwrap();
            black_box(());
        })
    });
    group.bench_function("charts_only_100k", |b| {
        b.iter(|| black_box(run_page::charts(&spec, &market, &run).unwrap().len()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
