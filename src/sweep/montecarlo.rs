//! Monte Carlo paths: other markets that could have happened, for survival statistics.
//!
//! ```toml
//! [sweep.montecarlo]
//! paths = 200
//! method = "block_bootstrap"   # or "synth"
//! block = 24                   # bars: the mean block length of the bootstrap
//! seed = 7
//! ruin_levels = [0.5, 0.1]     # equity fractions of the start that count as ruin
//! ```
//!
//! **Block bootstrap** (Politis & Romano's stationary bootstrap): a path is built bar by bar
//! from the history's bars, taken in blocks of consecutive bars whose lengths are geometric
//! with mean `block`, each block starting at a uniformly drawn bar. A bar is carried as its
//! OHLC and mark OHLC relative to the previous close, so each block keeps the history's
//! returns, ranges, volatility clustering and mark/last spread in order; the path is then
//! compounded from the first close. Funding keeps the history's settlement times; each
//! settlement takes the rate that was in force at the source bar, so funding moves with the
//! prices it came with. With several symbols, all take the same source bars (their
//! correlation is kept).
//!
//! **Synth**: paths from the synthetic market generator (`perpsim synth`) with the history's
//! start prices, volatility (annualised standard deviation of the first symbol's log returns,
//! the others scaled by their ratio to it) and correlation of the first two symbols.
//!
//! A path is a pure function of `(seed, path number)`: it is rebuilt when needed rather than
//! stored, so memory does not grow with the number of paths, and every configuration runs on
//! the same paths (common random numbers).

use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::data::synth::{self, SynthConfig, SynthSymbol};
use crate::market::{
    AlignedFunding, Candles, Detail, MarkColumns, MarketData, Ohlc, Settlement, SymbolHistory,
    Timeframe,
};

/// How paths are made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// mean block length in bars
    BlockBootstrap {
        block: f64,
    },
    Synth,
}

/// The checked `[sweep.montecarlo]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct MonteCarlo {
    pub paths: usize,
    pub method: Method,
    pub seed: u64,
    /// fractions of the starting equity; ruin = equity at or below one, at any time
    pub ruin_levels: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    paths: usize,
    method: Option<String>,
    block: Option<f64>,
    seed: Option<u64>,
    ruin_levels: Option<Vec<f64>>,
}

impl MonteCarlo {
    /// Reads the table; errors are `(key, message)`.
    pub fn parse(table: &toml::Table) -> Result<MonteCarlo, (String, String)> {
        let raw: Raw = crate::keys::table_into(table).map_err(|f| (f.key, f.message))?;
        if raw.paths == 0 || raw.paths > 1_000_000 {
            return Err((
                "paths".into(),
                format!("{}: must be 1 to 1000000", raw.paths),
            ));
        }
        let method = match raw.method.as_deref().unwrap_or("block_bootstrap") {
            "block_bootstrap" => {
                let block = raw.block.unwrap_or(24.0);
                if !(block >= 1.0 && block.is_finite()) {
                    return Err(("block".into(), format!("{block}: must be ≥ 1 bar")));
                }
                Method::BlockBootstrap { block }
            }
            "synth" => Method::Synth,
            other => {
                return Err((
                    "method".into(),
                    format!("unknown method {other:?}; known: \"block_bootstrap\", \"synth\""),
                ));
            }
        };
        let ruin_levels = raw.ruin_levels.unwrap_or_else(|| vec![0.5, 0.1]);
        if ruin_levels.is_empty() || ruin_levels.iter().any(|l| !(*l > 0.0 && *l < 1.0)) {
            return Err((
                "ruin_levels".into(),
                "must be fractions in (0, 1), e.g. [0.5, 0.1]".into(),
            ));
        }
        Ok(MonteCarlo {
            paths: raw.paths,
            method,
            seed: raw.seed.unwrap_or(0),
            ruin_levels,
        })
    }

    /// Path number `k` of `market`.
    pub fn path(&self, market: &MarketData, k: usize) -> Result<MarketData, String> {
        let mut buffer = PathBuffer::default();
        self.path_into(market, k, &mut buffer)?;
        Ok(buffer.market)
    }

    /// Path number `k` of `market`, built in `buffer.market` (the same as [`MonteCarlo::path`]).
    pub fn path_into(
        &self,
        market: &MarketData,
        k: usize,
        buffer: &mut PathBuffer,
    ) -> Result<(), String> {
        match self.method {
            Method::BlockBootstrap { block } => {
                check_gap_free(market)?;
                let n = market.clock.len();
                bootstrap_indices_into(&mut buffer.mapping, n, block, self.seed, k);
                resample_into(market, buffer);
            }
            Method::Synth => buffer.market = synth_path(market, self.seed, k)?,
        }
        Ok(())
    }
}

/// A path's market and the scratch it is built with, kept by a worker from one path to the
/// next. A path is as long as the history; allocating its dozen columns afresh for every
/// path cost a page fault for every 4 KB written (a fifth of a 200-path sweep's CPU time,
/// spent in the kernel). Columns are cleared and refilled, keeping their capacity.
#[derive(Clone, Debug, Default)]
pub struct PathBuffer {
    pub market: MarketData,
    /// history bar of each path bar
    mapping: Vec<u32>,
    /// per path bar, the factor its prices are scaled by
    scales: Vec<f64>,
    /// per history bar, the funding rate in force
    in_force: Vec<f64>,
}

/// The bootstrap needs every symbol to have a bar at every step.
pub fn check_gap_free(market: &MarketData) -> Result<(), String> {
    let n = market.clock.len();
    match market.symbols.iter().find(|s| s.candles.len() != n) {
        Some(s) => Err(format!(
            "the block bootstrap needs every symbol to have a bar at every time; {} has {} of {n}",
            s.symbol,
            s.candles.len()
        )),
        None if n < 2 => Err("the block bootstrap needs at least two bars".into()),
        None => Ok(()),
    }
}

/// A path's random stream: the sweep's seed and the path number, mixed.
fn rng_for(seed: u64, path: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(path as u64);
    rng
}

/// Source bar of each path bar (stationary bootstrap). Bar 0 is the history's first bar
/// (the path's anchor); later bars are drawn from 1..n, so each has a previous close.
pub fn bootstrap_indices(n: usize, mean_block: f64, seed: u64, path: usize) -> Vec<u32> {
    let mut out = Vec::new();
    bootstrap_indices_into(&mut out, n, mean_block, seed, path);
    out
}

/// [`bootstrap_indices`] into `out` (cleared first).
fn bootstrap_indices_into(out: &mut Vec<u32>, n: usize, mean_block: f64, seed: u64, path: usize) {
    let mut rng = rng_for(seed, path);
    let p_new = 1.0 / mean_block.max(1.0);
    out.clear();
    out.reserve(n);
    out.push(0u32);
    let mut j = 0usize;
    for i in 1..n {
        j = if i == 1 || rng.random::<f64>() < p_new || j + 1 >= n {
            rng.random_range(1..n)
        } else {
            j + 1
        };
        out.push(j as u32);
    }
}

/// The market whose bar `i` is history bar `mapping[i]`, compounded from the first close.
pub fn resample(market: &MarketData, mapping: &[u32]) -> MarketData {
    let mut buffer = PathBuffer {
        mapping: mapping.to_vec(),
        ..PathBuffer::default()
    };
    resample_into(market, &mut buffer);
    buffer.market
}

/// [`resample`] of `buffer.mapping` into `buffer.market`, reusing its columns. Every symbol
/// of a gap-free `market` has a bar at every step, and so has every path: the clock and the
/// bar index are the history's.
fn resample_into(market: &MarketData, buffer: &mut PathBuffer) {
    let PathBuffer {
        market: path,
        mapping,
        scales,
        in_force,
    } = buffer;
    let n = mapping.len();
    path.clock.clear();
    path.clock.extend_from_slice(&market.clock[..n]);
    path.bar_at.clone_from(&market.bar_at);
    for b in &mut path.bar_at {
        b.truncate(n);
    }
    if path.symbols.len() != market.symbols.len() {
        path.symbols = market
            .symbols
            .iter()
            .map(|h| Arc::new(empty_like(h)))
            .collect();
    }
    for (h, slot) in market.symbols.iter().zip(&mut path.symbols) {
        let out = Arc::make_mut(slot);
        out.symbol.clone_from(&h.symbol);
        out.timeframe = h.timeframe;
        out.mark_source = h.mark_source;
        out.funding_dropped = 0;
        resample_symbol(h, mapping, &market.clock[..n], out, scales, in_force);
    }
}

/// A history with `h`'s name and kind and no bars.
fn empty_like(h: &SymbolHistory) -> SymbolHistory {
    SymbolHistory {
        symbol: h.symbol.clone(),
        timeframe: h.timeframe,
        candles: Candles::default(),
        mark: MarkColumns::default(),
        mark_source: h.mark_source,
        funding: AlignedFunding::default(),
        funding_dropped: 0,
        detail: None,
    }
}

/// Refills `out`'s columns with `h` resampled by `mapping` on `clock`; `scales` and
/// `in_force` are scratch.
fn resample_symbol(
    h: &SymbolHistory,
    mapping: &[u32],
    clock: &[i64],
    out: &mut SymbolHistory,
    scales: &mut Vec<f64>,
    in_force: &mut Vec<f64>,
) {
    let (c, m) = (&h.candles, &h.mark);
    path_scales(&c.close, mapping, scales);
    // column by column, each refilled from an iterator of known length (no per-row
    // capacity check)
    let scaled = |into: &mut Vec<f64>, column: &[f64]| {
        into.clear();
        into.extend(
            mapping
                .iter()
                .zip(scales.iter())
                .map(|(&j, scale)| column[j as usize] * scale),
        );
    };
    let candles = &mut out.candles;
    candles.open_time.clear();
    candles.open_time.extend_from_slice(clock);
    scaled(&mut candles.open, &c.open);
    scaled(&mut candles.high, &c.high);
    scaled(&mut candles.low, &c.low);
    scaled(&mut candles.close, &c.close);
    candles.volume.clear();
    candles
        .volume
        .extend(mapping.iter().map(|&j| c.volume[j as usize]));
    let mark = &mut out.mark;
    scaled(&mut mark.open, &m.open);
    scaled(&mut mark.high, &m.high);
    scaled(&mut mark.low, &m.low);
    scaled(&mut mark.close, &m.close);
    resample_detail(h, mapping, scales, &mut out.detail);
    // the rate in force at each history bar, then the history's schedule with those rates
    let f = &h.funding;
    in_force.clear();
    in_force.resize(c.len(), 0.0);
    let mut k = 0;
    let mut rate = f.due.first().map_or(0.0, |d| d.rate);
    for (j, slot) in in_force.iter_mut().enumerate() {
        while k < f.len() && (f.bar[k] as usize) <= j {
            rate = f.due[k].rate;
            k += 1;
        }
        *slot = rate;
    }
    let n = mapping.len();
    let funding = &mut out.funding;
    funding.clear();
    for k in 0..f.len() {
        let bar = f.bar[k] as usize;
        if bar < n {
            let (time, rate) = (f.due[k].time, in_force[mapping[bar] as usize]);
            let mark = mark.open[bar];
            funding.push(f.bar[k], Settlement { time, rate, mark });
        }
    }
}

/// A path bar's finer bars (`data.detail`): its source bar's, scaled by the same factor, so
/// the path keeps each bar's intrabar shape.
fn resample_detail(h: &SymbolHistory, mapping: &[u32], scales: &[f64], out: &mut Option<Detail>) {
    let Some(d) = &h.detail else {
        *out = None;
        return;
    };
    let o = out.get_or_insert_with(|| d.clone_empty());
    o.last.clear();
    o.mark.clear();
    let times = |b: &Ohlc, k: f64| Ohlc {
        open: b.open * k,
        high: b.high * k,
        low: b.low * k,
        close: b.close * k,
    };
    for (&j, &scale) in mapping.iter().zip(scales) {
        let (last, mark) = d.of(j as usize);
        o.last.extend(last.iter().map(|b| times(b, scale)));
        o.mark.extend(mark.iter().map(|b| times(b, scale)));
    }
}

/// The factor each path bar's prices are scaled by: 1 for bar 0, which is copied; each later
/// bar is scaled so that its source bar's return over its own previous close starts from
/// the path's previous close.
fn path_scales(close: &[f64], mapping: &[u32], scales: &mut Vec<f64>) {
    let mut prev = close[0];
    scales.clear();
    scales.extend(mapping.iter().enumerate().map(|(i, &j)| {
        let j = j as usize;
        let scale = if i == 0 { 1.0 } else { prev / close[j - 1] };
        prev = close[j] * scale;
        scale
    }));
}

/// Annualised volatility of log returns of `closes` on bars of `timeframe`.
fn annual_vol(closes: &[f64], timeframe: Timeframe) -> f64 {
    let r: Vec<f64> = closes.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    let n = r.len().max(2) as f64;
    let mean = r.iter().sum::<f64>() / n;
    let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let bars_a_year = 365.0 * 86_400_000.0 / timeframe.ms() as f64;
    (var * bars_a_year).sqrt()
}

fn synth_path(market: &MarketData, seed: u64, k: usize) -> Result<MarketData, String> {
    let first = market.symbols.first().ok_or("no symbols")?;
    let tf = first.timeframe;
    let base_vol = annual_vol(&first.candles.close, tf).max(1e-6);
    let symbols: Vec<SynthSymbol> = market
        .symbols
        .iter()
        .map(|h| {
            let mut s = SynthSymbol::parse(&format!("{}:{}", h.symbol, h.candles.close[0]))?;
            s.vol_scale = annual_vol(&h.candles.close, tf) / base_vol;
            Ok(s)
        })
        .collect::<Result<_, String>>()?;
    let correlation = if market.symbols.len() > 1 {
        correlation(
            &market.symbols[0].candles.close,
            &market.symbols[1].candles.close,
        )
        .clamp(0.0, 0.99)
    } else {
        0.0
    };
    let span = market.clock.last().copied().unwrap_or(0) - market.clock[0] + tf.ms();
    let config = SynthConfig {
        seed: seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(k as u64),
        start: market.clock[0],
        days: ((span + 86_399_999) / 86_400_000).max(1) as u32,
        timeframe: tf,
        symbols,
        correlation,
        annual_vol: base_vol,
        ..SynthConfig::default()
    };
    let generated = synth::generate(&config)?;
    let histories = generated
        .series
        .iter()
        .zip(&market.symbols)
        .map(|(s, h)| synth_history(s, h, tf))
        .collect();
    Ok(MarketData::new(histories))
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let ra: Vec<f64> = a.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    let rb: Vec<f64> = b.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    let n = ra.len().min(rb.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut c, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        c += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    if va > 0.0 && vb > 0.0 {
        c / (va * vb).sqrt()
    } else {
        0.0
    }
}

fn synth_history(
    s: &synth::SynthSeries,
    like: &Arc<SymbolHistory>,
    tf: Timeframe,
) -> SymbolHistory {
    SymbolHistory {
        mark_source: like.mark_source,
        ..s.history(&like.symbol, tf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::MarkSource;

    fn market(closes: &[f64]) -> MarketData {
        let mut candles = Candles::default();
        let mut mark = MarkColumns::default();
        let mut prev = closes[0];
        for (i, &c) in closes.iter().enumerate() {
            let (hi, lo) = (prev.max(c) * 1.01, prev.min(c) * 0.99);
            candles.push(i as i64 * 3_600_000, prev, hi, lo, c, 1.0);
            mark.open.push(prev);
            mark.high.push(hi);
            mark.low.push(lo);
            mark.close.push(c * 1.001);
            prev = c;
        }
        let mut funding = AlignedFunding::default();
        let due = |time, rate, mark| Settlement { time, rate, mark };
        funding.push(0, due(0, 0.0001, closes[0]));
        funding.push(8, due(8 * 3_600_000, -0.002, closes[7]));
        MarketData::new(vec![SymbolHistory {
            symbol: "X".into(),
            timeframe: Timeframe::HOUR,
            candles,
            mark,
            mark_source: MarkSource::MarkCandles,
            funding,
            funding_dropped: 0,
            detail: None,
        }])
    }

    #[test]
    fn a_path_bar_carries_its_source_bars_detail_scaled_with_it() {
        // three hourly bars, each with two half-hour bars (last and mark alike)
        let m = market(&[100.0, 110.0, 99.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0]);
        let mut h = (*m.symbols[0]).clone();
        let half = |o: f64| Ohlc {
            open: o,
            high: o + 2.0,
            low: o - 1.0,
            close: o + 1.0,
        };
        let mut fine: Vec<Ohlc> = [100.0, 101.0, 110.0, 111.0, 99.0, 98.0].map(half).to_vec();
        fine.resize(18, half(100.0));
        h.detail = Some(Detail {
            timeframe: Timeframe::parse("30m").unwrap(),
            per_bar: 2,
            last: fine.clone(),
            mark: fine,
            mark_source: MarkSource::MarkCandles,
        });
        // the path takes source bars 0, 2, 1
        let mapping = [0u32, 2, 1];
        let mut out = empty_like(&h);
        let (mut scales, mut in_force) = (Vec::new(), Vec::new());
        let clock = [0, 3_600_000, 7_200_000];
        resample_symbol(&h, &mapping, &clock, &mut out, &mut scales, &mut in_force);
        let d = out.detail.as_ref().unwrap();
        // bar 1 is source bar 2 scaled so that it starts from the path's close of bar 0
        // (100): scale = 100 / close[1] = 100 / 110
        let k = 100.0 / 110.0;
        assert!((scales[1] - k).abs() < 1e-12);
        let (last, mark) = d.of(1);
        assert_eq!(last.len(), 2);
        assert!((last[0].open - 99.0 * k).abs() < 1e-9 && (last[1].low - 97.0 * k).abs() < 1e-9);
        assert_eq!(last, mark);
        // bar 0 is copied as it is
        assert_eq!(d.of(0).0[1], half(101.0));
    }

    #[test]
    fn same_seed_same_path_and_blocks_are_runs_of_consecutive_bars() {
        let a = bootstrap_indices(1000, 10.0, 7, 3);
        assert_eq!(a, bootstrap_indices(1000, 10.0, 7, 3));
        assert_ne!(a, bootstrap_indices(1000, 10.0, 7, 4));
        assert_eq!(a[0], 0);
        assert!(a[1..].iter().all(|&j| (1..1000).contains(&j)));
        // mean block length near 10: count block starts (a jump that is not j + 1)
        let starts = a.windows(2).filter(|w| w[1] != w[0] + 1).count();
        let mean = 999.0 / starts as f64;
        assert!((6.0..16.0).contains(&mean), "mean block {mean}");
    }

    #[test]
    fn a_path_carries_the_history_returns_of_its_source_bars() {
        // within a block the path's returns are the history's, in order; every path return is
        // a history return (the multiset of returns within each block is preserved)
        let closes: Vec<f64> = (0..200)
            .map(|i| 100.0 * (1.0 + 0.01 * ((i * 7) % 13) as f64))
            .collect();
        let m = market(&closes);
        let mapping = bootstrap_indices(200, 5.0, 1, 0);
        let p = resample(&m, &mapping);
        let (c, pc) = (&m.symbols[0].candles, &p.symbols[0].candles);
        for (i, &j) in mapping.iter().enumerate().skip(1) {
            let j = j as usize;
            let want = c.close[j] / c.close[j - 1];
            let got = pc.close[i] / pc.close[i - 1];
            assert!((want - got).abs() < 1e-12, "bar {i}");
            // the range and the mark/last spread come along
            assert!((pc.high[i] / pc.close[i] - c.high[j] / c.close[j]).abs() < 1e-12);
            let spread = p.symbols[0].mark.close[i] / pc.close[i];
            assert!((spread - 1.001).abs() < 1e-12);
            assert!(
                pc.low[i] <= pc.open[i].min(pc.close[i])
                    && pc.high[i] >= pc.open[i].max(pc.close[i])
            );
        }
        // the settlement at bar 8 takes the rate in force at its source bar
        let f = &p.symbols[0].funding;
        assert_eq!(f.bar, vec![0, 8]);
        let expect = if mapping[8] >= 8 { -0.002 } else { 0.0001 };
        assert_eq!(f.due[1].rate, expect);
    }

    #[test]
    fn synth_paths_follow_the_history_start_and_volatility() {
        // a random walk with 1 % hourly moves: about 0.01 × √8760 = 94 % a year
        let mut x = 100.0;
        let closes: Vec<f64> = (0..24 * 60)
            .map(|i| {
                x *= if (i * 7919) % 13 < 6 {
                    1.01
                } else {
                    1.0 / 1.01
                };
                x
            })
            .collect();
        let m = market(&closes);
        let mc = MonteCarlo {
            paths: 2,
            method: Method::Synth,
            seed: 5,
            ruin_levels: vec![0.5],
        };
        let (a, b) = (mc.path(&m, 0).unwrap(), mc.path(&m, 1).unwrap());
        let c = &a.symbols[0].candles;
        assert_eq!(a.symbols[0].symbol, "X");
        assert!(c.len() >= closes.len(), "{} bars", c.len());
        assert_eq!(c.open_time[0], 0);
        assert!(
            (c.open[0] / closes[0] - 1.0).abs() < 0.01,
            "starts at the history's first close"
        );
        let fitted = annual_vol(&c.close, Timeframe::HOUR);
        let history = annual_vol(&closes, Timeframe::HOUR);
        assert!(
            (fitted / history - 1.0).abs() < 0.5,
            "vol {fitted} vs history {history}"
        );
        assert_ne!(a.symbols[0].candles.close, b.symbols[0].candles.close);
        assert_eq!(mc.path(&m, 0).unwrap().symbols[0].candles.close, c.close);
    }

    #[test]
    fn the_table_is_checked() {
        let t: toml::Table = toml::from_str("paths = 10\nmethod = \"bootstrap\"").unwrap();
        assert_eq!(MonteCarlo::parse(&t).unwrap_err().0, "method");
        let t: toml::Table = toml::from_str("paths = 10\nblocks = 3").unwrap();
        assert_eq!(MonteCarlo::parse(&t).unwrap_err().0, "blocks");
        let t: toml::Table = toml::from_str("paths = 10\nruin_levels = [1.5]").unwrap();
        assert_eq!(MonteCarlo::parse(&t).unwrap_err().0, "ruin_levels");
        let t: toml::Table = toml::from_str("paths = 10").unwrap();
        let mc = MonteCarlo::parse(&t).unwrap();
        assert_eq!(mc.method, Method::BlockBootstrap { block: 24.0 });
        assert_eq!(mc.ruin_levels, vec![0.5, 0.1]);
    }
}
