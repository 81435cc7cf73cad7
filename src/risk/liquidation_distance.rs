//! How far the liquidation price must sit from an entry, and the leverage or size that puts
//! it there: the maths of the liquidation buffer and of the liquidation-probability guard.
//!
//! These are `f64` mirrors of the exchange's `Decimal` formula (risk estimates, not money).
//! For a position of side `s` (+1 long, −1 short), quantity `q` at entry `E`, backed by
//! margin `B` (isolated: the position's margin; cross: the equity not needed by other
//! positions' maintenance), in a bracket with maintenance rate `m` and amount `c`:
//!
//! `LP = (B + c − s·q·E) / (q·(m − s))`
//!
//! A limit `X` for the liquidation price means `LP ≤ X` for a long and `LP ≥ X` for a short.

use super::liquidation_probability::{LiquidationRisk, liquidation_probability};
use crate::exchange::Side;

/// USDT; ≤ 0 (long) when no price liquidates the position.
pub fn liquidation_price(
    sign: f64,
    qty: f64,
    entry: f64,
    backing: f64,
    rate: f64,
    amount: f64,
) -> f64 {
    (backing + amount - sign * qty * entry) / (qty * (rate - sign))
}

/// Isolated margin: the highest leverage at which the liquidation price sits at or beyond
/// `limit`. With `B = N / L` (N = q·E) the formula becomes `LP = E·(1 − s/L − s·c/N) / (1 − s·m)`,
/// and `s·LP ≤ s·X` gives `1/L ≥ s − c/N − s·(X/E)·(1 − s·m)`. `+∞` when any leverage will do.
pub fn max_isolated_leverage(
    sign: f64,
    entry: f64,
    notional: f64,
    limit: f64,
    rate: f64,
    amount: f64,
) -> f64 {
    let need = sign - amount / notional - sign * (limit / entry) * (1.0 - sign * rate);
    if need <= 0.0 {
        f64::INFINITY
    } else {
        1.0 / need
    }
}

/// Cross margin: the largest quantity whose liquidation price sits at or beyond `limit`,
/// given the backing `B`. From the formula, `s·LP ≤ s·X` ⇔ `q · s·(E − X·(1 − s·m)) ≤ B + c`.
/// `+∞` when any quantity will do.
pub fn max_cross_qty(
    sign: f64,
    entry: f64,
    limit: f64,
    backing: f64,
    rate: f64,
    amount: f64,
) -> f64 {
    let k = sign * (entry - limit * (1.0 - sign * rate));
    if k <= 0.0 {
        f64::INFINITY
    } else {
        ((backing + amount) / k).max(0.0)
    }
}

/// The log-distance `d` between price and liquidation price at which the probability of
/// liquidation within the horizon equals `threshold` (a position further away is safer).
/// Found by bisection on the first-passage formula, which falls as `d` grows; 60 halvings
/// of `[0, 50·σ·√T + |drift|·T]` leave an error far below any price tick.
pub fn safe_log_distance(
    side: Side,
    daily_vol: f64,
    horizon_days: f64,
    drift_per_day: f64,
    funding_per_day: f64,
    threshold: f64,
) -> f64 {
    let sign = side.sign_f64();
    let probability = |d: f64| {
        liquidation_probability(&LiquidationRisk {
            side,
            price: 1.0,
            liquidation: (-sign * d).exp(),
            daily_vol,
            horizon_days,
            drift_per_day,
            funding_per_day,
        })
    };
    let (mut lo, mut hi) = (
        0.0,
        50.0 * daily_vol * horizon_days.sqrt()
            + (drift_per_day.abs() + funding_per_day.abs()) * horizon_days,
    );
    if probability(hi) > threshold {
        return hi;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if probability(mid) > threshold {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_binance_published_example() {
        // Binance's example (also the exchange's Decimal test): 500 USDT wallet, a 1,000 USDT
        // long at 50,000 (q = 0.02), tier 1: m = 0.4 %, c = 0. Isolated with B = 500:
        // LP = (500 + 0 − 0.02 × 50,000) / (0.02 × (0.004 − 1)) = −500 / −0.01992 = 25,100.40
        let lp = liquidation_price(1.0, 0.02, 50_000.0, 500.0, 0.004, 0.0);
        assert!((lp - 25_100.401_606).abs() < 1e-3, "{lp}");
    }

    #[test]
    fn leverage_and_size_that_keep_the_limit() {
        // long at 100, stop 92, buffer 2 → LP must be ≤ 90; m = 0.4 %, c = 0:
        // 1/L ≥ 1 − 0 − 0.9 × 0.996 = 0.1036 → L ≤ 9.6525
        let l = max_isolated_leverage(1.0, 100.0, 1_000.0, 90.0, 0.004, 0.0);
        assert!((l - 1.0 / 0.1036).abs() < 1e-9, "{l}");
        // and at that leverage the liquidation price is 90: B = 1,000 / L = 103.6, q = 10
        let lp = liquidation_price(1.0, 10.0, 100.0, 1_000.0 / l, 0.004, 0.0);
        assert!((lp - 90.0).abs() < 1e-9, "{lp}");
        // short at 100, stop 108, buffer 2 → LP ≥ 110: 1/L ≥ −1 + 1.1 × 1.004 = 0.1044
        let l = max_isolated_leverage(-1.0, 100.0, 1_000.0, 110.0, 0.004, 0.0);
        assert!((l - 1.0 / 0.1044).abs() < 1e-9, "{l}");
        // cross, long, backing 1,000 USDT, LP ≤ 90: q × (100 − 90 × 0.996) ≤ 1,000
        // → q ≤ 1,000 / 10.36 = 96.525; its LP: (1,000 − 96.525 × 100) / (96.525 × −0.996) = 90
        let q = max_cross_qty(1.0, 100.0, 90.0, 1_000.0, 0.004, 0.0);
        assert!((q - 1_000.0 / 10.36).abs() < 1e-9, "{q}");
        let lp = liquidation_price(1.0, q, 100.0, 1_000.0, 0.004, 0.0);
        assert!((lp - 90.0).abs() < 1e-9, "{lp}");
        // a long backed by B ≥ 0 has its LP below the entry: a limit above it always holds
        assert_eq!(
            max_cross_qty(1.0, 100.0, 101.0, 0.0, 0.004, 0.0),
            f64::INFINITY
        );
        // with nothing to back it (B < 0), no quantity keeps the limit
        assert_eq!(max_cross_qty(1.0, 100.0, 90.0, -5.0, 0.004, 0.0), 0.0);
    }

    #[test]
    fn safe_distance_matches_the_formula() {
        // no drift: P = 2·Φ(−d / (σ√T)) = 1 % ⇔ d = σ√T · 2.5758 (Φ⁻¹(0.995));
        // σ = 3 %/day over 1 day → d = 0.077275
        let d = safe_log_distance(Side::Long, 0.03, 1.0, 0.0, 0.0, 0.01);
        assert!((d - 0.03 * 2.575_829).abs() < 1e-6, "{d}");
        // paying funding drifts the position toward its liquidation: it needs more room
        let paying = safe_log_distance(Side::Long, 0.03, 1.0, 0.0, 0.003, 0.01);
        assert!(paying > d);
        // a short receiving the same funding needs less
        let receiving = safe_log_distance(Side::Short, 0.03, 1.0, 0.0, 0.003, 0.01);
        assert!(receiving < d);
    }
}
