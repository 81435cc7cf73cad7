//! The simulated exchange: resting orders, and the work of one bar of one symbol.
//!
//! Per bar, in this order (the contract of `fill.rs` says where within the bar):
//! 1. funding due in the bar is settled at its open (before the path, so it moves the
//!    liquidation price the path is checked against);
//! 2. a bar that opens through the liquidation price liquidates there first; then market
//!    orders submitted before the bar fill at its open (plus slippage);
//! 3. the path is walked: liquidation (mark path) and resting limit, stop-loss and take-profit
//!    orders (last path) execute in path order, each fill re-evaluating what comes after it;
//!    the two legs of a bracket cancel each other (OCO) and are cancelled with the position;
//!    a liquidation cancels every open order of the liquidated symbols (all, in cross margin);
//! 4. at the close, a margin call is recorded when the margin ratio crosses the threshold
//!    upward.
//!
//! Where a finer timeframe of the symbol is given, [`Venue::on_bar_detailed`] walks the fine
//! bars' paths in order instead of guessing the coarse bar's.
//!
//! Everything that happens is an [`Event`]. In a bar where nothing happens the work is `f64`
//! comparisons (see `benches/exchange.rs`); `Decimal` is used only when something is booked.
//! Limits of this stage: one-way positions; in cross margin with several positions, each
//! liquidation price is refreshed at each bar's open from the other symbols' latest marks.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::Side;
use super::account::{Account, MarginMode, usdt};
use super::fill::{
    LIQUIDATION_SLIPPAGE_FACTOR, Level, Ohlc, PathOrder, Slippage, path, reach_from,
};

use super::orders::{self, Order, OrderKind, OrderRefusal, Prepared};
use crate::instrument::InstrumentSpec;
use crate::risk::Approved;

/// How the venue behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct VenueConfig {
    pub mode: MarginMode,
    /// USDT
    pub start_balance: Decimal,
    pub slippage: Slippage,
    pub path: PathOrder,
    /// fraction: a margin call is recorded when the margin ratio rises through it (0.8 = 80 %)
    pub margin_call_ratio: f64,
}

/// Why a fill happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillReason {
    Market,
    Limit,
    StopLoss,
    TakeProfit,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// USDT prices and fee
    Fill {
        id: u64,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        reason: FillReason,
        /// the order's leverage (isolated: what set the margin)
        leverage: Decimal,
    },
    /// an order that could not fill (margin, leverage tier): nothing was booked
    Rejected {
        id: u64,
        reason: String,
    },
    Cancelled {
        id: u64,
    },
    /// USDT: what the position paid (negative: received); rate a fraction
    Funding {
        rate: f64,
        mark: f64,
        paid: Decimal,
    },
    /// USDT. `loss` is the margin lost; `insurance_cover` > 0 when the bar gapped through bankruptcy
    Liquidation {
        side: Side,
        qty: Decimal,
        entry: Decimal,
        liquidation_price: f64,
        execution: Decimal,
        mark_low: f64,
        mark_high: f64,
        loss: Decimal,
        insurance_cover: Decimal,
    },
    /// the margin ratio (fraction) at the bar's close, having risen through the threshold
    MarginCall {
        ratio: f64,
    },
}

/// Something that happened, at a time (ms), to a symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub time: i64,
    pub symbol: usize,
    pub kind: EventKind,
}

/// A resting order and its bracket link.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Resting {
    id: u64,
    prepared: Prepared,
    /// the other leg of a bracket: filling one cancels the other
    oco: Option<u64>,
    /// a bracket leg waits for its entry to fill
    waits_for: Option<u64>,
}

/// The exchange: an account, its resting orders, and what happened.
#[derive(Clone, Debug)]
pub struct Venue {
    pub config: VenueConfig,
    pub account: Account,
    instruments: Vec<InstrumentSpec>,
    resting: Vec<Resting>,
    events: Vec<Event>,
    next_id: u64,
    in_margin_call: bool,
    /// USDT, latest mark per symbol as `f64` (the account's `Decimal` marks are synced only
    /// before something is booked)
    marks: Vec<f64>,
    /// `f64` copies of the account's state, refreshed after every booking, so that a bar in
    /// which nothing happens touches no `Decimal` and allocates nothing
    shadow: Shadow,
    /// per symbol: what its active resting orders can do, refreshed when the orders change
    levels: Vec<Levels>,
}

/// The active resting orders of one symbol, packed for the per-bar test.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Levels {
    /// a market order waits for the next open
    market: bool,
    /// USDT: the highest level reached from above (−∞ if none)
    highest_below: f64,
    /// USDT: the lowest level reached from below (+∞ if none)
    lowest_above: f64,
}

impl Levels {
    const NONE: Levels = Levels {
        market: false,
        highest_below: f64::NEG_INFINITY,
        lowest_above: f64::INFINITY,
    };
}

/// The account as the per-bar checks read it, in `f64`.
#[derive(Clone, Debug, Default)]
struct Shadow {
    /// USDT
    wallet: f64,
    /// per symbol
    positions: Vec<Option<ShadowPosition>>,
    /// per symbol: tiers as (cap, maintenance rate, maintenance amount)
    tiers: Vec<Vec<(f64, f64, f64)>>,
    /// bumped on every change to `wallet` or `positions` (the account log's cue)
    changes: u64,
    /// per symbol: the tiers with rate and amount divided by the margin-call threshold θ. The
    /// margin ratio maintenance / balance reaches θ exactly where balance = maintenance / θ,
    /// so the liquidation-price formula on these tiers gives the margin-call price.
    call_tiers: Vec<Vec<(f64, f64, f64)>>,
}

/// A position as the per-bar checks read it. USDT and base asset, `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ShadowPosition {
    /// +1 long, −1 short
    sign: f64,
    qty: f64,
    entry: f64,
    margin: f64,
    liquidation: Option<f64>,
    /// USDT: where the margin ratio reaches the margin-call threshold; −∞ (long) or +∞
    /// (short) when it never does; NaN when unknown (cross margin with several positions,
    /// where it moves with the other marks)
    margin_call: f64,
}

/// The account at each step where it changed, for a run's per-step columns: they are
/// rebuilt from it and the marks when the output is written
/// ([`crate::engine::Engine::fill_columns`]), so a step that changes nothing writes
/// nothing (a million-bar run's six dense columns were 48 MB of fresh pages to fault in).
#[derive(Clone, Debug, Default)]
pub struct AccountLog {
    /// the step from which each state holds, ascending
    steps: Vec<u32>,
    /// USDT, per state
    wallets: Vec<f64>,
    /// per state, one entry per symbol
    positions: Vec<Option<ShadowPosition>>,
    /// the shadow's change count at the last state logged
    changes: u64,
}

impl AccountLog {
    /// States logged.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The step from which state `k` holds.
    pub fn step(&self, k: usize) -> u32 {
        self.steps[k]
    }
}

/// USDT: a position's liquidation price; NaN when flat or when no price > 0 liquidates it.
fn liquidation_of(p: Option<ShadowPosition>) -> f64 {
    p.and_then(|p| p.liquidation).unwrap_or(f64::NAN)
}

/// Whether two positions are the same bit for bit (`==` would take −0 for 0, and never a
/// NaN field for itself).
fn same_bits(a: &Option<ShadowPosition>, b: &Option<ShadowPosition>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let bits = |p: &ShadowPosition| {
                [
                    p.sign.to_bits(),
                    p.qty.to_bits(),
                    p.entry.to_bits(),
                    p.margin.to_bits(),
                    p.liquidation.map_or(u64::MAX, f64::to_bits),
                    p.margin_call.to_bits(),
                ]
            };
            a.liquidation.is_some() == b.liquidation.is_some() && bits(a) == bits(b)
        }
        _ => false,
    }
}

impl Shadow {
    /// The cross-margin liquidation price of `symbol`'s position with the other positions at
    /// `marks` (their entry where no mark was seen yet). USDT; `None` when no price > 0
    /// liquidates it.
    fn cross_liquidation(&self, symbol: usize, marks: &[f64]) -> Option<f64> {
        let p = self.positions[symbol]?;
        let (mut other_maint, mut other_upnl) = (0.0, 0.0);
        for (o, q) in self.positions.iter().enumerate() {
            if let Some(q) = q
                && o != symbol
            {
                let mark = if marks[o] > 0.0 { marks[o] } else { q.entry };
                other_maint += self.maint(o, q.qty, mark);
                other_upnl += q.sign * q.qty * (mark - q.entry);
            }
        }
        let backing = self.wallet + other_upnl;
        liquidation_f64(
            p.sign,
            p.qty,
            p.entry,
            backing,
            other_maint,
            &self.tiers[symbol],
        )
    }

    /// Maintenance margin of `qty` at `mark` for `symbol`'s tiers. USDT
    fn maint(&self, symbol: usize, qty: f64, mark: f64) -> f64 {
        let notional = qty * mark;
        let tiers = &self.tiers[symbol];
        // a linear scan: positions sit in the first tier or two, so the branch is predicted,
        // where a binary search's dependent compares took a third of the per-bar time
        let i = tiers
            .iter()
            .position(|t| notional < t.0)
            .unwrap_or(tiers.len() - 1);
        notional * tiers[i].1 - tiers[i].2
    }
}

impl Venue {
    pub fn new(config: VenueConfig, instruments: Vec<InstrumentSpec>) -> Venue {
        let account = Account::new(config.start_balance, config.mode, instruments.clone());
        let n = instruments.len();
        let f = |d: Decimal| d.to_f64().unwrap_or(f64::MAX);
        let tiers: Vec<Vec<(f64, f64, f64)>> = instruments
            .iter()
            .map(|i| {
                i.brackets
                    .iter()
                    .map(|t| (f(t.cap), f(t.maint_margin_rate), f(t.maint_amount)))
                    .collect()
            })
            .collect();
        let theta = if config.margin_call_ratio > 0.0 {
            config.margin_call_ratio
        } else {
            1.0
        };
        let call_tiers = tiers
            .iter()
            .map(|ts: &Vec<(f64, f64, f64)>| {
                ts.iter()
                    .map(|&(cap, rate, amount)| (cap, rate / theta, amount / theta))
                    .collect()
            })
            .collect();
        let shadow = Shadow {
            wallet: f(config.start_balance),
            positions: vec![None; n],
            changes: 0,
            tiers,
            call_tiers,
        };
        let marks = vec![0.0; n];
        let levels = vec![Levels::NONE; n];
        let (resting, events) = (Vec::new(), Vec::new());
        Venue {
            config,
            account,
            instruments,
            resting,
            events,
            next_id: 1,
            in_margin_call: false,
            marks,
            shadow,
            levels,
        }
    }

    /// Repacks every symbol's [`Levels`] from the resting orders; after any change to them.
    fn refresh_levels(&mut self) {
        self.levels.fill(Levels::NONE);
        for r in self.resting.iter().filter(|r| r.waits_for.is_none()) {
            let l = &mut self.levels[r.prepared.order.symbol];
            match trigger_level(&r.prepared) {
                None => l.market |= r.prepared.order.kind == OrderKind::Market,
                Some(Level::AtOrBelow(x)) => l.highest_below = l.highest_below.max(x),
                Some(Level::AtOrAbove(x)) => l.lowest_above = l.lowest_above.min(x),
            }
        }
    }

    /// Copies the account's state into the `f64` shadow; after every booking.
    fn resync(&mut self) {
        let f = super::approx_f64;
        self.shadow.changes += 1;
        self.shadow.wallet = f(self.account.wallet());
        let single = (0..self.instruments.len())
            .filter(|&s| self.account.position(s).is_some())
            .count()
            <= 1;
        for s in 0..self.instruments.len() {
            self.shadow.positions[s] = self.account.position(s).map(|p| {
                let backing = match self.config.mode {
                    MarginMode::Isolated => Some(p.margin),
                    MarginMode::Cross if single => Some(self.account.wallet()),
                    MarginMode::Cross => None,
                };
                let sign = p.side.sign_f64();
                let margin_call = match backing {
                    None => f64::NAN,
                    Some(wallet) => {
                        let never = if sign > 0.0 {
                            f64::NEG_INFINITY
                        } else {
                            f64::INFINITY
                        };
                        let (qty, entry) = (f(p.qty), f(p.entry));
                        let tiers = &self.shadow.call_tiers[s];
                        liquidation_f64(sign, qty, entry, f(wallet), 0.0, tiers).unwrap_or(never)
                    }
                };
                ShadowPosition {
                    sign,
                    qty: f(p.qty),
                    entry: f(p.entry),
                    margin: f(p.margin),
                    liquidation: p.liquidation.map(super::approx_f64),
                    margin_call,
                }
            });
        }
    }

    /// Gives the account the latest marks before it books something.
    fn sync_marks(&mut self) {
        for (s, &m) in self.marks.iter().enumerate() {
            if m > 0.0 {
                self.account.set_mark(s, dec(m));
            }
        }
    }

    /// The account at the latest marks, in `f64`, for the per-bar record: no `Decimal`, no
    /// allocation. The margin ratio is the account's (cross) or the highest of the positions'
    /// (isolated): maintenance margin / margin balance, a fraction (1 = liquidation).
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_with::<true>()
    }

    /// [`Venue::snapshot`] without the margin ratio (NaN) and the margin, when only equity
    /// and exposure are wanted: no maintenance-tier lookup, no division (a sweep's per-bar
    /// record).
    #[inline]
    pub fn snapshot_without_ratio(&self) -> Snapshot {
        self.snapshot_with::<false>()
    }

    #[inline]
    fn snapshot_with<const RATIO: bool>(&self) -> Snapshot {
        self.snapshot_of::<RATIO>(self.shadow.wallet, &self.shadow.positions, &self.marks)
    }

    /// The snapshot of an account holding `wallet` and `positions` at `marks`: the one
    /// computation behind [`Venue::snapshot`] and the columns rebuilt from an
    /// [`AccountLog`], so that both give the same figures.
    #[inline(always)]
    fn snapshot_of<const RATIO: bool>(
        &self,
        wallet: f64,
        positions: &[Option<ShadowPosition>],
        marks: &[f64],
    ) -> Snapshot {
        let sh = &self.shadow;
        let mut snap = Snapshot {
            wallet,
            ..Snapshot::default()
        };
        let mut maint_sum = 0.0;
        for (s, p) in positions.iter().enumerate() {
            let Some(p) = p else { continue };
            let mark = if marks[s] > 0.0 { marks[s] } else { p.entry };
            let upnl = p.sign * p.qty * (mark - p.entry);
            snap.unrealised += upnl;
            snap.gross_notional += p.qty * mark;
            if !RATIO {
                continue;
            }
            let maint = sh.maint(s, p.qty, mark);
            snap.margin += p.margin;
            maint_sum += maint;
            if self.config.mode == MarginMode::Isolated {
                snap.margin_ratio = snap.margin_ratio.max(ratio(maint, p.margin + upnl));
            }
        }
        if !RATIO {
            snap.margin_ratio = f64::NAN;
        } else if self.config.mode == MarginMode::Cross && maint_sum > 0.0 {
            snap.margin_ratio = ratio(maint_sum, wallet + snap.unrealised);
        }
        snap
    }

    /// Logs the account as of `step` into `log` when it changed since the last state logged:
    /// most steps change nothing, which the shadow's change count tells in one comparison
    /// (debug builds also compare the states themselves, bit for bit).
    #[inline(always)]
    pub fn log_account(&self, step: u32, log: &mut AccountLog) {
        let sh = &self.shadow;
        if !log.steps.is_empty() && log.changes == sh.changes {
            debug_assert!(
                self.logged_state_is_current(log),
                "an unlogged shadow change"
            );
            return;
        }
        log.changes = sh.changes;
        log.steps.push(step);
        log.wallets.push(sh.wallet);
        log.positions.extend_from_slice(&sh.positions);
    }

    /// Whether `log`'s last state is the shadow's, bit for bit.
    fn logged_state_is_current(&self, log: &AccountLog) -> bool {
        let sh = &self.shadow;
        let n = sh.positions.len();
        log.wallets
            .last()
            .is_some_and(|w| w.to_bits() == sh.wallet.to_bits())
            && log.positions[log.positions.len() - n..]
                .iter()
                .zip(&sh.positions)
                .all(|(a, b)| same_bits(a, b))
    }

    /// [`Venue::snapshot`] as it was at a step whose account is `log`'s state `k` and whose
    /// marks were `marks`.
    pub fn logged_snapshot(&self, log: &AccountLog, k: usize, marks: &[f64]) -> Snapshot {
        let n = self.shadow.positions.len();
        self.snapshot_of::<true>(log.wallets[k], &log.positions[k * n..(k + 1) * n], marks)
    }

    /// [`Venue::liquidation_price`] of `symbol` in `log`'s state `k`.
    pub fn logged_liquidation_price(&self, log: &AccountLog, k: usize, symbol: usize) -> f64 {
        let n = self.shadow.positions.len();
        liquidation_of(log.positions[k * n + symbol])
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// USDT: the liquidation price of `symbol`'s open position as the per-bar check uses it
    /// (for cross margin, at the other symbols' latest marks); NaN when flat or when no
    /// price > 0 liquidates it.
    pub fn liquidation_price(&self, symbol: usize) -> f64 {
        liquidation_of(self.shadow.positions.get(symbol).copied().flatten())
    }

    /// Symbols traded.
    pub fn symbol_count(&self) -> usize {
        self.shadow.positions.len()
    }

    /// Accepts an approved order to rest (or, for a market order, to fill at the next bar's
    /// open), with its stop-loss and take-profit legs when it has them. `reference` is the
    /// last close (USDT), for sizing checks of orders without a price. Only the risk layer
    /// can build an [`Approved`] order.
    pub fn submit(&mut self, approved: Approved, reference: f64) -> Result<u64, OrderRefusal> {
        let order = *approved.order();
        match (approved.stop_loss(), approved.take_profit()) {
            (None, None) => self.accept(order, reference),
            (stop_loss, take_profit) => {
                self.submit_bracket(order, stop_loss, take_profit, reference)
            }
        }
    }

    /// An entry with its stop-loss and take-profit (either may be absent): the legs wait for
    /// the entry to fill, close the whole position, and cancel each other.
    fn submit_bracket(
        &mut self,
        entry: Order,
        stop_loss: Option<f64>,
        take_profit: Option<f64>,
        reference: f64,
    ) -> Result<u64, OrderRefusal> {
        let entry_id = self.accept(entry, reference)?;
        let leg = |kind| Order {
            side: entry.side.opposite(),
            qty: orders::Quantity::ClosePosition,
            kind,
            reduce_only: true,
            ..entry
        };
        let (sl_id, tp_id) = (self.next_id, self.next_id + u64::from(stop_loss.is_some()));
        if let Some(trigger) = stop_loss {
            let oco = take_profit.map(|_| tp_id);
            self.rest_unchecked(leg(OrderKind::StopMarket { trigger }), oco, entry_id);
        }
        if let Some(trigger) = take_profit {
            let oco = stop_loss.map(|_| sl_id);
            self.rest_unchecked(leg(OrderKind::TakeProfitMarket { trigger }), oco, entry_id);
        }
        Ok(entry_id)
    }

    /// Cancels every resting order of `symbol` (the kill switch's first step); returns how
    /// many.
    pub fn cancel_symbol(&mut self, time: i64, symbol: usize) -> usize {
        let ids: Vec<u64> = self
            .resting
            .iter()
            .filter(|r| r.prepared.order.symbol == symbol)
            .map(|r| r.id)
            .collect();
        ids.iter().filter(|&&id| self.cancel(time, id)).count()
    }

    /// Whether `symbol` has an order waiting (market, limit or a bracket leg).
    pub fn has_orders(&self, symbol: usize) -> bool {
        self.resting
            .iter()
            .any(|r| r.prepared.order.symbol == symbol)
    }

    /// Cancels a resting order (and nothing else); false if it is not resting.
    pub fn cancel(&mut self, time: i64, id: u64) -> bool {
        let Some(i) = self.resting.iter().position(|r| r.id == id) else {
            return false;
        };
        let r = self.resting.remove(i);
        self.refresh_levels();
        self.events.push(Event {
            time,
            symbol: r.prepared.order.symbol,
            kind: EventKind::Cancelled { id },
        });
        true
    }

    fn accept(&mut self, order: Order, reference: f64) -> Result<u64, OrderRefusal> {
        let prepared = orders::prepare(
            order,
            &self.instruments[order.symbol],
            self.account.position(order.symbol),
            reference,
        )?;
        let id = self.next_id;
        self.next_id += 1;
        self.resting.push(Resting {
            id,
            prepared,
            oco: None,
            waits_for: None,
        });
        self.refresh_levels();
        Ok(id)
    }

    /// A bracket leg: sized when it executes (close-position), so it is not prepared now.
    fn rest_unchecked(&mut self, order: Order, oco: Option<u64>, waits_for: u64) {
        let price = match order.kind {
            OrderKind::StopMarket { trigger } | OrderKind::TakeProfitMarket { trigger } => {
                Some(trigger)
            }
            _ => None,
        };
        let id = self.next_id;
        self.next_id += 1;
        self.resting.push(Resting {
            id,
            prepared: Prepared {
                order,
                qty: Decimal::ZERO,
                price,
            },
            oco,
            waits_for: Some(waits_for),
        });
        self.refresh_levels();
    }

    /// One bar of one symbol: funding, market orders, the path, the margin check.
    /// `funding` is `(rate, mark)` of a settlement falling in this bar.
    ///
    /// Most bars are quiet: no settlement, no market order waiting, no cross-margin
    /// liquidation prices to move, and a range that reaches neither the liquidation price
    /// nor any resting order's level (which also rules out opening through the liquidation
    /// price, as the open lies in the range). Such a bar only moves the mark and is checked
    /// for a margin call, inline, without the walk.
    #[inline(always)]
    pub fn on_bar(
        &mut self,
        symbol: usize,
        time: i64,
        last: &Ohlc,
        mark: &Ohlc,
        funding: Option<(f64, f64)>,
    ) {
        let busy = funding.is_some()
            || self.levels[symbol].market
            || (self.config.mode == MarginMode::Cross && self.open_positions() > 1)
            || self.bar_reaches_a_level(symbol, last, mark);
        if !busy {
            self.marks[symbol] = mark.close;
            self.check_margin_call(symbol, time);
            return;
        }
        self.on_bar_detailed(
            symbol,
            time,
            std::slice::from_ref(last),
            std::slice::from_ref(mark),
            funding,
        );
    }

    /// One bar of one symbol whose path is known at a finer timeframe: `last` and `mark` are
    /// the fine bars covering it, in time order (equal length, at least one). The path is
    /// theirs, one after another, instead of the guess from the coarse bar's OHLC; each fine
    /// bar's own path still follows [`PathOrder`].
    pub fn on_bar_detailed(
        &mut self,
        symbol: usize,
        time: i64,
        last: &[Ohlc],
        mark: &[Ohlc],
        funding: Option<(f64, f64)>,
    ) {
        debug_assert!(
            !last.is_empty() && last.len() == mark.len(),
            "fine last and mark bars must pair up"
        );
        let (Some(first_last), Some(first_mark)) = (last.first(), mark.first()) else {
            return;
        };
        self.marks[symbol] = first_mark.open;
        if let Some((rate, funding_mark)) = funding {
            self.settle_funding(symbol, time, rate, funding_mark);
        }
        if self.config.mode == MarginMode::Cross && self.open_positions() > 1 {
            self.refresh_cross_liquidation_prices();
        }
        // a bar that opens through the liquidation price liquidates at the open, before any
        // market order can trade the position at a price beyond its bankruptcy
        self.liquidate_if_opened_through(symbol, time, first_mark);
        self.fill_market_orders(symbol, time, first_last);
        for (l, m) in last.iter().zip(mark) {
            self.walk_path(symbol, time, l, m);
            self.marks[symbol] = m.close;
        }
        self.check_margin_call(symbol, time);
    }

    fn liquidate_if_opened_through(&mut self, symbol: usize, time: i64, mark: &Ohlc) {
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
    fn refresh_cross_liquidation_prices(&mut self) {
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

    fn open_positions(&self) -> usize {
        self.shadow.positions.iter().filter(|p| p.is_some()).count()
    }

    fn settle_funding(&mut self, symbol: usize, time: i64, rate: f64, mark: f64) {
        if self.shadow.positions[symbol].is_none() {
            return;
        }
        self.sync_marks();
        let paid = self
            .account
            .settle_funding(time, symbol, dec(mark), dec(rate));
        self.resync();
        self.events.push(Event {
            time,
            symbol,
            kind: EventKind::Funding { rate, mark, paid },
        });
    }

    fn fill_market_orders(&mut self, symbol: usize, time: i64, last: &Ohlc) {
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
    fn bar_reaches_a_level(&self, symbol: usize, last: &Ohlc, mark: &Ohlc) -> bool {
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
    fn walk_path(&mut self, symbol: usize, time: i64, last: &Ohlc, mark: &Ohlc) {
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
                Some(i) => {
                    let r = self.resting[i];
                    let reason = match r.prepared.order.kind {
                        OrderKind::Limit { .. } => FillReason::Limit,
                        OrderKind::StopMarket { .. } => FillReason::StopLoss,
                        _ => FillReason::TakeProfit,
                    };
                    self.execute(r, time, price, last, reason);
                }
            }
        }
    }

    /// Fills a resting order at `price` (before slippage for taker fills) and books it.
    fn execute(&mut self, r: Resting, time: i64, price: f64, bar: &Ohlc, reason: FillReason) {
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
            Ok(()) => {
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

    /// A bracket leg with no position left to close is cancelled, with its partner.
    fn drop_bracket(&mut self, r: Resting, time: i64) {
        self.events.push(Event {
            time,
            symbol: r.prepared.order.symbol,
            kind: EventKind::Cancelled { id: r.id },
        });
        if let Some(other) = r.oco {
            self.cancel(time, other);
        }
    }

    fn cancel_reducing_orders(&mut self, symbol: usize, time: i64) {
        let ids: Vec<u64> = self
            .resting
            .iter()
            .filter(|x| {
                x.prepared.order.symbol == symbol
                    && x.waits_for.is_none()
                    && (x.prepared.order.reduce_only
                        || x.prepared.order.qty == orders::Quantity::ClosePosition)
            })
            .map(|x| x.id)
            .collect();
        for id in ids {
            self.cancel(time, id);
        }
    }

    /// Liquidates at `price` on the mark path (LP, or the open of a gap), worse by the
    /// liquidation slippage; in cross margin every position goes, each at its latest mark.
    fn liquidate(&mut self, symbol: usize, time: i64, price: f64, mark: &Ohlc) {
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

    /// Records a margin call when the ratio at the close rises through the threshold
    /// (computed in `f64` from the shadow; the margin ratio is maintenance / margin balance,
    /// per position in isolated margin, over the account in cross).
    #[inline]
    fn check_margin_call(&mut self, symbol: usize, time: i64) {
        // One comparison per position when every position has its margin-call price: the
        // ratio is at or above θ exactly when the mark is at or past that price.
        let mut above = false;
        for (p, &mark) in self.shadow.positions.iter().zip(&self.marks) {
            let Some(p) = p else { continue };
            if p.margin_call.is_nan() {
                return self.check_margin_call_exactly(symbol, time);
            }
            above |= if p.sign > 0.0 {
                mark <= p.margin_call
            } else {
                mark >= p.margin_call
            };
        }
        if !above || self.in_margin_call {
            self.in_margin_call = above;
            return;
        }
        self.check_margin_call_exactly(symbol, time);
    }

    /// [`Venue::check_margin_call`] from the maintenance margin itself, when a position has
    /// no margin-call price or a call may be starting.
    #[inline(never)]
    fn check_margin_call_exactly(&mut self, symbol: usize, time: i64) {
        let sh = &self.shadow;
        let threshold = self.config.margin_call_ratio;
        // maintenance ≥ threshold × balance, compared without dividing (once per bar); the
        // ratio itself is computed only when a call is recorded
        let (mut above, mut reported) = (false, (0.0f64, 1.0f64));
        let (mut maint_sum, mut upnl_sum) = (0.0, 0.0);
        for (s, p) in sh.positions.iter().enumerate() {
            let Some(ShadowPosition {
                sign,
                qty,
                entry,
                margin,
                ..
            }) = *p
            else {
                continue;
            };
            let mark = if self.marks[s] > 0.0 {
                self.marks[s]
            } else {
                entry
            };
            let (maint, upnl) = (sh.maint(s, qty, mark), sign * qty * (mark - entry));
            if self.config.mode == MarginMode::Isolated && maint >= threshold * (margin + upnl) {
                above = true;
                reported = (maint, margin + upnl);
            }
            maint_sum += maint;
            upnl_sum += upnl;
        }
        if self.config.mode == MarginMode::Cross && maint_sum > 0.0 {
            above = maint_sum >= threshold * (sh.wallet + upnl_sum);
            reported = (maint_sum, sh.wallet + upnl_sum);
        }
        if above && !self.in_margin_call {
            let ratio = if reported.1 > 0.0 {
                reported.0 / reported.1
            } else {
                f64::INFINITY
            };
            self.events.push(Event {
                time,
                symbol,
                kind: EventKind::MarginCall { ratio },
            });
        }
        self.in_margin_call = above;
    }
}

/// The liquidation price in `f64`: the formula and tier search of
/// [`super::margin::liquidation_price`], with `backing` = the wallet (cross, plus the other
/// positions' unrealised PnL) or the isolated margin, on tiers `(cap, rate, amount)`. USDT;
/// `None` when no price > 0 reaches it.
fn liquidation_f64(
    sign: f64,
    qty: f64,
    entry: f64,
    backing: f64,
    other_maint: f64,
    tiers: &[(f64, f64, f64)],
) -> Option<f64> {
    let tier_of = |notional: f64| {
        tiers
            .iter()
            .position(|t| notional < t.0)
            .unwrap_or(tiers.len() - 1)
    };
    let mut tier = tier_of(qty * entry);
    let mut price = 0.0;
    for _ in 0..=tiers.len() {
        let (_, rate, amount) = tiers[tier];
        price = (backing - other_maint + amount - sign * qty * entry) / (qty * rate - sign * qty);
        if price <= 0.0 {
            break;
        }
        let at = tier_of(qty * price);
        if at == tier {
            break;
        }
        tier = at;
    }
    (price > 0.0).then_some(price)
}

/// maintenance / balance; ∞ when the balance is gone.
fn ratio(maint: f64, balance: f64) -> f64 {
    if balance > 0.0 {
        maint / balance
    } else {
        f64::INFINITY
    }
}

/// The account in `f64` at the latest marks. USDT unless noted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub wallet: f64,
    pub unrealised: f64,
    /// Σ |qty| × mark over open positions
    pub gross_notional: f64,
    /// initial (cross) or isolated margin committed
    pub margin: f64,
    /// fraction; 0 when flat
    pub margin_ratio: f64,
}

impl Snapshot {
    pub fn equity(&self) -> f64 {
        self.wallet + self.unrealised
    }
}

/// A market price or rate as `Decimal`, to 10⁻⁸ ([`super::to_decimal`]).
fn dec(x: f64) -> Decimal {
    super::to_decimal(x, super::PRICE_SCALE).unwrap_or(Decimal::ZERO)
}

/// `price` at the nearest tick (the exchange's fill prices are on the tick).
fn round_to_tick(price: f64, tick: Decimal) -> Decimal {
    orders::to_step(price, tick, 0).unwrap_or(Decimal::ZERO)
}

/// The level at which a resting order acts.
fn trigger_level(p: &Prepared) -> Option<Level> {
    let buy = p.order.side == Side::Long;
    match (p.order.kind, p.price) {
        (OrderKind::Market, _) | (_, None) => None,
        // a buy limit waits for the price to come down to it; a sell limit for it to rise
        (OrderKind::Limit { .. }, Some(x)) => Some(if buy {
            Level::AtOrBelow(x)
        } else {
            Level::AtOrAbove(x)
        }),
        // a buy stop (closing a short) fires on the way up; a sell stop (closing a long) on the way down
        (OrderKind::StopMarket { .. }, Some(x)) => Some(if buy {
            Level::AtOrAbove(x)
        } else {
            Level::AtOrBelow(x)
        }),
        // a sell take-profit (closing a long) fires on the way up; a buy one on the way down
        (OrderKind::TakeProfitMarket { .. }, Some(x)) => Some(if buy {
            Level::AtOrBelow(x)
        } else {
            Level::AtOrAbove(x)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::orders::Quantity;
    use crate::instrument::Instruments;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn bar(open: f64, high: f64, low: f64, close: f64) -> Ohlc {
        Ohlc {
            open,
            high,
            low,
            close,
        }
    }

    fn venue() -> Venue {
        let config = VenueConfig {
            mode: MarginMode::Isolated,
            start_balance: d("10000"),
            slippage: Slippage::None,
            path: PathOrder::AdverseFirst,
            margin_call_ratio: 0.8,
        };
        Venue::new(
            config,
            vec![Instruments::binance_usdm().get("BTCUSDT").unwrap().clone()],
        )
    }

    fn market(side: Side, qty: &str) -> Order {
        Order {
            symbol: 0,
            side,
            qty: Quantity::Base(d(qty)),
            kind: OrderKind::Market,
            reduce_only: false,
            leverage: d("10"),
        }
    }

    fn close_at(kind: OrderKind) -> Order {
        Order {
            symbol: 0,
            side: Side::Short,
            qty: Quantity::ClosePosition,
            kind,
            reduce_only: true,
            leverage: d("10"),
        }
    }

    /// A venue holding 1 BTC long from 65,000 at 10x: fee 32.5, margin 6,500, wallet 9,967.5,
    /// LP (tier 2) = (6,500 + 50 − 65,000)/(0.005 − 1) = 58,743.72, bankruptcy 58,500.
    fn long_one_btc() -> Venue {
        let mut v = venue();
        v.accept(market(Side::Long, "1"), 65_000.0).unwrap();
        let flat = bar(65_000.0, 65_100.0, 64_900.0, 65_000.0);
        v.on_bar(0, 0, &flat, &flat, None);
        assert_eq!(v.account.wallet(), d("9967.5"));
        v
    }

    /// (execution, margin lost, insurance cover) of the first liquidation. USDT
    fn liquidation(v: &Venue) -> (Decimal, Decimal, Decimal) {
        v.events()
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::Liquidation {
                    execution,
                    loss,
                    insurance_cover,
                    ..
                } => Some((*execution, *loss, *insurance_cover)),
                _ => None,
            })
            .expect("a liquidation event")
    }

    fn kinds(v: &Venue) -> Vec<&'static str> {
        v.events()
            .iter()
            .map(|e| match e.kind {
                EventKind::Fill { .. } => "fill",
                EventKind::Rejected { .. } => "rejected",
                EventKind::Cancelled { .. } => "cancelled",
                EventKind::Funding { .. } => "funding",
                EventKind::Liquidation { .. } => "liquidation",
                EventKind::MarginCall { .. } => "margin call",
            })
            .collect()
    }

    #[test]
    fn a_stop_between_entry_and_liquidation_fires_first_on_a_falling_bar() {
        let mut v = long_one_btc();
        v.accept(
            close_at(OrderKind::StopMarket { trigger: 60_000.0 }),
            65_000.0,
        )
        .unwrap();
        // 64,000 → 55,000: the stop (60,000) at t = 4,000/9,000 = 0.44 comes before LP (t = 0.58)
        let fall = bar(64_000.0, 64_100.0, 55_000.0, 56_000.0);
        v.on_bar(0, 1, &fall, &fall, None);
        assert_eq!(kinds(&v), ["fill", "fill"]);
        // PnL 60,000 − 65,000 = −5,000, fee 60,000 × 0.05 % = 30: 9,967.5 − 5,030 = 4,937.5
        assert_eq!(
            (v.account.wallet(), v.account.position(0)),
            (d("4937.5"), None)
        );
    }

    #[test]
    fn a_stop_below_the_liquidation_price_comes_too_late() {
        let mut v = long_one_btc();
        v.accept(
            close_at(OrderKind::StopMarket { trigger: 58_000.0 }),
            65_000.0,
        )
        .unwrap();
        let fall = bar(64_000.0, 64_100.0, 55_000.0, 56_000.0);
        v.on_bar(0, 1, &fall, &fall, None);
        // liquidated at LP (58,743.7 at the tick); the stop is cancelled with the position
        assert_eq!(kinds(&v), ["fill", "liquidation", "cancelled"]);
        assert_eq!(liquidation(&v), (d("58743.7"), d("6500"), d("0")));
        assert_eq!(v.account.wallet(), d("3467.5"));
    }

    #[test]
    fn a_gap_through_bankruptcy_liquidates_at_the_open_and_the_fund_covers_the_rest() {
        let mut v = long_one_btc();
        v.accept(
            close_at(OrderKind::StopMarket { trigger: 60_000.0 }),
            65_000.0,
        )
        .unwrap();
        // opens at 50,000, below the stop, the LP and the bankruptcy price (58,500)
        let gap = bar(50_000.0, 51_000.0, 49_000.0, 50_500.0);
        v.on_bar(0, 1, &gap, &gap, None);
        assert_eq!(kinds(&v), ["fill", "liquidation", "cancelled"]);
        // PnL 50,000 − 65,000 = −15,000 against 6,500 of margin: the fund covers 8,500
        assert_eq!(liquidation(&v), (d("50000"), d("6500"), d("8500")));
        assert_eq!(v.account.wallet(), d("3467.5"));
        assert!(v.account.is_conserved());
    }

    #[test]
    fn a_gap_at_the_open_liquidates_before_a_waiting_market_order_trades() {
        // found by the stream property test: a market sell waiting for the next open must not
        // close the long beyond bankruptcy when that open gaps through the LP (58,743.72)
        let mut v = long_one_btc();
        v.accept(market(Side::Short, "2"), 65_000.0).unwrap();
        let gap = bar(50_000.0, 51_000.0, 49_000.0, 50_500.0);
        v.on_bar(0, 1, &gap, &gap, None);
        // liquidated at the open; the market order is cancelled with the symbol's orders
        assert_eq!(kinds(&v), ["fill", "liquidation", "cancelled"]);
        assert_eq!(
            (v.account.wallet(), v.account.position(0)),
            (d("3467.5"), None)
        );
    }

    #[test]
    fn finer_bars_replace_the_guessed_path() {
        // 1 BTC long from 65,000 with a take-profit at 70,000 (LP 58,743.72). The hour's OHLC
        // 65,000 / 71,000 / 58,000 / 60,000 walked adverse-first reaches 58,000 first and
        // liquidates; its minutes show the rally came first, so the take-profit fills.
        let hour = bar(65_000.0, 71_000.0, 58_000.0, 60_000.0);
        let minutes = [
            bar(65_000.0, 71_000.0, 64_900.0, 70_500.0),
            bar(70_500.0, 70_600.0, 58_000.0, 60_000.0),
        ];
        let mut guessed = long_one_btc();
        guessed
            .accept(
                close_at(OrderKind::TakeProfitMarket { trigger: 70_000.0 }),
                65_000.0,
            )
            .unwrap();
        let mut detailed = guessed.clone();
        guessed.on_bar(0, 1, &hour, &hour, None);
        assert_eq!(kinds(&guessed), ["fill", "liquidation", "cancelled"]);
        detailed.on_bar_detailed(0, 1, &minutes, &minutes, None);
        assert_eq!(kinds(&detailed), ["fill", "fill"]);
        // +5,000 at 70,000, fee 35: 9,967.5 + 4,965 = 14,932.5
        assert_eq!(detailed.account.wallet(), d("14932.5"));
    }

    #[test]
    fn funding_raises_a_held_longs_liquidation_price_over_time() {
        let mut v = long_one_btc();
        let flat = bar(65_000.0, 65_100.0, 64_900.0, 65_000.0);
        let mut lps = vec![v.account.position(0).unwrap().liquidation.unwrap()];
        for t in 1..=3 {
            // each settlement: 1 × 65,000 × 0.01 % = 6.5 out of the margin
            v.on_bar(0, t, &flat, &flat, Some((0.0001, 65_000.0)));
            lps.push(v.account.position(0).unwrap().liquidation.unwrap());
        }
        assert!(lps.windows(2).all(|w| w[1] > w[0]));
        // margin 6,500 − 3 × 6.5 = 6,480.5: LP = (6,480.5 + 50 − 65,000)/(−0.995) = 58,763.32
        assert_eq!(lps[3].round_dp(2), d("58763.32"));
        assert_eq!(kinds(&v), ["fill", "funding", "funding", "funding"]);
    }

    #[test]
    fn a_bracket_takes_profit_and_cancels_its_stop() {
        let mut v = venue();
        v.submit_bracket(
            market(Side::Long, "1"),
            Some(60_000.0),
            Some(70_000.0),
            65_000.0,
        )
        .unwrap();
        let flat = bar(65_000.0, 65_100.0, 64_900.0, 65_000.0);
        v.on_bar(0, 0, &flat, &flat, None); // the entry fills at 65,000 (fee 32.5)
        let rally = bar(65_500.0, 71_000.0, 65_400.0, 70_500.0);
        v.on_bar(0, 1, &rally, &rally, None);
        assert_eq!(kinds(&v), ["fill", "fill", "cancelled"]);
        // +5,000 at 70,000, fee 35: 10,000 − 32.5 + 5,000 − 35 = 14,932.5
        assert_eq!(v.account.wallet(), d("14932.5"));
    }

    #[test]
    fn limits_fill_at_the_limit_or_a_better_open_with_the_maker_fee() {
        let mut v = venue();
        let limit = |price| Order {
            kind: OrderKind::Limit { price },
            ..market(Side::Long, "1")
        };
        v.accept(limit(64_000.0), 65_000.0).unwrap();
        v.on_bar(
            0,
            0,
            &bar(65_000.0, 65_200.0, 63_500.0, 64_500.0),
            &bar(65_000.0, 65_200.0, 63_500.0, 64_500.0),
            None,
        );
        let EventKind::Fill {
            price, fee, reason, ..
        } = &v.events()[0].kind
        else {
            panic!()
        };
        // at the limit, maker fee 64,000 × 0.02 % = 12.8
        assert_eq!(
            (*price, *fee, *reason),
            (d("64000"), d("12.8"), FillReason::Limit)
        );
        let mut v = venue();
        v.accept(limit(66_000.0), 65_000.0).unwrap();
        v.on_bar(
            0,
            0,
            &bar(65_000.0, 65_200.0, 64_800.0, 65_100.0),
            &bar(65_000.0, 65_200.0, 64_800.0, 65_100.0),
            None,
        );
        let EventKind::Fill { price, .. } = &v.events()[0].kind else {
            panic!()
        };
        assert_eq!(*price, d("65000"));
    }

    #[test]
    fn margin_calls_are_recorded_when_the_ratio_rises_through_the_threshold() {
        let mut v = long_one_btc();
        // The margin-call price is the LP formula on tiers divided by θ = 0.8: tier 2 gives
        // r = 0.005 / 0.8 = 0.00625 and c = 50 / 0.8 = 62.5, so
        // P = (6,500 + 62.5 − 65,000) / (0.00625 − 1) = −58,437.5 / −0.99375 = 58,805.03.
        let call = v.shadow.positions[0].unwrap().margin_call;
        assert!((call - 58_805.031_446).abs() < 1e-3, "{call}");
        // close 58,780 (above LP 58,743.72): MM 58,780 × 0.005 − 50 = 243.9, balance
        // 6,500 − 6,220 = 280: ratio 0.871 ≥ 0.8
        let low = bar(60_000.0, 60_100.0, 58_780.0, 58_780.0);
        v.on_bar(0, 1, &low, &low, None);
        v.on_bar(0, 2, &low, &low, None); // still above: no second call
        let up = bar(62_000.0, 62_100.0, 61_900.0, 62_000.0);
        v.on_bar(0, 3, &up, &up, None); // back below the threshold
        v.on_bar(0, 4, &low, &low, None); // through it again: a new call
        assert_eq!(kinds(&v), ["fill", "margin call", "margin call"]);
        let EventKind::MarginCall { ratio } = v.events()[1].kind else {
            panic!()
        };
        assert!((ratio - 243.9 / 280.0).abs() < 1e-9, "{ratio}");
    }

    mod streams {
        use super::*;
        use proptest::prelude::*;

        /// One step: how the bar moves (bp of the price: open gap, up wick, down wick, close),
        /// what the trader does, and a funding rate (bp) settled at the bar's open.
        type Step = ((i32, u32, u32, i32), (u8, u32, u32), i32);

        fn step() -> impl Strategy<Value = Step> {
            (
                (-300i32..300, 0u32..400, 0u32..400, -300i32..300),
                (0u8..6, 1u32..2000, 1u32..50),
                -30i32..30,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn ledger_holds_and_no_liquidation_is_missed(cross in any::<bool>(), steps in prop::collection::vec(step(), 1..80)) {
                let mut v = venue();
                if cross {
                    v.config.mode = MarginMode::Cross;
                    v.account = Account::new(d("10000"), MarginMode::Cross, v.instruments.clone());
                }
                let mut price = 50_000.0f64;
                for (t, ((gap, up, down, close), (action, qty_milli, lev), rate)) in steps.into_iter().enumerate() {
                    let open = price * (1.0 + f64::from(gap) * 1e-4);
                    let close_price = (open * (1.0 + f64::from(close) * 1e-4)).max(1.0);
                    let high = open.max(close_price) * (1.0 + f64::from(up) * 1e-4);
                    let low = (open.min(close_price) * (1.0 - f64::from(down) * 1e-4)).max(0.5);
                    let b = bar(open, high, low, close_price);
                    let funding = (rate != 0 && t % 8 == 0).then_some((f64::from(rate) * 1e-4, open));
                    v.on_bar(0, t as i64, &b, &b, funding);
                    prop_assert!(v.account.is_conserved(), "bar {}: wallet {}", t, v.account.wallet());
                    if let Some(p) = v.account.position(0)
                        && let Some(lp) = p.liquidation.and_then(|x| x.to_f64())
                    {
                        // it survived this bar: the mark never reached the LP it ended the bar with
                        let reached = if p.side == Side::Long { low <= lp } else { high >= lp };
                        // market fills and funding happen at the open, before the walk; only a fill in the
                        // middle of the bar moves the LP the rest of the bar is checked against
                        let changed = v.events().iter().any(|e| {
                            e.time == t as i64 && matches!(e.kind, EventKind::Fill { reason, .. } if reason != FillReason::Market)
                        });
                        prop_assert!(!reached || changed, "bar {}: {:?} survived with LP {} in [{}, {}]", t, p.side, lp, low, high);
                    }
                    price = close_price;
                    let qty = Quantity::Base(Decimal::new(qty_milli.into(), 3));
                    let leverage = Decimal::from(lev);
                    let order = |side, kind| Order { symbol: 0, side, qty, kind, reduce_only: false, leverage };
                    let _ = match action {
                        0 => v.accept(order(Side::Long, OrderKind::Market), price),
                        1 => v.accept(order(Side::Short, OrderKind::Market), price),
                        2 => v.submit_bracket(order(Side::Long, OrderKind::Market), Some(price * 0.97), Some(price * 1.05), price),
                        3 => v.accept(order(Side::Short, OrderKind::Limit { price: price * 1.01 }), price),
                        4 => v.accept(Order { reduce_only: true, ..order(Side::Short, OrderKind::StopMarket { trigger: price * 0.98 }) }, price),
                        _ => Ok(0),
                    };
                }
            }
        }
    }
}
