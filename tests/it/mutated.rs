//! Mutated inputs in the test suite: the fuzz targets' seeds (`fuzz/seeds/`), each mutated by
//! flipped, inserted and deleted bytes and cut short, through the CSV reader, the spec parser
//! and the paper stream. Any bytes give a result or an error; none may panic. The fuzz
//! targets (`fuzz/README.md`) search far wider; this keeps CI on the same ground.

use std::path::PathBuf;

use perpsim::data::{self, layout::ColumnNames};
use perpsim::paper::Paper;
use perpsim::spec;
use proptest::prelude::*;

use super::repo;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = repo().join("fuzz/seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// One edit: at a position (a fraction of the length), flip, insert, delete or cut.
fn edit() -> impl Strategy<Value = (f64, u8, u8)> {
    (0.0..1.0f64, 0u8..4, any::<u8>())
}

fn mutate(seed: &[u8], edits: &[(f64, u8, u8)]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for &(at, kind, byte) in edits {
        let i = ((at * bytes.len() as f64) as usize).min(bytes.len());
        match kind {
            0 if i < bytes.len() => bytes[i] ^= byte | 1,
            1 => bytes.insert(i, byte),
            2 if i < bytes.len() => {
                bytes.remove(i);
            }
            3 => bytes.truncate(i),
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn mutated_csv_files_never_panic(seed in 0usize..4, edits in prop::collection::vec(edit(), 1..8)) {
        let all = seeds("csv");
        let bytes = mutate(&all[seed % all.len()], &edits);
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("BTCUSDT-1h-2024-01.csv");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(report) = data::inspect(&path, &ColumnNames::default()) {
            let _ = report.verdict(data::check::GapPolicy::Fail);
        }
        let _ = data::load_candles(path.to_str().unwrap(), &data::LoadOptions::default());
    }

    #[test]
    fn mutated_specs_never_panic(seed in 0usize..10, edits in prop::collection::vec(edit(), 1..6)) {
        let all = seeds("spec");
        let bytes = mutate(&all[seed % all.len()], &edits);
        let text = String::from_utf8_lossy(&bytes);
        let file = repo().join("strategies/mutated.toml");
        if let Ok(base) = spec::parse(&text, &file)
            && let Some(table) = &base.sweep
        {
            let _ = perpsim::sweep::grid::Grid::parse(table, &file, Some(&text));
        }
    }

    #[test]
    fn mutated_paper_streams_never_panic(edits in prop::collection::vec(edit(), 1..10)) {
        let bytes = mutate(&seeds("paper")[0], &edits);
        let spec = spec::read(&repo().join("strategies/core_hedge.toml")).unwrap();
        let mut paper = Paper::new(&spec, 3_600_000);
        let _ = paper.feed_all(&bytes[..], &mut std::io::sink());
    }
}

/// The seeds themselves are good input: a fuzz run starts from files that pass.
#[test]
fn the_fuzz_seeds_pass() {
    let dir = tempfile::TempDir::new().unwrap();
    for (i, bytes) in seeds("csv").iter().enumerate() {
        let path = dir.path().join(format!("BTCUSDT-1h-{i}.csv"));
        std::fs::write(&path, bytes).unwrap();
        let report = data::inspect(&path, &ColumnNames::default()).unwrap();
        report.verdict(data::check::GapPolicy::Fail).unwrap();
    }
    let spec = spec::read(&repo().join("strategies/core_hedge.toml")).unwrap();
    let mut paper = Paper::new(&spec, 3_600_000);
    paper
        .feed_all(&seeds("paper")[0][..], &mut std::io::sink())
        .unwrap();
}
