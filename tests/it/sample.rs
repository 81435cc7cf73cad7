//! The sample in `data/`: loaded, resampled and aligned as a run will.

use perpsim::data::{self, LoadOptions, SymbolSource};
use perpsim::market::{MarkSource, MarketData, NO_BAR, Timeframe};

use crate::repo;

fn source(symbol: &str) -> SymbolSource {
    let d = repo().join("data");
    let path = |name: String| d.join(name).display().to_string();
    SymbolSource {
        symbol: symbol.into(),
        candles: path(format!("{symbol}-1h.zip")),
        mark: Some(path(format!("{symbol}-1h-markPrice.zip"))),
        funding: Some(path(format!("{symbol}-fundingRate.zip"))),
        ..SymbolSource::default()
    }
}

#[test]
fn sample_loads_with_mark_and_funding_on_every_bar() {
    let btc = data::load_symbol(&source("BTCUSDT"), &LoadOptions::default()).unwrap();
    // 2024-01-01 00:00 to 2025-12-30 23:00: 730 days × 24 bars
    assert_eq!(btc.candles.len(), 730 * 24);
    assert_eq!(btc.timeframe, Timeframe::HOUR);
    assert_eq!(btc.mark_source, MarkSource::MarkCandles);
    // settlements every 8 h after the first bar: 730 × 3 − 1
    assert_eq!((btc.funding.len(), btc.funding_dropped), (730 * 3 - 1, 0));
    // a settlement at 08:00 falls in the bar opening at 08:00 and uses that mark bar's open
    let (t, bar) = (btc.funding.due[0].time, btc.funding.bar[0] as usize);
    assert_eq!(btc.candles.open_time[bar], t);
    assert_eq!(btc.funding.due[0].mark, btc.mark.open[bar]);
}

#[test]
fn resampling_to_4h_aggregates_each_group_of_four_bars() {
    let options = LoadOptions {
        timeframe: Timeframe::parse("4h"),
        ..LoadOptions::default()
    };
    let eth4 = data::load_symbol(&source("ETHUSDT"), &options).unwrap();
    let eth1 = data::load_symbol(&source("ETHUSDT"), &LoadOptions::default()).unwrap();
    assert_eq!(eth4.candles.len(), 730 * 6);
    for k in [0, 1, 1234, eth4.candles.len() - 1] {
        let hours = 4 * k..4 * k + 4;
        let c = &eth1.candles;
        assert_eq!(eth4.candles.open_time[k], c.open_time[4 * k]);
        assert_eq!(eth4.candles.open[k], c.open[4 * k]);
        assert_eq!(eth4.candles.close[k], c.close[4 * k + 3]);
        assert_eq!(
            eth4.candles.high[k],
            hours.clone().map(|i| c.high[i]).fold(f64::MIN, f64::max)
        );
        assert_eq!(
            eth4.candles.low[k],
            hours.clone().map(|i| c.low[i]).fold(f64::MAX, f64::min)
        );
        let volume: f64 = hours.clone().map(|i| c.volume[i]).sum();
        assert!((eth4.candles.volume[k] - volume).abs() < 1e-9 * volume);
        assert_eq!(
            eth4.mark.low[k],
            hours.map(|i| eth1.mark.low[i]).fold(f64::MAX, f64::min)
        );
    }
    // funding: 3 settlements per 12 h … every settlement lands in the 4 h bar that holds it
    for (i, t) in eth4.funding.due.iter().map(|d| d.time).enumerate() {
        let open = eth4.candles.open_time[eth4.funding.bar[i] as usize];
        assert!(open <= t && t < open + 4 * 3_600_000);
    }
}

#[test]
fn a_date_range_cuts_candles_and_funding() {
    let from = perpsim::data::time::parse_date("2025-01-01").unwrap();
    let to = perpsim::data::time::parse_date("2025-02-01").unwrap();
    let options = LoadOptions {
        from: Some(from),
        to: Some(to),
        ..LoadOptions::default()
    };
    let btc = data::load_symbol(&source("BTCUSDT"), &options).unwrap();
    assert_eq!(btc.candles.len(), 31 * 24);
    assert_eq!(
        (
            btc.candles.open_time[0],
            *btc.candles.open_time.last().unwrap()
        ),
        (from, to - 3_600_000)
    );
    assert_eq!(btc.funding.len(), 31 * 3);
}

#[test]
fn two_symbols_share_one_clock() {
    let btc = data::load_symbol(&source("BTCUSDT"), &LoadOptions::default()).unwrap();
    let eth = data::load_symbol(&source("ETHUSDT"), &LoadOptions::default()).unwrap();
    let market = MarketData::new(vec![btc, eth]);
    assert_eq!(market.clock.len(), 730 * 24);
    assert!(
        market
            .bar_at
            .iter()
            .all(|bars| bars.iter().all(|&b| b != NO_BAR))
    );
}
