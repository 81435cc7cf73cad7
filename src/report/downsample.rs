//! Long series made short enough to draw: a chart `columns` pixels wide cannot show more
//! than a few points per column, and a PNG of 100,000 segments is slow to draw and no
//! sharper. Two reductions, both keeping gaps (NaN) as gaps:
//! - [`min_max`]: per column, the first, lowest, highest and last points in time order, so
//!   every spike survives (an equity curve's worst moment must stay visible);
//! - [`last`]: per column, the last point (for dashed comparison lines, where a zig-zag
//!   would smear the dashes).

/// Points `(time ms, value)`, reduced to at most about 4 per column. `times` ascending.
pub fn min_max(times: &[i64], values: &[f64], columns: usize) -> Vec<(i64, f64)> {
    reduce(times, values, columns, Keep::MinMax)
}

/// Points `(time ms, value)`, one per column (the last of it). `times` ascending.
pub fn last(times: &[i64], values: &[f64], columns: usize) -> Vec<(i64, f64)> {
    reduce(times, values, columns, Keep::Last)
}

#[derive(Clone, Copy, PartialEq)]
enum Keep {
    MinMax,
    Last,
}

fn reduce(times: &[i64], values: &[f64], columns: usize, keep: Keep) -> Vec<(i64, f64)> {
    let n = times.len().min(values.len());
    let limit = match keep {
        Keep::MinMax => 4 * columns,
        Keep::Last => columns,
    };
    if n <= limit.max(2) {
        return (0..n).map(|i| (times[i], values[i])).collect();
    }
    let (t0, t1) = (times[0], times[n - 1]);
    let span = (t1 - t0).max(1) as f64;
    let column_of = |t: i64| (((t - t0) as f64 / span) * columns as f64) as usize;
    let mut out = Vec::with_capacity(limit + 8);
    let mut i = 0;
    while i < n {
        // a gap ends the run: emit it as a gap
        if values[i].is_nan() {
            if out.last().is_none_or(|p: &(i64, f64)| !p.1.is_nan()) {
                out.push((times[i], f64::NAN));
            }
            i += 1;
            continue;
        }
        let column = column_of(times[i]);
        let start = i;
        let (mut lo, mut hi) = (i, i);
        while i < n && !values[i].is_nan() && column_of(times[i]) == column {
            if values[i] < values[lo] {
                lo = i;
            }
            if values[i] > values[hi] {
                hi = i;
            }
            i += 1;
        }
        let end = i - 1;
        match keep {
            Keep::Last => out.push((times[end], values[end])),
            Keep::MinMax => {
                let mut picks = [start, lo, hi, end];
                picks.sort_unstable();
                let mut prev = usize::MAX;
                for p in picks {
                    if p != prev {
                        out.push((times[p], values[p]));
                        prev = p;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_series_pass_through() {
        let t = [0, 1, 2];
        let v = [1.0, 2.0, 3.0];
        assert_eq!(min_max(&t, &v, 10), vec![(0, 1.0), (1, 2.0), (2, 3.0)]);
    }

    #[test]
    fn min_max_keeps_every_spike_and_stays_small() {
        // 100,000 points of a flat line with one spike up and one down
        let t: Vec<i64> = (0..100_000).collect();
        let mut v = vec![1.0; 100_000];
        v[31_337] = 9.0;
        v[77_777] = -5.0;
        let out = min_max(&t, &v, 500);
        assert!(out.len() <= 4 * 500, "{} points", out.len());
        assert!(out.contains(&(31_337, 9.0)));
        assert!(out.contains(&(77_777, -5.0)));
        // first and last points kept, time order kept
        assert_eq!(out.first(), Some(&(0, 1.0)));
        assert_eq!(out.last(), Some(&(99_999, 1.0)));
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn gaps_stay_gaps() {
        let t: Vec<i64> = (0..10_000).collect();
        let v: Vec<f64> = (0..10_000)
            .map(|i| {
                if (4_000..6_000).contains(&i) {
                    f64::NAN
                } else {
                    2.0
                }
            })
            .collect();
        let out = min_max(&t, &v, 100);
        let gaps = out.iter().filter(|p| p.1.is_nan()).count();
        assert_eq!(gaps, 1, "one gap marker for one gap");
        let out = last(&t, &v, 100);
        assert!(out.len() <= 101);
        assert_eq!(out.iter().filter(|p| p.1.is_nan()).count(), 1);
    }
}
