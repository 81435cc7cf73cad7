//! In-memory market history: columnar candles, funding series, and one symbol's aligned history.
//!
//! Columnar because every later stage walks one field over many bars (a stop check reads
//! `low`, an SMA reads `close`); one `Vec` per field keeps those walks in cache and lets a
//! sweep share one copy of history between threads behind an [`Arc`].

use std::fmt;
use std::sync::Arc;

/// A bar length. Bars are stamped with their open time and cover `[open_time, open_time + ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeframe(i64);

/// The timeframes Binance publishes, shortest first, with their names.
const NAMED: [(&str, i64); 14] = [
    ("1m", 60_000),
    ("3m", 180_000),
    ("5m", 300_000),
    ("15m", 900_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("2h", 7_200_000),
    ("4h", 14_400_000),
    ("6h", 21_600_000),
    ("8h", 28_800_000),
    ("12h", 43_200_000),
    ("1d", 86_400_000),
    ("3d", 259_200_000),
    ("1w", 604_800_000),
];

impl Timeframe {
    pub const MINUTE: Timeframe = Timeframe(60_000);
    pub const HOUR: Timeframe = Timeframe(3_600_000);
    pub const DAY: Timeframe = Timeframe(86_400_000);

    /// A timeframe of `ms` milliseconds; `None` unless it is positive.
    pub fn from_ms(ms: i64) -> Option<Timeframe> {
        (ms > 0).then_some(Timeframe(ms))
    }

    /// ms
    pub fn ms(self) -> i64 {
        self.0
    }

    /// Parses `1m`, `15m`, `1h`, `4h`, `1d`, `1w`, or any `<n>s|m|h|d|w`.
    pub fn parse(text: &str) -> Option<Timeframe> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (count, unit) = text.split_at(split);
        let count: i64 = count.parse().ok()?;
        let unit_ms = match unit {
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return None,
        };
        Timeframe::from_ms(count.checked_mul(unit_ms)?)
    }

    /// The names accepted by [`Timeframe::parse`] that Binance publishes, for error messages.
    pub fn known_names() -> String {
        NAMED.map(|(name, _)| name).join(", ")
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((name, _)) = NAMED.iter().find(|(_, ms)| *ms == self.0) {
            return f.write_str(name);
        }
        let ms = self.0;
        let units = [
            (604_800_000, "w"),
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        for (unit_ms, unit) in units {
            if ms % unit_ms == 0 {
                return write!(f, "{}{unit}", ms / unit_ms);
            }
        }
        write!(f, "{ms}ms")
    }
}

/// One bar's prices. USDT
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ohlc {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
}

/// A symbol's bars at a finer timeframe than its trading bars (`data.detail`), so that the
/// exchange walks their paths instead of guessing the trading bar's: trading bar `i` is
/// covered by fine bars `i × per_bar .. (i + 1) × per_bar`, back to back.
#[derive(Clone, Debug, PartialEq)]
pub struct Detail {
    pub timeframe: Timeframe,
    /// fine bars per trading bar
    pub per_bar: usize,
    /// last-price bars
    pub last: Vec<Ohlc>,
    /// mark-price bars, one per `last` bar
    pub mark: Vec<Ohlc>,
    /// where the fine marks come from
    pub mark_source: MarkSource,
}

impl Detail {
    /// The same timeframe and sources with no bars.
    pub fn clone_empty(&self) -> Detail {
        Detail {
            timeframe: self.timeframe,
            per_bar: self.per_bar,
            last: Vec::new(),
            mark: Vec::new(),
            mark_source: self.mark_source,
        }
    }

    /// The fine (last, mark) bars of trading bar `bar`.
    #[inline]
    pub fn of(&self, bar: usize) -> (&[Ohlc], &[Ohlc]) {
        let span = bar * self.per_bar..(bar + 1) * self.per_bar;
        (&self.last[span.clone()], &self.mark[span])
    }
}

/// OHLCV bars of one symbol, one `Vec` per field, all the same length, in time order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Candles {
    /// ms since the Unix epoch, UTC; the bar's open time
    pub open_time: Vec<i64>,
    /// USDT (quote currency)
    pub open: Vec<f64>,
    /// USDT
    pub high: Vec<f64>,
    /// USDT
    pub low: Vec<f64>,
    /// USDT
    pub close: Vec<f64>,
    /// base asset (BTC for BTCUSDT); 0 for mark-price candles
    pub volume: Vec<f64>,
}

impl Candles {
    pub fn with_capacity(rows: usize) -> Candles {
        Candles {
            open_time: Vec::with_capacity(rows),
            open: Vec::with_capacity(rows),
            high: Vec::with_capacity(rows),
            low: Vec::with_capacity(rows),
            close: Vec::with_capacity(rows),
            volume: Vec::with_capacity(rows),
        }
    }

    pub fn len(&self) -> usize {
        self.open_time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open_time.is_empty()
    }

    pub fn push(&mut self, time: i64, open: f64, high: f64, low: f64, close: f64, volume: f64) {
        self.open_time.push(time);
        self.open.push(open);
        self.high.push(high);
        self.low.push(low);
        self.close.push(close);
        self.volume.push(volume);
    }

    /// Appends all of `other`'s rows.
    pub fn extend(&mut self, other: &Candles) {
        self.open_time.extend_from_slice(&other.open_time);
        self.open.extend_from_slice(&other.open);
        self.high.extend_from_slice(&other.high);
        self.low.extend_from_slice(&other.low);
        self.close.extend_from_slice(&other.close);
        self.volume.extend_from_slice(&other.volume);
    }

    /// Keeps rows whose open time lies in `[from, to)` (ms).
    pub fn retain_range(&mut self, from: i64, to: i64) {
        let start = self.open_time.partition_point(|&t| t < from);
        let end = self.open_time.partition_point(|&t| t < to);
        for column in [
            &mut self.open,
            &mut self.high,
            &mut self.low,
            &mut self.close,
            &mut self.volume,
        ] {
            column.truncate(end);
            column.drain(..start.min(end));
        }
        self.open_time.truncate(end);
        self.open_time.drain(..start.min(end));
    }

    pub fn shrink_to_fit(&mut self) {
        self.open_time.shrink_to_fit();
        for column in [
            &mut self.open,
            &mut self.high,
            &mut self.low,
            &mut self.close,
            &mut self.volume,
        ] {
            column.shrink_to_fit();
        }
    }

    /// Bytes held by the columns' values (what the 2× memory budget of the loader is measured against).
    pub fn column_bytes(&self) -> usize {
        self.len() * (std::mem::size_of::<i64>() + 5 * std::mem::size_of::<f64>())
    }
}

/// Funding settlements of one symbol, in time order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FundingSeries {
    /// ms since the Unix epoch, UTC; the settlement time, snapped to the whole hour
    pub time: Vec<i64>,
    /// fraction per settlement, 0.0001 = 0.01 %; positive: longs pay shorts
    pub rate: Vec<f64>,
}

impl FundingSeries {
    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    pub fn retain_range(&mut self, from: i64, to: i64) {
        let start = self.time.partition_point(|&t| t < from);
        let end = self.time.partition_point(|&t| t < to);
        self.time.truncate(end);
        self.time.drain(..start.min(end));
        self.rate.truncate(end);
        self.rate.drain(..start.min(end));
    }
}

/// Where the mark price of a symbol comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkSource {
    /// Mark-price candles were given and cover every bar.
    MarkCandles,
    /// Mark-price candles were given but miss `missing` bars, where the last price stands in.
    Partial { missing: usize },
    /// No mark-price history: the last-price candles stand in (reports say so).
    LastPrice,
}

/// Mark-price OHLC aligned one-to-one with a symbol's trade candles.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MarkColumns {
    /// USDT
    pub open: Vec<f64>,
    /// USDT
    pub high: Vec<f64>,
    /// USDT
    pub low: Vec<f64>,
    /// USDT
    pub close: Vec<f64>,
}

/// One funding settlement: when, at what rate, at what mark.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settlement {
    /// ms, the settlement time
    pub time: i64,
    /// fraction per settlement; positive: longs pay shorts
    pub rate: f64,
    /// USDT, the mark price at `time` (the open of the finest mark candle holding it)
    pub mark: f64,
}

/// Funding settlements placed on the candles: each one knows the bar it falls in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlignedFunding {
    /// in time order
    pub due: Vec<Settlement>,
    /// per settlement: the index into the symbol's candles of the bar whose span holds its
    /// time
    pub bar: Vec<u32>,
}

impl AlignedFunding {
    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    pub fn push(&mut self, bar: u32, settlement: Settlement) {
        self.bar.push(bar);
        self.due.push(settlement);
    }

    pub fn clear(&mut self) {
        self.bar.clear();
        self.due.clear();
    }
}

/// One symbol's history, checked and aligned: candles, mark price per bar, funding per bar.
#[derive(Clone, Debug)]
pub struct SymbolHistory {
    pub symbol: String,
    pub timeframe: Timeframe,
    pub candles: Candles,
    pub mark: MarkColumns,
    pub mark_source: MarkSource,
    pub funding: AlignedFunding,
    /// Funding settlements that fell outside the candles' span or in a gap, so never apply.
    pub funding_dropped: usize,
    /// the bars at a finer timeframe, when the spec asks for them (`data.detail`)
    pub detail: Option<Detail>,
}

impl SymbolHistory {
    /// Keeps the first `bars` bars, with their mark bars and funding.
    pub fn truncate(&mut self, bars: usize) {
        if bars >= self.candles.len() {
            return;
        }
        let end = self.candles.open_time[bars];
        let start = self.candles.open_time[0];
        self.candles.retain_range(start, end);
        for col in [
            &mut self.mark.open,
            &mut self.mark.high,
            &mut self.mark.low,
            &mut self.mark.close,
        ] {
            col.truncate(bars);
        }
        let f = &mut self.funding;
        let keep = f.bar.iter().take_while(|&&b| (b as usize) < bars).count();
        f.due.truncate(keep);
        f.bar.truncate(keep);
        if let Some(d) = &mut self.detail {
            d.last.truncate(bars * d.per_bar);
            d.mark.truncate(bars * d.per_bar);
        }
    }
}

/// Several symbols on one clock: the union of their bar times.
///
/// At clock step `i`, symbol `s` has a new bar when `bar_at[s][i] != NO_BAR`; a symbol
/// without a bar at some time simply has no new bar there (no forward fill is invented).
#[derive(Clone, Debug, Default)]
pub struct MarketData {
    /// ms, sorted, unique
    pub clock: Vec<i64>,
    pub symbols: Vec<Arc<SymbolHistory>>,
    /// per symbol, per clock step: the index of its bar opening at that time, or [`NO_BAR`]
    pub bar_at: Vec<Vec<u32>>,
}

/// Marks a clock step where a symbol has no bar.
pub const NO_BAR: u32 = u32::MAX;

impl MarketData {
    /// Puts the symbols on one clock (a k-way merge of their sorted open times).
    pub fn new(symbols: Vec<SymbolHistory>) -> MarketData {
        let mut clock: Vec<i64> = symbols
            .iter()
            .flat_map(|s| s.candles.open_time.iter().copied())
            .collect();
        clock.sort_unstable();
        clock.dedup();
        let bar_at = symbols
            .iter()
            .map(|s| {
                let mut next = 0usize;
                clock
                    .iter()
                    .map(|&t| match s.candles.open_time.get(next) {
                        Some(&bar_time) if bar_time == t => {
                            next += 1;
                            (next - 1) as u32
                        }
                        _ => NO_BAR,
                    })
                    .collect()
            })
            .collect();
        MarketData {
            clock,
            symbols: symbols.into_iter().map(Arc::new).collect(),
            bar_at,
        }
    }
}

/// For each coarse bar (open times `coarse`, length `timeframe`), the index range of the fine
/// bars (open times `fine`, sorted) that open within its span `[open, open + timeframe)`. The
/// engine hands these to the exchange so that a finer timeframe replaces the path guess.
pub fn covering_ranges(
    coarse: &[i64],
    timeframe: Timeframe,
    fine: &[i64],
) -> Vec<std::ops::Range<usize>> {
    let mut start = 0;
    coarse
        .iter()
        .map(|&open| {
            start += fine[start..].partition_point(|&t| t < open);
            let end = start + fine[start..].partition_point(|&t| t < open + timeframe.ms());
            let range = start..end;
            start = end;
            range
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframe_parses_and_prints_binance_names() {
        assert_eq!(Timeframe::parse("1m"), Some(Timeframe::MINUTE));
        assert_eq!(Timeframe::parse("4h").map(Timeframe::ms), Some(14_400_000));
        assert_eq!(Timeframe::parse("1d"), Some(Timeframe::DAY));
        assert_eq!(
            Timeframe::parse("90m").map(|t| t.to_string()),
            Some("90m".to_string())
        );
        assert_eq!(Timeframe::parse("1x"), None);
        assert_eq!(Timeframe::parse("h"), None);
        assert_eq!(Timeframe::parse("0m"), None);
        assert_eq!(Timeframe::HOUR.to_string(), "1h");
    }

    #[test]
    fn covering_ranges_find_the_fine_bars_of_each_coarse_bar() {
        // hourly bars at 0h, 1h, 3h; minute bars at 0:00, 0:30, 1:00, 2:00, 3:59, 4:00
        let (m, h) = (60_000, 3_600_000);
        let fine = [0, 30 * m, h, 2 * h, 3 * h + 59 * m, 4 * h];
        assert_eq!(
            covering_ranges(&[0, h, 3 * h], Timeframe::HOUR, &fine),
            vec![0..2, 2..3, 4..5]
        );
    }

    #[test]
    fn retain_range_keeps_half_open_interval() {
        let mut c = Candles::default();
        for t in 0..5 {
            c.push(t * 10, 1.0, 2.0, 0.5, 1.5, t as f64);
        }
        c.retain_range(10, 40);
        assert_eq!(c.open_time, vec![10, 20, 30]);
        assert_eq!(c.volume, vec![1.0, 2.0, 3.0]);
    }

    fn history(symbol: &str, times: &[i64]) -> SymbolHistory {
        let mut candles = Candles::default();
        for &t in times {
            candles.push(t, 1.0, 1.0, 1.0, 1.0, 0.0);
        }
        SymbolHistory {
            symbol: symbol.into(),
            timeframe: Timeframe::MINUTE,
            candles,
            mark: MarkColumns::default(),
            mark_source: MarkSource::LastPrice,
            funding: AlignedFunding::default(),
            funding_dropped: 0,
            detail: None,
        }
    }

    #[test]
    fn market_clock_is_union_and_missing_bars_are_marked() {
        let m = MarketData::new(vec![
            history("A", &[0, 60_000, 120_000]),
            history("B", &[60_000, 180_000]),
        ]);
        assert_eq!(m.clock, vec![0, 60_000, 120_000, 180_000]);
        assert_eq!(m.bar_at[0], vec![0, 1, 2, NO_BAR]);
        assert_eq!(m.bar_at[1], vec![NO_BAR, 0, NO_BAR, 1]);
    }
}
