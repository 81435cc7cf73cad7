//! The one integration-test binary (one link step keeps the test build short).
//! - `loaders`: every layout, header or not, zips, time units, bad rows with exact messages.
//! - `sample`: the sample in `data/`, loaded, resampled and aligned.
//! - `shared_data`: the real exchange history in `../shared/data` (skipped when absent).
//! - `cli`: the `perpsim` binary's output and exit codes.
//! - `paper`: a history fed line by line decides exactly as `run`.
//! - `engine`: runs end to end — look-ahead, a peer re-implementation, conservation, determinism.

mod cli;
mod engine;
mod loaders;
mod paper;
mod sample;
mod shared_data;

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
        println!(
            "skipped: {} is absent (real exchange history is not part of the repository)",
            dir.display()
        );
        None
    }
}
