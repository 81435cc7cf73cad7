//! Settling a liquidation, as a pure function the engine calls.
//!
//! Contract: the engine liquidates a position when the mark-price path within a bar reaches
//! its liquidation price (walked in path order, so a stop beyond LP never "saves" it); funding
//! due at a bar's open is settled before that bar's path is walked. The position closes at
//! the execution price: the liquidation price, or a worse price where the bar gapped through
//! it (liquidation fills are never better). Then:
//! - if the position's margin still covers the loss, what remains goes to the insurance fund
//!   (the clearance), so the trader loses the whole margin;
//! - if the loss exceeds the margin (a gap through the bankruptcy price), the margin is gone,
//!   the wallet floors at zero and the insurance fund covers the shortfall.
//!
//! In either case the trader's wallet changes by exactly −margin: the three ledger entries
//! (realised PnL, clearance, insurance cover) sum to it.

use rust_decimal::Decimal;

use super::Side;

/// The ledger effect of one liquidation. USDT
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// side × qty × (execution − entry)
    pub realized_pnl: Decimal,
    /// ≥ 0: margin left after the loss, paid to the insurance fund
    pub clearance: Decimal,
    /// ≥ 0: the loss beyond the margin, absorbed by the insurance fund
    pub insurance_cover: Decimal,
}

impl Settlement {
    /// The change of the trader's wallet: realised PnL − clearance + cover (= −margin).
    pub fn wallet_change(&self) -> Decimal {
        self.realized_pnl - self.clearance + self.insurance_cover
    }
}

/// Settles a liquidation of `qty` entered at `entry`, executed at `execution`, backed by
/// `margin` (isolated: the position's margin; cross: the margin balance behind it).
pub fn settle(
    side: Side,
    qty: Decimal,
    entry: Decimal,
    execution: Decimal,
    margin: Decimal,
) -> Settlement {
    split(side.sign() * qty * (execution - entry), margin)
}

/// Splits a liquidation's realised PnL against the margin behind it: what remains goes to the
/// insurance fund (clearance), a shortfall is covered by it. Cross margin passes the PnL of
/// every position and the whole wallet.
pub fn split(realized_pnl: Decimal, margin: Decimal) -> Settlement {
    let remaining = margin + realized_pnl;
    Settlement {
        realized_pnl,
        clearance: remaining.max(Decimal::ZERO),
        insurance_cover: (-remaining).max(Decimal::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn at_the_liquidation_price_the_rest_of_the_margin_is_cleared() {
        // 10x long 1 BTC at 65,000, margin 6,500, liquidated at LP 58,734.94:
        // PnL = 1 × (58,734.94 − 65,000) = −6,265.06; remaining 6,500 − 6,265.06 = 234.94 → insurance.
        let s = settle(Side::Long, d("1"), d("65000"), d("58734.94"), d("6500"));
        assert_eq!(
            s,
            Settlement {
                realized_pnl: d("-6265.06"),
                clearance: d("234.94"),
                insurance_cover: d("0")
            }
        );
        assert_eq!(s.wallet_change(), d("-6500"));
    }

    #[test]
    fn a_gap_through_bankruptcy_is_covered_by_the_insurance_fund() {
        // Same position; the bar opens at 55,000, below the bankruptcy price 58,500:
        // PnL = 55,000 − 65,000 = −10,000; remaining 6,500 − 10,000 = −3,500 → covered by the fund.
        let s = settle(Side::Long, d("1"), d("65000"), d("55000"), d("6500"));
        assert_eq!(
            s,
            Settlement {
                realized_pnl: d("-10000"),
                clearance: d("0"),
                insurance_cover: d("3500")
            }
        );
        assert_eq!(s.wallet_change(), d("-6500"));
        // A short gapped through: 2 ETH short at 3,000, margin 300, bar opens at 3,200:
        // PnL = −2 × 200 = −400; remaining −100 → cover 100.
        let s = settle(Side::Short, d("2"), d("3000"), d("3200"), d("300"));
        assert_eq!(
            (s.realized_pnl, s.clearance, s.insurance_cover),
            (d("-400"), d("0"), d("100"))
        );
    }

    proptest! {
        #[test]
        fn the_trader_loses_exactly_the_margin(entry in 1u32..100_000, exec in 1u32..200_000, margin in 0u32..1_000_000, qty_milli in 1u32..10_000, short in any::<bool>()) {
            let side = if short { Side::Short } else { Side::Long };
            let s = settle(side, Decimal::new(qty_milli.into(), 3), entry.into(), exec.into(), margin.into());
            prop_assert_eq!(s.wallet_change(), -Decimal::from(margin));
            prop_assert!(s.clearance >= Decimal::ZERO && s.insurance_cover >= Decimal::ZERO);
            prop_assert!(s.clearance.is_zero() || s.insurance_cover.is_zero());
        }
    }
}
