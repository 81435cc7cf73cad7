//! `perpsim sweep SPEC.toml [--out DIR] [--threads N] [--resume] [--shard K/N]` and
//! `perpsim sweep merge DIR... --out DIR`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::Failure;
use crate::report::sweep_page;
use crate::sweep::{self, Sweep};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// Spec with a [sweep] table (TOML)
    pub spec: Option<PathBuf>,
    /// Output directory (default: reports/<name>/)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Worker threads (default: all cores)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run only the configurations missing from an interrupted sweep's results.csv
    #[arg(long)]
    pub resume: bool,
    /// Run only the K-th of N deterministic slices of the grid, e.g. 2/8
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Write a run report for every configuration (default: the best few, `[report] top`)
    #[arg(long)]
    pub report_all: bool,
}

#[derive(Subcommand, Debug)]
pub enum SweepCommand {
    /// Combine the outputs of shards (--shard K/N) into one results table
    Merge {
        /// Shard output directories
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged results go
        #[arg(long)]
        out: PathBuf,
        /// Merge the shards given even if they do not cover the whole grid
        #[arg(long)]
        partial: bool,
    },
}

/// Raised by Ctrl-C: workers finish nothing new.
static STOP: AtomicBool = AtomicBool::new(false);

pub fn run(args: SweepArgs) -> Result<(), Failure> {
    if let Some(SweepCommand::Merge { dirs, out, partial }) = &args.command {
        let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        let merged = sweep::merge(&dirs, out, *partial)?;
        outln!(
            "merged {} of {} configuration(s) from {} shard(s) into {}",
            merged.rows,
            merged.points,
            dirs.len(),
            out.display()
        );
        sweep_page::write_merged_index(out, dirs.len(), merged)
            .map_err(|e| Failure::Work(format!("{}: report: {e}", out.display())))?;
        outln!("wrote {}", out.join("index.html").display());
        return Ok(());
    }
    let Some(spec) = &args.spec else {
        return Err(Failure::Usage(
            "sweep needs a spec file (or `sweep merge DIR... --out DIR`)".into(),
        ));
    };
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = match args.threads {
        Some(0) => return Err(Failure::Usage("--threads must be at least 1".into())),
        // more workers than cores only share them, each with its own buffers
        Some(n) if n > cores => {
            eprintln!("note: --threads {n}: capped at the {cores} core(s) available");
            cores
        }
        Some(n) => n,
        None => cores,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Failure::Work(e.to_string()))?;
    let sweep = Sweep::prepare(spec)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&sweep.name));
    let _ = ctrlc::set_handler(|| {
        STOP.store(true, Ordering::Relaxed);
        eprintln!("\ninterrupted: finishing nothing new; finished configurations are kept");
    });
    let paths = sweep.montecarlo.as_ref().map_or(0, |m| m.paths);
    eprintln!(
        "sweep {}: {} configuration(s){} × {} Monte Carlo path(s), {} bars, {threads} thread(s) → {}",
        sweep.name,
        sweep.points.len(),
        shard
            .map(|(k, n)| format!(" (shard {k}/{n})"))
            .unwrap_or_default(),
        paths,
        sweep.market.clock.len(),
        out.display()
    );
    if let Some(note) = &sweep.unlisted_note {
        eprintln!("note: {note}");
    }
    if let Some(c) = &sweep.grid.constraint
        && sweep.left_out > 0
    {
        eprintln!(
            "constraint: {} of {} grid point(s) left out by `{c}`",
            sweep.left_out,
            sweep.grid.size()
        );
    }
    // held through the report too, so that no other process starts over while it is written
    let _lock = sweep::folder::Lock::take(&out)?;
    let progress = Progress::new();
    let tick = |done: usize, total: usize| progress.tick(done, total);
    let result = pool.install(|| sweep::run(&sweep, &out, args.resume, shard, &STOP, &tick))?;
    progress.finish();
    if result.interrupted {
        eprintln!(
            "stopped with {} of {} configuration(s) done; to finish, run the same command with --resume",
            result.done_before + result.done_now,
            result.total
        );
        return Err(Failure::Work("the sweep was interrupted".into()));
    }
    out!("{}", table(&out.join("results.csv"), sweep.grid.axes.len()));
    let reports = pool
        .install(|| sweep_page::write_sweep_report(&sweep, &out, args.report_all))
        .map_err(|e| Failure::Work(format!("{}: report: {e}", out.display())))?;
    eprintln!(
        "report: index.html and {} configuration report(s) (configs/)",
        reports.len()
    );
    outln!(
        "{} configuration(s) done ({} this run); wrote {}, {} and {}",
        result.total,
        result.done_now,
        out.join("results.csv").display(),
        out.join("survival.csv").display(),
        out.join("index.html").display()
    );
    Ok(())
}

/// The first rows of `results.csv` as a terminal table: the swept values, the history's
/// return and drawdown, and the paths' liquidation and ruin shares and median equity.
fn table(path: &Path, axes: usize) -> String {
    const ROWS: usize = 20;
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return String::new();
    };
    let Ok(header) = reader.headers().cloned() else {
        return String::new();
    };
    let wanted = [
        "total_return",
        "max_drawdown",
        "liquidations",
        "p_liquidation",
        "median_final_equity",
    ];
    let ruin = header.iter().position(|h| h.starts_with("p_ruin_"));
    let mut cols: Vec<usize> = (1..=axes).collect();
    cols.extend(
        wanted
            .iter()
            .filter_map(|w| header.iter().position(|h| h == *w)),
    );
    cols.extend(ruin);
    let short = |x: &str| match x.parse::<f64>() {
        Ok(v) if x.contains('.') => format!("{v:.3}"),
        _ => x.to_string(),
    };
    let mut lines: Vec<Vec<String>> = vec![cols.iter().map(|&c| header[c].to_string()).collect()];
    let mut more = 0;
    for record in reader.records().flatten() {
        if lines.len() > ROWS {
            more += 1;
            continue;
        }
        lines.push(
            cols.iter()
                .map(|&c| short(record.get(c).unwrap_or("")))
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..cols.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        out += &format!("  {}\n", cells.join("  "));
    }
    if more > 0 {
        out += &format!("  … {more} more in results.csv\n");
    }
    out
}

fn parse_shard(text: &str) -> Result<(usize, usize), Failure> {
    let bad = || {
        Failure::Usage(format!(
            "--shard {text}: expected K/N with 1 ≤ K ≤ N, e.g. 2/8"
        ))
    };
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// A progress bar on a terminal; plain lines at each tenth otherwise (logs, CI).
struct Progress {
    bar: Option<ProgressBar>,
    last_tenth: AtomicUsize,
    started: std::time::Instant,
    /// configurations done before this run (a resumed sweep's): its first tick, less one
    before: AtomicUsize,
    /// the estimate of the time left is printed once, when the pace is known
    estimated: std::sync::atomic::AtomicBool,
}

/// How long a sweep runs before its pace is taken for the estimate of the time left.
const ESTIMATE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

impl Progress {
    // the wall clock times the progress line on stderr, never a result
    #[allow(clippy::disallowed_methods)]
    fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} configurations  {per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            last_tenth: AtomicUsize::new(0),
            started: std::time::Instant::now(),
            before: AtomicUsize::new(usize::MAX),
            estimated: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn tick(&self, done: usize, total: usize) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            None => {
                let elapsed = self.started.elapsed();
                let before = self
                    .before
                    .fetch_min(done.saturating_sub(1), Ordering::Relaxed);
                let now = done - before.min(done.saturating_sub(1));
                if done < total
                    && elapsed >= ESTIMATE_AFTER
                    && !self.estimated.swap(true, Ordering::Relaxed)
                {
                    let left = elapsed.as_secs_f64() * (total - done) as f64 / now as f64;
                    eprintln!(
                        "sweep: {now} configuration(s) in {:.0} s, {done}/{total} done: about {} \
                         left at this pace (--shard K/N splits the grid across machines)",
                        elapsed.as_secs_f64(),
                        duration(left)
                    );
                }
                let tenth = 10 * done / total.max(1);
                if self.last_tenth.fetch_max(tenth, Ordering::Relaxed) < tenth {
                    eprintln!(
                        "sweep: {done}/{total} configurations done ({} %)",
                        10 * tenth
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// Seconds as "40 s", "12 min", "3 h 20 min" or "2.5 days".
fn duration(seconds: f64) -> String {
    let minutes = (seconds / 60.0).round() as u64;
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 5_400.0 => format!("{minutes} min"),
        s if s < 172_800.0 => format!("{} h {} min", minutes / 60, minutes % 60),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_at_their_scale() {
        use super::duration;
        assert_eq!(duration(40.4), "40 s");
        assert_eq!(duration(720.0), "12 min");
        assert_eq!(duration(12_000.0), "3 h 20 min");
        assert_eq!(duration(50_400.0), "14 h 0 min");
        assert_eq!(duration(216_000.0), "2.5 days");
    }
}
