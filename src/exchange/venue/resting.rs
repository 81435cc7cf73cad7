//! Resting orders: acceptance, brackets (OCO legs that wait for their entry), cancels, and
//! the per-symbol levels the bar's quick test reads.

use rust_decimal::Decimal;

use super::{Event, EventKind, Venue};
use crate::exchange::Side;
use crate::exchange::fill::Level;
use crate::exchange::orders::{self, Order, OrderKind, OrderRefusal, Prepared};
use crate::risk::Approved;

/// A resting order and its bracket link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Resting {
    pub(super) id: u64,
    pub(super) prepared: Prepared,
    /// the other leg of a bracket: filling one cancels the other
    pub(super) oco: Option<u64>,
    /// a bracket leg waits for its entry to fill
    pub(super) waits_for: Option<u64>,
}

/// The active resting orders of one symbol, packed for the per-bar test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Levels {
    /// a market order waits for the next open
    pub(super) market: bool,
    /// USDT: the highest level reached from above (−∞ if none)
    pub(super) highest_below: f64,
    /// USDT: the lowest level reached from below (+∞ if none)
    pub(super) lowest_above: f64,
}

impl Levels {
    pub(super) const NONE: Levels = Levels {
        market: false,
        highest_below: f64::NEG_INFINITY,
        lowest_above: f64::INFINITY,
    };
}

impl Venue {
    /// Repacks every symbol's [`Levels`] from the resting orders; after any change to them.
    pub(super) fn refresh_levels(&mut self) {
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
    pub(super) fn submit_bracket(
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

    /// The market orders waiting for the next open, in the order they will fill: what the
    /// account will do before anything else (tests check the risk layer's caps against it).
    pub fn waiting_market_orders(&self) -> impl Iterator<Item = &Prepared> {
        self.resting
            .iter()
            .filter(|r| r.waits_for.is_none() && r.prepared.order.kind == OrderKind::Market)
            .map(|r| &r.prepared)
    }

    /// Base asset: the quantity a resting order will trade, rounded to the lot step (`None`
    /// for an order that is not resting, or one that closes the whole position).
    pub fn resting_qty(&self, id: u64) -> Option<f64> {
        let r = self.resting.iter().find(|r| r.id == id)?;
        match r.prepared.order.qty {
            orders::Quantity::Base(_) => Some(crate::exchange::approx_f64(r.prepared.qty)),
            orders::Quantity::ClosePosition => None,
        }
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

    pub(super) fn accept(&mut self, order: Order, reference: f64) -> Result<u64, OrderRefusal> {
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
    pub(super) fn rest_unchecked(&mut self, order: Order, oco: Option<u64>, waits_for: u64) {
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

    /// A bracket leg with no position left to close is cancelled, with its partner.
    pub(super) fn drop_bracket(&mut self, r: Resting, time: i64) {
        self.events.push(Event {
            time,
            symbol: r.prepared.order.symbol,
            kind: EventKind::Cancelled { id: r.id },
        });
        if let Some(other) = r.oco {
            self.cancel(time, other);
        }
    }

    pub(super) fn cancel_reducing_orders(&mut self, symbol: usize, time: i64) {
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
}

/// The level at which a resting order acts.
pub(super) fn trigger_level(p: &Prepared) -> Option<Level> {
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
