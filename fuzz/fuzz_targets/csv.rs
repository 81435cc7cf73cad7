//! History files as users download them, mutated: `data::inspect` must return a report or
//! an error for any bytes, as a plain CSV or inside a zip, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perpsim::data::{self, layout::ColumnNames};

fuzz_target!(|bytes: &[u8]| {
    // one file per process: the name says kline, so the name-based guesses run too
    let dir = std::env::temp_dir().join(format!("perpsim-fuzz-csv-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let zipped = bytes.first().is_some_and(|b| b & 1 == 1);
    let path = if zipped {
        dir.join("BTCUSDT-1h-2024-01.zip")
    } else {
        dir.join("BTCUSDT-1h-2024-01.csv")
    };
    if std::fs::write(&path, bytes).is_err() {
        return;
    }
    if let Ok(report) = data::inspect(&path, &ColumnNames::default()) {
        let _ = report.verdict(data::check::GapPolicy::Fail);
        let _ = report.verdict(data::check::GapPolicy::Allow);
    }
    let options = data::LoadOptions::default();
    let _ = data::load_candles(path.to_str().unwrap_or_default(), &options);
});
