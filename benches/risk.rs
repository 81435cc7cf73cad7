//! The risk layer's cost (issue: ≤ 200 ns per signal, ≤ 10 ns per bar without a signal).
//!
//! Regimes, one symbol, 1h bars, default rules, one thread:
//! - `bar/flat` and `bar/held`: `observe` + `on_step` for a bar with no signal, without and
//!   with an open position (breakers, margin guard, liquidation-probability trigger,
//!   volatility halt, covariance);
//! - `signal/decide`: a full entry decision — stop, sizing, bracket, liquidation distance,
//!   four caps — that ends in an exchange refusal, so the venue books nothing and the
//!   decision can repeat; it includes converting the quantity to `Decimal` and the venue's
//!   order preparation (rounding, minimum notional).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use perpsim::exchange::Side;
use perpsim::exchange::account::MarginMode;
use perpsim::exchange::fill::{Ohlc, PathOrder, Slippage};
use perpsim::exchange::venue::{Venue, VenueConfig};
use perpsim::instrument::Instruments;
use perpsim::risk::RiskLayer;
use perpsim::risk::config::RiskConfig;
use perpsim::strategy::{Intent, Signal};
use rust_decimal::Decimal;

const HOUR: i64 = 3_600_000;

fn setup(config: RiskConfig) -> (Venue, RiskLayer, Vec<Ohlc>) {
    let spec = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
    let venue = Venue::new(
        VenueConfig {
            mode: MarginMode::Isolated,
            start_balance: Decimal::from(10_000),
            slippage: Slippage::None,
            path: PathOrder::AdverseFirst,
            margin_call_ratio: 0.8,
        },
        vec![spec.clone()],
    );
    let risk = RiskLayer::new(config, &[spec], HOUR, 10_000.0).unwrap();
    // a deterministic wiggle around 60,000
    let bars = (0..4096)
        .map(|i| {
            let c = 60_000.0 * (1.0 + 0.004 * (i as f64 * 0.7).sin());
            Ohlc {
                open: c,
                high: c * 1.002,
                low: c * 0.998,
                close: c,
            }
        })
        .collect();
    (venue, risk, bars)
}

fn warm(venue: &mut Venue, risk: &mut RiskLayer, bars: &[Ohlc]) -> i64 {
    let mut time = 0;
    for b in &bars[..300] {
        venue.on_bar(0, time, b, b, None);
        risk.observe(0, b, b.close, None);
        time += HOUR;
        risk.on_step(time, venue);
    }
    time
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("risk");
    for held in [false, true] {
        let (mut venue, mut risk, bars) = setup(RiskConfig::default_rules());
        let mut time = warm(&mut venue, &mut risk, &bars);
        if held {
            let enter = Intent::Enter {
                side: Side::Long,
                stop: None,
                take_profit: None,
            };
            risk.on_signal(
                time,
                Signal {
                    symbol: 0,
                    intent: enter,
                },
                &mut venue,
            );
            let b = bars[300];
            venue.on_bar(0, time, &b, &b, None);
            time += HOUR;
            risk.on_step(time, &mut venue);
            assert!(venue.account.position(0).is_some());
        }
        let name = if held { "bar/held" } else { "bar/flat" };
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                let bar = &bars[i & 4095];
                i += 1;
                risk.observe(0, black_box(bar), bar.close, None);
                time += HOUR;
                risk.on_step(black_box(time), &mut venue);
            })
        });
    }
    // a full decision that the exchange refuses at the end (a notional below its minimum)
    let config = RiskConfig {
        risk_per_trade: 0.000_01,
        ..RiskConfig::default_rules()
    };
    let (mut venue, mut risk, bars) = setup(config);
    let time = warm(&mut venue, &mut risk, &bars);
    let enter = Signal {
        symbol: 0,
        intent: Intent::Enter {
            side: Side::Long,
            stop: Some(59_000.0),
            take_profit: None,
        },
    };
    // once to fill the cache of the liquidation distance (a bisection, redone only when the
    // volatility moves by 10 %); then each run of up to 1,000 decisions works on its own copy
    // (made outside the timing), so that refusals do not pile up in one audit trail, while
    // the decisions themselves run on warm state as in a backtest
    risk.on_signal(time, enter, &mut venue);
    group.bench_function("signal/decide", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(1_000);
                left -= n;
                let (mut risk, mut venue) = (risk.clone(), venue.clone());
                #[allow(clippy::disallowed_methods)] // a bench times itself
                let start = std::time::Instant::now();
                for _ in 0..n {
                    risk.on_signal(black_box(time), black_box(enter), &mut venue);
                }
                total += start.elapsed();
            }
            total
        })
    });
    assert_eq!(
        risk.audit().events().len(),
        1,
        "the bench decides on copies"
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
