//! Cross margin with several symbols: one account path per step.
//!
//! In cross margin the account is one thing: a fall in one symbol eats the margin that backs
//! the others. So when the venue trades several symbols in cross margin, each symbol's bar
//! is gathered ([`Venue::on_bar`]) and the step is walked once, for all of them together,
//! when the step ends ([`Venue::end_step`]):
//! 1. every symbol's mark moves to its bar's open; an account already at or below its
//!    maintenance margin there (a joint gap) is liquidated at the opens;
//! 2. market orders fill at their symbol's open, then the settlements at the open and those
//!    inside the bar that cost the positions are booked (`funding.rs`);
//! 3. the bars' paths are walked on one clock: every symbol's path is open → first extreme
//!    → second extreme → close with segment k covering [k, k + 1] (`fill.rs`), so under
//!    [`PathOrder::AdverseFirst`] **all positions reach their adverse extremes together**, at
//!    time 1. This is the conservative reading of bars that cannot tell the order of their
//!    extremes: the account's margin balance less its maintenance margin,
//!    `wallet + Σ side·qty·(mark − entry) − Σ maintenance(qty·mark)`, falls in each symbol's
//!    mark toward its adverse extreme, so no other path through the same bars goes lower.
//!    The account is liquidated at the first time that figure reaches 0 (found exactly: it
//!    is linear in time between tier boundaries), every position at its own mark then; the
//!    symbol whose position lost most is the one recorded. Resting orders of every symbol
//!    trigger on their own last-price paths, in time order with the liquidation
//!    (liquidation first at equal times), each event re-evaluating what follows;
//! 4. at the closes, the settlements a position receives, and the margin-call check.
//!
//! A symbol without a bar in the step keeps its latest mark. Where every bar of the step has
//! finer bars (`data.detail`), step 3 walks them instead, fine bar by fine bar on one clock,
//! each fine bar's settlements booked at its open.
//!
//! [`PathOrder::AdverseFirst`]: crate::exchange::fill::PathOrder::AdverseFirst

use super::Venue;
use super::resting::trigger_level;
use super::view::ShadowPosition;
use crate::exchange::fill::{Ohlc, path, point_at, reach_from, segment_at};
use crate::market::Settlement;

/// One symbol's bar, gathered for the step's joint walk.
#[derive(Clone, Copy, Debug)]
pub(super) struct Gathered {
    symbol: usize,
    last: Ohlc,
    mark: Ohlc,
    /// the bar's settlements: `Venue::gathered_funding[funding.0 .. funding.1]`
    funding: (usize, usize),
    /// the bar's finer bars (`data.detail`): (ms each, where they start in
    /// `Venue::gathered_fine`, how many)
    fine: Option<(i64, usize, usize)>,
}

/// `(ms, count)` of the bars' finer bars when every bar has them alike.
fn common_detail(bars: &[Gathered]) -> Option<(i64, usize)> {
    let (ms, _, count) = bars.first()?.fine?;
    bars.iter()
        .all(|b| b.fine.is_some_and(|(m, _, c)| m == ms && c == count))
        .then_some((ms, count))
}

impl Venue {
    /// Keeps `symbol`'s bar for the step's joint walk.
    #[inline(always)]
    pub(super) fn gather(
        &mut self,
        symbol: usize,
        last: &Ohlc,
        mark: &Ohlc,
        funding: &[Settlement],
    ) {
        (self.step_low[symbol], self.step_high[symbol]) = (mark.low, mark.high);
        let start = self.gathered_funding.len();
        if !funding.is_empty() {
            self.gathered_funding.extend_from_slice(funding);
        }
        self.gathered.push(Gathered {
            symbol,
            last: *last,
            mark: *mark,
            funding: (start, self.gathered_funding.len()),
            fine: None,
        });
    }

    /// [`Venue::gather`] for a bar whose path is known from finer bars: they are kept too,
    /// and a step whose bars all have them is walked on them, fine bar by fine bar.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gather_in_detail(
        &mut self,
        symbol: usize,
        last: &Ohlc,
        mark: &Ohlc,
        funding: &[Settlement],
        fine_ms: i64,
        fine_last: &[Ohlc],
        fine_mark: &[Ohlc],
    ) {
        self.gather(symbol, last, mark, funding);
        let start = self.gathered_fine.len();
        self.gathered_fine
            .extend(fine_last.iter().copied().zip(fine_mark.iter().copied()));
        if let Some(g) = self.gathered.last_mut() {
            g.fine = Some((fine_ms, start, fine_last.len()));
        }
    }

    /// Ends a step opening at `time`: walks the bars gathered in cross margin over several
    /// symbols (see the module doc); nothing otherwise.
    #[inline(always)]
    pub fn end_step(&mut self, time: i64) {
        if self.joint && !self.gathered.is_empty() {
            self.end_joint_step(time);
        }
    }

    fn end_joint_step(&mut self, time: i64) {
        let (maint, balance) = self.adverse_figures();
        let (maint, balance) = if self.step_is_quiet(balance - maint) {
            // nothing to book: the marks move to the closes, and the figures at the
            // extremes serve the margin-call check as they are
            for g in &self.gathered {
                self.marks[g.symbol] = g.mark.close;
            }
            (maint, balance)
        } else {
            let bars = std::mem::take(&mut self.gathered);
            let funding = std::mem::take(&mut self.gathered_funding);
            self.walk_step(time, &bars, &funding);
            (self.gathered, self.gathered_funding) = (bars, funding);
            self.adverse_figures()
        };
        self.check_account_margin_call(time, maint, balance);
        // the next step's symbols without a bar stay at their close
        for g in &self.gathered {
            let close = g.mark.close;
            (self.step_low[g.symbol], self.step_high[g.symbol]) = (close, close);
        }
        self.gathered.clear();
        self.gathered_funding.clear();
        self.gathered_fine.clear();
        if self.open_positions() > 1 {
            self.refresh_cross_liquidation_prices();
        }
    }

    /// No settlement, no market order, no resting level in reach, and the account above its
    /// maintenance margin (`room` > 0) with every position at its adverse extreme.
    fn step_is_quiet(&self, room: f64) -> bool {
        room > 0.0
            && self.gathered.iter().all(|b| {
                let l = &self.levels[b.symbol];
                b.funding.0 == b.funding.1
                    && !l.market
                    && b.last.low > l.highest_below
                    && b.last.high < l.lowest_above
            })
    }

    /// The account's maintenance margin and margin balance (USDT) with each position at the
    /// mark `mark_of(symbol, position)` gives.
    fn account_figures(&self, mark_of: impl Fn(usize, &ShadowPosition) -> f64) -> (f64, f64) {
        let (mut maint, mut balance) = (0.0, self.shadow.wallet);
        for (s, p) in self.shadow.positions.iter().enumerate() {
            let Some(p) = p else { continue };
            let mark = mark_of(s, p);
            maint += self.shadow.maint(s, p.qty, p.entry, mark);
            balance += p.sign * p.qty * (mark - p.entry);
        }
        (maint, balance)
    }

    /// [`Venue::account_figures`] with every position at its adverse extreme over the step's
    /// gathered bars (`step_low`, `step_high`; a symbol without a bar at its latest mark, or
    /// its entry before any).
    pub(super) fn adverse_figures(&self) -> (f64, f64) {
        self.account_figures(|s, p| {
            let mark = if p.sign > 0.0 {
                self.step_low[s]
            } else {
                self.step_high[s]
            };
            if mark > 0.0 { mark } else { p.entry }
        })
    }

    /// The account's margin balance less its maintenance margin (USDT) at the current marks.
    fn headroom_now(&self) -> f64 {
        let (maint, balance) = self.account_figures(|s, p| self.mark_or_entry(s, p.entry));
        balance - maint
    }

    fn mark_or_entry(&self, s: usize, entry: f64) -> f64 {
        if self.marks[s] > 0.0 {
            self.marks[s]
        } else {
            entry
        }
    }

    /// The joint walk of one step (the module doc's steps 1–3, and the receipts of step 4).
    fn walk_step(&mut self, time: i64, bars: &[Gathered], funding: &[Settlement]) {
        for b in bars {
            self.marks[b.symbol] = b.mark.open;
        }
        if self.open_positions() > 0 && self.headroom_now() <= 0.0 {
            self.liquidate_account(time, bars);
        }
        for b in bars {
            self.fill_market_orders(b.symbol, time, &b.last);
        }
        if let Some((fine_ms, count)) = common_detail(bars) {
            return self.walk_fine_step(time, bars, funding, fine_ms, count);
        }
        let mut held = Vec::with_capacity(bars.len());
        let mut inside = Vec::with_capacity(bars.len());
        for b in bars {
            let due = &funding[b.funding.0..b.funding.1];
            held.push(self.shadow.positions[b.symbol]);
            let rest = self.settle_before_path(b.symbol, time, due);
            inside.push(rest);
        }
        self.walk_paths(time, bars);
        for b in bars {
            self.marks[b.symbol] = b.mark.close;
        }
        for (i, b) in bars.iter().enumerate() {
            self.settle_after_path(b.symbol, held[i], inside[i]);
        }
    }

    /// The joint walk of a step from its bars' finer bars, `count` of `fine_ms` each: fine
    /// bar `k` of every symbol is walked together, after the settlements due in it are
    /// booked at its open; at equal times the fine bars' order is exact, so no settlement
    /// needs the coarse bar's costing rule.
    fn walk_fine_step(
        &mut self,
        time: i64,
        bars: &[Gathered],
        funding: &[Settlement],
        fine_ms: i64,
        count: usize,
    ) {
        let mut fine = std::mem::take(&mut self.fine_step);
        for k in 0..count {
            fine.clear();
            fine.extend(bars.iter().map(|b| {
                let (_, start, _) = b.fine.unwrap_or_default();
                let (last, mark) = self.gathered_fine[start + k];
                Gathered {
                    last,
                    mark,
                    fine: None,
                    ..*b
                }
            }));
            let end = time + (k as i64 + 1) * fine_ms;
            for (b, f) in bars.iter().zip(&fine) {
                self.marks[b.symbol] = f.mark.open;
                let due = &funding[b.funding.0..b.funding.1];
                for s in due
                    .iter()
                    .filter(|s| s.time < end && s.time >= end - fine_ms)
                {
                    self.settle_funding(b.symbol, s);
                }
            }
            self.walk_paths(time, &fine);
            for f in &fine {
                self.marks[f.symbol] = f.mark.close;
            }
        }
        self.fine_step = fine;
    }

    /// Liquidates the account at the current marks, recorded on the position that loses
    /// most there (the lowest symbol index among equals).
    fn liquidate_account(&mut self, time: i64, bars: &[Gathered]) {
        let mut worst: Option<(usize, f64)> = None;
        for (s, p) in self.shadow.positions.iter().enumerate() {
            let Some(p) = p else { continue };
            let loss = p.sign * p.qty * (p.entry - self.mark_or_entry(s, p.entry));
            if worst.is_none_or(|w| loss > w.1) {
                worst = Some((s, loss));
            }
        }
        let Some((s, _)) = worst else { return };
        let price = self.mark_or_entry(s, 0.0);
        let mark = bars.iter().find(|b| b.symbol == s).map_or(
            Ohlc {
                open: price,
                high: price,
                low: price,
                close: price,
            },
            |b| b.mark,
        );
        self.liquidate(s, time, price, &mark);
    }

    /// Liquidation and every symbol's resting orders along the step's one clock, in time
    /// order, re-evaluating after each event.
    fn walk_paths(&mut self, time: i64, bars: &[Gathered]) {
        let mut after = 0.0f64;
        let order = self.config.path;
        let mut last_paths = vec![[0.0; 4]; bars.len()];
        let mut mark_paths = vec![[0.0; 4]; bars.len()];
        for _ in 0..=self.resting.len() + self.open_positions() + 1 {
            for (i, b) in bars.iter().enumerate() {
                let side = self.shadow.positions[b.symbol].map_or(0i8, |p| p.sign as i8);
                last_paths[i] = path(&b.last, side, order);
                mark_paths[i] = path(&b.mark, side, order);
            }
            // (time, bar index, resting index; None = liquidation, price)
            let mut best: Option<(f64, usize, Option<usize>, f64)> = None;
            if let Some(u) = self.first_shortfall(bars, &mark_paths, after) {
                best = Some((u, 0, None, 0.0));
            }
            for (j, r) in self.resting.iter().enumerate() {
                if r.waits_for.is_some() {
                    continue;
                }
                let Some(i) = bars
                    .iter()
                    .position(|b| b.symbol == r.prepared.order.symbol)
                else {
                    continue;
                };
                if let Some(level) = trigger_level(&r.prepared)
                    && let Some((t, price)) = reach_from(&last_paths[i], level, after)
                    && best.is_none_or(|b| t < b.0)
                {
                    best = Some((t, i, Some(j), price));
                }
            }
            let Some((u, i, who, price)) = best else {
                return;
            };
            after = u;
            for (k, b) in bars.iter().enumerate() {
                self.marks[b.symbol] = point_at(&mark_paths[k], u);
            }
            match who {
                None => self.liquidate_account(time, bars),
                Some(j) => self.execute_triggered(j, time, price, &bars[i].last),
            }
        }
    }

    /// The first time from `after` at which the account's margin balance reaches its
    /// maintenance margin along the bars' mark paths, or `None`.
    fn first_shortfall(&self, bars: &[Gathered], paths: &[[f64; 4]], after: f64) -> Option<f64> {
        if self.open_positions() == 0 {
            return None;
        }
        let room_at = |u: f64| self.headroom_along(bars, paths, u);
        let k0 = segment_at(after);
        if room_at(after) <= 0.0 {
            return Some(after);
        }
        let mut cuts: Vec<f64> = Vec::new();
        for k in k0..3 {
            let (from, to) = ((k as f64).max(after), k as f64 + 1.0);
            // the room is linear in time between the times a notional crosses a tier cap
            cuts.clear();
            cuts.push(from);
            for (i, b) in bars.iter().enumerate() {
                let Some(p) = self.shadow.positions[b.symbol] else {
                    continue;
                };
                let (a, z) = (paths[i][k], paths[i][k + 1]);
                for &(cap, _, _) in &self.shadow.tiers[b.symbol] {
                    let price = cap / p.qty;
                    if (a - price) * (z - price) < 0.0 {
                        let u = k as f64 + (price - a) / (z - a);
                        if u > from && u < to {
                            cuts.push(u);
                        }
                    }
                }
            }
            cuts.sort_by(f64::total_cmp);
            cuts.push(to);
            for w in cuts.windows(2) {
                let (x0, x1) = (w[0], w[1]);
                let (r0, r1) = (room_at(x0), room_at(x1));
                if r1 <= 0.0 {
                    // whole-position tiers: the room may jump down at the cut itself
                    if self.shadow.stepped && room_at(x1 - (x1 - x0) * 1e-9) > 0.0 {
                        return Some(x1);
                    }
                    return Some((x0 + (x1 - x0) * r0 / (r0 - r1)).clamp(x0, x1));
                }
            }
        }
        None
    }

    /// The account's margin balance less its maintenance margin with each gathered symbol's
    /// mark at time `u` on its path.
    fn headroom_along(&self, bars: &[Gathered], paths: &[[f64; 4]], u: f64) -> f64 {
        let (maint, balance) =
            self.account_figures(|s, p| match bars.iter().position(|b| b.symbol == s) {
                Some(i) => point_at(&paths[i], u),
                None => self.mark_or_entry(s, p.entry),
            });
        balance - maint
    }
}

#[cfg(test)]
#[path = "joint_tests.rs"]
pub(super) mod tests;
