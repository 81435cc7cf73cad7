//! The portfolio as it will be once the orders approved in this step fill: what every cap
//! checks an entry against, so that two entries in the same step see each other.
//!
//! Orders approved at a close fill at the next open, so between one decision time and the
//! next the account the venue holds is the one the caps start from. At the first decision
//! of a step (a guard's action or a signal) the book is copied from the held positions;
//! each approval then moves it: a close empties the symbol, a cut scales its quantity and
//! margin, an entry adds its quantity and margin. Every approved order also adds what it
//! will cost the wallet at the approval price — its taker fee and the slippage the fill
//! model may apply — so that the next entry is sized on the equity the account will hold.

use super::layer::Held;

/// See the module's doc.
#[derive(Clone, Debug)]
pub(super) struct Book {
    /// ms: the decision time the book describes; `i64::MIN` before the first
    time: i64,
    /// base asset per symbol, signed (+ long)
    qty: Vec<f64>,
    /// USDT per symbol: the margin its position holds or will hold
    margin: Vec<f64>,
    /// USDT: fees and slippage the approved orders will cost, at their approval prices
    cost: f64,
}

impl Book {
    pub fn new(n: usize) -> Book {
        Book {
            time: i64::MIN,
            qty: vec![0.0; n],
            margin: vec![0.0; n],
            cost: 0.0,
        }
    }

    /// Starts the step at `time` from `held`, unless it is already this step's book.
    pub fn at(&mut self, time: i64, held: &[Option<Held>]) -> &mut Book {
        if self.time != time {
            self.time = time;
            self.cost = 0.0;
            for ((q, m), h) in self.qty.iter_mut().zip(&mut self.margin).zip(held) {
                (*q, *m) = h.map_or((0.0, 0.0), |h| (h.sign * h.qty, h.margin));
            }
        }
        self
    }

    /// Base asset, signed, that `symbol` will hold.
    pub fn qty(&self, symbol: usize) -> f64 {
        self.qty[symbol]
    }

    /// USDT: what the approved orders will cost the wallet (fees and slippage).
    pub fn cost(&self) -> f64 {
        self.cost
    }

    /// USDT: gross notional at `prices`, without `skip`'s position.
    pub fn gross(&self, prices: impl Fn(usize) -> f64, skip: Option<usize>) -> f64 {
        let mut gross = 0.0;
        for (s, &q) in self.qty.iter().enumerate() {
            if q != 0.0 && Some(s) != skip {
                gross += q.abs() * prices(s);
            }
        }
        gross
    }

    /// USDT: margin the positions hold or will hold, without `skip`'s.
    pub fn margin(&self, skip: Option<usize>) -> f64 {
        let mut total = 0.0;
        for (s, &m) in self.margin.iter().enumerate() {
            if Some(s) != skip {
                total += m;
            }
        }
        total
    }

    /// An approved cut of `symbol` to `to` base asset (0: a close), costing `cost` USDT.
    pub fn cut(&mut self, symbol: usize, to: f64, cost: f64) {
        let q = self.qty[symbol];
        if q == 0.0 {
            return;
        }
        let keep = (to / q.abs()).clamp(0.0, 1.0);
        self.qty[symbol] = q * keep;
        self.margin[symbol] *= keep;
        self.cost += cost;
    }

    /// An approved entry on `symbol`: `signed` base asset holding `margin` USDT, costing
    /// `cost` USDT.
    pub fn add(&mut self, symbol: usize, signed: f64, margin: f64, cost: f64) {
        self.qty[symbol] += signed;
        self.margin[symbol] += margin;
        self.cost += cost;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(sign: f64, qty: f64, margin: f64) -> Option<Held> {
        Some(Held {
            sign,
            qty,
            entry: 100.0,
            margin,
            liquidation: f64::NAN,
        })
    }

    #[test]
    fn a_step_starts_from_the_held_positions_and_follows_its_approvals() {
        let mut book = Book::new(3);
        let held = [held(1.0, 2.0, 50.0), None, held(-1.0, 4.0, 80.0)];
        let b = book.at(10, &held);
        // 2 × 100 + 4 × 50 = 400 gross; margin 50 + 80
        assert_eq!(b.gross(|s| [100.0, 0.0, 50.0][s], None), 400.0);
        assert_eq!(b.margin(None), 130.0);
        // a cut of the short to 1 keeps a quarter of its margin; a new long of 3 at 20 margin
        b.cut(2, 1.0, 0.5);
        b.add(1, 3.0, 20.0, 0.25);
        assert_eq!(b.qty(2), -1.0);
        assert_eq!(b.margin(Some(0)), 20.0 + 20.0);
        assert_eq!(b.cost(), 0.75);
        // the same step keeps its book; the next starts again from what is held
        assert_eq!(book.at(10, &held).qty(1), 3.0);
        let next = book.at(20, &held);
        assert_eq!((next.qty(1), next.cost()), (0.0, 0.0));
    }
}
