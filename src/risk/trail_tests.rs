//! The audit trail reads right: each kind of decision says what happened, with the numbers
//! in the units its sentence names.

use super::audit::{Action, Rule};
use super::config::{RiskConfig, Sizing};
use super::tests::sim;
use crate::exchange::Side;
use crate::exchange::account::MarginMode;
use crate::strategy::Intent;

fn fixed(notional: f64) -> RiskConfig {
    RiskConfig {
        sizing: Sizing::FixedNotional,
        fixed_notional: notional,
        max_leverage: Some(2.0),
        ..RiskConfig::no_rules()
    }
}

#[test]
fn a_flips_closing_leg_is_a_close_and_its_new_leg_the_approval() {
    let mut s = sim(fixed(1_000.0), MarginMode::Isolated);
    s.flat(100.0, 1);
    s.long(None, None);
    s.flat(100.0, 1);
    assert_eq!(s.qty(), 10.0);
    s.signal(Intent::Enter {
        side: Side::Short,
        stop: None,
        take_profit: None,
    });
    let events = s.risk.audit().events();
    let (close, open) = (&events[events.len() - 2], &events[events.len() - 1]);
    assert_eq!((close.action, close.rule), (Action::Closed, Rule::Flip));
    assert_eq!((close.from, close.to), (10.0, 0.0));
    assert_eq!(
        close.reason(),
        "flip: the position against the new side closes first; quantity 10 → 0"
    );
    assert_eq!((open.action, open.rule), (Action::Approved, Rule::Signal));
    assert_eq!(open.to, 10.0, "the new leg is 1,000 USDT at 100");
}

#[test]
fn a_daily_loss_refusal_says_the_halt_lasts_the_day() {
    // 20,000 long at 100 with a 5 % daily limit: a close at 97 loses 600 (6 %) and halts;
    // at 98.5 the day's loss is 3 %, under the limit, and the halt still stands
    let config = RiskConfig {
        daily_loss_limit: Some(0.05),
        max_leverage: Some(3.0),
        ..fixed(20_000.0)
    };
    let mut s = sim(config, MarginMode::Isolated);
    s.flat(100.0, 1);
    s.long(None, None);
    s.flat(100.0, 1);
    s.flat(97.0, 1);
    assert!(s.last(Rule::DailyLossLimit, Action::Halted).is_some());
    s.signal(Intent::Exit);
    s.flat(98.5, 1);
    s.long(None, None);
    let e = s.last(Rule::DailyLossLimit, Action::Refused).unwrap();
    assert!((e.value - 0.03).abs() < 1e-9, "{}", e.value);
    assert!(
        e.reason()
            .contains("entries halt for the rest of the UTC day: today's loss reached the limit 0.05 (now 0.03)"),
        "{}",
        e.reason()
    );
}

#[test]
fn kelly_says_when_it_takes_over_and_when_it_refuses_for_good() {
    // risk-per-trade sizing until 3 trades are closed: one wins 1 %, two lose 2 %, so
    // p = 1/3, b = 0.01 / 0.02 = 0.5 and the Kelly fraction p − (1 − p) / b = −1 ≤ 0:
    // every entry is refused from then on — the trail says both
    let config = RiskConfig {
        sizing: Sizing::Kelly,
        kelly_min_trades: 3,
        risk_per_trade: 0.01,
        max_leverage: Some(3.0),
        ..RiskConfig::no_rules()
    };
    let mut s = sim(config, MarginMode::Isolated);
    let mut price = 100.0;
    s.flat(price, 1);
    for change in [1.01, 0.98, 0.98] {
        s.long(Some(price * 0.95), None);
        s.flat(price, 1);
        price *= change;
        s.flat(price, 1);
        s.signal(Intent::Exit);
        s.flat(price, 1);
    }
    s.long(Some(price * 0.95), None);
    let switched = s.last(Rule::Sizing, Action::Switched).unwrap();
    assert_eq!(switched.value, 3.0);
    assert!(
        switched.reason().contains("Kelly sizing takes over"),
        "{}",
        switched.reason()
    );
    let refused = s.last(Rule::Sizing, Action::Refused).unwrap();
    // (the lot step moves each return by a hair)
    assert!((refused.value + 1.0).abs() < 1e-3, "{}", refused.value);
    assert!(
        refused.reason().contains("every entry is refused"),
        "{}",
        refused.reason()
    );
}
