//! A sweep folder under faults: another process writing it, its data changed under a
//! resume, a partial or foreign set of shards, an interruption between a configuration's
//! survival rows and its results row, and a folder perpsim did not write.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use perpsim::sweep::{self, Sweep};
use tempfile::TempDir;

use super::repo;
use super::sweep::small_spec;

const GRID: &str = r#"[sweep]
"risk.max_leverage" = [2, 10]
"risk.preset" = ["off", "default"]
[sweep.montecarlo]
paths = 8
block = 6
seed = 3
"#;

fn run(
    sweep: &Sweep,
    out: &Path,
    resume: bool,
    shard: Option<(usize, usize)>,
) -> Result<sweep::Progress, String> {
    sweep::run(
        sweep,
        out,
        resume,
        shard,
        &AtomicBool::new(false),
        &|_, _| {},
    )
    .map_err(|e| e.to_string())
}

/// The spec of [`small_spec`] reading its BTCUSDT candles from `data` (a copy it can change).
fn spec_on_copy(dir: &Path, grid: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = dir.join("d");
    std::fs::create_dir_all(&data).unwrap();
    for f in [
        "BTCUSDT-1h.zip",
        "BTCUSDT-1h-markPrice.zip",
        "BTCUSDT-fundingRate.zip",
    ] {
        std::fs::copy(repo().join("data").join(f), data.join(f)).unwrap();
    }
    let spec = small_spec(dir, grid);
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        &repo().join("data").display().to_string(),
        &data.display().to_string(),
    );
    std::fs::write(&spec, text).unwrap();
    (spec, data)
}

#[test]
fn another_process_holding_the_folder_is_refused_and_a_dead_ones_lock_taken_over() {
    let dir = TempDir::new().unwrap();
    let spec = small_spec(dir.path(), GRID);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // a live process that is not this one holds the lock
    let mut holder = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(
        out.join(".lock"),
        format!("{}\n2026-12-04 05:00\n", holder.id()),
    )
    .unwrap();
    let cli = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_perpsim"))
            .args([
                "sweep",
                spec.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--threads",
                "1",
            ])
            .output()
            .unwrap()
    };
    let refused = cli(&out);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another sweep is writing here (process {}",
            holder.id()
        )),
        "{stderr}"
    );
    assert!(!out.join("results.csv").exists());
    // once it is gone, its lock is stale: the sweep takes it over, runs, and lets it go
    holder.kill().unwrap();
    holder.wait().unwrap();
    let ran = cli(&out);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("results.csv"))
            .unwrap()
            .lines()
            .count(),
        5
    );
    assert!(!out.join(".lock").exists());
}

#[test]
fn two_sweeps_started_together_do_not_mix_into_one_folder() {
    let dir = TempDir::new().unwrap();
    // long enough (debug build, 12 configurations × 40 paths) for the second to start
    // while the first writes
    let grid = "[sweep]\n\"risk.max_leverage\" = [1, 2, 3, 5, 10, 20]\n\"risk.preset\" = [\"off\", \"default\"]\n[sweep.montecarlo]\npaths = 40\nblock = 6\nseed = 3\n";
    let spec = small_spec(dir.path(), grid);
    let out = dir.path().join("out");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_perpsim"))
            .args([
                "sweep",
                spec.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--threads",
                "1",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = start();
    // up to 20 s for the first to take the folder
    for _ in 0..4000 {
        if out.join(".lock").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let second = start().wait_with_output().unwrap();
    let first = first.wait_with_output().unwrap();
    let (a, b) = (first.status.success(), second.status.success());
    let why = String::from_utf8_lossy(&second.stderr);
    // the first finished; the second was refused, or (had the first already finished) ran
    // after it on its own
    assert!(a, "{}", String::from_utf8_lossy(&first.stderr));
    assert!(b || why.contains("another sweep is writing here"), "{why}");
    if b {
        eprintln!("NOTE the first sweep ended before the second started: no overlap was tried");
    }
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(results.lines().count(), 13, "{results}");
}

#[test]
fn resuming_after_the_data_changed_is_refused() {
    let dir = TempDir::new().unwrap();
    let (spec, data) = spec_on_copy(dir.path(), GRID);
    let sweep = Sweep::prepare(&spec).unwrap();
    let out = dir.path().join("out");
    let stop = AtomicBool::new(false);
    let tick = |done: usize, _: usize| {
        if done >= 1 {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let p = sweep::run(&sweep, &out, false, None, &stop, &tick).unwrap();
    assert!(p.interrupted);
    // the same spec text, other prices: ETHUSDT's candles and mark under BTCUSDT's names
    let put = |from: &str, to: &str| {
        std::fs::copy(repo().join("data").join(from), data.join(to)).unwrap()
    };
    put("ETHUSDT-1h.zip", "BTCUSDT-1h.zip");
    put("ETHUSDT-1h-markPrice.zip", "BTCUSDT-1h-markPrice.zip");
    let changed = Sweep::prepare(&spec).unwrap();
    assert_ne!(changed.inputs, sweep.inputs);
    let e = run(&changed, &out, true, None).unwrap_err();
    assert!(
        e.contains("made from other data") && e.contains("use another --out"),
        "{e}"
    );
    // the unchanged data resumes
    put("BTCUSDT-1h.zip", "BTCUSDT-1h.zip");
    put("BTCUSDT-1h-markPrice.zip", "BTCUSDT-1h-markPrice.zip");
    let same = Sweep::prepare(&spec).unwrap();
    assert_eq!(same.inputs, sweep.inputs);
    let q = run(&same, &out, true, None).unwrap();
    assert_eq!(q.done_before + q.done_now, 4);
}

#[test]
fn merge_refuses_an_incomplete_or_foreign_set_of_shards() {
    let dir = TempDir::new().unwrap();
    let spec = small_spec(dir.path(), GRID);
    let sweep = Sweep::prepare(&spec).unwrap();
    let shard = |k: usize| {
        let d = dir.path().join(format!("s{k}"));
        run(&sweep, &d, false, Some((k, 3))).unwrap();
        d
    };
    let (s1, s2, s3) = (shard(1), shard(2), shard(3));
    let e = sweep::merge(&[&s1, &s2], &dir.path().join("m"), false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("hold 3 of the sweep's 4 configurations") && e.contains("--partial"),
        "{e}"
    );
    let partial = sweep::merge(&[&s1, &s2], &dir.path().join("p"), true).unwrap();
    assert_eq!((partial.rows, partial.points), (3, 4));
    perpsim::report::sweep_page::write_merged_index(&dir.path().join("p"), 2, partial).unwrap();
    let page = std::fs::read_to_string(dir.path().join("p/index.html")).unwrap();
    assert!(
        page.contains("PARTIAL: 3 of the grid"),
        "the page does not say it is partial"
    );
    let whole = sweep::merge(&[&s1, &s2, &s3], &dir.path().join("w"), false).unwrap();
    assert_eq!(whole.rows, 4);
    // a shard of the same grid with another Monte Carlo seed: another spec
    let other = TempDir::new().unwrap();
    let seeded = small_spec(other.path(), &GRID.replace("seed = 3", "seed = 4"));
    let s3b = dir.path().join("s3b");
    run(&Sweep::prepare(&seeded).unwrap(), &s3b, false, Some((3, 3))).unwrap();
    let e = sweep::merge(&[&s1, &s2, &s3b], &dir.path().join("x"), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("spec.toml differs"), "{e}");
    // resuming a shard's folder as another shard is refused
    let e = run(&sweep, &s1, true, Some((2, 3))).unwrap_err();
    assert!(e.contains("this folder ran shard 1/3"), "{e}");
}

#[test]
fn survival_rows_without_their_results_row_are_not_doubled_by_a_resume() {
    let dir = TempDir::new().unwrap();
    let spec = small_spec(dir.path(), GRID);
    let sweep = Sweep::prepare(&spec).unwrap();
    let (whole, cut) = (dir.path().join("whole"), dir.path().join("cut"));
    run(&sweep, &whole, false, None).unwrap();
    // a folder killed between configuration 3's survival rows and its results row
    std::fs::create_dir_all(&cut).unwrap();
    for f in ["spec.toml", ".sweep.json"] {
        std::fs::copy(whole.join(f), cut.join(f)).unwrap();
    }
    let results = std::fs::read_to_string(whole.join("results.csv")).unwrap();
    let kept: Vec<&str> = results.lines().filter(|l| !l.starts_with("3,")).collect();
    std::fs::write(cut.join("results.csv"), kept.join("\n") + "\n").unwrap();
    std::fs::copy(whole.join("survival.csv"), cut.join("survival.csv")).unwrap();
    let q = run(&sweep, &cut, true, None).unwrap();
    assert_eq!((q.done_before, q.done_now), (3, 1));
    for f in ["results.csv", "survival.csv"] {
        assert_eq!(
            std::fs::read_to_string(cut.join(f)).unwrap(),
            std::fs::read_to_string(whole.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_folder_perpsim_did_not_write_is_never_emptied_and_a_rerun_keeps_the_old_until_done() {
    let dir = TempDir::new().unwrap();
    let spec = small_spec(dir.path(), GRID);
    let sweep = Sweep::prepare(&spec).unwrap();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("results.csv"), "someone's,own\n1,2\n").unwrap();
    let e = run(&sweep, &theirs, false, None).unwrap_err();
    assert!(e.contains("not a perpsim sweep's"), "{e}");
    assert_eq!(
        std::fs::read_to_string(theirs.join("results.csv")).unwrap(),
        "someone's,own\n1,2\n"
    );
    // a finished sweep run again: its files are kept aside until the new one completes
    let out = dir.path().join("out");
    run(&sweep, &out, false, None).unwrap();
    let before = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let stop = AtomicBool::new(false);
    let tick = |_: usize, _: usize| stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let p = sweep::run(&sweep, &out, false, None, &stop, &tick).unwrap();
    assert!(p.interrupted);
    assert_eq!(
        std::fs::read_to_string(out.join(".previous.results.csv")).unwrap(),
        before
    );
    run(&sweep, &out, true, None).unwrap();
    assert!(!out.join(".previous.results.csv").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("results.csv")).unwrap(),
        before
    );
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_files_written() {
    let dir = TempDir::new().unwrap();
    let spec = small_spec(dir.path(), GRID);
    let out = dir.path().join("out");
    // the reader of stdout is gone before the first line (`perpsim sweep … | true`)
    let mut child = Command::new(env!("CARGO_BIN_EXE_perpsim"))
        .args([
            "sweep",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for f in ["results.csv", "index.html", ".complete"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    // and a run, whose summary goes to stdout
    let run_out = dir.path().join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_perpsim"))
        .args([
            "run",
            spec.to_str().unwrap(),
            "--out",
            run_out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let done = child.wait_with_output().unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(run_out.join("report.html").exists() && run_out.join("summary.json").exists());
}

#[test]
fn threads_beyond_the_cores_are_capped_with_a_note() {
    let dir = TempDir::new().unwrap();
    let spec = small_spec(dir.path(), GRID);
    let out = dir.path().join("out");
    let done = Command::new(env!("CARGO_BIN_EXE_perpsim"))
        .args([
            "sweep",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--threads",
            "100000",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert!(done.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--threads 100000: capped at the {cores} core(s) available"
        )) && stderr.contains(&format!("{cores} thread(s)")),
        "{stderr}"
    );
}

#[test]
fn another_symbols_mark_under_the_candles_is_refused_by_the_loader() {
    let dir = TempDir::new().unwrap();
    let (spec, data) = spec_on_copy(dir.path(), GRID);
    std::fs::copy(
        repo().join("data/ETHUSDT-1h-markPrice.zip"),
        data.join("BTCUSDT-1h-markPrice.zip"),
    )
    .unwrap();
    let e = Sweep::prepare(&spec)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("outside the mark price's range")
            && e.contains("the mark file of another symbol?"),
        "{e}"
    );
}
