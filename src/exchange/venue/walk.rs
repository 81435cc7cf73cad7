//! The work of one bar of one symbol: funding, market orders at the open, the path walk
//! (liquidation and resting orders in path order), the margin-call check.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::resting::{Resting, trigger_level};
use super::{Event, EventKind, FillReason, Venue, round_to_tick};
use crate::exchange::Side;
use crate::exchange::account::{MarginMode, usdt};
use crate::exchange::fill::{LIQUIDATION_SLIPPAGE_FACTOR, Level, Ohlc, path, reach_from};
use crate::exchange::orders::{self, OrderKind};
use crate::market::Settlement;

impl Venue {
    /// One bar of one symbol: funding, market orders, the path, the margin check.
    /// `funding` holds the settlements falling in the bar, in time order (see the module
    /// doc of `funding.rs` for where each is booked).
    ///
    /// Most bars are quiet (`passes_quietly`: a range that reaches no level also
    /// rules out opening through the liquidation price, as the open lies in the range) and
    /// take no walk.
    #[inline(always)]
    pub fn on_bar(
        &mut self,
        symbol: usize,
        time: i64,
        last: &Ohlc,
        mark: &Ohlc,
        funding: &[Settlement],
    ) {
        if self.joint {
            return self.gather(symbol, last, mark, funding);
        }
        if self.passes_quietly(symbol, time, last, mark, funding) {
            return;
        }
        self.open_bar(symbol, time, last, mark);
        let held = self.shadow.positions[symbol];
        let inside = self.settle_before_path(symbol, time, funding);
        self.walk_path(symbol, time, last, mark);
        self.marks[symbol] = mark.close;
        self.settle_after_path(symbol, held, inside);
        self.check_margin_call(symbol, time, mark.low, mark.high);
    }

    /// A quiet bar — no settlement, no market order waiting, and a range that reaches
    /// neither the liquidation price nor any resting order's level — only moves the mark and
    /// is checked for a margin call; true when `symbol`'s bar was one. (Cross margin over
    /// several symbols, where one mark moves the others' prices, is walked in `joint.rs`.)
    #[inline(always)]
    fn passes_quietly(
        &mut self,
        symbol: usize,
        time: i64,
        last: &Ohlc,
        mark: &Ohlc,
        funding: &[Settlement],
    ) -> bool {
        let quiet = funding.is_empty()
            && !self.levels[symbol].market
            && !self.bar_reaches_a_level(symbol, last, mark);
        if quiet {
            self.marks[symbol] = mark.close;
            self.check_margin_call(symbol, time, mark.low, mark.high);
        }
        quiet
    }

    /// [`Venue::on_bar`] for a bar whose path is known from finer bars (`fine_last`,
    /// `fine_mark`, each `fine_ms` long, covering it back to back): a quiet bar is as in
    /// `on_bar` (its range reaches nothing, so neither do its fine bars'); any other walks
    /// the fine bars ([`Venue::on_bar_detailed`]). In cross margin over several symbols the
    /// bar and its fine bars are gathered for the joint walk (`joint.rs`).
    #[allow(clippy::too_many_arguments)]
    pub fn on_bar_in_detail(
        &mut self,
        symbol: usize,
        time: i64,
        bar: (&Ohlc, &Ohlc),
        funding: &[Settlement],
        fine_ms: i64,
        fine_last: &[Ohlc],
        fine_mark: &[Ohlc],
    ) {
        let (last, mark) = bar;
        if self.joint {
            return self
                .gather_in_detail(symbol, last, mark, funding, fine_ms, fine_last, fine_mark);
        }
        if self.passes_quietly(symbol, time, last, mark, funding) {
            return;
        }
        self.on_bar_detailed(symbol, time, fine_ms, fine_last, fine_mark, funding);
    }

    /// One bar of one symbol whose path is known at a finer timeframe: `last` and `mark` are
    /// the fine bars covering it, in time order (equal length, at least one), each
    /// `fine_ms` long. The path is theirs, one after another, instead of the guess from the
    /// coarse bar's OHLC; each fine bar's own path still follows [`PathOrder`]. A
    /// settlement is booked at the open of the fine bar holding it, before that bar's path.
    ///
    /// [`PathOrder`]: crate::exchange::fill::PathOrder
    pub fn on_bar_detailed(
        &mut self,
        symbol: usize,
        time: i64,
        fine_ms: i64,
        last: &[Ohlc],
        mark: &[Ohlc],
        funding: &[Settlement],
    ) {
        debug_assert!(
            !last.is_empty() && last.len() == mark.len(),
            "fine last and mark bars must pair up"
        );
        debug_assert!(
            !self.joint,
            "cross margin over several symbols walks in joint.rs"
        );
        let (Some(first_last), Some(first_mark)) = (last.first(), mark.first()) else {
            return;
        };
        self.open_bar(symbol, time, first_last, first_mark);
        let mut next = 0;
        for (k, (l, m)) in last.iter().zip(mark).enumerate() {
            let end = time + (k as i64 + 1) * fine_ms;
            while next < funding.len() && funding[next].time < end {
                self.marks[symbol] = m.open;
                self.settle_funding(symbol, &funding[next]);
                next += 1;
            }
            self.walk_path(symbol, time, l, m);
            self.marks[symbol] = m.close;
        }
        let low = mark.iter().map(|m| m.low).fold(f64::INFINITY, f64::min);
        let high = mark
            .iter()
            .map(|m| m.high)
            .fold(f64::NEG_INFINITY, f64::max);
        self.check_margin_call(symbol, time, low, high);
    }

    /// The bar's open: the mark moves there, a bar that opens through the liquidation price
    /// liquidates at the open (before any market order can trade the position at a price
    /// beyond its bankruptcy), then market orders fill.
    fn open_bar(&mut self, symbol: usize, time: i64, last: &Ohlc, mark: &Ohlc) {
        self.marks[symbol] = mark.open;
        self.liquidate_if_opened_through(symbol, time, mark);
        self.fill_market_orders(symbol, time, last);
    }

    pub(super) fn liquidate_if_opened_through(&mut self, symbol: usize, time: i64, mark: &Ohlc) {
        let Some(p) = self.shadow.positions[symbol] else {
            return;
        };
        let Some(lp) = p.liquidation else { return };
        let through = if p.sign > 0.0 {
            mark.open <= lp
        } else {
            mark.open >= lp
        };
        if through {
            self.liquidate(symbol, time, mark.open, mark);
        }
    }

    /// Cross margin with several positions: each liquidation price moves with the other
    /// symbols' marks, so it is recomputed at each bar's open, in `f64` on the shadow (the
    /// same formula and tier search as [`super::margin::liquidation_price`]); the account's
    /// exact prices are refreshed only when a liquidation is booked.
    pub(super) fn refresh_cross_liquidation_prices(&mut self) {
        self.shadow.changes += 1;
        for s in 0..self.shadow.positions.len() {
            if self.shadow.positions[s].is_some() {
                let lp = self.shadow.cross_liquidation(s, &self.marks);
                if let Some(p) = self.shadow.positions[s].as_mut() {
                    p.liquidation = lp;
                }
            }
        }
    }

    pub(super) fn open_positions(&self) -> usize {
        self.shadow.positions.iter().filter(|p| p.is_some()).count()
    }

    pub(super) fn fill_market_orders(&mut self, symbol: usize, time: i64, last: &Ohlc) {
        if !self.levels[symbol].market {
            return;
        }
        let is_due = |r: &Resting| {
            r.prepared.order.symbol == symbol
                && r.waits_for.is_none()
                && r.prepared.order.kind == OrderKind::Market
        };
        let due: Vec<Resting> = self.resting.iter().filter(|r| is_due(r)).copied().collect();
        for r in due {
            self.execute(r, time, last.open, last, FillReason::Market);
        }
    }

    /// True when the bar's range can reach the liquidation price (on the mark range) or any
    /// active resting order's level (on the last-price range, from the packed [`Levels`]).
    /// Most bars reach nothing, and this test is four comparisons where the walk is path
    /// building and interpolation.
    pub(super) fn bar_reaches_a_level(&self, symbol: usize, last: &Ohlc, mark: &Ohlc) -> bool {
        let reaches = |level: Level, bar: &Ohlc| match level {
            Level::AtOrBelow(x) => bar.low <= x,
            Level::AtOrAbove(x) => bar.high >= x,
        };
        if let Some(p) = self.shadow.positions[symbol]
            && let Some(lp) = p.liquidation
        {
            let level = if p.sign > 0.0 {
                Level::AtOrBelow(lp)
            } else {
                Level::AtOrAbove(lp)
            };
            if reaches(level, mark) {
                return true;
            }
        }
        let l = &self.levels[symbol];
        last.low <= l.highest_below || last.high >= l.lowest_above
    }

    /// Resolves liquidation and resting orders in path order, re-evaluating after each event.
    pub(super) fn walk_path(&mut self, symbol: usize, time: i64, last: &Ohlc, mark: &Ohlc) {
        if !self.bar_reaches_a_level(symbol, last, mark) {
            return;
        }
        let mut after = 0.0f64;
        // each pass executes one event; a bar can hold at most one per resting order plus a liquidation
        for _ in 0..=self.resting.len() + 1 {
            let position = self.shadow.positions[symbol];
            let side = position.map_or(0i8, |p| p.sign as i8);
            let last_path = path(last, side, self.config.path);
            let mark_path = path(mark, side, self.config.path);
            let mut best: Option<(f64, f64, Option<usize>)> = None; // (time, price, resting index; None = liquidation)
            let mut consider = |t: f64, price: f64, who: Option<usize>| {
                if t >= after && best.is_none_or(|b| t < b.0) {
                    best = Some((t, price, who));
                }
            };
            if let Some(lp) = position.and_then(|p| p.liquidation) {
                let level = if side > 0 {
                    Level::AtOrBelow(lp)
                } else {
                    Level::AtOrAbove(lp)
                };
                if let Some((t, price)) = reach_from(&mark_path, level, after) {
                    consider(t, price, None);
                }
            }
            for (i, r) in self.resting.iter().enumerate() {
                if r.prepared.order.symbol != symbol || r.waits_for.is_some() {
                    continue;
                }
                if let Some(level) = trigger_level(&r.prepared)
                    && let Some((t, price)) = reach_from(&last_path, level, after)
                {
                    consider(t, price, Some(i));
                }
            }
            let Some((t, price, who)) = best else { return };
            after = t;
            match who {
                None => self.liquidate(symbol, time, price, mark),
                Some(i) => self.execute_triggered(i, time, price, last),
            }
        }
    }

    /// Fills the resting order at index `i`, whose level the path reached at `price`, for
    /// the reason its kind gives.
    pub(super) fn execute_triggered(&mut self, i: usize, time: i64, price: f64, bar: &Ohlc) {
        let r = self.resting[i];
        let reason = match r.prepared.order.kind {
            OrderKind::Limit { .. } => FillReason::Limit,
            OrderKind::StopMarket { .. } => FillReason::StopLoss,
            _ => FillReason::TakeProfit,
        };
        self.execute(r, time, price, bar, reason);
    }

    /// Fills a resting order at `price` (before slippage for taker fills) and books it.
    pub(super) fn execute(
        &mut self,
        r: Resting,
        time: i64,
        price: f64,
        bar: &Ohlc,
        reason: FillReason,
    ) {
        self.resting.retain(|x| x.id != r.id);
        self.refresh_levels();
        let order = r.prepared.order;
        let symbol = order.symbol;
        let spec = &self.instruments[symbol];
        let qty = match order.qty {
            orders::Quantity::ClosePosition => match self.account.position(symbol) {
                Some(p) if p.side != order.side => p.qty,
                _ => return self.drop_bracket(r, time),
            },
            _ if order.reduce_only => match self.account.position(symbol) {
                Some(p) if p.side != order.side => r.prepared.qty.min(p.qty),
                _ => return self.drop_bracket(r, time),
            },
            _ => r.prepared.qty,
        };
        let (fill_price, fee_rate) = match reason {
            FillReason::Limit => (price, spec.maker_fee),
            _ => (
                self.config
                    .slippage
                    .apply(price, order.side.sign().to_f64().unwrap_or(1.0), bar),
                spec.taker_fee,
            ),
        };
        let fill_price = round_to_tick(fill_price, spec.tick_size);
        self.sync_marks();
        let booked = self.account.fill(
            time,
            symbol,
            order.side,
            qty,
            fill_price,
            fee_rate,
            order.leverage,
        );
        self.resync();
        match booked {
            Ok(insurance_cover) => {
                let fee = usdt(qty * fill_price * fee_rate); // as the account booked it
                self.events.push(Event {
                    time,
                    symbol,
                    kind: EventKind::Fill {
                        id: r.id,
                        side: order.side,
                        qty,
                        price: fill_price,
                        fee,
                        reason,
                        leverage: order.leverage,
                        reduce_only: order.reduce_only,
                        insurance_cover,
                    },
                });
                // the bracket legs of this entry start to rest; the other leg of an OCO pair goes
                for leg in self
                    .resting
                    .iter_mut()
                    .filter(|x| x.waits_for == Some(r.id))
                {
                    leg.waits_for = None;
                }
                self.refresh_levels();
                if let Some(other) = r.oco {
                    self.cancel(time, other);
                }
                if self.account.position(symbol).is_none() {
                    self.cancel_reducing_orders(symbol, time);
                }
            }
            Err(refusal) => {
                self.events.push(Event {
                    time,
                    symbol,
                    kind: EventKind::Rejected {
                        id: r.id,
                        reason: refusal.to_string(),
                    },
                });
                let legs: Vec<u64> = self
                    .resting
                    .iter()
                    .filter(|x| x.waits_for == Some(r.id))
                    .map(|x| x.id)
                    .collect();
                for id in legs {
                    self.cancel(time, id);
                }
            }
        }
    }

    /// Liquidates at `price` on the mark path (LP, or the open of a gap), worse by the
    /// liquidation slippage; in cross margin every position goes, each at its latest mark.
    pub(super) fn liquidate(&mut self, symbol: usize, time: i64, price: f64, mark: &Ohlc) {
        if self.config.mode == MarginMode::Cross && self.open_positions() > 1 {
            // the exact prices for the record (the per-bar check ran on the f64 shadow)
            self.sync_marks();
            self.account.refresh_liquidation_prices();
        }
        let Some(p) = self.account.position(symbol).cloned() else {
            return;
        };
        let lp = p.liquidation.and_then(|x| x.to_f64()).unwrap_or(price);
        let sign = if p.side == Side::Long { -1.0 } else { 1.0 }; // the liquidation sells a long
        let slip = LIQUIDATION_SLIPPAGE_FACTOR * self.config.slippage.cost(price, mark);
        let execution = round_to_tick(price + sign * slip, self.instruments[symbol].tick_size);
        // in cross margin the other positions close at their latest marks
        self.sync_marks();
        let mut executions: Vec<Decimal> = (0..self.instruments.len())
            .map(|s| self.account.mark(s))
            .collect();
        executions[symbol] = execution;
        let co_liquidated: Vec<(usize, Decimal)> = match self.config.mode {
            MarginMode::Isolated => Vec::new(),
            MarginMode::Cross => (0..self.instruments.len())
                .filter(|&s| s != symbol && self.account.position(s).is_some())
                .map(|s| (s, executions[s]))
                .collect(),
        };
        let before = self.account.wallet();
        let settlement = self.account.liquidate(time, symbol, &executions);
        let loss = before - self.account.wallet();
        self.resync();
        self.events.push(Event {
            time,
            symbol,
            kind: EventKind::Liquidation {
                side: p.side,
                qty: p.qty,
                entry: p.entry,
                liquidation_price: lp,
                execution,
                mark_low: mark.low,
                mark_high: mark.high,
                loss,
                insurance_cover: settlement.insurance_cover,
                co_liquidated,
            },
        });
        // as on Binance, a liquidation cancels the liquidated symbols' open orders
        let liquidated: Vec<usize> = match self.config.mode {
            MarginMode::Isolated => vec![symbol],
            MarginMode::Cross => (0..self.instruments.len()).collect(),
        };
        let ids: Vec<u64> = self
            .resting
            .iter()
            .filter(|r| liquidated.contains(&r.prepared.order.symbol))
            .map(|r| r.id)
            .collect();
        for id in ids {
            self.cancel(time, id);
        }
    }
}
