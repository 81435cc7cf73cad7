//! Breakers and guards: what the risk layer checks after every time step, and does on its own.
//!
//! Breakers halt new entries (exits and reductions always pass):
//! - `daily_loss_limit` / `weekly_loss_limit`: equity below the period's starting equity
//!   (the equity at the last close before the UTC day, or the UTC week from Monday, began)
//!   by the limit halts entries until the next period;
//! - `max_drawdown`: equity below the peak by the limit closes every position, cancels
//!   every order and halts for `drawdown_cooldown` (then the peak restarts from the equity
//!   at that time) or for good;
//! - `losing_streak`: that many losing trades in a row halt entries for
//!   `losing_streak_cooldown`;
//! - `volatility_halt`: while a symbol's short-window volatility exceeds the multiple of its
//!   long-run level, entries on it halt; on entering the halt its position is cut to
//!   `limit / ratio` of its size (exposure scaled down in proportion).
//!
//! Guards act on positions before the exchange does:
//! - **margin guard** on the margin ratio the exchange liquidates on — the account's in
//!   cross margin, each position's own in isolated margin — with three levels: halt
//!   entries, deleverage, exit (see `margin`).
//! - **liquidation-probability guard**: when the probability that the mark reaches a
//!   position's liquidation price within the horizon (see
//!   [`super::liquidation_probability`]) exceeds the limit, a cross-margin position is cut
//!   to the size whose liquidation price is at the safe distance; an isolated position is
//!   closed (cutting an isolated position releases its margin in proportion, which leaves
//!   its liquidation price, and so the probability, where it was). Per step the check is a
//!   comparison of the mark with a bound on the precomputed trigger price (see [`Trigger`]).
//!
//! A quiet step is told by precomputed thresholds — the breakers' equity floors, the margin
//! guard's band of ratios, the trigger's bound — each of which decides exactly as its full
//! check (property tests compare the two step by step).
//!
//! Actions are market orders filling at the next open.

use super::audit::{At, RiskEvent, Rule};
use super::entry::distance_slot;
use super::layer::{DAY, Held, RiskLayer};
use super::liquidation_probability::{
    DISTANCE_DRIFT_REUSE, LiquidationRisk, TRIGGER_VARIANCE_TOLERANCE, liquidation_probability,
};
use crate::exchange::Side;
use crate::exchange::account::MarginMode;
use crate::exchange::margin::max_cross_qty_f64 as max_cross_qty;
use crate::exchange::venue::Venue;

mod calm;
mod margin;
pub(super) use calm::{CalmZone, ZoneStep};
use margin::{MarginUnit, in_margin_band};

const DAILY: usize = 0;
const WEEKLY: usize = 1;
const DRAWDOWN: usize = 2;
const STREAK: usize = 3;
const BREAKER_RULES: [Rule; 4] = [
    Rule::DailyLossLimit,
    Rule::WeeklyLossLimit,
    Rule::MaxDrawdown,
    Rule::LosingStreak,
];

/// The breakers' state.
#[derive(Clone, Debug)]
pub(super) struct Breakers {
    /// USDT
    peak: f64,
    /// UTC day and Monday-based week numbers of the latest step, and the equity they began with
    day: i64,
    /// ms: the day's last close time (the next boundary)
    day_ends: i64,
    day_start: f64,
    week: i64,
    week_start: f64,
    /// USDT, at the previous step
    last_equity: f64,
    /// ms until which each breaker halts entries (0: not halted; `i64::MAX`: for good)
    until: [i64; 4],
    /// the earliest `until` in force, to check resumptions with one comparison
    next_resume: i64,
    /// the trade count when the losing streak last fired (one streak fires once)
    streak_fired_at: u32,
    /// USDT: the equity below which a daily or weekly loss limit not yet halted fires, and at
    /// or below which the drawdown kill switch fires (−∞ when off or halted), worked out at
    /// the end of each full check from its own products, so that a step above both floors,
    /// inside the same day, below the peak, before any resumption and with no trade closed
    /// since is known to fire nothing by three comparisons
    loss_floor: f64,
    drawdown_floor: f64,
    /// the trade count at the last full check
    checked_trades: u32,
    /// ms and USDT: when the kill switch halted for good (no cool-down), at what equity
    stopped: Option<(i64, f64)>,
}

impl Breakers {
    /// Whether a step closing at `time` with `equity` (USDT), after `trades` closed trades,
    /// leaves every breaker as it is: inside the day, no pause to lift, no new peak, above
    /// the loss and drawdown floors, no new trade to count.
    #[inline(always)]
    fn quiet(&self, time: i64, equity: f64, trades: u32) -> bool {
        time <= self.day_ends
            && time < self.next_resume
            && equity <= self.peak
            && equity >= self.loss_floor
            && equity > self.drawdown_floor
            && trades == self.checked_trades
    }

    /// ms: the latest step close that [`Breakers::quiet`]'s time tests let pass (time ≤
    /// `day_ends`, time < `next_resume`).
    fn quiet_until(&self) -> i64 {
        self.day_ends.min(self.next_resume.saturating_sub(1))
    }

    pub fn new(start: f64) -> Breakers {
        Breakers {
            peak: start,
            day: i64::MIN,
            day_ends: i64::MIN,
            day_start: start,
            week: i64::MIN,
            week_start: start,
            last_equity: start,
            until: [0; 4],
            next_resume: i64::MAX,
            streak_fired_at: u32::MAX,
            // the first step always takes the full check
            loss_floor: f64::INFINITY,
            drawdown_floor: f64::INFINITY,
            checked_trades: u32::MAX,
            stopped: None,
        }
    }

    fn halt(&mut self, which: usize, until: i64) {
        self.until[which] = until;
        self.next_resume = self.next_resume.min(until);
    }
}

/// The distance the liquidation-probability guard asks for, cached.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DistanceCache {
    pub valid: bool,
    /// the funding drift over the horizon in spreads (μ·T / σ√T) it was computed with
    pub drift: f64,
    /// the safe distance in spreads (σ√T); the log-distance is this × σ√T
    pub spreads: f64,
}

impl DistanceCache {
    /// Whether it serves a funding drift of `drift` spreads (within
    /// [`DISTANCE_DRIFT_REUSE`] of its own).
    #[inline(always)]
    pub fn covers(&self, drift: f64) -> bool {
        self.valid && (self.drift - drift).abs() <= DISTANCE_DRIFT_REUSE
    }
}

/// The guards' state.
#[derive(Clone, Debug)]
pub(super) struct GuardState {
    /// per symbol: long guard, long entry, short guard, short entry
    pub distance: Vec<[DistanceCache; 4]>,
    /// per symbol: the liquidation-probability guard's trigger
    trigger: Vec<Trigger>,
    /// per symbol: a guard's order waits for its fill
    pending: Vec<bool>,
    vol_halted: Vec<bool>,
    /// the margin guard's units: the account in cross margin (the first), each symbol's
    /// position in isolated
    pub margin: Vec<MarginUnit>,
}

/// The liquidation-probability guard's trigger for one position: the mark at which the
/// probability of liquidation within the horizon reaches the limit.
///
/// It is remade when the variance moves by more than [`TRIGGER_VARIANCE_TOLERANCE`] (2 %) from
/// the one it was made with (the distance, ∝ σ, by 1 %), or the funding or the liquidation
/// price changes. Remaking it
/// takes the distance (a sqrt, cached solution) but not yet its `exp`: while the mark stays
/// beyond `bound` — the trigger at a wider distance `bound_distance` ≥ `distance`, for the
/// same liquidation price — the trigger is not reached, whatever its exact value, so the
/// `exp` is taken only when the mark comes near.
///
/// Most remakes change nothing but the variance: the funding and the liquidation price are
/// the same, the cached solution still serves the new drift, and the new distance still
/// lies within the bound's. Over which variances that holds is worked out after each full
/// remake (`quiet`); a remake inside that range only records the variance, and the distance
/// is worked out from it when it is read (`lazy`) — the same figure the full remake would
/// have found, from the same variance, funding and cached solution.
#[derive(Clone, Copy, Debug)]
struct Trigger {
    /// the variance (per bar, fraction²), funding (fraction per day) and liquidation price
    /// (USDT) it was made from; NaN: not made yet
    var: f64,
    funding: f64,
    liquidation: f64,
    /// the safe log-distance from the liquidation price
    distance: f64,
    /// USDT, NaN until needed
    price: f64,
    /// the wider log-distance, the liquidation price and the sign it was made for, and the
    /// mark (USDT) at that distance
    bound_distance: f64,
    bound_liquidation: f64,
    bound_sign: f64,
    bound: f64,
    /// per-bar variances (fraction²) between which a remake is quiet (NaN: none)
    quiet: (f64, f64),
    /// `distance` not yet worked out for `var` (a quiet remake): it lies within the bound's
    lazy: bool,
}

impl Trigger {
    const NONE: Trigger = Trigger {
        var: f64::NAN,
        funding: f64::NAN,
        liquidation: f64::NAN,
        distance: f64::NAN,
        price: f64::NAN,
        bound_distance: f64::NAN,
        bound_liquidation: f64::NAN,
        bound_sign: f64::NAN,
        bound: f64::NAN,
        quiet: (f64::NAN, f64::NAN),
        lazy: false,
    };

    /// Whether the trigger must be remade for the present variance, funding and liquidation
    /// price (see [`Trigger`]).
    #[inline(always)]
    fn is_stale(&self, var: f64, funding: f64, liquidation: f64) -> bool {
        self.liquidation != liquidation
            || self.funding != funding
            || self.var.is_nan()
            || (var - self.var).abs() > self.tolerance()
    }

    /// How far (per-bar variance, fraction²) the variance may move from the trigger's before
    /// it is remade ([`TRIGGER_VARIANCE_TOLERANCE`]).
    #[inline(always)]
    fn tolerance(&self) -> f64 {
        TRIGGER_VARIANCE_TOLERANCE * self.var
    }

    /// Whether the bound shows that a mark (USDT) does not reach the trigger of a position
    /// of sign `sign` (+1 long) liquidated at `liquidation`: for a long the trigger is
    /// `liquidation × e^distance`, below the bound `liquidation × e^bound_distance`, and the
    /// mark is above the bound; for a short the same with `e^−distance`.
    #[inline(always)]
    fn bound_clears(&self, sign: f64, liquidation: f64, mark: f64) -> bool {
        self.bound_sign == sign
            && self.bound_liquidation == liquidation
            && self.within_bound()
            && sign * (mark - self.bound) > 0.0
    }

    /// Whether the distance lies within the bound's (a lazy one does, by its quiet range).
    #[inline(always)]
    fn within_bound(&self) -> bool {
        self.lazy || self.distance <= self.bound_distance
    }

    /// Remakes it quietly (see [`Trigger`]) if `var` is in its quiet range and the funding
    /// and liquidation price are its own: the variance alone is recorded.
    #[inline(always)]
    fn remake_quietly(&mut self, var: f64, funding: f64, liquidation: f64) -> bool {
        let quiet = self.funding == funding
            && self.liquidation == liquidation
            && var >= self.quiet.0
            && var <= self.quiet.1;
        if quiet {
            self.record_quiet_remake(var);
        }
        quiet
    }

    /// A quiet remake at `var`: the variance alone is recorded, the distance worked out when
    /// read.
    #[inline(always)]
    fn record_quiet_remake(&mut self, var: f64) {
        self.var = var;
        self.price = f64::NAN;
        self.lazy = true;
    }

    /// Makes the bound at half as far again as the distance (and at least 10⁻⁹ further, so
    /// that the two `exp`s are far apart in floating point and their order is certain).
    fn make_bound(&mut self, sign: f64, liquidation: f64) {
        let wider = self.distance + 0.5 * self.distance.abs() + 1e-9;
        self.bound_distance = wider;
        self.bound_liquidation = liquidation;
        self.bound_sign = sign;
        self.bound = liquidation * (sign * wider).exp();
    }
}

impl GuardState {
    pub fn new(n: usize) -> GuardState {
        GuardState {
            distance: vec![[DistanceCache::default(); 4]; n],
            trigger: vec![Trigger::NONE; n],
            pending: vec![false; n],
            vol_halted: vec![false; n],
            margin: vec![MarginUnit::NEW; n],
        }
    }

    pub fn position_changed(&mut self, symbol: usize) {
        self.pending[symbol] = false;
        self.trigger[symbol] = Trigger::NONE;
    }
}

impl RiskLayer {
    /// When a breaker stopped the bot for good (the kill switch without a cool-down): the
    /// rule, the time (ms) and the equity (USDT) then.
    pub fn stopped_for_good(&self) -> Option<(Rule, i64, f64)> {
        let (time, equity) = self.breakers.stopped?;
        Some((Rule::MaxDrawdown, time, equity))
    }

    /// The breaker or guard that halts entries on `symbol` now, if any.
    pub(super) fn entry_halt(&self, time: i64, symbol: usize) -> Option<(Rule, f64, f64)> {
        let b = &self.breakers;
        let c = &self.config;
        let loss = |start: f64| 1.0 - b.last_equity / start;
        let nan = f64::NAN;
        let found = [
            (loss(b.day_start), c.daily_loss_limit.unwrap_or(nan)),
            (loss(b.week_start), c.weekly_loss_limit.unwrap_or(nan)),
            (1.0 - b.last_equity / b.peak, c.max_drawdown.unwrap_or(nan)),
            (
                f64::from(self.trades.losing_streak),
                c.losing_streak.map_or(nan, f64::from),
            ),
        ];
        for (i, (value, limit)) in found.into_iter().enumerate() {
            // 0 is "not halted", whatever the time (a clock before 1970 is still a clock)
            if b.until[i] != 0 && b.until[i] > time {
                return Some((BREAKER_RULES[i], value, limit));
            }
        }
        if self.guards.vol_halted[symbol] {
            let ratio = self.estimates[symbol].volatility_ratio().unwrap_or(nan);
            return Some((
                Rule::VolatilityHalt,
                ratio,
                c.volatility_halt.unwrap_or(nan),
            ));
        }
        if let Some((ratio, level)) = self.margin_halt() {
            return Some((Rule::MarginGuard, ratio, level));
        }
        None
    }

    /// Periods, loss limits, the drawdown kill switch and the losing streak.
    #[inline(always)]
    pub(super) fn check_breakers(&mut self, time: i64, equity: f64, venue: &mut Venue) {
        if self.breakers.quiet(time, equity, self.trades.trades()) {
            self.breakers.last_equity = equity;
            return;
        }
        self.check_breakers_fully(time, equity, venue);
        self.set_breaker_floors();
    }

    /// The floors of [`Breakers::loss_floor`] and [`Breakers::drawdown_floor`], from the
    /// same products as the full check compares with.
    #[inline(never)]
    fn set_breaker_floors(&mut self) {
        let c = &self.config;
        let b = &mut self.breakers;
        let active = |limit: Option<f64>, which: usize| limit.filter(|_| b.until[which] == 0);
        let daily = active(c.daily_loss_limit, DAILY).map(|l| b.day_start * (1.0 - l));
        let weekly = active(c.weekly_loss_limit, WEEKLY).map(|l| b.week_start * (1.0 - l));
        let drawdown = active(c.max_drawdown, DRAWDOWN).map(|l| b.peak * (1.0 - l));
        let low = f64::NEG_INFINITY;
        b.loss_floor = daily.unwrap_or(low).max(weekly.unwrap_or(low));
        b.drawdown_floor = drawdown.unwrap_or(low);
        b.checked_trades = self.trades.trades();
    }

    /// Makes the next step take every full check — breakers, margin guard, and the exact
    /// liquidation trigger — instead of the quick ones (after a change of tiers; tests
    /// compare the two paths).
    pub(super) fn forget_quick_checks(&mut self) {
        self.breakers.checked_trades = u32::MAX;
        for unit in &mut self.guards.margin {
            unit.band = (f64::NAN, f64::NAN);
        }
        for t in &mut self.guards.trigger {
            t.bound = f64::NAN;
            t.quiet = (f64::NAN, f64::NAN);
        }
        self.drop_calm_zone();
    }

    #[inline(never)]
    fn check_breakers_fully(&mut self, time: i64, equity: f64, venue: &mut Venue) {
        let b = &mut self.breakers;
        // a bar closing at midnight belongs to the day it opened in; the division is done
        // only when a day boundary is passed
        if time > b.day_ends {
            let day = (time - 1).div_euclid(DAY);
            b.day_ends = (day + 1) * DAY;
            b.day = day;
            b.day_start = b.last_equity;
            // 1970-01-01 was a Thursday: +3 days puts week boundaries on Mondays
            let week = (day + 3).div_euclid(7);
            if week != b.week {
                b.week = week;
                b.week_start = b.last_equity;
            }
        }
        b.last_equity = equity;
        b.peak = b.peak.max(equity);
        if time >= b.next_resume {
            self.resume(time, equity);
        }
        let (daily, weekly, max_drawdown) = (
            self.config.daily_loss_limit,
            self.config.weekly_loss_limit,
            self.config.max_drawdown,
        );
        let b = &self.breakers;
        if let Some(limit) =
            daily.filter(|l| b.until[DAILY] == 0 && equity < b.day_start * (1.0 - l))
        {
            let value = 1.0 - equity / b.day_start;
            // lifted by the first step closing after midnight
            let until = (b.day + 1) * DAY + 1;
            self.breakers.halt(DAILY, until);
            self.record(RiskEvent::halted(
                At::guard(time, None),
                Rule::DailyLossLimit,
                value,
                limit,
            ));
        }
        let b = &self.breakers;
        if let Some(limit) =
            weekly.filter(|l| b.until[WEEKLY] == 0 && equity < b.week_start * (1.0 - l))
        {
            let value = 1.0 - equity / b.week_start;
            let until = (7 * (b.week + 1) - 3) * DAY + 1;
            self.breakers.halt(WEEKLY, until);
            self.record(RiskEvent::halted(
                At::guard(time, None),
                Rule::WeeklyLossLimit,
                value,
                limit,
            ));
        }
        let b = &self.breakers;
        if let Some(limit) =
            max_drawdown.filter(|l| b.until[DRAWDOWN] == 0 && equity <= b.peak * (1.0 - l))
        {
            self.kill(time, equity, limit, venue);
        }
        let c = &self.config;
        let streak = self.trades.losing_streak;
        let fires = c.losing_streak.filter(|&n| {
            streak >= n
                && self.breakers.until[STREAK] == 0
                && self.breakers.streak_fired_at != self.trades.trades()
        });
        if let Some(n) = fires {
            let until = time + c.losing_streak_cooldown;
            self.breakers.streak_fired_at = self.trades.trades();
            self.breakers.halt(STREAK, until);
            self.record(RiskEvent::halted(
                At::guard(time, None),
                Rule::LosingStreak,
                f64::from(streak),
                f64::from(n),
            ));
        }
    }

    /// The drawdown kill switch: cancel everything, close everything, halt.
    fn kill(&mut self, time: i64, equity: f64, limit: f64, venue: &mut Venue) {
        let value = 1.0 - equity / self.breakers.peak;
        let until = self.config.drawdown_cooldown.map_or(i64::MAX, |c| time + c);
        self.breakers.halt(DRAWDOWN, until);
        if until == i64::MAX {
            self.breakers.stopped = Some((time, equity));
        }
        self.record(RiskEvent::halted(
            At::guard(time, None),
            Rule::MaxDrawdown,
            value,
            limit,
        ));
        for symbol in 0..self.held.len() {
            venue.cancel_symbol(time, symbol);
            self.close(
                At::guard(time, Some(symbol)),
                symbol,
                Rule::MaxDrawdown,
                (value, limit),
                venue,
            );
        }
    }

    /// Lifts the breakers whose time has come.
    fn resume(&mut self, time: i64, equity: f64) {
        let mut next = i64::MAX;
        for (i, rule) in BREAKER_RULES.into_iter().enumerate() {
            let until = self.breakers.until[i];
            if until == 0 {
                continue;
            }
            if until > time {
                next = next.min(until);
                continue;
            }
            self.breakers.until[i] = 0;
            if i == DRAWDOWN {
                self.breakers.peak = equity;
            }
            self.record(RiskEvent::resumed(At::guard(time, None), rule));
        }
        self.breakers.next_resume = next;
    }

    /// The liquidation-probability guard: per open position and step, a few comparisons
    /// while the mark stays beyond the trigger's bound.
    #[inline(always)]
    pub(super) fn check_liquidation_guard(&mut self, time: i64, venue: &mut Venue) {
        if self.config.liquidation_probability.is_none() {
            return;
        }
        for s in 0..self.held.len() {
            let Some(h) = &self.held[s] else { continue };
            let (sign, liquidation) = (h.sign, h.liquidation);
            if !self.trigger_watches(s, h) {
                continue;
            }
            // The trigger is remade as [`Trigger`] says; its exact value is worked out only
            // when the mark is not beyond its bound.
            let var = self.estimates[s].variances().0;
            let funding = self.funding[s].map_or(0.0, |f| f.per_day);
            let stale = self.guards.trigger[s].is_stale(var, funding, liquidation);
            if stale && !self.remake_trigger(s, var, funding) {
                continue;
            }
            if self.guards.trigger[s].bound_clears(sign, liquidation, self.marks[s]) {
                continue;
            }
            self.near_trigger(time, s, venue);
        }
    }

    /// Whether the liquidation trigger watches the position `h` of `s`: the guard is on, no
    /// guard order of its own waits for a fill, and a price liquidates it.
    #[inline(always)]
    fn trigger_watches(&self, s: usize, h: &Held) -> bool {
        self.config.liquidation_probability.is_some()
            && !(self.guards.pending[s] || h.liquidation.is_nan() || h.liquidation <= 0.0)
    }

    /// A new trigger for the held position of `s` from the present variance and funding;
    /// false while the variance is not known yet. A quiet remake (see [`Trigger`]) records
    /// the variance alone.
    #[inline(never)]
    fn remake_trigger(&mut self, s: usize, var: f64, funding: f64) -> bool {
        let Some(h) = self.held[s] else {
            return false;
        };
        if self.guards.trigger[s].remake_quietly(var, funding, h.liquidation) {
            return true;
        }
        let side = if h.sign > 0.0 {
            Side::Long
        } else {
            Side::Short
        };
        let Some(d) = self.safe_distance(s, side, false) else {
            return false;
        };
        let t = &mut self.guards.trigger[s];
        t.var = var;
        t.funding = funding;
        t.liquidation = h.liquidation;
        t.distance = d;
        t.price = f64::NAN;
        t.lazy = false;
        let quiet = self.quiet_remakes(s, side);
        self.guards.trigger[s].quiet = quiet;
        true
    }

    /// The per-bar variances around the trigger's over which remaking it would change
    /// nothing but its variance: the spread stays positive, the guard's cached solution
    /// still serves the drift, and the distance stays within the bound's. Each of the three
    /// is a monotone function of the variance in floating point (products, a square root,
    /// a quotient), so each holds over a range of variances, and holding at both ends of
    /// the candidate range means holding over all of it. The candidate ends are found in
    /// real arithmetic and pulled in by a millionth. NaN: none.
    fn quiet_remakes(&self, s: usize, side: Side) -> (f64, f64) {
        let none = (f64::NAN, f64::NAN);
        let t = &self.guards.trigger[s];
        let cache = self.guards.distance[s][distance_slot(side, false)];
        if !(cache.valid && t.distance <= t.bound_distance && cache.spreads != 0.0) {
            return none;
        }
        // spread² = var · bars a day · horizon
        let per_var = self.bars_per_day * self.horizon_days;
        let var_at = |spread: f64| spread * spread / per_var;
        let range = narrowed(t.var, (0.0, 4.0 * t.var), |narrow| {
            narrow(var_at(t.bound_distance / cache.spreads));
            // drift = funding · horizon / spread, at the cache's drift ± the reuse
            let push = t.funding * self.horizon_days;
            let reuse = DISTANCE_DRIFT_REUSE;
            for drift in [cache.drift - reuse, cache.drift + reuse] {
                let spread = push / drift;
                if spread > 0.0 {
                    narrow(var_at(spread));
                }
            }
        });
        let Some((low, high)) = range else {
            return none;
        };
        let quiet = |var: f64| {
            let (spread, drift) = self.spread_and_drift(var, t.funding);
            spread > 0.0 && cache.covers(drift) && cache.spreads * spread <= t.bound_distance
        };
        if quiet(low) && quiet(high) {
            (low, high)
        } else {
            none
        }
    }

    /// Works out the distance of a trigger remade quietly, from the same figures as a full
    /// remake (the cached solution serves it unchanged); `limit` is the guard's.
    fn work_out_lazy_distance(&mut self, s: usize, side: Side, limit: f64) {
        let t = self.guards.trigger[s];
        if t.lazy {
            let d = self.safe_distance_at(s, side, false, limit, t.var, t.funding);
            let t = &mut self.guards.trigger[s];
            t.distance = d;
            t.lazy = false;
        }
    }

    /// The trigger's distance of `s` (worked out if lazy), for tests comparing quiet and
    /// full remakes; NaN when there is none.
    #[cfg(test)]
    pub(super) fn trigger_distance(&mut self, s: usize) -> f64 {
        let (Some(h), Some(limit)) = (self.held[s], self.config.liquidation_probability) else {
            return f64::NAN;
        };
        let side = if h.sign > 0.0 {
            Side::Long
        } else {
            Side::Short
        };
        self.work_out_lazy_distance(s, side, limit);
        self.guards.trigger[s].distance
    }

    /// The mark of `s` is within the trigger's bound: the exact trigger decides.
    #[inline(never)]
    fn near_trigger(&mut self, time: i64, s: usize, venue: &mut Venue) {
        let (Some(h), Some(threshold)) = (self.held[s], self.config.liquidation_probability) else {
            return;
        };
        let side = if h.sign > 0.0 {
            Side::Long
        } else {
            Side::Short
        };
        let mark = self.marks[s];
        self.work_out_lazy_distance(s, side, threshold);
        let t = &mut self.guards.trigger[s];
        if t.price.is_nan() {
            t.price = h.liquidation * (h.sign * t.distance).exp();
            // the mark came within the bound: make it again around this distance, so a bound
            // left loose by a fall in volatility tightens
            t.make_bound(h.sign, h.liquidation);
            // the quiet range was worked out for the old bound
            t.quiet = (f64::NAN, f64::NAN);
        }
        if h.sign * (mark - t.price) > 0.0 {
            return;
        }
        self.guards.pending[s] = true;
        let probability = self.probability_now(s, side, h.liquidation);
        match self.mode {
            MarginMode::Isolated => {
                self.close(
                    At::guard(time, Some(s)),
                    s,
                    Rule::LiquidationProbability,
                    (probability, threshold),
                    venue,
                );
            }
            MarginMode::Cross => {
                let own_upnl = h.unrealised(mark);
                let backing = self.equity() - own_upnl - self.maintenance(Some(s));
                let tier = self.tier(s, h.qty * mark);
                let Some(d) = self.safe_distance(s, side, false) else {
                    return;
                };
                let limit = mark * (-h.sign * d).exp();
                let to = max_cross_qty(h.sign, h.entry, limit, backing, tier.rate, tier.amount)
                    .min(h.qty);
                let why = (probability, threshold);
                self.reduce_to(
                    At::guard(time, Some(s)),
                    s,
                    Rule::LiquidationProbability,
                    to,
                    why,
                    venue,
                );
            }
        }
    }

    /// The probability of liquidation within the horizon at the current mark (for events).
    fn probability_now(&self, s: usize, side: Side, liquidation: f64) -> f64 {
        self.probability_from(s, side, self.marks[s], liquidation)
    }

    /// The probability that `s`'s mark goes from `price` to `liquidation` within the
    /// horizon (USDT; for events).
    pub(super) fn probability_from(
        &self,
        s: usize,
        side: Side,
        price: f64,
        liquidation: f64,
    ) -> f64 {
        let var = self.estimates[s].bar_variance().unwrap_or(0.0);
        liquidation_probability(&LiquidationRisk {
            side,
            price,
            liquidation,
            daily_vol: (var * self.bars_per_day).sqrt(),
            horizon_days: self.horizon_days,
            drift_per_day: 0.0,
            funding_per_day: self.funding[s].map_or(0.0, |f| f.per_day),
        })
    }

    /// Halts entries per symbol while its volatility runs hot, cutting the position on entry.
    #[inline(always)]
    pub(super) fn check_volatility_halt(&mut self, time: i64, venue: &mut Venue) {
        let Some(limit) = self.config.volatility_halt else {
            return;
        };
        for s in 0..self.estimates.len() {
            let over = volatility_over(&self.estimates[s], limit);
            if over != self.guards.vol_halted[s] {
                self.volatility_halt_changed(time, s, over, limit, venue);
            }
        }
    }
    /// The halt on `symbol` starts (`over`) or ends: recorded, and a position scaled down.
    #[inline(never)]
    fn volatility_halt_changed(
        &mut self,
        time: i64,
        s: usize,
        over: bool,
        limit: f64,
        venue: &mut Venue,
    ) {
        let (short, long) = self.estimates[s].variances();
        self.guards.vol_halted[s] = over;
        let ratio = (short / long).sqrt();
        let (at, rule) = (At::guard(time, Some(s)), Rule::VolatilityHalt);
        self.record(if over {
            RiskEvent::halted(at, rule, ratio, limit)
        } else {
            RiskEvent::resumed(at, rule)
        });
        if let (true, Some(h)) = (over, self.held[s]) {
            let to = h.qty * limit / ratio;
            self.reduce_to(
                At::guard(time, Some(s)),
                s,
                Rule::VolatilityHalt,
                to,
                (ratio, limit),
                venue,
            );
        }
    }
}

/// Whether short-span volatility is past `limit` times the long-run level, compared as
/// variances (no square root per bar).
#[inline(always)]
fn volatility_over(e: &super::estimators::SymbolEstimates, limit: f64) -> bool {
    let (short, long) = e.variances();
    short > limit * limit * long && e.volatility_ready()
}

/// The range around `center` left by the thresholds `edges` hands to its argument (each
/// narrows `start` on its side of the center), pulled in by a millionth of each end's
/// distance to the center; `None` when a threshold is the center itself. The calm zone's
/// marks and the trigger's quiet variances are both found this way, then checked at the
/// ends.
fn narrowed(
    center: f64,
    start: (f64, f64),
    edges: impl FnOnce(&mut dyn FnMut(f64)),
) -> Option<(f64, f64)> {
    let (mut low, mut high) = start;
    edges(&mut |edge: f64| {
        if edge > center {
            high = high.min(edge);
        } else if edge < center {
            low = low.max(edge);
        } else if edge == center {
            (low, high) = (center, center);
        }
    });
    (low < center && center < high)
        .then_some((low + 1e-6 * (center - low), high - 1e-6 * (high - center)))
}
