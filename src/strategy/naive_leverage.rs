//! `naive_leverage`: the "DIY bot" every report compares against — always long at a fixed
//! leverage, no stop. While flat it commits `margin_fraction` of equity as margin, i.e. asks
//! for a long of `leverage` × `margin_fraction` × equity (a target exposure; the rest pays the
//! fees, as an exchange's "max" button leaves room for them). After a liquidation it tries
//! again, every `retry_bars` bars at most, until equity falls below `give_up` × the starting
//! balance (a bot's owner stops refilling it).
//!
//! ```toml
//! [strategy]
//! kind = "naive_leverage"
//! leverage = 10        # default: the risk layer's max_leverage, else 1
//! margin_fraction = 0.95
//! retry_bars = 24
//! give_up = 0.1
//! ```
//!
//! Run it behind `[risk] preset = "off"` (with `max_leverage` = the leverage) to see what the
//! bot does unprotected, or behind the default rules to see what they save.

use serde::Deserialize;

use super::{Build, Context, Intent, ParamError, Signal, Strategy, check_bars};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    leverage: Option<f64>,
    #[serde(default = "margin_fraction")]
    margin_fraction: f64,
    #[serde(default = "retry_bars")]
    retry_bars: usize,
    #[serde(default = "give_up")]
    give_up: f64,
}

fn margin_fraction() -> f64 {
    0.95
}
fn retry_bars() -> usize {
    24
}
fn give_up() -> f64 {
    0.1
}

pub struct NaiveLeverage {
    /// × equity: the leverage times the margin fraction
    leverage: f64,
    retry_bars: u64,
    give_up: f64,
    step: u64,
    /// per symbol: the step of the last entry asked
    last_try: Vec<Option<u64>>,
}

pub fn build(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
    let p: Params = b.params()?;
    let leverage = p.leverage.or(b.max_leverage).unwrap_or(1.0);
    super::check_positive("leverage", leverage)?;
    check_bars("retry_bars", p.retry_bars)?;
    if !(p.margin_fraction > 0.0 && p.margin_fraction <= 1.0) {
        return Err(ParamError::new(
            "margin_fraction",
            format!("{}: must be in (0, 1]", p.margin_fraction),
        ));
    }
    if !(0.0..1.0).contains(&p.give_up) {
        return Err(ParamError::new(
            "give_up",
            format!("{}: must be in [0, 1)", p.give_up),
        ));
    }
    Ok(Box::new(NaiveLeverage {
        leverage: leverage * p.margin_fraction,
        retry_bars: p.retry_bars as u64,
        give_up: p.give_up,
        step: 0,
        last_try: vec![None; b.symbols.len()],
    }))
}

impl Strategy for NaiveLeverage {
    fn warm_up(&self) -> usize {
        0
    }

    fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>) {
        self.step += 1;
        if ctx.equity < self.give_up * ctx.start_equity {
            return;
        }
        let n = self.last_try.len() as f64;
        for (symbol, last) in self.last_try.iter_mut().enumerate() {
            let due = last.is_none_or(|s| self.step >= s + self.retry_bars);
            if ctx.bars[symbol].is_none() || ctx.holdings[symbol].qty != 0.0 || !due {
                continue;
            }
            *last = Some(self.step);
            signals.push(Signal {
                symbol,
                intent: Intent::TargetExposure {
                    exposure: self.leverage / n,
                },
            });
        }
    }
}
