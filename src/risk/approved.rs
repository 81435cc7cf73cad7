//! The only way to the exchange: an order the risk layer approved.
//!
//! [`Approved`] has private fields and its constructor is visible inside `risk` alone, so
//! nothing else in perpsim — strategies, the engine, the CLI — can build one, and
//! `Venue::submit` accepts nothing else. The compiler, not a convention, keeps strategies
//! away from the exchange.

use crate::exchange::orders::Order;

/// An order with its protective legs, approved by the risk layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Approved {
    order: Order,
    /// USDT trigger of the stop-loss leg
    stop_loss: Option<f64>,
    /// USDT trigger of the take-profit leg
    take_profit: Option<f64>,
}

impl Approved {
    pub(super) fn new(order: Order, stop_loss: Option<f64>, take_profit: Option<f64>) -> Approved {
        Approved {
            order,
            stop_loss,
            take_profit,
        }
    }

    pub fn order(&self) -> &Order {
        &self.order
    }

    pub fn stop_loss(&self) -> Option<f64> {
        self.stop_loss
    }

    pub fn take_profit(&self) -> Option<f64> {
        self.take_profit
    }
}
