//! perpsim: an event-driven backtester for leveraged crypto perpetual futures.
//!
//! The modules follow the flow of `DESIGN.md`, one stage each:
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
//! - [`cli`]: the `perpsim` command line (one file per subcommand).
//!
//! Strategies' trait and built-ins, the engine, sweeps and reports come in later stages.

pub mod cli;
pub mod data;
pub mod exchange;
pub mod instrument;
pub mod market;
pub mod risk;
pub mod strategy;
