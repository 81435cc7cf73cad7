//! The exchange's per-bar work for one open position with a resting stop-loss and take-profit
//! (issue: ≤ 20 ns per bar per symbol on one core, no allocation per bar): every bar through
//! `Venue::on_bar` (funding, market orders, the path's levels, the margin-call check).
//!
//! Regime: 500,000 synthetic 1m bars of one symbol (last and mark candles), one thread; the
//! position's exits sit far enough away that it stays open (the steady state of a held
//! position).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perpsim::data::synth::{self, SynthConfig};
use perpsim::exchange::Side;
use perpsim::exchange::account::MarginMode;
use perpsim::exchange::fill::Slippage;
use perpsim::exchange::fill::{Ohlc, PathOrder};
use perpsim::exchange::venue::{Venue, VenueConfig};
use perpsim::instrument::Instruments;
use perpsim::market::Timeframe;
use perpsim::risk::RiskLayer;
use perpsim::risk::config::{RiskConfig, Sizing};
use perpsim::strategy::{Intent, Signal};
use rust_decimal::Decimal;

const BARS: usize = 500_000;

fn bars() -> (Vec<Ohlc>, Vec<Ohlc>) {
    let config = SynthConfig {
        days: (BARS / 1440 + 1) as u32,
        timeframe: Timeframe::MINUTE,
        symbols: vec![synth::SynthSymbol::parse("BTCUSDT:42000").unwrap()],
        ..SynthConfig::default()
    };
    let market = synth::generate(&config).unwrap();
    let s = &market.series[0];
    let to_ohlc = |b: &[f64; 4]| Ohlc {
        open: b[0],
        high: b[1],
        low: b[2],
        close: b[3],
    };
    (
        s.last.iter().take(BARS).map(to_ohlc).collect(),
        s.mark.iter().take(BARS).map(to_ohlc).collect(),
    )
}

fn bench(c: &mut Criterion) {
    let (last, mark) = bars();
    let mut group = c.benchmark_group("exchange_per_bar");
    group.throughput(Throughput::Elements(last.len() as u64));
    // The whole venue: one long with a resting stop-loss and take-profit far from the price,
    // every bar through `Venue::on_bar` (funding, market orders, path, margin-call check).
    let venue = held_position(last[0].open);
    group.bench_function("venue_on_bar_held_position", |b| {
        b.iter_batched(
            || venue.clone(),
            |mut v| {
                for (i, (l, m)) in last.iter().zip(&mark).enumerate() {
                    v.on_bar(0, i as i64, l, m, &[]);
                }
                v
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn held_position(price: f64) -> Venue {
    let config = VenueConfig {
        mode: MarginMode::Isolated,
        start_balance: Decimal::from(100_000),
        slippage: Slippage::FixedBps { bps: 2.0 },
        path: PathOrder::AdverseFirst,
        margin_call_ratio: 0.8,
    };
    let spec = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
    let mut v = Venue::new(config, vec![spec]);
    // the venue takes only approved orders: a risk layer with every rule off sends this one
    let rules = RiskConfig {
        sizing: Sizing::FixedNotional,
        fixed_notional: price * 0.1,
        max_leverage: Some(2.0),
        ..RiskConfig::no_rules()
    };
    let spec = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
    let mut risk = RiskLayer::new(rules, &[spec], 60_000, 100_000.0).unwrap();
    let open = Ohlc {
        open: price,
        high: price,
        low: price,
        close: price,
    };
    risk.observe(0, &open, price, None);
    let enter = Intent::Enter {
        side: Side::Long,
        stop: Some(price * 0.2),
        take_profit: Some(price * 10.0),
    };
    risk.on_signal(
        -1,
        Signal {
            symbol: 0,
            intent: enter,
        },
        &mut v,
    );
    let first = Ohlc {
        open: price,
        high: price,
        low: price,
        close: price,
    };
    v.on_bar(0, -1, &first, &first, &[]);
    assert!(v.account.position(0).is_some());
    v
}

criterion_group!(benches, bench);
criterion_main!(benches);
