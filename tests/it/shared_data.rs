//! The real Binance history in `../shared/data` (see its README for the figures checked here).
//! Skipped, with the reason printed, when the folder is absent.

use perpsim::data::layout::ColumnNames;
use perpsim::data::time::{format_utc, parse_date};
use perpsim::data::{self, Content, LoadOptions, SymbolSource};
use perpsim::market::MarkSource;

use crate::shared_data;

/// (file, rows, first, last) as the data README's table gives them.
const CANDLE_FILES: [(&str, usize, &str, &str); 17] = [
    (
        "binance_um_BTCUSDT_1h.csv",
        58_623,
        "2019-09-08 17:00",
        "2026-05-17 07:00",
    ),
    (
        "binance_um_ETHUSDT_1h.csv",
        56_713,
        "2019-11-27 07:00",
        "2026-05-17 07:00",
    ),
    (
        "binance_um_BTCUSDT_1h_mark.csv",
        56_084,
        "2019-12-23 11:00",
        "2026-05-17 06:00",
    ),
    (
        "binance_um_ETHUSDT_1h_mark.csv",
        56_084,
        "2019-12-23 11:00",
        "2026-05-17 06:00",
    ),
    (
        "binance_um_BTCUSDT_funding.csv",
        7_323,
        "2019-09-10 08:00",
        "2026-05-17 00:00",
    ),
    (
        "binance_um_ETHUSDT_funding.csv",
        7_089,
        "2019-11-27 08:00",
        "2026-05-17 00:00",
    ),
    (
        "binance_um_BTCUSDT_funding_vision.csv",
        7_119,
        "2020-01-01 00:00",
        "2026-06-30 16:00",
    ),
    (
        "binance_um_ETHUSDT_funding_vision.csv",
        7_119,
        "2020-01-01 00:00",
        "2026-06-30 16:00",
    ),
    (
        "binance_um_BTCUSDT_15m_2023-01_2025-12.csv",
        102_784,
        "2023-01-01 00:00",
        "2025-12-06 15:45",
    ),
    (
        "binance_um_ETHUSDT_15m_2023-01_2025-12.csv",
        102_784,
        "2023-01-01 00:00",
        "2025-12-06 15:45",
    ),
    (
        "binance_um_BTCUSDT_5m_2023-01_2024-05.csv",
        143_900,
        "2023-01-01 00:00",
        "2024-05-14 15:35",
    ),
    (
        "binance_um_ETHUSDT_5m_2023-01_2024-05.csv",
        143_901,
        "2023-01-01 00:00",
        "2024-05-14 15:40",
    ),
    (
        "binance_um_BTCUSDT_1m_2025-05-25_2025-06-24.csv",
        43_199,
        "2025-05-25 10:33",
        "2025-06-24 10:31",
    ),
    (
        "binance_um_ETHUSDT_1m_2025-05-25_2025-06-24.csv",
        43_200,
        "2025-05-25 10:33",
        "2025-06-24 10:32",
    ),
    (
        "binance_um_BTCUSDT_1m_2023-07-18_2023-08-17.csv",
        43_199,
        "2023-07-18 11:13",
        "2023-08-17 11:11",
    ),
    (
        "binance_um_ETHUSDT_1m_2023-07-03_2023-08-17.csv",
        64_066,
        "2023-07-03 23:26",
        "2023-08-17 11:11",
    ),
    (
        "binance_um_BTCUSDT_1h_2024-10-28_vision.csv",
        24,
        "2024-10-28 00:00",
        "2024-10-28 23:00",
    ),
];

#[test]
fn every_file_loads_with_the_documented_span_and_rows() {
    let Some(dir) = shared_data() else { return };
    for (name, rows, first, last) in CANDLE_FILES {
        let report = data::inspect(&dir.join(name), &ColumnNames::default()).unwrap();
        report
            .verdict(Default::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let times = match &report.content {
            Content::Candles { candles, .. } => &candles.open_time,
            Content::Funding { series, .. } => &series.time,
            Content::Brackets(_) => panic!("{name} read as brackets"),
        };
        assert_eq!(times.len(), rows, "{name}");
        assert_eq!(
            (format_utc(times[0]), format_utc(*times.last().unwrap())),
            (first.into(), last.into()),
            "{name}"
        );
    }
    let vision = dir.join("vision");
    for name in [
        "BTCUSDT-1h-2024-10-28.zip",
        "spot-BTCUSDT-1h-2024-10-28.zip",
    ] {
        let loaded =
            data::load_candles(vision.join(name).to_str().unwrap(), &LoadOptions::default())
                .unwrap();
        assert_eq!(loaded.candles.len(), 24, "{name}");
    }
    let brackets = data::inspect(
        &dir.join("brackets_binance_BTCUSDT_ETHUSDT.csv"),
        &ColumnNames::default(),
    )
    .unwrap();
    let Content::Brackets(b) = &brackets.content else {
        panic!("brackets not recognised")
    };
    assert_eq!((b.rows, b.tables, b.findings.problem_count), (224, 22, 0));
}

#[test]
fn the_vision_archive_day_matches_the_published_candle() {
    let Some(dir) = shared_data() else { return };
    // README: Vision's 21:00 candle on 2024-10-28 is 69650.0 / 69776.8 / 69480.3 / 69770.2, volume 3992.34
    let path = dir.join("vision/BTCUSDT-1h-2024-10-28.zip");
    let c = data::load_candles(path.to_str().unwrap(), &LoadOptions::default())
        .unwrap()
        .candles;
    let i = c
        .open_time
        .iter()
        .position(|&t| format_utc(t) == "2024-10-28 21:00")
        .unwrap();
    assert_eq!(
        (c.open[i], c.high[i], c.low[i], c.close[i]),
        (69650.0, 69776.8, 69480.3, 69770.2)
    );
    assert!((c.volume[i] - 3992.34).abs() < 0.01);
}

#[test]
fn one_minute_bars_resample_to_the_published_hours() {
    let Some(dir) = shared_data() else { return };
    // README: rebuilding 1h from the 1m files gives identical OHLC every hour.
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let fine = dir.join(format!("binance_um_{symbol}_1m_2025-05-25_2025-06-24.csv"));
        let from = parse_date("2025-05-25T11:00:00Z").unwrap(); // first whole hour
        let to = parse_date("2025-06-24T10:00:00Z").unwrap(); // last hour is partial
        let options = LoadOptions {
            timeframe: perpsim::market::Timeframe::parse("1h"),
            from: Some(from),
            to: Some(to),
            ..Default::default()
        };
        let source = SymbolSource {
            symbol: symbol.into(),
            candles: fine.display().to_string(),
            mark: None,
            funding: None,
            ..SymbolSource::default()
        };
        let rebuilt = data::load_symbol(&source, &options).unwrap().candles;
        let hourly = dir.join(format!("binance_um_{symbol}_1h.csv"));
        let mut published = data::load_candles(hourly.to_str().unwrap(), &LoadOptions::default())
            .unwrap()
            .candles;
        published.retain_range(from, to);
        assert_eq!(rebuilt.len(), 30 * 24 - 1, "{symbol}");
        assert_eq!(rebuilt.open_time, published.open_time, "{symbol}");
        assert_eq!(
            (&rebuilt.open, &rebuilt.high, &rebuilt.low, &rebuilt.close),
            (
                &published.open,
                &published.high,
                &published.low,
                &published.close
            ),
            "{symbol}"
        );
    }
}

#[test]
fn real_symbol_aligns_mark_and_funding() {
    let Some(dir) = shared_data() else { return };
    let path = |name: &str| dir.join(name).display().to_string();
    let source = SymbolSource {
        symbol: "ETHUSDT".into(),
        candles: path("binance_um_ETHUSDT_1h.csv"),
        mark: Some(path("binance_um_ETHUSDT_1h_mark.csv")),
        funding: Some(path("binance_um_ETHUSDT_funding_vision.csv")),
        ..SymbolSource::default()
    };
    let eth = data::load_symbol(&source, &LoadOptions::default()).unwrap();
    // Trade bars from 2019-11-27 07:00 (56,713 of them); mark bars from 2019-12-23 11:00 to
    // 2026-05-17 06:00 (56,084), so 56,713 − 56,084 = 629 bars have the last price for mark:
    // 628 before the mark history starts (26 days and 4 hours) and the final 07:00 bar.
    assert_eq!(eth.mark_source, MarkSource::Partial { missing: 629 });
    // The Vision funding runs 2020-01-01 00:00 to 2026-06-30 16:00 (7,119 settlements); those
    // after the last bar (2026-05-17 07:00) are dropped: 2026-05-17 08:00 .. 2026-06-30 16:00
    // is 44 days and 8 hours = 133 intervals of 8 h, so 134 settlements.
    assert_eq!((eth.funding.len(), eth.funding_dropped), (7_119 - 134, 134));
    // 2021-05-19: the trade low was 1400.73 while the mark low was 1764.26 (data README,
    // which rounds the mark to the cent).
    let day = parse_date("2021-05-19").unwrap()..parse_date("2021-05-20").unwrap();
    let bars: Vec<usize> = (0..eth.candles.len())
        .filter(|&i| day.contains(&eth.candles.open_time[i]))
        .collect();
    let low = bars
        .iter()
        .map(|&i| eth.candles.low[i])
        .fold(f64::MAX, f64::min);
    let mark_low = bars
        .iter()
        .map(|&i| eth.mark.low[i])
        .fold(f64::MAX, f64::min);
    assert_eq!(low, 1400.73);
    assert!((mark_low - 1764.26).abs() < 0.005, "{mark_low}");
}

#[test]
fn shipped_brackets_equal_binance_snapshot_of_2024_05_30() {
    let Some(dir) = shared_data() else { return };
    let text = std::fs::read_to_string(dir.join("brackets_binance_BTCUSDT_ETHUSDT.csv")).unwrap();
    let instruments = perpsim::instrument::Instruments::binance_usdm();
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let reference: Vec<Vec<String>> = text
            .lines()
            .filter(|l| l.contains(&format!(",2024-05-30,{symbol},")))
            .map(|l| {
                l.rsplit(',')
                    .take(5)
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect()
            })
            .collect();
        let shipped = &instruments.get(symbol).unwrap().brackets;
        assert_eq!(reference.len(), shipped.len(), "{symbol}");
        for (row, tier) in reference.iter().zip(shipped) {
            let dec = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
            assert_eq!(dec(&row[0]), tier.floor, "{symbol}");
            assert_eq!(dec(&row[1]), tier.cap, "{symbol}");
            assert_eq!(
                row[2].parse::<u32>().unwrap(),
                tier.max_leverage,
                "{symbol}"
            );
            assert_eq!(dec(&row[3]), tier.maint_margin_rate, "{symbol}");
            assert_eq!(dec(&row[4]), tier.maint_amount, "{symbol}");
        }
    }
}
