//! Last price against mark price, bar by bar, once both are aligned: a last-price open or
//! close far outside the mark's range for the same bar is a broken candle (a spike in the
//! trade data) or a mark file of another symbol, and either would have the exchange fill
//! orders at prices its own margin engine never saw. Such data is refused, naming the bar.

use super::error::{DataError, Result};
use super::time::format_utc;
use crate::market::{Candles, MarkColumns};

/// How far (a fraction) a last-price open or close may lie outside the mark's low–high range
/// of the same bar. Mark and last price part in crashes by a few percent (Binance BTCUSDT,
/// 2021-05-19: under 10 % at the wicks, which are not checked); 25 % beyond the mark's range
/// is no market, it is bad data.
pub const MAX_LAST_MARK_GAP: f64 = 0.25;

/// Refuses `candles` whose open or close lies more than [`MAX_LAST_MARK_GAP`] outside
/// `mark`'s range on some bar. `files` names the two sources in the message.
pub fn check_last_against_mark(
    candles: &Candles,
    mark: &MarkColumns,
    candles_file: &str,
    mark_file: &str,
) -> Result<()> {
    let limit = 1.0 + MAX_LAST_MARK_GAP;
    let off = |price: f64, low: f64, high: f64| price > high * limit || price * limit < low;
    let mut first = None;
    let mut count = 0usize;
    for i in 0..candles.len().min(mark.open.len()) {
        let (low, high) = (mark.low[i], mark.high[i]);
        for (column, price) in [("open", candles.open[i]), ("close", candles.close[i])] {
            if off(price, low, high) {
                count += 1;
                first.get_or_insert((i, column, price));
            }
        }
    }
    let Some((i, column, price)) = first else {
        return Ok(());
    };
    let ratio = if price > mark.high[i] {
        price / mark.high[i]
    } else {
        mark.low[i] / price
    };
    let more = if count > 1 {
        format!(" ({count} such prices in all)")
    } else {
        String::new()
    };
    Err(DataError::Align {
        context: candles_file.to_string(),
        message: format!(
            "the bar of {}: column '{column}', value {price}: {ratio:.2}× outside the mark \
             price's range {}–{} in {mark_file}, more than {:.0} % beyond it{more}; a spike in \
             the candles, or the mark file of another symbol?",
            format_utc(candles.open_time[i]),
            mark.low[i],
            mark.high[i],
            MAX_LAST_MARK_GAP * 100.0
        ),
    })
}

/// Every check of the last price against its aligned mark: the one place the loader and
/// `data check` call.
pub fn check_against_mark(
    candles: &Candles,
    mark: &MarkColumns,
    candles_file: &str,
    mark_file: &str,
) -> Result<()> {
    check_last_against_mark(candles, mark, candles_file, mark_file)?;
    check_mark_alignment(candles, mark, candles_file, mark_file)
}

/// Bars needed before a shift of the mark can be told from noise.
const MIN_BARS_FOR_SHIFT: usize = 48;

/// Refuses a mark file shifted by one bar against the candles: the mark's closes match the
/// neighbouring bar's last-price closes far better (under half the gap) than their own bar's.
/// Mark and last price track within basis points while a bar moves tens of them, so a mark
/// that is a bar late (or early) would put every margin check a bar out of time.
pub fn check_mark_alignment(
    candles: &Candles,
    mark: &MarkColumns,
    candles_file: &str,
    mark_file: &str,
) -> Result<()> {
    let n = candles.len().min(mark.close.len());
    if n < MIN_BARS_FOR_SHIFT {
        return Ok(());
    }
    // mean relative gap between mark close i and last close i + shift
    let gap = |shift: isize| {
        let pairs =
            (1..n - 1).map(|i| (mark.close[i], candles.close[i.wrapping_add_signed(shift)]));
        pairs.map(|(m, c)| ((m - c) / c).abs()).sum::<f64>() / (n - 2) as f64
    };
    let (same, late, early) = (gap(0), gap(-1), gap(1));
    // a mark equal to the last price (to a basis point) cannot be told to be shifted
    if same < 1e-4 {
        return Ok(());
    }
    let (shift, best) = if late <= early {
        ("late: its closes match the previous bar's", late)
    } else {
        ("early: its closes match the next bar's", early)
    };
    if best < 0.5 * same {
        return Err(DataError::Align {
            context: candles_file.to_string(),
            message: format!(
                "the mark price in {mark_file} looks one bar {shift} (mean gap {:.3} % against \
                 {:.3} % at the same bar); is its open_time shifted?",
                best * 100.0,
                same * 100.0
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(prices: &[f64]) -> Candles {
        let mut c = Candles::with_capacity(prices.len());
        for (i, &p) in prices.iter().enumerate() {
            c.open_time.push(1_704_067_200_000 + i as i64 * 3_600_000);
            c.open.push(p);
            c.high.push(p * 1.01);
            c.low.push(p * 0.99);
            c.close.push(p);
            c.volume.push(1.0);
        }
        c
    }

    fn mark(prices: &[f64]) -> MarkColumns {
        let c = bars(prices);
        MarkColumns {
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
        }
    }

    #[test]
    fn a_spike_or_another_symbols_mark_is_refused_and_a_crash_is_not() {
        // a crash: last 20 % under the mark's low is a market (the tolerance is 25 %)
        let m = mark(&[100.0, 100.0, 100.0]);
        assert!(check_last_against_mark(&bars(&[100.0, 80.0, 100.0]), &m, "c", "m").is_ok());
        // one candle at 3× its neighbours: 300 against a mark high of 101 is 2.97×
        let e = check_last_against_mark(&bars(&[100.0, 300.0, 100.0]), &m, "c.csv", "m.csv")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "c.csv: the bar of 2024-01-01 01:00: column 'open', value 300: 2.97× outside the \
             mark price's range 99–101 in m.csv, more than 25 % beyond it (2 such prices in \
             all); a spike in the candles, or the mark file of another symbol?"
        );
        // ETH's mark under BTC's candles: 18× apart, on every bar
        let eth = mark(&[2_300.0; 3]);
        let e = check_last_against_mark(&bars(&[42_000.0; 3]), &eth, "btc", "eth")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("(6 such prices in all)") && e.contains("another symbol"),
            "{e}"
        );
    }

    /// A mark one bar late (or early) against its candles is refused; the same mark on time,
    /// or a mark equal to the last price, passes.
    #[test]
    fn a_mark_shifted_by_one_bar_is_refused() {
        // a walk of ±0.5 % a bar, the mark 2 bp off the last price: mean gap 0.02 % at the
        // same bar, about 0.5 % a bar away
        let prices: Vec<f64> = (0..100)
            .scan(40_000.0, |p, i| {
                *p *= if (i * 7) % 3 == 0 { 1.005 } else { 0.996 };
                Some(*p)
            })
            .collect();
        let candles = bars(&prices);
        let near: Vec<f64> = prices.iter().map(|p| p * 1.0002).collect();
        assert!(check_mark_alignment(&candles, &mark(&near), "c", "m").is_ok());
        assert!(check_mark_alignment(&candles, &mark(&prices), "c", "m").is_ok());
        let mut late = near.clone();
        late.rotate_right(1);
        let e = check_mark_alignment(&candles, &mark(&late), "c", "m").unwrap_err();
        assert!(e.to_string().contains("looks one bar late"), "{e}");
        let mut early = near.clone();
        early.rotate_left(1);
        let e = check_mark_alignment(&candles, &mark(&early), "c", "m").unwrap_err();
        assert!(e.to_string().contains("looks one bar early"), "{e}");
        // too few bars to tell
        let short = bars(&prices[..40]);
        assert!(check_mark_alignment(&short, &mark(&late[..40]), "c", "m").is_ok());
    }
}
