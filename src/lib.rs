//! perpsim: an event-driven backtester for leveraged crypto perpetual futures.
//!
//! The modules follow the flow of a run, one stage each (the README's Development section
//! maps them):
//! - [`data`]: loads downloaded history (Binance Vision klines and funding archives, zipped
//!   or not, plain CSV layouts), checks it, resamples and aligns it; synthetic markets.
//! - [`market`]: the in-memory form of history — columnar candles, funding, mark price —
//!   shared read-only between runs.
//! - [`instrument`]: contract rules and tiered leverage brackets per symbol (shipped as data).
//! - [`exchange`]: the simulated venue — margin maths, funding, liquidation, the account and
//!   its ledger, orders, the fill model on OHLC bars, and the venue that runs one bar.
//! - [`strategy`]: what strategies say: signals (intents), never orders.
//! - [`risk`]: between signals and orders — sizing, caps, breakers, guards, the audit trail;
//!   the only builder of the approved orders the exchange accepts.
//! - [`keys`]: a TOML table's wrong key or value named in a message, with the closest key.
//! - [`spec`]: run specs (TOML), read in two stages: as written, then checked.
//! - [`engine`]: the event loop that steps the exchange, the strategy and the risk layer.
//! - [`paper`]: the engine fed live from JSON lines, decisions streamed as JSON lines.
//! - [`outcome`]: a run's figures and outcome (summary, metrics, trades), below the sweep.
//! - [`report`]: their presentation: output files (summary, trades, equity, events), charts
//!   and pages.
//! - [`sweep`]: grids of configurations × Monte Carlo paths in parallel; survival statistics.
//! - [`cli`]: the `perpsim` command line (one file per subcommand).

/// What a strategy of your own and the program that runs it need, in one `use`:
///
/// ```no_run
/// use perpsim::prelude::*;
///
/// /// Long whenever the last close is above the one before; out otherwise.
/// struct Up {
///     last: Vec<Option<f64>>,
/// }
///
/// impl Strategy for Up {
///     fn warm_up(&self) -> usize {
///         1
///     }
///     fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>) {
///         for symbol in 0..ctx.bars.len() {
///             let Some(bar) = ctx.bar(symbol) else { continue };
///             match self.last[symbol].replace(bar.close) {
///                 Some(prev) if bar.close > prev => signals.push(enter(symbol, Side::Long, None, None)),
///                 Some(_) => signals.push(Signal { symbol, intent: Intent::Exit }),
///                 None => {}
///             }
///         }
///     }
/// }
///
/// fn build(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
///     Ok(Box::new(Up { last: vec![None; b.symbols.len()] }))
/// }
///
/// // `kind = "up"` in a spec's [strategy] table now names it, for run, sweep and paper
/// fn main() -> std::process::ExitCode {
///     perpsim::cli::main_with(&[("up", build)])
/// }
/// ```
///
/// `examples/custom_strategy.rs` is a complete one, with parameters read from the spec.
pub mod prelude {
    pub use crate::exchange::Side;
    pub use crate::strategy::indicators;
    pub use crate::strategy::{
        Bar, Build, Builder, Context, Holding, Intent, ParamError, Signal, Strategy, enter,
        register,
    };
}

pub mod cli;
pub mod data;
pub mod engine;
pub mod exchange;
pub mod instrument;
pub mod keys;
pub mod market;
pub mod outcome;
pub mod paper;
pub mod report;
pub mod risk;
pub mod spec;
pub mod strategy;
pub mod sweep;
