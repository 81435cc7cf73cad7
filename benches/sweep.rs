//! Sweep throughput (issue: a 120-configuration grid over 100,000 bars ≥ 400 configurations/s
//! on 2 cores, scaling 1 → 2 threads ≥ 1.7×; 200 Monte Carlo paths × 24 configurations over
//! 50,000 bars in ≤ 5 s on 2 cores).
//!
//! Regimes (history in memory, synthetic 1m BTC bars with mark and funding; `sweep::run`
//! including its appends to results.csv in a temporary folder):
//! - `grid120/threads1`, `grid120/threads2`: 6 leverages × 4 risk-per-trade × 5 fast
//!   lengths of `sma_cross` (slow 50) behind the default rules, no Monte Carlo;
//! - `montecarlo/24x20paths`: 24 configurations × 20 block-bootstrap paths over 50,000 bars
//!   (a tenth of the 200 paths, to keep criterion's ten samples short); the
//!   throughput is in bar-steps, and the full figure scales by ten.

use std::sync::atomic::AtomicBool;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perpsim::data::synth::{self, SynthConfig};
use perpsim::market::{
    AlignedFunding, Candles, MarkColumns, MarkSource, MarketData, SymbolHistory, Timeframe,
};
use perpsim::sweep::grid::{self, Grid};
use perpsim::sweep::montecarlo::MonteCarlo;
use perpsim::sweep::{self, Sweep};

fn market(bars: usize) -> MarketData {
    let config = SynthConfig {
        days: (bars / 1440) as u32 + 1,
        timeframe: Timeframe::MINUTE,
        symbols: vec![synth::SynthSymbol::parse("BTCUSDT:42000").unwrap()],
        ..SynthConfig::default()
    };
    let s = &synth::generate(&config).unwrap().series[0];
    let mut candles = Candles::with_capacity(bars);
    let mut mark = MarkColumns::default();
    for i in 0..bars {
        let (b, m) = (s.last[i], s.mark[i]);
        candles.push(s.open_time[i], b[0], b[1], b[2], b[3], s.volume[i]);
        mark.open.push(m[0]);
        mark.high.push(m[1]);
        mark.low.push(m[2]);
        mark.close.push(m[3]);
    }
    let mut funding = AlignedFunding::default();
    for &(t, rate) in &s.funding {
        let bar = ((t - s.open_time[0]) / 60_000) as usize;
        if bar < bars {
            funding.time.push(t);
            funding.rate.push(rate);
            funding.bar.push(bar as u32);
            funding.mark.push(s.mark[bar][0]);
        }
    }
    MarketData::new(vec![SymbolHistory {
        symbol: "BTCUSDT".into(),
        timeframe: Timeframe::MINUTE,
        candles,
        mark,
        mark_source: MarkSource::MarkCandles,
        funding,
        funding_dropped: 0,
    }])
}

/// A sweep over `market` with the given `[sweep]` table (the spec names the sample's file,
/// which exists, for its checks; the history is the synthetic one).
fn sweep_of(table: &str, market: MarketData) -> Sweep {
    let root = env!("CARGO_MANIFEST_DIR");
    let base = format!(
        "name = \"bench\"\n[data]\n[[data.symbols]]\nsymbol = \"BTCUSDT\"\ncandles = \"{root}/data/BTCUSDT-1h.zip\"\n[strategy]\nkind = \"sma_cross\"\nfast = 20\nslow = 50\n"
    );
    let file = std::path::Path::new("bench.toml");
    let doc: toml::Table = toml::from_str(&base).unwrap();
    let sweep_table: toml::Table = toml::from_str(table).unwrap();
    let grid = Grid::parse(&sweep_table, file, None).unwrap();
    let montecarlo = grid
        .montecarlo
        .as_ref()
        .map(|t| MonteCarlo::parse(t).unwrap());
    let points: Vec<_> = grid.ids().into_iter().map(|id| grid.point(id)).collect();
    for p in &points {
        grid::point_spec(&doc, &grid, p, file).unwrap();
    }
    Sweep {
        name: "bench".into(),
        grid,
        montecarlo,
        points,
        base: doc,
        file: file.to_path_buf(),
        market,
        text: base,
    }
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
        "\"risk.max_leverage\" = [1, 2, 3, 5, 10, 20]\n\"risk.risk_per_trade\" = [0.005, 0.01, 0.02, 0.03]\n[montecarlo]\npaths = 20\nblock = 240\nseed = 1\n",
        market(50_000),
    );
    assert_eq!(mc.points.len(), 24);
    // each configuration runs the history and every path
    group.throughput(Throughput::Elements(24 * 21 * 50_000));
    group.bench_function("montecarlo/24x20paths", |b| b.iter(|| run(&mc, 2)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
