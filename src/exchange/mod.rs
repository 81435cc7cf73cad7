//! The simulated venue: a USDⓈ-margined perpetual exchange.
//!
//! Built so far, as pure functions on `Decimal` with worked examples: the margin maths
//! ([`margin`]: maintenance margin, liquidation and bankruptcy prices), funding payments
//! ([`funding`]) and the settlement of a liquidation ([`liquidation`]); and the [`account`]:
//! wallet, positions (isolated or cross) and a ledger of typed entries; the [`fill`] model on
//! OHLC bars (intrabar path, trigger order, gaps, slippage); [`orders`]: order kinds and their
//! preparation (rounding to lot and tick, minimum notional, reduce-only, close-position).
//! [`venue`]: the exchange itself, with resting orders, brackets (OCO), cancel, and the work of
//! one bar (funding, market orders, path-ordered triggers and liquidation, margin calls).

pub mod account;
pub mod fill;
pub mod funding;
pub mod liquidation;
pub mod margin;
pub mod orders;
pub mod venue;

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

/// Decimal places to which an `f64` price or rate becomes `Decimal` (Binance's finest price
/// and funding-rate step is 10⁻⁸).
pub const PRICE_SCALE: u32 = 8;
/// Decimal places to which an `f64` quantity or leverage becomes `Decimal`: far below any
/// lot step (Binance's finest is 10⁻³ BTC), so the exchange's own rounding to the lot is what
/// counts.
pub const QTY_SCALE: u32 = 12;

/// `x` as `Decimal`, rounded to `scale` decimal places, through an integer: an order of
/// magnitude cheaper than `Decimal::from_f64`, whose digit-by-digit expansion was two thirds
/// of a risk decision's cost (and a quarter of a sweep's, at funding settlements). Values too
/// large for the integer fall back to `from_f64`; `None` for NaN and infinities.
pub fn to_decimal(x: f64, scale: u32) -> Option<Decimal> {
    let scaled = (x * 10f64.powi(scale as i32)).round();
    if scaled.is_finite() && scaled.abs() < 9.0e18 {
        Some(Decimal::new(scaled as i64, scale))
    } else {
        Decimal::from_f64(x)
    }
}

/// Which way a position or order faces. One-way mode: a symbol's position is net long or short.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Long,
    Short,
}

impl Side {
    /// +1 for long, −1 for short: formulas are written once with this sign, never per side.
    pub fn sign(self) -> Decimal {
        match self {
            Side::Long => Decimal::ONE,
            Side::Short => Decimal::NEGATIVE_ONE,
        }
    }

    /// +1.0 long, −1.0 short, for `f64` maths
    pub fn sign_f64(self) -> f64 {
        match self {
            Side::Long => 1.0,
            Side::Short => -1.0,
        }
    }

    pub fn opposite(self) -> Side {
        match self {
            Side::Long => Side::Short,
            Side::Short => Side::Long,
        }
    }

    pub fn parse(text: &str) -> Option<Side> {
        match text.to_ascii_lowercase().as_str() {
            "long" | "buy" => Some(Side::Long),
            "short" | "sell" => Some(Side::Short),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Side::Long => "long",
            Side::Short => "short",
        }
    }
}

/// A `Decimal` as `f64` for the `f64` copies of the account (shadows, the risk layer's view):
/// the mantissa over a power of ten, within an ulp or two of the exact conversion and several
/// times cheaper (the sweep's profile showed `Decimal::to_f64` taking an eighth of the time).
/// Money is never booked from these copies.
#[inline]
pub fn approx_f64(d: rust_decimal::Decimal) -> f64 {
    const POW10: [f64; 29] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
    ];
    let m = d.mantissa();
    let m = match i64::try_from(m) {
        Ok(small) => small as f64,
        Err(_) => m as f64,
    };
    m / POW10[(d.scale() as usize).min(28)]
}

#[cfg(test)]
mod bankruptcy_tests;
#[cfg(test)]
mod decimal_tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn to_decimal_rounds_to_its_scale() {
        assert_eq!(to_decimal(0.1, PRICE_SCALE), Some(d("0.1")));
        // 60,000.123456789 × 10⁸ = 6,000,012,345,678.9 → rounds up in the 8th place
        assert_eq!(
            to_decimal(60_000.123_456_789, PRICE_SCALE),
            Some(d("60000.12345679"))
        );
        // 0.000781992957368895 to 12 places
        assert_eq!(
            to_decimal(0.000_781_992_957_368_895, QTY_SCALE),
            Some(d("0.000781992957"))
        );
        assert_eq!(to_decimal(-2.5, QTY_SCALE), Some(d("-2.5")));
        // beyond the integer (|x| × 10¹² ≥ 9·10¹⁸): from_f64's value
        assert_eq!(to_decimal(1e8, QTY_SCALE), Some(d("100000000")));
        assert_eq!(to_decimal(f64::NAN, PRICE_SCALE), None);
        assert_eq!(to_decimal(f64::INFINITY, PRICE_SCALE), None);
    }
}
