//! `core_hedge`: a core long in one symbol hedged by a short in a correlated one — the hedged
//! book traders describe ("long BTC at 2–3x, short ETH against it"), made testable.
//!
//! The hedge ratio is the rolling beta of the core's returns on the hedge's returns over
//! `beta_bars`: a core notional V is hedged by −β·V of the hedge, the notional that minimises
//! the variance of the pair (cov(core, hedge) / var(hedge)). Each leg is a target exposure (a
//! multiple of equity). A leg is rebalanced when its exposure drifts from its target by more
//! than `band` (a fraction of the target), at most once every `rebalance_bars` bars.
//!
//! ```toml
//! [strategy]
//! kind = "core_hedge"
//! core = "BTCUSDT"
//! hedge = "ETHUSDT"
//! core_exposure = 2.0     # × equity, long
//! hedge_ratio = 1.0       # fraction of the beta hedge (0.5 = half-hedged)
//! beta_bars = 720         # bars of returns for the beta
//! band = 0.1              # rebalance past 10 % drift
//! rebalance_bars = 24
//! ```

use serde::Deserialize;

use super::indicators::RollingPair;
use super::{Build, Context, Intent, ParamError, Signal, Strategy, check_bars};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    core: String,
    hedge: String,
    #[serde(default = "core_exposure")]
    core_exposure: f64,
    #[serde(default = "hedge_ratio")]
    hedge_ratio: f64,
    #[serde(default = "beta_bars")]
    beta_bars: usize,
    #[serde(default = "band")]
    band: f64,
    #[serde(default = "rebalance_bars")]
    rebalance_bars: usize,
}

fn core_exposure() -> f64 {
    2.0
}
fn hedge_ratio() -> f64 {
    1.0
}
fn beta_bars() -> usize {
    720
}
fn band() -> f64 {
    0.1
}
fn rebalance_bars() -> usize {
    24
}

pub struct CoreHedge {
    core: usize,
    hedge: usize,
    core_exposure: f64,
    hedge_ratio: f64,
    band: f64,
    rebalance_bars: u64,
    pair: RollingPair,
    /// USDT: the last closes of core and hedge
    last: (f64, f64),
    step: u64,
    /// per leg (core, hedge): the step of the last order asked
    last_asked: [Option<u64>; 2],
    beta_bars: usize,
}

pub fn build(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
    let p: Params = b.params()?;
    let core = b.symbol("core", &p.core)?;
    let hedge = b.symbol("hedge", &p.hedge)?;
    if core == hedge {
        return Err(ParamError::new("hedge", "must differ from core"));
    }
    super::check_positive("core_exposure", p.core_exposure)?;
    super::check_positive("band", p.band)?;
    if !(0.0..=2.0).contains(&p.hedge_ratio) {
        return Err(ParamError::new(
            "hedge_ratio",
            format!("{}: must be in [0, 2]", p.hedge_ratio),
        ));
    }
    check_bars("beta_bars", p.beta_bars)?;
    check_bars("rebalance_bars", p.rebalance_bars)?;
    Ok(Box::new(CoreHedge {
        core,
        hedge,
        core_exposure: p.core_exposure,
        hedge_ratio: p.hedge_ratio,
        band: p.band,
        rebalance_bars: p.rebalance_bars as u64,
        pair: RollingPair::new(p.beta_bars),
        last: (f64::NAN, f64::NAN),
        step: 0,
        last_asked: [None; 2],
        beta_bars: p.beta_bars,
    }))
}

impl CoreHedge {
    /// Asks for `target` on `leg` when its exposure drifted past the band and the leg is not
    /// waiting out its rebalance interval.
    fn rebalance(
        &mut self,
        ctx: &Context,
        leg: usize,
        target: f64,
        close: f64,
        signals: &mut Vec<Signal>,
    ) {
        let symbol = [self.core, self.hedge][leg];
        let now = ctx.exposure(symbol, close);
        let drift = (now - target).abs();
        let waiting = self.last_asked[leg].is_some_and(|s| self.step < s + self.rebalance_bars);
        if waiting || drift <= self.band * target.abs().max(1e-9) {
            return;
        }
        self.last_asked[leg] = Some(self.step);
        let intent = if target == 0.0 {
            Intent::Exit
        } else {
            Intent::TargetExposure { exposure: target }
        };
        signals.push(Signal { symbol, intent });
    }
}

impl Strategy for CoreHedge {
    fn warm_up(&self) -> usize {
        self.beta_bars + 1
    }

    fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>) {
        let (Some(core), Some(hedge)) = (ctx.bars[self.core], ctx.bars[self.hedge]) else {
            return;
        };
        self.step += 1;
        let (c0, h0) = self.last;
        self.last = (core.close, hedge.close);
        if c0.is_nan() {
            return;
        }
        self.pair
            .update(hedge.close / h0 - 1.0, core.close / c0 - 1.0);
        let Some(beta) = self.pair.beta() else { return };
        let hedge_target = -self.core_exposure * beta.max(0.0) * self.hedge_ratio;
        self.rebalance(ctx, 0, self.core_exposure, core.close, signals);
        self.rebalance(ctx, 1, hedge_target, hedge.close, signals);
    }
}
