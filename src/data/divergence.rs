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
}
