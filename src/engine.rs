//! The event loop: history (or a live feed) through the exchange, the strategy and the risk
//! layer, one time step at a time.
//!
//! Per time step, in this order ([`Engine::step`]):
//! 1. **exchange** — each symbol's bar, in the spec's symbol order: funding settled in the
//!    bar, market orders at the open, the intrabar path (stops, take-profits, liquidation),
//!    the margin-call check;
//! 2. **observe** — the risk layer's estimators see the closed bars (each symbol's right
//!    after the exchange walked it: neither reads the other here, so this is the same as
//!    observing once every symbol is walked, with the bar read once);
//! 3. **guards** — breakers and margin/liquidation guards may act on their own;
//! 4. **record** — the account at the close: the running figures (peak, drawdown, return
//!    sums) every step and, for a report, the account's state when it changed; the
//!    per-step columns (wallet, equity, margin ratio, exposure, liquidation prices) are
//!    rebuilt from those states and the marks after the run ([`Engine::fill_columns`]);
//! 5. **strategy** — sees the closed bars and the account, pushes signals;
//! 6. **risk** — turns the step's signals into orders (filled at the next bar's open) or
//!    refuses them, reductions before increases.
//!
//! Ties are broken by construction: steps in time order; within a step, symbols in the
//! spec's order; a step's signals reductions first, then by symbol in the spec's order (a
//! symbol's own in the order the strategy pushed them); each venue event carries its
//! sequence in the venue's log. No clock, no hash-map iteration, no randomness: identical
//! inputs give identical outputs.
//!
//! **No look-ahead.** A strategy receives one [`Context`] per step holding only the bars that
//! just closed; it has no handle on the history. Orders it causes fill at the next bar's open
//! at the earliest. `tests/it/engine.rs` checks this by running a history and the same history
//! cut short: every decision up to the cut is identical.
//!
//! In steady state (no fills) a step allocates nothing: the buffers below are reused.
//!
//! **Shared signals.** A sweep may hand an engine a [`Recorded`] stream of its strategy's
//! signals on the same market ([`record_signals`], for strategies that are
//! [`Strategy::market_only`]); the engine then plays it back at step 5 instead of asking the
//! strategy, with the same signals at the same steps.

use crate::exchange::fill::Ohlc;
use crate::exchange::venue::{AccountLog, Snapshot, Venue, VenueConfig};
use crate::market::{MarketData, NO_BAR};
use crate::risk::RiskLayer;
use crate::spec::RunSpec;
use crate::strategy::{self, Bar, Build, Context, Holding, Recorded, Replay, Signal, Strategy};
use rust_decimal::prelude::ToPrimitive;
use std::sync::Arc;

pub use crate::market::Settlement;

/// One symbol's closed bar as the engine is fed it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepBar<'a> {
    pub symbol: usize,
    pub bar: Bar,
    /// the mark-price OHLC of the same span
    pub mark: Ohlc,
    /// the settlements falling in the bar, in time order, each at its own time and mark
    pub funding: &'a [Settlement],
    /// the last settlement's own rate (for the strategy and the risk layer's drift)
    pub last_rate: Option<(i64, f64)>,
    /// the bar's path at a finer timeframe (`data.detail`): (ms per fine bar, last-price
    /// bars, mark bars)
    pub detail: Option<(i64, &'a [Ohlc], &'a [Ohlc])>,
}

/// The per-step account record: the running figures, kept every step, and (for a run's
/// report) the columns, one row per step, filled from the account log by
/// [`Engine::fill_columns`] once the run is over.
#[derive(Clone, Debug, Default)]
pub struct Curve {
    /// ms, the step's open time (values are at its close)
    pub time: Vec<i64>,
    /// USDT
    pub wallet: Vec<f64>,
    /// USDT
    pub equity: Vec<f64>,
    /// fraction, at the close
    pub margin_ratio: Vec<f64>,
    /// fraction, at the step's worst point: every position held at the close at its adverse
    /// mark extreme; at least 1 on a step with a liquidation
    pub margin_ratio_worst: Vec<f64>,
    /// USDT, Σ |qty| × mark
    pub gross_notional: Vec<f64>,
    /// USDT: per step, each symbol's liquidation price in symbol order (NaN when flat), so
    /// step `i`'s prices are `liquidation[i × symbols .. (i + 1) × symbols]`; kept with the
    /// columns, for the price charts
    pub liquidation: Vec<f64>,
    /// keep the account log for the columns (a run's report) or only the running figures
    /// (a sweep)
    pub keep: bool,
    /// the account at each step where it changed, when `keep`
    pub log: AccountLog,
    /// USDT, the highest equity so far
    pub peak: f64,
    /// fraction of the peak, the deepest drawdown so far
    pub max_drawdown: f64,
    /// USDT, the lowest equity so far
    pub min_equity: f64,
    pub steps: u64,
    /// Σ gross_notional / equity over steps, for the average leverage
    pub leverage_sum: f64,
    /// the highest gross_notional / equity at a step's close
    pub max_leverage: f64,
    /// steps with a position open
    pub exposed_steps: u64,
    /// per-step equity returns (Sharpe, Sortino for bars longer than a day)
    pub step_returns: Moments,
    /// daily equity returns, at each UTC midnight (the last step's close at or after it):
    /// Sharpe, Sortino as users know them
    pub daily_returns: Moments,
    /// ms: the next UTC midnight a step's close must reach to end the day (`i64::MIN`: not
    /// set before the first step); USDT: the equity the day began with
    day_end: i64,
    day_equity: f64,
    /// USDT, the previous step's equity
    prev_equity: f64,
    /// ms: when the current peak was set, and the longest time spent below a peak so far
    peak_time: i64,
    pub longest_underwater: i64,
    /// ms: the first step's open and the last step's close
    pub first_time: Option<i64>,
    pub last_time: i64,
    /// USDT: equity levels that count as ruin, and the close (ms) at which equity first fell
    /// to or below each (see [`Engine::watch_ruin`])
    pub ruin_levels: Vec<f64>,
    pub ruined_at: Vec<Option<i64>>,
}

/// Running moments of a series of returns: count, Σ r, Σ r², Σ min(r, 0)² (Sharpe, Sortino).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub sum: f64,
    pub sq_sum: f64,
    pub downside_sq_sum: f64,
}

impl Moments {
    #[inline(always)]
    fn add(&mut self, r: f64) {
        self.n += 1;
        self.sum += r;
        self.sq_sum += r * r;
        self.downside_sq_sum += r.min(0.0) * r.min(0.0);
    }
}

impl Curve {
    pub(crate) fn new(keep: bool, start: f64) -> Curve {
        Curve {
            keep,
            peak: start,
            max_drawdown: 0.0,
            min_equity: start,
            prev_equity: start,
            day_end: i64::MIN,
            day_equity: start,
            ..Curve::default()
        }
    }

    #[inline(always)]
    pub(crate) fn record(&mut self, time: i64, close: i64, s: &Snapshot) {
        // `time` is the step's open, the first step's kept for the span
        let equity = s.equity();
        if close >= self.day_end {
            self.end_day(close, equity);
        }
        if equity == self.prev_equity && equity > 0.0 && self.steps > 0 {
            self.record_unchanged(close, s);
            return;
        }
        let first = *self.first_time.get_or_insert(time);
        if self.steps == 0 {
            self.peak_time = first;
        }
        self.last_time = close;
        if equity >= self.peak {
            self.peak = equity;
            self.peak_time = close;
        } else {
            self.longest_underwater = self.longest_underwater.max(close - self.peak_time);
            if self.peak > 0.0 {
                self.max_drawdown = self.max_drawdown.max(1.0 - equity / self.peak);
            }
        }
        if self.prev_equity > 0.0 {
            self.step_returns.add(equity / self.prev_equity - 1.0);
        }
        self.prev_equity = equity;
        if equity < self.min_equity {
            self.min_equity = equity;
            for (level, at) in self.ruin_levels.iter().zip(self.ruined_at.iter_mut()) {
                if equity <= *level && at.is_none() {
                    *at = Some(close);
                }
            }
        }
        self.count_step(equity, s);
    }

    /// A step closing at or after the day's end (`close`, ms): the day's return, from the
    /// equity it began with to `equity`, and the next day's end.
    #[inline(never)]
    fn end_day(&mut self, close: i64, equity: f64) {
        const DAY: i64 = 86_400_000;
        if self.day_end == i64::MIN {
            // the first step: its day ends at the first midnight at or after its close
            self.day_end = (close - 1).div_euclid(DAY) * DAY + DAY;
            if close < self.day_end {
                return;
            }
        }
        if self.day_equity > 0.0 {
            self.daily_returns.add(equity / self.day_equity - 1.0);
        }
        self.day_equity = equity;
        self.day_end = close.div_euclid(DAY) * DAY + DAY;
    }

    /// [`Curve::record`] for a step whose equity (> 0) equals the last one's, as on most
    /// flat steps: its return is exactly 0 (x / x − 1), which leaves the sums as they are;
    /// below the peak, its drawdown is the last step's, already counted; the low is not
    /// new. What is left is the clock, the peak's time and the counts — the same figures as
    /// the full record, with no division.
    #[inline(always)]
    fn record_unchanged(&mut self, close: i64, s: &Snapshot) {
        let equity = self.prev_equity;
        self.last_time = close;
        if equity >= self.peak {
            self.peak_time = close;
        } else {
            self.longest_underwater = self.longest_underwater.max(close - self.peak_time);
        }
        // a return of exactly 0 leaves the sums as they are
        self.step_returns.n += 1;
        self.count_step(equity, s);
    }

    /// The step count and the exposure.
    #[inline(always)]
    fn count_step(&mut self, equity: f64, s: &Snapshot) {
        self.steps += 1;
        if s.gross_notional > 0.0 {
            self.exposed_steps += 1;
            if equity > 0.0 {
                let leverage = s.gross_notional / equity;
                self.leverage_sum += leverage;
                self.max_leverage = self.max_leverage.max(leverage);
            }
        }
    }
}

/// Where a step's signals come from.
enum Signals {
    /// the strategy, asked with the step's [`Context`]
    Live(Box<dyn Strategy>),
    /// a recording of the same strategy on the same market, played back without building a
    /// context or refreshing the holdings (a market-only strategy reads neither)
    Replayed(Replay),
}

/// The exchange, the risk layer and a strategy, stepped together.
pub struct Engine {
    pub venue: Venue,
    pub risk: RiskLayer,
    strategy: Signals,
    /// ms per bar
    timeframe: i64,
    /// USDT
    start: f64,
    bars: Vec<Option<Bar>>,
    funding_rate: Vec<Option<f64>>,
    holdings: Vec<Holding>,
    signals: Vec<Signal>,
    /// the venue view's change count already reflected in `holdings`
    seen_changes: u64,
    pub curve: Curve,
    /// dated bracket tables taking over, in time order: (from, symbol, table's date, tiers)
    brackets: Vec<(i64, usize, String, Vec<crate::instrument::Tier>)>,
    /// the next of `brackets` to apply, and its time (`i64::MAX` when none is left)
    next_brackets: (usize, i64),
    /// the bracket tables put in force: (index in `brackets`, the step's open from which)
    brackets_used: Vec<(usize, i64)>,
}

impl Engine {
    /// An engine for `spec` on bars of `timeframe` ms; `keep_curve` keeps the account log
    /// for the per-step columns ([`Engine::fill_columns`]).
    pub fn new(spec: &RunSpec, timeframe: i64, keep_curve: bool) -> Engine {
        Engine::build(spec, timeframe, keep_curve, None)
    }

    /// [`Engine::new`] whose strategy, when `recorded` is given, plays back its signals
    /// (the same strategy's, recorded on the same market by [`record_signals`]) instead of
    /// working them out.
    pub fn replaying(
        spec: &RunSpec,
        timeframe: i64,
        keep_curve: bool,
        recorded: Option<Arc<Recorded>>,
    ) -> Engine {
        Engine::build(
            spec,
            timeframe,
            keep_curve,
            recorded.map(Replay::new).map(Signals::Replayed),
        )
    }

    /// An engine for `spec` that asks `strategy` rather than the one the spec names: the seam
    /// for a program that builds its strategy itself (the spec's `[strategy]` table is then
    /// only checked, never used).
    pub fn with_strategy(
        spec: &RunSpec,
        timeframe: i64,
        keep_curve: bool,
        strategy: Box<dyn Strategy>,
    ) -> Engine {
        Engine::build(spec, timeframe, keep_curve, Some(Signals::Live(strategy)))
    }

    fn build(spec: &RunSpec, timeframe: i64, keep_curve: bool, signals: Option<Signals>) -> Engine {
        let venue = Venue::new(
            VenueConfig {
                mode: spec.margin_mode,
                start_balance: spec.balance,
                slippage: spec.slippage,
                path: spec.path,
                margin_call_ratio: spec.margin_call_ratio,
            },
            spec.instruments.clone(),
        );
        let start = spec.balance.to_f64().unwrap_or(0.0);
        let risk = RiskLayer::new(spec.risk.clone(), &spec.instruments, timeframe, start)
            .expect("a RunSpec's risk rules were checked");
        let names: Vec<String> = spec.symbols.iter().map(|s| s.symbol.clone()).collect();
        let build = Build {
            params: &spec.strategy_params,
            symbols: &names,
            max_leverage: spec.risk.max_leverage,
            spec_dir: spec.file.parent(),
        };
        let strategy = match signals {
            Some(signals) => signals,
            None => Signals::Live(
                strategy::builder(&spec.strategy_kind)
                    .and_then(|b| b(&build))
                    .expect("a RunSpec's strategy was checked"),
            ),
        };
        let n = names.len();
        let mut brackets = Vec::new();
        for (s, spec) in spec.instruments.iter().enumerate() {
            let tables = spec.bracket_tables();
            if tables.len() > 1 {
                for (from, date, tiers) in tables {
                    brackets.push((from, s, date.to_string(), tiers.to_vec()));
                }
            }
        }
        brackets.sort_by_key(|b| (b.0, b.1));
        let next_brackets = (0, brackets.first().map_or(i64::MAX, |b| b.0));
        let brackets_used = Vec::with_capacity(brackets.len());
        Engine {
            brackets,
            next_brackets,
            brackets_used,
            venue,
            risk,
            strategy,
            timeframe,
            start,
            bars: vec![None; n],
            funding_rate: vec![None; n],
            holdings: vec![Holding::default(); n],
            signals: Vec::with_capacity(4 * n),
            seen_changes: u64::MAX,
            curve: Curve::new(keep_curve, start),
        }
    }

    /// One time step: the bars of the symbols that have one at `open_time`, in symbol order.
    pub fn step(&mut self, open_time: i64, bars: &[StepBar<'_>]) {
        let equity = self.advance(open_time, bars);
        self.decide(open_time + self.timeframe, equity);
    }

    /// The market half of a step: the exchange walks the bars, the risk layer observes them
    /// and runs its guards, the account is recorded. Returns the equity at the close (USDT).
    pub fn advance(&mut self, open_time: i64, bars: &[StepBar<'_>]) -> f64 {
        self.apply_brackets(open_time);
        self.begin_step(bars.len());
        for b in bars {
            self.take_bar(open_time, b);
        }
        self.end_market(open_time)
    }

    /// Puts in force the dated bracket tables due by a step opening at `open_time`: one
    /// comparison on most steps.
    #[inline(always)]
    fn apply_brackets(&mut self, open_time: i64) {
        if open_time >= self.next_brackets.1 {
            self.apply_brackets_due(open_time);
        }
    }

    #[inline(never)]
    fn apply_brackets_due(&mut self, open_time: i64) {
        let (mut k, _) = self.next_brackets;
        while k < self.brackets.len() && self.brackets[k].0 <= open_time {
            let (_, s, _, tiers) = &self.brackets[k];
            self.venue.set_brackets(*s, tiers);
            self.risk.set_brackets(*s, tiers);
            // a later table due at the same step replaces this one before it is used
            let brackets = &self.brackets;
            let replaced = self
                .brackets_used
                .iter()
                .rposition(|&(j, at)| at == open_time && brackets[j].1 == *s);
            if let Some(i) = replaced {
                self.brackets_used.remove(i);
            }
            self.brackets_used.push((k, open_time));
            k += 1;
        }
        self.next_brackets = (k, self.brackets.get(k).map_or(i64::MAX, |b| b.0));
    }

    /// The dated bracket tables put in force over the run, in order: (symbol, the table's
    /// date, the open of the step from which).
    pub fn brackets_used(&self) -> impl Iterator<Item = (usize, &str, i64)> {
        self.brackets_used
            .iter()
            .map(|&(k, from)| (self.brackets[k].1, self.brackets[k].2.as_str(), from))
    }

    /// Readies the per-symbol inputs for a step in which `present` symbols have a bar.
    #[inline]
    fn begin_step(&mut self, present: usize) {
        // a symbol without a bar this step must not show the last one's
        if present < self.bars.len() {
            self.bars.fill(None);
        }
    }

    /// One symbol's bar: the exchange walks it, then the risk layer observes it. The risk
    /// layer reads nothing of the venue here, so walking and observing symbol by symbol is
    /// the same as walking every symbol first.
    #[inline(always)]
    fn take_bar(&mut self, open_time: i64, b: &StepBar<'_>) {
        let last = b.bar.ohlc();
        match b.detail {
            None => self
                .venue
                .on_bar(b.symbol, open_time, &last, &b.mark, b.funding),
            Some((ms, fine_last, fine_mark)) => self.venue.on_bar_in_detail(
                b.symbol,
                open_time,
                (&last, &b.mark),
                b.funding,
                ms,
                fine_last,
                fine_mark,
            ),
        }
        self.risk
            .observe(b.symbol, &last, b.mark.close, b.last_rate);
        // replayed signals were worked out from the bars already
        if !matches!(self.strategy, Signals::Replayed(_)) {
            self.note_bar(b);
        }
    }

    /// What the strategy will see of `b`.
    #[inline(always)]
    fn note_bar(&mut self, b: &StepBar<'_>) {
        self.bars[b.symbol] = Some(b.bar);
        if let Some((_, rate)) = b.last_rate {
            self.funding_rate[b.symbol] = Some(rate);
        }
    }

    /// After the bars: the guards, then the record. Returns the equity at the close (USDT).
    #[inline(always)]
    fn end_market(&mut self, open_time: i64) -> f64 {
        let close = open_time + self.timeframe;
        self.venue.end_step(open_time);
        self.risk.on_step(close, &mut self.venue);
        let snapshot = self.venue.snapshot_without_ratio();
        self.curve.record(open_time, close, &snapshot);
        if self.curve.keep {
            // the step just counted
            let step = (self.curve.steps - 1) as u32;
            self.venue.log_account(step, &mut self.curve.log);
        }
        snapshot.equity()
    }

    /// The decision half: the strategy sees the closed bars, the risk layer routes its
    /// signals. `close` is the step's close (ms).
    #[inline(always)]
    pub fn decide(&mut self, close: i64, equity: f64) {
        // replayed signals: most steps have none, and that is known without a call
        if let Signals::Replayed(replay) = &mut self.strategy
            && replay.skip_quiet_step()
        {
            self.signals.clear();
            return;
        }
        self.decide_fully(close, equity);
    }

    #[inline(never)]
    fn decide_fully(&mut self, close: i64, equity: f64) {
        self.ask_strategy(close, equity);
        self.route_signals(close);
    }

    #[inline(always)]
    fn ask_strategy(&mut self, close: i64, equity: f64) {
        self.signals.clear();
        if let Signals::Replayed(replay) = &mut self.strategy {
            replay.play(&mut self.signals);
            return;
        }
        self.refresh_holdings();
        let ctx = Context {
            time: close,
            bars: &self.bars,
            funding_rate: &self.funding_rate,
            holdings: &self.holdings,
            equity,
            start_equity: self.start,
        };
        if let Signals::Live(strategy) = &mut self.strategy {
            strategy.on_bar(&ctx, &mut self.signals);
        }
    }

    fn route_signals(&mut self, close: i64) {
        self.risk.on_signals(close, &self.signals, &mut self.venue);
    }

    /// Re-reads the positions after the venue did something (fills, funding, liquidation).
    fn refresh_holdings(&mut self) {
        let changes = self.venue.view_changes();
        if changes == self.seen_changes {
            return;
        }
        self.seen_changes = changes;
        for (s, h) in self.holdings.iter_mut().enumerate() {
            *h = match self.venue.position_view(s) {
                Some((sign, qty, entry)) => Holding {
                    qty: sign * qty,
                    entry,
                },
                None => Holding::default(),
            };
        }
    }

    /// The signals of the last step (for `paper`'s stream).
    pub fn last_signals(&self) -> &[Signal] {
        &self.signals
    }

    /// Records when equity first falls to or below each fraction of the start (Monte Carlo
    /// ruin statistics).
    pub fn watch_ruin(&mut self, fractions: &[f64]) {
        self.curve.ruin_levels = fractions.iter().map(|f| f * self.start).collect();
        self.curve.ruined_at = vec![None; fractions.len()];
    }

    /// Fills the curve's columns, one row per step of `market`'s clock, from the account
    /// log and the marks, once the engine has run over `market` ([`run_history`], or
    /// [`Engine::step`] at every step of its clock): each step's account is the last state
    /// logged at or before it, and each symbol's mark is its bar's mark close — the last
    /// one seen when it has no bar at the step, as in the venue. The figures are the
    /// venue's own snapshot's ([`Venue::logged_snapshot`]). Does nothing without
    /// `keep_curve`, before the first step, or when the columns are filled already.
    pub fn fill_columns(&mut self, market: &MarketData) {
        let c = &mut self.curve;
        if !c.keep || !c.time.is_empty() || c.log.is_empty() {
            return;
        }
        let (n, steps) = (
            market.symbols.len(),
            (c.steps as usize).min(market.clock.len()),
        );
        c.time = market.clock[..steps].to_vec();
        c.wallet = Vec::with_capacity(steps);
        c.equity = Vec::with_capacity(steps);
        c.margin_ratio = Vec::with_capacity(steps);
        c.margin_ratio_worst = Vec::with_capacity(steps);
        c.gross_notional = Vec::with_capacity(steps);
        c.liquidation = Vec::with_capacity(steps * n);
        let mut marks = vec![0.0; n];
        let (mut lows, mut highs, mut adverse) = (vec![0.0; n], vec![0.0; n], Vec::new());
        let mut liquidations: Vec<i64> = self
            .venue
            .events()
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    crate::exchange::venue::EventKind::Liquidation { .. }
                )
            })
            .map(|e| e.time)
            .collect();
        liquidations.sort_unstable();
        let mut k = 0;
        let mut table = 0;
        for i in 0..steps {
            // the step's figures on the bracket table in force at it
            while let Some(&(j, from)) = self.brackets_used.get(table)
                && from <= market.clock[i]
            {
                let (_, s, _, tiers) = &self.brackets[j];
                self.venue.set_view_brackets(*s, tiers);
                table += 1;
            }
            for s in 0..n {
                let m = &market.symbols[s].mark;
                match market.bar_at[s].get(i) {
                    Some(&at) if at != NO_BAR => {
                        let at = at as usize;
                        (marks[s], lows[s], highs[s]) = (m.close[at], m.low[at], m.high[at]);
                    }
                    // no bar: the latest mark all step
                    _ => (lows[s], highs[s]) = (marks[s], marks[s]),
                }
            }
            while k + 1 < c.log.len() && c.log.step(k + 1) as usize <= i {
                k += 1;
            }
            let snapshot = self.venue.logged_snapshot(&c.log, k, &marks);
            c.wallet.push(snapshot.wallet);
            c.equity.push(snapshot.equity());
            c.margin_ratio.push(snapshot.margin_ratio);
            let worst = self
                .venue
                .logged_worst_ratio(&c.log, k, &lows, &highs, &mut adverse);
            // a step that liquidated reached a ratio of 1 on its way, whatever it held at
            // the close
            let liquidated = liquidations.binary_search(&market.clock[i]).is_ok();
            c.margin_ratio_worst
                .push(if liquidated { worst.max(1.0) } else { worst });
            c.gross_notional.push(snapshot.gross_notional);
            for s in 0..n {
                c.liquidation
                    .push(self.venue.logged_liquidation_price(&c.log, k, s));
            }
        }
    }

    /// ms per bar
    /// What the strategy has to say about the run, once it is over ([`Strategy::notes`]).
    pub fn strategy_notes(&self) -> Vec<String> {
        match &self.strategy {
            Signals::Live(s) => s.notes(),
            Signals::Replayed(_) => Vec::new(),
        }
    }

    pub fn timeframe(&self) -> i64 {
        self.timeframe
    }

    pub fn warm_up(&self) -> usize {
        match &self.strategy {
            Signals::Live(strategy) => strategy.warm_up(),
            Signals::Replayed(replay) => replay.warm_up(),
        }
    }
}

/// Drives `engine` over `market`'s clock, step by step. The same steps as
/// [`Engine::step`], with each bar read from the columns straight into the engine (no
/// intermediate slice).
pub fn run_history(engine: &mut Engine, market: &MarketData) {
    let mut funding_next = vec![0usize; market.symbols.len()];
    for (i, &open_time) in market.clock.iter().enumerate() {
        engine.apply_brackets(open_time);
        for (s, next) in funding_next.iter_mut().enumerate() {
            match market.bar_at[s][i] {
                // a symbol without a bar this step must not show the last one's
                NO_BAR => engine.bars[s] = None,
                at => engine.take_bar(open_time, &step_bar(market, s, at as usize, next)),
            }
        }
        let equity = engine.end_market(open_time);
        engine.decide(open_time + engine.timeframe, equity);
    }
}

/// [`run_history`] for several engines on the same market, side by side: each step's bars
/// are read from the columns once and handed to every engine in turn. Each engine sees
/// exactly the steps it would alone (they share nothing), so its results are the same;
/// what is saved is the bar's reading, and a market too big for the cache is read once
/// instead of once per engine. ([`run_history`] is the same loop for one engine, kept
/// apart: through this one, a single run took 7 % more instructions.)
pub fn run_history_together(engines: &mut [Engine], market: &MarketData) {
    let mut funding_next = vec![0usize; market.symbols.len()];
    for (i, &open_time) in market.clock.iter().enumerate() {
        engines.iter_mut().for_each(|e| e.apply_brackets(open_time));
        for (s, next) in funding_next.iter_mut().enumerate() {
            match market.bar_at[s][i] {
                NO_BAR => engines.iter_mut().for_each(|e| e.bars[s] = None),
                at => {
                    let bar = step_bar(market, s, at as usize, next);
                    engines.iter_mut().for_each(|e| e.take_bar(open_time, &bar));
                }
            }
        }
        for engine in engines.iter_mut() {
            let equity = engine.end_market(open_time);
            engine.decide(open_time + engine.timeframe, equity);
        }
    }
}

/// The signals of `spec`'s strategy over `market`, when they depend on the market alone
/// ([`Strategy::market_only`]): the strategy sees every step exactly as in a run
/// (the same bars, funding rates and times), with a flat account it promises not to read.
/// `None` for any other strategy.
pub fn record_signals(spec: &RunSpec, market: &MarketData) -> Option<Recorded> {
    let timeframe = market.symbols.first().map_or(60_000, |s| s.timeframe.ms());
    let mut engine = Engine::new(spec, timeframe, false);
    if !matches!(&engine.strategy, Signals::Live(s) if s.market_only()) {
        return None;
    }
    let mut recorded = Recorded {
        warm_up: engine.warm_up(),
        ..Recorded::default()
    };
    let mut funding_next = vec![0usize; market.symbols.len()];
    for (i, &open_time) in market.clock.iter().enumerate() {
        for (s, next) in funding_next.iter_mut().enumerate() {
            match market.bar_at[s][i] {
                NO_BAR => engine.bars[s] = None,
                at => engine.note_bar(&step_bar(market, s, at as usize, next)),
            }
        }
        engine.ask_strategy(open_time + timeframe, engine.start);
        for signal in &engine.signals {
            recorded.steps.push(i as u32);
            recorded.signals.push(*signal);
        }
    }
    Some(recorded)
}

/// Symbol `s`'s bar `at` with its funding; `next` is the symbol's funding cursor (the index
/// of its next settlement; start at 0 and keep it between calls).
#[inline(always)]
pub fn step_bar<'a>(market: &'a MarketData, s: usize, at: usize, next: &mut usize) -> StepBar<'a> {
    let h = &market.symbols[s];
    let c = &h.candles;
    let m = &h.mark;
    let f = &h.funding;
    // settlements of earlier bars (a gap's) are passed over
    while *next < f.len() && (f.bar[*next] as usize) < at {
        *next += 1;
    }
    let first = *next;
    while *next < f.len() && f.bar[*next] as usize == at {
        *next += 1;
    }
    let funding = &f.due[first..*next];
    let last_rate = funding.last().map(|d| (d.time, d.rate));
    StepBar {
        symbol: s,
        bar: Bar {
            open_time: c.open_time[at],
            open: c.open[at],
            high: c.high[at],
            low: c.low[at],
            close: c.close[at],
            volume: c.volume[at],
            mark_close: m.close[at],
        },
        mark: Ohlc {
            open: m.open[at],
            high: m.high[at],
            low: m.low[at],
            close: m.close[at],
        },
        funding,
        last_rate,
        detail: h.detail.as_ref().map(|d| {
            let (fine_last, fine_mark) = d.of(at);
            (d.timeframe.ms(), fine_last, fine_mark)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step of `equity` (USDT, all wallet), flat.
    fn step(curve: &mut Curve, i: i64, equity: f64) {
        let s = Snapshot {
            wallet: equity,
            ..Snapshot::default()
        };
        curve.record(i * 60_000, (i + 1) * 60_000, &s);
    }

    #[test]
    fn repeated_equity_steps_count_as_the_full_record() {
        // equities 100, 100, 110, 110, 99, 99, 99, 120 (start 100), one per minute
        let mut curve = Curve::new(false, 100.0);
        for (i, e) in [100.0, 100.0, 110.0, 110.0, 99.0, 99.0, 99.0, 120.0]
            .into_iter()
            .enumerate()
        {
            step(&mut curve, i as i64, e);
        }
        assert_eq!(curve.steps, 8);
        // returns against the previous step (the first against the start): 0, 0, 0.1, 0,
        // −0.1, 0, 0, 120/99 − 1
        assert_eq!(curve.step_returns.n, 8);
        let r = [
            0.0,
            0.0,
            110.0 / 100.0 - 1.0,
            0.0,
            99.0 / 110.0 - 1.0,
            0.0,
            0.0,
            120.0 / 99.0 - 1.0,
        ];
        let m = curve.step_returns;
        assert_eq!(m.sum, r.iter().sum::<f64>());
        assert_eq!(m.sq_sum, r.iter().map(|x| x * x).sum::<f64>());
        assert_eq!(m.downside_sq_sum, (99.0 / 110.0 - 1.0f64).powi(2));
        // the peak of 110 is reached at the third close (3 min) and its time moves to the
        // fourth close, an equal equity (4 min); equity stays below it at the fifth to
        // seventh closes (5, 6, 7 min): 7 − 4 = 3 min under water
        assert_eq!(curve.max_drawdown, 1.0 - 99.0 / 110.0);
        assert_eq!(curve.longest_underwater, 3 * 60_000);
        assert_eq!(curve.min_equity, 99.0);
        assert_eq!(curve.peak, 120.0);
    }
}
