use super::*;
use crate::exchange::Side;
use crate::exchange::account::Account;
use crate::exchange::fill::{Ohlc, PathOrder, Slippage};
use crate::exchange::orders::Quantity;
use crate::exchange::orders::{Order, OrderKind};
use crate::instrument::Instruments;
use crate::market::Settlement;
use rust_decimal::prelude::ToPrimitive;

pub(super) fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(super) fn bar(open: f64, high: f64, low: f64, close: f64) -> Ohlc {
    Ohlc {
        open,
        high,
        low,
        close,
    }
}

pub(super) fn venue() -> Venue {
    let config = VenueConfig {
        mode: MarginMode::Isolated,
        start_balance: d("10000"),
        slippage: Slippage::None,
        path: PathOrder::AdverseFirst,
        margin_call_ratio: 0.8,
    };
    Venue::new(
        config,
        vec![Instruments::binance_usdm().get("BTCUSDT").unwrap().clone()],
    )
}

pub(super) fn market(side: Side, qty: &str) -> Order {
    Order {
        symbol: 0,
        side,
        qty: Quantity::Base(d(qty)),
        kind: OrderKind::Market,
        reduce_only: false,
        leverage: d("10"),
    }
}

fn close_at(kind: OrderKind) -> Order {
    Order {
        symbol: 0,
        side: Side::Short,
        qty: Quantity::ClosePosition,
        kind,
        reduce_only: true,
        leverage: d("10"),
    }
}

/// A venue holding 1 BTC long from 65,000 at 10x: fee 32.5, margin 6,500, wallet 9,967.5,
/// LP (tier 2) = (6,500 + 50 − 65,000)/(0.005 − 1) = 58,743.72, bankruptcy 58,500.
pub(super) fn long_one_btc() -> Venue {
    let mut v = venue();
    v.accept(market(Side::Long, "1"), 65_000.0).unwrap();
    let flat = bar(65_000.0, 65_100.0, 64_900.0, 65_000.0);
    v.on_bar(0, 0, &flat, &flat, &[]);
    assert_eq!(v.account.wallet(), d("9967.5"));
    v
}

/// (execution, margin lost, insurance cover) of the first liquidation. USDT
fn liquidation(v: &Venue) -> (Decimal, Decimal, Decimal) {
    v.events()
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Liquidation {
                execution,
                loss,
                insurance_cover,
                ..
            } => Some((*execution, *loss, *insurance_cover)),
            _ => None,
        })
        .expect("a liquidation event")
}

pub(super) fn kinds(v: &Venue) -> Vec<&'static str> {
    v.events()
        .iter()
        .map(|e| match e.kind {
            EventKind::Fill { .. } => "fill",
            EventKind::Rejected { .. } => "rejected",
            EventKind::Cancelled { .. } => "cancelled",
            EventKind::Funding { .. } => "funding",
            EventKind::Liquidation { .. } => "liquidation",
            EventKind::MarginCall { .. } => "margin call",
        })
        .collect()
}

#[test]
fn a_stop_between_entry_and_liquidation_fires_first_on_a_falling_bar() {
    let mut v = long_one_btc();
    v.accept(
        close_at(OrderKind::StopMarket { trigger: 60_000.0 }),
        65_000.0,
    )
    .unwrap();
    // 64,000 → 55,000: the stop (60,000) at t = 4,000/9,000 = 0.44 comes before LP (t = 0.58)
    let fall = bar(64_000.0, 64_100.0, 55_000.0, 56_000.0);
    v.on_bar(0, 1, &fall, &fall, &[]);
    assert_eq!(kinds(&v), ["fill", "fill"]);
    // PnL 60,000 − 65,000 = −5,000, fee 60,000 × 0.05 % = 30: 9,967.5 − 5,030 = 4,937.5
    assert_eq!(
        (v.account.wallet(), v.account.position(0)),
        (d("4937.5"), None)
    );
}

#[test]
fn a_stop_below_the_liquidation_price_comes_too_late() {
    let mut v = long_one_btc();
    v.accept(
        close_at(OrderKind::StopMarket { trigger: 58_000.0 }),
        65_000.0,
    )
    .unwrap();
    let fall = bar(64_000.0, 64_100.0, 55_000.0, 56_000.0);
    v.on_bar(0, 1, &fall, &fall, &[]);
    // liquidated at LP (58,743.7 at the tick); the stop is cancelled with the position
    assert_eq!(kinds(&v), ["fill", "liquidation", "cancelled"]);
    assert_eq!(liquidation(&v), (d("58743.7"), d("6500"), d("0")));
    assert_eq!(v.account.wallet(), d("3467.5"));
}

#[test]
fn a_gap_through_bankruptcy_liquidates_at_the_open_and_the_fund_covers_the_rest() {
    let mut v = long_one_btc();
    v.accept(
        close_at(OrderKind::StopMarket { trigger: 60_000.0 }),
        65_000.0,
    )
    .unwrap();
    // opens at 50,000, below the stop, the LP and the bankruptcy price (58,500)
    let gap = bar(50_000.0, 51_000.0, 49_000.0, 50_500.0);
    v.on_bar(0, 1, &gap, &gap, &[]);
    assert_eq!(kinds(&v), ["fill", "liquidation", "cancelled"]);
    // PnL 50,000 − 65,000 = −15,000 against 6,500 of margin: the fund covers 8,500
    assert_eq!(liquidation(&v), (d("50000"), d("6500"), d("8500")));
    assert_eq!(v.account.wallet(), d("3467.5"));
    assert!(v.account.is_conserved());
}

#[test]
fn a_gap_at_the_open_liquidates_before_a_waiting_market_order_trades() {
    // found by the stream property test: a market sell waiting for the next open must not
    // close the long beyond bankruptcy when that open gaps through the LP (58,743.72)
    let mut v = long_one_btc();
    v.accept(market(Side::Short, "2"), 65_000.0).unwrap();
    let gap = bar(50_000.0, 51_000.0, 49_000.0, 50_500.0);
    v.on_bar(0, 1, &gap, &gap, &[]);
    // liquidated at the open; the market order is cancelled with the symbol's orders
    assert_eq!(kinds(&v), ["fill", "liquidation", "cancelled"]);
    assert_eq!(
        (v.account.wallet(), v.account.position(0)),
        (d("3467.5"), None)
    );
}

#[test]
fn finer_bars_replace_the_guessed_path() {
    // 1 BTC long from 65,000 with a take-profit at 70,000 (LP 58,743.72). The hour's OHLC
    // 65,000 / 71,000 / 58,000 / 60,000 walked adverse-first reaches 58,000 first and
    // liquidates; its minutes show the rally came first, so the take-profit fills.
    let hour = bar(65_000.0, 71_000.0, 58_000.0, 60_000.0);
    let minutes = [
        bar(65_000.0, 71_000.0, 64_900.0, 70_500.0),
        bar(70_500.0, 70_600.0, 58_000.0, 60_000.0),
    ];
    let mut guessed = long_one_btc();
    guessed
        .accept(
            close_at(OrderKind::TakeProfitMarket { trigger: 70_000.0 }),
            65_000.0,
        )
        .unwrap();
    let mut detailed = guessed.clone();
    guessed.on_bar(0, 1, &hour, &hour, &[]);
    assert_eq!(kinds(&guessed), ["fill", "liquidation", "cancelled"]);
    detailed.on_bar_detailed(0, 1, 1_800_000, &minutes, &minutes, &[]);
    assert_eq!(kinds(&detailed), ["fill", "fill"]);
    // +5,000 at 70,000, fee 35: 9,967.5 + 4,965 = 14,932.5
    assert_eq!(detailed.account.wallet(), d("14932.5"));
}

#[test]
fn funding_raises_a_held_longs_liquidation_price_over_time() {
    let mut v = long_one_btc();
    let flat = bar(65_000.0, 65_100.0, 64_900.0, 65_000.0);
    let mut lps = vec![v.account.position(0).unwrap().liquidation.unwrap()];
    for t in 1..=3 {
        // each settlement: 1 × 65,000 × 0.01 % = 6.5 out of the margin
        let due = [Settlement {
            time: t,
            rate: 0.0001,
            mark: 65_000.0,
        }];
        v.on_bar(0, t, &flat, &flat, &due);
        lps.push(v.account.position(0).unwrap().liquidation.unwrap());
    }
    assert!(lps.windows(2).all(|w| w[1] > w[0]));
    // margin 6,500 − 3 × 6.5 = 6,480.5: LP = (6,480.5 + 50 − 65,000)/(−0.995) = 58,763.32
    assert_eq!(lps[3].round_dp(2), d("58763.32"));
    assert_eq!(kinds(&v), ["fill", "funding", "funding", "funding"]);
}

#[test]
fn a_bracket_takes_profit_and_cancels_its_stop() {
    let mut v = venue();
    v.submit_bracket(
        market(Side::Long, "1"),
        Some(60_000.0),
        Some(70_000.0),
        65_000.0,
    )
    .unwrap();
    let flat = bar(65_000.0, 65_100.0, 64_900.0, 65_000.0);
    v.on_bar(0, 0, &flat, &flat, &[]); // the entry fills at 65,000 (fee 32.5)
    let rally = bar(65_500.0, 71_000.0, 65_400.0, 70_500.0);
    v.on_bar(0, 1, &rally, &rally, &[]);
    assert_eq!(kinds(&v), ["fill", "fill", "cancelled"]);
    // +5,000 at 70,000, fee 35: 10,000 − 32.5 + 5,000 − 35 = 14,932.5
    assert_eq!(v.account.wallet(), d("14932.5"));
}

#[test]
fn limits_fill_at_the_limit_or_a_better_open_with_the_maker_fee() {
    let mut v = venue();
    let limit = |price| Order {
        kind: OrderKind::Limit { price },
        ..market(Side::Long, "1")
    };
    v.accept(limit(64_000.0), 65_000.0).unwrap();
    v.on_bar(
        0,
        0,
        &bar(65_000.0, 65_200.0, 63_500.0, 64_500.0),
        &bar(65_000.0, 65_200.0, 63_500.0, 64_500.0),
        &[],
    );
    let EventKind::Fill {
        price, fee, reason, ..
    } = &v.events()[0].kind
    else {
        panic!()
    };
    // at the limit, maker fee 64,000 × 0.02 % = 12.8
    assert_eq!(
        (*price, *fee, *reason),
        (d("64000"), d("12.8"), FillReason::Limit)
    );
    let mut v = venue();
    v.accept(limit(66_000.0), 65_000.0).unwrap();
    v.on_bar(
        0,
        0,
        &bar(65_000.0, 65_200.0, 64_800.0, 65_100.0),
        &bar(65_000.0, 65_200.0, 64_800.0, 65_100.0),
        &[],
    );
    let EventKind::Fill { price, .. } = &v.events()[0].kind else {
        panic!()
    };
    assert_eq!(*price, d("65000"));
}

#[test]
fn margin_calls_are_recorded_when_the_ratio_rises_through_the_threshold() {
    let mut v = long_one_btc();
    // The margin-call price is the LP formula on tiers divided by θ = 0.8: tier 2 gives
    // r = 0.005 / 0.8 = 0.00625 and c = 50 / 0.8 = 62.5, so
    // P = (6,500 + 62.5 − 65,000) / (0.00625 − 1) = −58,437.5 / −0.99375 = 58,805.03.
    let call = v.shadow.positions[0].unwrap().margin_call;
    assert!((call - 58_805.031_446).abs() < 1e-3, "{call}");
    // close 58,780 (above LP 58,743.72): MM 58,780 × 0.005 − 50 = 243.9, balance
    // 6,500 − 6,220 = 280: ratio 0.871 ≥ 0.8
    let low = bar(60_000.0, 60_100.0, 58_780.0, 58_780.0);
    v.on_bar(0, 1, &low, &low, &[]);
    v.on_bar(0, 2, &low, &low, &[]); // still above: no second call
    let up = bar(62_000.0, 62_100.0, 61_900.0, 62_000.0);
    v.on_bar(0, 3, &up, &up, &[]); // back below the threshold
    v.on_bar(0, 4, &low, &low, &[]); // through it again: a new call
    assert_eq!(kinds(&v), ["fill", "margin call", "margin call"]);
    let EventKind::MarginCall { ratio } = v.events()[1].kind else {
        panic!()
    };
    assert!((ratio - 243.9 / 280.0).abs() < 1e-9, "{ratio}");
}

mod streams {
    use super::*;
    use proptest::prelude::*;

    /// One step: how the bar moves (bp of the price: open gap, up wick, down wick, close),
    /// what the trader does, and a funding rate (bp) settled at the bar's open.
    type Step = ((i32, u32, u32, i32), (u8, u32, u32), i32);

    fn step() -> impl Strategy<Value = Step> {
        (
            (-300i32..300, 0u32..400, 0u32..400, -300i32..300),
            (0u8..6, 1u32..2000, 1u32..50),
            -30i32..30,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn ledger_holds_and_no_liquidation_is_missed(cross in any::<bool>(), steps in prop::collection::vec(step(), 1..80)) {
            let mut v = venue();
            if cross {
                v.config.mode = MarginMode::Cross;
                v.account = Account::new(d("10000"), MarginMode::Cross, v.instruments.clone());
            }
            let mut price = 50_000.0f64;
            for (t, ((gap, up, down, close), (action, qty_milli, lev), rate)) in steps.into_iter().enumerate() {
                let open = price * (1.0 + f64::from(gap) * 1e-4);
                let close_price = (open * (1.0 + f64::from(close) * 1e-4)).max(1.0);
                let high = open.max(close_price) * (1.0 + f64::from(up) * 1e-4);
                let low = (open.min(close_price) * (1.0 - f64::from(down) * 1e-4)).max(0.5);
                let b = bar(open, high, low, close_price);
                let due = Settlement { time: t as i64, rate: f64::from(rate) * 1e-4, mark: open };
                let funding: &[Settlement] = if rate != 0 && t % 8 == 0 { std::slice::from_ref(&due) } else { &[] };
                v.on_bar(0, t as i64, &b, &b, funding);
                prop_assert!(v.account.is_conserved(), "bar {}: wallet {}", t, v.account.wallet());
                if let Some(p) = v.account.position(0)
                    && let Some(lp) = p.liquidation.and_then(|x| x.to_f64())
                {
                    // it survived this bar: the mark never reached the LP it ended the bar with
                    let reached = if p.side == Side::Long { low <= lp } else { high >= lp };
                    // market fills and funding happen at the open, before the walk; only a fill in the
                    // middle of the bar moves the LP the rest of the bar is checked against
                    let changed = v.events().iter().any(|e| {
                        e.time == t as i64 && matches!(e.kind, EventKind::Fill { reason, .. } if reason != FillReason::Market)
                    });
                    prop_assert!(!reached || changed, "bar {}: {:?} survived with LP {} in [{}, {}]", t, p.side, lp, low, high);
                }
                price = close_price;
                let qty = Quantity::Base(Decimal::new(qty_milli.into(), 3));
                let leverage = Decimal::from(lev);
                let order = |side, kind| Order { symbol: 0, side, qty, kind, reduce_only: false, leverage };
                let _ = match action {
                    0 => v.accept(order(Side::Long, OrderKind::Market), price),
                    1 => v.accept(order(Side::Short, OrderKind::Market), price),
                    2 => v.submit_bracket(order(Side::Long, OrderKind::Market), Some(price * 0.97), Some(price * 1.05), price),
                    3 => v.accept(order(Side::Short, OrderKind::Limit { price: price * 1.01 }), price),
                    4 => v.accept(Order { reduce_only: true, ..order(Side::Short, OrderKind::StopMarket { trigger: price * 0.98 }) }, price),
                    _ => Ok(0),
                };
            }
        }
    }
}

/// The liquidation price of `qty` BTC long from 50,000 at 10x (isolated), under the current
/// table and then after the 2021-03-26 table is put in force. USDT
fn lp_before_and_after_the_2021_table(qty: &str) -> (f64, f64) {
    let btc = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
    let table_2021 = btc.bracket_tables()[0].2.to_vec();
    let config = VenueConfig {
        start_balance: d("1000000"),
        ..venue().config
    };
    let mut v = Venue::new(config, vec![btc]);
    v.accept(market(Side::Long, qty), 50_000.0).unwrap();
    let flat = bar(50_000.0, 50_000.0, 50_000.0, 50_000.0);
    v.on_bar(0, 0, &flat, &flat, &[]);
    let before = v.liquidation_price(0);
    v.set_brackets(0, &table_2021);
    let after = v.liquidation_price(0);
    // the exact account moved with the view
    let exact = v.account.position(0).unwrap().liquidation.unwrap();
    assert!((exact.to_f64().unwrap() - after).abs() < 1e-6);
    (before, after)
}

#[test]
fn a_dated_table_moves_an_open_positions_liquidation_price() {
    // 20 BTC (1,000,000 notional, margin 100,000). Current table, tier 3 (600,000 to
    // 3,000,000: 0.65 %, amount 950) holds the notional at LP:
    //   (100,000 + 950 − 1,000,000) / (20 × 0.0065 − 20) = −899,050 / −19.87 = 45,246.60
    // 2021 table, tier 3 (250,000 to 1,000,000: 1 %, amount 1,300):
    //   (100,000 + 1,300 − 1,000,000) / (20 × 0.01 − 20) = −898,700 / −19.8 = 45,388.89
    let (now, then) = lp_before_and_after_the_2021_table("20");
    assert!((now - 45_246.602_919).abs() < 1e-3, "{now}");
    assert!((then - 45_388.888_889).abs() < 1e-3, "{then}");
    // 80 BTC (4,000,000, margin 400,000): tier 4 in both, 3,000,000 to 12,000,000 at 1 %
    // (amount 11,450) against 1,000,000 to 10,000,000 at 2.5 % (amount 16,300):
    //   (400,000 + 11,450 − 4,000,000) / (0.8 − 80) = 45,309.97
    //   (400,000 + 16,300 − 4,000,000) / (2 − 80) = 45,944.87, 1.40 % higher
    let (now, then) = lp_before_and_after_the_2021_table("80");
    assert!((now - 45_309.974_747).abs() < 1e-3, "{now}");
    assert!((then - 45_944.871_795).abs() < 1e-3, "{then}");
}

mod detailed_streams {
    use super::*;
    use proptest::prelude::*;

    /// One coarse bar as four fine bars (bp moves: open gap, up wick, down wick, close each),
    /// what the trader does after it, and a funding rate (bp) settled inside it.
    type Step = (Vec<(i32, u32, u32, i32)>, (u8, u32, u32), i32);

    fn step() -> impl Strategy<Value = Step> {
        (
            prop::collection::vec((-60i32..60, 0u32..200, 0u32..200, -100i32..100), 4),
            (0u8..5, 1u32..2000, 1u32..50),
            -30i32..30,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn detailed_bars_keep_the_ledger_and_miss_no_liquidation(steps in prop::collection::vec(step(), 1..50)) {
            const FINE: i64 = 900_000;
            let mut v = venue();
            let mut price = 50_000.0f64;
            for (t, (moves, (action, qty_milli, lev), rate)) in steps.into_iter().enumerate() {
                let time = t as i64 * 4 * FINE;
                let mut fine = Vec::with_capacity(4);
                for (gap, up, down, close) in moves {
                    let open = price * (1.0 + f64::from(gap) * 1e-4);
                    let c = (open * (1.0 + f64::from(close) * 1e-4)).max(1.0);
                    let high = open.max(c) * (1.0 + f64::from(up) * 1e-4);
                    let low = (open.min(c) * (1.0 - f64::from(down) * 1e-4)).max(0.5);
                    fine.push(bar(open, high, low, c));
                    price = c;
                }
                let coarse = Ohlc {
                    open: fine[0].open,
                    high: fine.iter().map(|b| b.high).fold(f64::MIN, f64::max),
                    low: fine.iter().map(|b| b.low).fold(f64::MAX, f64::min),
                    close: fine[3].close,
                };
                // a settlement at the third fine bar's open, at its mark
                let due = [Settlement { time: time + 2 * FINE, rate: f64::from(rate) * 1e-4, mark: fine[2].open }];
                let funding: &[Settlement] = if rate != 0 && t % 3 == 0 { &due } else { &[] };
                let before = v.events().len();
                v.on_bar_in_detail(0, time, (&coarse, &coarse), funding, FINE, &fine, &fine);
                prop_assert!(v.account.is_conserved(), "bar {}: wallet {}", t, v.account.wallet());
                // a position that survived saw no fine bar reach its LP after the last event
                // that could move it (a fill or a settlement)
                let last_change = v.events()[before..].iter().rposition(|e| matches!(e.kind, EventKind::Fill { .. } | EventKind::Funding { .. }));
                if last_change.is_none()
                    && let Some(p) = v.account.position(0)
                    && let Some(lp) = p.liquidation.and_then(|x| x.to_f64())
                {
                    let reached = fine.iter().any(|b| if p.side == Side::Long { b.low <= lp } else { b.high >= lp });
                    prop_assert!(!reached, "bar {}: {:?} survived with LP {} reached", t, p.side, lp);
                }
                let qty = Quantity::Base(Decimal::new(qty_milli.into(), 3));
                let leverage = Decimal::from(lev);
                let order = |side, kind| Order { symbol: 0, side, qty, kind, reduce_only: false, leverage };
                let _ = match action {
                    0 => v.accept(order(Side::Long, OrderKind::Market), price),
                    1 => v.accept(order(Side::Short, OrderKind::Market), price),
                    2 => v.submit_bracket(order(Side::Long, OrderKind::Market), Some(price * 0.98), Some(price * 1.03), price),
                    3 => v.accept(Order { reduce_only: true, ..order(Side::Short, OrderKind::StopMarket { trigger: price * 0.99 }) }, price),
                    _ => Ok(0),
                };
            }
        }
    }
}
