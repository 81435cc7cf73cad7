//! The joint walk of cross margin over several symbols: worked examples and a stream test.

use super::super::tests::{bar, d, kinds};
use super::super::{EventKind, Venue, VenueConfig};
use crate::exchange::Side;
use crate::exchange::account::{Cause, MarginMode};
use crate::exchange::fill::{Ohlc, PathOrder, Slippage};
use crate::exchange::orders::{Order, OrderKind, Quantity};
use crate::instrument::Instruments;
use crate::market::Settlement;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

const HOUR: i64 = 3_600_000;

fn two_symbols(mode: MarginMode) -> Venue {
    let config = VenueConfig {
        mode,
        start_balance: d("10000"),
        slippage: Slippage::None,
        path: PathOrder::AdverseFirst,
        margin_call_ratio: 0.8,
    };
    let table = Instruments::binance_usdm();
    let instruments = ["BTCUSDT", "ETHUSDT"].map(|s| table.get(s).unwrap().clone());
    Venue::new(config, instruments.to_vec())
}

fn order(symbol: usize, side: Side, qty: &str, kind: OrderKind, reduce_only: bool) -> Order {
    Order {
        symbol,
        side,
        qty: Quantity::Base(d(qty)),
        kind,
        reduce_only,
        leverage: d("10"),
    }
}

/// One step of both symbols: BTC's bar, then ETH's, then the step's end.
pub(in crate::exchange::venue) fn joint_step(v: &mut Venue, time: i64, btc: Ohlc, eth: Ohlc) {
    v.on_bar(0, time, &btc, &btc, &[]);
    v.on_bar(1, time, &eth, &eth, &[]);
    v.end_step(time);
}

/// Long 1 BTC at 50,000 and 15 ETH at 3,000 at 10x each: 95,000 of notional on 10,000, 9.5x.
/// Fees 50,000 × 0.05 % = 25 and 45,000 × 0.05 % = 22.5: wallet 9,952.5.
pub(in crate::exchange::venue) fn two_longs(mode: MarginMode) -> Venue {
    let mut v = two_symbols(mode);
    v.accept(
        order(0, Side::Long, "1", OrderKind::Market, false),
        50_000.0,
    )
    .unwrap();
    v.accept(
        order(1, Side::Long, "15", OrderKind::Market, false),
        3_000.0,
    )
    .unwrap();
    let (btc, eth) = (
        bar(50_000.0, 50_100.0, 49_900.0, 50_000.0),
        bar(3_000.0, 3_010.0, 2_990.0, 3_000.0),
    );
    if mode == MarginMode::Cross {
        joint_step(&mut v, 0, btc, eth);
    } else {
        v.on_bar(0, 0, &btc, &btc, &[]);
        v.on_bar(1, 0, &eth, &eth, &[]);
    }
    assert_eq!(v.account.wallet(), d("9952.5"));
    v
}

/// The hour both wick −15 %: BTC 50,000 → 42,500 → 49,000, ETH 3,000 → 2,550 → 2,950.
fn joint_wick() -> (Ohlc, Ohlc) {
    (
        bar(50_000.0, 50_000.0, 42_500.0, 49_000.0),
        bar(3_000.0, 3_000.0, 2_550.0, 2_950.0),
    )
}

/// The realised PnL the ledger booked per symbol. USDT
fn realised(v: &Venue) -> Vec<Decimal> {
    v.account.totals_by_symbol(Cause::RealizedPnl)
}

#[test]
fn a_joint_wick_liquidates_two_cross_longs_where_the_account_runs_out() {
    let mut v = two_longs(MarginMode::Cross);
    let (btc, eth) = joint_wick();
    joint_step(&mut v, HOUR, btc, eth);
    // Both marks walk to their lows together, on one clock u ∈ [0, 1]: BTC 50,000 − 7,500u,
    // ETH 3,000 − 450u. Maintenance is tier 1 for both (4 %, amount 0; BTC's notional leaves
    // tier 2 as soon as it falls below 50,000), so the margin balance less maintenance is
    //   9,952.5 − 7,500u − 15 × 450u − 0.004 × (50,000 − 7,500u) − 0.004 × 15 × (3,000 − 450u)
    //   = 9,572.5 − 14,193u,
    // which reaches 0 at u = 9,572.5 / 14,193 = 0.674452: BTC at 44,941.61, ETH at 2,696.50.
    assert_eq!(kinds(&v), ["fill", "fill", "liquidation"]);
    let EventKind::Liquidation {
        execution,
        liquidation_price,
        ..
    } = v.events()[2].kind
    else {
        panic!("a liquidation")
    };
    // recorded on BTC, whose position lost most (5,058.39 against ETH's 4,552.55)
    assert_eq!(v.events()[2].symbol, 0);
    assert_eq!(execution, d("44941.6"));
    assert!(
        (liquidation_price - 44_941.608_539).abs() < 1e-3,
        "{liquidation_price}"
    );
    let pnl = realised(&v);
    // BTC 44,941.6 − 50,000; ETH 15 × (2,696.49651237 − 3,000)
    assert_eq!(pnl[0], d("-5058.4"));
    assert!(
        (pnl[1].to_f64().unwrap() + 4_552.552_3).abs() < 1e-3,
        "{}",
        pnl[1]
    );
    assert!(v.account.position(0).is_none() && v.account.position(1).is_none());
    assert!(v.account.is_conserved());
}

#[test]
fn the_same_wick_liquidates_both_isolated_positions() {
    // isolated, each on its own 10 % margin: BTC's LP (5,000 + 50 − 50,000) / (0.005 − 1)
    // = 45,175.88, ETH's (4,500 − 45,000) / (0.004 − 1) / 15 = 2,710.84; both lows are below
    let mut v = two_longs(MarginMode::Isolated);
    let (btc, eth) = joint_wick();
    v.on_bar(0, HOUR, &btc, &btc, &[]);
    v.on_bar(1, HOUR, &eth, &eth, &[]);
    let liquidations = kinds(&v).iter().filter(|k| **k == "liquidation").count();
    assert_eq!(liquidations, 2);
}

#[test]
fn a_smaller_joint_wick_leaves_the_account_alive_at_the_closes() {
    let mut v = two_longs(MarginMode::Cross);
    // −5 %: 9,572.5 − 14,193 × (1/3) > 0
    let btc = bar(50_000.0, 50_000.0, 47_500.0, 49_000.0);
    let eth = bar(3_000.0, 3_000.0, 2_850.0, 2_950.0);
    joint_step(&mut v, HOUR, btc, eth);
    assert_eq!(kinds(&v), ["fill", "fill"]);
    // equity at the closes: 9,952.5 − 1,000 − 15 × 50 = 8,202.5
    assert!((v.snapshot().equity() - 8_202.5).abs() < 1e-6);
}

#[test]
fn one_cross_position_among_two_symbols_liquidates_at_its_own_price() {
    let mut v = two_symbols(MarginMode::Cross);
    v.accept(
        order(0, Side::Long, "1", OrderKind::Market, false),
        50_000.0,
    )
    .unwrap();
    let flat_eth = bar(3_000.0, 3_010.0, 2_990.0, 3_000.0);
    joint_step(
        &mut v,
        0,
        bar(50_000.0, 50_100.0, 49_900.0, 50_000.0),
        flat_eth,
    );
    // wallet 10,000 − 25 = 9,975 backs the long alone: LP = (9,975 − 50,000) / (0.004 − 1)
    // = 40,185.74 (tier 1 at that notional)
    joint_step(
        &mut v,
        HOUR,
        bar(45_000.0, 45_000.0, 39_000.0, 41_000.0),
        flat_eth,
    );
    assert_eq!(kinds(&v), ["fill", "liquidation"]);
    let EventKind::Liquidation { execution, .. } = v.events()[1].kind else {
        panic!()
    };
    assert_eq!(execution, d("40185.7"));
}

#[test]
fn a_stop_inside_the_joint_wick_fires_first_and_the_rest_still_liquidates() {
    let mut v = two_longs(MarginMode::Cross);
    v.accept(
        order(
            0,
            Side::Short,
            "1",
            OrderKind::StopMarket { trigger: 46_000.0 },
            true,
        ),
        50_000.0,
    )
    .unwrap();
    let (btc, eth) = joint_wick();
    joint_step(&mut v, HOUR, btc, eth);
    // the stop at u = 4,000 / 7,500 = 0.533 comes before the shortfall (0.674): wallet
    // 9,952.5 − 4,000 − fee 23 = 5,929.5. ETH alone: 5,929.5 − 6,750u − 0.06 × (3,000 − 450u)
    // = 5,749.5 − 6,723u, 0 at u = 0.8552, ETH at 2,615.16 — still above its low of 2,550
    assert_eq!(kinds(&v), ["fill", "fill", "fill", "liquidation"]);
    assert_eq!(v.events()[3].symbol, 1);
    let EventKind::Liquidation { execution, .. } = v.events()[3].kind else {
        panic!()
    };
    assert_eq!(execution, d("2615.16"));
}

/// The account's margin balance less maintenance with each position at its bar's adverse
/// extreme, worked out here on its own.
fn adverse_room(v: &Venue, bars: &[Ohlc; 2]) -> f64 {
    let table = Instruments::binance_usdm();
    let mut room = v.account.wallet().to_f64().unwrap();
    for (s, name) in ["BTCUSDT", "ETHUSDT"].iter().enumerate() {
        let Some(p) = v.account.position(s) else {
            continue;
        };
        let (qty, entry) = (p.qty.to_f64().unwrap(), p.entry.to_f64().unwrap());
        let sign = p.side.sign_f64();
        let mark = if sign > 0.0 {
            bars[s].low
        } else {
            bars[s].high
        };
        let spec = table.get(name).unwrap();
        let notional = Decimal::try_from(qty * mark).unwrap();
        let tier = spec.tier(notional).1;
        let maint = qty * mark * tier.maint_margin_rate.to_f64().unwrap()
            - tier.maint_amount.to_f64().unwrap();
        room += sign * qty * (mark - entry) - maint;
    }
    room
}

mod streams {
    use super::*;
    use proptest::prelude::*;

    /// One step: per symbol the bar's move (bp: open gap, up wick, down wick, close) and an
    /// action.
    type Leg = ((i32, u32, u32, i32), (u8, u32));

    fn leg() -> impl Strategy<Value = Leg> {
        (
            (-200i32..200, 0u32..600, 0u32..600, -200i32..200),
            (0u8..5, 1u32..40),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn the_account_is_never_left_below_maintenance_at_its_worst_point(
            steps in prop::collection::vec((leg(), leg()), 1..60)
        ) {
            let mut v = two_symbols(MarginMode::Cross);
            let mut price = [50_000.0f64, 3_000.0];
            for (t, legs) in steps.into_iter().enumerate() {
                let mut bars = [bar(1.0, 1.0, 1.0, 1.0); 2];
                for (s, ((gap, up, down, close), _)) in [legs.0, legs.1].into_iter().enumerate() {
                    let open = price[s] * (1.0 + f64::from(gap) * 1e-4);
                    let c = open * (1.0 + f64::from(close) * 1e-4);
                    let high = open.max(c) * (1.0 + f64::from(up) * 1e-4);
                    let low = open.min(c) * (1.0 - f64::from(down) * 1e-4);
                    bars[s] = bar(open, high, low, c);
                    price[s] = c;
                }
                let before = v.events().len();
                // funding every 8 steps, at the open for BTC and inside the bar for ETH,
                // its sign taken from the step
                let time = t as i64 * HOUR;
                let rate = if t % 16 == 0 { 0.0005 } else { -0.0005 };
                let btc_due = [Settlement { time, rate, mark: bars[0].open }];
                let eth_due = [Settlement { time: time + HOUR / 2, rate, mark: bars[1].close }];
                let (btc_due, eth_due): (&[Settlement], &[Settlement]) = if t % 8 == 0 {
                    (&btc_due, &eth_due)
                } else {
                    (&[], &[])
                };
                v.on_bar(0, time, &bars[0], &bars[0], btc_due);
                v.on_bar(1, time, &bars[1], &bars[1], eth_due);
                v.end_step(time);
                prop_assert!(v.account.is_conserved());
                let quiet = v.events()[before..].iter().all(|e| matches!(e.kind, EventKind::Funding { .. } | EventKind::MarginCall { .. }));
                if quiet && v.open_positions() > 0 {
                    // nothing happened, so the positions held through the step: the account
                    // must have kept margin above maintenance with every position at its
                    // adverse extreme
                    // (the step's ranges are kept until the next gather; read them back)
                    let room = adverse_room(&v, &bars);
                    prop_assert!(room > -1e-6, "step {}: room {} at the adverse extremes", t, room);
                }
                for (s, (_, (action, size))) in [legs.0, legs.1].into_iter().enumerate() {
                    let qty = if s == 0 { f64::from(size) * 0.01 } else { f64::from(size) * 0.2 };
                    let qty = format!("{qty:.3}");
                    let _ = match action {
                        0 => v.accept(order(s, Side::Long, &qty, OrderKind::Market, false), price[s]),
                        1 => v.accept(order(s, Side::Short, &qty, OrderKind::Market, false), price[s]),
                        2 => v.accept(order(s, Side::Short, &qty, OrderKind::StopMarket { trigger: price[s] * 0.97 }, true), price[s]),
                        _ => Ok(0),
                    };
                }
            }
        }
    }
}

#[test]
fn finer_bars_show_the_two_wicks_came_apart_and_the_account_lives() {
    // The hour of `joint_wick` (BTC to 42,500, ETH to 2,550), as two half hours: BTC wicks
    // in the first while ETH holds near 3,000, ETH in the second after BTC came back.
    //   first half:  9,952.5 + (42,500 − 50,000) + 15 × (2,990 − 3,000)
    //                − 0.004 × 42,500 − 0.004 × 15 × 2,990 = 1,953.1 > 0
    //   second half: 9,952.5 + (48,900 − 50,000) + 15 × (2,550 − 3,000)
    //                − 0.004 × 48,900 − 0.004 × 15 × 2,550 = 1,753.9 > 0
    // The coarse bars, walked with both lows together, liquidate (see the first test).
    let mut v = two_longs(MarginMode::Cross);
    let (btc, eth) = joint_wick();
    let btc_fine = [
        bar(50_000.0, 50_000.0, 42_500.0, 49_000.0),
        bar(49_000.0, 49_100.0, 48_900.0, 49_000.0),
    ];
    let eth_fine = [
        bar(3_000.0, 3_000.0, 2_990.0, 3_000.0),
        bar(3_000.0, 3_000.0, 2_550.0, 2_950.0),
    ];
    let half = HOUR / 2;
    v.on_bar_in_detail(0, HOUR, (&btc, &btc), &[], half, &btc_fine, &btc_fine);
    v.on_bar_in_detail(1, HOUR, (&eth, &eth), &[], half, &eth_fine, &eth_fine);
    v.end_step(HOUR);
    assert!(!kinds(&v).contains(&"liquidation"), "{:?}", kinds(&v));
    // equity at the closes: 9,952.5 − 1,000 − 15 × 50 = 8,202.5
    assert!((v.snapshot().equity() - 8_202.5).abs() < 1e-6);
    // a second half that takes BTC back down with ETH does liquidate, inside it
    let mut v = two_longs(MarginMode::Cross);
    let btc_fine = [btc_fine[0], bar(49_000.0, 49_100.0, 42_500.0, 49_000.0)];
    v.on_bar_in_detail(0, HOUR, (&btc, &btc), &[], half, &btc_fine, &btc_fine);
    v.on_bar_in_detail(1, HOUR, (&eth, &eth), &[], half, &eth_fine, &eth_fine);
    v.end_step(HOUR);
    assert_eq!(kinds(&v), ["fill", "fill", "liquidation"]);
}
