//! Spec text, mutated: parsing and checking it, and expanding a `[sweep]` grid, must give a
//! spec or a positioned error for any text, and never panic (errors index into the text by
//! byte, which is where a panic would hide).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use perpsim::spec;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    // relative data paths resolve against the repository's strategies/, as shipped specs do
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../strategies/fuzz.toml");
    let Ok(raw) = spec::parse_raw(text, &file) else {
        return;
    };
    let source = spec::Source {
        file: &file,
        text: Some(text),
    };
    if let Ok(base) = raw.check(&source)
        && let Some(table) = &base.sweep
    {
        let _ = perpsim::sweep::grid::Grid::parse(table, &file, Some(text));
    }
});
