//! The risk layer's cost (issue: ≤ 200 ns per signal, ≤ 10 ns per bar without a signal).
//!
//! Regimes, one symbol, default rules, one thread:
//! - `bar/flat` and `bar/held`: `observe` + `on_step` for a 1h bar with no signal, without
//!   and with an open position (breakers, margin guard, liquidation-probability trigger,
//!   volatility halt, covariance), on a stress wiggle (±0.4 % every few bars, so the
//!   short-span variance moves by more than 2 % on about half the bars and the trigger's
//!   distance is re-solved that often);
//! - `bar/held_synth_1m`: the held bar on 4,096 1m bars of perpsim's synthetic BTC market,
//!   replayed in a loop (the variance spans are 60 times longer in bars than at 1h, so the
//!   trigger is rarely remade, and a day boundary comes every 1,440 bars); a breaker or guard
//!   acts on a few bars in 100,000, as it would in a backtest, and is timed with them;
//! - `signal/decide`: a full entry decision — stop, sizing, bracket, liquidation distance,
//!   four caps — that ends in an exchange refusal, so the venue books nothing and the
//!   decision can repeat; it includes converting the quantity to `Decimal` and the venue's
//!   order preparation (rounding, minimum notional).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use perpsim::data::synth::{self, SynthConfig};
use perpsim::exchange::Side;
use perpsim::exchange::account::MarginMode;
use perpsim::exchange::fill::{Ohlc, PathOrder, Slippage};
use perpsim::exchange::venue::{Venue, VenueConfig};
use perpsim::instrument::Instruments;
use perpsim::market::Timeframe;
use perpsim::risk::RiskLayer;
use perpsim::risk::config::RiskConfig;
use perpsim::strategy::{Intent, Signal};
use rust_decimal::Decimal;

const HOUR: i64 = 3_600_000;

/// 4,096 bars of the synthetic BTC market at `timeframe`.
fn synthetic(timeframe: Timeframe) -> Vec<Ohlc> {
    let config = SynthConfig {
        days: (4096 * timeframe.ms() / (24 * HOUR)) as u32 + 2,
        timeframe,
        ..SynthConfig::default()
    };
    let h = synth::generate(&config).unwrap().series[0].history("BTCUSDT", timeframe);
    let c = &h.candles;
    (0..4096)
        .map(|i| Ohlc {
            open: c.open[i],
            high: c.high[i],
            low: c.low[i],
            close: c.close[i],
        })
        .collect()
}

fn setup(config: RiskConfig) -> (Venue, RiskLayer, Vec<Ohlc>) {
    setup_on(config, HOUR, None)
}

/// The venue and risk layer at `timeframe` (ms), on `bars` or the stress wiggle.
fn setup_on(
    config: RiskConfig,
    timeframe: i64,
    bars: Option<Vec<Ohlc>>,
) -> (Venue, RiskLayer, Vec<Ohlc>) {
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
    let risk = RiskLayer::new(config, &[spec], timeframe, 10_000.0).unwrap();
    if let Some(bars) = bars {
        return (venue, risk, bars);
    }
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
    warm_at(venue, risk, bars, HOUR)
}

/// 300 bars of `timeframe` (ms) with no position, or at 1m the 3 days the default
/// volatility window needs before the portfolio-volatility cap lets an entry through
/// (cycling over `bars`); returns the next open time.
fn warm_at(venue: &mut Venue, risk: &mut RiskLayer, bars: &[Ohlc], timeframe: i64) -> i64 {
    let mut time = 0;
    let n = if timeframe < HOUR { 4_400 } else { 300 };
    for i in 0..n {
        let b = &bars[i % bars.len()];
        venue.on_bar(0, time, b, b, &[]);
        risk.observe(0, b, b.close, None);
        time += timeframe;
        risk.on_step(time, venue);
    }
    time
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("risk");
    let regimes = [
        ("bar/flat", false, HOUR, None),
        ("bar/held", true, HOUR, None),
        ("bar/held_synth_1m", true, 60_000, Some(Timeframe::MINUTE)),
    ];
    for (name, held, timeframe, market) in regimes {
        let (mut venue, mut risk, bars) = setup_on(
            RiskConfig::default_rules(),
            timeframe,
            market.map(synthetic),
        );
        let mut time = warm_at(&mut venue, &mut risk, &bars, timeframe);
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
            venue.on_bar(0, time, &b, &b, &[]);
            time += timeframe;
            risk.on_step(time, &mut venue);
            assert!(venue.account.position(0).is_some());
        }
        let mut i = 0;
        let decided = risk.audit().events().len();
        group.bench_function(name, |b| {
            b.iter(|| {
                let bar = &bars[i & 4095];
                i += 1;
                risk.observe(0, black_box(bar), bar.close, None);
                time += timeframe;
                risk.on_step(black_box(time), &mut venue);
            })
        });
        // quiet bars were timed: no breaker or guard acted on its own on the stress wiggle,
        // and on at most 1 bar in 1,000 of the synthetic market
        let acted = risk.audit().events().len() - decided;
        assert!(
            acted == 0 || (market.is_some() && acted * 1_000 <= i),
            "{name}: {acted} actions in {i} bars"
        );
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
