//! The risk layer's state and its two entry points: [`RiskLayer::on_step`] after every time
//! step (breakers and guards, which may act on their own) and [`RiskLayer::on_signal`] for
//! each strategy signal (which becomes approved orders or a refusal).
//!
//! Contract:
//! - It reads the market only through [`RiskLayer::observe`] (closed bars) and the account
//!   through the venue; nothing in it knows whether the market is historical, so `run`,
//!   `sweep` and `paper` share it.
//! - Its orders are market orders (an entry may carry stop-loss and take-profit legs); they
//!   fill at the next bar's open. Sizing uses the last close as the reference price.
//! - Reducing risk (exit, reduce, a guard's cut) is always approved. Adding risk passes the
//!   breakers, then sizing, then the caps, in the order of [`super::entry`].
//! - Every decision is a [`RiskEvent`]; in a step without signals and without anything to
//!   act on, the work is a few `f64` comparisons per symbol (see `benches/risk.rs`).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::approved::Approved;
use super::audit::{At, Audit, RiskEvent, Rule};
use super::config::RiskConfig;
use super::estimators::{Covariance, SymbolEstimates};
use super::guards::ZoneStep;
use super::sizing::TradeRecord;
use crate::exchange::account::MarginMode;
use crate::exchange::fill::Ohlc;
use crate::exchange::orders::{Order, OrderKind, Quantity};
use crate::exchange::venue::{EventKind, Venue};
use crate::exchange::{Side, approx_f64};
use crate::instrument::InstrumentSpec;

pub(super) const DAY: i64 = 86_400_000;

/// A bracket tier in `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct TierF {
    /// USDT: notional below which the tier applies
    pub cap: f64,
    pub max_leverage: f64,
    pub rate: f64,
    /// USDT
    pub amount: f64,
}

/// An open position as the risk layer reads it (`f64`, refreshed when the account changes).
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    /// +1 long, −1 short
    pub sign: f64,
    pub qty: f64,
    /// USDT
    pub entry: f64,
    /// USDT: initial (cross) or isolated margin
    pub margin: f64,
    /// USDT; NaN when no price liquidates it
    pub liquidation: f64,
}

impl Held {
    /// USDT: unrealised PnL at `mark`.
    #[inline(always)]
    pub fn unrealised(&self, mark: f64) -> f64 {
        self.sign * self.qty * (mark - self.entry)
    }

    /// USDT: maintenance margin at `mark` on the symbol's `tiers`.
    #[inline(always)]
    pub fn maintenance(&self, mark: f64, tiers: &[TierF]) -> f64 {
        self.maintenance_in(mark, tier_of(tiers, self.qty * mark))
    }

    /// USDT: maintenance margin at `mark` in the tier `t`.
    #[inline(always)]
    pub fn maintenance_in(&self, mark: f64, t: TierF) -> f64 {
        crate::exchange::margin::maintenance_f64(self.qty * mark, t.rate, t.amount)
    }
}

/// A trade being tracked for the record (Kelly, losing streaks).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct OpenTrade {
    /// base asset, signed
    pub qty: f64,
    /// USDT, the largest notional it reached
    pub notional: f64,
    /// USDT: fees, funding and realised PnL booked to it
    pub pnl: f64,
}

/// The latest funding of a symbol.
#[derive(Clone, Copy, Debug)]
pub(super) struct FundingSeen {
    pub time: i64,
    /// fraction per day (the rate times settlements a day)
    pub per_day: f64,
}

/// Between strategies and the exchange.
#[derive(Clone, Debug)]
pub struct RiskLayer {
    pub(super) config: RiskConfig,
    /// the venue's, read at each call
    pub(super) mode: MarginMode,
    /// per symbol: the tiers its held position's maintenance is charged on — the symbol's
    /// table, or where the model charges the entry price (Bybit) the one tier that keeps it
    /// constant (`exchange::margin::entry_tier`)
    pub(super) tiers: Vec<Vec<TierF>>,
    /// per symbol: the bracket table in force, for positions yet to be opened
    pub(super) published: Vec<Vec<TierF>>,
    /// per symbol: whether its model charges maintenance on the entry price
    pub(super) on_entry: Vec<bool>,
    pub(super) bars_per_day: f64,
    /// days, the liquidation-probability guard's horizon
    pub(super) horizon_days: f64,
    pub(super) estimates: Vec<SymbolEstimates>,
    pub(super) covariance: Covariance,
    /// the step's return per symbol, gathered for the covariance (no allocation per step)
    step_returns: Vec<f64>,
    /// USDT per symbol: the latest mark close (NaN before the first bar); the latest close
    /// is the estimates' own
    pub(super) marks: Vec<f64>,
    pub(super) funding: Vec<Option<FundingSeen>>,
    /// USDT
    pub(super) wallet: f64,
    pub(super) held: Vec<Option<Held>>,
    /// whether any of `held` is open (refreshed with it), so that a flat step skips the
    /// position guards with one test
    pub(super) holding: bool,
    pub(super) trades: TradeRecord,
    pub(super) open_trades: Vec<Option<OpenTrade>>,
    pub(super) seen_events: usize,
    pub(super) seen_entries: usize,
    pub(super) breakers: super::guards::Breakers,
    pub(super) guards: super::guards::GuardState,
    /// a one-symbol layer's calm zone (see [`super::guards::CalmZone`])
    pub(super) zone: super::guards::CalmZone,
    /// the portfolio as this step's approved orders will leave it
    pub(super) book: super::book::Book,
    /// per symbol: the taker fee rate a market order pays
    pub(super) fee_rate: Vec<f64>,
    /// the most slippage the venue's fill model applies, as a fraction of the price (read
    /// from the venue with the margin mode)
    pub(super) slippage: f64,
    /// per symbol: whether the portfolio-volatility cap said it assumes correlation 1 (once)
    pub(super) stand_in_noted: Vec<bool>,
    /// scratch: the order in which a step's signals are taken
    pub(super) signal_order: Vec<usize>,
    /// whether the hand-over to Kelly sizing was recorded
    pub(super) kelly_noted: bool,
    pub(super) audit: Audit,
}

impl RiskLayer {
    /// Puts the bracket table `tiers` in force for `symbol` (a dated table taking over, as
    /// the venue does at the same step): the next step takes every full check, since the
    /// quick ones were worked out on the old tiers.
    pub fn set_brackets(&mut self, symbol: usize, tiers: &[crate::instrument::Tier]) {
        let view = &mut self.published[symbol];
        view.clear();
        view.extend(tiers.iter().map(tier_f64));
        self.charge_tiers(symbol);
        self.guards.position_changed(symbol);
        self.forget_quick_checks();
    }

    /// `instruments` in the venue's symbol order; `timeframe` ms of a bar; `start` the
    /// starting wallet (USDT).
    pub fn new(
        config: RiskConfig,
        instruments: &[InstrumentSpec],
        timeframe: i64,
        start: f64,
    ) -> Result<RiskLayer, super::config::RiskConfigError> {
        config.check()?;
        let n = instruments.len();
        let bars = |span: i64| u32::try_from((span / timeframe.max(1)).max(1)).unwrap_or(u32::MAX);
        let tiers: Vec<Vec<TierF>> = instruments.iter().map(tiers_f64).collect();
        let estimates = (0..n)
            .map(|_| {
                SymbolEstimates::new(
                    bars(config.volatility_window),
                    bars(config.volatility_baseline),
                    config.atr_bars,
                )
            })
            .collect();
        let horizon_days = config.liquidation_horizon as f64 / DAY as f64;
        Ok(RiskLayer {
            horizon_days,
            covariance: Covariance::new(n, bars(config.volatility_window)),
            guards: super::guards::GuardState::new(n),
            breakers: super::guards::Breakers::new(start),
            zone: super::guards::CalmZone::NONE,
            book: super::book::Book::new(n),
            fee_rate: instruments
                .iter()
                .map(|i| i.taker_fee.to_f64().unwrap_or(0.0))
                .collect(),
            slippage: 0.0,
            stand_in_noted: vec![false; n],
            signal_order: Vec::new(),
            kelly_noted: false,
            config,
            mode: MarginMode::Isolated,
            published: tiers.clone(),
            on_entry: instruments
                .iter()
                .map(|i| i.liquidation_model.on_entry())
                .collect(),
            tiers,
            bars_per_day: DAY as f64 / timeframe.max(1) as f64,
            estimates,
            step_returns: vec![0.0; n],
            marks: vec![f64::NAN; n],
            funding: vec![None; n],
            wallet: start,
            held: vec![None; n],
            holding: false,
            trades: TradeRecord::default(),
            open_trades: vec![None; n],
            seen_events: 0,
            seen_entries: 0,
            audit: Audit::default(),
        })
    }

    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    /// Every decision so far.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// From now on, counts decisions without keeping them (see [`Audit::counts_only`]).
    pub fn count_decisions_only(&mut self) {
        self.audit = Audit::counts_only();
    }

    /// The strategy's closed trades as the risk layer counted them.
    pub fn trades(&self) -> &TradeRecord {
        &self.trades
    }

    /// A closed bar of `symbol` (last-price OHLC, USDT), its mark close, and the funding
    /// settled in it as `(time ms, rate)`.
    #[inline(always)]
    pub fn observe(
        &mut self,
        symbol: usize,
        bar: &Ohlc,
        mark_close: f64,
        funding: Option<(i64, f64)>,
    ) {
        self.estimates[symbol].update(bar.high, bar.low, bar.close);
        self.marks[symbol] = mark_close;
        if let Some((time, rate)) = funding {
            self.observe_funding(symbol, time, rate);
        }
    }

    fn observe_funding(&mut self, symbol: usize, time: i64, rate: f64) {
        self.drop_calm_zone();
        // settlements a day from the interval since the last one (8 h until two are seen)
        let interval = match self.funding[symbol] {
            Some(f) if time > f.time => time - f.time,
            _ => 8 * 3_600_000,
        };
        self.funding[symbol] = Some(FundingSeen {
            time,
            per_day: rate * DAY as f64 / interval as f64,
        });
    }

    /// After every symbol's bar of a time step has been walked by the venue and observed:
    /// catches up with the account, then runs the breakers and guards. `time` is the
    /// step's close (ms).
    #[inline(always)]
    pub fn on_step(&mut self, time: i64, venue: &mut Venue) {
        if venue.events().len() != self.seen_events
            || venue.account.entries().len() != self.seen_entries
        {
            self.sync(venue);
        }
        match self.zone_step(time) {
            ZoneStep::Calm => return,
            ZoneStep::NewPeriod => return self.roll_calm_zone_over(time, venue),
            ZoneStep::Miss => {}
        }
        // read by the checks that act (a calm step does not)
        self.read_venue_config(venue);
        self.drop_calm_zone();
        if self.calm_step(time) {
            return;
        }
        let equity = self.equity();
        self.check_breakers(time, equity, venue);
        self.checks_after_breakers(time, equity, venue);
    }

    /// The guards, the volatility halt and the covariance: a full step's checks after the
    /// breakers'.
    #[inline(always)]
    pub(super) fn checks_after_breakers(&mut self, time: i64, equity: f64, venue: &mut Venue) {
        if self.holding || self.margin_guard_engaged() {
            // flat, an engaged margin guard reads 0 and lifts
            self.check_margin_guard(time, equity, venue);
        }
        if self.holding {
            self.check_liquidation_guard(time, venue);
        }
        self.check_volatility_halt(time, venue);
        if self.covariance.symbols() >= 2 {
            self.update_covariance();
        }
    }

    #[inline(never)]
    fn update_covariance(&mut self) {
        for (r, e) in self.step_returns.iter_mut().zip(&mut self.estimates) {
            *r = e.last_return;
            e.last_return = 0.0;
        }
        self.covariance.update(&self.step_returns);
    }

    /// The margin mode and the fill model's slippage, which the venue's config holds.
    pub(super) fn read_venue_config(&mut self, venue: &Venue) {
        self.mode = venue.config.mode;
        self.slippage = venue.config.slippage.worst_fraction();
    }

    /// USDT: the equity entries are sized on — at the latest marks, less what the orders
    /// already approved in this step will cost (a flip's new leg is sized after its closing
    /// leg's fee).
    pub(super) fn sizing_equity(&self) -> f64 {
        self.equity() - self.book.cost()
    }

    /// USDT: what a market order of `notional` on `symbol` costs the wallet at most: its
    /// taker fee on the slipped price, and the slippage.
    pub(super) fn order_cost(&self, symbol: usize, notional: f64) -> f64 {
        let s = self.slippage;
        notional * ((1.0 + s) * self.fee_rate[symbol] + s)
    }

    /// USDT, at the latest marks.
    #[inline]
    pub fn equity(&self) -> f64 {
        let mut equity = self.wallet;
        for (h, &mark) in self.held.iter().zip(&self.marks) {
            if let Some(h) = h {
                equity += h.unrealised(mark);
            }
        }
        equity
    }

    /// Reads the account again after it changed, and counts closed trades.
    pub(super) fn sync(&mut self, venue: &Venue) {
        self.drop_calm_zone();
        let account = &venue.account;
        for e in &account.entries()[self.seen_entries..] {
            let trade = self.open_trades[e.symbol].get_or_insert_default();
            trade.pnl += approx_f64(e.amount);
        }
        self.seen_entries = account.entries().len();
        for i in self.seen_events..venue.events().len() {
            let e = &venue.events()[i];
            match &e.kind {
                EventKind::Fill {
                    side, qty, price, ..
                } => {
                    let (q, p) = (approx_f64(*qty), approx_f64(*price));
                    self.track_fill(e.symbol, side.sign_f64() * q, p);
                }
                EventKind::Liquidation { .. } => self.finish_trade(e.symbol),
                _ => {}
            }
        }
        self.seen_events = venue.events().len();
        self.wallet = approx_f64(account.wallet());
        for symbol in 0..self.held.len() {
            let held = account.position(symbol).map(|p| Held {
                sign: p.side.sign_f64(),
                qty: approx_f64(p.qty),
                entry: approx_f64(p.entry),
                margin: approx_f64(p.margin),
                liquidation: p.liquidation.map_or(f64::NAN, approx_f64),
            });
            let changed = match (held, self.held[symbol]) {
                (Some(a), Some(b)) => {
                    a.qty != b.qty || a.sign != b.sign || a.liquidation != b.liquidation
                }
                (None, None) => false,
                _ => true,
            };
            if held.is_none() && self.open_trades[symbol].is_some_and(|t| t.qty != 0.0) {
                self.finish_trade(symbol);
            }
            self.held[symbol] = held;
            if changed {
                self.charge_tiers(symbol);
                self.guards.position_changed(symbol);
            }
        }
        self.holding = self.held.iter().any(Option::is_some);
    }

    /// Follows a trade's size through a fill (`signed` base asset at `price`).
    fn track_fill(&mut self, symbol: usize, signed: f64, price: f64) {
        let trade = self.open_trades[symbol].get_or_insert_default();
        let before = trade.qty;
        let after = before + signed;
        let flat = after.abs() <= 1e-12 * before.abs().max(1.0);
        if before != 0.0 && (flat || after * before < 0.0) {
            self.finish_trade(symbol);
            if !flat {
                self.open_trades[symbol] = Some(OpenTrade {
                    qty: after,
                    notional: after.abs() * price,
                    pnl: 0.0,
                });
            }
            return;
        }
        trade.qty = after;
        trade.notional = trade.notional.max(after.abs() * price);
    }

    /// Records a finished trade's return on its notional.
    fn finish_trade(&mut self, symbol: usize) {
        if let Some(t) = self.open_trades[symbol].take()
            && t.notional > 0.0
        {
            self.trades.push(t.pnl / t.notional);
        }
    }

    /// Records a decision.
    pub(super) fn record(&mut self, event: RiskEvent) {
        self.audit.record(event);
    }

    /// Closes `symbol`'s position at the next open, cancelling its other orders first; `rule`
    /// and its figures `why` say why (`Rule::Signal`: as the signal asked).
    pub(super) fn close(
        &mut self,
        at: At,
        symbol: usize,
        rule: Rule,
        why: (f64, f64),
        venue: &mut Venue,
    ) {
        let Some(h) = self.held[symbol] else { return };
        if self.book.at(at.time, &self.held).qty(symbol) == 0.0 {
            // closed already in this step
            return;
        }
        venue.cancel_symbol(at.time, symbol);
        let order = self.reducing_order(symbol, h, Quantity::ClosePosition);
        if self.send(at, symbol, order, venue).is_some() {
            let cost = self.order_cost(symbol, h.qty * self.estimates[symbol].last_close());
            self.book.cut(symbol, 0.0, cost);
        }
        self.record(if rule == Rule::Signal {
            RiskEvent::approved(at, (h.qty, 0.0), f64::NAN)
        } else {
            RiskEvent::closed(at, rule, h.qty, why)
        });
    }

    /// Cuts `symbol`'s position to `to` base asset at the next open; `rule` and its figures
    /// `why` say why (`Rule::Signal`: as the signal asked).
    pub(super) fn reduce_to(
        &mut self,
        at: At,
        symbol: usize,
        rule: Rule,
        to: f64,
        why: (f64, f64),
        venue: &mut Venue,
    ) {
        let Some(h) = self.held[symbol] else { return };
        // a cut earlier in the step (a guard's) counts: this one starts from what it left
        let from = self
            .book
            .at(at.time, &self.held)
            .qty(symbol)
            .abs()
            .min(h.qty);
        let to = to.max(0.0);
        if to >= from {
            return;
        }
        let cut =
            crate::exchange::to_decimal(from - to, crate::exchange::QTY_SCALE).unwrap_or_default();
        if cut <= Decimal::ZERO {
            return;
        }
        let order = self.reducing_order(symbol, h, Quantity::Base(cut));
        if let Some(id) = self.send(at, symbol, order, venue) {
            // the venue cuts what the lot step leaves of the order
            let cut = venue.resting_qty(id).unwrap_or(from - to);
            let cost = self.order_cost(symbol, cut * self.estimates[symbol].last_close());
            self.book.cut(symbol, from - cut, cost);
            self.record(if rule == Rule::Signal {
                RiskEvent::approved(at, (from, to), f64::NAN)
            } else {
                RiskEvent::reduced(at, rule, (from, to), why)
            });
        }
    }

    fn reducing_order(&self, symbol: usize, h: Held, qty: Quantity) -> Order {
        Order {
            symbol,
            side: if h.sign > 0.0 {
                Side::Short
            } else {
                Side::Long
            },
            qty,
            kind: OrderKind::Market,
            reduce_only: true,
            leverage: Decimal::ONE,
        }
    }

    /// Approves and submits a reducing order; an exchange refusal is recorded. Its id if sent.
    fn send(&mut self, at: At, symbol: usize, order: Order, venue: &mut Venue) -> Option<u64> {
        let reference = self.estimates[symbol].last_close();
        match venue.submit(Approved::new(order, None, None), reference) {
            Ok(id) => Some(id),
            Err(refusal) => {
                self.record(RiskEvent::refused_by_exchange(at, refusal));
                None
            }
        }
    }

    /// The tier of `notional` (USDT) for `symbol` in its bracket table.
    pub(super) fn tier(&self, symbol: usize, notional: f64) -> TierF {
        tier_of(&self.published[symbol], notional)
    }

    /// Sets the tiers `symbol`'s held position is charged on (`tiers`): its table, or for
    /// a model charging the entry price, rate 0 and amount −MM_e with MM_e the maintenance
    /// at the entry (the exact form is `exchange::margin::entry_tier`).
    fn charge_tiers(&mut self, symbol: usize) {
        let (table, charged) = (&self.published[symbol], &mut self.tiers[symbol]);
        match self.held[symbol] {
            Some(h) if self.on_entry[symbol] => {
                let notional = h.qty * h.entry;
                let t = tier_of(table, notional);
                charged.clear();
                charged.push(TierF {
                    cap: f64::INFINITY,
                    max_leverage: t.max_leverage,
                    rate: 0.0,
                    amount: -crate::exchange::margin::maintenance_f64(notional, t.rate, t.amount),
                });
            }
            _ if *charged != *table => charged.clone_from(table),
            _ => {}
        }
    }

    /// USDT: maintenance margin of every position at the latest marks — the same sum, in the
    /// same order, as `maintenance(None)`, in one pass (the margin guard takes it each step).
    #[inline(always)]
    pub(super) fn maintenance_all(&self) -> f64 {
        let mut total = 0.0;
        for ((h, &mark), tiers) in self.held.iter().zip(&self.marks).zip(&self.tiers) {
            if let Some(h) = h {
                total += h.maintenance(mark, tiers);
            }
        }
        total
    }

    /// USDT: maintenance margin of every position except `skip`'s, at the latest marks.
    pub(super) fn maintenance(&self, skip: Option<usize>) -> f64 {
        self.maintenance_of(|s| self.held[s].map_or(0.0, |h| h.qty), skip)
    }

    /// USDT: maintenance margin at the latest marks of the positions `qty` gives (base
    /// asset per symbol, ≥ 0; 0: none), except `skip`'s — held ones, or the book's.
    pub(super) fn maintenance_of(&self, qty: impl Fn(usize) -> f64, skip: Option<usize>) -> f64 {
        let mut total = 0.0;
        for s in 0..self.held.len() {
            let q = qty(s);
            if q != 0.0 && Some(s) != skip {
                let notional = q * self.marks[s];
                // a held position as it is: its own tiers; else the table's
                let t = match self.held[s] {
                    Some(h) if h.qty == q => tier_of(&self.tiers[s], notional),
                    _ => self.tier(s, notional),
                };
                total += crate::exchange::margin::maintenance_f64(notional, t.rate, t.amount);
            }
        }
        total
    }
}

/// The tier a notional (USDT) falls in: the first whose cap is above it, else the last.
#[inline(always)]
pub(super) fn tier_of(tiers: &[TierF], notional: f64) -> TierF {
    tiers[tier_index(tiers, notional)]
}

/// The index of [`tier_of`]'s tier.
#[inline(always)]
pub(super) fn tier_index(tiers: &[TierF], notional: f64) -> usize {
    tiers
        .iter()
        .position(|t| notional < t.cap)
        .unwrap_or(tiers.len() - 1)
}

fn tiers_f64(spec: &InstrumentSpec) -> Vec<TierF> {
    tiers_of(&spec.brackets)
}

pub(super) fn tiers_of(brackets: &[crate::instrument::Tier]) -> Vec<TierF> {
    brackets.iter().map(tier_f64).collect()
}

fn tier_f64(t: &crate::instrument::Tier) -> TierF {
    TierF {
        cap: t.cap.to_f64().unwrap_or(f64::INFINITY),
        max_leverage: f64::from(t.max_leverage),
        rate: t.maint_margin_rate.to_f64().unwrap_or(0.0),
        amount: t.maint_amount.to_f64().unwrap_or(0.0),
    }
}
