//! Loading market history as users download it, checking it, and aligning it.
//!
//! [`inspect`] reads one file and reports everything `perpsim data check` prints, without
//! failing on what it finds. [`load_candles`] and [`load_funding`] read a file, a directory
//! or a glob of files, refuse any that breaks the checks (see `check.rs`), and join the files
//! in time order, checking the seams between them too (`join.rs`, which `data check` runs
//! over the series its arguments hold). [`load_symbol`] puts one symbol's
//! candles, mark price and funding together on one timeframe.

pub mod align;
pub mod brackets;
pub mod check;
pub mod divergence;
pub mod error;
pub mod join;
pub mod layout;
pub mod parse;
pub mod source;
pub mod synth;
pub mod time;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::market::{
    AlignedFunding, Candles, Detail, FundingSeries, MarkColumns, MarkSource, Ohlc, Settlement,
    SymbolHistory, Timeframe,
};
use check::{FundingFindings, GapPolicy};
pub use error::{DataError, Result};
use layout::{ColumnNames, Kind, Layout};
use parse::{Rows, Table};
use time::TimeFormat;

/// What a load needs besides the paths.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// for CSVs whose header perpsim does not recognise
    pub columns: ColumnNames,
    pub gaps: GapPolicy,
    /// resample to this timeframe (a multiple of the files'); `None` keeps the files' own
    pub timeframe: Option<Timeframe>,
    /// ms, keep bars opening at or after this time
    pub from: Option<i64>,
    /// ms, keep bars opening before this time
    pub to: Option<i64>,
    /// walk each trading bar's path from bars of this finer timeframe (`data.detail`)
    pub detail: Option<Timeframe>,
}

/// One file, read and checked.
#[derive(Clone, Debug)]
pub struct FileReport {
    pub file: String,
    /// the detected layout, in words
    pub layout: String,
    /// the time column's name, for messages
    pub time_column: String,
    pub time_format: Option<TimeFormat>,
    pub symbol: Option<String>,
    pub content: Content,
    /// the file was written newest first; its rows were read in time order
    pub reversed: bool,
}

#[derive(Clone, Debug)]
pub enum Content {
    Candles {
        candles: Candles,
        /// detected from the rows (most common step), else from the file name
        timeframe: Option<Timeframe>,
        findings: check::Findings,
        zero_volume: usize,
        /// the name says mark price, or every bar has volume 0 (as Binance mark klines do)
        mark_like: bool,
    },
    Funding {
        series: FundingSeries,
        findings: FundingFindings,
    },
    /// a leverage-bracket table (not history), checked tier by tier
    Brackets(brackets::BracketReport),
}

impl FileReport {
    fn findings(&self) -> &check::Findings {
        match &self.content {
            Content::Candles { findings, .. } => findings,
            Content::Funding { findings, .. } => &findings.findings,
            Content::Brackets(report) => &report.findings,
        }
    }

    /// `Ok` when the file passes the checks under `gaps`.
    pub fn verdict(&self, gaps: GapPolicy) -> Result<()> {
        self.findings()
            .clone()
            .into_result(&self.file, gaps, &self.time_column)
    }
}

fn time_column(layout: &Layout) -> usize {
    match layout.kind {
        Kind::Kline(c) => c.time,
        Kind::Funding(f) => f.time,
    }
}

/// The first line of a stream (at most 64 KiB of it).
fn first_line(reader: &mut dyn std::io::Read) -> std::io::Result<String> {
    let mut head = Vec::new();
    std::io::Read::take(reader, 1 << 16).read_to_end(&mut head)?;
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(String::from_utf8_lossy(line)
        .trim_start_matches('\u{feff}')
        .to_string())
}

/// Reads and checks one file (plain or zipped CSV) without failing on what the checks find.
pub fn inspect(path: &Path, columns: &ColumnNames) -> Result<FileReport> {
    let head = source::with_reader(path, |reader, label, _| {
        first_line(reader).map_err(|source| DataError::Io {
            file: label.to_string(),
            source,
        })
    })?;
    if brackets::is_bracket_header(&head) {
        let (report, file) = source::with_reader(path, |reader, label, _| {
            brackets::read(reader, label).map(|r| (r, label.to_string()))
        })?;
        return Ok(FileReport {
            file,
            layout: "leverage-bracket table (source,snapshot_date,symbol,bracket,…)".into(),
            time_column: "snapshot_date".into(),
            time_format: None,
            symbol: None,
            content: Content::Brackets(report),
            reversed: false,
        });
    }
    let table = source::with_reader(path, |reader, label, size| {
        parse::read_table(reader, label, columns, size).map(|t| (t, label.to_string()))
    });
    let (table, file) = table?;
    let Table {
        layout,
        time_format,
        rows,
        lines,
    } = table;
    let names = &layout.names;
    let reversed = lines.reversed();
    let content = match (rows, layout.kind) {
        (Rows::Candles(candles), Kind::Kline(c)) => {
            let timeframe = check::detect_step(&candles.open_time)
                .and_then(Timeframe::from_ms)
                .or_else(|| source::timeframe_from_name(path));
            let volume_name = c.volume.map_or("volume", |v| names[v].as_str());
            let column_names = [
                &names[c.time],
                &names[c.open],
                &names[c.high],
                &names[c.low],
                &names[c.close],
            ]
            .map(String::as_str);
            let [t, o, h, l, cl] = column_names;
            let findings =
                check::check_candles(&candles, &lines, timeframe, [t, o, h, l, cl, volume_name]);
            let zero_volume = candles.volume.iter().filter(|&&v| v == 0.0).count();
            let mark_like =
                source::is_mark_name(path) || (!candles.is_empty() && zero_volume == candles.len());
            Content::Candles {
                candles,
                timeframe,
                findings,
                zero_volume,
                mark_like,
            }
        }
        (Rows::Funding(raw), Kind::Funding(f)) => {
            let (series, findings) =
                check::check_funding(&raw, &lines, [&names[f.time], &names[f.rate]]);
            Content::Funding { series, findings }
        }
        _ => unreachable!("read_table fills the rows its layout names"),
    };
    let time_column = layout.names[time_column(&layout)].clone();
    Ok(FileReport {
        file,
        layout: layout.to_string(),
        time_column,
        time_format,
        symbol: source::symbol_from_name(path),
        content,
        reversed,
    })
}

/// Candles from a file, directory or glob, checked and joined in time order.
#[derive(Clone, Debug)]
pub struct LoadedCandles {
    pub candles: Candles,
    pub timeframe: Timeframe,
    pub files: Vec<PathBuf>,
}

/// Reads every file `spec` stands for (in parallel) and refuses any that fails its checks.
fn inspect_all(spec: &str, options: &LoadOptions) -> Result<Vec<(PathBuf, FileReport)>> {
    let files = source::expand(spec)?;
    let reports: Vec<FileReport> = files
        .par_iter()
        .map(|p| inspect(p, &options.columns))
        .collect::<Result<_>>()?;
    for report in &reports {
        report.verdict(options.gaps)?;
    }
    Ok(files.into_iter().zip(reports).collect())
}

/// Loads candles (trade or mark) from `spec`: a file, a directory or a glob.
pub fn load_candles(spec: &str, options: &LoadOptions) -> Result<LoadedCandles> {
    join::candles(spec, inspect_all(spec, options)?, options.gaps)
}

/// Loads funding settlements from `spec`: a file, a directory or a glob.
pub fn load_funding(spec: &str, options: &LoadOptions) -> Result<FundingSeries> {
    join::funding(spec, inspect_all(spec, options)?, options.gaps)
}

/// Where one symbol's history is, as a spec names it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SymbolSource {
    pub symbol: String,
    /// file, directory or glob of last-price candles
    pub candles: String,
    /// mark-price candles; without them the last price stands in for mark
    pub mark: Option<String>,
    pub funding: Option<String>,
    /// last-price candles at the detail timeframe or finer; default: `candles`
    pub detail_candles: Option<String>,
    /// mark-price candles at the detail timeframe or finer; default: `mark` when it is fine
    /// enough, else the detail's last price stands in
    pub detail_mark: Option<String>,
    /// the spec's column map for this symbol's files (over [`LoadOptions::columns`])
    pub columns: ColumnNames,
}

/// Loads one symbol: candles, mark and funding, cut to the date range, resampled to the
/// target timeframe, mark and funding aligned on the candles.
pub fn load_symbol(src: &SymbolSource, options: &LoadOptions) -> Result<SymbolHistory> {
    let own;
    let options = if src.columns == ColumnNames::default() {
        options
    } else {
        own = LoadOptions {
            columns: src.columns.clone(),
            ..options.clone()
        };
        &own
    };
    let from = options.from.unwrap_or(i64::MIN);
    let to = options.to.unwrap_or(i64::MAX);
    let native = load_candles(&src.candles, options)?;
    let native_tf = native.timeframe;
    let mut native_candles = native.candles;
    native_candles.retain_range(from, to);
    if native_candles.is_empty() {
        let message = "no candles in the chosen date range".to_string();
        return Err(DataError::Layout {
            file: src.candles.clone(),
            message,
        });
    }
    let timeframe = options.timeframe.unwrap_or(native_tf);
    let candles = to_timeframe(&native_candles, native_tf, timeframe, &src.candles)?;

    let native_mark = match &src.mark {
        Some(spec) => {
            let loaded = load_candles(spec, options)?;
            let mut mark = loaded.candles;
            mark.retain_range(from, to);
            Some((mark, loaded.timeframe, spec))
        }
        None => None,
    };
    let (mark, mark_source) = match &native_mark {
        Some((m, tf, spec)) => {
            let m = to_timeframe(m, *tf, timeframe, spec)?;
            let aligned = align_mark(&candles, timeframe, &m)?;
            divergence::check_against_mark(&candles, &aligned.0, &src.candles, spec)?;
            aligned
        }
        None => (last_as_mark(&candles), MarkSource::LastPrice),
    };

    let (funding, funding_dropped) = match &src.funding {
        Some(spec) => {
            let mut series = load_funding(spec, options)?;
            series.retain_range(from, to);
            let (mark_times, mark_opens, mark_tf) = match &native_mark {
                Some((m, tf, _)) => (&m.open_time, &m.open, *tf),
                None => (&native_candles.open_time, &native_candles.open, native_tf),
            };
            align_funding(
                &candles, timeframe, &series, mark_times, mark_opens, mark_tf,
            )?
        }
        None => (AlignedFunding::default(), 0),
    };
    let detail = match options.detail {
        Some(fine) => {
            let default_mark = native_mark
                .as_ref()
                .map(|(m, tf, spec)| (m, *tf, spec.as_str()));
            let native = (&native_candles, native_tf, src.candles.as_str());
            Some(load_detail(
                src,
                options,
                &candles,
                timeframe,
                fine,
                native,
                default_mark,
            )?)
        }
        None => None,
    };
    Ok(SymbolHistory {
        symbol: src.symbol.clone(),
        timeframe,
        candles,
        mark,
        mark_source,
        funding,
        funding_dropped,
        detail,
    })
}

/// Candles as loaded: the bars, their own timeframe, and the file spec they came from.
type Native<'a> = (&'a Candles, Timeframe, &'a str);

/// The bars of timeframe `fine` covering each of `candles` (of timeframe `tf`) back to back,
/// from the symbol's detail files or, where none are given, from its own candles and mark
/// (`default_mark`) resampled, when those are fine enough.
fn load_detail(
    src: &SymbolSource,
    options: &LoadOptions,
    candles: &Candles,
    tf: Timeframe,
    fine: Timeframe,
    native: Native<'_>,
    default_mark: Option<Native<'_>>,
) -> Result<Detail> {
    let (from, to) = (
        options.from.unwrap_or(i64::MIN),
        options.to.unwrap_or(i64::MAX),
    );
    if fine.ms() >= tf.ms() || tf.ms() % fine.ms() != 0 {
        let message = format!("data.detail = \"{fine}\" must divide the {tf} trading bars");
        return Err(DataError::Layout {
            file: src.candles.clone(),
            message,
        });
    }
    let loaded;
    let (last_native, last_tf, last_file) = match &src.detail_candles {
        Some(spec) => {
            loaded = load_candles(spec, options)?;
            (&loaded.candles, loaded.timeframe, spec.as_str())
        }
        None => native,
    };
    if fine.ms() % last_tf.ms() != 0 {
        let message = format!(
            "these candles are {last_tf}, too coarse for data.detail = \"{fine}\": give \
             data.symbols.detail_candles at {fine} or finer"
        );
        return Err(DataError::Layout {
            file: last_file.into(),
            message,
        });
    }
    let mut last = last_native.clone();
    last.retain_range(from, to);
    let last = to_timeframe(&last, last_tf, fine, last_file)?;
    let mark_loaded;
    let mark_native = match &src.detail_mark {
        Some(spec) => {
            mark_loaded = load_candles(spec, options)?;
            Some((&mark_loaded.candles, mark_loaded.timeframe, spec.as_str()))
        }
        None => default_mark.filter(|m| fine.ms() % m.1.ms() == 0),
    };
    let mark = match mark_native {
        Some((m, mtf, file)) => {
            let mut m = m.clone();
            m.retain_range(from, to);
            Some(to_timeframe(&m, mtf, fine, file)?)
        }
        None => None,
    };
    let per_bar = (tf.ms() / fine.ms()) as usize;
    let covered = covering(candles, tf, &last, fine, last_file)?;
    let (marks, mark_source) = match &mark {
        Some(m) => align_mark(&covered, fine, m)?,
        None => (last_as_mark(&covered), MarkSource::LastPrice),
    };
    let ohlc = |o: &[f64], h: &[f64], l: &[f64], c: &[f64]| -> Vec<Ohlc> {
        (0..o.len())
            .map(|i| Ohlc {
                open: o[i],
                high: h[i],
                low: l[i],
                close: c[i],
            })
            .collect()
    };
    let c = &covered;
    Ok(Detail {
        timeframe: fine,
        per_bar,
        last: ohlc(&c.open, &c.high, &c.low, &c.close),
        mark: ohlc(&marks.open, &marks.high, &marks.low, &marks.close),
        mark_source,
    })
}

/// The fine bars of every trading bar, in order, checked to cover each one back to back
/// (`per_bar` bars opening at its open, then every `fine` after).
fn covering(
    candles: &Candles,
    tf: Timeframe,
    fine_bars: &Candles,
    fine: Timeframe,
    file: &str,
) -> Result<Candles> {
    let per_bar = (tf.ms() / fine.ms()) as usize;
    let ranges = crate::market::covering_ranges(&candles.open_time, tf, &fine_bars.open_time);
    let mut out = Candles::with_capacity(candles.len() * per_bar);
    for (i, range) in ranges.into_iter().enumerate() {
        let open = candles.open_time[i];
        let complete = range.len() == per_bar
            && fine_bars.open_time[range.clone()]
                .iter()
                .enumerate()
                .all(|(j, &t)| t == open + j as i64 * fine.ms());
        if !complete {
            let message = format!(
                "the detail bars do not cover the {tf} bar opening {}: {} of {per_bar} {fine} \
                 bars found (set data.from / data.to inside the detail's span, or fill the gap)",
                time::format_utc(open),
                range.len()
            );
            return Err(DataError::Layout {
                file: file.into(),
                message,
            });
        }
        let f = fine_bars;
        for j in range {
            out.push(
                f.open_time[j],
                f.open[j],
                f.high[j],
                f.low[j],
                f.close[j],
                f.volume[j],
            );
        }
    }
    Ok(out)
}

fn to_timeframe(candles: &Candles, from: Timeframe, to: Timeframe, file: &str) -> Result<Candles> {
    if from == to {
        return Ok(candles.clone());
    }
    if to.ms() < from.ms() || to.ms() % from.ms() != 0 {
        let message =
            format!("cannot resample {from} candles to {to}: {to} is not a multiple of {from}");
        return Err(DataError::Layout {
            file: file.into(),
            message,
        });
    }
    align::resample(candles, to)
}

fn last_as_mark(candles: &Candles) -> MarkColumns {
    MarkColumns {
        open: candles.open.clone(),
        high: candles.high.clone(),
        low: candles.low.clone(),
        close: candles.close.clone(),
    }
}

/// Mark OHLC for each trade bar: the mark bar opening in the same bar span; where there is
/// none, the trade bar's prices stand in and are counted.
fn align_mark(
    candles: &Candles,
    tf: Timeframe,
    mark: &Candles,
) -> Result<(MarkColumns, MarkSource)> {
    let rows = align::asof_backward(&candles.open_time, &mark.open_time, tf.ms() - 1)?;
    let mut out = MarkColumns::default();
    let mut missing = 0;
    for (i, row) in rows.iter().enumerate() {
        let (o, h, l, c) = match *row {
            Some(j) => (mark.open[j], mark.high[j], mark.low[j], mark.close[j]),
            None => {
                missing += 1;
                (
                    candles.open[i],
                    candles.high[i],
                    candles.low[i],
                    candles.close[i],
                )
            }
        };
        out.open.push(o);
        out.high.push(h);
        out.low.push(l);
        out.close.push(c);
    }
    let source = if missing == 0 {
        MarkSource::MarkCandles
    } else {
        MarkSource::Partial { missing }
    };
    Ok((out, source))
}

/// Last-price and mark-price candles of one timeframe, each joined, checked against each
/// other as [`load_symbol`] checks them: the last price inside the mark's range, the mark not
/// shifted by a bar.
pub fn check_mark_pair(last: &LoadedCandles, mark: &LoadedCandles) -> Result<()> {
    let name = |l: &LoadedCandles| {
        l.files
            .first()
            .map(|f| f.display().to_string())
            .unwrap_or_default()
    };
    let (last_name, mark_name) = (name(last), name(mark));
    let (aligned, _) = align_mark(&last.candles, last.timeframe, &mark.candles)?;
    divergence::check_against_mark(&last.candles, &aligned, &last_name, &mark_name)
}

/// Places each settlement in the bar whose span holds it, with the mark price at that time
/// (the open of the native mark bar holding it). Settlements outside the candles are dropped
/// and counted.
fn align_funding(
    candles: &Candles,
    tf: Timeframe,
    funding: &FundingSeries,
    mark_times: &[i64],
    mark_opens: &[f64],
    mark_tf: Timeframe,
) -> Result<(AlignedFunding, usize)> {
    let bars = align::asof_backward(&funding.time, &candles.open_time, tf.ms() - 1)?;
    let marks = align::asof_backward(&funding.time, mark_times, mark_tf.ms() - 1)?;
    let mut out = AlignedFunding::default();
    let mut dropped = 0;
    for i in 0..funding.len() {
        let Some(bar) = bars[i] else {
            dropped += 1;
            continue;
        };
        let mark = marks[i].map_or(candles.open[bar], |j| mark_opens[j]);
        let (time, rate) = (funding.time[i], funding.rate[i]);
        out.push(bar as u32, Settlement { time, rate, mark });
    }
    Ok((out, dropped))
}
