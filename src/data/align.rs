//! Resampling and as-of alignment, with polars' eager API.
//!
//! Times are `Int64` epoch-ms columns: no datetime dtype is needed, which keeps polars'
//! features (and its build time) minimal. Resampling groups bars by the start of their
//! coarse bucket (`t − t mod tf`, so daily and intraday buckets start at UTC midnight like
//! Binance's; weeks start on Monday) and takes the first open, highest high, lowest low,
//! last close and summed volume. A bucket built from fewer fine bars than it spans (at a gap
//! or the ends of the history) is kept: the gap check runs on the fine bars before this.

use polars::prelude::{
    AnyValue, AsOfOptions, AsofStrategy, Column, DataFrame, DataFrameJoinOps, DataType, JoinArgs,
    JoinType, Scalar,
};

use super::error::{DataError, Result};
use crate::market::{Candles, Timeframe};

fn polars_err(context: &str) -> impl Fn(polars::prelude::PolarsError) -> DataError + '_ {
    move |e| DataError::Align {
        context: context.into(),
        message: e.to_string(),
    }
}

/// The start of the `tf` bucket holding `time`. ms
pub fn bucket_start(time: i64, tf: Timeframe) -> i64 {
    // 1970-01-01 was a Thursday; Binance's weekly bars open on Monday, 4 days later.
    let offset = if tf.ms() == 7 * Timeframe::DAY.ms() {
        4 * Timeframe::DAY.ms()
    } else {
        0
    };
    time - (time - offset).rem_euclid(tf.ms())
}

/// Resamples candles to the coarser timeframe `to` (a multiple of theirs).
pub fn resample(candles: &Candles, to: Timeframe) -> Result<Candles> {
    let err = polars_err("resampling");
    let n = candles.len();
    let bucket: Vec<i64> = candles
        .open_time
        .iter()
        .map(|&t| bucket_start(t, to))
        .collect();
    let df = DataFrame::new(
        n,
        vec![
            Column::new("bucket".into(), bucket),
            Column::new("open".into(), candles.open.clone()),
            Column::new("high".into(), candles.high.clone()),
            Column::new("low".into(), candles.low.clone()),
            Column::new("close".into(), candles.close.clone()),
            Column::new("volume".into(), candles.volume.clone()),
        ],
    )
    .map_err(&err)?;
    // The eager aggregations are deprecated in favour of the lazy engine, which would bring
    // polars-stream and an HTTP/cloud stack into the build (see the README's build figures).
    #[allow(deprecated)]
    let frames = [
        df.group_by_stable(["bucket"])
            .and_then(|g| g.select(["open"]).first()),
        df.group_by_stable(["bucket"])
            .and_then(|g| g.select(["high"]).max()),
        df.group_by_stable(["bucket"])
            .and_then(|g| g.select(["low"]).min()),
        df.group_by_stable(["bucket"])
            .and_then(|g| g.select(["close"]).last()),
        df.group_by_stable(["bucket"])
            .and_then(|g| g.select(["volume"]).sum()),
    ];
    let mut columns = Vec::with_capacity(5);
    for (frame, name) in frames.into_iter().zip([
        "open_first",
        "high_max",
        "low_min",
        "close_last",
        "volume_sum",
    ]) {
        let frame = frame.map_err(&err)?;
        let values: Vec<f64> = frame
            .column(name)
            .and_then(|c| c.f64().cloned())
            .map_err(&err)?
            .into_no_null_iter()
            .collect();
        columns.push((frame, values));
    }
    let times: Vec<i64> = columns[0]
        .0
        .column("bucket")
        .and_then(|c| c.i64().cloned())
        .map_err(&err)?
        .into_no_null_iter()
        .collect();
    let mut values = columns.into_iter().map(|(_, v)| v);
    let mut next = || values.next().expect("five aggregations");
    Ok(Candles {
        open_time: times,
        open: next(),
        high: next(),
        low: next(),
        close: next(),
        volume: next(),
    })
}

/// For each time in `left`, the index of the last `right` time ≤ it and at most
/// `tolerance` (ms) before it. Both must be sorted.
pub fn asof_backward(left: &[i64], right: &[i64], tolerance: i64) -> Result<Vec<Option<usize>>> {
    let err = polars_err("as-of alignment");
    let left_df =
        DataFrame::new(left.len(), vec![Column::new("t".into(), left.to_vec())]).map_err(&err)?;
    let right_df = DataFrame::new(
        right.len(),
        vec![
            Column::new("t".into(), right.to_vec()),
            Column::new("row".into(), (0..right.len() as i64).collect::<Vec<i64>>()),
        ],
    )
    .map_err(&err)?;
    let options = AsOfOptions {
        strategy: AsofStrategy::Backward,
        tolerance: Some(Scalar::new(DataType::Int64, AnyValue::Int64(tolerance))),
        tolerance_str: None,
        left_by: None,
        right_by: None,
        allow_eq: true,
        check_sortedness: true,
    };
    let joined = left_df
        .join(
            &right_df,
            ["t"],
            ["t"],
            JoinArgs::new(JoinType::AsOf(Box::new(options))),
            None,
        )
        .map_err(&err)?;
    let rows = joined
        .column("row")
        .and_then(|c| c.i64().cloned())
        .map_err(&err)?;
    Ok(rows.iter().map(|r| r.map(|r| r as usize)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    #[test]
    fn resample_takes_first_max_min_last_sum() {
        let mut fine = Candles::default();
        // 00:58, 00:59 in the 00:00 hour; 01:00..01:02 in the 01:00 hour
        fine.push(58 * M, 10.0, 12.0, 9.0, 11.0, 1.0);
        fine.push(59 * M, 11.0, 11.5, 10.5, 11.2, 2.0);
        fine.push(60 * M, 11.2, 13.0, 11.0, 12.5, 3.0);
        fine.push(61 * M, 12.5, 12.6, 8.0, 9.0, 4.0);
        fine.push(62 * M, 9.0, 9.5, 8.5, 9.4, 5.0);
        let hourly = resample(&fine, Timeframe::HOUR).unwrap();
        let mut want = Candles::default();
        want.push(0, 10.0, 12.0, 9.0, 11.2, 3.0);
        want.push(60 * M, 11.2, 13.0, 8.0, 9.4, 12.0);
        assert_eq!(hourly, want);
    }

    #[test]
    fn weekly_buckets_open_on_monday() {
        // 2024-01-03 (a Wednesday) 12:00 UTC falls in the week opening Monday 2024-01-01 00:00.
        let week = Timeframe::parse("1w").unwrap();
        assert_eq!(bucket_start(1_704_283_200_000, week), 1_704_067_200_000);
    }

    #[test]
    fn asof_finds_the_bar_holding_each_time() {
        let bars = [0, 60, 120, 240]; // 180 missing
        let times = [-1, 0, 59, 60, 150, 200, 240, 400];
        let got = asof_backward(&times, &bars, 59).unwrap();
        assert_eq!(
            got,
            vec![
                None,
                Some(0),
                Some(0),
                Some(1),
                Some(2),
                None,
                Some(3),
                None
            ]
        );
    }
}
