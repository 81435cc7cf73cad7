//! The risk layer driven through a venue, one rule at a time, with numbers worked by hand.
//! Fees and slippage are 0 so that the arithmetic stays checkable; the instrument is
//! BTCUSDT's bracket table (tier 1: maintenance 0.4 %, amount 0, max 125x below 50,000 USDT).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::audit::{Action, Measure, Rule};
use super::config::{RiskConfig, Sizing};
use super::layer::RiskLayer;
use crate::exchange::Side;
use crate::exchange::account::MarginMode;
use crate::exchange::fill::{Ohlc, PathOrder, Slippage};
use crate::exchange::venue::{Venue, VenueConfig};
use crate::instrument::Instruments;
use crate::market::Settlement;
use crate::strategy::{Intent, Signal};

const HOUR: i64 = 3_600_000;

/// A venue and a risk layer stepped together, as the engine will.
pub(super) struct Sim {
    pub venue: Venue,
    pub risk: RiskLayer,
    /// ms, open of the next bar
    pub time: i64,
}

pub(super) fn sim(config: RiskConfig, mode: MarginMode) -> Sim {
    let spec = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
    sim_on(spec, config, mode)
}

/// [`sim`] on another instrument (its fees set to 0).
pub(super) fn sim_on(
    mut spec: crate::instrument::InstrumentSpec,
    config: RiskConfig,
    mode: MarginMode,
) -> Sim {
    spec.taker_fee = Decimal::ZERO;
    spec.maker_fee = Decimal::ZERO;
    let venue = Venue::new(
        VenueConfig {
            mode,
            start_balance: Decimal::from(10_000),
            slippage: Slippage::None,
            path: PathOrder::AdverseFirst,
            margin_call_ratio: 0.8,
        },
        vec![spec.clone()],
    );
    Sim {
        venue,
        risk: RiskLayer::new(config, &[spec], HOUR, 10_000.0).unwrap(),
        time: 0,
    }
}

impl Sim {
    /// One 1h bar (mark = last).
    pub fn bar(&mut self, open: f64, high: f64, low: f64, close: f64) {
        self.bar_with_funding(open, high, low, close, None);
    }

    /// One 1h bar (mark = last) with a funding settlement at `rate` in it, if any.
    pub fn bar_with_funding(
        &mut self,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        rate: Option<f64>,
    ) {
        let b = Ohlc {
            open,
            high,
            low,
            close,
        };
        let time = self.time;
        let funding: Vec<Settlement> = rate
            .map(|rate| Settlement {
                time,
                rate,
                mark: open,
            })
            .into_iter()
            .collect();
        self.venue.on_bar(0, self.time, &b, &b, &funding);
        self.risk
            .observe(0, &b, close, rate.map(|r| (self.time, r)));
        self.time += HOUR;
        self.risk.on_step(self.time, &mut self.venue);
    }

    pub fn flat(&mut self, price: f64, bars: usize) {
        for _ in 0..bars {
            self.bar(price, price, price, price);
        }
    }

    pub fn signal(&mut self, intent: Intent) {
        let signal = Signal { symbol: 0, intent };
        self.risk.on_signal(self.time, signal, &mut self.venue);
    }

    pub fn long(&mut self, stop: Option<f64>, take_profit: Option<f64>) {
        self.signal(Intent::Enter {
            side: Side::Long,
            stop,
            take_profit,
        });
    }

    pub fn qty(&self) -> f64 {
        self.venue
            .account
            .position(0)
            .map_or(0.0, |p| p.qty.to_f64().unwrap())
    }

    pub fn last(&self, rule: Rule, action: Action) -> Option<&super::RiskEvent> {
        let events = self.risk.audit().events();
        events
            .iter()
            .rev()
            .find(|e| e.rule == rule && e.action == action)
    }
}

/// Every rule off, sizing from the stop, leverage 3.
fn base() -> RiskConfig {
    RiskConfig {
        sizing: Sizing::RiskPerTrade,
        max_leverage: Some(3.0),
        ..RiskConfig::no_rules()
    }
}

#[test]
fn risk_per_trade_sizes_from_the_stop() {
    let mut s = sim(base(), MarginMode::Isolated);
    s.flat(100.0, 1);
    // 10,000 × 1 % = 100 USDT at risk over 100 − 95 = 5 → 20 BTC, notional 2,000
    s.long(Some(95.0), None);
    s.flat(100.0, 1);
    assert_eq!(s.qty(), 20.0);
    let approved = s.last(Rule::Signal, Action::Approved).unwrap();
    assert_eq!(
        (approved.from, approved.to, approved.value),
        (20.0, 20.0, 3.0)
    );
    // the stop leg rests and fires on the way down
    s.bar(100.0, 100.0, 94.0, 94.0);
    assert_eq!(s.qty(), 0.0);
    // the trade lost 20 × 5 = 100 USDT on 2,000 notional: −5 %
    assert_eq!(s.risk.trades().losses, 1);
    assert!((s.risk.trades().sum_loss - 0.05).abs() < 1e-12);
}

#[test]
fn each_cap_cuts_the_size_and_says_so() {
    // a stop 0.5 away asks 100 / 0.5 = 200 BTC = 20,000 notional (2x equity)
    let cases = [
        // 1.5 × 10,000 = 15,000 → 150
        (
            RiskConfig {
                max_total_exposure: Some(1.5),
                ..base()
            },
            Rule::MaxTotalExposure,
            150.0,
        ),
        // margin ≤ 25 % × 10,000 = 2,500 at 3x → 7,500 → 75
        (
            RiskConfig {
                max_position_pct: Some(0.25),
                ..base()
            },
            Rule::MaxPositionPct,
            75.0,
        ),
        // (1 − 0.5) × 10,000 = 5,000 of margin at 3x → 15,000 → 150
        (
            RiskConfig {
                cash_reserve: Some(0.5),
                ..base()
            },
            Rule::CashReserve,
            150.0,
        ),
    ];
    for (config, rule, qty) in cases {
        let mut s = sim(config, MarginMode::Isolated);
        s.flat(100.0, 1);
        s.long(Some(99.5), None);
        s.flat(100.0, 1);
        assert_eq!(s.qty(), qty, "{rule:?}");
        let e = s.last(rule, Action::Resized).unwrap();
        assert_eq!(
            (e.measure, e.from, e.to),
            (Measure::Qty, 200.0, qty),
            "{rule:?}"
        );
    }
}

#[test]
fn stops_are_required_added_and_checked() {
    let mut s = sim(
        RiskConfig {
            require_stop: true,
            ..base()
        },
        MarginMode::Isolated,
    );
    s.flat(100.0, 20);
    s.long(None, None);
    assert!(s.last(Rule::RequireStop, Action::Refused).is_some());
    // a stop above a long's price is no stop
    s.long(Some(101.0), None);
    assert!(s.last(Rule::InvalidSignal, Action::Refused).is_some());
    // reward 4 against risk 5 is 0.8 < 1.5
    s.risk.config.min_reward_risk = Some(1.5);
    s.long(Some(95.0), Some(104.0));
    let e = s.last(Rule::MinRewardRisk, Action::Refused).unwrap();
    assert!((e.value - 0.8).abs() < 1e-12);
    assert_eq!(s.qty(), 0.0);
    s.flat(100.0, 1);
    assert_eq!(s.qty(), 0.0);

    // an ATR stop: bars of range 2 around 100 (true range 2) → ATR 2; 3 ATR → stop at 94;
    // 100 USDT at risk over 6 → 16.666… BTC, floored to the 0.001 lot: 16.666
    let mut s = sim(
        RiskConfig {
            default_stop_atr: Some(3.0),
            require_stop: true,
            ..base()
        },
        MarginMode::Isolated,
    );
    for _ in 0..20 {
        s.bar(100.0, 101.0, 99.0, 100.0);
    }
    s.long(None, None);
    let added = s.last(Rule::DefaultStop, Action::StopAdded).unwrap();
    assert_eq!((added.value, added.to), (2.0, 94.0));
    s.flat(100.0, 1);
    assert_eq!(s.qty(), 16.666);
}

#[test]
fn liquidation_buffer_lowers_isolated_leverage() {
    // fixed 1,000 USDT long at 100 with its stop at 92 and a 2 % buffer: the liquidation
    // price must be ≤ 92 − 2 = 90. LP = E(1 − 1/L)/(1 − m) ≤ 90 ⇔ 1/L ≥ 1 − 0.9 × 0.996
    // = 0.1036 ⇔ L ≤ 9.65: asked 20x, sent 9x. At 9x, LP = 100 × (8/9) / 0.996 = 89.245
    let config = RiskConfig {
        sizing: Sizing::FixedNotional,
        fixed_notional: 1_000.0,
        max_leverage: Some(20.0),
        liquidation_buffer: Some(0.02),
        ..RiskConfig::no_rules()
    };
    let mut s = sim(config, MarginMode::Isolated);
    s.flat(100.0, 1);
    s.long(Some(92.0), None);
    let e = s.last(Rule::LiquidationBuffer, Action::Resized).unwrap();
    assert_eq!(
        (e.measure, e.from, e.to, e.limit),
        (Measure::Leverage, 20.0, 9.0, 90.0)
    );
    s.flat(100.0, 1);
    let p = s.venue.account.position(0).unwrap();
    assert_eq!(p.leverage, Decimal::from(9));
    let lp = p.liquidation.unwrap().to_f64().unwrap();
    assert!((lp - 100.0 * (8.0 / 9.0) / 0.996).abs() < 0.01, "{lp}");
}

#[test]
fn liquidation_buffer_cuts_cross_size() {
    // cross margin: a 300,000 USDT long at 100 (tier 2: m = 0.5 %, c = 50) backed by the
    // 10,000 USDT wallet, stop 99, buffer 2 % → LP ≤ 97:
    // q ≤ (B + c) / (E − X(1 − m)) = 10,050 / (100 − 97 × 0.995) = 10,050 / 3.485 = 2,883.787
    let config = RiskConfig {
        sizing: Sizing::FixedNotional,
        fixed_notional: 300_000.0,
        max_leverage: Some(50.0),
        liquidation_buffer: Some(0.02),
        ..RiskConfig::no_rules()
    };
    let mut s = sim(config, MarginMode::Cross);
    s.flat(100.0, 1);
    s.long(Some(99.0), None);
    let e = s.last(Rule::LiquidationBuffer, Action::Resized).unwrap();
    assert_eq!((e.measure, e.from), (Measure::Qty, 3_000.0));
    assert!((e.to - 10_050.0 / 3.485).abs() < 1e-6, "{}", e.to);
    s.flat(100.0, 1);
    assert_eq!(s.qty(), 2_883.787);
    let lp = s.venue.account.position(0).unwrap().liquidation.unwrap();
    assert!(lp.to_f64().unwrap() <= 97.0, "{lp}");
}

#[test]
fn fixed_fraction_and_volatility_target() {
    // the DIY bot: 50 % of equity as margin at 3x → 15,000 notional → 150 BTC at 100
    let mut s = sim(
        RiskConfig {
            sizing: Sizing::FixedFraction,
            fixed_fraction: 0.5,
            max_leverage: Some(3.0),
            ..RiskConfig::no_rules()
        },
        MarginMode::Isolated,
    );
    s.flat(100.0, 1);
    s.long(None, None);
    s.flat(100.0, 1);
    assert_eq!(s.qty(), 150.0);

    // returns alternating ±1 % (closes 100, 101, 99.99, …): r² = 1e-4 per 1h bar, so the
    // daily volatility is √(24 × 1e-4) = 0.04899; 1 % of 10,000 / 0.04899 = 2,041.24 USDT
    let mut s = sim(
        RiskConfig {
            sizing: Sizing::VolatilityTarget,
            volatility_target: 0.01,
            max_leverage: Some(3.0),
            ..RiskConfig::no_rules()
        },
        MarginMode::Isolated,
    );
    let mut price = 100.0;
    s.flat(price, 1);
    for i in 0..100 {
        price *= if i % 2 == 0 { 1.01 } else { 0.99 };
        s.bar(price, price, price, price);
    }
    s.long(None, None);
    let e = s.last(Rule::Signal, Action::Approved).unwrap();
    let notional = e.to * price;
    assert!(
        (notional - 10_000.0 * 0.01 / (24.0f64 * 1e-4).sqrt()).abs() < 0.5,
        "{notional}"
    );
}

#[test]
fn daily_loss_limit_halts_until_the_next_utc_day() {
    let mut s = sim(
        RiskConfig {
            daily_loss_limit: Some(0.05),
            ..base()
        },
        MarginMode::Isolated,
    );
    s.flat(100.0, 1);
    // 100 / 1 = 100 BTC with a stop at 99 (10,000 notional at 3x); a gap to 94 through the
    // stop fills at the open 94: −600 USDT = 6 % of the day's 10,000 → halt
    s.long(Some(99.0), None);
    s.flat(100.0, 1);
    assert_eq!(s.qty(), 100.0);
    s.bar(94.0, 94.0, 94.0, 94.0);
    assert_eq!(s.qty(), 0.0);
    let e = s.last(Rule::DailyLossLimit, Action::Halted).unwrap();
    assert!((e.value - 0.06).abs() < 1e-9, "{}", e.value);
    s.long(Some(90.0), None);
    assert!(s.last(Rule::DailyLossLimit, Action::Refused).is_some());
    // the next UTC day (bar 24 opens at 24:00) lifts it
    while s.time < 24 * HOUR {
        s.flat(94.0, 1);
    }
    s.flat(94.0, 1);
    assert!(s.last(Rule::DailyLossLimit, Action::Resumed).is_some());
    s.long(Some(90.0), None);
    s.flat(94.0, 1);
    assert!(s.qty() > 0.0);
}

#[test]
fn no_breaker_halts_before_1970() {
    // "not halted" is stored as 0: a clock before the epoch (negative ms) must not read it as
    // a halt running until 1970 (the exchange bench's history starts at −1 ms)
    let mut s = sim(
        RiskConfig {
            daily_loss_limit: Some(0.05),
            ..base()
        },
        MarginMode::Isolated,
    );
    s.time = -10 * HOUR;
    s.flat(100.0, 1);
    s.long(Some(99.0), None);
    s.flat(100.0, 1);
    assert!(s.last(Rule::DailyLossLimit, Action::Refused).is_none());
    assert_eq!(s.qty(), 100.0);
}

#[test]
fn drawdown_kill_switch_closes_everything() {
    let mut s = sim(
        RiskConfig {
            max_drawdown: Some(0.2),
            ..base()
        },
        MarginMode::Isolated,
    );
    s.flat(100.0, 1);
    // 100 / 10 = 10 BTC... stop at 10 → 100 / 90 = 1.111 BTC: too small to lose 20 %;
    // fixed notional instead: 30,000 USDT = 300 BTC at 3x (margin 10,000)
    s.risk.config.sizing = Sizing::FixedNotional;
    s.risk.config.fixed_notional = 30_000.0;
    s.long(None, None);
    s.flat(100.0, 1);
    assert_eq!(s.qty(), 300.0);
    // a close at 93: equity 10,000 − 300 × 7 = 7,900, 21 % below the peak → kill
    s.bar(100.0, 100.0, 93.0, 93.0);
    let e = s.last(Rule::MaxDrawdown, Action::Halted).unwrap();
    assert!((e.value - 0.21).abs() < 1e-9);
    assert!(s.last(Rule::MaxDrawdown, Action::Closed).is_some());
    s.flat(93.0, 1);
    assert_eq!(s.qty(), 0.0);
    s.long(None, None);
    assert!(s.last(Rule::MaxDrawdown, Action::Refused).is_some());
}

#[test]
fn losing_streak_pauses_entries() {
    let mut s = sim(
        RiskConfig {
            losing_streak: Some(2),
            losing_streak_cooldown: 5 * HOUR,
            ..base()
        },
        MarginMode::Isolated,
    );
    s.flat(100.0, 1);
    for _ in 0..2 {
        s.long(Some(95.0), None);
        s.flat(100.0, 1);
        s.bar(100.0, 100.0, 94.0, 100.0);
        assert_eq!(s.qty(), 0.0);
    }
    assert_eq!(s.risk.trades().losing_streak, 2);
    assert!(s.last(Rule::LosingStreak, Action::Halted).is_some());
    s.long(Some(95.0), None);
    assert!(s.last(Rule::LosingStreak, Action::Refused).is_some());
    s.flat(100.0, 5);
    assert!(s.last(Rule::LosingStreak, Action::Resumed).is_some());
}

#[test]
fn exchange_refusals_are_recorded() {
    // 50 USDT notional is below BTCUSDT's 100 USDT minimum
    let mut s = sim(
        RiskConfig {
            sizing: Sizing::FixedNotional,
            fixed_notional: 50.0,
            ..RiskConfig::no_rules()
        },
        MarginMode::Isolated,
    );
    s.flat(100.0, 1);
    s.long(None, None);
    let e = s.last(Rule::Exchange, Action::Refused).unwrap();
    assert!(
        e.reason().contains("below the minimum 100 USDT"),
        "{}",
        e.reason()
    );
}

#[test]
fn margin_guard_halts_cuts_and_exits() {
    // cross, 300 BTC long at 100 (30,000 notional, tier 1: maintenance 0.4 %), levels
    // 2 % / 3 % / 5 % of the account margin ratio maintenance / equity
    let config = RiskConfig {
        sizing: Sizing::FixedNotional,
        fixed_notional: 30_000.0,
        margin_halt_at: Some(0.02),
        margin_deleverage_at: Some(0.03),
        margin_exit_at: Some(0.05),
        ..base()
    };
    let mut s = sim(config, MarginMode::Cross);
    s.flat(100.0, 1);
    s.long(None, None);
    s.flat(100.0, 1);
    assert_eq!(s.qty(), 300.0);
    // at 80: equity 10,000 − 300 × 20 = 4,000, maintenance 300 × 80 × 0.004 = 96 → 2.4 %
    s.flat(80.0, 1);
    let e = s.last(Rule::MarginGuard, Action::Halted).unwrap();
    assert!((e.value - 0.024).abs() < 1e-12);
    // at 75: equity 2,500, maintenance 90 → 3.6 %: cut to 300 × 0.02 / 0.036 = 166.667
    s.flat(75.0, 1);
    let e = s.last(Rule::MarginGuard, Action::Reduced).unwrap();
    assert!((e.to - 300.0 * 0.02 / 0.036).abs() < 1e-9);
    s.flat(75.0, 1);
    assert!((s.qty() - 166.667).abs() < 1e-9, "{}", s.qty());
    // at 62: equity 2,500 − 166.667 × 13 = 333.3, maintenance 41.3 → 12.4 %: close all
    s.flat(62.0, 1);
    assert!(s.last(Rule::MarginGuard, Action::Closed).is_some());
    s.flat(62.0, 1);
    assert_eq!(s.qty(), 0.0);
}

#[test]
fn liquidation_probability_guard_at_entry_and_after() {
    // returns alternating ±1 % → daily volatility √(24 × 1e-4) = 4.899 %; over 24 h the
    // guard's safe log-distance at 1 % is σ·Φ⁻¹(0.995) = 0.1262, at entry (half the limit,
    // 0.5 %) σ·Φ⁻¹(0.9975) = 0.04899 × 2.807 = 0.1375
    let config = RiskConfig {
        sizing: Sizing::FixedNotional,
        fixed_notional: 1_000.0,
        max_leverage: Some(20.0),
        liquidation_probability: Some(0.01),
        ..RiskConfig::no_rules()
    };
    let mut s = sim(config, MarginMode::Isolated);
    let mut price = 100.0;
    s.flat(price, 1);
    for i in 0..100 {
        price *= if i % 2 == 0 { 1.01 } else { 0.99 };
        s.bar(price, price, price, price);
    }
    let d_entry = super::liquidation_distance::safe_log_distance(
        Side::Long,
        (24.0f64 * 1e-4).sqrt(),
        1.0,
        0.0,
        0.0,
        0.005,
    );
    assert!((d_entry - 0.04899 * 2.807).abs() < 1e-3, "{d_entry}");
    s.long(None, None);
    // LP ≤ P·e^(−d): 1/L ≥ 1 − e^(−d) × 0.996 → L = floor(1 / (1 − e^(−0.1375) × 0.996))
    let most = 1.0 / (1.0 - (-d_entry).exp() * 0.996);
    let e = s
        .last(Rule::LiquidationProbability, Action::Resized)
        .unwrap();
    assert_eq!((e.from, e.to), (20.0, most.floor()));
    // the event quotes probabilities: the 20x liquidation price's, against the entry's
    // limit of half the guard's
    assert_eq!(e.limit, 0.005);
    assert!(e.value > 0.005 && e.value < 1.0, "{}", e.value);
    s.bar(price, price, price, price);
    assert!(s.qty() > 0.0);
    // a 6 % fall brings the mark within the 1 % distance: an isolated position is closed
    let low = price * 0.94;
    s.bar(price, price, low, low);
    let e = s
        .last(Rule::LiquidationProbability, Action::Closed)
        .unwrap();
    assert!(e.value > 0.01, "{}", e.value);
    s.flat(low, 1);
    assert_eq!(s.qty(), 0.0);
}

#[test]
fn volatility_halt_stops_entries_and_cuts_exposure() {
    let config = RiskConfig {
        sizing: Sizing::FixedNotional,
        fixed_notional: 1_000.0,
        volatility_halt: Some(3.0),
        volatility_window: 3 * HOUR,
        volatility_baseline: 200 * HOUR,
        ..base()
    };
    let mut s = sim(config, MarginMode::Isolated);
    let mut price = 100.0;
    s.flat(price, 1);
    for i in 0..60 {
        price *= if i % 2 == 0 { 1.001 } else { 0.999 };
        s.bar(price, price, price, price);
    }
    s.long(None, None);
    s.bar(price, price, price, price);
    let held = s.qty();
    assert!(held > 0.0);
    // a 3 % bar: short variance (3 bars' span) jumps far above the long-run level
    price *= 1.03;
    s.bar(price, price, price, price);
    let e = s.last(Rule::VolatilityHalt, Action::Halted).unwrap();
    assert!(e.value > 3.0);
    let cut = s.last(Rule::VolatilityHalt, Action::Reduced).unwrap();
    assert!((cut.to - held * 3.0 / e.value).abs() < 1e-9);
    s.long(None, None);
    assert!(s.last(Rule::AlreadyOpen, Action::Refused).is_some());
    s.signal(Intent::Exit);
    s.bar(price, price, price, price);
    s.long(None, None);
    assert!(s.last(Rule::VolatilityHalt, Action::Refused).is_some());
}

/// A month's gentle uptrend, then a crash of six −6 % hours (−31 %), then a flat week.
fn crash_series() -> Vec<(f64, f64, f64, f64)> {
    let mut bars = Vec::new();
    let mut close: f64 = 100.0;
    for t in 0..720 {
        let open = close;
        close = 100.0 * (1.0 + 0.0002 * t as f64) * (1.0 + 0.003 * (t as f64).sin());
        bars.push((
            open,
            open.max(close) * 1.001,
            open.min(close) * 0.999,
            close,
        ));
    }
    for _ in 0..6 {
        let open = close;
        close = open * 0.94;
        bars.push((open, open, close * 0.98, close));
    }
    for _ in 0..168 {
        bars.push((close, close * 1.001, close * 0.999, close));
    }
    bars
}

/// Runs "always long, no stop" behind `config`; (liquidations, max drawdown, sim).
fn always_long(config: RiskConfig) -> (usize, f64, Sim) {
    let mut s = sim(config, MarginMode::Isolated);
    let (mut peak, mut max_dd) = (10_000.0f64, 0.0f64);
    for (o, h, l, c) in crash_series() {
        s.bar(o, h, l, c);
        let equity = s.risk.equity();
        peak = peak.max(equity);
        max_dd = max_dd.max(1.0 - equity / peak);
        if s.venue.account.position(0).is_none() {
            s.long(None, None);
        }
    }
    let liquidations = s
        .venue
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                crate::exchange::venue::EventKind::Liquidation { .. }
            )
        })
        .count();
    (liquidations, max_dd, s)
}

#[test]
fn story_naive_10x_is_liquidated_the_default_risk_layer_survives() {
    // the DIY bot: all equity as margin at 10x, no stop. Its liquidation price sits ~9.6 %
    // below entry; the first −6 % hour and its wick take it
    let naive = RiskConfig {
        sizing: Sizing::FixedFraction,
        fixed_fraction: 1.0,
        max_leverage: Some(10.0),
        ..RiskConfig::no_rules()
    };
    let (liquidations, naive_dd, _) = always_long(naive);
    assert!(liquidations >= 1, "the naive bot should be liquidated");
    assert!(naive_dd > 0.9, "naive drawdown {naive_dd}");

    // the same signals behind the default rules
    let (liquidations, dd, s) = always_long(RiskConfig::default_rules());
    assert_eq!(liquidations, 0);
    // bounded: the month's gain is given back to a stop that does not trail, but the
    // account ends within 1 % of its start and never near the 30 % kill switch
    assert!(dd < 0.15, "drawdown {dd}");
    assert!(s.risk.equity() > 9_900.0, "equity {}", s.risk.equity());
    // and the events say why: every entry got an ATR stop and was sized from it, and the
    // stop took the position out in the crash (a stop-loss fill, not a liquidation)
    let audit = s.risk.audit();
    assert!(audit.count(Rule::DefaultStop, Action::StopAdded) >= 1);
    assert!(audit.count(Rule::Signal, Action::Approved) >= 1);
    let stopped = s.venue.events().iter().any(|e| {
        matches!(
            e.kind,
            crate::exchange::venue::EventKind::Fill {
                reason: crate::exchange::venue::FillReason::StopLoss,
                ..
            }
        ) && e.time >= 720 * HOUR
    });
    assert!(stopped, "the crash should hit the stop");
    // after the crash the volatility halt or a breaker refuses re-entries for a while
    let crash_refusals = audit
        .events()
        .iter()
        .filter(|e| e.time > 720 * HOUR && e.action == Action::Refused)
        .count();
    assert!(crash_refusals >= 1);
}

mod property {
    use super::*;
    use proptest::prelude::*;

    /// A decision as the audit trail keeps it: time, rule, action, the value's bits.
    type Decided = (i64, Rule, Action, u64);

    /// The same `moves` (a bar's return and an action: 0 enters long with `stop(price)`, 1
    /// exits) on two copies after `warm` flat bars at 100; the second forgets its quick
    /// checks before every bar. Returns both audit trails, quick first.
    fn quick_and_full(
        config: RiskConfig,
        mode: MarginMode,
        warm: usize,
        moves: &[(f64, u8)],
        stop: fn(f64) -> Option<f64>,
    ) -> (Vec<Decided>, Vec<Decided>) {
        let mut quick = sim(config.clone(), mode);
        let mut full = sim(config, mode);
        let mut price = 100.0;
        for s in [&mut quick, &mut full] {
            s.flat(price, warm);
        }
        for &(m, action) in moves {
            let close = price * (1.0 + m);
            let (high, low) = (price.max(close) * 1.001, price.min(close) * 0.999);
            quick.bar(price, high, low, close);
            full.risk.forget_quick_checks();
            full.bar(price, high, low, close);
            price = close;
            for s in [&mut quick, &mut full] {
                match action {
                    0 => s.long(stop(price), None),
                    1 => s.signal(Intent::Exit),
                    _ => {}
                }
            }
        }
        let key = |s: &Sim| -> Vec<Decided> {
            let events = s.risk.audit().events().iter();
            events
                .map(|e| (e.time, e.rule, e.action, e.value.to_bits()))
                .collect()
        };
        (key(&quick), key(&full))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The breakers' quick test (equity above the precomputed floors) decides exactly as
        /// the full check on every step: the same halts, kills and resumptions at the same
        /// times with the same figures.
        #[test]
        fn breaker_floors_decide_as_the_full_check(
            moves in proptest::collection::vec((-0.04f64..0.04, 0u8..4), 50..400),
        ) {
            let config = RiskConfig {
                daily_loss_limit: Some(0.03),
                weekly_loss_limit: Some(0.06),
                max_drawdown: Some(0.1),
                drawdown_cooldown: Some(30 * HOUR),
                losing_streak: Some(2),
                losing_streak_cooldown: 5 * HOUR,
                sizing: Sizing::FixedNotional,
                fixed_notional: 20_000.0,
                ..base()
            };
            let stop = |price: f64| Some(price * 0.98);
            let (quick, full) = quick_and_full(config, MarginMode::Isolated, 0, &moves, stop);
            prop_assert_eq!(quick, full);
        }

        /// The margin guard's band and the liquidation trigger's bound decide exactly as the
        /// full checks on every step, in both margin modes: the same halts, cuts and exits at
        /// the same times with the same figures.
        #[test]
        fn guard_quick_checks_decide_as_the_full_checks(
            cross in proptest::bool::ANY,
            leverage in 2.0f64..20.0,
            moves in proptest::collection::vec((-0.03f64..0.03, 0u8..8), 50..300),
        ) {
            let config = RiskConfig {
                margin_halt_at: Some(0.015),
                margin_deleverage_at: Some(0.025),
                margin_exit_at: Some(0.04),
                liquidation_probability: Some(0.01),
                liquidation_horizon: 4 * HOUR,
                volatility_window: 12 * HOUR,
                sizing: Sizing::FixedFraction,
                fixed_fraction: 0.9,
                max_leverage: Some(leverage.floor()),
                ..base()
            };
            let mode = if cross { MarginMode::Cross } else { MarginMode::Isolated };
            let (quick, full) = quick_and_full(config, mode, 30, &moves, |_| None);
            prop_assert_eq!(quick, full);
        }

        /// A trigger remade quietly (its variance recorded, its distance worked out when
        /// read) has, at every step, the distance a full remake gives, to the bit: the
        /// second copy forgets its quick checks (and so its quiet ranges) before every bar.
        #[test]
        fn quiet_trigger_remakes_keep_the_full_distance(
            short in proptest::bool::ANY,
            leverage in 2.0f64..10.0,
            funding in -0.001f64..0.001,
            moves in proptest::collection::vec(-0.015f64..0.015, 50..300),
        ) {
            let config = RiskConfig {
                liquidation_probability: Some(0.01),
                liquidation_horizon: 24 * HOUR,
                volatility_window: 12 * HOUR,
                sizing: Sizing::FixedFraction,
                fixed_fraction: 0.5,
                max_leverage: Some(leverage.floor()),
                ..base()
            };
            let mut quick = sim(config.clone(), MarginMode::Isolated);
            let mut full = sim(config, MarginMode::Isolated);
            let mut price = 100.0;
            for s in [&mut quick, &mut full] {
                s.flat(price, 30);
                let side = if short { Side::Short } else { Side::Long };
                s.signal(Intent::Enter { side, stop: None, take_profit: None });
            }
            let (mut compared, mut step) = (0, 0);
            for m in moves {
                let close = price * (1.0 + m);
                let (high, low) = (price.max(close) * 1.001, price.min(close) * 0.999);
                // a settlement every 8 bars, its rate moving, so the drift moves too
                let rate = (step % 8 == 7).then(|| funding * (1.0 + 0.1 * f64::from(step % 5)));
                step += 1;
                quick.bar_with_funding(price, high, low, close, rate);
                full.risk.forget_quick_checks();
                full.bar_with_funding(price, high, low, close, rate);
                price = close;
                let (q, f) = (quick.risk.trigger_distance(0), full.risk.trigger_distance(0));
                prop_assert_eq!(q.to_bits(), f.to_bits(), "step {}", step);
                compared += usize::from(!q.is_nan());
            }
            prop_assert!(compared > 0 || quick.qty() == 0.0);
        }
    }
}

mod formulas {
    //! The risk layer's `f64` maintenance margin against the exact one, in every tier of
    //! every shipped table (current and dated): tier 1's amount is 0, so a copy that dropped
    //! the amount or took the wrong tier would pass there and fail here.

    use super::super::layer::{Held, tiers_of};
    use crate::exchange::margin;
    use crate::instrument::Instruments;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn maintenance_agrees_with_the_exact_one_in_every_tier(
            table in any::<prop::sample::Index>(),
            tier in any::<prop::sample::Index>(),
            within in 0.0f64..1.0,
            long in any::<bool>(),
        ) {
            let inst = Instruments::binance_usdm();
            let tables: Vec<_> = inst
                .symbols
                .values()
                .chain(inst.default.iter())
                .flat_map(|s| s.bracket_tables().into_iter().map(|t| t.2.to_vec()))
                .collect();
            let tiers = &tables[table.index(tables.len())];
            let t = &tiers[tier.index(tiers.len())];
            let (floor, cap) = (t.floor.to_f64().unwrap(), t.cap.to_f64().unwrap());
            let mark = 3_000.0;
            let qty = (floor + (cap - floor) * within) / mark;
            prop_assume!(qty * mark > 1.0);
            let held = Held {
                sign: if long { 1.0 } else { -1.0 },
                qty,
                entry: mark,
                margin: 0.0,
                liquidation: f64::NAN,
            };
            let f64_form = held.maintenance(mark, &tiers_of(tiers));
            let dec = |x: f64| Decimal::from_f64_retain(x).unwrap();
            let exact = margin::maintenance_margin(tiers, dec(qty), dec(mark)).to_f64().unwrap();
            prop_assert!(
                (f64_form - exact).abs() <= 1e-9 * exact.abs() + 1e-7,
                "risk layer {} exact {} (tier {} of {})", f64_form, exact, tier.index(tiers.len()) + 1, tiers.len()
            );
        }
    }
}
