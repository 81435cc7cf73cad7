//! Round-trip trades rebuilt from the venue's event log: a trade opens when a symbol goes
//! from flat to a position and closes when it is flat again (or is still open at the end).
//!
//! PnL per trade = realised price PnL (every partial reduction's, and the close's) − fees −
//! funding paid (funding received counts positive). A liquidated trade adds what the account
//! lost at the liquidation (its remaining margin in isolated mode). In cross margin, one
//! liquidation closes every position: each other position closes at its execution price (its
//! latest mark) with its own price PnL, and the trade whose symbol triggered it takes the rest
//! of the account's loss (its price PnL and the clearance). So Σ trade PnL, with the open
//! trades at the last marks, is the equity's change, in every margin mode.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::exchange::Side;
use crate::exchange::venue::{Event, EventKind, FillReason};
use crate::risk::audit::{Action, RiskEvent};

/// Why a trade ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// a strategy's exit or reversal
    Signal,
    StopLoss,
    TakeProfit,
    Liquidation,
    /// the risk layer closed it on its own (kill switch, margin or liquidation guard)
    Risk,
    /// still open at the end of the data (marked at the last close)
    Open,
}

impl ExitReason {
    pub fn name(self) -> &'static str {
        match self {
            ExitReason::Signal => "signal",
            ExitReason::StopLoss => "stop",
            ExitReason::TakeProfit => "take_profit",
            ExitReason::Liquidation => "liquidation",
            ExitReason::Risk => "risk",
            ExitReason::Open => "open",
        }
    }
}

/// One round trip. USDT unless noted.
#[derive(Clone, Debug, PartialEq)]
pub struct Trade {
    pub symbol: usize,
    pub side: Side,
    /// ms
    pub entry_time: i64,
    /// quantity-weighted average of the entry fills
    pub entry_price: f64,
    /// ms; the last data time for an open trade
    pub exit_time: i64,
    /// quantity-weighted average of the exit fills (the liquidation's execution price; the
    /// last mark for an open trade)
    pub exit_price: f64,
    /// base asset, the largest size held
    pub qty: f64,
    /// the leverage of the first entry fill
    pub leverage: f64,
    pub fees: f64,
    /// paid (> 0) or received (< 0)
    pub funding: f64,
    pub pnl: f64,
    pub exit_reason: ExitReason,
}

/// A trade being built, in exact money.
#[derive(Clone, Debug)]
struct Building {
    side: Side,
    entry_time: i64,
    /// base asset held now
    qty: Decimal,
    max_qty: Decimal,
    /// the position's average entry, as the account keeps it (over the quantity held now):
    /// realised PnL is measured from it
    avg_entry: Decimal,
    /// Σ qty × price of entry fills, and their qty (the trade's reported entry price)
    entry_value: Decimal,
    entry_qty: Decimal,
    exit_value: Decimal,
    exit_qty: Decimal,
    leverage: Decimal,
    fees: Decimal,
    funding: Decimal,
    realised: Decimal,
}

impl Building {
    fn avg_entry(&self) -> Decimal {
        if self.entry_qty.is_zero() {
            Decimal::ZERO
        } else {
            self.entry_value / self.entry_qty
        }
    }

    fn add(&mut self, qty: Decimal, price: Decimal) {
        self.avg_entry = (self.qty * self.avg_entry + qty * price) / (self.qty + qty);
        self.qty += qty;
        self.max_qty = self.max_qty.max(self.qty);
        self.entry_value += qty * price;
        self.entry_qty += qty;
    }

    fn finish(self, symbol: usize, time: i64, exit_price: f64, reason: ExitReason) -> Trade {
        let f = |d: Decimal| d.to_f64().unwrap_or(f64::NAN);
        let avg_exit = if self.exit_qty.is_zero() {
            exit_price
        } else {
            f(self.exit_value / self.exit_qty)
        };
        Trade {
            symbol,
            side: self.side,
            entry_time: self.entry_time,
            entry_price: f(self.avg_entry()),
            exit_time: time,
            exit_price: if reason == ExitReason::Liquidation {
                exit_price
            } else {
                avg_exit
            },
            qty: f(self.max_qty),
            leverage: f(self.leverage),
            fees: f(self.fees),
            funding: f(self.funding),
            pnl: f(self.realised - self.fees - self.funding),
            exit_reason: reason,
        }
    }
}

/// Rebuilds the trades from `events` (in log order). `risk` tells which market exits the risk
/// layer ordered on its own; `last_marks` (per symbol, USDT) value the trades still open at
/// `end` (ms).
pub fn rebuild(events: &[Event], risk: &[RiskEvent], last_marks: &[f64], end: i64) -> Vec<Trade> {
    let mut open: Vec<Option<Building>> = vec![None; last_marks.len()];
    let mut trades = Vec::new();
    for e in events {
        let s = e.symbol;
        match &e.kind {
            EventKind::Fill {
                side,
                qty,
                price,
                fee,
                reason,
                leverage,
                insurance_cover,
                ..
            } => {
                let reason = exit_reason(*reason, risk, e.time, s);
                fill(
                    &mut open[s],
                    &mut trades,
                    e.time,
                    s,
                    (*side, *qty, *price, *fee, *leverage, *insurance_cover),
                    reason,
                );
            }
            EventKind::Funding { paid, .. } => {
                if let Some(b) = open[s].as_mut() {
                    b.funding += *paid;
                }
            }
            EventKind::Liquidation {
                execution,
                loss,
                co_liquidated,
                ..
            } => {
                // the positions closed with it, at their executions: their own price PnL
                let mut others = Decimal::ZERO;
                for &(other, price) in co_liquidated {
                    if let Some(mut b) = open[other].take() {
                        let pnl = b.side.sign() * b.qty * (price - b.avg_entry);
                        b.realised += pnl;
                        others += pnl;
                        let exit = price.to_f64().unwrap_or(f64::NAN);
                        trades.push(b.finish(other, e.time, exit, ExitReason::Liquidation));
                    }
                }
                if let Some(mut b) = open[s].take() {
                    // the account lost `loss` at the liquidation: what the others' PnL does
                    // not account for is this trade's (its price PnL and the clearance)
                    b.realised += -*loss - others;
                    let price = execution.to_f64().unwrap_or(f64::NAN);
                    trades.push(b.finish(s, e.time, price, ExitReason::Liquidation));
                }
            }
            _ => {}
        }
    }
    for (s, slot) in open.into_iter().enumerate() {
        if let Some(mut b) = slot {
            let mark = Decimal::try_from(last_marks[s]).unwrap_or(Decimal::ZERO);
            b.realised += b.side.sign() * b.qty * (mark - b.avg_entry);
            trades.push(b.finish(s, end, last_marks[s], ExitReason::Open));
        }
    }
    trades
}

/// The exit reason a fill would give: market fills are the strategy's unless the risk layer
/// closed or cut a position on its own at that time.
fn exit_reason(reason: FillReason, risk: &[RiskEvent], time: i64, symbol: usize) -> ExitReason {
    match reason {
        FillReason::StopLoss => ExitReason::StopLoss,
        FillReason::TakeProfit => ExitReason::TakeProfit,
        FillReason::Market | FillReason::Limit => {
            let start = risk.partition_point(|r| r.time < time);
            let by_guard = risk[start..]
                .iter()
                .take_while(|r| r.time == time)
                .any(|r| {
                    r.source == crate::risk::audit::Source::Guard
                        && matches!(r.action, Action::Closed | Action::Reduced)
                        && r.symbol.is_none_or(|x| x == symbol)
                });
            if by_guard {
                ExitReason::Risk
            } else {
                ExitReason::Signal
            }
        }
    }
}

/// (side, qty, price, fee, leverage, insurance cover of the closing part)
type FillParts = (Side, Decimal, Decimal, Decimal, Decimal, Decimal);

fn fill(
    slot: &mut Option<Building>,
    trades: &mut Vec<Trade>,
    time: i64,
    symbol: usize,
    (side, qty, price, fee, leverage, cover): FillParts,
    reason: ExitReason,
) {
    let b = slot.get_or_insert_with(|| Building {
        side,
        entry_time: time,
        qty: Decimal::ZERO,
        max_qty: Decimal::ZERO,
        avg_entry: Decimal::ZERO,
        entry_value: Decimal::ZERO,
        entry_qty: Decimal::ZERO,
        exit_value: Decimal::ZERO,
        exit_qty: Decimal::ZERO,
        leverage,
        fees: Decimal::ZERO,
        funding: Decimal::ZERO,
        realised: Decimal::ZERO,
    });
    b.fees += fee;
    if side == b.side {
        b.add(qty, price);
        return;
    }
    let closed = qty.min(b.qty);
    // a loss past what backed the position is the insurance fund's, not the trade's
    b.realised += b.side.sign() * closed * (price - b.avg_entry) + cover;
    b.exit_value += closed * price;
    b.exit_qty += closed;
    b.qty -= closed;
    if b.qty.is_zero() {
        let done = slot.take().expect("the trade is open");
        trades.push(done.finish(symbol, time, price.to_f64().unwrap_or(f64::NAN), reason));
        let rest = qty - closed;
        if rest > Decimal::ZERO {
            // a fill through zero opens the other side with what is left (its fee stays with
            // the closed trade)
            fill(
                slot,
                trades,
                time,
                symbol,
                (side, rest, price, Decimal::ZERO, leverage, Decimal::ZERO),
                reason,
            );
        }
    }
}
