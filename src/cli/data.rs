//! `perpsim data check PATH...`: reads each file as a run would, and prints what it found.

use std::fmt::Write as _;

use clap::{Args, Subcommand};

use super::Failure;
use crate::data::check::{GapPolicy, MAX_LISTED};
use crate::data::layout::ColumnNames;
use crate::data::time::{TimeFormat, format_utc};
use crate::data::{self, Content, FileReport};
use crate::market::Timeframe;

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Validate history files: print layout, symbol, timeframe, span, rows, gaps, duplicates,
    /// zero-volume bars (funding files: interval and snapping); exit 1 if any file fails
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files, directories or globs (plain .csv or Binance Vision .zip)
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Name a column of a CSV whose header perpsim does not recognise, e.g. time=Date
    /// (fields: time, open, high, low, close, volume, rate); repeatable
    #[arg(long = "column", value_name = "FIELD=NAME")]
    pub columns: Vec<String>,
    /// What gaps do: fail (default, as in a run) or allow (listed, not failed)
    #[arg(long, value_enum, default_value = "fail")]
    pub gaps: GapArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum GapArg {
    Fail,
    Allow,
}

pub fn run(command: DataCommand) -> Result<(), Failure> {
    let DataCommand::Check(args) = command;
    let mut columns = ColumnNames::default();
    for assignment in &args.columns {
        columns.set(assignment).map_err(Failure::Usage)?;
    }
    let gaps = match args.gaps {
        GapArg::Fail => GapPolicy::Fail,
        GapArg::Allow => GapPolicy::Allow,
    };
    let mut failed = 0;
    let mut checked = 0;
    let mut series_failed = 0;
    let mut all_series = Vec::new();
    for spec in &args.paths {
        let files = data::source::expand(spec)?;
        let mut passed = Vec::new();
        let count = files.len();
        for path in files {
            checked += 1;
            match data::inspect(&path, &columns) {
                Ok(report) => {
                    let verdict = report.verdict(gaps);
                    out!("{}", describe(&report, verdict.as_ref().err()));
                    failed += usize::from(verdict.is_err());
                    if verdict.is_ok() {
                        passed.push((path, report));
                    }
                }
                Err(e) => {
                    outln!("{}\n  error       {e}\n", path.display());
                    failed += 1;
                }
            }
        }
        // the files a run would join, joined: seams, overlaps, a series with no rows
        if passed.len() == count {
            for series in data::join::series_of(spec, passed, gaps) {
                if let Some(block) = describe_series(spec, &series) {
                    out!("{block}");
                }
                series_failed += usize::from(series.joined.is_err());
                all_series.push(series);
            }
        }
    }
    // a symbol's mark against its last price, across the arguments, as a run compares them
    for (what, verdict) in data::join::pairs_checked(&all_series) {
        series_failed += usize::from(verdict.is_err());
        match verdict {
            Ok(()) => {
                outln!("{what}\n  compared    last price inside the mark's range, mark on time\n")
            }
            Err(e) => outln!("{what}\n  error       {e}\n"),
        }
    }
    if failed > 0 || series_failed > 0 {
        let mut what = Vec::new();
        if failed > 0 {
            what.push(format!("{failed} of {checked} file(s) failed the checks"));
        }
        if series_failed > 0 {
            what.push(format!(
                "{series_failed} series of joined files would be refused by a run"
            ));
        }
        return Err(Failure::Work(what.join("; ")));
    }
    outln!("{checked} file(s) checked, all passed");
    Ok(())
}

/// The block for a series of files joined as a run joins them; `None` for a lone file that
/// joined (its own block said it all).
fn describe_series(spec: &str, series: &data::join::Series) -> Option<String> {
    let detail = match &series.joined {
        Ok(_) if series.files == 1 => return None,
        Ok(joined) => format!(
            "  joined      {} rows; no overlap, and no gap the policy refuses, at the seams",
            thousands(joined.rows())
        ),
        Err(e) => format!("  error       {e}"),
    };
    Some(format!(
        "{spec}: {} ({} file(s) as one series)\n{detail}\n\n",
        series.name, series.files
    ))
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn span(times: &[i64]) -> String {
    match (times.first(), times.last()) {
        (Some(&a), Some(&b)) => format!("{} → {} UTC", format_utc(a), format_utc(b)),
        _ => "empty".into(),
    }
}

/// The block `data check` prints for one file.
pub fn describe(report: &FileReport, verdict: Option<&data::DataError>) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: String| {
        let _ = writeln!(out, "  {key:<12}{value}");
    };
    let unknown = || "unknown (not a Binance-style file name)".to_string();
    line("layout", report.layout.clone());
    if !matches!(report.content, Content::Brackets(_)) {
        line("symbol", report.symbol.clone().unwrap_or_else(unknown));
    }
    if let Some(format) = report.time_format {
        let note = match format {
            TimeFormat::Integer(unit) if unit != crate::data::time::TimeUnit::Millis => {
                " — converted to ms"
            }
            _ => "",
        };
        line("time", format!("{}{note}", format.describe()));
    }
    if report.reversed {
        line(
            "order",
            "newest first in the file: read in time order".into(),
        );
    }
    match &report.content {
        Content::Candles {
            candles,
            timeframe,
            findings,
            zero_volume,
            mark_like,
        } => {
            line(
                "kind",
                if *mark_like {
                    "mark-price candles".into()
                } else {
                    "last-price candles".into()
                },
            );
            line(
                "timeframe",
                timeframe.map_or("unknown".into(), |t: Timeframe| t.to_string()),
            );
            line("span", span(&candles.open_time));
            line("rows", thousands(candles.len()));
            line(
                "gaps",
                format!(
                    "{} ({} bars missing)",
                    findings.gaps.len(),
                    findings.missing_bars()
                ),
            );
            for gap in findings.gaps.iter().take(MAX_LISTED) {
                line(
                    "",
                    format!(
                        "line {}: {} → {} missing",
                        gap.line,
                        format_utc(gap.from),
                        format_utc(gap.to - 1)
                    ),
                );
            }
            line("duplicates", findings.duplicates.to_string());
            line("zero-volume", thousands(*zero_volume));
        }
        Content::Funding { series, findings } => {
            line("kind", "funding rates".into());
            line(
                "interval",
                findings
                    .interval
                    .and_then(Timeframe::from_ms)
                    .map_or("unknown".into(), |t| t.to_string()),
            );
            line("span", span(&series.time));
            line("rows", thousands(series.len()));
            if findings.snapped > 0 {
                let snapped = format!(
                    "{} times snapped to the whole hour (at most {} ms off)",
                    thousands(findings.snapped),
                    findings.max_snap_ms
                );
                line("snapped", snapped);
            }
            let (min, max) = series
                .rate
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &r| (a.min(r), b.max(r)));
            if !series.is_empty() {
                line(
                    "rate",
                    format!(
                        "{:.4} % to {:.4} % per settlement",
                        min * 100.0,
                        max * 100.0
                    ),
                );
            }
            line(
                "gaps",
                format!(
                    "{} ({} settlements missing)",
                    findings.findings.gaps.len(),
                    findings.findings.missing_bars()
                ),
            );
            line("duplicates", findings.findings.duplicates.to_string());
        }
        Content::Brackets(b) => {
            line(
                "kind",
                "leverage brackets (reference table, not history)".into(),
            );
            line(
                "tables",
                format!("{} (source × snapshot × symbol)", b.tables),
            );
            line("symbols", b.symbols.join(", "));
            line(
                "snapshots",
                format!("{} → {}", b.snapshots.0, b.snapshots.1),
            );
            line("rows", thousands(b.rows));
        }
    }
    match verdict {
        None => line("verdict", "ok".into()),
        Some(e) => line("verdict", format!("FAILED — {e}")),
    }
    format!("{}\n{out}\n", report.file)
}
