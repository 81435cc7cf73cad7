//! perpsim: an event-driven backtester for leveraged crypto perpetual futures.
//!
//! The modules follow the flow of `DESIGN.md`, one stage each:
//! - [`data`]: loads downloaded history (Binance Vision klines and funding archives, zipped
//!   or not, plain CSV layouts), checks it, resamples and aligns it; synthetic markets.
//! - [`market`]: the in-memory form of history — columnar candles, funding, mark price —
//!   shared read-only between runs.
//! - [`instrument`]: contract rules and tiered leverage brackets per symbol (shipped as data).
//! - [`exchange`]: the simulated venue; so far its margin maths (`exchange::margin`).
//! - [`cli`]: the `perpsim` command line (one file per subcommand).
//!
//! Exchange, risk layer, strategies, engine, sweeps and reports come in later stages.

pub mod cli;
pub mod data;
pub mod exchange;
pub mod instrument;
pub mod market;
