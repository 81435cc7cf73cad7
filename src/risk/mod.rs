//! The risk layer: everything between a strategy's signals and the exchange's orders.
//!
//! Built so far: position sizing maths ([`sizing`]), used by `perpsim calc size` and
//! `perpsim calc kelly`. The rules, caps, breakers, guards and the approved-order type come
//! with the rest of the risk-layer issue.

pub mod sizing;
