//! `funding_carry`: take the side that receives funding while the rate is extreme. When the
//! latest settled rate is above `entry_rate`, longs pay shorts: go short; below
//! `−entry_rate`, go long. Exit when |rate| falls back under `exit_rate`. The position is a
//! target exposure (a multiple of equity), so the risk layer's sizing rule does not apply, but
//! its caps, breakers and guards do: carry trades die by the price move, not the funding.
//!
//! ```toml
//! [strategy]
//! kind = "funding_carry"
//! entry_rate = 0.0005   # fraction per settlement (0.05 %)
//! exit_rate = 0.0001
//! exposure = 1.0        # × equity
//! ```

use serde::Deserialize;

use super::{Build, Context, Intent, ParamError, Signal, Strategy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "entry_rate")]
    entry_rate: f64,
    #[serde(default = "exit_rate")]
    exit_rate: f64,
    #[serde(default = "exposure")]
    exposure: f64,
}

fn entry_rate() -> f64 {
    0.0005
}
fn exit_rate() -> f64 {
    0.0001
}
fn exposure() -> f64 {
    1.0
}

pub struct FundingCarry {
    entry_rate: f64,
    exit_rate: f64,
    exposure: f64,
    /// per symbol: the side wanted, −1, 0 or +1
    wanted: Vec<i8>,
}

pub fn build(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
    let p: Params = b.params()?;
    super::check_positive("entry_rate", p.entry_rate)?;
    super::check_positive("exposure", p.exposure)?;
    if !(p.exit_rate >= 0.0 && p.exit_rate < p.entry_rate) {
        return Err(ParamError::new(
            "exit_rate",
            format!(
                "{} must be ≥ 0 and below entry_rate ({})",
                p.exit_rate, p.entry_rate
            ),
        ));
    }
    Ok(Box::new(FundingCarry {
        entry_rate: p.entry_rate,
        exit_rate: p.exit_rate,
        exposure: p.exposure,
        wanted: vec![0; b.symbols.len()],
    }))
}

impl Strategy for FundingCarry {
    fn warm_up(&self) -> usize {
        0
    }

    /// The wanted side follows the funding rate alone.
    fn market_only(&self) -> bool {
        true
    }

    fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>) {
        for (symbol, rate) in ctx.funding_rate.iter().enumerate() {
            let (Some(rate), Some(_)) = (rate, ctx.bars[symbol]) else {
                continue;
            };
            let was = self.wanted[symbol];
            let now = if *rate > self.entry_rate {
                -1
            } else if *rate < -self.entry_rate {
                1
            } else if rate.abs() < self.exit_rate {
                0
            } else {
                was
            };
            if now == was {
                continue;
            }
            self.wanted[symbol] = now;
            let intent = if now == 0 {
                Intent::Exit
            } else {
                Intent::TargetExposure {
                    exposure: f64::from(now) * self.exposure,
                }
            };
            signals.push(Signal { symbol, intent });
        }
    }
}
