//! The fill model: when, within one OHLC bar, a resting order or a liquidation happens, and
//! at what price. Per-bar code, so `f64` and no allocation; the price it returns is rounded to
//! the tick and booked as `Decimal` by the account. The venue's walk (`venue/walk.rs`,
//! `venue/joint.rs`) places every level on these paths with [`reach_from`].
//!
//! Contract:
//! - **Path.** A bar is walked open → first extreme → second extreme → close, straight lines
//!   between them. Which extreme comes first: [`PathOrder::AdverseFirst`] (default) takes
//!   the one that hurts the open position first (the low for a long, the high for a short; for
//!   no position, the extreme nearer the open); [`PathOrder::NearerFirst`] always takes the
//!   extreme nearer the open. A finer timeframe, where the engine has one, replaces the guess.
//! - **Time within the bar** is measured along the path: 0 at the open, 3 at the close,
//!   segment k covering [k, k+1]. Events are ordered by it. Last-price triggers (stops,
//!   take-profits, limits) use the last-price path; liquidation uses the mark-price path; each
//!   is placed by linear interpolation on its own path, so they can be compared.
//! - **A level already passed at the open** (a gap) triggers at time 0 and fills at the open.
//! - **Stop-market and take-profit-market** orders trigger when the path reaches their trigger
//!   and fill at the trigger, or at the open when the bar gaps through it.
//! - **Limit** orders fill when the path reaches the limit, at the limit, or at the open when
//!   the open is already better.
//! - **Market** orders fill at the open of the bar after the one they were created on.
//! - **Liquidation** happens when the mark path reaches the liquidation price: at that price,
//!   or at the mark open when the bar opened through it. At equal times liquidation comes first,
//!   so a stop beyond the liquidation price never "saves" a position the path liquidates first.
//! - **Slippage** ([`Slippage`]) moves every taker fill against the trader; liquidation fills
//!   take [`LIQUIDATION_SLIPPAGE_FACTOR`] times the model's slippage (never better than LP).

pub use crate::market::Ohlc;

/// Which extreme a bar's path visits first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathOrder {
    /// the extreme that hurts the open position first (nearer-first when flat)
    #[default]
    AdverseFirst,
    /// the extreme nearer the open first
    NearerFirst,
}

/// The four points of a bar's path: open, first extreme, second extreme, close.
/// `position` is +1 long, −1 short, 0 flat.
pub fn path(bar: &Ohlc, position: i8, order: PathOrder) -> [f64; 4] {
    let low_first = match (order, position) {
        (PathOrder::AdverseFirst, 1) => true,
        (PathOrder::AdverseFirst, -1) => false,
        _ => bar.open - bar.low <= bar.high - bar.open,
    };
    if low_first {
        [bar.open, bar.low, bar.high, bar.close]
    } else {
        [bar.open, bar.high, bar.low, bar.close]
    }
}

/// A level the path may reach, and from which side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Level {
    /// reached when the price falls to it or below (a long's stop or liquidation, a buy limit)
    AtOrBelow(f64),
    /// reached when the price rises to it or above (a short's stop, a long's take-profit, a sell limit)
    AtOrAbove(f64),
}

/// When the path first reaches `level` (0 = open … 3 = close) and at what price: the level
/// itself, or the open when the open is already through it. `None` if the bar never reaches it.
pub fn first_reach(path: &[f64; 4], level: Level) -> Option<(f64, f64)> {
    reach_from(path, level, 0.0)
}

/// The segment (0, 1 or 2) of a path holding time `u` (0 … 3): by comparison, as
/// `f64::floor` is a libm call on baseline x86-64 (no SSE4.1), three of them per bar.
#[inline(always)]
pub fn segment_at(u: f64) -> usize {
    if u < 1.0 {
        0
    } else if u < 2.0 {
        1
    } else {
        2
    }
}

/// The price on `path` at time `u` (0 … 3), by linear interpolation along its segment.
#[inline(always)]
pub fn point_at(path: &[f64; 4], u: f64) -> f64 {
    let k = segment_at(u);
    path[k] + (path[k + 1] - path[k]) * (u - k as f64).clamp(0.0, 1.0)
}

/// [`first_reach`] on the part of the path from time `after` on (0 ≤ after ≤ 3). A level
/// already through where the walk resumes is reached there, at that point's price: an order
/// that becomes active mid-bar (a bracket leg after its entry fills) acts at once.
pub fn reach_from(path: &[f64; 4], level: Level, after: f64) -> Option<(f64, f64)> {
    let (target, below) = match level {
        Level::AtOrBelow(x) => (x, true),
        Level::AtOrAbove(x) => (x, false),
    };
    let through = |p: f64| if below { p <= target } else { p >= target };
    let (k0, start) = (segment_at(after), point_at(path, after));
    if through(start) {
        return Some((after, start));
    }
    for k in k0..3 {
        let (a, b) = (path[k], path[k + 1]);
        if through(b) {
            // the segment's start is not through (else found earlier), its end is
            return Some(((k as f64 + (target - a) / (b - a)).max(after), target));
        }
    }
    None
}

/// How far taker fills land from the price the model gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "model", deny_unknown_fields)]
pub enum Slippage {
    #[default]
    None,
    /// a fixed cost in basis points of the price (5 = 0.05 %)
    FixedBps { bps: f64 },
    /// a fraction of the bar's range: `fraction × (high − low)`, capped at `max_bps`;
    /// more in turbulent bars, little in calm ones
    RangeFraction { fraction: f64, max_bps: f64 },
}

/// Liquidations are fills in a hurry: they take this many times the model's slippage.
pub const LIQUIDATION_SLIPPAGE_FACTOR: f64 = 2.0;

impl Slippage {
    /// The price after slippage for a taker fill that buys (`sign` +1) or sells (−1). USDT
    pub fn apply(&self, price: f64, sign: f64, bar: &Ohlc) -> f64 {
        price + sign * self.cost(price, bar)
    }

    /// The most a fill can slip, as a fraction of the price: what the risk layer budgets
    /// for an order before it knows the bar it fills in.
    pub fn worst_fraction(&self) -> f64 {
        match *self {
            Slippage::None => 0.0,
            Slippage::FixedBps { bps } => bps * 1e-4,
            Slippage::RangeFraction { max_bps, .. } => max_bps * 1e-4,
        }
    }

    /// USDT per unit, ≥ 0
    pub fn cost(&self, price: f64, bar: &Ohlc) -> f64 {
        match *self {
            Slippage::None => 0.0,
            Slippage::FixedBps { bps } => price * bps * 1e-4,
            Slippage::RangeFraction { fraction, max_bps } => {
                (fraction * (bar.high - bar.low)).min(price * max_bps * 1e-4)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAR: Ohlc = Ohlc {
        open: 100.0,
        high: 104.0,
        low: 90.0,
        close: 101.0,
    };

    #[test]
    fn adverse_first_walks_against_the_position() {
        assert_eq!(
            path(&BAR, 1, PathOrder::AdverseFirst),
            [100.0, 90.0, 104.0, 101.0]
        );
        assert_eq!(
            path(&BAR, -1, PathOrder::AdverseFirst),
            [100.0, 104.0, 90.0, 101.0]
        );
        // flat, or nearer-first: the high (4 away) before the low (10 away)
        assert_eq!(
            path(&BAR, 0, PathOrder::AdverseFirst),
            [100.0, 104.0, 90.0, 101.0]
        );
        assert_eq!(
            path(&BAR, 1, PathOrder::NearerFirst),
            [100.0, 104.0, 90.0, 101.0]
        );
    }

    #[test]
    fn levels_are_reached_at_a_time_along_the_path() {
        let long = path(&BAR, 1, PathOrder::AdverseFirst); // 100 → 90 → 104 → 101
        // a stop at 95 is half way down the first segment: t = 0 + (95 − 100)/(90 − 100) = 0.5
        assert_eq!(
            first_reach(&long, Level::AtOrBelow(95.0)),
            Some((0.5, 95.0))
        );
        // a take-profit at 102 comes on the way up: t = 1 + (102 − 90)/(104 − 90) = 1.857…
        let (t, price) = first_reach(&long, Level::AtOrAbove(102.0)).unwrap();
        assert!((t - (1.0 + 12.0 / 14.0)).abs() < 1e-12 && price == 102.0);
        assert_eq!(first_reach(&long, Level::AtOrBelow(89.0)), None);
        // a level the open is already through: at the open, at the open's price
        assert_eq!(
            first_reach(&long, Level::AtOrBelow(101.0)),
            Some((0.0, 100.0))
        );
        assert_eq!(
            first_reach(&long, Level::AtOrAbove(99.0)),
            Some((0.0, 100.0))
        );
    }

    #[test]
    fn reaching_from_mid_bar_ignores_the_path_behind() {
        let long = path(&BAR, 1, PathOrder::AdverseFirst); // 100 → 90 → 104 → 101
        // from t = 1.5 (at 97, half way up the second segment) a level of 95 below is not
        // reached again (the path only rises, then falls to 101)
        assert_eq!(reach_from(&long, Level::AtOrBelow(95.0), 1.5), None);
        // 102 above: t = 1 + 12/14 as from the start, since it lies ahead
        let (t, p) = reach_from(&long, Level::AtOrAbove(102.0), 1.5).unwrap();
        assert!((t - (1.0 + 12.0 / 14.0)).abs() < 1e-12 && p == 102.0);
        // a level already through at t = 1.5 (96 or above: we are at 97) acts at once, at 97
        assert_eq!(
            reach_from(&long, Level::AtOrAbove(96.0), 1.5),
            Some((1.5, 97.0))
        );
        // at the close (t = 3, price 101) nothing below 100.5 remains
        assert_eq!(reach_from(&long, Level::AtOrBelow(100.5), 3.0), None);
    }

    #[test]
    fn a_stop_below_the_liquidation_price_does_not_save_the_position() {
        // Long with LP 92 on the mark path and a stop at 91 on the last path, a bar falling to 90:
        // the mark reaches 92 at t = 0.8, the last price reaches 91 at t = 0.9: liquidated first.
        let last = path(&BAR, 1, PathOrder::AdverseFirst);
        let mark = path(
            &Ohlc {
                open: 100.0,
                high: 103.0,
                low: 90.0,
                close: 101.0,
            },
            1,
            PathOrder::AdverseFirst,
        );
        let liquidation = first_reach(&mark, Level::AtOrBelow(92.0)).unwrap();
        let stop = first_reach(&last, Level::AtOrBelow(91.0)).unwrap();
        assert!(liquidation.0 < stop.0);
        // a stop above LP fires first and fills at its trigger
        let stop = first_reach(&last, Level::AtOrBelow(95.0)).unwrap();
        assert!(stop.0 < liquidation.0 && stop.1 == 95.0);
    }

    #[test]
    fn a_gap_through_both_liquidates_at_the_open() {
        // the bar opens at 85, below the stop (91) and the LP (92): both at t = 0, at the open;
        // liquidation wins ties (the engine checks it first)
        let gap = Ohlc {
            open: 85.0,
            high: 88.0,
            low: 84.0,
            close: 87.0,
        };
        let p = path(&gap, 1, PathOrder::AdverseFirst);
        assert_eq!(first_reach(&p, Level::AtOrBelow(92.0)), Some((0.0, 85.0)));
        assert_eq!(first_reach(&p, Level::AtOrBelow(91.0)), Some((0.0, 85.0)));
    }

    #[test]
    fn slippage_moves_fills_against_the_trader() {
        assert_eq!(Slippage::None.apply(100.0, 1.0, &BAR), 100.0);
        // 5 bps of 100 = 0.05: a buy pays 100.05, a sell gets 99.95
        let fixed = Slippage::FixedBps { bps: 5.0 };
        assert!((fixed.apply(100.0, 1.0, &BAR) - 100.05).abs() < 1e-12);
        assert!((fixed.apply(100.0, -1.0, &BAR) - 99.95).abs() < 1e-12);
        // 1 % of the 14-wide range = 0.14, under the 20 bps cap (0.2)
        let range = Slippage::RangeFraction {
            fraction: 0.01,
            max_bps: 20.0,
        };
        assert!((range.cost(100.0, &BAR) - 0.14).abs() < 1e-12);
        // a wild bar is capped: 1 % of 50 = 0.5 > 0.2
        let wild = Ohlc {
            open: 100.0,
            high: 130.0,
            low: 80.0,
            close: 90.0,
        };
        assert!((range.cost(100.0, &wild) - 0.2).abs() < 1e-12);
    }
}
