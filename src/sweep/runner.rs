//! One configuration of a sweep: its historical run and its Monte Carlo paths, reduced to one
//! row of figures and a survival curve.
//!
//! Definitions (the README repeats them):
//! - a path is **liquidated** when at least one liquidation happened on it;
//! - a path is **ruined at level x** when its equity fell to x × the start or below at any
//!   step close;
//! - the **survival event** is the first liquidation or the first ruin at the deepest level
//!   (by default 10 %), whichever comes first; S(t) is the Kaplan–Meier estimate of the
//!   fraction of paths without it after t days (paths that reach the end are censored there);
//! - the **median time to first liquidation** is the Kaplan–Meier median of the time to the
//!   first liquidation alone: empty when fewer than half the paths are ever liquidated.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use super::montecarlo::{MonteCarlo, PathBuffer};
use super::stats::{Observation, kaplan_meier, median_survival, quantile};
use crate::engine::{Engine, record_signals, run_history_together};
use crate::exchange::venue::EventKind;
use crate::market::MarketData;
use crate::outcome::metrics::RUIN_FRACTION;
use crate::outcome::{self, Metrics};
use crate::spec::RunSpec;
use crate::strategy::Recorded;

const DAY: f64 = 86_400_000.0;

/// What one path (or the history) came to.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// USDT
    pub final_equity: f64,
    /// fraction of the peak
    pub max_drawdown: f64,
    pub liquidations: usize,
    /// days from the start to the first liquidation
    pub first_liquidation: Option<f64>,
    /// per ruin level: days from the start to the first ruin
    pub ruined: Vec<Option<f64>>,
    /// days from the start to equity at or below `RUIN_FRACTION` of it: the ruin that
    /// "survived" counts, whatever the ruin levels
    pub ruined_for_survival: Option<f64>,
    /// days from the start to a breaker stopping the bot for good
    pub halted: Option<f64>,
    /// days the path lasted
    pub length: f64,
}

impl Outcome {
    /// Neither liquidated nor ruined (the one meaning of "survived").
    pub fn survived(&self) -> bool {
        self.first_liquidation.is_none() && self.ruined_for_survival.is_none()
    }
}

/// Strategy signals shared between configurations on one market: per strategy (its kind
/// and parameters), the recording of [`record_signals`], or `None` for a strategy whose
/// signals depend on more than the market (each configuration then runs it itself).
#[derive(Default)]
pub struct SharedSignals {
    by_strategy: BTreeMap<String, Option<Arc<Recorded>>>,
}

/// Bytes of recorded signals a sweep keeps at most: beyond, the remaining strategies are run
/// by each configuration itself, so memory stays bounded whatever the grid's size.
const SHARED_BUDGET: usize = 64 << 20;

/// Recordings on Monte Carlo paths kept from one batch to the next, per path and strategy:
/// each path's signals are then worked out once for the whole sweep, not once per batch
/// (within their own `SHARED_BUDGET`; past it, later batches record again).
#[derive(Default)]
pub struct PathRecordings {
    kept: Mutex<BTreeMap<(usize, String), Arc<Recorded>>>,
    bytes: AtomicUsize,
}

impl SharedSignals {
    /// Records, in parallel, each strategy that at least two of `specs` use, on `market`
    /// (one spec per strategy is held meanwhile; recordings stop at `SHARED_BUDGET`).
    pub fn record(specs: impl Iterator<Item = RunSpec>, market: &MarketData) -> Self {
        Self::record_on(specs, market, None)
    }

    /// [`SharedSignals::record`] on Monte Carlo path `path`, taking what `kept` holds for it
    /// and keeping what it records.
    pub fn record_path(
        specs: impl Iterator<Item = RunSpec>,
        market: &MarketData,
        kept: &PathRecordings,
        path: usize,
    ) -> Self {
        Self::record_on(specs, market, Some((kept, path)))
    }

    fn record_on(
        specs: impl Iterator<Item = RunSpec>,
        market: &MarketData,
        kept: Option<(&PathRecordings, usize)>,
    ) -> Self {
        let mut distinct: BTreeMap<String, (RunSpec, usize)> = BTreeMap::new();
        for spec in specs {
            distinct.entry(strategy_key(&spec)).or_insert((spec, 0)).1 += 1;
        }
        let shared: Vec<(String, RunSpec)> = distinct
            .into_iter()
            .filter(|(_, (_, uses))| *uses >= 2)
            .map(|(key, (spec, _))| (key, spec))
            .collect();
        let mut by_strategy = BTreeMap::new();
        let mut bytes = 0;
        for chunk in shared.chunks(16) {
            if bytes > SHARED_BUDGET {
                break;
            }
            let recorded: Vec<(String, Option<Arc<Recorded>>)> = chunk
                .par_iter()
                .map(|(key, spec)| {
                    let known = kept.and_then(|(k, path)| k.get(path, key));
                    let r = known.or_else(|| {
                        let r = record_signals(spec, market).map(Arc::new);
                        if let (Some((k, path)), Some(r)) = (kept, &r) {
                            k.keep(path, key, r);
                        }
                        r
                    });
                    (key.clone(), r)
                })
                .collect();
            for (key, r) in recorded {
                bytes += r.as_ref().map_or(0, |r| r.bytes());
                by_strategy.insert(key, r);
            }
        }
        SharedSignals { by_strategy }
    }

    /// `spec`'s strategy's recording, if it has one.
    pub fn of(&self, spec: &RunSpec) -> Option<Arc<Recorded>> {
        self.by_strategy.get(&strategy_key(spec)).cloned().flatten()
    }
}

impl PathRecordings {
    /// Recordings kept (one per path and strategy).
    pub fn len(&self) -> usize {
        self.kept.lock().map_or(0, |k| k.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, path: usize, key: &str) -> Option<Arc<Recorded>> {
        let kept = self.kept.lock().ok()?;
        kept.get(&(path, key.to_string())).cloned()
    }

    fn keep(&self, path: usize, key: &str, recorded: &Arc<Recorded>) {
        let size = recorded.bytes();
        if self.bytes.fetch_add(size, Ordering::Relaxed) + size > SHARED_BUDGET {
            return;
        }
        if let Ok(mut kept) = self.kept.lock() {
            kept.insert((path, key.to_string()), recorded.clone());
        }
    }
}

/// What identifies a strategy's signals on a given market: its kind and its parameters.
fn strategy_key(spec: &RunSpec) -> String {
    let params = toml::to_string(&spec.strategy_params).unwrap_or_default();
    format!("{}\n{params}", spec.strategy_kind)
}

/// An engine for `spec` on Monte Carlo path `market`, keeping only the running figures
/// and the ruin times; the strategy's signals are played back from `recorded` when given.
fn outcome_engine(
    spec: &RunSpec,
    market: &MarketData,
    ruin_levels: &[f64],
    recorded: Option<Arc<Recorded>>,
) -> Engine {
    let tf = market.symbols.first().map_or(60_000, |s| s.timeframe.ms());
    let mut engine = Engine::replaying(spec, tf, false, recorded);
    // the levels asked for, then the one "survived" counts
    let mut levels = ruin_levels.to_vec();
    levels.push(RUIN_FRACTION);
    engine.watch_ruin(&levels);
    // a path's outcome reads no risk decisions; keeping them was most of its allocation
    engine.risk.count_decisions_only();
    engine
}

/// A path's outcome, from an engine of [`outcome_engine`] run over it.
fn outcome_of(engine: &Engine, market: &MarketData) -> Outcome {
    let start = market.clock.first().copied().unwrap_or(0) as f64;
    let days = |t: i64| (t as f64 - start) / DAY;
    let liquidations: Vec<i64> = engine
        .venue
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Liquidation { .. }))
        .map(|e| e.time)
        .collect();
    let c = &engine.curve;
    let (survival, levels) = c
        .ruined_at
        .split_last()
        .expect("outcome_engine watches a level");
    Outcome {
        final_equity: engine.venue.snapshot().equity(),
        max_drawdown: c.max_drawdown,
        liquidations: liquidations.len(),
        first_liquidation: liquidations.first().map(|&t| days(t)),
        ruined: levels.iter().map(|r| r.map(days)).collect(),
        ruined_for_survival: survival.map(days),
        halted: engine.risk.stopped_for_good().map(|(_, t, _)| days(t)),
        length: days(c.last_time),
    }
}

/// The Monte Carlo figures of one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct PathStats {
    pub paths: usize,
    pub p_liquidation: f64,
    /// the share of paths neither liquidated nor ruined (the end of `survival`)
    pub p_survived: f64,
    /// the share of paths whose outcome is "halted": a breaker stopped the bot for good and
    /// it survived (a share of `p_survived`)
    pub p_halted: f64,
    /// per ruin level
    pub p_ruin: Vec<f64>,
    /// USDT
    pub median_final_equity: f64,
    pub p5_final_equity: f64,
    pub median_max_drawdown: f64,
    pub p95_max_drawdown: f64,
    /// days
    pub median_days_to_liquidation: Option<f64>,
    /// days: the median time to the halt over the paths a breaker stopped for good
    pub median_days_to_halt: Option<f64>,
    /// Kaplan–Meier steps (days, S)
    pub survival: Vec<(f64, f64)>,
    /// days: the paths' length, where those still surviving are censored
    pub span_days: f64,
}

/// One row of `results.csv`.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: usize,
    /// the swept values as written
    pub params: Vec<toml::Value>,
    pub history: Metrics,
    pub paths: Option<PathStats>,
}

/// Runs one configuration; `None` when `stop` was raised before it finished. With Monte
/// Carlo it is a batch of one ([`run_batch`]).
pub fn run_config(
    id: usize,
    params: Vec<toml::Value>,
    spec: &RunSpec,
    market: &MarketData,
    mc: Option<&MonteCarlo>,
    shared: Option<&SharedSignals>,
    stop: &AtomicBool,
) -> Result<Option<Row>, String> {
    if let Some(mc) = mc {
        let batch = [(id, params, spec.clone())];
        let kept = PathRecordings::default();
        let rows = run_batch(&batch, market, mc, &kept, stop)?;
        return Ok(rows.and_then(|rows| rows.into_iter().next()));
    }
    let recorded = shared.and_then(|s| s.of(spec));
    let history = outcome::run_replaying(spec, market, false, recorded)
        .summary
        .metrics;
    if stop.load(Ordering::Relaxed) {
        return Ok(None);
    }
    Ok(Some(Row {
        id,
        params,
        history,
        paths: None,
    }))
}

/// Runs several configurations with Monte Carlo paths together: each path is built once and
/// every configuration of the batch runs on it side by side ([`run_history_together`]: the
/// path's bars are read once per step for all of them), paths in parallel. Returns the rows in `configs`' order; `None` when `stop`
/// was raised before the batch finished (no configuration of it counts as done).
pub fn run_batch(
    configs: &[(usize, Vec<toml::Value>, RunSpec)],
    market: &MarketData,
    mc: &MonteCarlo,
    kept: &PathRecordings,
    stop: &AtomicBool,
) -> Result<Option<Vec<Row>>, String> {
    let specs = || configs.iter().map(|(_, _, spec)| spec.clone());
    let shared = SharedSignals::record(specs(), market);
    let histories: Vec<Metrics> = configs
        .par_iter()
        .map(|(_, _, spec)| {
            outcome::run_replaying(spec, market, false, shared.of(spec))
                .summary
                .metrics
        })
        .collect();
    // outcomes[path][config]
    let outcomes: Vec<Option<Vec<Outcome>>> = (0..mc.paths)
        .into_par_iter()
        .map_init(PathBuffer::default, |buffer, k| {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            mc.path_into(market, k, buffer)?;
            let path = &buffer.market;
            // a batch's configurations mostly share their strategy: its signals on this path
            // are worked out once, when more than one configuration would use them, and kept
            // in `kept` for the next batches
            let shared = SharedSignals::record_path(specs(), path, kept, k);
            // the batch runs side by side on the path, which is then read once per step
            let mut engines: Vec<Engine> = configs
                .iter()
                .map(|(_, _, spec)| outcome_engine(spec, path, &mc.ruin_levels, shared.of(spec)))
                .collect();
            run_history_together(&mut engines, path);
            Ok(Some(engines.iter().map(|e| outcome_of(e, path)).collect()))
        })
        .collect::<Result<_, String>>()?;
    if stop.load(Ordering::Relaxed) || outcomes.iter().any(Option::is_none) {
        return Ok(None);
    }
    let outcomes: Vec<Vec<Outcome>> = outcomes.into_iter().flatten().collect();
    let rows = configs
        .iter()
        .zip(histories)
        .enumerate()
        .map(|(c, ((id, params, _), history))| {
            let mine: Vec<Outcome> = outcomes.iter().map(|per| per[c].clone()).collect();
            Row {
                id: *id,
                params: params.clone(),
                history,
                paths: Some(path_stats(&mine, mc)),
            }
        })
        .collect();
    Ok(Some(rows))
}

/// Reduces the paths' outcomes.
pub fn path_stats(outcomes: &[Outcome], mc: &MonteCarlo) -> PathStats {
    let n = outcomes.len().max(1) as f64;
    let share = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count() as f64 / n;
    let finals: Vec<f64> = outcomes.iter().map(|o| o.final_equity).collect();
    let drawdowns: Vec<f64> = outcomes.iter().map(|o| o.max_drawdown).collect();
    let survival_obs: Vec<Observation> = outcomes
        .iter()
        .map(|o| {
            let event = match (o.first_liquidation, o.ruined_for_survival) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Observation {
                time: event.unwrap_or(o.length),
                event: event.is_some(),
            }
        })
        .collect();
    let liquidation_obs: Vec<Observation> = outcomes
        .iter()
        .map(|o| Observation {
            time: o.first_liquidation.unwrap_or(o.length),
            event: o.first_liquidation.is_some(),
        })
        .collect();
    PathStats {
        paths: outcomes.len(),
        p_liquidation: share(&|o| o.liquidations > 0),
        p_survived: share(&Outcome::survived),
        p_halted: share(&|o| o.halted.is_some() && o.survived()),
        p_ruin: (0..mc.ruin_levels.len())
            .map(|i| share(&|o| o.ruined[i].is_some()))
            .collect(),
        median_final_equity: quantile(&finals, 0.5),
        p5_final_equity: quantile(&finals, 0.05),
        median_max_drawdown: quantile(&drawdowns, 0.5),
        p95_max_drawdown: quantile(&drawdowns, 0.95),
        median_days_to_liquidation: median_survival(&kaplan_meier(&liquidation_obs)),
        median_days_to_halt: {
            let halts: Vec<f64> = outcomes.iter().filter_map(|o| o.halted).collect();
            (!halts.is_empty()).then(|| quantile(&halts, 0.5))
        },
        survival: kaplan_meier(&survival_obs),
        span_days: outcomes.iter().map(|o| o.length).fold(0.0, f64::max),
    }
}
