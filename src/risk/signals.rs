//! A step's signals, in the order the risk layer takes them.
//!
//! All the signals of one step are decided together, against the portfolio as it will be
//! (see [`super::book`]), in a fixed order that does not depend on the order the strategy
//! pushed them in:
//! 1. **reductions**, by symbol in the spec's order: exits, reduces, the closing leg of a
//!    flip (an entry against the position held) and the cut a target exposure asks for;
//! 2. **increases**, by symbol: entries and the additions a target exposure asks for.
//!
//! So a flip's new leg, and every other entry of the step, is checked and sized with the
//! closing legs already counted (and their fees paid), and two entries of the same step
//! share the caps: the second sees the first.

use super::audit::{At, RiskEvent, Rule, Source};
use super::entry::Ask;
use super::layer::RiskLayer;
use crate::exchange::Side;
use crate::exchange::venue::Venue;
use crate::strategy::{Intent, Signal};

/// The two passes over a step's signals.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Reduce,
    Increase,
}

impl RiskLayer {
    /// One signal at the close `time` (ms): [`RiskLayer::on_signals`] of it alone.
    pub fn on_signal(&mut self, time: i64, signal: Signal, venue: &mut Venue) {
        self.on_signals(time, &[signal], venue);
    }

    /// A step's signals at the close `time` (ms), in the order of the module's doc:
    /// approved orders go to the venue, and every decision is recorded.
    pub fn on_signals(&mut self, time: i64, signals: &[Signal], venue: &mut Venue) {
        if signals.is_empty() {
            return;
        }
        self.read_venue_config(venue);
        self.drop_calm_zone();
        if venue.events().len() != self.seen_events {
            self.sync(venue);
        }
        self.book.at(time, &self.held);
        if let [signal] = signals {
            self.take(time, *signal, Pass::Reduce, venue);
            self.take(time, *signal, Pass::Increase, venue);
            return;
        }
        let mut order = std::mem::take(&mut self.signal_order);
        order.clear();
        order.extend(0..signals.len());
        // stable: a symbol's signals keep the strategy's order
        order.sort_by_key(|&i| signals[i].symbol);
        for pass in [Pass::Reduce, Pass::Increase] {
            for &i in &order {
                self.take(time, signals[i], pass, venue);
            }
        }
        self.signal_order = order;
    }

    /// `signal`'s part in `pass`.
    fn take(&mut self, time: i64, signal: Signal, pass: Pass, venue: &mut Venue) {
        let symbol = signal.symbol;
        let at = At {
            time,
            symbol: Some(symbol),
            source: Source::of(&signal.intent),
        };
        let no_figures = (f64::NAN, f64::NAN);
        let will_hold = self.book.qty(symbol);
        match (signal.intent, pass) {
            (
                Intent::Enter {
                    side,
                    stop,
                    take_profit,
                },
                _,
            ) => {
                let against = will_hold * side.sign_f64() < 0.0;
                match pass {
                    Pass::Reduce if against => {
                        self.close(at, symbol, Rule::Flip, no_figures, venue)
                    }
                    Pass::Reduce => {}
                    Pass::Increase if will_hold * side.sign_f64() > 0.0 => self.record(
                        RiskEvent::refused(at, Rule::AlreadyOpen, f64::NAN, f64::NAN),
                    ),
                    Pass::Increase => {
                        let ask = Ask {
                            symbol,
                            side,
                            stop,
                            take_profit,
                            source: at.source,
                            notional: None,
                        };
                        self.enter(time, ask, venue);
                    }
                }
            }
            (Intent::TargetExposure { exposure }, _) => {
                self.target(time, symbol, exposure, pass, venue)
            }
            (Intent::Reduce { fraction }, Pass::Reduce) => {
                if will_hold != 0.0 && fraction > 0.0 {
                    let to = will_hold.abs() * (1.0 - fraction.min(1.0));
                    self.reduce_to(at, symbol, Rule::Signal, to, no_figures, venue);
                } else {
                    let rule = Rule::InvalidSignal;
                    self.record(RiskEvent::refused(at, rule, fraction, f64::NAN));
                }
            }
            (Intent::Exit, Pass::Reduce) => {
                if will_hold != 0.0 {
                    self.close(at, symbol, Rule::Signal, no_figures, venue);
                } else if self.held[symbol].is_none() {
                    // nothing held: an entry still waiting for its fill is withdrawn
                    venue.cancel_symbol(time, symbol);
                }
            }
            (Intent::Reduce { .. } | Intent::Exit, Pass::Increase) => {}
        }
    }

    /// Moves the position toward `exposure` × equity (signed notional): the cut in the
    /// reducing pass, the addition in the increasing one.
    fn target(&mut self, time: i64, symbol: usize, exposure: f64, pass: Pass, venue: &mut Venue) {
        let at = At {
            time,
            symbol: Some(symbol),
            source: Source::TargetExposure,
        };
        let no_figures = (f64::NAN, f64::NAN);
        let price = self.estimates[symbol].last_close();
        if !(exposure.is_finite() && price > 0.0) {
            if pass == Pass::Reduce {
                let rule = Rule::InvalidSignal;
                self.record(RiskEvent::refused(at, rule, exposure, f64::NAN));
            }
            return;
        }
        let target_qty = exposure * self.sizing_equity() / price;
        let will_hold = self.book.qty(symbol);
        if pass == Pass::Reduce {
            if will_hold != 0.0 && target_qty * will_hold <= 0.0 {
                let rule = if target_qty == 0.0 {
                    Rule::Signal
                } else {
                    Rule::Flip
                };
                self.close(at, symbol, rule, no_figures, venue);
            } else if will_hold != 0.0 && target_qty.abs() < will_hold.abs() {
                let to = target_qty.abs();
                self.reduce_to(at, symbol, Rule::Signal, to, no_figures, venue);
            }
            return;
        }
        let held_now = if target_qty * will_hold > 0.0 {
            will_hold
        } else {
            0.0
        };
        if target_qty.abs() <= held_now.abs() {
            return;
        }
        let side = if target_qty > 0.0 {
            Side::Long
        } else {
            Side::Short
        };
        let ask = Ask {
            symbol,
            side,
            stop: None,
            take_profit: None,
            source: at.source,
            notional: Some((target_qty - held_now).abs() * price),
        };
        self.enter(time, ask, venue);
    }
}
