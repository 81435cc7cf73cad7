//! Files of one series joined in time order: the seams between them checked (no overlap, no
//! gap unless allowed), and a series with no rows at all refused. The loader joins what a
//! spec names; `data check` joins the series its arguments hold, so it refuses what a run
//! would.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::check::{self, GapPolicy};
use super::{Content, DataError, FileReport, LoadedCandles, Result, source, time};
use crate::market::{Candles, FundingSeries, Timeframe};

/// Joins the candle files `spec` stood for, each already read and checked.
pub fn candles(
    spec: &str,
    reports: Vec<(PathBuf, FileReport)>,
    gaps: GapPolicy,
) -> Result<LoadedCandles> {
    let mut parts = Vec::new();
    let mut files = Vec::new();
    for (path, report) in reports {
        let Content::Candles {
            candles, timeframe, ..
        } = report.content
        else {
            let message = format!("this is a {}, not candles", report.layout);
            return Err(DataError::Layout {
                file: report.file,
                message,
            });
        };
        parts.push((report.file, candles, timeframe));
        files.push(path);
    }
    if parts.iter().all(|p| p.1.is_empty()) {
        return Err(DataError::Layout {
            file: spec.into(),
            message: "holds no candles: a header and no rows".into(),
        });
    }
    let timeframe = parts
        .iter()
        .find_map(|p| p.2)
        .ok_or_else(|| DataError::Layout {
            file: spec.into(),
            message: "cannot tell the timeframe: one bar and no timeframe in the file name".into(),
        })?;
    if let Some(other) = parts.iter().find(|p| p.2.is_some_and(|tf| tf != timeframe)) {
        let message = format!(
            "{} candles, but {} holds {} candles",
            other.2.unwrap(),
            parts[0].0,
            timeframe
        );
        return Err(DataError::Layout {
            file: other.0.clone(),
            message,
        });
    }
    parts.retain(|p| !p.1.is_empty());
    parts.sort_by_key(|p| p.1.open_time[0]);
    let mut candles = Candles::with_capacity(parts.iter().map(|p| p.1.len()).sum());
    for (i, (file, part, _)) in parts.iter().enumerate() {
        if i > 0 {
            let (prev_file, prev, _) = &parts[i - 1];
            let prev_last = *prev.open_time.last().expect("empty parts removed");
            seam(
                prev_file,
                prev_last,
                file,
                part.open_time[0],
                timeframe.ms(),
                gaps,
            )?;
        }
        candles.extend(part);
    }
    Ok(LoadedCandles {
        candles,
        timeframe,
        files,
    })
}

/// Joins the funding files `spec` stood for, each already read and checked.
pub fn funding(
    spec: &str,
    reports: Vec<(PathBuf, FileReport)>,
    gaps: GapPolicy,
) -> Result<FundingSeries> {
    let mut parts = Vec::new();
    for (_, report) in reports {
        let Content::Funding { series, findings } = report.content else {
            let message = format!("this is a {}, not funding rates", report.layout);
            return Err(DataError::Layout {
                file: report.file,
                message,
            });
        };
        if !series.is_empty() {
            parts.push((
                report.file,
                series,
                findings.interval.unwrap_or(8 * Timeframe::HOUR.ms()),
            ));
        }
    }
    // a run that silently charged no funding would be wrong, not short
    if parts.is_empty() {
        return Err(DataError::Layout {
            file: spec.into(),
            message: "holds no funding settlements: a header and no rows".into(),
        });
    }
    parts.sort_by_key(|p| p.1.time[0]);
    let mut all = FundingSeries::default();
    for (i, (file, series, interval)) in parts.iter().enumerate() {
        if i > 0 {
            let prev = &parts[i - 1];
            seam(
                &prev.0,
                *prev.1.time.last().unwrap(),
                file,
                series.time[0],
                *interval,
                gaps,
            )?;
        }
        all.time.extend_from_slice(&series.time);
        all.rate.extend_from_slice(&series.rate);
    }
    Ok(all)
}

/// Checks where one file ends and the next begins: no overlap, and no gap unless allowed.
fn seam(
    prev_file: &str,
    prev_last: i64,
    file: &str,
    first: i64,
    step: i64,
    gaps: GapPolicy,
) -> Result<()> {
    let at = time::format_utc;
    if first <= prev_last {
        let message = format!(
            "starts at {}, before {} ends ({}): the files overlap",
            at(first),
            prev_file,
            at(prev_last)
        );
        return Err(DataError::Layout {
            file: file.into(),
            message,
        });
    }
    if first - prev_last > step && gaps == GapPolicy::Fail {
        let missing = (first - prev_last) / step - 1;
        let message = format!(
            "gap between files: {} ends at {}, this file starts at {} ({} missing; set the gap policy to allow to accept gaps)",
            prev_file,
            at(prev_last),
            at(first),
            check::plural(missing.max(1), "step")
        );
        return Err(DataError::Layout {
            file: file.into(),
            message,
        });
    }
    Ok(())
}

/// One series `data check` found among its arguments' files, joined as a run would join it.
#[derive(Debug)]
pub struct Series {
    /// e.g. "BTCUSDT 1h last-price candles"
    pub name: String,
    pub symbol: Option<String>,
    /// mark-price candles (by name or zero volume), for pairing with the last price
    pub mark: bool,
    pub files: usize,
    /// the series, or why a run would refuse it
    pub joined: Result<Joined>,
}

/// A series' rows, joined.
#[derive(Debug)]
pub enum Joined {
    Candles(LoadedCandles),
    Funding(FundingSeries),
}

impl Joined {
    pub fn rows(&self) -> usize {
        match self {
            Joined::Candles(c) => c.candles.len(),
            Joined::Funding(f) => f.time.len(),
        }
    }
}

/// Groups the files an argument stood for into series (symbol, kind, timeframe, as their
/// names and rows say) and joins each. Bracket tables are not series and are left out.
pub fn series_of(spec: &str, reports: Vec<(PathBuf, FileReport)>, gaps: GapPolicy) -> Vec<Series> {
    let mut groups: BTreeMap<String, (bool, Vec<(PathBuf, FileReport)>)> = BTreeMap::new();
    for (path, report) in reports {
        let symbol = report
            .symbol
            .clone()
            .unwrap_or_else(|| "unknown symbol".into());
        let (kind, mark) = match &report.content {
            Content::Candles {
                timeframe,
                mark_like,
                ..
            } => {
                let timeframe = timeframe
                    .or_else(|| source::timeframe_from_name(&path))
                    .map_or("unknown timeframe".into(), |t| t.to_string());
                let price = if *mark_like {
                    "mark-price"
                } else {
                    "last-price"
                };
                (format!("{timeframe} {price} candles"), *mark_like)
            }
            Content::Funding { .. } => ("funding rates".into(), false),
            Content::Brackets(_) => continue,
        };
        let group = groups.entry(format!("{symbol} {kind}")).or_default();
        group.0 = mark;
        group.1.push((path, report));
    }
    groups
        .into_iter()
        .map(|(name, (mark, reports))| {
            let files = reports.len();
            let symbol = reports[0].1.symbol.clone();
            let joined = if matches!(reports[0].1.content, Content::Funding { .. }) {
                funding(spec, reports, gaps).map(Joined::Funding)
            } else {
                candles(spec, reports, gaps).map(Joined::Candles)
            };
            Series {
                name,
                symbol,
                mark,
                files,
                joined,
            }
        })
        .collect()
}

/// A symbol's last-price and mark-price candles of one timeframe, checked against each other
/// as a run checks them: `(what was compared, the verdict)` for each such pair.
pub fn pairs_checked(series: &[Series]) -> Vec<(String, Result<()>)> {
    fn candles(s: &Series) -> Option<&LoadedCandles> {
        match &s.joined {
            Ok(Joined::Candles(c)) => Some(c),
            _ => None,
        }
    }
    let mut out = Vec::new();
    for last in series.iter().filter(|s| !s.mark && s.symbol.is_some()) {
        let Some(c) = candles(last) else { continue };
        for mark in series.iter().filter(|s| s.mark && s.symbol == last.symbol) {
            let Some(m) = candles(mark) else { continue };
            if m.timeframe != c.timeframe {
                continue;
            }
            let what = format!("{} against {}", last.name, mark.name);
            out.push((what, super::check_mark_pair(c, m)));
        }
    }
    out
}
