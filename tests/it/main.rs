//! The one integration-test binary (one link step keeps the test build short).
//! - `loaders`: every layout, header or not, zips, time units, bad rows with exact messages.
//! - `sample`: the sample in `data/`, loaded, resampled and aligned.
//! - `shared_data`: the real exchange history in `../shared/data` (skipped when absent).
//! - `custom`: a user's strategy (`examples/custom_strategy.rs`) registered and run.
//! - `signals`: a signal file replayed through the risk layer as a built-in's signals are.
//! - `cli`: the `perpsim` binary's output and exit codes.
//! - `paper`: a history fed line by line decides exactly as `run`.
//! - `sweep`: determinism across threads, resume, shards, grid errors, survival by leverage.
//! - `report`: run and sweep reports: charts, self-contained HTML, figures = summary.json.
//! - `disk`: a full disk (a small tmpfs) under a run.
//! - `folder`: a sweep folder under faults: locks, changed data, partial merges, commits.
//! - `headline`: the sweep page's sentence against results.csv and survival.csv.
//! - `mutated`: the fuzz seeds mutated through the CSV reader, spec parser, paper stream.
//! - `engine`: runs end to end — look-ahead, a peer re-implementation, conservation, determinism.

mod cli;
mod custom;
mod detail;
mod disk;
mod engine;
mod folder;
mod headline;
mod loaders;
mod mutated;
mod paper;
mod report;
mod risk;
mod sample;
mod shared_data;
mod signals;
mod sweep;
mod trades;

use std::path::{Path, PathBuf};

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The repository's root (tests run from it, but say so explicitly).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data`, or `None` with the reason printed (a user's clone does not have it).
pub fn shared_data() -> Option<PathBuf> {
    let dir = repo().join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        // straight to the stderr handle: the test harness captures `println!` and
        // `eprintln!` of a passing test, and a skip must show in the log
        use std::io::Write;
        let test = std::thread::current()
            .name()
            .unwrap_or("a test")
            .to_string();
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test} (libtest reports it as ok): {} is absent (real exchange history is not part of the repository)",
            dir.display()
        );
        None
    }
}

/// Counts heap allocations per thread, so a test can check that a loop allocates nothing
/// while other tests run on other threads.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    // SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
    // const-initialised thread-local, which allocates nothing.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// Allocations made by this thread so far.
    pub fn allocations() -> u64 {
        ALLOCATIONS.with(Cell::get)
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;
