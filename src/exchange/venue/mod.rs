//! The simulated exchange: resting orders, and the work of one bar of one symbol (or, in
//! cross margin over several symbols, of one step of all of them: `joint.rs`).
//!
//! Per bar, in this order (the contract of `fill.rs` says where within the bar):
//! 1. a bar that opens through the liquidation price liquidates there first; then market
//!    orders submitted before the bar fill at its open (plus slippage);
//! 2. funding settlements are booked at their own times and marks (`funding.rs`): those at
//!    the open after the open's fills, those inside the bar by the rule written there;
//! 3. the path is walked: liquidation (mark path) and resting limit, stop-loss and take-profit
//!    orders (last path) execute in path order, each fill re-evaluating what comes after it;
//!    the two legs of a bracket cancel each other (OCO) and are cancelled with the position;
//!    a liquidation cancels every open order of the liquidated symbols (all, in cross margin);
//! 4. a margin call is recorded when the margin ratio at the bar's worst point reaches the
//!    threshold (`margin_call.rs`).
//!
//! Where a finer timeframe of the symbol is given, [`Venue::on_bar_detailed`] walks the fine
//! bars' paths in order instead of guessing the coarse bar's.
//!
//! Everything that happens is an [`Event`]. In a bar where nothing happens the work is `f64`
//! comparisons (see `benches/exchange.rs`); `Decimal` is used only when something is booked.
//! Limits of this stage: one-way positions.
//!
//! Rooms: `resting.rs` (resting orders, brackets, cancels), `view.rs` (the account's `f64`
//! view, its log and snapshots), `walk.rs` (one symbol's bar walk: fills, liquidation),
//! `funding.rs` (where settlements are booked), `joint.rs` (cross margin over several
//! symbols), `margin_call.rs`.

mod funding;
mod joint;
mod margin_call;
mod resting;
mod view;
mod walk;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::Side;
use super::account::{Account, MarginMode};
use super::fill::{PathOrder, Slippage};
use super::orders;
use crate::instrument::InstrumentSpec;

use resting::{Levels, Resting};

use view::Shadow;
pub use view::{AccountLog, Snapshot};

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
        /// a reduce-only order (an exit, a cut, a stop-loss or take-profit leg): its
        /// leverage sets nothing
        reduce_only: bool,
        /// USDT, > 0 when the closing part's loss passed what backed it (a fill beyond
        /// bankruptcy): the insurance fund took the rest, as at a liquidation
        insurance_cover: Decimal,
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
        /// in cross margin, the account's other positions, closed with it at their latest
        /// marks: (symbol, execution price USDT)
        co_liquidated: Vec<(usize, Decimal)>,
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

/// The exchange: an account, its resting orders, and what happened.
#[derive(Clone, Debug)]
pub struct Venue {
    pub config: VenueConfig,
    pub account: Account,
    instruments: Vec<InstrumentSpec>,
    resting: Vec<Resting>,
    events: Vec<Event>,
    next_id: u64,
    /// per symbol in isolated margin (slot 0 for the account in cross): a margin call is
    /// open (`margin_call.rs`)
    in_margin_call: Vec<bool>,
    /// USDT, latest mark per symbol as `f64` (the account's `Decimal` marks are synced only
    /// before something is booked)
    marks: Vec<f64>,
    /// `f64` copies of the account's state, refreshed after every booking, so that a bar in
    /// which nothing happens touches no `Decimal` and allocates nothing
    shadow: Shadow,
    /// per symbol: what its active resting orders can do, refreshed when the orders change
    levels: Vec<Levels>,
    /// cross margin over several symbols: bars are gathered and the step walked jointly
    /// (`joint.rs`)
    joint: bool,
    gathered: Vec<joint::Gathered>,
    gathered_funding: Vec<crate::market::Settlement>,
    /// the gathered bars' finer bars, (last, mark)
    gathered_fine: Vec<(crate::market::Ohlc, crate::market::Ohlc)>,
    /// scratch for the joint walk of one fine bar of every symbol
    fine_step: Vec<joint::Gathered>,
    /// per symbol, the mark's low and high over the step being gathered (its latest mark
    /// when it has no bar in it)
    step_low: Vec<f64>,
    step_high: Vec<f64>,
}

impl Venue {
    pub fn new(config: VenueConfig, instruments: Vec<InstrumentSpec>) -> Venue {
        let account = Account::new(config.start_balance, config.mode, instruments.clone());
        let config_joint = config.mode == MarginMode::Cross && instruments.len() > 1;
        let n = instruments.len();
        let f = |d: Decimal| d.to_f64().unwrap_or(f64::MAX);
        let shadow = Shadow {
            wallet: f(config.start_balance),
            positions: vec![None; n],
            changes: 0,
            tiers: vec![Vec::new(); n],
            call_tiers: vec![Vec::new(); n],
            on_entry: instruments
                .iter()
                .map(|i| i.liquidation_model.on_entry())
                .collect(),
            stepped: instruments
                .iter()
                .any(|i| i.liquidation_model.whole_position_tiers()),
        };
        let marks = vec![0.0; n];
        let levels = vec![Levels::NONE; n];
        let (resting, events) = (Vec::new(), Vec::new());
        let mut venue = Venue {
            config,
            account,
            instruments,
            resting,
            events,
            next_id: 1,
            in_margin_call: vec![false; n],
            marks,
            shadow,
            levels,
            joint: config_joint,
            gathered: Vec::new(),
            gathered_funding: Vec::new(),
            gathered_fine: Vec::new(),
            fine_step: Vec::new(),
            step_low: vec![0.0; n],
            step_high: vec![0.0; n],
        };
        for s in 0..n {
            let brackets = venue.instruments[s].brackets.clone();
            venue.set_view_brackets(s, &brackets);
        }
        venue
    }

    /// Puts the bracket table `tiers` in force for `symbol` from now on (a dated table
    /// taking over): the account, the `f64` view and the liquidation and margin-call prices
    /// move to it.
    pub fn set_brackets(&mut self, symbol: usize, tiers: &[crate::instrument::Tier]) {
        // into the buffer already there: a run allocates nothing in its steady state
        let own = &mut self.instruments[symbol].brackets;
        own.clear();
        own.extend_from_slice(tiers);
        self.sync_marks();
        self.account.set_brackets(symbol, tiers);
        self.set_view_brackets(symbol, tiers);
        self.resync();
    }

    /// Puts `tiers` in the `f64` view of `symbol` only, as (cap, maintenance rate, amount),
    /// and its call tiers: rate and amount divided by the margin-call threshold θ, on which
    /// the liquidation-price formula gives the price where the margin ratio reaches θ. The
    /// figures rebuilt after a run from its account log take, at each step, the table that
    /// was in force then.
    pub fn set_view_brackets(&mut self, symbol: usize, tiers: &[crate::instrument::Tier]) {
        let f = |d: Decimal| d.to_f64().unwrap_or(f64::MAX);
        let theta = call_threshold(self.config.margin_call_ratio);
        let view = &mut self.shadow.tiers[symbol];
        view.clear();
        view.extend(
            tiers
                .iter()
                .map(|t| (f(t.cap), f(t.maint_margin_rate), f(t.maint_amount))),
        );
        let calls = &mut self.shadow.call_tiers[symbol];
        calls.clear();
        calls.extend(
            view.iter()
                .map(|&(cap, rate, amount)| (cap, rate / theta, amount / theta)),
        );
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Symbols traded.
    pub fn symbol_count(&self) -> usize {
        self.shadow.positions.len()
    }
}

/// The margin-call threshold θ the call tiers are divided by (1 when calls are off).
fn call_threshold(ratio: f64) -> f64 {
    if ratio > 0.0 { ratio } else { 1.0 }
}

/// A market price or rate as `Decimal`, to 10⁻⁸ ([`super::to_decimal`]).
fn dec(x: f64) -> Decimal {
    super::to_decimal(x, super::PRICE_SCALE).unwrap_or(Decimal::ZERO)
}

/// `price` at the nearest tick (the exchange's fill prices are on the tick).
fn round_to_tick(price: f64, tick: Decimal) -> Decimal {
    orders::to_step(price, tick, 0).unwrap_or(Decimal::ZERO)
}
