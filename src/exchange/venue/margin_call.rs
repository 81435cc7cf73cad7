//! Margin calls: the margin ratio (maintenance margin / margin balance) at the path's worst
//! point of each bar, against the threshold θ (`VenueConfig::margin_call_ratio`).
//!
//! - **Where it is read.** At the adverse extreme of the bar's mark (the low for a long, the
//!   high for a short): a bar whose path reaches the margin-call level is a margin call even
//!   when its close recovered. In isolated margin each position's own ratio; in cross
//!   margin the account's, with every position at its adverse extreme together (the
//!   conservative reading of `joint.rs`), symbols without a bar at their latest mark. The
//!   positions read are those open at the close: one opened or closed inside the bar is
//!   taken at the bar's extreme all the same.
//! - **Once per crossing.** A call is recorded when the worst-point ratio reaches θ while no
//!   call is open (per position in isolated margin, for the account in cross); the call
//!   stays open until a bar whose whole path stays below θ, so a position hovering at the
//!   level is called once, not at every bar.
//! - A bar that liquidates the position records the liquidation only.

use super::{Event, EventKind, Venue};
use crate::exchange::account::MarginMode;

impl Venue {
    /// The margin-call check after `symbol`'s bar, whose mark ranged over `[low, high]`:
    /// one comparison with the position's margin-call price unless a call may be starting.
    #[inline(always)]
    pub(super) fn check_margin_call(&mut self, symbol: usize, time: i64, low: f64, high: f64) {
        let slot = self.call_slot(symbol);
        let Some(p) = self.shadow.positions[symbol] else {
            self.in_margin_call[slot] = false;
            return;
        };
        let worst = if p.sign > 0.0 { low } else { high };
        if !p.margin_call.is_nan() {
            let above = if p.sign > 0.0 {
                worst <= p.margin_call
            } else {
                worst >= p.margin_call
            };
            if !above || self.in_margin_call[slot] {
                self.in_margin_call[slot] = above;
                return;
            }
        }
        self.check_margin_call_exactly(symbol, time, worst);
    }

    /// Where a symbol's call is kept: its own in isolated margin, the account's in cross.
    fn call_slot(&self, symbol: usize) -> usize {
        match self.config.mode {
            MarginMode::Isolated => symbol,
            MarginMode::Cross => 0,
        }
    }

    /// [`Venue::check_margin_call`] from the maintenance margin itself at the mark `worst`.
    #[inline(never)]
    fn check_margin_call_exactly(&mut self, symbol: usize, time: i64, worst: f64) {
        let Some(p) = self.shadow.positions[symbol] else {
            return;
        };
        let maint = self.shadow.maint(symbol, p.qty, p.entry, worst);
        let backing = match self.config.mode {
            MarginMode::Isolated => p.margin,
            MarginMode::Cross => self.shadow.wallet,
        };
        let balance = backing + p.sign * p.qty * (worst - p.entry);
        self.record_margin_call(symbol, time, maint, balance);
    }

    /// The account's check in cross margin over several symbols, from its maintenance margin
    /// and margin balance with every position at its adverse extreme
    /// ([`Venue::adverse_figures`]).
    pub(super) fn check_account_margin_call(&mut self, time: i64, maint: f64, balance: f64) {
        match self.shadow.positions.iter().position(Option::is_some) {
            Some(s) => self.record_margin_call(s, time, maint, balance),
            None => self.in_margin_call[0] = false,
        }
    }

    /// Opens a call (and records it) when `maint` ≥ θ × `balance` and none is open; closes
    /// the open one otherwise.
    fn record_margin_call(&mut self, symbol: usize, time: i64, maint: f64, balance: f64) {
        let slot = self.call_slot(symbol);
        // compared without dividing; the ratio is worked out only for a call's record
        let above = maint >= self.config.margin_call_ratio * balance;
        if above && !self.in_margin_call[slot] {
            let ratio = if balance > 0.0 {
                maint / balance
            } else {
                f64::INFINITY
            };
            self.events.push(Event {
                time,
                symbol,
                kind: EventKind::MarginCall { ratio },
            });
        }
        self.in_margin_call[slot] = above;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{bar, kinds, long_one_btc};
    use super::*;

    fn calls(v: &Venue) -> Vec<(i64, f64)> {
        v.events()
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::MarginCall { ratio } => Some((e.time, ratio)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_wick_through_the_margin_call_level_is_a_call_though_the_close_recovered() {
        // 1 BTC long from 65,000 at 10x, isolated margin 6,500: the margin-call price is
        // 58,805.03 (θ = 0.8, `tests.rs`). The bar dips to 58,790 and closes at 62,000:
        // MM 58,790 × 0.005 − 50 = 243.95, balance 6,500 − 6,210 = 290, ratio 0.84121
        let mut v = long_one_btc();
        let dip = bar(62_000.0, 62_100.0, 58_790.0, 62_000.0);
        v.on_bar(0, 1, &dip, &dip, &[]);
        assert_eq!(kinds(&v), ["fill", "margin call"]);
        assert!((calls(&v)[0].1 - 243.95 / 290.0).abs() < 1e-9);
    }

    #[test]
    fn a_call_stays_open_until_a_bar_stays_below_the_level() {
        let mut v = long_one_btc();
        let dip = bar(62_000.0, 62_100.0, 58_790.0, 62_000.0);
        let calm = bar(62_000.0, 62_100.0, 61_000.0, 62_000.0);
        v.on_bar(0, 1, &dip, &dip, &[]); // the call
        v.on_bar(0, 2, &dip, &dip, &[]); // still at the level: the same call
        v.on_bar(0, 3, &calm, &calm, &[]); // the whole bar below: the call ends
        v.on_bar(0, 4, &dip, &dip, &[]); // a new crossing
        assert_eq!(calls(&v).iter().map(|c| c.0).collect::<Vec<_>>(), [1, 4]);
    }

    #[test]
    fn cross_margin_reads_the_account_with_every_position_at_its_extreme() {
        use super::super::joint::tests::{joint_step, two_longs};
        // the two cross longs of `joint_tests.rs` (BTC 1 at 50,000, ETH 15 at 3,000, wallet
        // 9,952.5), both at −10.05 % together (u = 0.67): maintenance
        // 0.004 × 44,975 + 0.004 × 15 × 2,698.5 = 341.81, balance
        // 9,952.5 − 5,025 − 4,522.5 = 405: ratio 0.84397 ≥ 0.8, short of liquidation
        let mut v = two_longs(MarginMode::Cross);
        let btc = bar(50_000.0, 50_000.0, 44_975.0, 49_000.0);
        let eth = bar(3_000.0, 3_000.0, 2_698.5, 2_950.0);
        joint_step(&mut v, 3_600_000, btc, eth);
        assert_eq!(kinds(&v), ["fill", "fill", "margin call"]);
        assert!((calls(&v)[0].1 - 341.81 / 405.0).abs() < 1e-9);
    }
}
