//! A full disk: a small tmpfs mounted for the test (skipped, said, where mounting is not
//! allowed). A run that cannot write its files fails with a message and leaves the previous
//! run's files whole; a sweep that cannot finish keeps what it had.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::repo;

/// A tmpfs of `kb` KiB mounted at a fresh folder, unmounted when dropped.
struct Tmpfs {
    at: PathBuf,
    _dir: TempDir,
}

impl Tmpfs {
    fn mount(kb: usize) -> Option<Tmpfs> {
        let dir = TempDir::new().unwrap();
        let at = dir.path().join("disk");
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kb}k"), "tmpfs"])
            .arg(&at)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            use std::io::Write;
            let test = std::thread::current()
                .name()
                .unwrap_or("a test")
                .to_string();
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test} (libtest reports it as ok): cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)"
            );
            return None;
        }
        Some(Tmpfs { at, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.at).output();
    }
}

fn spec(dir: &Path, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("strategies/sma_cross.toml"))
        .unwrap()
        .replace(
            "\"../data/",
            &format!("\"{}/", repo().join("data").display()),
        )
        .replace(
            "timeframe = \"1h\"",
            &format!("timeframe = \"1h\"\nto = \"{to}\""),
        );
    let path = dir.join(format!("sma_{to}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(spec: &Path, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_perpsim"))
        .args([
            "run",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn a_run_on_a_full_disk_fails_and_leaves_the_previous_files_whole() {
    let Some(disk) = Tmpfs::mount(2048) else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let out = disk.at.join("run");
    // a short run fits
    let small = run(&spec(dir.path(), "2024-01-08"), &out);
    assert!(
        small.status.success(),
        "{}",
        String::from_utf8_lossy(&small.stderr)
    );
    let before: Vec<(String, Vec<u8>)> = ["summary.json", "trades.csv", "equity.csv", "events.csv"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(out.join(f)).unwrap()))
        .collect();
    // two years of hourly rows do not (equity.csv alone is ~2 MB)
    let big = run(&spec(dir.path(), "2026-01-01"), &out);
    let stderr = String::from_utf8_lossy(&big.stderr);
    assert_eq!(big.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    for (f, bytes) in &before {
        assert_eq!(&std::fs::read(out.join(f)).unwrap(), bytes, "{f} changed");
    }
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}
