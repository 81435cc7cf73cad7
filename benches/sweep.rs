//! Sweep throughput (issue: a 120-configuration grid over 100,000 bars ≥ 400 configurations/s
//! on 2 cores, scaling 1 → 2 threads ≥ 1.7×; 200 Monte Carlo paths × 24 configurations over
//! 50,000 bars in ≤ 5 s on 2 cores).
//!
//! Regimes (history in memory, synthetic 1m BTC bars with mark and funding; `sweep::run`
//! including its appends to results.csv in a temporary folder):
//! - `grid120/threads1`, `grid120/threads2`: 6 leverages × 4 risk-per-trade × 5 fast
//!   lengths of `sma_cross` (slow 50) behind the default rules, no Monte Carlo;
//! - `montecarlo/24x200paths`: the case, 24 configurations × 200 block-bootstrap
//!   paths over 50,000 bars, 2 threads (ten samples of about 5 s each); the throughput is in
//!   bar-steps (each configuration runs the history and every path);
//! - `montecarlo/path_build_50k`: resampling one 50,000-bar path into a worker's buffer,
//!   as the sweep does (each batch of configurations rebuilds each path once).

use std::sync::atomic::AtomicBool;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perpsim::data::synth::{self, SynthConfig};
use perpsim::market::{MarketData, Timeframe};
use perpsim::sweep::montecarlo::PathBuffer;
use perpsim::sweep::{self, Sweep};

fn market(bars: usize) -> MarketData {
    let config = SynthConfig {
        days: (bars / 1440) as u32 + 1,
        timeframe: Timeframe::MINUTE,
        symbols: vec![synth::SynthSymbol::parse("BTCUSDT:42000").unwrap()],
        ..SynthConfig::default()
    };
    let mut h = synth::generate(&config).unwrap().series[0].history("BTCUSDT", Timeframe::MINUTE);
    h.truncate(bars);
    MarketData::new(vec![h])
}

/// A sweep over `market` with the given `[sweep]` table (the spec names the sample's file,
/// which exists, for its checks; the history is the synthetic one).
fn sweep_of(table: &str, market: MarketData) -> Sweep {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        "name = \"bench\"\n[data]\n[[data.symbols]]\nsymbol = \"BTCUSDT\"\ncandles = \"{root}/data/BTCUSDT-1h.zip\"\n[strategy]\nkind = \"sma_cross\"\nfast = 20\nslow = 50\n[sweep]\n{table}"
    );
    Sweep::from_text(text, std::path::Path::new("bench.toml"), Some(market)).unwrap()
}

fn run(sweep: &Sweep, threads: usize) {
    let dir = tempfile::TempDir::new().unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let stop = AtomicBool::new(false);
    pool.install(|| sweep::run(sweep, dir.path(), false, None, &stop, &|_, _| {}))
        .unwrap();
}

fn bench(c: &mut Criterion) {
    let grid120 = sweep_of(
        "\"risk.max_leverage\" = [1, 2, 3, 5, 10, 20]\n\"risk.risk_per_trade\" = [0.005, 0.01, 0.02, 0.03]\n\"strategy.fast\" = [5, 10, 20, 30, 40]\n",
        market(100_000),
    );
    assert_eq!(grid120.points.len(), 120);
    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.throughput(Throughput::Elements(120));
    for threads in [1, 2] {
        group.bench_function(format!("grid120/threads{threads}"), |b| {
            b.iter(|| run(&grid120, threads))
        });
    }
    let mc = sweep_of(
        "\"risk.max_leverage\" = [1, 2, 3, 5, 10, 20]\n\"risk.risk_per_trade\" = [0.005, 0.01, 0.02, 0.03]\n[sweep.montecarlo]\npaths = 200\nblock = 240\nseed = 1\n",
        market(50_000),
    );
    assert_eq!(mc.points.len(), 24);
    // each configuration runs the history and every path
    group.throughput(Throughput::Elements(24 * 201 * 50_000));
    group.bench_function("montecarlo/24x200paths", |b| b.iter(|| run(&mc, 2)));
    let montecarlo = mc.montecarlo.as_ref().unwrap();
    group.throughput(Throughput::Elements(50_000));
    // as a sweep's worker builds it: into the buffer of its previous path
    let mut buffer = PathBuffer::default();
    group.bench_function("montecarlo/path_build_50k", |b| {
        b.iter(|| {
            montecarlo.path_into(&mc.market, 3, &mut buffer).unwrap();
            black_box(buffer.market.clock.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
