//! Strategies: what they may say to the rest of perpsim.
//!
//! A strategy never creates an order. It emits [`Signal`]s (intents); the risk layer turns
//! each into orders or refuses it. The `Strategy` trait, indicators and the built-in
//! strategies come with the engine.

mod signal;

pub use signal::{Intent, Signal};
