//! `donchian_breakout`: enter when the close breaks out of the highest high (long) or the
//! lowest low (short) of the previous `entry` bars, with a stop `stop_atr` ATRs away and a
//! take-profit `take_profit_atr` ATRs away; exit when the close breaks the opposite side of
//! the shorter `exit` channel (the turtle traders' rule).
//!
//! ```toml
//! [strategy]
//! kind = "donchian_breakout"
//! entry = 20            # bars
//! exit = 10             # bars
//! atr_bars = 14
//! stop_atr = 2.0
//! take_profit_atr = 4.0 # or false for none
//! long_only = false
//! ```

use serde::Deserialize;

use super::indicators::{Atr, Donchian};
use super::{Build, Context, Intent, ParamError, Signal, Strategy, check_bars, enter};
use crate::exchange::Side;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "entry")]
    entry: usize,
    #[serde(default = "exit")]
    exit: usize,
    #[serde(default = "atr_bars")]
    atr_bars: usize,
    #[serde(default = "stop_atr")]
    stop_atr: f64,
    #[serde(default = "take_profit_atr")]
    take_profit_atr: toml::Value,
    #[serde(default)]
    long_only: bool,
}

fn entry() -> usize {
    20
}
fn exit() -> usize {
    10
}
fn atr_bars() -> usize {
    14
}
fn stop_atr() -> f64 {
    2.0
}
fn take_profit_atr() -> toml::Value {
    toml::Value::Float(4.0)
}

struct PerSymbol {
    entry: Donchian,
    exit: Donchian,
    atr: Atr,
}

pub struct DonchianBreakout {
    symbols: Vec<PerSymbol>,
    stop_atr: f64,
    take_profit_atr: Option<f64>,
    long_only: bool,
    warm_up: usize,
}

pub fn build(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
    let p: Params = b.params()?;
    check_bars("entry", p.entry)?;
    check_bars("exit", p.exit)?;
    check_bars("atr_bars", p.atr_bars)?;
    super::check_positive("stop_atr", p.stop_atr)?;
    let take_profit_atr = match p.take_profit_atr {
        toml::Value::Boolean(false) => None,
        toml::Value::Float(x) => Some(x),
        toml::Value::Integer(i) => Some(i as f64),
        other => {
            return Err(ParamError::new(
                "take_profit_atr",
                format!("expected a number or false, found {other}"),
            ));
        }
    };
    if let Some(k) = take_profit_atr {
        super::check_positive("take_profit_atr", k)?;
    }
    let symbols = b
        .symbols
        .iter()
        .map(|_| PerSymbol {
            entry: Donchian::new(p.entry),
            exit: Donchian::new(p.exit),
            atr: Atr::new(p.atr_bars),
        })
        .collect();
    Ok(Box::new(DonchianBreakout {
        symbols,
        stop_atr: p.stop_atr,
        take_profit_atr,
        long_only: p.long_only,
        warm_up: p.entry.max(p.atr_bars) + 1,
    }))
}

impl Strategy for DonchianBreakout {
    fn warm_up(&self) -> usize {
        self.warm_up
    }

    fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>) {
        for (symbol, (s, bar)) in self.symbols.iter_mut().zip(ctx.bars).enumerate() {
            let Some(bar) = bar else { continue };
            // the channels of the bars before this one: a breakout is measured against them
            let (entry, exit) = (s.entry.value(), s.exit.value());
            let atr = s.atr.update(bar.high, bar.low, bar.close);
            s.entry.update(bar.high, bar.low);
            s.exit.update(bar.high, bar.low);
            let held = ctx.holdings[symbol].qty;
            if let Some((exit_high, exit_low)) = exit
                && ((held > 0.0 && bar.close < exit_low) || (held < 0.0 && bar.close > exit_high))
            {
                signals.push(Signal {
                    symbol,
                    intent: Intent::Exit,
                });
                continue;
            }
            let (Some((high, low)), Some(atr)) = (entry, atr) else {
                continue;
            };
            let side = if bar.close > high && held <= 0.0 {
                Side::Long
            } else if bar.close < low && held >= 0.0 && !self.long_only {
                Side::Short
            } else {
                continue;
            };
            let sign = side.sign_f64();
            let stop = bar.close - sign * self.stop_atr * atr;
            let take_profit = self.take_profit_atr.map(|k| bar.close + sign * k * atr);
            if stop > 0.0 {
                signals.push(enter(symbol, side, Some(stop), take_profit));
            }
        }
    }
}
