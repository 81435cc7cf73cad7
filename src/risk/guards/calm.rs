//! Calm steps of a one-symbol layer: most steps of a backtest act on nothing, and telling
//! them apart is most of the risk layer's cost per bar.
//!
//! Two tiers, both exact (a step is calm only if every full check would find nothing to do):
//! - [`RiskLayer::calm_step`] runs the breakers' quick test, the volatility halt's
//!   comparison and, with a position, the margin guard's band and the liquidation trigger's
//!   bound, in one pass with no per-symbol loop. Every test is the full checks' own
//!   ([`Breakers::quiet`], [`volatility_over`], [`in_margin_band`], [`Trigger::is_stale`],
//!   [`Trigger::bound_clears`]).
//! - After a calm step, a [`CalmZone`] is made: the marks between which each of those tests
//!   still passes. While the following steps stay in it (same day, no trade closed, mark
//!   inside, the trigger's variance within its tolerance), a step is a few comparisons and
//!   the volatility halt's. The figures a calm step keeps (the equity, the margin terms) are
//!   only read once the zone is dropped or rolled over, so a zone step notes its mark and
//!   they are worked out from the latest one then, as the calm step works them out. When
//!   only the trigger's variance moves past its tolerance, the trigger is remade quietly
//!   where it can be (see [`Trigger`]) and the zone follows it.
//!
//! How a zone is known to be right: its edges come from the tests' thresholds in real
//! arithmetic (the mark at which equity meets a breaker's floor or the peak, the margin
//! ratio meets a level, the notional leaves its tier, the mark meets the trigger's bound),
//! pulled in by a millionth of their distance to the mark. The edges are then accepted
//! only if the tests, in floating point, pass at both of them. Floating-point rounding is
//! monotone, so each quantity the tests compare is monotone in the mark (the equity
//! `wallet + sign·qty·(mark − entry)`, the maintenance `qty·mark·rate − amount`, the tier,
//! `sign·(mark − bound)`); a test passing at both edges passes everywhere between. The margin
//! band compares two of them (maintenance and a level times equity) that move together; it
//! is checked with the worst pairing of their values at the edges, which is stricter, and the
//! zone is narrowed (to a quarter, up to four times) until it passes. The trigger's
//! staleness is tested each step with [`Trigger::is_stale`]'s own comparison.
//!
//! A zone is dropped by anything that changes what it was made from: an account change
//! (wallet, position, liquidation price), a signal, a funding settlement, a step that was
//! not calm (the full checks may move floors, bands and triggers).

use super::{Trigger, in_margin_band, narrowed, volatility_over};
use crate::exchange::venue::Venue;
use crate::risk::estimators::SymbolEstimates;
use crate::risk::layer::{Held, RiskLayer, TierF, tier_index};

/// Calm steps to let pass before trying again after a zone could not be made (the mark was
/// within a hair of a threshold).
const ZONE_RETRY_STEPS: u32 = 16;

/// The marks between which a one-symbol layer's step is calm (see the
/// module's doc), with what the calm step's figures are worked out from.
#[derive(Clone, Copy, Debug)]
pub(in crate::risk) struct CalmZone {
    /// ms: the latest step close it covers (the day's last close, or the last before a
    /// breaker's resumption); `i64::MIN`: no zone
    until: i64,
    /// closed trades when it was made
    trades: u32,
    /// USDT: the mark lies strictly between
    low: f64,
    high: f64,
    /// USDT: the marks over which the guards leave the position alone (the breakers' range,
    /// which a new day moves, narrows it to `low`, `high`)
    guard_low: f64,
    guard_high: f64,
    /// the liquidation trigger's variance (per bar over the short span, fraction²) and its
    /// tolerance: the trigger stays fresh while the variance is within it, as
    /// [`Trigger::is_stale`] tells (0 and ∞ when no trigger watches the position)
    trigger_var: f64,
    tolerance: f64,
    /// the trigger's quiet variances (see [`Trigger`]; NaN when no trigger watches), which
    /// the zone's life does not change
    quiet: (f64, f64),
    /// USDT
    wallet: f64,
    held: Option<Held>,
    /// whether the volatility halt was on (only the full checks turn it on or off)
    vol_halted: bool,
    /// the bracket tier of every mark inside, when the margin guard is on and a position held
    tier: Option<TierF>,
    /// calm steps left before a zone is made again, after one could not be made
    wait: u32,
    /// USDT: the mark of the latest zone step, whose figures (the equity and margin terms a
    /// calm step keeps) are worked out only when read, by [`RiskLayer::keep_zone_figures`];
    /// NaN: none waiting
    figures_at: f64,
}

impl CalmZone {
    pub const NONE: CalmZone = CalmZone {
        until: i64::MIN,
        trades: 0,
        low: f64::NAN,
        high: f64::NAN,
        guard_low: f64::NAN,
        guard_high: f64::NAN,
        trigger_var: f64::NAN,
        tolerance: f64::NAN,
        quiet: (f64::NAN, f64::NAN),
        wallet: f64::NAN,
        held: None,
        vol_halted: false,
        tier: None,
        wait: 0,
        figures_at: f64::NAN,
    };
}

/// What the calm zone finds at a step.
pub(in crate::risk) enum ZoneStep {
    /// inside: the step is done
    Calm,
    /// inside but for its time (a new day, or a breaker's resumption, has come)
    NewPeriod,
    /// outside (or no zone): the calm step and, failing it, the full checks run
    Miss,
}

/// What the calm checks find at a step.
#[derive(Clone, Copy, Debug)]
enum Calm {
    /// a check would look further: the full checks run
    No,
    /// the liquidation trigger must be remade (from this variance and funding) first
    StaleTrigger { var: f64, funding: f64 },
    /// every check holds: the equity (USDT) and, with the margin guard on and a position,
    /// the margin terms (maintenance, equity) the checks keep
    Yes {
        equity: f64,
        margin_terms: Option<(f64, f64)>,
    },
}

impl RiskLayer {
    /// Drops the calm zone (what it was made from is changing), keeping first the figures
    /// its latest step left waiting.
    #[inline(always)]
    pub(in crate::risk) fn drop_calm_zone(&mut self) {
        self.keep_zone_figures();
        self.zone.until = i64::MIN;
    }

    /// Keeps the figures of the latest zone step, if they wait (see
    /// [`CalmZone::figures_at`]): what that step would have kept, from the same wallet,
    /// position, tier and mark. Every reader of the kept figures (the breakers' full check,
    /// an entry's halt test) runs after the zone is dropped or rolled over, which calls this.
    #[inline(always)]
    fn keep_zone_figures(&mut self) {
        let mark = self.zone.figures_at;
        if !mark.is_nan() {
            self.keep_zone_figures_at(mark);
        }
    }

    /// [`RiskLayer::keep_zone_figures`]' work, out of the step's line: the figures at `mark`.
    #[inline(never)]
    fn keep_zone_figures_at(&mut self, mark: f64) {
        let (equity, margin_terms) = self.zone_figures(mark);
        self.breakers.last_equity = equity;
        if let Some(terms) = margin_terms {
            self.guards.margin[0].terms = terms;
        }
        self.zone.figures_at = f64::NAN;
    }

    /// What the calm zone finds at this step (closing at `time`, ms); on [`ZoneStep::Calm`]
    /// the figures a calm step keeps wait, to be worked out as it works them out when read
    /// (see [`CalmZone::figures_at`]).
    #[inline(always)]
    pub(in crate::risk) fn zone_step(&mut self, time: i64) -> ZoneStep {
        if time > self.zone.until {
            // no zone (as always with several symbols), or a new period
            if self.zone.until == i64::MIN {
                return ZoneStep::Miss;
            }
            return self.zone_step_past_its_time();
        }
        let (Some(&mark), Some(e)) = (self.marks.first(), self.estimates.first()) else {
            return ZoneStep::Miss;
        };
        if !self.inside_calm_zone(mark, e) {
            return ZoneStep::Miss;
        }
        // last, as the calm step looks at the trigger last
        if !self.zone_keeps_trigger(e.variances().0) {
            return ZoneStep::Miss;
        }
        debug_assert!(
            {
                let (equity, margin_terms) = self.zone_figures(mark);
                self.calm_figures_are(time, equity, margin_terms)
            },
            "the calm zone and the calm step disagree at {time}"
        );
        self.zone.figures_at = mark;
        ZoneStep::Calm
    }

    /// Whether the zone's tests but those of the time and the trigger's variance pass at
    /// `mark` (USDT) with the symbol's estimates `e`: no trade closed, the mark inside, the
    /// volatility halt as it was.
    #[inline(always)]
    fn inside_calm_zone(&self, mark: f64, e: &SymbolEstimates) -> bool {
        let z = &self.zone;
        if self.trades.trades() != z.trades {
            return false;
        }
        if !(mark > z.low && mark < z.high) {
            return false;
        }
        match self.config.volatility_halt {
            Some(limit) => volatility_over(e, limit) == z.vol_halted,
            None => true,
        }
    }

    /// [`RiskLayer::zone_step`] past a zone's time: a new period if its other tests pass.
    #[inline(never)]
    fn zone_step_past_its_time(&self) -> ZoneStep {
        match (self.marks.first(), self.estimates.first()) {
            (Some(&mark), Some(e)) if self.inside_calm_zone(mark, e) => ZoneStep::NewPeriod,
            _ => ZoneStep::Miss,
        }
    }

    /// Whether the liquidation trigger stays fresh at the variance `var` (compared as
    /// [`Trigger::is_stale`] compares; the zone's life keeps the funding and liquidation
    /// price), or was remade quietly where the calm step would remake it.
    #[inline(always)]
    fn zone_keeps_trigger(&mut self, var: f64) -> bool {
        let z = &self.zone;
        let stale = (var - z.trigger_var).abs() > z.tolerance;
        !stale || self.zone_follows_variance(var)
    }

    /// The equity (USDT) at `mark` and, with the margin guard on and a position, the margin
    /// terms, from the zone's wallet, position and tier: as the calm step adds them up.
    #[inline(always)]
    fn zone_figures(&self, mark: f64) -> (f64, Option<(f64, f64)>) {
        let z = &self.zone;
        let mut equity = z.wallet;
        let mut margin_terms = None;
        if let Some(h) = z.held {
            equity += h.unrealised(mark);
            if let Some(t) = z.tier {
                // as [`RiskLayer::check_margin_guard`] adds them up
                let balance = self.margin_base(z.wallet, &h) + h.unrealised(mark);
                margin_terms = Some((0.0 + h.maintenance_in(mark, t), balance));
            }
        }
        (equity, margin_terms)
    }

    /// A step inside the zone in all but its time: a new UTC day (or a breaker's resumption)
    /// has come. The breakers take their full check, as on any step that is not calm; when
    /// none of them fires, the guards find what the zone found for this mark (the trigger is
    /// remade, quietly, where the full check would remake it), so the step is done and the
    /// zone carries on with the breakers' new marks. When one fires, or the trigger needs a
    /// full remake, the rest of the full checks run and the zone is dropped.
    #[inline(never)]
    pub(in crate::risk) fn roll_calm_zone_over(&mut self, time: i64, venue: &mut Venue) {
        // the breakers' full check reads the previous step's equity
        self.keep_zone_figures();
        self.mode = venue.config.mode;
        let mark = self.marks[0];
        let (equity, margin_terms) = self.zone_figures(mark);
        let recorded = self.audit.recorded();
        self.check_breakers(time, equity, venue);
        let calm = self.audit.recorded() == recorded
            && self.zone_keeps_trigger(self.estimates[0].variances().0);
        if !calm {
            self.drop_calm_zone();
            self.checks_after_breakers(time, equity, venue);
            return;
        }
        // the margin guard's full check would keep these; the liquidation trigger's bound
        // clears this mark, and the volatility halt stands
        if let Some(terms) = margin_terms {
            self.guards.margin[0].terms = terms;
        }
        debug_assert!(
            self.calm_figures_are(time, equity, margin_terms),
            "a new period in the calm zone is not calm at {time}"
        );
        let b = &self.breakers;
        let range = match self.zone.held {
            Some(h) => self.breaker_marks(&h, mark),
            None => b
                .quiet(time, equity, b.checked_trades)
                .then_some((f64::NEG_INFINITY, f64::INFINITY)),
        };
        let Some((low, high)) = range else {
            return self.drop_calm_zone();
        };
        let (until, trades) = (b.quiet_until(), b.checked_trades);
        let z = &mut self.zone;
        (z.until, z.trades) = (until, trades);
        z.low = low.max(z.guard_low);
        z.high = high.min(z.guard_high);
        if !(mark > z.low && mark < z.high && time <= until) {
            self.drop_calm_zone();
        }
    }

    /// The liquidation trigger went stale (the variance `var` moved past its tolerance)
    /// while every other test holds: the calm step would remake it here. A quiet remake (see
    /// [`Trigger`]) changes nothing the zone was made from — the bound and the marks it
    /// clears stay, the distance stays within the bound's — and the zone follows the new
    /// variance. False otherwise (the zone is dropped, and the calm step remakes it fully).
    ///
    /// The trigger was fresh when the zone was made, so its funding and liquidation price
    /// are the zone's, and its quiet range is the zone's copy: a zone's life changes none of
    /// them (a settlement or an account change drops it; a full remake runs only after a
    /// drop). The remake's test is then the quiet range alone.
    #[inline(always)]
    fn zone_follows_variance(&mut self, var: f64) -> bool {
        let z = &mut self.zone;
        if !(var >= z.quiet.0 && var <= z.quiet.1) {
            return false;
        }
        let Some(t) = self.guards.trigger.first_mut() else {
            return false;
        };
        debug_assert!(
            Some(t.funding) == self.funding.first().map(|f| f.map_or(0.0, |f| f.per_day))
                && z.held.is_some_and(|h| h.liquidation == t.liquidation)
                && t.quiet.0.to_bits() == z.quiet.0.to_bits()
                && t.quiet.1.to_bits() == z.quiet.1.to_bits(),
            "the trigger moved under the calm zone"
        );
        t.record_quiet_remake(var);
        z.trigger_var = t.var;
        z.tolerance = t.tolerance();
        true
    }

    /// All of a step's checks for a layer of one symbol when none of them acts (see the
    /// module's doc). True when every one holds, with the figures the checks keep each step
    /// kept, and a calm zone made; false as soon as one would look further — the full checks
    /// then run, from the start, and find the same (the one change made on the way, a
    /// trigger remade, is the one they would make, from the same figures, so they find it
    /// fresh).
    #[inline(always)]
    pub(in crate::risk) fn calm_step(&mut self, time: i64) -> bool {
        let mut found = self.calm_figures(time);
        if let Calm::StaleTrigger { var, funding } = found {
            self.remake_trigger(0, var, funding);
            found = self.calm_figures(time);
        }
        let Calm::Yes {
            equity,
            margin_terms,
        } = found
        else {
            return false;
        };
        self.breakers.last_equity = equity;
        if let Some(terms) = margin_terms {
            self.guards.margin[0].terms = terms;
        }
        if self.zone.wait > 0 {
            self.zone.wait -= 1;
        } else if let Some(zone) = self.calm_zone() {
            self.zone = zone;
        } else {
            self.zone.wait = ZONE_RETRY_STEPS;
        }
        true
    }

    /// What the calm checks find at a step closing at `time` (ms), changing nothing.
    #[inline(always)]
    fn calm_figures(&self, time: i64) -> Calm {
        let g = &self.guards;
        // every per-symbol vector has one entry then; those read only with a position are
        // indexed there
        let ([held], [mark], [estimates], [vol_halted]) = (
            &self.held[..],
            &self.marks[..],
            &self.estimates[..],
            &g.vol_halted[..],
        ) else {
            return Calm::No;
        };
        let (held, mark) = (*held, *mark);
        if self.holding != held.is_some() {
            return Calm::No;
        }
        // as [`RiskLayer::equity`] adds it up
        let mut equity = self.wallet;
        if let Some(h) = held {
            equity += h.unrealised(mark);
        }
        if !self.breakers.quiet(time, equity, self.trades.trades()) {
            return Calm::No;
        }
        if let Some(limit) = self.config.volatility_halt
            && volatility_over(estimates, limit) != *vol_halted
        {
            return Calm::No;
        }
        let Some(h) = held else {
            if g.margin[0].engaged() {
                // the margin guard's full check lifts it
                return Calm::No;
            }
            return Calm::Yes {
                equity,
                margin_terms: None,
            };
        };
        let mut margin_terms = None;
        if self.margin_guard_on() {
            // as [`RiskLayer::check_margin_guard`] adds them up
            let maint = 0.0 + h.maintenance(mark, &self.tiers[0]);
            let balance = self.margin_base(self.wallet, &h) + h.unrealised(mark);
            if !in_margin_band(maint, balance, g.margin[0].band) {
                return Calm::No;
            }
            margin_terms = Some((maint, balance));
        }
        if self.trigger_watches(0, &h) {
            let var = estimates.variances().0;
            let funding = self.funding[0].map_or(0.0, |f| f.per_day);
            let t = &g.trigger[0];
            if t.is_stale(var, funding, h.liquidation) {
                // while the variance is not known there is no trigger, and nothing to check
                if estimates.bar_variance().is_some() {
                    return Calm::StaleTrigger { var, funding };
                }
            } else if !t.bound_clears(h.sign, h.liquidation, mark) {
                return Calm::No;
            }
        }
        Calm::Yes {
            equity,
            margin_terms,
        }
    }

    /// For the zone's debug check: whether the calm checks find this step calm, with these
    /// figures to the bit.
    fn calm_figures_are(&self, time: i64, equity: f64, terms: Option<(f64, f64)>) -> bool {
        let bits = |t: Option<(f64, f64)>| t.map(|(a, b)| (a.to_bits(), b.to_bits()));
        match self.calm_figures(time) {
            Calm::Yes {
                equity: e,
                margin_terms,
            } => e.to_bits() == equity.to_bits() && bits(margin_terms) == bits(terms),
            _ => false,
        }
    }

    /// The calm zone around the present step, which the calm checks have just found calm;
    /// `None` when it cannot be made (the variance not known yet, or the mark within a hair
    /// of a threshold).
    fn calm_zone(&self) -> Option<CalmZone> {
        let ([held], [mark], [tiers], [vol_halted]) = (
            &self.held[..],
            &self.marks[..],
            &self.tiers[..],
            &self.guards.vol_halted[..],
        ) else {
            return None;
        };
        let b = &self.breakers;
        let mut zone = CalmZone {
            until: b.quiet_until(),
            trades: b.checked_trades,
            low: f64::NEG_INFINITY,
            high: f64::INFINITY,
            guard_low: f64::NEG_INFINITY,
            guard_high: f64::INFINITY,
            trigger_var: 0.0,
            tolerance: f64::INFINITY,
            quiet: (f64::NAN, f64::NAN),
            wallet: self.wallet,
            held: *held,
            vol_halted: *vol_halted,
            tier: None,
            wait: 0,
            figures_at: f64::NAN,
        };
        // flat, the equity is the wallet and every test but the time's and the trade
        // count's stays as it was found
        let Some(h) = *held else { return Some(zone) };
        let mark = *mark;
        if self.margin_guard_on() {
            zone.tier = Some(tiers[tier_index(tiers, h.qty * mark)]);
        }
        let trigger = self.trigger_watches(0, &h).then(|| &self.guards.trigger[0]);
        if let Some(t) = trigger {
            if t.var.is_nan() {
                return None;
            }
            // fresh now (the calm checks just found it so), with this funding and liquidation
            // price, which the zone's life does not change
            (zone.trigger_var, zone.tolerance) = (t.var, t.tolerance());
            zone.quiet = t.quiet;
        }
        (zone.guard_low, zone.guard_high) = self.guard_marks(&h, mark, tiers, trigger)?;
        let (low, high) = self.breaker_marks(&h, mark)?;
        zone.low = low.max(zone.guard_low);
        zone.high = high.min(zone.guard_high);
        Some(zone)
    }

    /// The marks (USDT) around `mark` over which no breaker fires for the position `h`: the
    /// equity stays within the floors and the peak (see the module's doc).
    fn breaker_marks(&self, h: &Held, mark: f64) -> Option<(f64, f64)> {
        let b = &self.breakers;
        let (low, high) = narrowed(mark, (0.5 * mark, 2.0 * mark), |narrow| {
            let w0 = self.wallet - h.sign * h.qty * h.entry;
            narrow((b.peak - w0) / (h.sign * h.qty));
            narrow((b.loss_floor.max(b.drawdown_floor) - w0) / (h.sign * h.qty));
        })?;
        let quiet = |m: f64| {
            let e = self.wallet + h.unrealised(m);
            e <= b.peak && e >= b.loss_floor && e > b.drawdown_floor
        };
        (quiet(low) && quiet(high)).then_some((low, high))
    }

    /// The marks (USDT) around `mark` over which neither the margin guard (with `tiers`'
    /// tier at `mark`, when it is on) nor the liquidation trigger (when it watches) acts for
    /// the position `h`.
    fn guard_marks(
        &self,
        h: &Held,
        mark: f64,
        tiers: &[TierF],
        trigger: Option<&Trigger>,
    ) -> Option<(f64, f64)> {
        let margin = self.margin_guard_on();
        let (mut low, mut high) = narrowed(mark, (0.5 * mark, 2.0 * mark), |narrow| {
            // the margin balance = w0 + sign·qty·mark
            let w0 = self.margin_base(self.wallet, h) - h.sign * h.qty * h.entry;
            if margin {
                let i = tier_index(tiers, h.qty * mark);
                let t = tiers[i];
                if i > 0 {
                    narrow(tiers[i - 1].cap / h.qty);
                }
                if i + 1 < tiers.len() {
                    narrow(t.cap / h.qty);
                }
                narrow(-w0 / (h.sign * h.qty));
                // qty·mark·rate − amount = level·(w0 + sign·qty·mark)
                let (band_low, band_high) = self.guards.margin[0].band;
                for level in [band_low, band_high] {
                    if level.is_finite() {
                        narrow(crate::exchange::margin::mark_at_margin_ratio_f64(
                            h.sign, h.qty, w0, t.rate, t.amount, level,
                        ));
                    }
                }
            }
            if let Some(t) = trigger {
                narrow(t.bound);
            }
        })?;
        for _ in 0..4 {
            if self.guards_hold_between(h, (low, high), margin.then_some(tiers), trigger) {
                return Some((low, high));
            }
            low = mark - 0.25 * (mark - low);
            high = mark + 0.25 * (high - mark);
        }
        None
    }

    /// Whether the margin guard (with `tiers`, when on) and the liquidation `trigger` (when
    /// it watches) leave the position `h` alone at every mark from `low` to `high` (USDT),
    /// told from the two edges (see the module's doc).
    fn guards_hold_between(
        &self,
        h: &Held,
        (low, high): (f64, f64),
        tiers: Option<&[TierF]>,
        trigger: Option<&Trigger>,
    ) -> bool {
        if let Some(tiers) = tiers {
            let base = self.margin_base(self.wallet, h);
            let equity = |mark: f64| base + h.unrealised(mark);
            let (at_low, at_high) = (equity(low), equity(high));
            let i = tier_index(tiers, h.qty * low);
            if tier_index(tiers, h.qty * high) != i {
                return false;
            }
            let t = tiers[i];
            let (least, most) = (at_low.min(at_high), at_low.max(at_high));
            // maintenance rises with the mark; a level's product is largest (smallest) at
            // one of the equity's ends
            let (maint_low, maint_high) = (
                0.0 + h.maintenance_in(low, t),
                0.0 + h.maintenance_in(high, t),
            );
            let (band_low, band_high) = self.guards.margin[0].band;
            let floor = (band_low * least).max(band_low * most);
            let ceiling = (band_high * least).min(band_high * most);
            if !(least > 0.0 && maint_low >= floor && maint_high < ceiling) {
                return false;
            }
        }
        if let Some(t) = trigger
            && !(h.sign * (low - t.bound) > 0.0 && h.sign * (high - t.bound) > 0.0)
        {
            return false;
        }
        true
    }
}
