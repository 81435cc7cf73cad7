//! Sweeps: a spec × its `[sweep]` grid (× Monte Carlo paths), run in parallel, reduced to one
//! row per configuration in `results.csv` and a survival curve in `survival.csv`.
//!
//! - [`grid`]: the grid of configurations and their checked specs;
//! - [`montecarlo`]: paths (block bootstrap, synthetic);
//! - [`runner`]: one configuration → its row; the definitions of the statistics;
//! - [`stats`]: quantiles and Kaplan–Meier;
//! - [`results`]: the files, resume and merge.
//!
//! The history is loaded once and shared read-only by every run (`Arc` inside
//! [`MarketData`]); a Monte Carlo path is rebuilt from its seed when a run needs it, so memory
//! is one history plus O(threads) paths, whatever the grid size.

pub mod constraint;
pub mod folder;
pub mod grid;
pub mod montecarlo;
pub mod results;
pub mod runner;
pub mod stats;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::market::MarketData;
use crate::spec::{self, RunSpec, SpecError};
use grid::{Grid, Point};
use montecarlo::MonteCarlo;

/// Marks a folder whose sweep finished (its files are sorted and whole). A folder with results
/// but without it holds an interrupted sweep, which only `--resume` may touch.
pub const COMPLETE: &str = ".complete";

/// The most configurations run together on each Monte Carlo path (see
/// [`runner::run_batch`]): the path is built once for all of them. Batches are also kept to
/// a quarter of the work or less, so a sweep commits (and shows progress) at least four
/// times; an interruption loses at most the batch in flight.
const MAX_BATCH: usize = 8;

/// A sweep ready to run: every point checked, the history loaded.
pub struct Sweep {
    pub name: String,
    pub grid: Grid,
    pub montecarlo: Option<MonteCarlo>,
    /// the spec's `[report]` settings
    pub report: spec::ReportOptions,
    /// the points to run (all, or the sample); each one's spec is rebuilt when it runs, so
    /// memory does not grow with the grid (they were all checked by [`Sweep::prepare`])
    pub points: Vec<Point>,
    /// the spec's table without `[sweep]`, and its file (for relative paths)
    pub base: toml::Table,
    pub file: std::path::PathBuf,
    pub market: MarketData,
    /// the spec's text (kept with the results, to refuse resuming a different sweep)
    pub text: String,
    /// the base spec's warning for symbols its instrument file does not list
    pub unlisted_note: Option<String>,
    /// grid points `sweep.constraint` left out
    pub left_out: usize,
    /// [`folder::fingerprint`] of the history and the base spec's instruments
    pub inputs: String,
}

/// Why a sweep could not run.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Folder(#[from] folder::FolderError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(
        "{}: no [sweep] table: name the parameters to vary, e.g. \"risk.max_leverage\" = [1, 2, 3, 5, 10, 20] (or use `perpsim run`)",
        .0.display()
    )]
    NoGrid(PathBuf),
    #[error("{}: sweep.montecarlo: {message}", file.display())]
    MonteCarlo { file: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// the output folder cannot take this sweep
    #[error("{}: {reason}", dir.display())]
    Refused { dir: PathBuf, reason: Refusal },
    /// shards that are not one sweep's, or not all of it
    #[error("{}: {reason}", dir.display())]
    Merge { dir: PathBuf, reason: MergeRefusal },
    #[error("a worker thread failed")]
    Worker,
}

/// Why an output folder cannot take a sweep (or its resumption).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "holds files that are not a perpsim sweep's (no spec.toml): use another --out, or an empty or new folder"
    )]
    Strangers,
    #[error("these results come from a different sweep (spec or grid changed); use another --out")]
    OtherSweep,
    #[error(
        "these results were made from other data: the history or the instrument file changed \
         since (fingerprint {then} then, {now} now); resuming would mix the two, so use another --out"
    )]
    OtherData { then: String, now: String },
    #[error("this folder ran {was}; resume it with the same --shard")]
    OtherShard { was: String },
    #[error(
        "these results do not say what data they were made from (an older perpsim wrote them): start afresh in another --out"
    )]
    NoRecord,
    #[error(
        "holds an unfinished sweep: add --resume to finish it, or delete the folder to start over"
    )]
    Unfinished,
    #[error("results.csv vanished while the sweep ran")]
    Vanished,
}

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeRefusal {
    #[error(
        "no record of what this shard was made from (.sweep.json): not a finished sweep folder of this perpsim"
    )]
    NoRecord,
    #[error("its spec.toml differs from {}'s: not the same sweep", .first.display())]
    OtherSpec { first: PathBuf },
    #[error(
        "made from other data than {} (fingerprint {theirs} against {ours}): the history or the instrument file differed",
        .first.display()
    )]
    OtherData {
        first: PathBuf,
        theirs: String,
        ours: String,
    },
    #[error("no results.csv")]
    NoResults,
    #[error("its results.csv has other columns than {}'s: not the same sweep", .first.display())]
    OtherColumns { first: PathBuf },
    #[error("configuration {id} differs between shards: not the same sweep")]
    Differs { id: usize },
    #[error(
        "the shards hold {have} of the sweep's {points} configurations: merge every shard, or add --partial to merge these alone (the page then says so)"
    )]
    Incomplete { have: usize, points: usize },
}

impl Sweep {
    /// Reads the spec, expands and checks every grid point, loads the history.
    pub fn prepare(file: &Path) -> Result<Sweep, SweepError> {
        Sweep::from_text(spec::read_text(file)?, file, None)
    }

    /// [`Sweep::prepare`] on a spec's text; `market` replaces the history the spec names
    /// (benchmarks run on synthetic history of their own size).
    pub fn from_text(
        text: String,
        file: &Path,
        market: Option<MarketData>,
    ) -> Result<Sweep, SweepError> {
        let base = spec::parse(&text, file)?;
        let Some(table) = &base.sweep else {
            return Err(SweepError::NoGrid(file.to_path_buf()));
        };
        let grid = Grid::parse(table, file, Some(&text))?;
        let montecarlo = grid
            .montecarlo
            .as_ref()
            .map(MonteCarlo::parse)
            .transpose()
            .map_err(|(key, message)| {
                let field = if key.is_empty() {
                    "sweep.montecarlo".to_string()
                } else {
                    format!("sweep.montecarlo.{key}")
                };
                SpecError {
                    file: file.display().to_string(),
                    line: spec::line_of_key(&text, &field)
                        .or_else(|| spec::line_of_key(&text, "sweep.montecarlo")),
                    field,
                    message,
                }
            })?;
        if montecarlo.is_some() && base.strategy_kind == crate::strategy::signal_file::KIND {
            return Err(SpecError {
                file: file.display().to_string(),
                line: spec::line_of_key(&text, "sweep.montecarlo"),
                field: "sweep.montecarlo".into(),
                message: "a signal file's rows were decided on the history's prices, so they \
                          mean nothing on a Monte Carlo path; sweep them on the history alone \
                          (remove [sweep.montecarlo]), or write the rule as a strategy \
                          (examples/custom_strategy.rs) to test it on paths"
                    .into(),
            }
            .into());
        }
        if let (Some(mc), Some(fine)) = (&montecarlo, base.load.detail)
            && mc.method == montecarlo::Method::Synth
        {
            return Err(SweepError::Spec(SpecError {
                file: file.display().to_string(),
                line: spec::line_of_key(&text, "sweep.montecarlo.method"),
                field: "sweep.montecarlo.method".into(),
                message: format!(
                    "synthetic paths have no {fine} bars inside their bars (data.detail): use \
                     method = \"block_bootstrap\", whose paths carry the history's detail"
                ),
            }));
        }
        // the report's heatmap axes must be swept paths
        let axes: Vec<String> = grid.axes.iter().map(|a| a.path.clone()).collect();
        for (key, value) in [
            ("heatmap_x", &base.report.heatmap_x),
            ("heatmap_y", &base.report.heatmap_y),
        ] {
            if let Some(v) = value
                && !axes.contains(v)
            {
                return Err(SpecError {
                    file: file.display().to_string(),
                    line: spec::line_of_key(&text, &format!("report.{key}")),
                    field: format!("report.{key}"),
                    message: format!("{v:?} is not swept; swept: {}", axes.join(", ")),
                }
                .into());
            }
        }
        let report = base.report.clone();
        let mut doc: toml::Table =
            toml::from_str(&text).map_err(|e| spec::toml_error(&e, &text, file))?;
        doc.remove("sweep");
        let constraint = grid
            .constraint
            .as_deref()
            .map(|c| {
                let mut known: Vec<String> = grid.axes.iter().map(|a| a.path.clone()).collect();
                known.extend(grid::key_paths(&doc));
                constraint::Constraint::parse(c, &known)
            })
            .transpose()
            .map_err(|e| constraint_error(e, file, &text))?;
        // the points the constraint keeps (all without one)
        let mut kept = vec![true; grid.size()];
        if let Some(c) = &constraint {
            for (id, keep) in kept.iter_mut().enumerate() {
                let point = grid.point(id);
                *keep = c
                    .holds(|path| grid::value_at(&doc, &grid, &point, path))
                    .map_err(|e| constraint_error(e, file, &text))?;
            }
        }
        let left_out = kept.iter().filter(|k| !**k).count();
        if left_out == kept.len() {
            let c = constraint.as_ref().map_or("", |c| c.text());
            return Err(constraint_error(
                constraint::ConstraintError(format!("`{c}` leaves no grid point to run")),
                file,
                &text,
            )
            .into());
        }
        let ids = grid.ids_where(|id| kept[id]);
        let points: Vec<Point> = ids.into_iter().map(|id| grid.point(id)).collect();
        // every point is checked before anything runs; the first bad one in grid order is
        // named, whichever thread found one first
        let bad = points
            .par_iter()
            .find_map_first(|point| grid::point_spec(&doc, &grid, point, file).err());
        if let Some(e) = bad {
            return Err(with_sweep_line(e, &text).into());
        }
        let market = match market {
            Some(m) => m,
            None => base.load_market().map_err(SweepError::Data)?,
        };
        if let Some(mc) = &montecarlo {
            mc.path(&market, 0)
                .map_err(|message| SweepError::MonteCarlo {
                    file: file.to_path_buf(),
                    message,
                })?;
        }
        Ok(Sweep {
            left_out,
            inputs: folder::fingerprint(&market, &base.instruments),
            unlisted_note: base.unlisted_note(),
            name: base.name,
            grid,
            montecarlo,
            report,
            points,
            base: doc,
            file: file.to_path_buf(),
            market,
            text,
        })
    }

    /// The checked spec of `point`.
    pub fn spec_of(&self, point: &Point) -> Result<RunSpec, SpecError> {
        grid::point_spec(&self.base, &self.grid, point, &self.file)
    }

    /// The `results.csv` header.
    pub fn header(&self) -> String {
        let axes: Vec<String> = self.grid.axes.iter().map(|a| a.path.clone()).collect();
        let levels = self
            .montecarlo
            .as_ref()
            .map_or_else(|| vec![0.5, 0.1], |m| m.ruin_levels.clone());
        results::header(&axes, &levels)
    }

    fn ruin_levels(&self) -> usize {
        self.montecarlo.as_ref().map_or(2, |m| m.ruin_levels.len())
    }
}

/// A constraint's error, on the line of `sweep.constraint`.
fn constraint_error(e: constraint::ConstraintError, file: &Path, text: &str) -> SpecError {
    SpecError {
        file: file.display().to_string(),
        line: spec::line_of_key(text, "sweep.constraint"),
        field: "sweep.constraint".into(),
        message: e.0,
    }
}

/// A grid point's error, placed on the line of the `[sweep]` key that produced it.
fn with_sweep_line(e: SpecError, text: &str) -> SpecError {
    let path = e
        .field
        .strip_prefix("sweep.\"")
        .and_then(|p| p.strip_suffix('"'))
        .unwrap_or(&e.field);
    let line = spec::line_of_key(text, &format!("sweep.{path}")).or(e.line);
    SpecError { line, ..e }
}

/// Which points a run takes: `(k, n)` = the k-th (1-based) of n slices, by position.
pub fn shard_of(points: usize, shard: Option<(usize, usize)>) -> Vec<usize> {
    match shard {
        None => (0..points).collect(),
        Some((k, n)) => (0..points).filter(|i| i % n == k - 1).collect(),
    }
}

/// How a sweep went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// configurations finished before this run (resume) and by it
    pub done_before: usize,
    pub done_now: usize,
    pub total: usize,
    pub interrupted: bool,
}

/// Runs the points of `shard` not already in `out`'s results (all of them unless `resume`),
/// appending each as it finishes; `tick` is called after each. When every point is done the
/// files are rewritten sorted by id.
pub fn run(
    sweep: &Sweep,
    out: &Path,
    resume: bool,
    shard: Option<(usize, usize)>,
    stop: &AtomicBool,
    tick: &(dyn Fn(usize, usize) + Sync),
) -> Result<Progress, SweepError> {
    let io = |e: std::io::Error| SweepError::Io {
        path: out.to_path_buf(),
        source: e,
    };
    let refused = |reason: Refusal| SweepError::Refused {
        dir: out.to_path_buf(),
        reason,
    };
    let path_error = |message: String| SweepError::MonteCarlo {
        file: sweep.file.clone(),
        message,
    };
    let _lock = folder::Lock::take(out)?;
    let header = sweep.header();
    let results_path = out.join(results::RESULTS);
    let spec_copy = out.join("spec.toml");
    let made = folder::Made {
        inputs: sweep.inputs.clone(),
        points: sweep.points.len(),
        shard,
    };
    let existing = results::read_results(&results_path).map_err(io)?;
    let ours = out.join(folder::MADE).exists() || spec_copy.exists();
    let strangers = std::fs::read_dir(out)
        .map_err(io)?
        .filter_map(Result::ok)
        .any(|e| e.file_name() != folder::LOCK);
    if strangers && !ours {
        return Err(refused(Refusal::Strangers));
    }
    let done: std::collections::BTreeSet<usize> = match (&existing, resume) {
        (Some(t), true) => {
            if t.header != header
                || std::fs::read_to_string(&spec_copy).ok().as_deref() != Some(&sweep.text)
            {
                return Err(refused(Refusal::OtherSweep));
            }
            match folder::Made::read(out) {
                Some(m) if m.inputs != made.inputs => {
                    return Err(refused(Refusal::OtherData {
                        then: m.inputs,
                        now: made.inputs.clone(),
                    }));
                }
                Some(m) if m.shard != shard => {
                    let was = m
                        .shard
                        .map_or("the whole grid".into(), |(k, n)| format!("shard {k}/{n}"));
                    return Err(refused(Refusal::OtherShard { was }));
                }
                Some(_) => {}
                None => {
                    return Err(refused(Refusal::NoRecord));
                }
            }
            results::trim_partial(&results_path).map_err(io)?;
            // survival rows of a configuration whose results row never came are dropped
            // now, before it runs again and writes them anew
            let mut survival = results::read_survival(&out.join(results::SURVIVAL)).map_err(io)?;
            results::keep_committed(&mut survival, t);
            results::rewrite_survival(out, &survival).map_err(io)?;
            t.rows.keys().copied().collect()
        }
        (Some(t), false) if !t.rows.is_empty() && !out.join(COMPLETE).exists() => {
            return Err(refused(Refusal::Unfinished));
        }
        _ => {
            // nothing there, or a finished sweep (reproducible from its spec): start afresh,
            // keeping the finished one's files aside until the new one completes
            for name in [results::RESULTS, results::SURVIVAL] {
                let path = out.join(name);
                if path.exists() {
                    std::fs::rename(&path, out.join(format!(".previous.{name}"))).map_err(io)?;
                }
            }
            let _ = std::fs::remove_file(out.join(COMPLETE));
            Default::default()
        }
    };
    let _ = std::fs::remove_file(out.join(COMPLETE));
    std::fs::write(&spec_copy, &sweep.text).map_err(io)?;
    made.write(out).map_err(io)?;
    let mine = shard_of(sweep.points.len(), shard);
    let todo: Vec<usize> = mine
        .iter()
        .copied()
        .filter(|&i| !done.contains(&sweep.points[i].id))
        .collect();
    let total = mine.len();
    let done_before = total - todo.len();
    let appender =
        Mutex::new(results::Appender::open(out, &header, sweep.ruin_levels()).map_err(io)?);
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let commit = |rows: Vec<runner::Row>| -> Result<(), SweepError> {
        let mut w = appender.lock().map_err(|_| SweepError::Worker)?;
        for row in &rows {
            w.append(row).map_err(io)?;
            let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
            tick(done_before + n, total);
        }
        Ok(())
    };
    let outcome: Result<(), SweepError> = match &sweep.montecarlo {
        // with Monte Carlo, configurations go in batches that share each path's build
        Some(mc) => {
            let kept = runner::PathRecordings::default();
            todo.chunks((todo.len() / 4).clamp(1, MAX_BATCH))
                .try_for_each(|batch| {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let configs = batch
                        .iter()
                        .map(|&i| {
                            let point = &sweep.points[i];
                            Ok((point.id, point.values.clone(), sweep.spec_of(point)?))
                        })
                        .collect::<Result<Vec<_>, SweepError>>()?;
                    match runner::run_batch(&configs, &sweep.market, mc, &kept, stop)
                        .map_err(path_error)?
                    {
                        Some(rows) => commit(rows),
                        None => Ok(()),
                    }
                })
        }
        // without, each strategy setting's signals are worked out once and shared by the
        // configurations that differ only in account and risk settings
        None => {
            let mut failed = None;
            let specs = todo.iter().map_while(|&i| {
                sweep
                    .spec_of(&sweep.points[i])
                    .map_err(|e| failed = Some(e))
                    .ok()
            });
            let shared = runner::SharedSignals::record(specs, &sweep.market);
            if let Some(e) = failed {
                return Err(e.into());
            }
            todo.par_iter().try_for_each(|&i| {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let point = &sweep.points[i];
                let spec = sweep.spec_of(point)?;
                let row = runner::run_config(
                    point.id,
                    point.values.clone(),
                    &spec,
                    &sweep.market,
                    None,
                    Some(&shared),
                    stop,
                )
                .map_err(path_error)?;
                match row {
                    Some(row) => commit(vec![row]),
                    None => Ok(()),
                }
            })
        }
    };
    outcome?;
    drop(appender);
    let done_now = finished.load(Ordering::Relaxed);
    let interrupted = done_before + done_now < total;
    if !interrupted {
        let table = results::read_results(&results_path)
            .map_err(io)?
            .ok_or_else(|| refused(Refusal::Vanished))?;
        let mut survival = results::read_survival(&out.join(results::SURVIVAL)).map_err(io)?;
        results::keep_committed(&mut survival, &table);
        results::finalize(out, &table, &survival).map_err(io)?;
        std::fs::write(out.join(COMPLETE), "").map_err(io)?;
        for name in [results::RESULTS, results::SURVIVAL] {
            let _ = std::fs::remove_file(out.join(format!(".previous.{name}")));
        }
    }
    Ok(Progress {
        done_before,
        done_now,
        total,
        interrupted,
    })
}

/// What [`merge`] put together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Merged {
    /// configurations in the merged results
    pub rows: usize,
    /// configurations the whole sweep covers
    pub points: usize,
}

/// Combines shard directories into `out`: one results table and survival file, sorted by id.
/// The shards must come from the same sweep — the same spec text and the same inputs (their
/// fingerprints, `.sweep.json`) — and together cover the whole grid, unless `partial`.
pub fn merge(dirs: &[&Path], out: &Path, partial: bool) -> Result<Merged, SweepError> {
    let _lock = folder::Lock::take(out)?;
    let mut header: Option<String> = None;
    let mut merged = results::Table {
        header: String::new(),
        rows: Default::default(),
    };
    let mut survival = std::collections::BTreeMap::new();
    let mut first: Option<(folder::Made, String)> = None;
    for dir in dirs {
        let refused = |reason: MergeRefusal| SweepError::Merge {
            dir: dir.to_path_buf(),
            reason,
        };
        let io = |e: std::io::Error| SweepError::Io {
            path: dir.to_path_buf(),
            source: e,
        };
        let made = folder::Made::read(dir).ok_or_else(|| refused(MergeRefusal::NoRecord))?;
        let spec = std::fs::read_to_string(dir.join("spec.toml")).unwrap_or_default();
        match &first {
            None => first = Some((made.clone(), spec)),
            Some((m, text)) => {
                if *text != spec {
                    return Err(refused(MergeRefusal::OtherSpec {
                        first: dirs[0].to_path_buf(),
                    }));
                }
                if m.inputs != made.inputs {
                    return Err(refused(MergeRefusal::OtherData {
                        first: dirs[0].to_path_buf(),
                        theirs: made.inputs,
                        ours: m.inputs.clone(),
                    }));
                }
            }
        }
        let path = dir.join(results::RESULTS);
        let table = results::read_results(&path)
            .map_err(io)?
            .ok_or_else(|| refused(MergeRefusal::NoResults))?;
        match &header {
            None => header = Some(table.header.clone()),
            Some(h) if *h != table.header => {
                return Err(refused(MergeRefusal::OtherColumns {
                    first: dirs[0].to_path_buf(),
                }));
            }
            Some(_) => {}
        }
        let mut s = results::read_survival(&dir.join(results::SURVIVAL)).map_err(io)?;
        results::keep_committed(&mut s, &table);
        for (id, line) in table.rows {
            if merged.rows.get(&id).is_some_and(|l| *l != line) {
                return Err(refused(MergeRefusal::Differs { id }));
            }
            merged.rows.insert(id, line);
        }
        survival.extend(s);
    }
    let points = first.as_ref().map_or(0, |(m, _)| m.points);
    if merged.rows.len() < points && !partial {
        return Err(SweepError::Merge {
            dir: out.to_path_buf(),
            reason: MergeRefusal::Incomplete {
                have: merged.rows.len(),
                points,
            },
        });
    }
    merged.header = header.unwrap_or_default();
    let io = |e: std::io::Error| SweepError::Io {
        path: out.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(out).map_err(io)?;
    results::finalize(out, &merged, &survival).map_err(io)?;
    if let Some((made, text)) = &first {
        std::fs::write(out.join("spec.toml"), text).map_err(io)?;
        let whole = folder::Made {
            shard: None,
            ..made.clone()
        };
        whole.write(out).map_err(io)?;
    }
    Ok(Merged {
        rows: merged.rows.len(),
        points,
    })
}
