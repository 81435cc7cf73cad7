//! The audit trail: every decision of the risk layer, with its rule and numbers, so that
//! "why did the bot not enter here?" is answered by the output alone.
//!
//! Events hold numbers, not text: recording one costs a push (no formatting in the loop);
//! [`RiskEvent::reason`] writes the sentence when the run's `events.csv` is written.

use std::collections::BTreeMap;

use crate::exchange::Side;
use crate::exchange::orders::OrderRefusal;
use crate::strategy::Intent;

/// Which rule decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// the signal as asked (approved events)
    Signal,
    /// the signal cannot be acted on (a stop on the wrong side, nothing to reduce)
    InvalidSignal,
    /// already holding the asked side
    AlreadyOpen,
    /// the closing leg of a flip: the position against the new side closes first
    Flip,
    /// an estimate the rule needs (ATR, volatility) is not in yet
    WarmUp,
    Sizing,
    MaxLeverage,
    /// the instrument bracket's leverage limit for the notional
    BracketLeverage,
    MaxPositionPct,
    MaxTotalExposure,
    CashReserve,
    /// margin, fee and slippage must fit the collateral the account has free
    AvailableMargin,
    MinRewardRisk,
    RequireStop,
    DefaultStop,
    LiquidationBuffer,
    LiquidationProbability,
    PortfolioVolatility,
    DailyLossLimit,
    WeeklyLossLimit,
    MaxDrawdown,
    LosingStreak,
    VolatilityHalt,
    MarginGuard,
    /// the exchange's own rules refused the order (lot step, minimum notional)
    Exchange,
}

impl Rule {
    /// The name used in `events.csv`, `summary.json` and the spec's `[risk]` table.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Signal => "signal",
            Rule::InvalidSignal => "invalid_signal",
            Rule::AlreadyOpen => "already_open",
            Rule::Flip => "flip",
            Rule::WarmUp => "warm_up",
            Rule::Sizing => "sizing",
            Rule::MaxLeverage => "max_leverage",
            Rule::BracketLeverage => "bracket_leverage",
            Rule::MaxPositionPct => "max_position_pct",
            Rule::MaxTotalExposure => "max_total_exposure",
            Rule::CashReserve => "cash_reserve",
            Rule::AvailableMargin => "available_margin",
            Rule::MinRewardRisk => "min_reward_risk",
            Rule::RequireStop => "require_stop",
            Rule::DefaultStop => "default_stop_atr",
            Rule::LiquidationBuffer => "liquidation_buffer",
            Rule::LiquidationProbability => "liquidation_probability",
            Rule::PortfolioVolatility => "max_portfolio_volatility",
            Rule::DailyLossLimit => "daily_loss_limit",
            Rule::WeeklyLossLimit => "weekly_loss_limit",
            Rule::MaxDrawdown => "max_drawdown",
            Rule::LosingStreak => "losing_streak",
            Rule::VolatilityHalt => "volatility_halt",
            Rule::MarginGuard => "margin_guard",
            Rule::Exchange => "exchange",
        }
    }
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// an order went to the exchange
    Approved,
    /// a signal's order was made smaller (or its leverage lower) before approval
    Resized,
    /// a signal got no order
    Refused,
    /// a guard cut an open position
    Reduced,
    /// a guard closed a position
    Closed,
    /// new entries stop
    Halted,
    /// new entries may resume
    Resumed,
    /// a protective stop was attached to an entry without one
    StopAdded,
    /// a rule whose estimate is not in yet acts on a stated stand-in
    Assumed,
    /// a rule hands over to another (Kelly sizing once the trade record is long enough)
    Switched,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Approved => "approved",
            Action::Resized => "resized",
            Action::Refused => "refused",
            Action::Reduced => "reduced",
            Action::Closed => "closed",
            Action::Halted => "halted",
            Action::Resumed => "resumed",
            Action::StopAdded => "stop_added",
            Action::Assumed => "assumed",
            Action::Switched => "switched",
        }
    }
}

/// The unit of an event's `from` and `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// base asset
    Qty,
    Leverage,
    /// USDT
    Price,
    /// nothing changes size (halts, refusals)
    None,
}

/// Who asked for a decision: a strategy's signal, by its intent, or the risk layer on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    EnterLong,
    EnterShort,
    TargetExposure,
    Reduce,
    Exit,
    /// a breaker or guard
    Guard,
}

impl Source {
    pub fn of(intent: &Intent) -> Source {
        match intent {
            Intent::Enter {
                side: Side::Long, ..
            } => Source::EnterLong,
            Intent::Enter {
                side: Side::Short, ..
            } => Source::EnterShort,
            Intent::TargetExposure { .. } => Source::TargetExposure,
            Intent::Reduce { .. } => Source::Reduce,
            Intent::Exit => Source::Exit,
        }
    }

    /// The name in `events.csv` (the intent's, or `guard`).
    pub fn name(self) -> &'static str {
        match self {
            Source::EnterLong => "enter_long",
            Source::EnterShort => "enter_short",
            Source::TargetExposure => "target_exposure",
            Source::Reduce => "reduce",
            Source::Exit => "exit",
            Source::Guard => "guard",
        }
    }

    /// Whether the signal asks to add risk (an entry or a target exposure).
    pub fn adds(self) -> bool {
        matches!(
            self,
            Source::EnterLong | Source::EnterShort | Source::TargetExposure
        )
    }
}

/// When, for what and for whom a decision is taken: the close (ms), the symbol (`None`: the
/// whole account) and its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub time: i64,
    pub symbol: Option<usize>,
    pub source: Source,
}

impl At {
    /// A breaker's or guard's decision on `symbol` (`None`: the account).
    pub fn guard(time: i64, symbol: Option<usize>) -> At {
        At {
            time,
            symbol,
            source: Source::Guard,
        }
    }
}

/// One decision.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskEvent {
    /// ms: the close of the bar after which the decision was taken
    pub time: i64,
    /// `None` for the whole account
    pub symbol: Option<usize>,
    pub source: Source,
    pub action: Action,
    pub rule: Rule,
    /// what was asked or held, and what it became
    pub measure: Measure,
    pub from: f64,
    pub to: f64,
    /// what the rule measured, and its limit (units by rule; NaN when not applicable)
    pub value: f64,
    pub limit: f64,
    /// the exchange's refusal, for `Rule::Exchange`
    pub refusal: Option<OrderRefusal>,
}

/// One constructor per kind of decision; figures a kind does not have stay NaN.
impl RiskEvent {
    fn new(at: At, action: Action, rule: Rule) -> RiskEvent {
        RiskEvent {
            time: at.time,
            symbol: at.symbol,
            source: at.source,
            action,
            rule,
            measure: Measure::None,
            from: f64::NAN,
            to: f64::NAN,
            value: f64::NAN,
            limit: f64::NAN,
            refusal: None,
        }
    }

    fn with(
        mut self,
        measure: Measure,
        (from, to): (f64, f64),
        (value, limit): (f64, f64),
    ) -> Self {
        (self.measure, self.from, self.to) = (measure, from, to);
        (self.value, self.limit) = (value, limit);
        self
    }

    /// A signal's order went to the exchange: quantity asked → sent (base asset), at
    /// `leverage` (NaN for an exit or a reduction).
    pub fn approved(at: At, qty: (f64, f64), leverage: f64) -> RiskEvent {
        let figures = (leverage, f64::NAN);
        RiskEvent::new(at, Action::Approved, Rule::Signal).with(Measure::Qty, qty, figures)
    }

    /// `rule` cut an entry's quantity or leverage (`measure`: from → to) at its figures
    /// `(value, limit)`.
    pub fn resized(
        at: At,
        rule: Rule,
        measure: Measure,
        change: (f64, f64),
        why: (f64, f64),
    ) -> Self {
        RiskEvent::new(at, Action::Resized, rule).with(measure, change, why)
    }

    /// `rule` refused a signal: what it measured and its limit.
    pub fn refused(at: At, rule: Rule, value: f64, limit: f64) -> RiskEvent {
        let none = (f64::NAN, f64::NAN);
        RiskEvent::new(at, Action::Refused, rule).with(Measure::None, none, (value, limit))
    }

    /// The exchange's own rules refused the order.
    pub fn refused_by_exchange(at: At, refusal: OrderRefusal) -> RiskEvent {
        RiskEvent {
            refusal: Some(refusal),
            ..RiskEvent::new(at, Action::Refused, Rule::Exchange)
        }
    }

    /// A guard cut a position (base asset, from → to) at its figures.
    pub fn reduced(at: At, rule: Rule, qty: (f64, f64), why: (f64, f64)) -> RiskEvent {
        RiskEvent::new(at, Action::Reduced, rule).with(Measure::Qty, qty, why)
    }

    /// `rule` closed a position of `qty` (a guard's, or a flip's closing leg).
    pub fn closed(at: At, rule: Rule, qty: f64, why: (f64, f64)) -> RiskEvent {
        RiskEvent::new(at, Action::Closed, rule).with(Measure::Qty, (qty, 0.0), why)
    }

    /// `rule` halts new entries: what it measured and its limit.
    pub fn halted(at: At, rule: Rule, value: f64, limit: f64) -> RiskEvent {
        let none = (f64::NAN, f64::NAN);
        RiskEvent::new(at, Action::Halted, rule).with(Measure::None, none, (value, limit))
    }

    /// `rule`'s halt is lifted.
    pub fn resumed(at: At, rule: Rule) -> RiskEvent {
        RiskEvent::new(at, Action::Resumed, rule)
    }

    /// An entry without a stop got one at `stop` (USDT), `atrs` ATRs of `atr` USDT away.
    pub fn stop_added(at: At, stop: f64, atr: f64, atrs: f64) -> RiskEvent {
        let rule = Rule::DefaultStop;
        RiskEvent::new(at, Action::StopAdded, rule).with(
            Measure::Price,
            (f64::NAN, stop),
            (atr, atrs),
        )
    }

    /// `rule` acts on its stated stand-in: `seen` of the `needed` data are in.
    pub fn assumed(at: At, rule: Rule, seen: f64, needed: f64) -> RiskEvent {
        let none = (f64::NAN, f64::NAN);
        RiskEvent::new(at, Action::Assumed, rule).with(Measure::None, none, (seen, needed))
    }

    /// `rule` hands over (Kelly sizing: after `value` trades, at full fraction `limit`).
    pub fn switched(at: At, rule: Rule, value: f64, limit: f64) -> RiskEvent {
        let none = (f64::NAN, f64::NAN);
        RiskEvent::new(at, Action::Switched, rule).with(Measure::None, none, (value, limit))
    }

    /// The sentence for `events.csv`.
    pub fn reason(&self) -> String {
        let change = match self.measure {
            Measure::Qty => format!("; quantity {} → {}", sig(self.from), sig(self.to)),
            Measure::Leverage => format!("; leverage {}x → {}x", sig(self.from), sig(self.to)),
            Measure::Price => format!("; stop at {}", sig(self.to)),
            Measure::None => String::new(),
        };
        let (v, l) = (sig(self.value), sig(self.limit));
        if self.action == Action::Resumed {
            return format!("{}: the halt is lifted", self.rule.name());
        }
        let refused = self.action == Action::Refused;
        let why = match self.rule {
            Rule::Signal => "as asked".to_string(),
            Rule::InvalidSignal => "the signal cannot be acted on (stop or take-profit on the wrong side of the price, or nothing to reduce)".to_string(),
            Rule::AlreadyOpen => "a position on that side is already open".to_string(),
            Rule::Flip => "the position against the new side closes first".to_string(),
            Rule::WarmUp => format!("the estimates need {l} bars of history, {v} seen"),
            Rule::Sizing if self.action == Action::Switched => format!("Kelly sizing takes over from risk_per_trade after {v} closed trades (full Kelly fraction {l})"),
            Rule::Sizing if self.value.is_nan() => "sizing gives no position: no stop to size from".to_string(),
            Rule::Sizing => format!("the trade record's Kelly fraction is {v} ≤ 0: every entry is refused until it turns positive, which without new trades it cannot"),
            Rule::MaxLeverage => format!("leverage capped at max_leverage {l}x"),
            Rule::BracketLeverage => format!("the instrument bracket allows {l}x at this notional"),
            Rule::MaxPositionPct => format!("position margin would be {v} of equity, limit {l}"),
            Rule::MaxTotalExposure => format!("gross exposure would be {v}x equity, limit {l}x"),
            Rule::CashReserve => format!("margin and fees committed would be {v} of the wallet, limit {l}"),
            Rule::AvailableMargin => format!("margin, fee and slippage would be {v} USDT, {l} USDT free"),
            Rule::MinRewardRisk => format!("reward/risk {v} below the minimum {l}"),
            Rule::RequireStop => "an entry needs a stop-loss".to_string(),
            Rule::DefaultStop => format!("no stop given: one placed {l} ATR away (ATR {v} USDT)"),
            Rule::LiquidationBuffer => format!("liquidation price {v} must sit beyond {l} (stop less buffer)"),
            Rule::LiquidationProbability if self.value.is_nan() => format!("the liquidation price must keep the distance at which liquidation within the horizon has probability {l}"),
            Rule::LiquidationProbability => format!("probability of liquidation within the horizon {v}, limit {l}"),
            Rule::PortfolioVolatility if self.action == Action::Assumed => format!("correlations not estimated yet ({v} of {l} steps): correlation 1 assumed between all positions"),
            Rule::PortfolioVolatility => format!("portfolio daily volatility would be {v} of equity, limit {l}"),
            Rule::DailyLossLimit if refused => format!("entries halt for the rest of the UTC day: today's loss reached the limit {l} (now {v})"),
            Rule::DailyLossLimit => format!("today's loss {v} of the day's starting equity, limit {l}"),
            Rule::WeeklyLossLimit if refused => format!("entries halt for the rest of the UTC week: this week's loss reached the limit {l} (now {v})"),
            Rule::WeeklyLossLimit => format!("this week's loss {v} of the week's starting equity, limit {l}"),
            Rule::MaxDrawdown if refused => format!("entries halt: the drawdown reached the kill switch's limit {l} (now {v}); it lifts after drawdown_cooldown, and never without one"),
            Rule::MaxDrawdown => format!("drawdown {v} from the equity peak, limit {l}"),
            Rule::LosingStreak if refused => format!("entries halt for losing_streak_cooldown after {l} losing trades in a row"),
            Rule::LosingStreak => format!("{v} losing trades in a row, limit {l}"),
            Rule::VolatilityHalt if refused => format!("entries on this symbol halt while its volatility is above {l}x its long-run level (now {v}x)"),
            Rule::VolatilityHalt => format!("volatility {v}x its long-run level, limit {l}x"),
            Rule::MarginGuard if refused => format!("entries halt while a margin ratio is at or above {l} (now {v})"),
            Rule::MarginGuard if self.symbol.is_some() => format!("the position's margin ratio {v}, level {l}"),
            Rule::MarginGuard => format!("the account's margin ratio {v}, level {l}"),
            Rule::Exchange => self
                .refusal
                .as_ref()
                .map_or_else(|| "refused by the exchange".to_string(), |r| r.to_string()),
        };
        format!("{}: {why}{change}", self.rule.name())
    }
}

/// Up to 6 significant digits, without trailing zeros; empty for NaN.
fn sig(x: f64) -> String {
    if x.is_nan() {
        return String::new();
    }
    if x.is_infinite() {
        return if x > 0.0 { "∞" } else { "−∞" }.to_string();
    }
    let digits = if x == 0.0 {
        0
    } else {
        x.abs().log10().floor() as i32
    };
    let decimals = (5 - digits).clamp(0, 10) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Every decision, and how often each rule took each action.
#[derive(Clone, Debug)]
pub struct Audit {
    events: Vec<RiskEvent>,
    /// whether `events` keeps the decisions (a Monte Carlo path's run reads only its
    /// outcome, and keeps the counts alone)
    keep_events: bool,
    /// (rule, action, count) in order of first occurrence: a handful of pairs, compared as
    /// integers (string keys per event were 2 % of a sweep's work)
    pairs: Vec<(Rule, Action, u32)>,
    /// decisions recorded so far
    recorded: u64,
}

impl Default for Audit {
    fn default() -> Audit {
        Audit {
            events: Vec::new(),
            keep_events: true,
            pairs: Vec::new(),
            recorded: 0,
        }
    }
}

impl Audit {
    /// An audit that counts decisions without keeping them.
    pub fn counts_only() -> Audit {
        Audit {
            keep_events: false,
            ..Audit::default()
        }
    }

    pub fn record(&mut self, event: RiskEvent) {
        self.recorded += 1;
        match self
            .pairs
            .iter_mut()
            .find(|(rule, action, _)| *rule == event.rule && *action == event.action)
        {
            Some(pair) => pair.2 += 1,
            None => self.pairs.push((event.rule, event.action, 1)),
        }
        if self.keep_events {
            self.events.push(event);
        }
    }

    /// How many decisions were recorded (kept or not).
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// The decisions in order (empty for [`Audit::counts_only`]).
    pub fn events(&self) -> &[RiskEvent] {
        &self.events
    }

    /// How often a rule took an action.
    pub fn count(&self, rule: Rule, action: Action) -> u32 {
        self.pairs
            .iter()
            .find(|(r, a, _)| *r == rule && *a == action)
            .map_or(0, |p| p.2)
    }

    /// `{rule: {action: count}}` for the rules that did anything, for `summary.json`.
    pub fn counts(&self) -> BTreeMap<&'static str, BTreeMap<&'static str, u32>> {
        let mut out: BTreeMap<&'static str, BTreeMap<&'static str, u32>> = BTreeMap::new();
        for &(rule, action, n) in &self.pairs {
            *out.entry(rule.name())
                .or_default()
                .entry(action.name())
                .or_default() += n;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_sentences() {
        let at = At {
            time: 0,
            symbol: Some(0),
            source: Source::EnterLong,
        };
        let e = RiskEvent::resized(
            at,
            Rule::MaxTotalExposure,
            Measure::Qty,
            (0.5, 0.15),
            (10.0, 3.0),
        );
        assert_eq!(
            e.reason(),
            "max_total_exposure: gross exposure would be 10x equity, limit 3x; quantity 0.5 → 0.15"
        );
        assert_eq!(sig(65_432.123_456), "65432.1");
        assert_eq!(sig(0.012_345_67), "0.0123457");
        let mut audit = Audit::default();
        audit.record(e.clone());
        audit.record(e);
        assert_eq!(audit.count(Rule::MaxTotalExposure, Action::Resized), 2);
        assert_eq!(audit.counts()["max_total_exposure"]["resized"], 2);
    }
}
