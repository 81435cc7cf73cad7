//! The probability that a position is liquidated within a horizon: the core of the
//! liquidation-probability guard.
//!
//! Model: the log mark price moves as Brownian motion with drift, at the position's realised
//! volatility. Let `Z_t = s · ln(P_t / P_0)` be the move in the position's favour (s = +1 long,
//! −1 short), with drift `μ_Z = s · μ − s · f` per day, where μ is the price's expected
//! log-return per day (0 by default) and f the funding rate per day (longs pay when f > 0).
//! Funding paid out of margin moves the liquidation price toward the price at about f a day,
//! which is the same as the price drifting against the payer. Liquidation is `Z` falling to
//! `b = s · ln(LP / P_0) < 0`. By the reflection principle with drift (first passage of a
//! Brownian motion with drift μ_Z and volatility σ to a barrier b < 0 within time T):
//!
//! `P(min_{t≤T} Z_t ≤ b) = Φ((b − μ_Z·T) / (σ√T)) + exp(2·μ_Z·b / σ²) · Φ((b + μ_Z·T) / (σ√T))`
//!
//! **Worked example.** A long at 60,000 with LP 54,000: b = ln(0.9) = −0.10536. With 3 % daily
//! volatility, over one day and no drift, P = 2·Φ(−0.10536 / 0.03) = 2·Φ(−3.512) = 2 × 0.000222
//! = 0.0445 %. At 6 % daily volatility it is 2·Φ(−1.756) = 7.9 %. Over 7 days at 3 % it is
//! 18.4 %, and paying 0.09 % funding a day (0.03 % per 8 h) lifts it to 20.4 %. The guard
//! reduces a position until this probability is below its threshold (e.g. 1 %).
//!
//! Limits: it ignores jumps (crashes gap through the barrier faster than any diffusion, so
//! this is a floor in a crash) and treats volatility as constant over the horizon.

use super::super::exchange::Side;

/// The guard's precision, as parameters of the rule. The guard's trigger (the mark at which
/// the probability reaches the limit) is remade when the per-bar variance has moved by more
/// than this fraction from the one it was made with: the distance, ∝ σ, is then at most
/// √1.02 − 1 ≈ 1 % off the exact one.
pub const TRIGGER_VARIANCE_TOLERANCE: f64 = 0.02;

/// The safe distance, solved in spreads σ√T for a funding drift in spreads μ·T / σ√T, is
/// reused while that drift stays within this many spreads of the one it was solved for: a
/// drift of 0.05 spread moves the distance by about 2 % at the usual limits. Together the
/// two keep the trigger's distance within 3 % of the exact one (`precision_tests` pins it).
pub const DISTANCE_DRIFT_REUSE: f64 = 0.05;

/// The standard normal CDF, via `erfc` (from the `libm` crate).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// What the estimate needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiquidationRisk {
    pub side: Side,
    /// USDT, the current mark price
    pub price: f64,
    /// USDT, the position's liquidation price
    pub liquidation: f64,
    /// fraction per √day, the realised volatility of daily log-returns (0.03 = 3 %)
    pub daily_vol: f64,
    /// days
    pub horizon_days: f64,
    /// expected log-return of the price per day (fraction; 0 when unknown)
    pub drift_per_day: f64,
    /// funding rate per day (fraction; three 8 h settlements of 0.01 % = 0.0003)
    pub funding_per_day: f64,
}

/// The probability (0 to 1) that the mark reaches the liquidation price within the horizon.
pub fn liquidation_probability(r: &LiquidationRisk) -> f64 {
    let s = if r.side == Side::Long { 1.0 } else { -1.0 };
    let barrier = s * (r.liquidation / r.price).ln();
    // at or through the liquidation price already, or no valid price (NaN): certain
    if barrier >= 0.0 || barrier.is_nan() {
        return 1.0;
    }
    if !(r.daily_vol > 0.0 && r.horizon_days > 0.0) {
        return 0.0;
    }
    let mu = s * r.drift_per_day - s * r.funding_per_day;
    let spread = r.daily_vol * r.horizon_days.sqrt();
    let first = normal_cdf((barrier - mu * r.horizon_days) / spread);
    let second = (2.0 * mu * barrier / (r.daily_vol * r.daily_vol)).exp()
        * normal_cdf((barrier + mu * r.horizon_days) / spread);
    (first + second).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(vol: f64, days: f64, funding: f64) -> LiquidationRisk {
        LiquidationRisk {
            side: Side::Long,
            price: 60_000.0,
            liquidation: 54_000.0,
            daily_vol: vol,
            horizon_days: days,
            drift_per_day: 0.0,
            funding_per_day: funding,
        }
    }

    #[test]
    fn worked_examples() {
        // reference values from Φ(x) = erfc(−x/√2)/2 computed independently (Python's math.erfc)
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(
            normal_cdf(-3.512_017_188_594_209),
            0.000_222_359_617_751_420_75
        ));
        assert!(close(
            liquidation_probability(&long(0.03, 1.0, 0.0)),
            0.000_444_719_235_502_841_5
        ));
        assert!(close(
            liquidation_probability(&long(0.06, 1.0, 0.0)),
            0.079_086_941_103_258_4
        ));
        assert!(close(
            liquidation_probability(&long(0.03, 7.0, 0.0)),
            0.184_370_539_246_454_55
        ));
        // paying 0.09 % a day: μ_Z = −0.0009; Φ((b + 0.0063)/0.0794) + e^0.2107·Φ((b − 0.0063)/0.0794)
        assert!(close(
            liquidation_probability(&long(0.03, 7.0, 0.0009)),
            0.204_457_619_132_994_65
        ));
        // a short at 60,000 with LP 66,000: barrier ln(60,000/66,000) = −0.0953
        let short = LiquidationRisk {
            side: Side::Short,
            liquidation: 66_000.0,
            ..long(0.03, 1.0, 0.0)
        };
        assert!(close(
            liquidation_probability(&short),
            0.001_488_039_607_581_212
        ));
    }

    #[test]
    fn more_volatility_longer_horizons_and_paying_funding_raise_it() {
        let base = liquidation_probability(&long(0.03, 3.0, 0.0));
        assert!(liquidation_probability(&long(0.04, 3.0, 0.0)) > base);
        assert!(liquidation_probability(&long(0.03, 4.0, 0.0)) > base);
        assert!(liquidation_probability(&long(0.03, 3.0, 0.001)) > base);
        // receiving funding lowers it
        assert!(liquidation_probability(&long(0.03, 3.0, -0.001)) < base);
        // through the liquidation price already: certain
        assert_eq!(
            liquidation_probability(&LiquidationRisk {
                price: 53_000.0,
                ..long(0.03, 1.0, 0.0)
            }),
            1.0
        );
    }
}
