//! `buy_and_hold`: buy `exposure` × equity (split equally among the symbols) at the first bar
//! and hold it. If the entry is refused it is asked again every `retry_bars` bars until it
//! fills; a position that was once held and is closed (by a stop, a guard or a liquidation)
//! is not bought again.
//!
//! ```toml
//! [strategy]
//! kind = "buy_and_hold"
//! exposure = 1.0
//! ```

use serde::Deserialize;

use super::{Build, Context, Intent, ParamError, Signal, Strategy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "exposure")]
    exposure: f64,
    #[serde(default = "retry_bars")]
    retry_bars: usize,
}

fn exposure() -> f64 {
    1.0
}
fn retry_bars() -> usize {
    24
}

pub struct BuyAndHold {
    exposure: f64,
    retry_bars: u64,
    step: u64,
    /// per symbol: the step of the last entry asked, and whether it was ever held
    state: Vec<(Option<u64>, bool)>,
}

pub fn build(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
    let p: Params = b.params()?;
    super::check_positive("exposure", p.exposure)?;
    super::check_bars("retry_bars", p.retry_bars)?;
    Ok(Box::new(BuyAndHold {
        exposure: p.exposure,
        retry_bars: p.retry_bars as u64,
        step: 0,
        state: vec![(None, false); b.symbols.len()],
    }))
}

impl Strategy for BuyAndHold {
    fn warm_up(&self) -> usize {
        0
    }

    fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>) {
        self.step += 1;
        let n = self.state.len() as f64;
        for (symbol, (last, held)) in self.state.iter_mut().enumerate() {
            *held |= ctx.holdings[symbol].qty != 0.0;
            let due = last.is_none_or(|s| self.step >= s + self.retry_bars);
            if *held || !due || ctx.bars[symbol].is_none() {
                continue;
            }
            *last = Some(self.step);
            signals.push(Signal {
                symbol,
                intent: Intent::TargetExposure {
                    exposure: self.exposure / n,
                },
            });
        }
    }
}
