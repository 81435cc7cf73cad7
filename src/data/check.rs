//! The checks every load runs, and `perpsim data check` prints.
//!
//! Hard errors (a file with any is refused): timestamps not increasing (duplicate or going
//! back), a bar off the timeframe grid, a price that is not finite and > 0, `low > min(open,
//! close)` or `high < max(open, close)`, a negative or non-finite volume, a funding time more
//! than [`FUNDING_SNAP_MS`] from a whole hour, a funding rate that is not finite or whose size
//! passes [`MAX_FUNDING_RATE`].
//! Gaps (missing bars, missing settlements) are refused under [`GapPolicy::Fail`], the
//! default, and counted under [`GapPolicy::Allow`]. Zero-volume bars are only counted: Binance
//! prints flat zero-volume bars at listings and maintenance windows, and mark-price klines
//! always have volume 0.

use std::collections::BTreeMap;

use super::error::{DataError, Problem};
use super::parse::{LineMap, RawFunding};
use crate::market::{Candles, FundingSeries, Timeframe};

/// How many problems an error lists before it says "… and N more".
pub const MAX_LISTED: usize = 10;

/// Funding settlements happen on whole hours; Binance's `calc_time` stamps them a few ms
/// late (up to 47 ms in the BTCUSDT archive). Times within this distance are snapped. ms
pub const FUNDING_SNAP_MS: i64 = 60_000;

/// The largest funding rate (a fraction per settlement, either sign) the checks accept.
/// Exchanges cap rates at a few percent per settlement (Binance: 0.3 % to 3 % by symbol and
/// interval); 10 % leaves room for any of them and refuses a rate written in percent, or a
/// broken value such as −10, which would take 1,000 % of a position's notional at once.
pub const MAX_FUNDING_RATE: f64 = 0.1;

/// What to do with missing bars or settlements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GapPolicy {
    /// refuse the data, listing the gaps (the default: a silent gap skews every result)
    #[default]
    Fail,
    /// accept it; the engine sees no bar for the missing times
    Allow,
}

/// A run of missing bars (or settlements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// line of the row after the gap
    pub line: usize,
    /// ms, open time of the first missing bar
    pub from: i64,
    /// ms, open time of the next present bar
    pub to: i64,
    pub missing: i64,
}

/// Problems found in one file, with the facts `data check` prints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// the first [`MAX_LISTED`] hard problems
    pub problems: Vec<Problem>,
    /// count of all hard problems
    pub problem_count: usize,
    pub duplicates: usize,
    pub gaps: Vec<Gap>,
}

impl Findings {
    fn add(&mut self, line: usize, column: &str, value: String, message: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(Problem {
                line,
                column: column.into(),
                value,
                message,
            });
        }
    }

    /// `Ok` unless there are hard problems, or gaps under [`GapPolicy::Fail`].
    pub fn into_result(
        self,
        file: &str,
        gaps: GapPolicy,
        time_column: &str,
    ) -> Result<(), DataError> {
        let mut all = self;
        if gaps == GapPolicy::Fail {
            for gap in all.gaps.clone() {
                let message = format!(
                    "gap: {} missing from {} (set the gap policy to allow to accept gaps)",
                    plural(gap.missing, "bar"),
                    super::time::format_utc(gap.from)
                );
                all.add(gap.line, time_column, gap.to.to_string(), message);
            }
        }
        if all.problem_count == 0 {
            return Ok(());
        }
        Err(DataError::Check {
            file: file.into(),
            problems: all.problems,
            total: all.problem_count,
        })
    }

    pub fn missing_bars(&self) -> i64 {
        self.gaps.iter().map(|g| g.missing).sum()
    }
}

pub fn plural(n: i64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The most common positive step between consecutive times (ties: the shorter), or `None`
/// for fewer than two distinct times.
pub fn detect_step(times: &[i64]) -> Option<i64> {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for w in times.windows(2) {
        let step = w[1] - w[0];
        if step > 0 {
            *counts.entry(step).or_default() += 1;
            if counts.len() > 1_000 {
                break; // a file this irregular is reported by the order/grid checks anyway
            }
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(step, _)| step)
}

/// True when a bar at `time` sits on the grid of `timeframe`. Timeframes that divide a day
/// are aligned to UTC midnight (as exchanges align them); longer ones to the first bar.
fn on_grid(time: i64, first: i64, timeframe: Timeframe) -> bool {
    let tf = timeframe.ms();
    if Timeframe::DAY.ms() % tf == 0 {
        time.rem_euclid(tf) == 0
    } else {
        (time - first).rem_euclid(tf) == 0
    }
}

/// Checks a time column: increasing, on the grid (when `grid`), and gaps of more than `step` ms.
fn check_times(
    times: &[i64],
    lines: &LineMap,
    step: Option<i64>,
    grid: bool,
    column: &str,
    f: &mut Findings,
) {
    let Some(&first) = times.first() else { return };
    let timeframe = step.and_then(Timeframe::from_ms);
    if grid
        && let Some(tf) = timeframe
        && !on_grid(first, first, tf)
    {
        let message = format!("{} is not on the {tf} grid", fmt(first));
        f.add(lines.line(0), column, first.to_string(), message);
    }
    for (i, w) in times.windows(2).enumerate() {
        let (prev, time) = (w[0], w[1]);
        let line = lines.line(i + 1);
        if time == prev {
            f.duplicates += 1;
            f.add(
                line,
                column,
                time.to_string(),
                format!("duplicate time (also on line {})", lines.line(i)),
            );
        } else if time < prev {
            let message = format!(
                "time goes back: {} after {} on line {}",
                fmt(time),
                fmt(prev),
                lines.line(i)
            );
            f.add(line, column, time.to_string(), message);
        } else if let Some(tf) = timeframe {
            if grid && !on_grid(time, first, tf) {
                f.add(
                    line,
                    column,
                    time.to_string(),
                    format!("{} is not on the {tf} grid", fmt(time)),
                );
            } else if time - prev > tf.ms() {
                let missing = (time - prev) / tf.ms() - 1;
                f.gaps.push(Gap {
                    line,
                    from: prev + tf.ms(),
                    to: time,
                    missing: missing.max(1),
                });
            }
        }
    }
}

fn fmt(ms: i64) -> String {
    super::time::format_utc(ms)
}

/// Checks candles. `names` are the layout's column names for time, open, high, low, close, volume.
pub fn check_candles(
    c: &Candles,
    lines: &LineMap,
    timeframe: Option<Timeframe>,
    names: [&str; 6],
) -> Findings {
    let mut f = Findings::default();
    let step = timeframe
        .map(Timeframe::ms)
        .or_else(|| detect_step(&c.open_time));
    check_times(&c.open_time, lines, step, true, names[0], &mut f);
    for i in 0..c.len() {
        let (open, high, low, close, volume) =
            (c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i]);
        let all_good = open > 0.0
            && high.is_finite()
            && low > 0.0
            && close > 0.0
            && low <= open.min(close)
            && high >= open.max(close)
            && volume >= 0.0
            && volume.is_finite();
        if !all_good {
            price_problems(i, c, lines, names, &mut f);
        }
    }
    f
}

/// The slow path of [`check_candles`]: says exactly what is wrong with row `i`.
fn price_problems(i: usize, c: &Candles, lines: &LineMap, names: [&str; 6], f: &mut Findings) {
    let line = lines.line(i);
    let fields = [
        (names[1], c.open[i]),
        (names[2], c.high[i]),
        (names[3], c.low[i]),
        (names[4], c.close[i]),
    ];
    let mut prices_ok = true;
    for (name, value) in fields {
        if !(value.is_finite() && value > 0.0) {
            f.add(
                line,
                name,
                value.to_string(),
                "price must be finite and > 0".into(),
            );
            prices_ok = false;
        }
    }
    if prices_ok {
        let (open, high, low, close) = (c.open[i], c.high[i], c.low[i], c.close[i]);
        if low > open.min(close) {
            f.add(
                line,
                names[3],
                low.to_string(),
                format!("low is above min(open, close) = {}", open.min(close)),
            );
        }
        if high < open.max(close) {
            f.add(
                line,
                names[2],
                high.to_string(),
                format!("high is below max(open, close) = {}", open.max(close)),
            );
        }
    }
    let volume = c.volume[i];
    if !(volume.is_finite() && volume >= 0.0) {
        f.add(
            line,
            names[5],
            volume.to_string(),
            "volume must be finite and >= 0".into(),
        );
    }
}

/// Funding facts beyond the common findings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FundingFindings {
    pub findings: Findings,
    /// ms, the most common step between settlements
    pub interval: Option<i64>,
    /// how many times were snapped to the hour, and by how much at most (ms)
    pub snapped: usize,
    pub max_snap_ms: i64,
}

/// A funding time snapped to its whole hour, and how far (ms) it was from it; more than
/// [`FUNDING_SNAP_MS`] is no settlement time.
pub fn snap_to_hour(time: i64) -> (i64, i64) {
    let hour = Timeframe::HOUR.ms();
    let snapped = (time + hour / 2).div_euclid(hour) * hour;
    (snapped, (time - snapped).abs())
}

/// A funding rate an exchange could have settled: finite, within ±[`MAX_FUNDING_RATE`].
pub fn funding_rate_possible(rate: f64) -> bool {
    rate.is_finite() && rate.abs() <= MAX_FUNDING_RATE
}

/// Snaps funding times to the whole hour and checks them. Returns the clean series.
pub fn check_funding(
    raw: &RawFunding,
    lines: &LineMap,
    names: [&str; 2],
) -> (FundingSeries, FundingFindings) {
    let mut out = FundingFindings::default();
    let mut series = FundingSeries {
        time: Vec::with_capacity(raw.time.len()),
        rate: raw.rate.clone(),
    };
    for (i, &time) in raw.time.iter().enumerate() {
        let (snapped, offset) = snap_to_hour(time);
        if offset > FUNDING_SNAP_MS {
            let message = format!("{} is not within 60 s of a whole hour", fmt(time));
            out.findings
                .add(lines.line(i), names[0], time.to_string(), message);
        } else if offset > 0 {
            out.snapped += 1;
            out.max_snap_ms = out.max_snap_ms.max(offset);
        }
        series.time.push(snapped);
    }
    for (i, &rate) in raw.rate.iter().enumerate() {
        if !rate.is_finite() {
            out.findings.add(
                lines.line(i),
                names[1],
                rate.to_string(),
                "funding rate must be finite".into(),
            );
        } else if !funding_rate_possible(rate) {
            out.findings.add(
                lines.line(i),
                names[1],
                rate.to_string(),
                format!(
                    "a funding rate is a fraction of the notional per settlement (0.0001 = \
                     0.01 %); {rate} is beyond ±{MAX_FUNDING_RATE}, more than any exchange's cap"
                ),
            );
        }
    }
    out.interval = detect_step(&series.time);
    // Binance archives state each settlement's interval (it changed from 8 h to 4 h for
    // some symbols): a gap is then a step longer than the stated interval.
    match &raw.interval_hours {
        Some(hours) => {
            check_times(
                &series.time,
                lines,
                None,
                false,
                names[0],
                &mut out.findings,
            );
            for (i, w) in series.time.windows(2).enumerate() {
                let interval = (hours[i + 1] * Timeframe::HOUR.ms() as f64) as i64;
                if interval > 0 && w[1] - w[0] > interval {
                    let missing = (w[1] - w[0]) / interval - 1;
                    out.findings.gaps.push(Gap {
                        line: lines.line(i + 1),
                        from: w[0] + interval,
                        to: w[1],
                        missing: missing.max(1),
                    });
                }
            }
        }
        None => check_times(
            &series.time,
            lines,
            out.interval,
            false,
            names[0],
            &mut out.findings,
        ),
    }
    (series, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 6] = ["open_time", "open", "high", "low", "close", "volume"];
    const H: i64 = 3_600_000;

    fn lines() -> LineMap {
        LineMap {
            first_row_line: 2,
            blank_before_row: vec![],
            reversed_rows: None,
        }
    }

    fn candles(rows: &[(i64, f64, f64, f64, f64, f64)]) -> Candles {
        let mut c = Candles::default();
        for &(t, o, h, l, cl, v) in rows {
            c.push(t, o, h, l, cl, v);
        }
        c
    }

    #[test]
    fn clean_candles_have_no_findings() {
        let c = candles(&[
            (0, 10.0, 11.0, 9.0, 10.5, 1.0),
            (H, 10.5, 10.5, 10.5, 10.5, 0.0),
        ]);
        let f = check_candles(&c, &lines(), None, NAMES);
        assert_eq!(f, Findings::default());
    }

    #[test]
    fn each_bad_value_is_named_with_its_line() {
        let c = candles(&[
            (0, 10.0, 11.0, 9.0, 10.5, 1.0),
            (H, 10.0, 9.5, 9.0, 10.0, 1.0), // high below open: line 3
            (2 * H, 10.0, 11.0, 10.5, 10.2, 1.0), // low above close: line 4
            (3 * H, 0.0, 11.0, 9.0, 10.0, 1.0), // open 0: line 5
            (4 * H, 10.0, 11.0, 9.0, 10.0, -2.0), // volume < 0: line 6
            (5 * H, f64::NAN, 11.0, 9.0, 10.0, 1.0),
        ]);
        let f = check_candles(&c, &lines(), None, NAMES);
        let listed: Vec<String> = f.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            listed,
            vec![
                "line 3, column 'high', value 9.5: high is below max(open, close) = 10",
                "line 4, column 'low', value 10.5: low is above min(open, close) = 10",
                "line 5, column 'open', value 0: price must be finite and > 0",
                "line 6, column 'volume', value -2: volume must be finite and >= 0",
                "line 7, column 'open', value NaN: price must be finite and > 0",
            ]
        );
    }

    #[test]
    fn order_duplicates_grid_and_gaps() {
        let c = candles(&[
            (0, 1.0, 1.0, 1.0, 1.0, 1.0),
            (H, 1.0, 1.0, 1.0, 1.0, 1.0),
            (H, 1.0, 1.0, 1.0, 1.0, 1.0),     // duplicate, line 4
            (4 * H, 1.0, 1.0, 1.0, 1.0, 1.0), // gap: 2h and 3h missing, line 5
            (4 * H + 60_000, 1.0, 1.0, 1.0, 1.0, 1.0), // off grid, line 6
            (3 * H, 1.0, 1.0, 1.0, 1.0, 1.0), // back in time, line 7
        ]);
        let f = check_candles(&c, &lines(), Some(Timeframe::HOUR), NAMES);
        assert_eq!(f.duplicates, 1);
        assert_eq!(
            f.gaps,
            vec![Gap {
                line: 5,
                from: 2 * H,
                to: 4 * H,
                missing: 2
            }]
        );
        let listed: Vec<String> = f.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            listed,
            vec![
                "line 4, column 'open_time', value 3600000: duplicate time (also on line 3)",
                "line 6, column 'open_time', value 14460000: 1970-01-01 04:01 is not on the 1h grid",
                "line 7, column 'open_time', value 10800000: time goes back: 1970-01-01 03:00 after 1970-01-01 04:01 on line 6",
            ]
        );
        let err = f
            .into_result("x.csv", GapPolicy::Fail, "open_time")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 5, column 'open_time', value 14400000: gap: 2 bars missing from 1970-01-01 02:00"), "{err}");
    }

    #[test]
    fn gaps_pass_under_allow() {
        let c = candles(&[
            (0, 1.0, 1.0, 1.0, 1.0, 1.0),
            (H, 1.0, 1.0, 1.0, 1.0, 1.0),
            (5 * H, 1.0, 1.0, 1.0, 1.0, 1.0),
        ]);
        let f = check_candles(&c, &lines(), None, NAMES);
        assert_eq!(f.missing_bars(), 3);
        assert!(
            f.clone()
                .into_result("x.csv", GapPolicy::Allow, "open_time")
                .is_ok()
        );
        assert!(
            f.into_result("x.csv", GapPolicy::Fail, "open_time")
                .is_err()
        );
    }

    #[test]
    fn funding_times_snap_to_the_hour() {
        let h8 = 8 * H;
        let raw = RawFunding {
            time: vec![h8 + 5, 2 * h8, 3 * h8 + 47, 4 * h8 + 120_000],
            rate: vec![0.0001, -0.0003, 0.0001, f64::INFINITY],
            interval_hours: None,
        };
        let (series, f) = check_funding(&raw, &lines(), ["calc_time", "last_funding_rate"]);
        assert_eq!(series.time[..3], [h8, 2 * h8, 3 * h8]);
        assert_eq!((f.snapped, f.max_snap_ms, f.interval), (2, 47, Some(h8)));
        let listed: Vec<String> = f.findings.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            listed,
            vec![
                "line 5, column 'calc_time', value 115320000: 1970-01-02 08:02 is not within 60 s of a whole hour",
                "line 5, column 'last_funding_rate', value inf: funding rate must be finite",
            ]
        );
    }

    #[test]
    fn funding_gap_uses_the_stated_interval() {
        let h4 = 4 * H;
        // a switch from 8 h to 4 h settlements is not a gap; a missing 4 h settlement is
        let raw = RawFunding {
            time: vec![0, 2 * h4, 3 * h4, 5 * h4],
            rate: vec![0.0; 4],
            interval_hours: Some(vec![8.0, 8.0, 4.0, 4.0]),
        };
        let (_, f) = check_funding(&raw, &lines(), ["calc_time", "last_funding_rate"]);
        assert_eq!(
            f.findings.gaps,
            vec![Gap {
                line: 5,
                from: 4 * h4,
                to: 5 * h4,
                missing: 1
            }]
        );
    }
}
