//! Funding payments. At each funding time T every open position pays
//! `side × qty × mark(T) × rate` (positive rate: longs pay, shorts receive). In isolated margin
//! the payment comes out of (or goes into) the position's margin and so moves its liquidation
//! price; in cross margin it moves the shared wallet. Mark(T) is the open of the mark-price
//! candle at T, or the last price where no mark history was given (see `data::load_symbol`).

use rust_decimal::Decimal;

use super::Side;

/// What the position pays at one settlement (negative: it receives). USDT
pub fn funding_payment(side: Side, qty: Decimal, mark: Decimal, rate: Decimal) -> Decimal {
    side.sign() * qty * mark * rate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::margin::{self, PositionInput};
    use crate::instrument::Tier;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn longs_pay_a_positive_rate_and_shorts_receive_it() {
        // 2 BTC at mark 60,000, rate 0.01 %: 2 × 60,000 × 0.0001 = 12 USDT
        assert_eq!(
            funding_payment(Side::Long, d("2"), d("60000"), d("0.0001")),
            d("12")
        );
        assert_eq!(
            funding_payment(Side::Short, d("2"), d("60000"), d("0.0001")),
            d("-12")
        );
        // a crash: rate −0.3 %, 1 ETH long at mark 3,000 receives 1 × 3,000 × 0.003 = 9 USDT
        assert_eq!(
            funding_payment(Side::Long, d("1"), d("3000"), d("-0.003")),
            d("-9")
        );
    }

    #[test]
    fn paying_funding_from_isolated_margin_raises_a_longs_liquidation_price() {
        // 10x long 1 BTC at 65,000, margin 6,500, r = 0.4 %: LP = (6,500 − 65,000)/(0.004 − 1) = 58,734.94.
        // Pays 12 USDT of funding: margin 6,488, LP = (6,488 − 65,000)/(−0.996) = 58,746.99,
        // higher by 12 / 0.996 = 12.05.
        let tiers = [Tier {
            floor: d("0"),
            cap: d("1e12"),
            max_leverage: 125,
            maint_margin_rate: d("0.004"),
            maint_amount: d("0"),
        }];
        let before = PositionInput {
            side: Side::Long,
            qty: d("1"),
            entry: d("65000"),
            wallet: d("6500"),
            other_maint: d("0"),
            other_upnl: d("0"),
        };
        let paid = funding_payment(Side::Long, d("1"), d("60000"), d("0.0002"));
        let after = PositionInput {
            wallet: before.wallet - paid,
            ..before
        };
        let (lp0, lp1) = (
            margin::liquidation_price(&before, &tiers).price.unwrap(),
            margin::liquidation_price(&after, &tiers).price.unwrap(),
        );
        assert_eq!(
            (lp0.round_dp(2), lp1.round_dp(2), (lp1 - lp0).round_dp(2)),
            (d("58734.94"), d("58746.99"), d("12.05"))
        );
    }
}
