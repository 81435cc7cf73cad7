//! Signals: a strategy's intents, in market terms. Prices are `f64` USDT.

use crate::exchange::Side;

/// What a strategy wants for one symbol.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Intent {
    /// Open a position on `side` at the next bar's open (closing an opposite one first),
    /// with an optional protective stop and take-profit (USDT trigger prices). Sized by the
    /// risk layer. Ignored when a position on that side is already open.
    Enter {
        side: Side,
        stop: Option<f64>,
        take_profit: Option<f64>,
    },
    /// Hold a signed notional of `exposure` × equity (0.5 = long half the equity's worth,
    /// −1.0 = short the equity's worth): for strategies that manage exposure continuously
    /// (hedges, carry). The risk layer sizes the change toward it; sizing rules are bypassed.
    TargetExposure { exposure: f64 },
    /// Shrink the position by a fraction of its size (0.5 = halve it).
    Reduce { fraction: f64 },
    /// Close the position.
    Exit,
}

/// An intent for one symbol (its index in the run's symbol list).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Signal {
    pub symbol: usize,
    pub intent: Intent,
}

impl Intent {
    /// A short name for the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Intent::Enter {
                side: Side::Long, ..
            } => "enter_long",
            Intent::Enter {
                side: Side::Short, ..
            } => "enter_short",
            Intent::TargetExposure { .. } => "target_exposure",
            Intent::Reduce { .. } => "reduce",
            Intent::Exit => "exit",
        }
    }
}
