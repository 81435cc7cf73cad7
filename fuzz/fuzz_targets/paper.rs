//! A paper stream, mutated: `Paper::feed_all` must decide or stop with an error naming the
//! line for any bytes, and never panic.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use perpsim::paper::Paper;
use perpsim::spec::{self, RunSpec};

fn spec() -> &'static RunSpec {
    static SPEC: OnceLock<RunSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../strategies/core_hedge.toml");
        spec::read(&file).expect("the shipped spec reads")
    })
}

fuzz_target!(|bytes: &[u8]| {
    let mut paper = Paper::new(spec(), 3_600_000);
    let _ = paper.feed_all(bytes, &mut std::io::sink());
});
