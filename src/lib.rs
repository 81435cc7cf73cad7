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
