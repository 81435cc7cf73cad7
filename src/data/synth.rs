//! A seeded, deterministic generator of perpetual-futures history, for the sample data and
//! for stress tests. Same configuration and seed → byte-identical files.
//!
//! The model, per bar of `timeframe`, walked in [`SUBSTEPS`] sub-steps:
//! - **Fair (index) price**: geometric Brownian motion whose variance clusters (GARCH(1,1)
//!   per bar, times a calm/turbulent regime that switches as a Markov chain) and whose drift
//!   wanders (an Ornstein–Uhlenbeck trend, giving bull and bear phases).
//! - **Correlation**: one-factor shocks, `z_i = √ρ·f + √(1−ρ)·e_i`, so every pair of symbols
//!   has correlation ρ; symbols differ in volatility (`vol_scale`) and crash depth.
//! - **Crashes and squeezes**: scheduled up front (Poisson per year, at least `min_crashes`
//!   crashes); a crash takes the price down by 20–35 % over 6–24 hours with volatility
//!   tripled, then retraces a third of the fall over two days; a squeeze lifts it 10–25 %.
//! - **Last vs mark**: the traded (last) price is `fair × (1 + premium)`, premium an AR(1)
//!   that takes sharp, quickly decaying jumps down in crashes (liquidation cascades, 0.5–4 %)
//!   and up in squeezes;
//!   the mark price is `fair × (1 + EMA(premium))`, as Binance's mark is index plus a smoothed
//!   basis — so in a crash the last price wicks well below the mark price, as on 2021-05-19.
//! - **Funding**, every `funding_interval` hours, by Binance's formula
//!   `F = P + clamp(0.01 % − P, −0.05 %, +0.05 %)`, capped at ±`funding_cap`, with the premium
//!   index `P` following the 3-day trend and the interval's average premium: 0.01 % in calm
//!   markets, positive in rallies, negative in crashes.
//!
//! Output is Binance Vision's layout (12-column klines with header, mark klines with volume
//! 0, funding archives `calc_time,funding_interval_hours,last_funding_rate`), as plain CSV
//! or as zips holding one CSV each, like the archives themselves.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

use crate::market::Timeframe;

/// Sub-steps per bar: the intrabar path that makes highs and lows.
pub const SUBSTEPS: usize = 12;

/// One synthetic symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthSymbol {
    pub name: String,
    /// USDT, price at the start
    pub start_price: f64,
    /// USDT, price step that output is rounded to
    pub tick: f64,
    /// multiplies the base volatility (ETH moves ~1.3× BTC)
    pub vol_scale: f64,
    /// multiplies crash and squeeze sizes
    pub event_scale: f64,
    /// base-asset volume of an average bar
    pub base_volume: f64,
}

impl SynthSymbol {
    /// Parses `NAME:PRICE[:VOL_SCALE]`, e.g. `SOLUSDT:150:1.6`; the tick is a sensible
    /// power of ten for the price.
    pub fn parse(text: &str) -> Result<SynthSymbol, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let bad = || format!("'{text}' is not NAME:PRICE[:VOL_SCALE], e.g. SOLUSDT:150:1.6");
        if parts.len() < 2 || parts.len() > 3 || parts[0].is_empty() {
            return Err(bad());
        }
        let price: f64 = parts[1].parse().map_err(|_| bad())?;
        let vol_scale: f64 = parts
            .get(2)
            .map_or(Ok(1.0), |v| v.parse())
            .map_err(|_| bad())?;
        if !(price > 0.0 && price.is_finite() && vol_scale > 0.0 && vol_scale.is_finite()) {
            return Err(format!("'{text}': price and volatility scale must be > 0"));
        }
        let tick = 10f64.powi((price.log10().floor() as i32 - 5).clamp(-8, -1));
        Ok(SynthSymbol {
            name: parts[0].to_string(),
            start_price: price,
            tick,
            vol_scale,
            event_scale: vol_scale.sqrt(),
            base_volume: 2.0e7 / price,
        })
    }

    fn btc() -> SynthSymbol {
        SynthSymbol {
            name: "BTCUSDT".into(),
            start_price: 42_000.0,
            tick: 0.1,
            vol_scale: 1.0,
            event_scale: 1.0,
            base_volume: 9_000.0,
        }
    }

    fn eth() -> SynthSymbol {
        SynthSymbol {
            name: "ETHUSDT".into(),
            start_price: 2_300.0,
            tick: 0.01,
            vol_scale: 1.3,
            event_scale: 1.2,
            base_volume: 90_000.0,
        }
    }
}

/// Everything that shapes a synthetic market.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthConfig {
    pub seed: u64,
    /// ms, open time of the first bar (aligned down to the timeframe)
    pub start: i64,
    pub days: u32,
    pub timeframe: Timeframe,
    pub symbols: Vec<SynthSymbol>,
    /// pairwise correlation of the symbols' shocks, in [0, 1)
    pub correlation: f64,
    /// fraction per year, the first symbol's long-run volatility (0.55 = 55 %)
    pub annual_vol: f64,
    /// expected crashes per year
    pub crashes_per_year: f64,
    /// at least this many crashes, whatever the draw
    pub min_crashes: u32,
    /// expected squeezes per year
    pub squeezes_per_year: f64,
    /// fraction per settlement, the funding cap (0.003 = 0.3 %)
    pub funding_cap: f64,
    /// hours between funding settlements
    pub funding_interval_hours: u32,
}

impl Default for SynthConfig {
    fn default() -> SynthConfig {
        SynthConfig {
            seed: 42,
            start: 1_704_067_200_000, // 2024-01-01 00:00 UTC
            days: 730,
            timeframe: Timeframe::HOUR,
            symbols: vec![SynthSymbol::btc(), SynthSymbol::eth()],
            correlation: 0.8,
            annual_vol: 0.55,
            crashes_per_year: 1.0,
            min_crashes: 1,
            squeezes_per_year: 1.0,
            funding_cap: 0.003,
            funding_interval_hours: 8,
        }
    }
}

/// The most bars a symbol may have: 20 M bars (38 years of 1m bars) take ~2 GB across their
/// files' text and columns; beyond that the history is no longer a sample.
pub const MAX_BARS: usize = 20_000_000;

impl SynthConfig {
    /// Checks ranges; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        if self.symbols.is_empty() {
            return Err("at least one symbol is needed".into());
        }
        if !(0.0..1.0).contains(&self.correlation) {
            return Err(format!(
                "correlation {} must be in [0, 1)",
                self.correlation
            ));
        }
        if !(self.annual_vol > 0.0 && self.annual_vol < 10.0) {
            return Err(format!(
                "annual volatility {} must be in (0, 10)",
                self.annual_vol
            ));
        }
        if self.days == 0 {
            return Err("days must be at least 1".into());
        }
        let bars = f64::from(self.days) * Timeframe::DAY.ms() as f64 / self.timeframe.ms() as f64;
        if bars > MAX_BARS as f64 {
            return Err(format!(
                "--days {} at {} is {:.0} bars a symbol; the limit is {MAX_BARS} ({} days at {})",
                self.days,
                self.timeframe,
                bars,
                MAX_BARS as i64 * self.timeframe.ms() / Timeframe::DAY.ms(),
                self.timeframe
            ));
        }
        let rates = [self.crashes_per_year, self.squeezes_per_year];
        if !rates.iter().all(|r| (0.0..=365.0).contains(r)) {
            return Err("crash and squeeze rates must be in [0, 365] a year".into());
        }
        if !(self.funding_cap > 0.0 && self.funding_cap < 0.1) {
            return Err(format!(
                "funding cap {} must be in (0, 0.1)",
                self.funding_cap
            ));
        }
        if self.funding_interval_hours == 0 || 24 % self.funding_interval_hours != 0 {
            return Err(format!(
                "funding interval {} h must divide 24",
                self.funding_interval_hours
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// a fall with tripled volatility and the last price pushed below the mark
    Crash,
    /// the partial recovery after a crash
    Rebound,
    /// a rise with doubled volatility and the last price pushed above the mark
    Squeeze,
}

/// A scheduled market-wide move.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// first bar index
    pub start: usize,
    /// bars
    pub bars: usize,
    /// fraction: −0.3 is a 30 % crash, +0.2 a 20 % squeeze (for `event_scale` 1)
    pub size: f64,
}

/// One symbol's generated history, as numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SynthSeries {
    /// ms, bar open times
    pub open_time: Vec<i64>,
    /// per bar: last-price open, high, low, close (USDT)
    pub last: Vec<[f64; 4]>,
    /// per bar: base-asset volume, the taker-buy part of it, and the trade count
    pub volume: Vec<f64>,
    pub taker_buy: Vec<f64>,
    pub trades: Vec<u64>,
    /// per bar: mark-price open, high, low, close (USDT)
    pub mark: Vec<[f64; 4]>,
    /// (settlement time ms, rate)
    pub funding: Vec<(i64, f64)>,
}

impl SynthSeries {
    /// The series as an in-memory history on `timeframe` (mark candles given, funding placed
    /// on the bar holding each settlement, at that bar's mark open), for runs that skip files:
    /// Monte Carlo paths and benchmarks.
    pub fn history(&self, symbol: &str, timeframe: Timeframe) -> crate::market::SymbolHistory {
        use crate::market::{
            AlignedFunding, Candles, MarkColumns, MarkSource, Settlement, SymbolHistory,
        };
        let mut candles = Candles::with_capacity(self.last.len());
        let mut mark = MarkColumns::default();
        for (i, (b, m)) in self.last.iter().zip(&self.mark).enumerate() {
            candles.push(self.open_time[i], b[0], b[1], b[2], b[3], self.volume[i]);
            mark.open.push(m[0]);
            mark.high.push(m[1]);
            mark.low.push(m[2]);
            mark.close.push(m[3]);
        }
        let start = self.open_time.first().copied().unwrap_or(0);
        let mut funding = AlignedFunding::default();
        for &(t, rate) in &self.funding {
            let bar = ((t - start) / timeframe.ms()) as usize;
            if bar < self.last.len() {
                let mark = self.mark[bar][0];
                funding.push(
                    bar as u32,
                    Settlement {
                        time: t,
                        rate,
                        mark,
                    },
                );
            }
        }
        SymbolHistory {
            symbol: symbol.to_string(),
            timeframe,
            candles,
            mark,
            mark_source: MarkSource::MarkCandles,
            funding,
            funding_dropped: 0,
            detail: None,
        }
    }
}

/// The generated market: one series per symbol, and the events that shaped it.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthMarket {
    pub series: Vec<SynthSeries>,
    pub events: Vec<Event>,
}

/// Per-symbol state of the walk.
struct Walk {
    log_fair: f64,
    premium: f64,
    premium_ema: f64,
    last_close: f64,
    mark_close: f64,
    /// log fair prices of recent bars, for the 3-day trend that drives funding
    history: Vec<f64>,
    premium_sum: f64,
    premium_count: u32,
}

/// Generates the market.
pub fn generate(config: &SynthConfig) -> Result<SynthMarket, String> {
    config.validate()?;
    let tf = config.timeframe;
    let bars = ((i64::from(config.days) * Timeframe::DAY.ms()) / tf.ms()).max(1) as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let events = schedule_events(config, bars, &mut rng);
    let bars_per_year = 365.0 * Timeframe::DAY.ms() as f64 / tf.ms() as f64;
    let bars_per_day = (Timeframe::DAY.ms() / tf.ms()).max(1) as usize;

    // GARCH(1,1) on the bar variance, scaled to the target long-run volatility.
    let (alpha, beta) = (0.06, 0.92);
    let long_run = config.annual_vol * config.annual_vol / bars_per_year;
    let omega = long_run * (1.0 - alpha - beta);
    let mut variance = long_run;
    let mut turbulent = false;
    let (to_turbulent, to_calm) = (
        1.0 / (40.0 * bars_per_day as f64),
        1.0 / (7.0 * bars_per_day as f64),
    );
    // Trend: OU on the annualised drift, mean 0.1, stationary sd 0.6, half-life ~45 days.
    let mut drift = 0.1;
    let theta = 1.0 / (65.0 * bars_per_day as f64);
    let drift_sd = 0.6 * (2.0 * theta).sqrt();

    let start = config.start - config.start.rem_euclid(tf.ms());
    let mut walks: Vec<Walk> = config
        .symbols
        .iter()
        .map(|s| Walk {
            log_fair: s.start_price.ln(),
            premium: 0.0,
            premium_ema: 0.0,
            last_close: s.start_price,
            mark_close: s.start_price,
            history: Vec::with_capacity(bars),
            premium_sum: 0.0,
            premium_count: 0,
        })
        .collect();
    let mut series: Vec<SynthSeries> = config
        .symbols
        .iter()
        .map(|_| SynthSeries::default())
        .collect();
    let interval_ms = i64::from(config.funding_interval_hours) * Timeframe::HOUR.ms();
    let mut next_funding = start + interval_ms - start.rem_euclid(interval_ms);
    let (rho_common, rho_own) = (config.correlation.sqrt(), (1.0 - config.correlation).sqrt());
    let normal = |rng: &mut ChaCha8Rng| -> f64 { StandardNormal.sample(rng) };

    let mut next_event = 0;
    for bar in 0..bars {
        let open_time = start + bar as i64 * tf.ms();
        turbulent = if turbulent {
            rng.random::<f64>() >= to_calm
        } else {
            rng.random::<f64>() < to_turbulent
        };
        let regime = if turbulent { 1.8 } else { 0.8 };
        drift += theta * (0.1 - drift) + drift_sd * normal(&mut rng);
        // events are sorted and do not overlap: step past the ones that have ended
        while next_event < events.len() && bar >= events[next_event].start + events[next_event].bars
        {
            next_event += 1;
        }
        let event = events.get(next_event).filter(|e| bar >= e.start);
        let (event_vol, event_push) = match event.map(|e| e.kind) {
            Some(EventKind::Crash) => (3.0, -1.0),
            Some(EventKind::Squeeze) => (2.0, 1.0),
            Some(EventKind::Rebound) => (1.5, 0.0),
            None => (1.0, 0.0),
        };
        let sigma_bar = variance.sqrt() * regime * event_vol;
        let mut garch_z_sq = 0.0;
        // the common factor is drawn once per sub-step and shared by every symbol
        let mut common = [0.0; SUBSTEPS];
        for c in common.iter_mut() {
            *c = normal(&mut rng);
        }
        for (i, (sym, walk)) in config.symbols.iter().zip(walks.iter_mut()).enumerate() {
            let event_log = event.map_or(0.0, |e| {
                (1.0 + e.size * sym.event_scale).max(0.05).ln() / e.bars as f64
            });
            let sigma = sigma_bar * sym.vol_scale / (SUBSTEPS as f64).sqrt();
            let mu = (drift / bars_per_year - 0.5 * (sigma_bar * sym.vol_scale).powi(2)
                + event_log)
                / SUBSTEPS as f64;
            let (mut high, mut low) = (walk.last_close, walk.last_close);
            let (mut mark_high, mut mark_low) = (walk.mark_close, walk.mark_close);
            let (mut last, mut mark) = (walk.last_close, walk.mark_close);
            for &common in &common {
                // shocks drawn in a fixed order per symbol keep the output deterministic
                let own = normal(&mut rng);
                let z = rho_common * common + rho_own * own;
                walk.log_fair += mu + sigma * z;
                // Liquidation cascades (squeezes) are short, sharp wicks of the last price:
                // jumps that decay within a few sub-steps, which the smoothed mark barely sees.
                let wick = rng.random::<f64>();
                let jump = if event_push != 0.0 && rng.random::<f64>() < 0.15 {
                    event_push * sym.event_scale * (0.005 + 0.035 * wick)
                } else {
                    0.0
                };
                walk.premium = 0.7 * walk.premium + 0.0003 * normal(&mut rng) + jump;
                walk.premium = walk.premium.clamp(-0.15, 0.08);
                walk.premium_ema += 0.01 * (walk.premium - walk.premium_ema);
                walk.premium_sum += walk.premium_ema;
                walk.premium_count += 1;
                let fair = walk.log_fair.exp();
                last = fair * (1.0 + walk.premium);
                mark = fair * (1.0 + walk.premium_ema);
                high = high.max(last);
                low = low.min(last);
                mark_high = mark_high.max(mark);
                mark_low = mark_low.min(mark);
                if i == 0 {
                    // GARCH sees its own standardised shocks only: feeding it the regime- and
                    // crash-scaled ones would make it non-stationary (α·5.4² + β > 1).
                    garch_z_sq += z * z / SUBSTEPS as f64;
                }
            }
            let round = |p: f64| (p / sym.tick).round() * sym.tick;
            let ohlc = [round(walk.last_close), round(high), round(low), round(last)];
            let mark_ohlc = [
                round(walk.mark_close),
                round(mark_high),
                round(mark_low),
                round(mark),
            ];
            let move_size = ((last / walk.last_close).ln()).abs() / sigma_bar.max(1e-9);
            let volume = sym.base_volume
                * regime
                * event_vol
                * (1.0 + 0.5 * move_size)
                * (0.3 * normal(&mut rng)).exp();
            let up_share = (0.5 + 2.0 * (last / walk.last_close - 1.0)).clamp(0.1, 0.9);
            let out = &mut series[i];
            out.open_time.push(open_time);
            out.last.push(ohlc);
            out.mark.push(mark_ohlc);
            out.volume.push(volume);
            out.taker_buy.push(volume * up_share);
            out.trades
                .push((volume * 3.0e5 / sym.base_volume).round() as u64);
            walk.last_close = last;
            walk.mark_close = mark;
            walk.history.push(walk.log_fair);
        }
        variance = omega + (alpha * garch_z_sq + beta) * variance;
        let bar_end = open_time + tf.ms();
        while next_funding < bar_end {
            if next_funding > start {
                for (walk, out) in walks.iter_mut().zip(series.iter_mut()) {
                    let rate =
                        funding_rate(walk, 3 * bars_per_day, config.funding_cap, normal(&mut rng));
                    out.funding.push((next_funding, rate));
                }
            }
            next_funding += interval_ms;
        }
    }
    Ok(SynthMarket { series, events })
}

/// Binance's funding formula on the model's premium index; resets the interval's premium.
fn funding_rate(walk: &mut Walk, trend_bars: usize, cap: f64, noise: f64) -> f64 {
    let n = walk.history.len();
    let trend = walk.log_fair - walk.history[n.saturating_sub(trend_bars + 1)];
    let avg_premium = walk.premium_sum / f64::from(walk.premium_count.max(1));
    walk.premium_sum = 0.0;
    walk.premium_count = 0;
    let premium_index = 0.0012 * (trend / 0.08).tanh() + 0.5 * avg_premium + 0.00008 * noise;
    let interest = 0.0001;
    let rate = premium_index + (interest - premium_index).clamp(-0.0005, 0.0005);
    // Binance prints rates with 8 decimals
    (rate.clamp(-cap, cap) * 1e8).round() / 1e8
}

fn schedule_events(config: &SynthConfig, bars: usize, rng: &mut ChaCha8Rng) -> Vec<Event> {
    let years = f64::from(config.days) / 365.0;
    let bars_per_hour = Timeframe::HOUR.ms() as f64 / config.timeframe.ms() as f64;
    let hours = |h: f64| ((h * bars_per_hour).round() as usize).max(1);
    let draw = |rate: f64, rng: &mut ChaCha8Rng| -> u32 {
        if rate * years <= 0.0 {
            0
        } else {
            Poisson::new(rate * years).map_or(0.0, |p| p.sample(rng)) as u32
        }
    };
    let crashes = draw(config.crashes_per_year, rng).max(config.min_crashes);
    let squeezes = draw(config.squeezes_per_year, rng);
    let lo = bars / 10;
    let hi = (bars * 95 / 100).max(lo + 1);
    // Crashes are placed first so that at least the first one always survives the overlap
    // rule (a later event that overlaps a placed one is dropped).
    let mut events: Vec<Event> = Vec::new();
    let place = |new: &[Event], events: &mut Vec<Event>| {
        let overlaps =
            |a: &Event, b: &Event| a.start < b.start + b.bars && b.start < a.start + a.bars;
        if new.iter().all(|n| events.iter().all(|e| !overlaps(n, e))) {
            events.extend_from_slice(new);
        }
    };
    for _ in 0..crashes {
        let start = rng.random_range(lo..hi);
        let depth = rng.random_range(0.20..0.35);
        let fall = hours(rng.random_range(6.0..24.0));
        // a third of the fall comes back over the next two days: from 1 − d to 1 − 2d/3
        let size = (1.0 - 2.0 * depth / 3.0) / (1.0 - depth) - 1.0;
        let crash = Event {
            kind: EventKind::Crash,
            start,
            bars: fall,
            size: -depth,
        };
        let rebound = Event {
            kind: EventKind::Rebound,
            start: start + fall,
            bars: hours(48.0),
            size,
        };
        place(&[crash, rebound], &mut events);
    }
    for _ in 0..squeezes {
        let start = rng.random_range(lo..hi);
        let (bars, size) = (
            hours(rng.random_range(4.0..12.0)),
            rng.random_range(0.10..0.25),
        );
        place(
            &[Event {
                kind: EventKind::Squeeze,
                start,
                bars,
                size,
            }],
            &mut events,
        );
    }
    events.sort_by_key(|e| e.start);
    events
}

/// Writes the market in Binance Vision's layout under `dir`: per symbol
/// `SYMBOL-TF.csv` (klines), `SYMBOL-TF-markPrice.csv` (mark klines) and
/// `SYMBOL-fundingRate.csv`, each zipped when `zip` is set. Returns the files written.
pub fn write(
    market: &SynthMarket,
    config: &SynthConfig,
    dir: &Path,
    zip: bool,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let tf = config.timeframe;
    let mut written = Vec::new();
    for (sym, s) in config.symbols.iter().zip(&market.series) {
        let decimals = (-sym.tick.log10()).round().max(0.0) as usize;
        let files = [
            (
                format!("{}-{tf}", sym.name),
                kline_csv(s, &s.last, tf, decimals, true),
            ),
            (
                format!("{}-{tf}-markPrice", sym.name),
                kline_csv(s, &s.mark, tf, decimals, false),
            ),
            (
                format!("{}-fundingRate", sym.name),
                funding_csv(s, config.funding_interval_hours),
            ),
        ];
        for (stem, text) in files {
            written.push(write_one(dir, &stem, &text, zip)?);
        }
    }
    Ok(written)
}

fn write_one(dir: &Path, stem: &str, text: &str, zip: bool) -> std::io::Result<PathBuf> {
    if !zip {
        let path = dir.join(format!("{stem}.csv"));
        std::fs::write(&path, text)?;
        return Ok(path);
    }
    let path = dir.join(format!("{stem}.zip"));
    let mut writer = ::zip::ZipWriter::new(std::fs::File::create(&path)?);
    // A fixed timestamp (the zip epoch, 1980-01-01) keeps the archive byte-identical across runs.
    let options = ::zip::write::SimpleFileOptions::default()
        .compression_method(::zip::CompressionMethod::Deflated)
        .last_modified_time(::zip::DateTime::default());
    writer
        .start_file(format!("{stem}.csv"), options)
        .map_err(std::io::Error::other)?;
    writer.write_all(text.as_bytes())?;
    writer.finish().map_err(std::io::Error::other)?;
    Ok(path)
}

fn kline_csv(
    s: &SynthSeries,
    prices: &[[f64; 4]],
    tf: Timeframe,
    decimals: usize,
    traded: bool,
) -> String {
    let mut out = String::with_capacity(prices.len() * 110);
    out.push_str(&super::layout::BINANCE_KLINE_COLUMNS.join(","));
    out.push('\n');
    for (i, [o, h, l, c]) in prices.iter().enumerate() {
        let t = s.open_time[i];
        let close_time = t + tf.ms() - 1;
        let _ = write!(
            out,
            "{t},{o:.decimals$},{h:.decimals$},{l:.decimals$},{c:.decimals$},"
        );
        if traded {
            let (v, buy) = (s.volume[i], s.taker_buy[i]);
            let vwap = (h + l + c) / 3.0;
            let _ = writeln!(
                out,
                "{v:.3},{close_time},{:.4},{},{buy:.3},{:.4},0",
                v * vwap,
                s.trades[i],
                buy * vwap
            );
        } else {
            let _ = writeln!(out, "0,{close_time},0,0,0,0,0");
        }
    }
    out
}

fn funding_csv(s: &SynthSeries, interval_hours: u32) -> String {
    let mut out = String::with_capacity(s.funding.len() * 40);
    out.push_str(&super::layout::BINANCE_FUNDING_COLUMNS.join(","));
    out.push('\n');
    for (time, rate) in &s.funding {
        let _ = writeln!(out, "{time},{interval_hours},{rate:.8}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SynthConfig {
        SynthConfig {
            days: 60,
            crashes_per_year: 0.0,
            min_crashes: 1,
            ..SynthConfig::default()
        }
    }

    /// A size past the limit is refused at once, with the bars it would have made.
    #[test]
    fn days_past_the_bar_limit_are_refused_before_any_work() {
        let huge = SynthConfig {
            days: 100_000_000,
            ..small()
        };
        let e = huge.validate().unwrap_err();
        assert!(
            e.starts_with(
                "--days 100000000 at 1h is 2400000000 bars a symbol; the limit is 20000000"
            ),
            "{e}"
        );
        // 20 M hourly bars is 833,333 days: the last day that fits passes
        let edge = SynthConfig {
            days: 833_333,
            ..small()
        };
        assert!(edge.validate().is_ok());
        let storms = SynthConfig {
            crashes_per_year: 1e6,
            ..small()
        };
        assert!(storms.validate().is_err());
    }

    #[test]
    fn same_seed_same_market_other_seed_other_market() {
        let a = generate(&small()).unwrap();
        assert_eq!(a, generate(&small()).unwrap());
        let b = generate(&SynthConfig { seed: 7, ..small() }).unwrap();
        assert_ne!(a.series[0].last, b.series[0].last);
    }

    #[test]
    fn hourly_returns_correlate_as_configured() {
        // the common shock must be shared by the symbols: ρ = 0.8 gives a sample correlation
        // near 0.8 (the last price's premium noise pulls it a little lower)
        let m = generate(&small()).unwrap();
        let returns = |s: &SynthSeries| -> Vec<f64> {
            s.last
                .windows(2)
                .map(|w| (w[1][3] / w[0][3]).ln())
                .collect()
        };
        let (x, y) = (returns(&m.series[0]), returns(&m.series[1]));
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let cov: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
        let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
        let corr = cov / (vx * vy).sqrt();
        assert!((0.7..0.9).contains(&corr), "correlation {corr}");
    }

    #[test]
    fn bars_are_consistent_and_funding_is_capped() {
        let config = small();
        let m = generate(&config).unwrap();
        assert_eq!(m.series[0].open_time.len(), 60 * 24);
        for s in &m.series {
            for ([o, h, l, c], [mo, mh, ml, mc]) in s.last.iter().zip(&s.mark) {
                assert!(
                    *l > 0.0 && *l <= o.min(*c) && *h >= o.max(*c),
                    "last {o} {h} {l} {c}"
                );
                assert!(
                    *ml > 0.0 && *ml <= mo.min(*mc) && *mh >= mo.max(*mc),
                    "mark"
                );
            }
            // settlements at 08:00, 16:00, 00:00 … after the first bar
            assert_eq!(s.funding.len(), 60 * 3 - 1);
            assert!(
                s.funding
                    .iter()
                    .all(|(t, r)| t % (8 * 3_600_000) == 0 && r.abs() <= config.funding_cap)
            );
        }
    }

    #[test]
    fn a_crash_takes_the_price_down_and_funding_negative() {
        let config = small();
        let m = generate(&config).unwrap();
        let crash = m
            .events
            .iter()
            .find(|e| e.kind == EventKind::Crash)
            .expect("min_crashes = 1");
        let s = &m.series[0];
        let before = s.last[crash.start][0];
        let after = s.last[crash.start + crash.bars - 1][3];
        // the event alone takes 20-35 % off; noise over < 1 day cannot undo most of it
        assert!(after < before * 0.9, "crash from {before} to {after}");
        // Within some crash bar the last price wicks at least 1 % below that bar's mark low:
        // the gap between a last-price and a mark-price liquidation engine.
        let deepest_wick = (crash.start..crash.start + crash.bars)
            .map(|i| s.mark[i][2] / s.last[i][2] - 1.0)
            .fold(f64::MIN, f64::max);
        assert!(
            deepest_wick > 0.01,
            "deepest wick below mark {deepest_wick}"
        );
    }

    #[test]
    fn symbols_parse_from_the_command_line() {
        let sol = SynthSymbol::parse("SOLUSDT:150:1.6").unwrap();
        assert_eq!(
            (sol.start_price, sol.vol_scale, sol.tick),
            (150.0, 1.6, 0.001)
        );
        assert!(SynthSymbol::parse("SOLUSDT").is_err());
        assert!(SynthSymbol::parse("SOLUSDT:-1").is_err());
    }
}
