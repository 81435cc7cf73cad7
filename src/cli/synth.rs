//! `perpsim synth`: writes a synthetic market in Binance Vision layout.

use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::data::synth::{self, SynthConfig, SynthSymbol};
use crate::data::time::{format_utc, parse_date};
use crate::market::Timeframe;

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Directory to write into (created if missing)
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed: the same seed and options give byte-identical files
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First bar's open time (UTC), e.g. 2024-01-01
    #[arg(long, default_value = "2024-01-01")]
    pub start: String,
    /// Length of the history in days
    #[arg(long, default_value_t = 730)]
    pub days: u32,
    /// Bar timeframe, e.g. 1m, 15m, 1h
    #[arg(long, default_value = "1h")]
    pub timeframe: String,
    /// A symbol as NAME:START_PRICE[:VOL_SCALE]; repeatable (default: BTCUSDT:42000 and ETHUSDT:2300:1.3)
    #[arg(long = "symbol", value_name = "NAME:PRICE[:VOL]")]
    pub symbols: Vec<String>,
    /// Pairwise correlation of the symbols' returns, in [0, 1)
    #[arg(long, default_value_t = 0.8)]
    pub correlation: f64,
    /// Long-run annualised volatility of the first symbol (0.55 = 55 %)
    #[arg(long, default_value_t = 0.55)]
    pub vol: f64,
    /// Expected crashes (20-35 % falls within a day) per year
    #[arg(long, default_value_t = 1.0)]
    pub crashes_per_year: f64,
    /// At least this many crashes, whatever the random draw
    #[arg(long, default_value_t = 1)]
    pub min_crashes: u32,
    /// Expected short squeezes (10-25 % rises within hours) per year
    #[arg(long, default_value_t = 1.0)]
    pub squeezes_per_year: f64,
    /// Funding rate cap per settlement (0.003 = 0.3 %)
    #[arg(long, default_value_t = 0.003)]
    pub funding_cap: f64,
    /// Write each file as a zip holding one CSV, as Binance Vision does
    #[arg(long)]
    pub zip: bool,
}

pub fn run(args: SynthArgs) -> Result<(), Failure> {
    let start = parse_date(&args.start).ok_or_else(|| {
        Failure::Usage(format!(
            "--start '{}' is not a date like 2024-01-01",
            args.start
        ))
    })?;
    let timeframe = Timeframe::parse(&args.timeframe).ok_or_else(|| {
        Failure::Usage(format!(
            "--timeframe '{}' is not a timeframe; use one of {}",
            args.timeframe,
            Timeframe::known_names()
        ))
    })?;
    let mut config = SynthConfig {
        seed: args.seed,
        start,
        days: args.days,
        timeframe,
        correlation: args.correlation,
        annual_vol: args.vol,
        crashes_per_year: args.crashes_per_year,
        min_crashes: args.min_crashes,
        squeezes_per_year: args.squeezes_per_year,
        funding_cap: args.funding_cap,
        ..SynthConfig::default()
    };
    if !args.symbols.is_empty() {
        config.symbols = args
            .symbols
            .iter()
            .map(|s| SynthSymbol::parse(s))
            .collect::<Result<_, _>>()
            .map_err(Failure::Usage)?;
    }
    let market = synth::generate(&config).map_err(Failure::Usage)?;
    let files = synth::write(&market, &config, &args.out, args.zip)?;
    for file in &files {
        outln!("wrote {}", file.display());
    }
    for e in &market.events {
        let when = format_utc(
            config.start - config.start.rem_euclid(timeframe.ms())
                + e.start as i64 * timeframe.ms(),
        );
        outln!(
            "event: {:?} {:+.1} % over {} bars from {when}",
            e.kind,
            e.size * 100.0,
            e.bars
        );
    }
    Ok(())
}
