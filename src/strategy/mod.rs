//! Strategies: what they see and what they may say.
//!
//! A strategy never creates an order. At each time step it sees the bars that just closed and
//! a snapshot of the account ([`Context`]) and pushes [`Signal`]s (intents); the risk layer
//! turns each into orders or refuses it. It gets no handle on the history, the exchange or
//! the future: only what a live bot would know at that moment (see the engine's look-ahead
//! test).
//!
//! Adding a strategy is one file in this folder (a parameter struct, a builder, an
//! implementation of [`Strategy`]) and one line in [`BUILT_INS`]; the README shows a complete
//! example.

mod buy_and_hold;
mod core_hedge;
mod cross;
mod donchian_breakout;
mod funding_carry;
pub mod indicators;
mod naive_leverage;
mod rsi_reversion;
mod signal;
pub mod signal_file;

use serde::de::DeserializeOwned;

pub use signal::{Intent, Signal};

use crate::exchange::Side;

/// A closed bar of one symbol. USDT prices, base-asset volume.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bar {
    /// ms
    pub open_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    /// the mark price at the bar's close
    pub mark_close: f64,
}

impl Bar {
    /// The last-price OHLC.
    pub fn ohlc(&self) -> crate::exchange::fill::Ohlc {
        crate::exchange::fill::Ohlc {
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
        }
    }
}

/// A position as a strategy sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Holding {
    /// base asset, signed: > 0 long, < 0 short, 0 flat
    pub qty: f64,
    /// USDT
    pub entry: f64,
}

/// What a strategy knows at the close of a time step.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// ms: the close of this step's bars (orders made now fill at the next bar's open)
    pub time: i64,
    /// per symbol (the spec's order): the bar that just closed, `None` where the symbol had no
    /// bar at this step
    pub bars: &'a [Option<Bar>],
    /// per symbol: the latest funding rate settled, fraction per settlement
    pub funding_rate: &'a [Option<f64>],
    /// per symbol: the open position after this step's fills
    pub holdings: &'a [Holding],
    /// USDT: wallet plus unrealised PnL at the latest marks
    pub equity: f64,
    /// USDT: the starting balance
    pub start_equity: f64,
}

impl Context<'_> {
    /// `symbol`'s bar of this step, if it had one.
    #[inline]
    pub fn bar(&self, symbol: usize) -> Option<&Bar> {
        self.bars.get(symbol).and_then(Option::as_ref)
    }

    /// Signed notional of `symbol`'s position as a multiple of equity (−2.0 = short twice
    /// the equity's worth), at the latest close; 0 when flat or unknown.
    pub fn exposure(&self, symbol: usize, close: f64) -> f64 {
        let qty = self.holdings[symbol].qty;
        if qty == 0.0 || self.equity <= 0.0 {
            return 0.0;
        }
        qty * close / self.equity
    }
}

/// A trading rule. Called once per time step, after the exchange walked the step's bars.
pub trait Strategy: Send {
    /// Bars of history the strategy needs before its first signal (reports mark the span).
    fn warm_up(&self) -> usize;

    /// Sees the closed bars and pushes any signals (the engine clears `signals` before).
    fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>);

    /// True when the signals are a function of the market (bars, funding rates, times) and
    /// the strategy's own parameters alone: not of the account (`holdings`, `equity`) nor of
    /// the risk settings in [`Build`]. A sweep then works them out once per market and
    /// replays them to every configuration that differs only in account or risk settings
    /// ([`Recorded`]). The safe default is `false`.
    fn market_only(&self) -> bool {
        false
    }

    /// What the strategy has to say about the run once it is over (a signal file's rows
    /// outside the data, say): printed after `run` and kept in `summary.json`.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A strategy's signals over one market, step by step: recorded once, replayed by
/// [`Replay`] in every configuration that shares the strategy and its parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorded {
    /// the step index (from 0) of each signal, ascending
    pub steps: Vec<u32>,
    pub signals: Vec<Signal>,
    pub warm_up: usize,
}

impl Recorded {
    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        self.steps.capacity() * std::mem::size_of::<u32>()
            + self.signals.capacity() * std::mem::size_of::<Signal>()
    }
}

/// Plays a [`Recorded`] stream back: each step's signals, in the order they were pushed.
pub struct Replay {
    recorded: std::sync::Arc<Recorded>,
    /// the step about to be seen
    step: u32,
    /// the next signal to play
    next: usize,
}

impl Replay {
    pub fn new(recorded: std::sync::Arc<Recorded>) -> Replay {
        Replay {
            recorded,
            step: 0,
            next: 0,
        }
    }

    /// The recorded strategy's warm-up (bars).
    pub fn warm_up(&self) -> usize {
        self.recorded.warm_up
    }

    /// Moves past this step when it has no signal (true); otherwise leaves it for
    /// [`Replay::play`] (false).
    #[inline(always)]
    pub fn skip_quiet_step(&mut self) -> bool {
        if self.recorded.steps.get(self.next) == Some(&self.step) {
            return false;
        }
        self.step += 1;
        true
    }

    /// This step's signals, in the order they were recorded.
    #[inline]
    pub fn play(&mut self, signals: &mut Vec<Signal>) {
        let r = &*self.recorded;
        while r.steps.get(self.next) == Some(&self.step) {
            signals.push(r.signals[self.next]);
            self.next += 1;
        }
        self.step += 1;
    }
}

/// What a builder gets: the `[strategy]` table (without `kind`) and the run's symbols.
pub struct Build<'a> {
    pub params: &'a toml::Table,
    /// the spec's symbols, in order (index = symbol number in signals)
    pub symbols: &'a [String],
    /// the risk layer's `max_leverage`, for strategies whose default follows it
    pub max_leverage: Option<f64>,
    /// the spec's folder, against which a strategy's relative file paths are read
    pub spec_dir: Option<&'a std::path::Path>,
}

/// A parameter that is wrong: its key (as written under `[strategy]`) and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("strategy.{key}: {message}")]
pub struct ParamError {
    /// empty when the error is about the table as a whole
    pub key: String,
    pub message: String,
}

impl ParamError {
    pub fn new(key: &str, message: impl Into<String>) -> ParamError {
        ParamError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl Build<'_> {
    /// The parameters as `P` (serde, `deny_unknown_fields`): unknown keys are errors.
    pub fn params<P: DeserializeOwned>(&self) -> Result<P, ParamError> {
        crate::keys::table_into(self.params).map_err(|f| ParamError {
            key: f.key,
            message: f.message,
        })
    }

    /// The index of a symbol named in a parameter.
    pub fn symbol(&self, key: &str, name: &str) -> Result<usize, ParamError> {
        self.symbols.iter().position(|s| s == name).ok_or_else(|| {
            ParamError::new(
                key,
                format!(
                    "{name:?} is not one of the spec's symbols ({})",
                    self.symbols.join(", ")
                ),
            )
        })
    }
}

/// Makes a strategy from its parameters.
pub type Builder = fn(&Build) -> Result<Box<dyn Strategy>, ParamError>;

/// Every built-in strategy by its `kind` name. Register a new one here.
pub const BUILT_INS: &[(&str, Builder)] = &[
    ("sma_cross", cross::build_sma),
    ("ema_cross", cross::build_ema),
    ("donchian_breakout", donchian_breakout::build),
    ("rsi_reversion", rsi_reversion::build),
    ("funding_carry", funding_carry::build),
    ("core_hedge", core_hedge::build),
    ("naive_leverage", naive_leverage::build),
    ("buy_and_hold", buy_and_hold::build),
    (signal_file::KIND, signal_file::build),
];

/// Strategies registered by a program that uses perpsim as a library ([`register`]), looked
/// up after the built-ins. Process-wide, because a spec names its strategy by text and is
/// checked, run, swept and paper-traded far from where the program starts.
static REGISTERED: std::sync::RwLock<Vec<(&'static str, Builder)>> =
    std::sync::RwLock::new(Vec::new());

/// Why a strategy could not be registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("strategy kind {0:?} is a built-in's; give yours another name")]
    BuiltIn(&'static str),
    #[error("strategy kind {0:?} is already registered")]
    Taken(&'static str),
    #[error("strategy kind {0:?}: use lower-case letters, digits and '_'")]
    Name(&'static str),
}

/// Makes `kind` name the user's strategy in specs (`[strategy] kind = "…"`), beside the
/// built-ins, for `run`, `sweep` (Monte Carlo included) and `paper` alike. The builder reads
/// its parameters with [`Build::params`], which refuses unknown keys as the built-ins do.
pub fn register(kind: &'static str, builder: Builder) -> Result<(), RegisterError> {
    let valid = !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(RegisterError::Name(kind));
    }
    if BUILT_INS.iter().any(|(n, _)| *n == kind) {
        return Err(RegisterError::BuiltIn(kind));
    }
    let mut registered = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    if registered.iter().any(|(n, _)| *n == kind) {
        return Err(RegisterError::Taken(kind));
    }
    registered.push((kind, builder));
    Ok(())
}

/// The builder of `kind` (built in, or registered), or an error listing the known kinds.
pub fn builder(kind: &str) -> Result<Builder, ParamError> {
    let registered = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    BUILT_INS
        .iter()
        .chain(registered.iter())
        .find(|(name, _)| *name == kind)
        .map(|(_, b)| *b)
        .ok_or_else(|| {
            let known: Vec<&str> = BUILT_INS
                .iter()
                .chain(registered.iter())
                .map(|(n, _)| *n)
                .collect();
            let hint = crate::keys::closest(
                kind,
                &known.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            )
            .map(|k| format!(" (did you mean {k:?}?)"))
            .unwrap_or_default();
            ParamError::new(
                "kind",
                format!(
                    "unknown strategy {kind:?}{hint}; known: {}",
                    known.join(", ")
                ),
            )
        })
}

/// An entry signal for `side` with optional stop and take-profit.
pub fn enter(symbol: usize, side: Side, stop: Option<f64>, take_profit: Option<f64>) -> Signal {
    Signal {
        symbol,
        intent: Intent::Enter {
            side,
            stop,
            take_profit,
        },
    }
}

/// A positive whole number of bars.
pub fn check_bars(key: &str, n: usize) -> Result<(), ParamError> {
    if n == 0 || n > 1_000_000 {
        return Err(ParamError::new(
            key,
            format!("{n} bars: must be 1 to 1000000"),
        ));
    }
    Ok(())
}

/// A finite number > 0.
pub fn check_positive(key: &str, x: f64) -> Result<(), ParamError> {
    if !(x.is_finite() && x > 0.0) {
        return Err(ParamError::new(key, format!("{x}: must be a number > 0")));
    }
    Ok(())
}
