//! The margin guard: three levels on the margin ratio the exchange liquidates on — the
//! account's in cross margin (Σ maintenance / equity), each position's own in isolated
//! margin (its maintenance / (its margin + its unrealised PnL)). Each ratio is a *unit*
//! with its own state: one for the account in cross margin, one per position in isolated.
//!
//! - `margin_halt_at`: new entries halt while any unit is at or above it;
//! - `margin_deleverage_at`: the unit's positions are cut in proportion so the ratio would
//!   fall back to `margin_halt_at` (80 % of the level without one). In isolated margin a
//!   cut releases the position's margin in proportion, so its ratio stays where it was; what
//!   falls is the size, and with it the margin a liquidation would take;
//! - `margin_exit_at`: the unit's positions are closed.
//!
//! Each acts once per upward crossing of its unit; a unit whose position is gone reads 0.
//! Levels are compared as maintenance ≥ level × balance: the ratio itself (a division) is
//! worked out only when something is recorded. With a positive balance, a step whose
//! maintenance sits in the unit's band ([`MarginUnit::band`]) changes nothing (the products
//! are monotone in the level), which two comparisons tell.

use super::super::audit::{At, RiskEvent, Rule};
use super::super::layer::{Held, RiskLayer};
use crate::exchange::account::MarginMode;
use crate::exchange::venue::Venue;

/// One margin ratio the guard watches, and its state.
#[derive(Clone, Copy, Debug)]
pub(in crate::risk) struct MarginUnit {
    pub halted: bool,
    pub deleverage_armed: bool,
    pub exit_armed: bool,
    /// USDT: (maintenance, margin balance) at the last full or calm step
    pub terms: (f64, f64),
    /// the margin ratios between which the guard has nothing to do for this unit: at or
    /// above the highest level it stands above, below the lowest it stands below (NaN: not
    /// worked out)
    pub band: (f64, f64),
}

impl MarginUnit {
    pub const NEW: MarginUnit = MarginUnit {
        halted: false,
        deleverage_armed: true,
        exit_armed: true,
        terms: (0.0, 1.0),
        band: (f64::NAN, f64::NAN),
    };

    /// Whether a level stands crossed (halted, or an action waiting to be re-armed).
    pub fn engaged(&self) -> bool {
        self.halted || !self.deleverage_armed || !self.exit_armed
    }

    /// The ratio of [`MarginUnit::terms`]; ∞ when the balance is gone.
    pub fn ratio(&self) -> f64 {
        let (maint, balance) = self.terms;
        if balance > 0.0 {
            maint / balance
        } else {
            f64::INFINITY
        }
    }
}

impl RiskLayer {
    /// Whether the margin guard has a level on.
    #[inline(always)]
    pub(in crate::risk) fn margin_guard_on(&self) -> bool {
        let c = &self.config;
        c.margin_halt_at.is_some() || c.margin_deleverage_at.is_some() || c.margin_exit_at.is_some()
    }

    /// USDT: what a position's margin balance is made of besides its unrealised PnL — the
    /// account's wallet (`wallet`) in cross margin, its own margin in isolated.
    #[inline(always)]
    pub(in crate::risk) fn margin_base(&self, wallet: f64, h: &Held) -> f64 {
        match self.mode {
            MarginMode::Cross => wallet,
            MarginMode::Isolated => h.margin,
        }
    }

    /// Whether any unit of the margin guard stands engaged (its check must run even when
    /// flat, to lift it).
    #[inline(always)]
    pub(in crate::risk) fn margin_guard_engaged(&self) -> bool {
        self.guards.margin.iter().any(MarginUnit::engaged)
    }

    /// The margin guard at a step, with `equity` the account's (USDT) at the latest marks.
    #[inline(always)]
    pub(in crate::risk) fn check_margin_guard(
        &mut self,
        time: i64,
        equity: f64,
        venue: &mut Venue,
    ) {
        if !self.margin_guard_on() {
            return;
        }
        match self.mode {
            MarginMode::Cross => {
                let maint = self.maintenance_all();
                self.check_margin_unit(time, 0, (maint, equity), venue);
            }
            MarginMode::Isolated => {
                for s in 0..self.held.len() {
                    let terms = match self.held[s] {
                        // as the calm step adds them up
                        Some(h) => (
                            0.0 + h.maintenance(self.marks[s], &self.tiers[s]),
                            h.margin + h.unrealised(self.marks[s]),
                        ),
                        None => (0.0, 1.0),
                    };
                    self.check_margin_unit(time, s, terms, venue);
                }
            }
        }
    }

    /// One unit at `terms` (maintenance, balance; USDT): two comparisons inside its band.
    #[inline(always)]
    fn check_margin_unit(&mut self, time: i64, u: usize, terms: (f64, f64), venue: &mut Venue) {
        let unit = &mut self.guards.margin[u];
        unit.terms = terms;
        if in_margin_band(terms.0, terms.1, unit.band) {
            return;
        }
        self.margin_unit_acts(time, u, venue);
        self.set_margin_band(u);
    }

    /// The band of [`MarginUnit::band`] for unit `u`'s present state.
    fn set_margin_band(&mut self, u: usize) {
        let c = &self.config;
        let g = &mut self.guards.margin[u];
        let (mut low, mut high) = (f64::NEG_INFINITY, f64::INFINITY);
        for (level, above) in [
            (c.margin_halt_at, g.halted),
            (c.margin_exit_at, !g.exit_armed),
            (c.margin_deleverage_at, !g.deleverage_armed),
        ] {
            match (level, above) {
                (Some(l), true) => low = low.max(l),
                (Some(l), false) => high = high.min(l),
                (None, _) => {}
            }
        }
        g.band = (low, high);
    }

    /// The symbols unit `u` stands for, and the symbol its events name (`None`: the
    /// account).
    fn unit_symbols(&self, u: usize) -> (std::ops::Range<usize>, Option<usize>) {
        match self.mode {
            MarginMode::Cross => (0..self.held.len(), None),
            MarginMode::Isolated => (u..u + 1, Some(u)),
        }
    }

    /// Unit `u`'s full check at its terms.
    #[inline(never)]
    fn margin_unit_acts(&mut self, time: i64, u: usize, venue: &mut Venue) {
        let c = &self.config;
        let (halt, deleverage, exit) = (c.margin_halt_at, c.margin_deleverage_at, c.margin_exit_at);
        let unit = self.guards.margin[u];
        let (maint, balance) = unit.terms;
        let at_or_above = |level: f64| balance <= 0.0 || maint >= level * balance;
        let ratio = unit.ratio();
        let (symbols, named) = self.unit_symbols(u);
        if let Some(level) = halt
            && at_or_above(level) != unit.halted
        {
            self.guards.margin[u].halted = at_or_above(level);
            let (at, rule) = (At::guard(time, named), Rule::MarginGuard);
            self.record(if at_or_above(level) {
                RiskEvent::halted(at, rule, ratio, level)
            } else {
                RiskEvent::resumed(at, rule)
            });
        }
        if let Some(level) = exit {
            if at_or_above(level) && unit.exit_armed {
                self.guards.margin[u].exit_armed = false;
                for s in symbols {
                    self.close(
                        At::guard(time, Some(s)),
                        s,
                        Rule::MarginGuard,
                        (ratio, level),
                        venue,
                    );
                }
                return;
            }
            self.guards.margin[u].exit_armed |= !at_or_above(level);
        }
        if let Some(level) = deleverage {
            if at_or_above(level) && unit.deleverage_armed {
                self.guards.margin[u].deleverage_armed = false;
                let target = halt.unwrap_or(0.8 * level);
                for s in symbols {
                    if let Some(h) = self.held[s] {
                        let to = h.qty * target / ratio;
                        let why = (ratio, level);
                        self.reduce_to(
                            At::guard(time, Some(s)),
                            s,
                            Rule::MarginGuard,
                            to,
                            why,
                            venue,
                        );
                    }
                }
            }
            self.guards.margin[u].deleverage_armed |= !at_or_above(level);
        }
    }

    /// The unit that halts entries, if any: `(ratio, level)` of the first halted.
    pub(in crate::risk) fn margin_halt(&self) -> Option<(f64, f64)> {
        let level = self.config.margin_halt_at.unwrap_or(f64::NAN);
        let unit = self.guards.margin.iter().find(|u| u.halted)?;
        Some((unit.ratio(), level))
    }
}

/// Whether the margin guard has nothing to do at `maint` and `balance` (USDT) with the
/// band `(low, high)` of [`MarginUnit::band`].
#[inline(always)]
pub(in crate::risk) fn in_margin_band(maint: f64, balance: f64, (low, high): (f64, f64)) -> bool {
    balance > 0.0 && maint >= low * balance && maint < high * balance
}

#[cfg(test)]
mod tests {
    use crate::exchange::account::MarginMode;
    use crate::risk::audit::{Action, Rule};
    use crate::risk::config::{RiskConfig, Sizing};
    use crate::risk::tests::sim;

    fn config(notional: f64, leverage: f64) -> RiskConfig {
        RiskConfig {
            sizing: Sizing::FixedNotional,
            fixed_notional: notional,
            max_leverage: Some(leverage),
            margin_halt_at: Some(0.3),
            margin_deleverage_at: Some(0.4),
            margin_exit_at: Some(0.6),
            ..RiskConfig::no_rules()
        }
    }

    #[test]
    fn isolated_positions_are_guarded_on_their_own_ratio_in_tier_1() {
        // wallet 10,000; 100 BTC long at 100, 10x: margin 1,000, tier 1 (0.4 %, amount 0).
        // Its ratio at mark m is 0.4·m / (1,000 + 100·(m − 100)) = 0.4·m / (100·m − 9,000);
        // the account's, 0.4·m / (10,000 + 100·(m − 100)) = 0.004, never reaches a level.
        // Liquidation (ratio 1): 0.4·m = 100·m − 9,000 → m = 9,000 / 99.6 = 90.361.
        let mut s = sim(config(10_000.0, 10.0), MarginMode::Isolated);
        s.flat(100.0, 1);
        s.long(None, None);
        s.flat(100.0, 1);
        assert_eq!(s.qty(), 100.0);
        // at 91.5: 36.6 / 150 = 0.244, below every level
        s.flat(91.5, 1);
        assert!(s.last(Rule::MarginGuard, Action::Halted).is_none());
        // at 91.0: 36.4 / 100 = 0.364 ≥ 0.3: entries halt, named by the position's symbol
        s.flat(91.0, 1);
        let e = s.last(Rule::MarginGuard, Action::Halted).unwrap();
        assert!((e.value - 0.364).abs() < 1e-12, "{}", e.value);
        assert_eq!(e.symbol, Some(0));
        assert!(s.last(Rule::MarginGuard, Action::Reduced).is_none());
        // at 90.8: 36.32 / 80 = 0.454 ≥ 0.4: cut to 100 × 0.3 / 0.454 = 66.079
        s.flat(90.8, 1);
        let e = s.last(Rule::MarginGuard, Action::Reduced).unwrap();
        assert!((e.value - 0.454).abs() < 1e-12, "{}", e.value);
        assert!((e.to - 100.0 * 0.3 / 0.454).abs() < 1e-9, "{}", e.to);
        // the order cuts 100 − 66.0793 = 33.9207, 33.920 at the lot step: 66.080 stay
        s.flat(90.8, 1);
        assert!((s.qty() - 66.08).abs() < 1e-9, "{}", s.qty());
        // the cut released margin in proportion (1,000 × 0.6608 = 660.8): at 90.8 the ratio
        // is 0.4 × 90.8 × 66.08 / (660.8 − 9.2 × 66.08) = 24.0 / 52.86 = 0.454, as before;
        // at 90.65: 23.961 / (660.8 − 617.848) = 23.961 / 42.952 = 0.5579, below the exit
        s.flat(90.65, 1);
        assert!(s.last(Rule::MarginGuard, Action::Closed).is_none());
        // at 90.55: 0.4 × 90.55 × 66.08 / (660.8 − 9.45 × 66.08) = 23.934 / 36.344 = 0.6586
        s.flat(90.55, 1);
        let e = s.last(Rule::MarginGuard, Action::Closed).unwrap();
        assert!((e.value - 0.6586).abs() < 1e-3, "{}", e.value);
        s.flat(90.55, 1);
        assert_eq!(s.qty(), 0.0);
        // flat, the position's unit reads 0: the halt lifts
        s.flat(90.55, 1);
        assert!(s.last(Rule::MarginGuard, Action::Resumed).is_some());
        assert!(s.risk.margin_halt().is_none());
    }

    #[test]
    fn isolated_guard_in_tier_2_counts_the_maintenance_amount() {
        // 1,000 BTC long at 100, 20x: notional 100,000 in tier 2 (0.5 %, amount 50), margin
        // 5,000. Ratio at m: (5·m − 50) / (5,000 + 1,000·(m − 100)) = (5·m − 50) / (1,000·m
        // − 95,000). Without the amount it would read 5·m / (…), higher.
        let mut s = sim(config(100_000.0, 20.0), MarginMode::Isolated);
        s.flat(100.0, 1);
        s.long(None, None);
        s.flat(100.0, 1);
        assert_eq!(s.qty(), 1_000.0);
        // at 96.6: 433 / 1,600 = 0.270625 < 0.3 (without the amount 483 / 1,600 = 0.302)
        s.flat(96.6, 1);
        assert!(s.last(Rule::MarginGuard, Action::Halted).is_none());
        // at 96.4: 432 / 1,400 = 0.308571
        s.flat(96.4, 1);
        let e = s.last(Rule::MarginGuard, Action::Halted).unwrap();
        assert!((e.value - 432.0 / 1_400.0).abs() < 1e-12, "{}", e.value);
        // at 96.0: 430 / 1,000 = 0.43: cut to 1,000 × 0.3 / 0.43 = 697.674
        s.flat(96.0, 1);
        let e = s.last(Rule::MarginGuard, Action::Reduced).unwrap();
        assert!((e.to - 300.0 / 0.43).abs() < 1e-9, "{}", e.to);
        // the order cuts 302.3256, 302.325 at the lot step
        s.flat(96.0, 1);
        assert!((s.qty() - 697.675).abs() < 1e-9, "{}", s.qty());
    }
}
