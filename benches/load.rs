//! Loading a 1,000,000-row 1m Binance kline CSV into columns (issue: ≥ 5 M rows/s on one
//! core, ≤ 0.2 s; memory ≤ 2× the raw column size), beside a plain `csv`-crate baseline.
//!
//! Regime: one file, one thread, warm page cache (the file is read once before timing), the
//! 12-column Binance Vision layout with header, prices as the generator writes them (BTC-like,
//! one decimal). `cargo bench --bench load`. Before timing, the peak heap of one load is
//! measured with a counting allocator and printed against the columns' own size.
//! `align_1m_bars` times polars' part of a load (resampling, as-of joins), which runs once per
//! load, off the per-bar path.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perpsim::data::align;
use perpsim::data::layout::ColumnNames;
use perpsim::data::parse::{self, Rows};
use perpsim::data::synth::{self, SynthConfig};
use perpsim::data::{self as loader, LoadOptions};
use perpsim::market::{Candles, Timeframe};

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ROWS: usize = 1_000_000;

/// Writes (once, cached in the target directory) a 1M-row 1m kline file.
fn fixture() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-load");
    let path = dir.join(format!("BTCUSDT-1m-{ROWS}.csv"));
    if !path.exists() {
        let config = SynthConfig {
            days: (ROWS / 1440 + 1) as u32,
            timeframe: Timeframe::MINUTE,
            symbols: vec![synth::SynthSymbol::parse("BTCUSDT:42000").unwrap()],
            ..SynthConfig::default()
        };
        let market = synth::generate(&config).unwrap();
        let written = synth::write(&market, &config, &dir, false).unwrap();
        let klines = written
            .iter()
            .find(|p| p.to_string_lossy().ends_with("BTCUSDT-1m.csv"))
            .unwrap();
        // keep exactly ROWS data rows
        let text = std::fs::read_to_string(klines).unwrap();
        let keep: String = text
            .lines()
            .take(ROWS + 1)
            .flat_map(|l| [l, "\n"])
            .collect();
        std::fs::write(&path, keep).unwrap();
    }
    path
}

fn perpsim_read(path: &Path) -> Candles {
    let mut file = std::fs::File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let table = parse::read_table(&mut file, "bench", &ColumnNames::default(), size).unwrap();
    match table.rows {
        Rows::Candles(c) => c,
        Rows::Funding(_) => unreachable!(),
    }
}

/// The baseline the issue names: the `csv` crate's `ByteRecord` and `str::parse`.
fn csv_crate_read(path: &Path) -> Candles {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .unwrap();
    let mut record = csv::ByteRecord::new();
    let mut c = Candles::default();
    let num = |r: &csv::ByteRecord, i: usize| -> f64 {
        std::str::from_utf8(&r[i]).unwrap().parse().unwrap()
    };
    while reader.read_byte_record(&mut record).unwrap() {
        let t: i64 = std::str::from_utf8(&record[0]).unwrap().parse().unwrap();
        c.push(
            t,
            num(&record, 1),
            num(&record, 2),
            num(&record, 3),
            num(&record, 4),
            num(&record, 5),
        );
    }
    c
}

fn report_memory(path: &Path) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let candles = perpsim_read(path);
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let columns = candles.column_bytes();
    println!(
        "memory: peak heap during one load {:.1} MB, columns {:.1} MB ({} rows): {:.2}× (budget 2×)",
        peak as f64 / 1e6,
        columns as f64 / 1e6,
        candles.len(),
        peak as f64 / columns as f64
    );
    assert_eq!(candles.len(), ROWS);
}

fn bench(c: &mut Criterion) {
    let path = fixture();
    let mut warm = Vec::new();
    std::fs::File::open(&path)
        .unwrap()
        .read_to_end(&mut warm)
        .unwrap();
    println!(
        "fixture: {} ({:.1} MB)",
        path.display(),
        warm.len() as f64 / 1e6
    );
    drop(warm);
    report_memory(&path);
    assert_eq!(
        perpsim_read(&path),
        csv_crate_read(&path),
        "both readers must agree"
    );

    let mut group = c.benchmark_group("load_1m_klines");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("perpsim_read_table", |b| b.iter(|| perpsim_read(&path)));
    group.bench_function("perpsim_load_and_check", |b| {
        b.iter(|| loader::load_candles(path.to_str().unwrap(), &LoadOptions::default()).unwrap())
    });
    group.bench_function("csv_crate_baseline", |b| b.iter(|| csv_crate_read(&path)));
    group.finish();

    // Polars' share: resampling 1M 1m bars to 1h, and an as-of join of 1M times onto 1M bars.
    let candles = perpsim_read(&path);
    let mut group = c.benchmark_group("align_1m_bars");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("resample_1m_to_1h", |b| {
        b.iter(|| align::resample(&candles, Timeframe::HOUR).unwrap())
    });
    group.bench_function("asof_join", |b| {
        b.iter(|| align::asof_backward(&candles.open_time, &candles.open_time, 59_999).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
