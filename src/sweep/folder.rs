//! A sweep folder's ownership and provenance: one process at a time ([`Lock`]), and what its
//! results were made from ([`Made`]: the spec text, a fingerprint of the data as loaded and of
//! the instruments, the points the sweep covers), so that `--resume` and `merge` refuse to
//! mix results of different inputs.
//!
//! The fingerprint hashes the history as the sweep ran on it (every symbol's bars, mark,
//! funding and detail, after the date range and resampling) rather than the files' bytes: a
//! file that changed where the spec does not read it changes nothing, and a changed glob
//! match or a replaced file that does change the data is caught whatever its mtime.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::instrument::InstrumentSpec;
use crate::market::MarketData;

/// The lock file's name.
pub const LOCK: &str = ".lock";
/// The provenance file's name.
pub const MADE: &str = ".sweep.json";

/// Folders this process holds, with how many guards share each: a take inside the process
/// that holds it (the command line around `sweep::run`, which runs on a worker thread)
/// shares the lock; the lock keeps other processes out.
static HELD: Mutex<Vec<(PathBuf, usize)>> = Mutex::new(Vec::new());

/// Why a folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error(
        "{folder}: another sweep is writing here (process {pid}, since {since}); wait for it, or use another --out (remove {lock} only if no perpsim is running)"
    )]
    Held {
        folder: String,
        pid: u32,
        since: String,
        lock: String,
    },
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// The folder's lock, released when dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    /// whether this guard created the file (else it shares a lock this thread holds)
    owner: bool,
}

impl Lock {
    /// Takes `dir`'s lock: refused while another live process holds it; a lock left by a
    /// process that is gone is taken over.
    pub fn take(dir: &Path) -> Result<Lock, FolderError> {
        let io = |e| FolderError::Io(dir.display().to_string(), e);
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK);
        let key = std::fs::canonicalize(dir).map_err(io)?;
        {
            let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = held.iter_mut().find(|(p, _)| *p == key) {
                entry.1 += 1;
                return Ok(Lock { path, owner: false });
            }
        }
        for attempt in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let since = crate::data::time::format_utc(now_ms());
                    writeln!(f, "{}\n{since}", std::process::id()).map_err(io)?;
                    HELD.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((key, 1));
                    return Ok(Lock { path, owner: true });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let mut lines = text.lines();
                    let pid = lines.next().and_then(|l| l.trim().parse::<u32>().ok());
                    let since = lines.next().unwrap_or("an unknown time").to_string();
                    match pid {
                        Some(pid) if attempt == 0 && !alive(pid) => {
                            // its process is gone (killed, or the machine restarted)
                            let _ = std::fs::remove_file(&path);
                        }
                        _ => {
                            return Err(FolderError::Held {
                                folder: dir.display().to_string(),
                                pid: pid.unwrap_or(0),
                                since,
                                lock: path.display().to_string(),
                            });
                        }
                    }
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(FolderError::Held {
            folder: dir.display().to_string(),
            pid: 0,
            since: "just now".into(),
            lock: path.display().to_string(),
        })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        let key = self
            .path
            .parent()
            .and_then(|d| std::fs::canonicalize(d).ok());
        if let Some(i) = held.iter().position(|(p, _)| Some(p) == key.as_ref()) {
            held[i].1 -= 1;
            if held[i].1 == 0 {
                held.remove(i);
            }
        }
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// ms since 1970, for the lock's "since when" shown to a user; no result depends on it.
#[allow(clippy::disallowed_methods)]
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether process `pid` still runs. On Linux from `/proc`; elsewhere it cannot be told,
/// and the lock is taken as held.
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        proc.join(pid.to_string()).exists()
    } else {
        true
    }
}

/// What a sweep folder's results were made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Made {
    /// [`fingerprint`] of the history and instruments, hex
    pub inputs: String,
    /// the grid points the whole sweep covers (every shard together)
    pub points: usize,
    /// the shard this folder ran, `[k, n]`, when it was one
    pub shard: Option<(usize, usize)>,
}

impl Made {
    /// Reads `dir`'s record; `None` when it has none (a folder of an older perpsim, or not a
    /// sweep's).
    pub fn read(dir: &Path) -> Option<Made> {
        let text = std::fs::read_to_string(dir.join(MADE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes it into `dir` (a temporary file renamed over the old one).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!("{MADE}.tmp"));
        std::fs::write(&tmp, serde_json::to_string(self).unwrap_or_default())?;
        std::fs::rename(tmp, dir.join(MADE))
    }
}

/// A fingerprint of the history a sweep runs on and the instruments of its base spec: 64
/// bits of XXH3 over every series' values, hex.
pub fn fingerprint(market: &MarketData, instruments: &[InstrumentSpec]) -> String {
    let mut h = Xxh3::new();
    let mut words = Words::default();
    for s in &market.symbols {
        h.update(s.symbol.as_bytes());
        h.update(&s.timeframe.ms().to_le_bytes());
        let c = &s.candles;
        words.ints(&mut h, &c.open_time);
        for col in [&c.open, &c.high, &c.low, &c.close, &c.volume] {
            words.floats(&mut h, col);
        }
        for col in [&s.mark.open, &s.mark.high, &s.mark.low, &s.mark.close] {
            words.floats(&mut h, col);
        }
        for d in &s.funding.due {
            words.push(&mut h, d.time as u64);
            words.push(&mut h, d.rate.to_bits());
            words.push(&mut h, d.mark.to_bits());
        }
        for &b in &s.funding.bar {
            words.push(&mut h, u64::from(b));
        }
        if let Some(d) = &s.detail {
            h.update(&d.timeframe.ms().to_le_bytes());
            for o in d.last.iter().chain(&d.mark) {
                for x in [o.open, o.high, o.low, o.close] {
                    words.push(&mut h, x.to_bits());
                }
            }
        }
        words.flush(&mut h);
    }
    h.update(format!("{instruments:?}").as_bytes());
    format!("{:016x}", h.digest())
}

/// Words gathered into a buffer so that the hasher takes large slices.
#[derive(Default)]
struct Words {
    buf: Vec<u8>,
}

impl Words {
    fn push(&mut self, h: &mut Xxh3, w: u64) {
        self.buf.extend_from_slice(&w.to_le_bytes());
        if self.buf.len() >= 1 << 16 {
            self.flush(h);
        }
    }

    fn ints(&mut self, h: &mut Xxh3, xs: &[i64]) {
        for &x in xs {
            self.push(h, x as u64);
        }
    }

    fn floats(&mut self, h: &mut Xxh3, xs: &[f64]) {
        for &x in xs {
            self.push(h, x.to_bits());
        }
    }

    fn flush(&mut self, h: &mut Xxh3) {
        h.update(&self.buf);
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_refused_while_held_and_taken_over_when_stale() {
        let dir = tempfile::TempDir::new().unwrap();
        let first = Lock::take(dir.path()).unwrap();
        // this process shares it (the command line around the sweep's worker threads)
        let nested =
            std::thread::scope(|s| s.spawn(|| Lock::take(dir.path()).is_ok()).join().unwrap());
        assert!(nested);
        assert!(dir.path().join(LOCK).exists());
        drop(first);
        assert!(!dir.path().join(LOCK).exists());
        // a lock of another live process is refused: pid 1 (init) always runs
        std::fs::write(dir.path().join(LOCK), "1\n2026-12-04 05:00\n").unwrap();
        let e = Lock::take(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("another sweep is writing here (process 1, since 2026-12-04 05:00)"),
            "{e}"
        );
        // a lock left by a process that is gone is taken over (pids stay below 2^22)
        if Path::new("/proc/self").exists() {
            std::fs::write(dir.path().join(LOCK), "4194304\n2026-01-01 00:00\n").unwrap();
            let taken = Lock::take(dir.path()).unwrap();
            let text = std::fs::read_to_string(dir.path().join(LOCK)).unwrap();
            assert!(text.starts_with(&std::process::id().to_string()), "{text}");
            drop(taken);
        } else {
            eprintln!("SKIPPED the stale-lock half: no /proc to tell a live process");
        }
    }
}
