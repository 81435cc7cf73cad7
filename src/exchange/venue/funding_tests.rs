//! Funding settlements inside and at the edges of bars: worked examples, and the same
//! position paying the same funding at every bar length.

use super::super::tests::{bar, d, kinds, long_one_btc, market, venue};
use super::*;
use crate::exchange::Side;
use crate::exchange::fill::Ohlc;
use crate::exchange::orders::{Order, OrderKind, Quantity};
use rust_decimal::Decimal;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn due(time: i64, rate: f64, mark: f64) -> Settlement {
    Settlement { time, rate, mark }
}

fn funding_events(v: &Venue) -> Vec<(i64, Decimal)> {
    v.events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Funding { paid, .. } => Some((e.time, paid)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_position_filled_at_a_funding_time_pays_that_settlement() {
    let mut v = venue();
    v.accept(market(Side::Long, "1"), 65_000.0).unwrap();
    let flat = bar(65_000.0, 65_100.0, 64_900.0, 65_000.0);
    v.on_bar(0, 0, &flat, &flat, &[due(0, 0.0001, 65_000.0)]);
    assert_eq!(kinds(&v), ["fill", "funding"]);
    // fee 65,000 × 0.05 % = 32.5; funding 1 × 65,000 × 0.01 % = 6.5
    assert_eq!(funding_events(&v), [(0, d("6.5"))]);
    assert_eq!(v.account.wallet(), d("9961"));
}

#[test]
fn a_position_closed_at_a_funding_time_does_not_pay_it() {
    let mut v = long_one_btc();
    v.accept(
        Order {
            reduce_only: true,
            ..market(Side::Short, "1")
        },
        65_000.0,
    )
    .unwrap();
    let flat = bar(65_000.0, 65_100.0, 64_900.0, 65_000.0);
    v.on_bar(
        0,
        8 * HOUR,
        &flat,
        &flat,
        &[due(8 * HOUR, 0.0001, 65_000.0)],
    );
    assert_eq!(kinds(&v), ["fill", "fill"]);
}

/// [`long_one_btc`] with a stop-loss at 60,000 closing the whole position.
fn long_with_a_stop_at_60k() -> Venue {
    let mut v = long_one_btc();
    v.accept(
        Order {
            symbol: 0,
            side: Side::Short,
            qty: Quantity::ClosePosition,
            kind: OrderKind::StopMarket { trigger: 60_000.0 },
            reduce_only: true,
            leverage: d("10"),
        },
        65_000.0,
    )
    .unwrap();
    v
}

/// A day bar opening at `DAY` holding settlements at 00:00, 08:00 and 16:00: the long pays
/// the first two and receives the third.
fn day_settlements() -> [Settlement; 3] {
    [
        due(DAY, 0.0001, 65_000.0),
        due(DAY + 8 * HOUR, 0.0002, 66_000.0),
        due(DAY + 16 * HOUR, -0.0001, 64_000.0),
    ]
}

#[test]
fn a_day_bar_books_every_settlement_at_its_own_time_and_mark() {
    let mut v = long_one_btc();
    let day = bar(65_000.0, 66_500.0, 63_800.0, 64_500.0);
    v.on_bar(0, DAY, &day, &day, &day_settlements());
    // 1 × 65,000 × 0.0001 = 6.5; 1 × 66,000 × 0.0002 = 13.2; 1 × 64,000 × −0.0001 = −6.4
    assert_eq!(
        funding_events(&v),
        [
            (DAY, d("6.5")),
            (DAY + 8 * HOUR, d("13.2")),
            (DAY + 16 * HOUR, d("-6.4"))
        ]
    );
    // isolated margin 6,500 − 6.5 − 13.2 + 6.4 = 6,486.7; wallet 9,967.5 − 13.3 = 9,954.2
    let p = v.account.position(0).unwrap();
    assert_eq!((p.margin, v.account.wallet()), (d("6486.7"), d("9954.2")));
}

#[test]
fn an_exit_inside_a_bar_pays_what_costs_and_forfeits_what_it_would_receive() {
    let mut v = long_with_a_stop_at_60k();
    // the day falls to 59,000: the stop at 60,000 fills somewhere inside it, and the bar
    // cannot tell whether before or after 08:00 and 16:00
    let day = bar(65_000.0, 65_200.0, 59_000.0, 59_500.0);
    v.on_bar(0, DAY, &day, &day, &day_settlements());
    // the 00:00 payment is exact, the 08:00 one is charged (it costs), the 16:00 receipt
    // is forfeited
    assert_eq!(
        funding_events(&v),
        [(DAY, d("6.5")), (DAY + 8 * HOUR, d("13.2"))]
    );
    // 9,967.5 − 6.5 − 13.2 + (60,000 − 65,000) − fee 60,000 × 0.05 % = 4,917.8
    assert_eq!(v.account.wallet(), d("4917.8"));
    assert!(v.account.position(0).is_none());
}

#[test]
fn finer_bars_place_the_settlements_between_exits() {
    // the same day walked in three 8 h bars: the stop fills in the second (08:00–16:00),
    // after the 08:00 settlement and before the 16:00 one
    let mut v = long_with_a_stop_at_60k();
    let thirds: [Ohlc; 3] = [
        bar(65_000.0, 65_200.0, 64_000.0, 65_900.0),
        bar(66_000.0, 66_100.0, 59_000.0, 59_500.0),
        bar(59_500.0, 64_100.0, 59_400.0, 64_000.0),
    ];
    v.on_bar_detailed(0, DAY, 8 * HOUR, &thirds, &thirds, &day_settlements());
    assert_eq!(
        funding_events(&v),
        [(DAY, d("6.5")), (DAY + 8 * HOUR, d("13.2"))]
    );
    assert_eq!(kinds(&v), ["fill", "funding", "funding", "fill"]);
}

mod every_bar_length {
    use super::*;
    use proptest::prelude::*;

    /// Funding paid by 0.1 BTC long at 1x, opened at day `from`'s open and closed at day
    /// `to`'s, over minute bars aggregated to bars of `minutes`.
    fn paid(minutes: usize, closes: &[f64], rates: &[f64], from: usize, to: usize) -> Decimal {
        let mut v = venue();
        let order = |side, reduce_only| Order {
            symbol: 0,
            side,
            qty: Quantity::Base(d("0.1")),
            kind: OrderKind::Market,
            reduce_only,
            leverage: d("1"),
        };
        let minute = |i: usize| {
            let open = if i == 0 { closes[0] } else { closes[i - 1] };
            let c = closes[i];
            bar(open, open.max(c) * 1.0005, open.min(c) * 0.9995, c)
        };
        for start in (0..closes.len()).step_by(minutes) {
            let time = start as i64 * 60_000;
            if time == from as i64 * DAY {
                v.accept(order(Side::Long, false), closes[start]).unwrap();
            }
            if time == to as i64 * DAY {
                v.accept(order(Side::Short, true), closes[start]).unwrap();
            }
            let span = start..start + minutes;
            let b = span.clone().map(minute).reduce(|a, b| Ohlc {
                open: a.open,
                high: a.high.max(b.high),
                low: a.low.min(b.low),
                close: b.close,
            });
            let b = b.unwrap();
            // settlements every 8 h, at the mark (here the last price) of their own minute
            let due: Vec<Settlement> = span
                .filter(|m| m % 480 == 0)
                .map(|m| due(m as i64 * 60_000, rates[m / 480], minute(m).open))
                .collect();
            v.on_bar(0, time, &b, &b, &due);
        }
        funding_events(&v).iter().map(|(_, p)| *p).sum()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn the_same_position_pays_the_same_funding_at_every_bar_length(
            days in 2usize..5,
            moves in prop::collection::vec(-20i32..21, 4 * 1440),
            rates in prop::collection::vec(-30i32..31, 15),
            span in (0usize..4, 1usize..5),
        ) {
            let from = span.0 % (days - 1);
            let to = (from + span.1).min(days);
            let mut closes = Vec::with_capacity(days * 1440);
            let mut price = 50_000.0;
            for m in &moves[..days * 1440] {
                price *= 1.0 + f64::from(*m) * 1e-4;
                closes.push(price);
            }
            let rates: Vec<f64> = rates.iter().map(|r| f64::from(*r) * 1e-5).collect();
            let at_1m = paid(1, &closes, &rates, from, to);
            for minutes in [60, 240, 480, 1440] {
                let at = paid(minutes, &closes, &rates, from, to);
                let gap = (at - at_1m).abs();
                prop_assert!(
                    gap <= at_1m.abs() * d("0.000001"),
                    "{} min bars paid {}, 1 min bars {}", minutes, at, at_1m
                );
            }
        }
    }
}
