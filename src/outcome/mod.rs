//! A run's figures and outcome, below the sweep and above the engine: the run itself
//! ([`run`], [`run_replaying`]), `summary.json`'s contents ([`Summary`]), its figures
//! ([`metrics`]: outcome, returns, ratios) and its trades ([`trades`]). The sweep reads a
//! configuration's figures here; `report/` only presents them (files, charts, pages).

pub mod metrics;
pub mod trades;

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::data::time::format_utc;
use crate::engine::{Engine, run_history};
use crate::exchange::account::Cause;
use crate::exchange::venue::EventKind;
use crate::market::{MarkSource, MarketData};
use crate::spec::RunSpec;
use crate::strategy::Recorded;

pub use metrics::Metrics;
pub use trades::Trade;

/// Everything a run produced.
pub struct RunResult {
    pub summary: Summary,
    pub trades: Vec<Trade>,
    pub engine: Engine,
    pub symbols: Vec<String>,
}

/// `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub name: String,
    pub title: String,
    pub strategy: String,
    pub parameters: toml::Table,
    pub symbols: Vec<String>,
    pub timeframe: String,
    /// UTC: the first bar's open and the last bar's close
    pub from: String,
    pub to: String,
    pub bars: usize,
    pub warm_up_bars: usize,
    pub margin_mode: String,
    /// which data gave the mark price, per symbol
    pub mark_price: BTreeMap<String, String>,
    /// funding settlements outside the candles (never applied), per symbol
    pub funding_dropped: BTreeMap<String, usize>,
    /// per symbol, the finer bars each bar's path was walked from (`data.detail`), with the
    /// source of their mark; absent without detail
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub detail: BTreeMap<String, String>,
    /// per symbol with dated bracket tables, the tables in force during the run, in order:
    /// `"table of <date> from <the step it took over>"`
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub brackets: BTreeMap<String, Vec<String>>,
    /// per symbol whose instrument follows another exchange's maintenance rule than
    /// Binance's (`liquidation_model`), that rule: "bybit", "okx" or "gate"
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub liquidation_model: BTreeMap<String, &'static str>,
    #[serde(flatten)]
    pub metrics: Metrics,
    /// risk-layer decisions: rule → action → count
    pub risk_events: BTreeMap<&'static str, BTreeMap<&'static str, u32>>,
    /// what the strategy has to say about the run (a signal file's rows outside the data)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Runs `spec` over `market` and gathers the results. `keep_curve` keeps the per-step
/// record (for `equity.csv` and charts); without it only the running figures are kept.
pub fn run(spec: &RunSpec, market: &MarketData, keep_curve: bool) -> RunResult {
    run_replaying(spec, market, keep_curve, None)
}

/// [`run`], with the strategy's signals played back from `recorded` when given (recorded by
/// [`crate::engine::record_signals`] for the same strategy on the same market).
pub fn run_replaying(
    spec: &RunSpec,
    market: &MarketData,
    keep_curve: bool,
    recorded: Option<Arc<Recorded>>,
) -> RunResult {
    let timeframe = market.symbols.first().map_or(60_000, |s| s.timeframe.ms());
    let mut engine = Engine::replaying(spec, timeframe, keep_curve, recorded);
    run_history(&mut engine, market);
    finish(spec, market, engine)
}

/// [`run`] with a strategy the caller built (e.g. one holding state of its own) in place of
/// the one the spec names.
pub fn run_with(
    spec: &RunSpec,
    market: &MarketData,
    keep_curve: bool,
    strategy: Box<dyn crate::strategy::Strategy>,
) -> RunResult {
    let timeframe = market.symbols.first().map_or(60_000, |s| s.timeframe.ms());
    let mut engine = Engine::with_strategy(spec, timeframe, keep_curve, strategy);
    run_history(&mut engine, market);
    finish(spec, market, engine)
}

/// Gathers a finished engine's results.
pub fn finish(spec: &RunSpec, market: &MarketData, mut engine: Engine) -> RunResult {
    engine.fill_columns(market);
    let symbols: Vec<String> = spec.symbols.iter().map(|s| s.symbol.clone()).collect();
    let last_marks: Vec<f64> = market
        .symbols
        .iter()
        .map(|h| h.mark.close.last().copied().unwrap_or(f64::NAN))
        .collect();
    let end = engine.curve.last_time;
    let trades = trades::rebuild(
        engine.venue.events(),
        engine.risk.audit().events(),
        &last_marks,
        end,
    );
    let start = spec.balance.to_f64().unwrap_or(0.0);
    let final_equity = engine.venue.snapshot().equity();
    let metrics = metrics::compute(&engine.curve, start, final_equity, &trades, counts(&engine));
    let timeframe = market
        .symbols
        .first()
        .map_or_else(String::new, |s| s.timeframe.to_string());
    let summary = Summary {
        name: spec.name.clone(),
        title: spec.title.clone(),
        strategy: spec.strategy_kind.clone(),
        parameters: spec.strategy_params.clone(),
        symbols: symbols.clone(),
        timeframe,
        from: market
            .clock
            .first()
            .map(|&t| format_utc(t))
            .unwrap_or_default(),
        to: format_utc(end),
        bars: market.clock.len(),
        warm_up_bars: engine.warm_up(),
        margin_mode: format!("{:?}", spec.margin_mode).to_lowercase(),
        mark_price: market
            .symbols
            .iter()
            .map(|h| (h.symbol.clone(), mark_source(h.mark_source)))
            .collect(),
        funding_dropped: market
            .symbols
            .iter()
            .map(|h| (h.symbol.clone(), h.funding_dropped))
            .collect(),
        detail: market
            .symbols
            .iter()
            .filter_map(|h| {
                let d = h.detail.as_ref()?;
                let text = format!("{} bars; mark: {}", d.timeframe, mark_source(d.mark_source));
                Some((h.symbol.clone(), text))
            })
            .collect(),
        brackets: brackets_used(&engine, &symbols),
        liquidation_model: symbols
            .iter()
            .zip(&spec.instruments)
            .filter(|(_, i)| i.liquidation_model != crate::instrument::LiquidationModel::Binance)
            .map(|(s, i)| (s.clone(), i.liquidation_model.name()))
            .collect(),
        metrics,
        risk_events: engine.risk.audit().counts(),
        notes: engine.strategy_notes(),
    };
    RunResult {
        summary,
        trades,
        engine,
        symbols,
    }
}

/// [`Summary::brackets`] from the engine's record.
fn brackets_used(engine: &Engine, symbols: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (s, date, from) in engine.brackets_used() {
        let line = format!("table of {date} from {}", format_utc(from));
        out.entry(symbols[s].clone()).or_default().push(line);
    }
    out
}

fn mark_source(m: MarkSource) -> String {
    match m {
        MarkSource::MarkCandles => "mark-price candles".into(),
        MarkSource::Partial { missing } => {
            format!("mark-price candles; the last price stood in for {missing} missing bars")
        }
        MarkSource::LastPrice => "last price (no mark-price history given)".into(),
    }
}

fn counts(engine: &Engine) -> metrics::Counts {
    let mut c = metrics::Counts::default();
    for e in engine.venue.events() {
        match e.kind {
            EventKind::Liquidation { .. } => c.liquidations += 1,
            EventKind::MarginCall { .. } => c.margin_calls += 1,
            _ => {}
        }
    }
    let total = |cause: Cause| -> f64 {
        engine
            .venue
            .account
            .totals_by_symbol(cause)
            .iter()
            .map(|d| d.to_f64().unwrap_or(0.0))
            .sum()
    };
    // `0.0 - x` rather than `-x`: nothing paid is 0, not −0
    c.fees_paid = 0.0 - total(Cause::Fee);
    c.funding_paid = 0.0 - total(Cause::Funding);
    c.halted = engine
        .risk
        .stopped_for_good()
        .map(|(rule, time, equity)| metrics::Halt {
            rule: rule.name(),
            time,
            utc: crate::data::time::format_utc(time),
            equity,
            // only the halt refuses by its rule, and it lasts to the end
            refused_after: engine
                .risk
                .audit()
                .count(rule, crate::risk::Action::Refused),
        });
    c
}
