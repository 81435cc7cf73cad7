//! Where a time axis puts its ticks: on calendar boundaries (hours, UTC midnights, Mondays,
//! month and year starts) for dates, and on round numbers of days for day axes. Plotters'
//! own ticks on an `i64` axis of milliseconds fall on round numbers of milliseconds, which
//! are odd dates (2024-03-09) and odd days (116, 231).

use chrono::{Datelike, NaiveDate};

use super::chart::XFormat;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// light grid lines beyond this many are not drawn (too dense to read)
const LIGHT_MOST: usize = 200;

/// A spacing between ticks.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Hours(i64),
    Days(i64),
    /// every Monday
    Week,
    Months(i32),
    Years(i32),
}

/// Date spacings from fine to coarse, each with the finer one its light grid lines use.
const DATE_STEPS: [(Step, Option<Step>); 16] = [
    (Step::Hours(1), None),
    (Step::Hours(2), Some(Step::Hours(1))),
    (Step::Hours(3), Some(Step::Hours(1))),
    (Step::Hours(6), Some(Step::Hours(1))),
    (Step::Hours(12), Some(Step::Hours(3))),
    (Step::Days(1), Some(Step::Hours(6))),
    (Step::Days(2), Some(Step::Days(1))),
    (Step::Week, Some(Step::Days(1))),
    (Step::Months(1), Some(Step::Week)),
    (Step::Months(2), Some(Step::Months(1))),
    (Step::Months(3), Some(Step::Months(1))),
    (Step::Months(6), Some(Step::Months(1))),
    (Step::Years(1), Some(Step::Months(3))),
    (Step::Years(2), Some(Step::Months(6))),
    (Step::Years(5), Some(Step::Years(1))),
    (Step::Years(10), Some(Step::Years(2))),
];

/// The bold ticks (labelled) and the light grid lines for an axis over `x` (ms) in
/// `format`, with at most `most` bold ones and at least two; `None` leaves the axis to
/// plotters (a span too short or too long for these spacings).
pub fn time_ticks(x: &std::ops::Range<i64>, format: XFormat, most: usize) -> Option<Ticks> {
    match format {
        XFormat::Days => day_ticks(x, most),
        XFormat::Date => date_ticks(x, most),
    }
}

/// Bold and light tick positions (ms).
#[derive(Debug, PartialEq)]
pub struct Ticks {
    pub bold: Vec<i64>,
    pub light: Vec<i64>,
}

/// Whole days at 1, 2 or 5 × 10ᵏ apart, counted from 0 (the axis is days from the start).
fn day_ticks(x: &std::ops::Range<i64>, most: usize) -> Option<Ticks> {
    let mut scale = 1;
    while scale <= 1_000_000 {
        for (mantissa, parts) in [(1, 5), (2, 4), (5, 5)] {
            let step = mantissa * scale * DAY;
            let bold = multiples(x, step, most + 1);
            if bold.len() <= most {
                if bold.len() < 2 {
                    return None;
                }
                let light_step = step / parts;
                let light = if light_step % DAY == 0 {
                    readable(multiples(x, light_step, LIGHT_MOST + 1))
                } else {
                    Vec::new()
                };
                return Some(Ticks { bold, light });
            }
        }
        scale *= 10;
    }
    None
}

/// Light lines, or none when there are more than [`LIGHT_MOST`].
fn readable(light: Vec<i64>) -> Vec<i64> {
    if light.len() > LIGHT_MOST {
        Vec::new()
    } else {
        light
    }
}

/// The multiples of `step` (ms) within `x`, ends included, at most `cap` of them.
fn multiples(x: &std::ops::Range<i64>, step: i64, cap: usize) -> Vec<i64> {
    let first = x.start.div_euclid(step) + i64::from(x.start.rem_euclid(step) != 0);
    (first..)
        .map(|k| k * step)
        .take_while(|t| *t <= x.end)
        .take(cap)
        .collect()
}

fn date_ticks(x: &std::ops::Range<i64>, most: usize) -> Option<Ticks> {
    for (step, light) in DATE_STEPS {
        let bold = boundaries(x, step, most + 1);
        if bold.len() <= most {
            if bold.len() < 2 {
                return None;
            }
            let light = light.map_or_else(Vec::new, |l| readable(boundaries(x, l, LIGHT_MOST + 1)));
            return Some(Ticks { bold, light });
        }
    }
    None
}

/// The calendar boundaries of `step` within `x` (ms since the epoch, UTC), at most `cap`
/// of them.
fn boundaries(x: &std::ops::Range<i64>, step: Step, cap: usize) -> Vec<i64> {
    match step {
        Step::Hours(n) => multiples(x, n * HOUR, cap),
        // the epoch was a midnight, so multiples of n days are midnights
        Step::Days(n) => multiples(x, n * DAY, cap),
        Step::Week => {
            // 1970-01-05 was the first Monday
            let shifted = x.start - 4 * DAY..x.end - 4 * DAY;
            let mondays = multiples(&shifted, 7 * DAY, cap);
            mondays.into_iter().map(|t| t + 4 * DAY).collect()
        }
        Step::Months(_) | Step::Years(_) => {
            let keep = |d: &NaiveDate| match step {
                Step::Months(n) => d.month0() as i32 % n == 0,
                Step::Years(n) => d.month0() == 0 && d.year().rem_euclid(n) == 0,
                _ => false,
            };
            month_starts(x)
                .filter(|(d, _)| keep(d))
                .map(|(_, t)| t)
                .take(cap)
                .collect()
        }
    }
}

/// The first days of the months within `x` (UTC), with their times (ms).
fn month_starts(x: &std::ops::Range<i64>) -> impl Iterator<Item = (NaiveDate, i64)> + '_ {
    let first = month_start_at_or_before(x.start);
    std::iter::successors(first, |m| m.checked_add_months(chrono::Months::new(1)))
        .map_while(|m| {
            let t = m.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
            (t <= x.end).then_some((m, t))
        })
        .filter(|(_, t)| *t >= x.start)
}

/// The first day of the month holding `ms` (UTC).
fn month_start_at_or_before(ms: i64) -> Option<NaiveDate> {
    let d = chrono::DateTime::from_timestamp_millis(ms)?.date_naive();
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(date: &str) -> i64 {
        let d = NaiveDate::parse_from_str(&date[..10], "%Y-%m-%d").unwrap();
        let hour: u32 = date.get(11..13).map_or(0, |h| h.parse().unwrap());
        d.and_hms_opt(hour, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    fn dates(ticks: &[i64]) -> Vec<String> {
        ticks
            .iter()
            .map(|&t| {
                let d = chrono::DateTime::from_timestamp_millis(t).unwrap();
                d.format("%Y-%m-%d %H").to_string()
            })
            .collect()
    }

    #[test]
    fn two_years_of_days_tick_every_100() {
        let t = time_ticks(&(0..730 * DAY), XFormat::Days, 8).unwrap();
        let days: Vec<i64> = t.bold.iter().map(|t| t / DAY).collect();
        // 730 / 50 = 14.6 ticks is too many; 100 apart gives 0, 100, …, 700
        assert_eq!(days, [0, 100, 200, 300, 400, 500, 600, 700]);
        // light lines every 20 days: 0, 20, …, 720
        assert_eq!(t.light.len(), 37);
        assert_eq!(t.light[1], 20 * DAY);
    }

    #[test]
    fn a_short_day_axis_ticks_every_day() {
        let t = time_ticks(&(0..5 * DAY + HOUR), XFormat::Days, 8).unwrap();
        assert_eq!(t.bold, [0, DAY, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY]);
        // under a day apart is not a whole day: no light lines
        assert!(t.light.is_empty());
    }

    #[test]
    fn two_years_of_dates_tick_on_quarters() {
        // 2024-01-01 to 2025-12-31: 24 months; every 3 months is 8 ticks
        let t = time_ticks(&(ms("2024-01-01")..ms("2025-12-31")), XFormat::Date, 8).unwrap();
        assert_eq!(
            dates(&t.bold),
            [
                "2024-01-01 00",
                "2024-04-01 00",
                "2024-07-01 00",
                "2024-10-01 00",
                "2025-01-01 00",
                "2025-04-01 00",
                "2025-07-01 00",
                "2025-10-01 00"
            ]
        );
        // light lines at every month start
        assert_eq!(t.light.len(), 24);
    }

    #[test]
    fn a_month_ticks_on_mondays_and_a_day_on_hours() {
        // 2024-03-01 (a Friday) to 2024-03-31: the Mondays 4, 11, 18, 25
        let t = time_ticks(&(ms("2024-03-01")..ms("2024-03-31")), XFormat::Date, 8).unwrap();
        assert_eq!(
            dates(&t.bold),
            [
                "2024-03-04 00",
                "2024-03-11 00",
                "2024-03-18 00",
                "2024-03-25 00"
            ]
        );
        // a day from 05:00: every 3 hours from 06:00 (8 ticks), light every hour
        let t = time_ticks(
            &(ms("2024-03-01 05")..ms("2024-03-02 05")),
            XFormat::Date,
            8,
        )
        .unwrap();
        assert_eq!(dates(&t.bold)[0], "2024-03-01 06");
        assert_eq!(t.bold.len(), 8);
        assert_eq!(t.bold[1] - t.bold[0], 3 * HOUR);
        assert_eq!(t.light.len(), 25);
    }

    #[test]
    fn ten_years_tick_on_years() {
        let t = time_ticks(&(ms("2016-06-01")..ms("2026-06-01")), XFormat::Date, 8).unwrap();
        assert_eq!(
            dates(&t.bold),
            [
                "2018-01-01 00",
                "2020-01-01 00",
                "2022-01-01 00",
                "2024-01-01 00",
                "2026-01-01 00"
            ]
        );
    }

    #[test]
    fn spans_these_spacings_do_not_fit_are_left_to_plotters() {
        // under an hour: one hour boundary at most
        assert_eq!(time_ticks(&(0..HOUR / 2), XFormat::Date, 8), None);
        assert_eq!(time_ticks(&(0..HOUR / 2), XFormat::Days, 8), None);
        // 40 years tick every 10; two centuries would take more than 8
        let t = time_ticks(&(ms("1990-01-01")..ms("2030-01-01")), XFormat::Date, 8).unwrap();
        assert_eq!(t.bold.len(), 5);
        assert_eq!(
            time_ticks(&(ms("1900-01-01")..ms("2100-01-01")), XFormat::Date, 8),
            None
        );
    }
}
