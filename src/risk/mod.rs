//! The risk layer: everything between a strategy's signals and the exchange's orders.
//!
//! Built so far: position sizing maths ([`sizing`]), used by `perpsim calc size` and
//! `perpsim calc kelly`, and the liquidation probability of a position within a horizon
//! ([`liquidation_probability`]), the core of the liquidation-probability guard. The rules,
//! caps, breakers, guards and the approved-order type come with the rest of the risk-layer issue.

pub mod liquidation_probability;
pub mod sizing;
