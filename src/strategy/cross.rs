//! `sma_cross` and `ema_cross`: trend following on the crossover of a fast and a slow moving
//! average of the close. Fast above slow → long; below → short (or flat with
//! `long_only = true`). The state is the sign of (fast − slow); a tie keeps the previous state
//! (see [`Cross`]), so touching averages do not flip the position. The first position waits
//! for the first real cross, as in every peer tool: the sign the averages start with is not a
//! signal (`enter_at_start = true` enters on it at once, as perpsim did before).
//!
//! ```toml
//! [strategy]
//! kind = "sma_cross"   # or "ema_cross"
//! fast = 20            # bars
//! slow = 50            # bars
//! long_only = false
//! stop_atr = 3.0       # optional: a stop this many ATRs from the close (else the risk layer's)
//! enter_at_start = false
//! ```

use serde::Deserialize;

use super::indicators::{Atr, Cross, Ema, Sma};
use super::{Build, Context, ParamError, Signal, Strategy, check_bars, enter};
use crate::exchange::Side;
use crate::strategy::Intent;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "fast")]
    fast: usize,
    #[serde(default = "slow")]
    slow: usize,
    #[serde(default)]
    long_only: bool,
    stop_atr: Option<f64>,
    #[serde(default = "atr_bars")]
    atr_bars: usize,
    #[serde(default)]
    enter_at_start: bool,
}

fn fast() -> usize {
    20
}
fn slow() -> usize {
    50
}
fn atr_bars() -> usize {
    14
}

/// A moving average of either kind.
#[derive(Clone, Debug)]
enum Average {
    Simple(Sma),
    Exponential(Ema),
}

impl Average {
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        match self {
            Average::Simple(a) => a.update(x),
            Average::Exponential(a) => a.update(x),
        }
    }
}

struct PerSymbol {
    fast: Average,
    slow: Average,
    cross: Cross,
    atr: Atr,
}

pub struct MaCross {
    symbols: Vec<PerSymbol>,
    long_only: bool,
    stop_atr: Option<f64>,
    warm_up: usize,
    enter_at_start: bool,
}

pub fn build_sma(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
    build(b, |n| Average::Simple(Sma::new(n)))
}

pub fn build_ema(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
    build(b, |n| Average::Exponential(Ema::new(n)))
}

fn build(b: &Build, average: fn(usize) -> Average) -> Result<Box<dyn Strategy>, ParamError> {
    let p: Params = b.params()?;
    check_bars("fast", p.fast)?;
    check_bars("slow", p.slow)?;
    check_bars("atr_bars", p.atr_bars)?;
    if p.fast >= p.slow {
        return Err(ParamError::new(
            "fast",
            format!("{} must be below slow ({})", p.fast, p.slow),
        ));
    }
    if let Some(k) = p.stop_atr {
        super::check_positive("stop_atr", k)?;
    }
    let symbols = b
        .symbols
        .iter()
        .map(|_| PerSymbol {
            fast: average(p.fast),
            slow: average(p.slow),
            cross: Cross::default(),
            atr: Atr::new(p.atr_bars),
        })
        .collect();
    Ok(Box::new(MaCross {
        symbols,
        long_only: p.long_only,
        stop_atr: p.stop_atr,
        warm_up: p.slow,
        enter_at_start: p.enter_at_start,
    }))
}

impl Strategy for MaCross {
    fn warm_up(&self) -> usize {
        self.warm_up
    }

    /// Only the long-only exit looks at the position.
    fn market_only(&self) -> bool {
        !self.long_only
    }

    fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>) {
        for symbol in 0..self.symbols.len() {
            let (Some(bar), Some(s)) = (ctx.bar(symbol), self.symbols.get_mut(symbol)) else {
                continue;
            };
            // the ATR only serves the strategy's own stop
            let atr = match self.stop_atr {
                Some(_) => s.atr.update(bar.high, bar.low, bar.close),
                None => None,
            };
            let (Some(fast), Some(slow)) = (s.fast.update(bar.close), s.slow.update(bar.close))
            else {
                continue;
            };
            let known = s.cross.state() != 0;
            let Some(state) = s.cross.update(fast, slow) else {
                continue;
            };
            // the averages' first sign is where they start, not a cross
            if !known && !self.enter_at_start {
                continue;
            }
            let side = if state > 0 { Side::Long } else { Side::Short };
            if side == Side::Short && self.long_only {
                if ctx.holdings[symbol].qty != 0.0 {
                    signals.push(Signal {
                        symbol,
                        intent: Intent::Exit,
                    });
                }
                continue;
            }
            let stop = match (self.stop_atr, atr) {
                (Some(k), Some(atr)) => Some(bar.close - side.sign_f64() * k * atr),
                _ => None,
            };
            signals.push(enter(symbol, side, stop.filter(|s| *s > 0.0), None));
        }
    }
}
