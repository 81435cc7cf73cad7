//! Orders, and preparing them against an instrument's rules before they rest or fill.
//!
//! Rounding, so that the exchange never does more than asked:
//! - quantity is rounded **down** to the lot step (a quantity that rounds to 0 is refused);
//! - a buy limit price is rounded down to the tick and a sell limit up (never a worse price);
//!   stop and take-profit triggers are rounded to the nearest tick.
//!
//! Checks: an order that can open or add must reach the minimum notional (at its limit price,
//! or at the reference price for market and triggered orders); reduce-only and close-position
//! orders are exempt, as on Binance. A reduce-only order must face an open position and is cut
//! to its size; a close-position order takes the position's whole size. Every refusal carries
//! a typed reason ([`OrderRefusal`]) for the audit trail.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::Side;
use super::account::Position;
use crate::instrument::InstrumentSpec;

/// How an order executes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OrderKind {
    /// at the next bar's open
    Market,
    /// USDT: when the path reaches the limit, at the limit or a better open
    Limit { price: f64 },
    /// USDT: a market order once the path reaches the trigger against the position
    StopMarket { trigger: f64 },
    /// USDT: a market order once the path reaches the trigger in the position's favour
    TakeProfitMarket { trigger: f64 },
}

/// How much an order trades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// base asset
    Base(Decimal),
    /// the whole position, whatever its size when the order executes
    ClosePosition,
}

/// An order as the risk layer builds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Order {
    pub symbol: usize,
    pub side: Side,
    pub qty: Quantity,
    pub kind: OrderKind,
    /// may only shrink a position, never open or flip one
    pub reduce_only: bool,
    /// leverage for what the order opens
    pub leverage: Decimal,
}

/// An order ready to rest or fill: rounded, checked, sized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prepared {
    pub order: Order,
    /// base asset, rounded to the lot step
    pub qty: Decimal,
    /// USDT: limit price or trigger, rounded to the tick (`None` for market orders)
    pub price: Option<f64>,
}

/// Why an order was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderRefusal {
    /// the quantity rounds to 0 at the lot step
    BelowLotStep { qty: Decimal, lot: Decimal },
    /// USDT
    BelowMinNotional { notional: Decimal, min: Decimal },
    /// reduce-only or close-position with nothing to reduce on the other side
    NothingToReduce,
    /// a price, trigger, quantity or leverage that is not finite and > 0
    NotPositive(&'static str),
}

impl std::fmt::Display for OrderRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderRefusal::BelowLotStep { qty, lot } => {
                write!(f, "quantity {qty} rounds to 0 at the lot step {lot}")
            }
            OrderRefusal::BelowMinNotional { notional, min } => {
                write!(
                    f,
                    "notional {notional} USDT is below the minimum {min} USDT"
                )
            }
            OrderRefusal::NothingToReduce => {
                write!(f, "reduce-only order with no opposite position to reduce")
            }
            OrderRefusal::NotPositive(what) => write!(f, "{what} must be finite and > 0"),
        }
    }
}

/// Rounds `value` to a multiple of `step`: down (−1), nearest (0) or up (+1).
pub(crate) fn to_step(value: f64, step: Decimal, direction: i8) -> Option<Decimal> {
    let value = super::to_decimal(value, super::QTY_SCALE)?;
    let steps = value / step;
    let whole = match direction {
        -1 => steps.floor(),
        1 => steps.ceil(),
        _ => steps.round(),
    };
    Some((whole * step).normalize())
}

/// Rounds, sizes and checks `order` for `spec`, given the symbol's open position and a
/// reference price (USDT, the last close) for orders without a price of their own.
pub fn prepare(
    order: Order,
    spec: &InstrumentSpec,
    position: Option<&Position>,
    reference: f64,
) -> Result<Prepared, OrderRefusal> {
    if !(reference.is_finite() && reference > 0.0) {
        return Err(OrderRefusal::NotPositive("reference price"));
    }
    if order.leverage <= Decimal::ZERO {
        return Err(OrderRefusal::NotPositive("leverage"));
    }
    let (level, direction, what) = match order.kind {
        OrderKind::Market => (None, 0, "price"),
        OrderKind::Limit { price } => (
            Some(price),
            if order.side == Side::Long { -1 } else { 1 },
            "limit price",
        ),
        OrderKind::StopMarket { trigger } | OrderKind::TakeProfitMarket { trigger } => {
            (Some(trigger), 0, "trigger")
        }
    };
    let price = match level {
        Some(p) if !(p.is_finite() && p > 0.0) => return Err(OrderRefusal::NotPositive(what)),
        Some(p) => {
            let rounded =
                to_step(p, spec.tick_size, direction).ok_or(OrderRefusal::NotPositive(what))?;
            Some(rounded.to_f64().ok_or(OrderRefusal::NotPositive(what))?)
        }
        None => None,
    };
    let opposite = position.filter(|p| p.side != order.side);
    let reduces = order.reduce_only || order.qty == Quantity::ClosePosition;
    let asked = match order.qty {
        Quantity::Base(q) if q <= Decimal::ZERO => {
            return Err(OrderRefusal::NotPositive("quantity"));
        }
        Quantity::Base(q) => q,
        Quantity::ClosePosition => opposite.ok_or(OrderRefusal::NothingToReduce)?.qty,
    };
    let qty = if reduces {
        let held = opposite.ok_or(OrderRefusal::NothingToReduce)?.qty;
        asked.min(held)
    } else {
        asked
    };
    let rounded = (qty / spec.lot_size).floor() * spec.lot_size;
    if rounded.is_zero() {
        return Err(OrderRefusal::BelowLotStep {
            qty,
            lot: spec.lot_size,
        });
    }
    if !reduces {
        let at = super::to_decimal(price.unwrap_or(reference), super::PRICE_SCALE)
            .ok_or(OrderRefusal::NotPositive("price"))?;
        let notional = (rounded * at).normalize();
        if notional < spec.min_notional {
            return Err(OrderRefusal::BelowMinNotional {
                notional,
                min: spec.min_notional,
            });
        }
    }
    Ok(Prepared {
        order,
        qty: rounded.normalize(),
        price,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::Instruments;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn btc() -> InstrumentSpec {
        Instruments::binance_usdm().get("BTCUSDT").unwrap().clone() // tick 0.1, lot 0.001, min 100
    }

    fn order(side: Side, qty: Quantity, kind: OrderKind) -> Order {
        Order {
            symbol: 0,
            side,
            qty,
            kind,
            reduce_only: false,
            leverage: d("10"),
        }
    }

    fn long_position(qty: &str) -> Position {
        Position {
            side: Side::Long,
            qty: d(qty),
            entry: d("60000"),
            margin: d("6000"),
            leverage: d("10"),
            liquidation: None,
        }
    }

    #[test]
    fn quantities_round_down_and_limits_round_to_the_better_tick() {
        // 0.12345 BTC → 0.123 at the 0.001 lot step; a buy limit at 60,000.07 → 60,000.0 (down),
        // a sell limit at 60,000.01 → 60,000.1 (up); a stop trigger at 59,999.96 → 60,000.0 (nearest)
        let buy = prepare(
            order(
                Side::Long,
                Quantity::Base(d("0.12345")),
                OrderKind::Limit { price: 60_000.07 },
            ),
            &btc(),
            None,
            60_000.0,
        )
        .unwrap();
        assert_eq!((buy.qty, buy.price), (d("0.123"), Some(60_000.0)));
        let sell = prepare(
            order(
                Side::Short,
                Quantity::Base(d("0.1")),
                OrderKind::Limit { price: 60_000.01 },
            ),
            &btc(),
            None,
            60_000.0,
        )
        .unwrap();
        assert_eq!(sell.price, Some(60_000.1));
        let stop = prepare(
            order(
                Side::Short,
                Quantity::Base(d("0.1")),
                OrderKind::StopMarket { trigger: 59_999.96 },
            ),
            &btc(),
            None,
            60_000.0,
        )
        .unwrap();
        assert_eq!(stop.price, Some(60_000.0));
    }

    #[test]
    fn small_orders_are_refused_unless_they_reduce() {
        // 0.0004 BTC rounds to 0 at the 0.001 step
        let tiny = prepare(
            order(Side::Long, Quantity::Base(d("0.0004")), OrderKind::Market),
            &btc(),
            None,
            60_000.0,
        );
        assert_eq!(
            tiny,
            Err(OrderRefusal::BelowLotStep {
                qty: d("0.0004"),
                lot: d("0.001")
            })
        );
        // 0.001 BTC × 60,000 = 60 USDT < 100
        let small = prepare(
            order(Side::Long, Quantity::Base(d("0.001")), OrderKind::Market),
            &btc(),
            None,
            60_000.0,
        );
        assert_eq!(
            small,
            Err(OrderRefusal::BelowMinNotional {
                notional: d("60"),
                min: d("100")
            })
        );
        // the same size reducing a long is fine
        let reduce = Order {
            reduce_only: true,
            ..order(Side::Short, Quantity::Base(d("0.001")), OrderKind::Market)
        };
        assert_eq!(
            prepare(reduce, &btc(), Some(&long_position("0.5")), 60_000.0)
                .unwrap()
                .qty,
            d("0.001")
        );
    }

    #[test]
    fn reduce_only_and_close_position_follow_the_position() {
        let pos = long_position("0.25");
        // reduce-only asks 1 BTC, the position holds 0.25: cut to 0.25
        let reduce = Order {
            reduce_only: true,
            ..order(Side::Short, Quantity::Base(d("1")), OrderKind::Market)
        };
        assert_eq!(
            prepare(reduce, &btc(), Some(&pos), 60_000.0).unwrap().qty,
            d("0.25")
        );
        // close-position takes the whole size
        let close = order(
            Side::Short,
            Quantity::ClosePosition,
            OrderKind::StopMarket { trigger: 55_000.0 },
        );
        assert_eq!(
            prepare(close, &btc(), Some(&pos), 60_000.0).unwrap().qty,
            d("0.25")
        );
        // on the same side as the position, or with none, there is nothing to reduce
        let same_side = Order {
            reduce_only: true,
            ..order(Side::Long, Quantity::Base(d("1")), OrderKind::Market)
        };
        assert_eq!(
            prepare(same_side, &btc(), Some(&pos), 60_000.0),
            Err(OrderRefusal::NothingToReduce)
        );
        assert_eq!(
            prepare(close, &btc(), None, 60_000.0),
            Err(OrderRefusal::NothingToReduce)
        );
    }

    #[test]
    fn bad_numbers_are_named() {
        let nan = order(
            Side::Long,
            Quantity::Base(d("1")),
            OrderKind::Limit { price: f64::NAN },
        );
        assert_eq!(
            prepare(nan, &btc(), None, 60_000.0)
                .unwrap_err()
                .to_string(),
            "limit price must be finite and > 0"
        );
        let zero = order(Side::Long, Quantity::Base(d("0")), OrderKind::Market);
        assert_eq!(
            prepare(zero, &btc(), None, 60_000.0)
                .unwrap_err()
                .to_string(),
            "quantity must be finite and > 0"
        );
    }
}
