//! `rsi_reversion`: mean reversion. Long when the RSI is below `oversold` and the close below
//! the lower Bollinger band; short when the RSI is above `overbought` and the close above the
//! upper band; exit when the close crosses back over the middle band. Each entry carries a stop
//! `stop_atr` ATRs away (reversion trades that keep going are the ones that liquidate).
//!
//! ```toml
//! [strategy]
//! kind = "rsi_reversion"
//! rsi_bars = 14
//! oversold = 30.0
//! overbought = 70.0
//! band_bars = 20
//! band_width = 2.0     # standard deviations
//! stop_atr = 3.0
//! long_only = false
//! ```

use serde::Deserialize;

use super::indicators::{Atr, Bollinger, Rsi};
use super::{Build, Context, Intent, ParamError, Signal, Strategy, check_bars, enter};
use crate::exchange::Side;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "rsi_bars")]
    rsi_bars: usize,
    #[serde(default = "oversold")]
    oversold: f64,
    #[serde(default = "overbought")]
    overbought: f64,
    #[serde(default = "band_bars")]
    band_bars: usize,
    #[serde(default = "band_width")]
    band_width: f64,
    #[serde(default = "stop_atr")]
    stop_atr: f64,
    #[serde(default = "atr_bars")]
    atr_bars: usize,
    #[serde(default)]
    long_only: bool,
}

fn rsi_bars() -> usize {
    14
}
fn oversold() -> f64 {
    30.0
}
fn overbought() -> f64 {
    70.0
}
fn band_bars() -> usize {
    20
}
fn band_width() -> f64 {
    2.0
}
fn stop_atr() -> f64 {
    3.0
}
fn atr_bars() -> usize {
    14
}

struct PerSymbol {
    rsi: Rsi,
    bands: Bollinger,
    atr: Atr,
}

pub struct RsiReversion {
    symbols: Vec<PerSymbol>,
    oversold: f64,
    overbought: f64,
    stop_atr: f64,
    long_only: bool,
    warm_up: usize,
}

pub fn build(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
    let p: Params = b.params()?;
    check_bars("rsi_bars", p.rsi_bars)?;
    check_bars("band_bars", p.band_bars)?;
    check_bars("atr_bars", p.atr_bars)?;
    super::check_positive("band_width", p.band_width)?;
    super::check_positive("stop_atr", p.stop_atr)?;
    if !(0.0 < p.oversold && p.oversold < p.overbought && p.overbought < 100.0) {
        return Err(ParamError::new(
            "oversold",
            format!(
                "need 0 < oversold ({}) < overbought ({}) < 100",
                p.oversold, p.overbought
            ),
        ));
    }
    let symbols = b
        .symbols
        .iter()
        .map(|_| PerSymbol {
            rsi: Rsi::new(p.rsi_bars),
            bands: Bollinger::new(p.band_bars, p.band_width),
            atr: Atr::new(p.atr_bars),
        })
        .collect();
    Ok(Box::new(RsiReversion {
        symbols,
        oversold: p.oversold,
        overbought: p.overbought,
        stop_atr: p.stop_atr,
        long_only: p.long_only,
        warm_up: (p.rsi_bars + 1).max(p.band_bars).max(p.atr_bars),
    }))
}

impl Strategy for RsiReversion {
    fn warm_up(&self) -> usize {
        self.warm_up
    }

    fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>) {
        for (symbol, (s, bar)) in self.symbols.iter_mut().zip(ctx.bars).enumerate() {
            let Some(bar) = bar else { continue };
            let atr = s.atr.update(bar.high, bar.low, bar.close);
            let rsi = s.rsi.update(bar.close);
            let (Some(bands), Some(rsi), Some(atr)) = (s.bands.update(bar.close), rsi, atr) else {
                continue;
            };
            let held = ctx.holdings[symbol].qty;
            let reverted = (held > 0.0 && bar.close >= bands.middle)
                || (held < 0.0 && bar.close <= bands.middle);
            if reverted {
                signals.push(Signal {
                    symbol,
                    intent: Intent::Exit,
                });
                continue;
            }
            let side = if held == 0.0 && rsi < self.oversold && bar.close < bands.lower {
                Side::Long
            } else if held == 0.0
                && !self.long_only
                && rsi > self.overbought
                && bar.close > bands.upper
            {
                Side::Short
            } else {
                continue;
            };
            let stop = bar.close - side.sign_f64() * self.stop_atr * atr;
            if stop > 0.0 {
                signals.push(enter(symbol, side, Some(stop), Some(bands.middle)));
            }
        }
    }
}
