//! Your own strategy, with perpsim's whole command line: `run`, `sweep` (Monte Carlo included),
//! `paper`, the reports, the risk layer and the exchange are perpsim's; the rule is yours.
//!
//! ```sh
//! cargo run --release --example custom_strategy -- run examples/custom_strategy.toml
//! cargo run --release --example custom_strategy -- sweep examples/custom_strategy.toml
//! ```
//!
//! In a crate of your own, depend on perpsim (`perpsim = { git = "…" }` or a path), put the
//! strategy and this `main` in `src/main.rs`, and `cargo run --release -- run my_spec.toml`.
//!
//! The rule, `momentum`: long when the close has risen more than `threshold` over `lookback`
//! bars, short when it has fallen as far (unless `long_only`), out when the move fades below
//! half the threshold. Each entry carries a stop `stop_atr` ATRs away. Its parameters come
//! from the spec's `[strategy]` table, with the built-ins' strict errors: an unknown key is
//! named with its line and the closest valid key.

use std::collections::VecDeque;

use perpsim::prelude::indicators::Atr;
use perpsim::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "lookback")]
    lookback: usize,
    /// a fraction: 0.05 is a 5 % move
    #[serde(default = "threshold")]
    threshold: f64,
    #[serde(default = "stop_atr")]
    stop_atr: f64,
    #[serde(default)]
    long_only: bool,
}

fn lookback() -> usize {
    48
}
fn threshold() -> f64 {
    0.05
}
fn stop_atr() -> f64 {
    3.0
}

/// Per symbol: the last `lookback + 1` closes and an ATR for the stop.
struct Momentum {
    params: Params,
    closes: Vec<VecDeque<f64>>,
    atr: Vec<Atr>,
    /// per symbol: the side held by this strategy's last entry, if any
    side: Vec<Option<Side>>,
}

/// The builder perpsim calls with the spec's `[strategy]` table and symbols.
pub fn build(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
    let params: Params = b.params()?;
    if params.lookback == 0 {
        return Err(ParamError::new("lookback", "must be at least 1 bar"));
    }
    if !(params.threshold > 0.0 && params.threshold < 1.0) {
        return Err(ParamError::new(
            "threshold",
            format!("{}: must be in (0, 1)", params.threshold),
        ));
    }
    let n = b.symbols.len();
    Ok(Box::new(Momentum {
        closes: vec![VecDeque::with_capacity(params.lookback + 1); n],
        atr: (0..n).map(|_| Atr::new(14)).collect(),
        side: vec![None; n],
        params,
    }))
}

impl Strategy for Momentum {
    fn warm_up(&self) -> usize {
        self.params.lookback.max(14)
    }

    fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>) {
        for symbol in 0..ctx.bars.len() {
            let Some(bar) = ctx.bar(symbol) else { continue };
            let atr = self.atr[symbol].update(bar.high, bar.low, bar.close);
            let closes = &mut self.closes[symbol];
            closes.push_back(bar.close);
            if closes.len() > self.params.lookback + 1 {
                closes.pop_front();
            }
            let (Some(atr), true) = (atr, closes.len() == self.params.lookback + 1) else {
                continue;
            };
            let change = bar.close / closes[0] - 1.0;
            let t = self.params.threshold;
            let held = self.side[symbol];
            let stop = self.params.stop_atr * atr;
            if change > t && held != Some(Side::Long) {
                signals.push(enter(symbol, Side::Long, Some(bar.close - stop), None));
                self.side[symbol] = Some(Side::Long);
            } else if change < -t && !self.params.long_only && held != Some(Side::Short) {
                signals.push(enter(symbol, Side::Short, Some(bar.close + stop), None));
                self.side[symbol] = Some(Side::Short);
            } else if held.is_some() && change.abs() < t / 2.0 {
                signals.push(Signal {
                    symbol,
                    intent: Intent::Exit,
                });
                self.side[symbol] = None;
            }
        }
    }

    // the signals follow from the bars and the parameters alone: a sweep over risk settings
    // records them once and replays them
    fn market_only(&self) -> bool {
        true
    }
}

fn main() -> std::process::ExitCode {
    perpsim::cli::main_with(&[("momentum", build)])
}
