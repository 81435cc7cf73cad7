//! The risk layer: everything between a strategy's signals and the exchange's orders.
//!
//! A strategy emits [`crate::strategy::Signal`]s; [`RiskLayer`] turns each into orders or
//! refuses it, and acts on its own when a breaker or guard fires. Only this module can
//! build an [`Approved`] order, and the venue accepts nothing else.
//!
//! - [`config`]: the `[risk]` table, its defaults and presets;
//! - [`sizing`], [`caps`], [`liquidation_distance`], [`liquidation_probability`]: the maths,
//!   as pure functions with worked examples;
//! - [`estimators`]: volatility, ATR and covariance, O(1) per bar;
//! - `entry` (the order of the rules for a new position), `guards` (breakers and guards
//!   after each step), `layer` (state and entry points);
//! - [`audit`]: every decision, with its rule and numbers.

mod approved;
pub mod audit;
mod book;
pub mod caps;
pub mod config;
mod entry;
mod entry_caps;
pub mod estimators;
mod guards;
mod layer;
pub mod liquidation_distance;
pub mod liquidation_probability;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod portfolio_tests;
#[cfg(test)]
mod precision_tests;
mod signals;
pub mod sizing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trail_tests;

pub use approved::Approved;
pub use audit::{Action, Audit, RiskEvent, Rule};
pub use config::{RawRisk, RiskConfig};
pub use layer::RiskLayer;
