//! The risk layer on a shipped spec, read back from what the run recorded.

use std::collections::BTreeMap;

use perpsim::exchange::venue::EventKind;
use perpsim::risk::audit::Source;
use perpsim::risk::{Action, Rule};
use perpsim::{outcome, spec};
use rust_decimal::prelude::ToPrimitive;

use crate::repo;

#[test]
fn the_guides_portfolio_caps_hold_when_both_symbols_enter_together() {
    // strategies/guide_portfolio.toml: BTC + ETH, 15 % of equity as margin at 3x per entry
    // (0.45x notional), a 0.6x cap on gross exposure. After the fills of every step that
    // approved an entry, the account holds at most 0.6x equity, valued at the approval
    // prices (the closes the orders were sized on); the fills' 2 bps slippage and the
    // fees are inside the 0.1 % tolerance.
    let spec = spec::read(&repo().join("strategies/guide_portfolio.toml")).unwrap();
    let market = spec.load_market().unwrap();
    let run = outcome::run(&spec, &market, true);
    let engine = &run.engine;
    let audit = engine.risk.audit();
    let entries: BTreeMap<i64, usize> = audit
        .events()
        .iter()
        .filter(|e| {
            e.action == Action::Approved
                && e.rule == Rule::Signal
                && matches!(e.source, Source::EnterLong | Source::EnterShort)
        })
        .fold(BTreeMap::new(), |mut m, e| {
            *m.entry(e.time).or_default() += 1;
            m
        });
    let shared = entries.values().filter(|&&n| n == 2).count();
    assert!(shared >= 5, "only {shared} steps entered both symbols");
    // the second entry of a shared step was cut by the total-exposure cap at least once
    assert!(audit.count(Rule::MaxTotalExposure, Action::Resized) >= 5);
    let close_at = |s: usize, t: i64| {
        let h = &market.symbols[s];
        let i = h.candles.open_time.partition_point(|&o| o < t) - 1;
        h.candles.close[i]
    };
    let step_of = |t: i64| engine.curve.time.partition_point(|&o| o < t) - 1;
    let mut qty = [0.0f64; 2];
    let mut checked = 0;
    let mut events = engine.venue.events().iter().peekable();
    for &t in entries.keys() {
        // every fill up to the open at t (the orders approved at close t fill there)
        while let Some(e) = events.next_if(|e| e.time <= t) {
            match &e.kind {
                EventKind::Fill { side, qty: q, .. } => {
                    qty[e.symbol] += side.sign_f64() * q.to_f64().unwrap()
                }
                EventKind::Liquidation { .. } => qty[e.symbol] = 0.0,
                _ => {}
            }
        }
        let gross: f64 = (0..2).map(|s| qty[s].abs() * close_at(s, t)).sum();
        let equity = engine.curve.equity[step_of(t)];
        assert!(
            gross <= 0.6 * equity * 1.001,
            "at {t}: gross {gross} over 0.6 × {equity}"
        );
        checked += 1;
    }
    assert!(checked >= 50, "{checked}");
}
