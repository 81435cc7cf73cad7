//! Run specs (`strategies/*.toml`), in two stages: [`RawSpec`] is exactly what the user wrote
//! (serde; an unknown key is an error naming the key, its line and the closest valid key), and
//! [`RunSpec`] is the checked run (ranges, files, timeframe, strategy parameters) that alone
//! reaches the engine. Every error names the file, the line and the field.
//!
//! Paths inside a spec are relative to the spec file's folder, so a spec runs the same from
//! any working directory.

mod locate;

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde::Deserialize;

use crate::data::check::GapPolicy;
use crate::data::error::DataError;
use crate::data::{LoadOptions, SymbolSource};
use crate::exchange::account::MarginMode;
use crate::exchange::fill::{PathOrder, Slippage};
use crate::instrument::{InstrumentSpec, Instruments};
use crate::keys::{self, KeyFault};
use crate::market::{MarketData, Timeframe};
use crate::risk::config::{RawRisk, RiskConfig};
use crate::strategy::{self, Build};

pub use locate::{line_of_key, line_of_key_or_table, line_of_offset};

/// A spec error: where and what.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error(
    "{file}{}: {}{message}",
    line.map(|l| format!(":{l}")).unwrap_or_default(),
    if field.is_empty() { String::new() } else { format!("{field}: ") }
)]
pub struct SpecError {
    pub file: String,
    /// 1-based; `None` when the field was not written (a required one is missing)
    pub line: Option<usize>,
    /// dotted path, e.g. `risk.max_leverage`
    pub field: String,
    pub message: String,
}

/// The spec as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpec {
    pub name: String,
    pub data: RawData,
    #[serde(default)]
    pub account: RawAccount,
    #[serde(default)]
    pub exchange: RawExchange,
    pub strategy: toml::Table,
    #[serde(default)]
    pub risk: RawRisk,
    /// the sweep's grid (read by `perpsim sweep`)
    pub sweep: Option<toml::Table>,
    #[serde(default)]
    pub report: RawReport,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    /// resample to this timeframe ("1h"); default: the files' own
    pub timeframe: Option<String>,
    /// first bar (date or ISO time, UTC), inclusive
    pub from: Option<String>,
    /// end (date or ISO time, UTC), exclusive
    pub to: Option<String>,
    /// "fail" (default) or "allow"
    pub gaps: Option<String>,
    /// walk each bar's path from bars of this finer timeframe ("1m")
    pub detail: Option<String>,
    pub symbols: Vec<RawSymbol>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSymbol {
    pub symbol: String,
    pub candles: String,
    pub mark: Option<String>,
    pub funding: Option<String>,
    /// last-price candles for `data.detail` (default: `candles`)
    pub detail_candles: Option<String>,
    /// mark-price candles for `data.detail` (default: `mark`, when fine enough)
    pub detail_mark: Option<String>,
    /// the columns of files whose header perpsim does not recognise, e.g.
    /// `{ time = "startTime", open = "openPrice" }` (the fields of `data check --column`)
    pub columns: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    /// USDT
    pub balance: Option<f64>,
    pub margin_mode: Option<MarginMode>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExchange {
    /// instrument file; default: the shipped Binance USDⓈ-M brackets
    pub instruments: Option<String>,
    /// a shipped venue's instrument file instead: "binance" or "bybit"
    pub venue: Option<String>,
    /// fractions, overriding the instrument file's
    pub maker_fee: Option<f64>,
    pub taker_fee: Option<f64>,
    pub slippage: Option<Slippage>,
    pub path: Option<PathOrder>,
    pub margin_call_ratio: Option<f64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    /// a title for the report (default: the spec's name)
    pub title: Option<String>,
    /// a sweep's heatmap axes: swept paths (default: leverage × a sizing parameter)
    pub heatmap_x: Option<String>,
    pub heatmap_y: Option<String>,
    /// fraction: a sweep's survival limit, the share of paths liquidated or ruined ≤ this
    /// (default 0.01; `max_p_liquidation`, its name before it counted ruin, still reads)
    #[serde(alias = "max_p_liquidation")]
    pub max_p_failure: Option<f64>,
    /// a sweep's configurations that get their own run report (default 3)
    pub top: Option<usize>,
}

impl RawReport {
    /// The settings with their defaults; errors are `(key, message)`.
    pub fn options(&self) -> Result<ReportOptions, (String, String)> {
        let defaults = ReportOptions::default();
        let max_p_failure = self.max_p_failure.unwrap_or(defaults.max_p_failure);
        if !(0.0..=1.0).contains(&max_p_failure) {
            return Err((
                "max_p_failure".into(),
                format!("{max_p_failure}: must be a fraction in [0, 1], e.g. 0.01"),
            ));
        }
        Ok(ReportOptions {
            heatmap_x: self.heatmap_x.clone(),
            heatmap_y: self.heatmap_y.clone(),
            max_p_failure,
            top: self.top.unwrap_or(defaults.top),
        })
    }
}

/// `[report]` settings for a sweep's report (see `report::sweep_page`); a run uses only
/// the title.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOptions {
    /// swept paths for the heatmaps' axes; default: the leverage path and a sizing path
    pub heatmap_x: Option<String>,
    pub heatmap_y: Option<String>,
    /// fraction: the survival limit, the share of paths liquidated or ruined ≤ this
    pub max_p_failure: f64,
    /// configurations that get their own run report
    pub top: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            heatmap_x: None,
            heatmap_y: None,
            max_p_failure: 0.01,
            top: 3,
        }
    }
}

/// A checked run: what the engine needs, and nothing unchecked.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub name: String,
    /// the spec file
    pub file: PathBuf,
    pub symbols: Vec<SymbolSource>,
    pub load: LoadOptions,
    /// USDT
    pub balance: Decimal,
    pub margin_mode: MarginMode,
    /// per symbol, fee overrides applied
    pub instruments: Vec<InstrumentSpec>,
    /// the instrument file's name (the shipped one's, or the spec's `exchange.instruments`)
    pub instrument_source: String,
    /// symbols the file does not list: its generic `[default]` stands in for them (tick,
    /// lot, fees and brackets not their own), which the terminal and the report say
    pub unlisted: Vec<String>,
    pub slippage: Slippage,
    pub path: PathOrder,
    /// fraction
    pub margin_call_ratio: f64,
    pub strategy_kind: String,
    pub strategy_params: toml::Table,
    pub risk: RiskConfig,
    pub sweep: Option<toml::Table>,
    pub title: String,
    pub report: ReportOptions,
}

/// Where a spec's text came from, for error lines.
pub struct Source<'a> {
    pub file: &'a Path,
    /// the text, when the spec was read from a file (absent for a spec built in memory, such
    /// as a sweep's grid point, whose errors then carry no line)
    pub text: Option<&'a str>,
}

impl Source<'_> {
    fn error(&self, field: &str, message: impl Into<String>) -> SpecError {
        SpecError {
            file: self.file.display().to_string(),
            line: self.text.and_then(|t| line_of_key_or_table(t, field)),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Relative paths are taken from the spec file's folder.
    fn resolve(&self, path: &str) -> String {
        let p = Path::new(path);
        if p.is_absolute() {
            return path.to_string();
        }
        match self.file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(p).display().to_string(),
            _ => path.to_string(),
        }
    }
}

impl RunSpec {
    /// The warning for symbols that take the instrument file's generic `[default]`, if any.
    pub fn unlisted_note(&self) -> Option<String> {
        (!self.unlisted.is_empty()).then(|| {
            format!(
                "{} not listed in {}: its generic [default] instrument stands in (tick, lot, \
                 fees and margin brackets not the symbol's own; point `exchange.instruments` at \
                 a file that lists it)",
                self.unlisted.join(", "),
                self.instrument_source
            )
        })
    }

    /// Loads the spec's history: each symbol checked, resampled and aligned, on one clock.
    pub fn load_market(&self) -> Result<MarketData, DataError> {
        let mut histories = Vec::with_capacity(self.symbols.len());
        for source in &self.symbols {
            histories.push(crate::data::load_symbol(source, &self.load)?);
        }
        if let Some(first) = histories.first()
            && let Some(other) = histories.iter().find(|h| h.timeframe != first.timeframe)
        {
            return Err(DataError::Layout {
                file: other.symbol.clone(),
                message: format!(
                    "{} bars are {} but {} bars are {}: set data.timeframe to resample them alike",
                    other.symbol, other.timeframe, first.symbol, first.timeframe
                ),
            });
        }
        Ok(MarketData::new(histories))
    }
}

/// Reads and checks a spec file.
pub fn read(file: &Path) -> Result<RunSpec, SpecError> {
    parse(&read_text(file)?, file)
}

/// The largest spec read: specs are a few KB, and a wrong path (a data file, a device) must
/// not be read whole before it is refused.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// A spec file's text, refused past [`MAX_SPEC_BYTES`] or when it is not UTF-8.
pub fn read_text(file: &Path) -> Result<String, SpecError> {
    let error = |message: String| SpecError {
        file: file.display().to_string(),
        line: None,
        field: String::new(),
        message,
    };
    let f = std::fs::File::open(file).map_err(|e| error(format!("cannot read the spec: {e}")))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_SPEC_BYTES + 1), &mut bytes)
        .map_err(|e| error(format!("cannot read the spec: {e}")))?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(error(format!(
            "longer than {} MiB: not a spec (a spec is a few KB of TOML)",
            MAX_SPEC_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = line_of_offset(&String::from_utf8_lossy(e.as_bytes()), at);
        SpecError {
            line: Some(line),
            ..error("not UTF-8 text".into())
        }
    })
}

/// Parses and checks a spec's text; `file` names it in errors and anchors relative paths.
pub fn parse(text: &str, file: &Path) -> Result<RunSpec, SpecError> {
    let source = Source {
        file,
        text: Some(text),
    };
    let raw = parse_raw(text, file)?;
    raw.check(&source)
}

/// The first stage alone: serde over the text, unknown keys refused with a suggestion.
pub fn parse_raw(text: &str, file: &Path) -> Result<RawSpec, SpecError> {
    toml::from_str(text).map_err(|e| toml_error(&e, text, file))
}

/// A serde/TOML error as a [`SpecError`]: line from the span, the field from the table
/// around it, and for an unknown key the closest valid one.
pub fn toml_error(e: &toml::de::Error, text: &str, file: &Path) -> SpecError {
    let message = e.message().trim().to_string();
    // an empty span is the document's own: a key missing at the top has no line
    let span = e.span().filter(|s| !s.is_empty());
    let line = span.as_ref().map(|s| line_of_offset(text, s.start));
    let table = span
        .as_ref()
        .map(|s| locate::table_at(text, s.start))
        .unwrap_or_default();
    // the key a value (or an inline table) was written under, when it is on the value's line
    let under = span
        .as_ref()
        .and_then(|s| locate::key_at(text, s.start))
        .map_or_else(|| table.clone(), |k| join(&table, &k));
    let fault =
        if keys::unknown_field(&message).is_some() || keys::missing_field(&message).is_some() {
            keys::fault(&under, &message)
        } else {
            KeyFault {
                key: under,
                message,
            }
        };
    SpecError {
        file: file.display().to_string(),
        line,
        field: fault.key,
        message: fault.message,
    }
}

fn join(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    }
}

impl RawSpec {
    /// The second stage: every value checked.
    pub fn check(&self, src: &Source) -> Result<RunSpec, SpecError> {
        if self.name.trim().is_empty() || self.name.contains(['/', '\\']) {
            return Err(src.error("name", "must be a non-empty name without slashes"));
        }
        let (symbols, load) = self.data.check(src)?;
        let balance = self.account.balance.unwrap_or(10_000.0);
        let balance = Decimal::from_f64(balance)
            .filter(|b| *b > Decimal::ZERO && balance.is_finite())
            .ok_or_else(|| src.error("account.balance", format!("{balance}: must be > 0")))?;
        let (instruments, instrument_source, unlisted) =
            self.exchange.instruments(src, &symbols)?;
        let margin_call_ratio = self.exchange.margin_call_ratio.unwrap_or(0.8);
        if !(margin_call_ratio > 0.0 && margin_call_ratio <= 1.0) {
            return Err(src.error(
                "exchange.margin_call_ratio",
                format!("{margin_call_ratio}: must be in (0, 1]"),
            ));
        }
        let slippage = self.exchange.slippage.unwrap_or_default();
        check_slippage(&slippage).map_err(|m| src.error("exchange.slippage", m))?;
        let risk = self
            .risk
            .resolve()
            .map_err(|e| src.error(&format!("risk.{}", e.field), e.message))?;
        let (kind, params) = self.strategy_table(src)?;
        let names: Vec<String> = symbols.iter().map(|s| s.symbol.clone()).collect();
        let build = Build {
            params: &params,
            symbols: &names,
            max_leverage: risk.max_leverage,
            spec_dir: src.file.parent(),
        };
        let builder =
            strategy::builder(&kind).map_err(|e| src.error("strategy.kind", e.message))?;
        builder(&build).map_err(|e| src.error(&join("strategy", &e.key), e.message))?;
        Ok(RunSpec {
            name: self.name.clone(),
            file: src.file.to_path_buf(),
            symbols,
            load,
            balance,
            margin_mode: self.account.margin_mode.unwrap_or(MarginMode::Isolated),
            instruments,
            instrument_source,
            unlisted,
            slippage,
            path: self.exchange.path.unwrap_or_default(),
            margin_call_ratio,
            strategy_kind: kind,
            strategy_params: params,
            risk,
            sweep: self.sweep.clone(),
            title: self
                .report
                .title
                .clone()
                .unwrap_or_else(|| self.name.clone()),
            report: self
                .report
                .options()
                .map_err(|(key, message)| src.error(&format!("report.{key}"), message))?,
        })
    }

    /// `kind` and the parameters without it.
    fn strategy_table(&self, src: &Source) -> Result<(String, toml::Table), SpecError> {
        let mut params = self.strategy.clone();
        match params.remove("kind") {
            Some(toml::Value::String(kind)) => Ok((kind, params)),
            Some(other) => Err(src.error(
                "strategy.kind",
                format!("expected a strategy name, found {other}"),
            )),
            None => Err(src.error("strategy", "missing `kind` (the strategy's name)")),
        }
    }
}

fn check_slippage(s: &Slippage) -> Result<(), String> {
    let ok = |x: f64| x.is_finite() && x >= 0.0;
    match *s {
        Slippage::None => Ok(()),
        Slippage::FixedBps { bps } if ok(bps) => Ok(()),
        Slippage::RangeFraction { fraction, max_bps } if ok(fraction) && ok(max_bps) => Ok(()),
        _ => Err("slippage amounts must be finite and ≥ 0".into()),
    }
}

impl RawData {
    fn check(&self, src: &Source) -> Result<(Vec<SymbolSource>, LoadOptions), SpecError> {
        let timeframe = match &self.timeframe {
            None => None,
            Some(t) => Some(Timeframe::parse(t).ok_or_else(|| {
                src.error(
                    "data.timeframe",
                    format!(
                        "unknown timeframe {t:?}; known: {}",
                        Timeframe::known_names()
                    ),
                )
            })?),
        };
        let detail = match &self.detail {
            None => None,
            Some(t) => {
                let fine = Timeframe::parse(t).ok_or_else(|| {
                    src.error(
                        "data.detail",
                        format!(
                            "unknown timeframe {t:?}; known: {}",
                            Timeframe::known_names()
                        ),
                    )
                })?;
                if let Some(tf) = timeframe
                    && (fine.ms() >= tf.ms() || tf.ms() % fine.ms() != 0)
                {
                    return Err(src.error(
                        "data.detail",
                        format!("{fine} must be finer than data.timeframe = {tf} and divide it"),
                    ));
                }
                Some(fine)
            }
        };
        let date = |field: &str, text: &Option<String>| -> Result<Option<i64>, SpecError> {
            text.as_deref()
                .map(|t| {
                    crate::data::time::parse_text_time(t).ok_or_else(|| {
                        src.error(
                            field,
                            format!("{t:?} is not a date (2024-01-01) or ISO time"),
                        )
                    })
                })
                .transpose()
        };
        let (from, to) = (date("data.from", &self.from)?, date("data.to", &self.to)?);
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(src.error("data.to", "must be after data.from"));
        }
        let gaps = match self.gaps.as_deref() {
            None | Some("fail") => GapPolicy::Fail,
            Some("allow") => GapPolicy::Allow,
            Some(other) => {
                return Err(src.error(
                    "data.gaps",
                    format!("{other:?}: expected \"fail\" or \"allow\""),
                ));
            }
        };
        if self.symbols.is_empty() {
            return Err(src.error("data.symbols", "name at least one symbol"));
        }
        let mut symbols: Vec<SymbolSource> = Vec::new();
        for (i, s) in self.symbols.iter().enumerate() {
            if symbols.iter().any(|x| x.symbol == s.symbol) {
                return Err(src.error(
                    "data.symbols.symbol",
                    format!("{} is listed twice", s.symbol),
                ));
            }
            let path = |field: &str, p: &str| -> Result<String, SpecError> {
                let resolved = src.resolve(p);
                if exists(&resolved) {
                    Ok(resolved)
                } else {
                    Err(src.error(
                        &format!("data.symbols.{field}"),
                        format!(
                            "symbol #{} ({}): no file matches {resolved:?}",
                            i + 1,
                            s.symbol
                        ),
                    ))
                }
            };
            let mut columns = crate::data::layout::ColumnNames::default();
            for (field, name) in s.columns.iter().flatten() {
                columns
                    .set(&format!("{field}={name}"))
                    .map_err(|m| src.error(&format!("data.symbols.columns.{field}"), m))?;
            }
            symbols.push(SymbolSource {
                columns,
                symbol: s.symbol.clone(),
                candles: path("candles", &s.candles)?,
                mark: s.mark.as_deref().map(|m| path("mark", m)).transpose()?,
                funding: s
                    .funding
                    .as_deref()
                    .map(|f| path("funding", f))
                    .transpose()?,
                detail_candles: s
                    .detail_candles
                    .as_deref()
                    .map(|f| path("detail_candles", f))
                    .transpose()?,
                detail_mark: s
                    .detail_mark
                    .as_deref()
                    .map(|f| path("detail_mark", f))
                    .transpose()?,
            });
            if detail.is_none() && (s.detail_candles.is_some() || s.detail_mark.is_some()) {
                return Err(src.error(
                    "data.symbols.detail_candles",
                    "detail files are given but data.detail (their timeframe) is not set",
                ));
            }
        }
        let load = LoadOptions {
            gaps,
            timeframe,
            from,
            to,
            detail,
            ..LoadOptions::default()
        };
        Ok((symbols, load))
    }
}

/// A file, a folder, or a glob with at least one match.
fn exists(path: &str) -> bool {
    Path::new(path).exists() || glob::glob(path).is_ok_and(|mut matches| matches.any(|m| m.is_ok()))
}

impl RawExchange {
    fn instruments(
        &self,
        src: &Source,
        symbols: &[SymbolSource],
    ) -> Result<(Vec<InstrumentSpec>, String, Vec<String>), SpecError> {
        let table = match (&self.instruments, &self.venue) {
            (Some(_), Some(_)) => {
                return Err(src.error(
                    "exchange.venue",
                    "give exchange.venue (a shipped file) or exchange.instruments (your own), \
                     not both",
                ));
            }
            (None, None) => Instruments::binance_usdm(),
            (None, Some(v)) => {
                Instruments::shipped(v).map_err(|e| src.error("exchange.venue", e))?
            }
            (Some(p), None) => Instruments::load(Path::new(&src.resolve(p)))
                .map_err(|e| src.error("exchange.instruments", e))?,
        };
        let fee = |field: &str, x: Option<f64>| -> Result<Option<Decimal>, SpecError> {
            x.map(|f| {
                Decimal::from_f64(f)
                    .filter(|_| (0.0..0.1).contains(&f))
                    .ok_or_else(|| src.error(field, format!("{f}: must be in [0, 0.1)")))
            })
            .transpose()
        };
        let maker = fee("exchange.maker_fee", self.maker_fee)?;
        let taker = fee("exchange.taker_fee", self.taker_fee)?;
        let specs = symbols
            .iter()
            .map(|s| {
                let mut spec = table
                    .get(&s.symbol)
                    .map_err(|e| src.error("data.symbols.symbol", e))?
                    .clone();
                spec.maker_fee = maker.unwrap_or(spec.maker_fee);
                if let Some(fee) = taker {
                    spec.set_taker_fee(fee);
                }
                Ok(spec)
            })
            .collect::<Result<_, SpecError>>()?;
        let unlisted = symbols
            .iter()
            .filter(|s| !table.lists(&s.symbol))
            .map(|s| s.symbol.clone())
            .collect();
        Ok((specs, table.source.clone(), unlisted))
    }
}

#[cfg(test)]
mod tests;
