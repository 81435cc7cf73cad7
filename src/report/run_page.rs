//! A run's `report.html` and its PNG charts.
//!
//! The charts:
//! - `equity.png`: the strategy's equity against buy-and-hold (1x, no rules) and against the
//!   `naive_leverage` baseline at the run's leverage (always long, no stop, no rules), both
//!   run through the same exchange over the same data; log scale when the curves span more
//!   than a factor 10; liquidations and the risk layer's halts and forced closes marked;
//! - `drawdown.png`: the underwater curve, with the maximum drawdown and the span from its
//!   peak to its recovery (or the end) annotated;
//! - `price_<SYMBOL>.png`: the last price, entries, exits by reason and liquidations, and
//!   the open position's liquidation price as a line;
//! - `margin.png`: the margin ratio with the exchange's margin-call threshold, the risk
//!   layer's margin-guard levels and liquidation (100 %);
//! - `exposure.png`: gross notional / equity, with the exposure cap;
//! - `costs.png`: cumulative fees and funding.
//!
//! Long series are reduced to a few points per pixel column ([`super::downsample`]), so a
//! chart of a million bars is as sharp and as small as one of a thousand.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use super::chart::{
    self, BLACK, BLUE, Dash, GREEN, GREY, Level, Line, Marks, ORANGE, PURPLE, Pen, RED, SKY, Shape,
    Span, TimeChart, YFormat, YScale,
};
use super::downsample;
use super::html::{self, Figure, FigureView, ReportError, Unit};
use crate::data::time::format_utc;
use crate::engine::Curve;
use crate::exchange::venue::EventKind;
use crate::market::MarketData;
use crate::outcome::trades::ExitReason;
use crate::outcome::{RunResult, metrics};
use crate::risk::audit::{Action, Rule};
use crate::risk::config::{RiskConfig, Sizing};
use crate::spec::RunSpec;

/// Pixel columns the series are reduced to (the plot area of a [`chart::SIZE`] chart).
const COLUMNS: usize = 1000;
/// Pixel columns for dashed comparison lines: fewer, longer segments keep the dashes
/// readable.
const DASHED_COLUMNS: usize = 300;
/// Rows of the trades table; all trades are in `trades.csv`.
const TRADE_ROWS: usize = 1000;
/// Examples shown per risk rule and action.
const EXAMPLES: usize = 3;

/// Where a run report sits: alone, or inside a sweep (with a link back to its index).
#[derive(Clone, Copy, Debug, Default)]
pub struct Place<'a> {
    /// relative link to the sweep's `index.html`
    pub back: Option<&'a str>,
}

/// Writes the charts (PNG) and `report.html` into `dir`, beside the run's CSVs.
pub fn write_report(
    dir: &Path,
    spec: &RunSpec,
    market: &MarketData,
    run: &RunResult,
    place: Place,
) -> Result<(), ReportError> {
    let charts = charts(spec, market, run)?;
    for c in &charts {
        html::write(&dir.join(&c.file), &c.png)?;
    }
    let page = page(spec, run, &charts, place)?;
    html::write(&dir.join("report.html"), page.as_bytes())
}

/// A baseline's equity curve and liquidation times.
struct Baseline {
    label: String,
    time: Vec<i64>,
    equity: Vec<f64>,
    liquidations: Vec<i64>,
}

/// Runs `kind` with default parameters, every rule off, at `leverage`, over the same data.
fn baseline(
    spec: &RunSpec,
    market: &MarketData,
    kind: &str,
    leverage: f64,
    label: String,
) -> Baseline {
    let mut s = spec.clone();
    s.strategy_kind = kind.to_string();
    s.strategy_params = toml::Table::new();
    s.risk = RiskConfig {
        max_leverage: Some(leverage),
        ..RiskConfig::no_rules()
    };
    s.sweep = None;
    let result = crate::outcome::run(&s, market, true);
    let curve = result.engine.curve;
    Baseline {
        label,
        liquidations: liquidation_times(&result.engine.venue),
        time: curve.time,
        equity: curve.equity,
    }
}

/// The leverage the run used: the risk layer's cap, else the highest leverage of its fills.
fn run_leverage(spec: &RunSpec, run: &RunResult) -> f64 {
    spec.risk
        .max_leverage
        .unwrap_or_else(|| run.trades.iter().map(|t| t.leverage).fold(1.0f64, f64::max))
}

/// The index of the step holding time `t` (ms): the last step opened at or before it.
fn step_at(time: &[i64], t: i64) -> Option<usize> {
    time.partition_point(|&x| x <= t).checked_sub(1)
}

fn pen(colour: plotters::style::RGBColor, dash: Dash, width: u32) -> Pen {
    Pen::new(colour, dash, width)
}

/// Draws every chart (in parallel).
pub fn charts(
    spec: &RunSpec,
    market: &MarketData,
    run: &RunResult,
) -> Result<Vec<Figure>, ReportError> {
    let leverage = run_leverage(spec, run);
    let (hold, naive) = rayon::join(
        || {
            baseline(
                spec,
                market,
                "buy_and_hold",
                1.0,
                "buy and hold (1x)".into(),
            )
        },
        || {
            baseline(
                spec,
                market,
                "naive_leverage",
                leverage,
                format!(
                    "naive_leverage ({}x, no stop, no rules)",
                    chart::short_number(leverage)
                ),
            )
        },
    );
    let c = &run.engine.curve;
    let mut specs: Vec<(String, String, String, TimeChart)> = vec![
        (
            "equity".into(),
            "equity.png".into(),
            "Equity against buy-and-hold and the naive leveraged baseline; ● liquidations, ■ halts and forced closes by the risk layer".into(),
            equity_chart(run, &hold, &naive),
        ),
        (
            "drawdown".into(),
            "drawdown.png".into(),
            "Underwater curve: equity below its running peak".into(),
            drawdown_chart(c),
        ),
    ];
    for (s, name) in run.symbols.iter().enumerate() {
        specs.push((
            format!("price-{name}"),
            format!("price_{name}.png"),
            format!("{name}: last price, trades and the liquidation price of the open position"),
            price_chart(run, market, s),
        ));
    }
    specs.push((
        "margin".into(),
        "margin.png".into(),
        "Margin ratio (maintenance margin / margin balance; 100 % = liquidation) with the margin-call and guard thresholds".into(),
        margin_chart(spec, run),
    ));
    specs.push((
        "exposure".into(),
        "exposure.png".into(),
        "Exposure: gross notional / equity".into(),
        exposure_chart(spec, c),
    ));
    specs.push((
        "costs".into(),
        "costs.png".into(),
        "Cumulative fees and funding paid (negative: received)".into(),
        costs_chart(run),
    ));
    specs
        .into_par_iter()
        .map(|(id, file, caption, tc)| {
            let png = chart::time_chart(&tc, chart::SIZE)?;
            Ok(Figure {
                id,
                file,
                title: tc.title,
                caption,
                png,
                size: chart::SIZE,
            })
        })
        .collect()
}

fn equity_chart(run: &RunResult, hold: &Baseline, naive: &Baseline) -> TimeChart {
    let c = &run.engine.curve;
    let all = c
        .equity
        .iter()
        .chain(&hold.equity)
        .chain(&naive.equity)
        .copied()
        .filter(|v| v.is_finite());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let log = lo > 0.0 && hi / lo > 10.0;
    let mut tc = TimeChart::new("Equity", "equity (USDT)");
    if log {
        tc.y_scale = YScale::Log;
        tc.y_label = "equity (USDT, log scale)".into();
    }
    // log scale cannot show 0: an emptied account ends at the axis' floor
    let positive = |v: &[f64]| -> Vec<f64> {
        if log {
            v.iter()
                .map(|&x| if x > 0.0 { x } else { f64::NAN })
                .collect()
        } else {
            v.to_vec()
        }
    };
    tc.lines.push(Line {
        label: hold.label.clone(),
        points: downsample::last(&hold.time, &positive(&hold.equity), DASHED_COLUMNS),
        pen: pen(GREY, Dash::Dashed, 2),
        fill: false,
    });
    tc.lines.push(Line {
        label: naive.label.clone(),
        points: downsample::last(&naive.time, &positive(&naive.equity), DASHED_COLUMNS),
        pen: pen(ORANGE, Dash::Dotted, 2),
        fill: false,
    });
    tc.lines.push(Line {
        label: format!("{} (this run)", run.summary.strategy),
        points: downsample::min_max(&c.time, &positive(&c.equity), COLUMNS),
        pen: pen(BLUE, Dash::Solid, 2),
        fill: false,
    });
    let halts: Vec<i64> = run
        .engine
        .risk
        .audit()
        .events()
        .iter()
        .filter(|e| matches!(e.action, Action::Halted | Action::Closed))
        .map(|e| e.time)
        .collect();
    for (label, time, equity, times, shape, colour) in [
        (
            "liquidation",
            &c.time,
            &c.equity,
            liquidation_times(&run.engine.venue),
            Shape::Circle,
            RED,
        ),
        (
            "naive_leverage liquidation",
            &naive.time,
            &naive.equity,
            naive.liquidations.clone(),
            Shape::Circle,
            ORANGE,
        ),
        (
            "risk layer: halt or forced close",
            &c.time,
            &c.equity,
            halts,
            Shape::Square,
            PURPLE,
        ),
    ] {
        tc.marks.push(Marks {
            label: label.into(),
            points: times
                .iter()
                .filter_map(|&t| step_at(time, t).map(|i| (t, equity[i])))
                .collect(),
            shape,
            colour,
        });
    }
    tc
}

/// ms: when the venue liquidated something.
fn liquidation_times(venue: &crate::exchange::venue::Venue) -> Vec<i64> {
    venue
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Liquidation { .. }))
        .map(|e| e.time)
        .collect()
}

/// Drawdown below the running peak per step, as a negative fraction.
fn underwater(equity: &[f64]) -> Vec<f64> {
    let mut peak = f64::NEG_INFINITY;
    equity
        .iter()
        .map(|&e| {
            peak = peak.max(e);
            if peak > 0.0 { e / peak - 1.0 } else { 0.0 }
        })
        .collect()
}

/// The deepest drawdown: (peak step, trough step, recovery step or None, depth as a
/// negative fraction).
fn deepest(dd: &[f64]) -> Option<(usize, usize, Option<usize>, f64)> {
    let (trough, &depth) = dd.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
    if depth >= 0.0 {
        return None;
    }
    let peak = dd[..trough].iter().rposition(|&d| d >= 0.0).unwrap_or(0);
    let recovery = dd[trough..]
        .iter()
        .position(|&d| d >= 0.0)
        .map(|i| trough + i);
    Some((peak, trough, recovery, depth))
}

fn drawdown_chart(c: &Curve) -> TimeChart {
    let dd = underwater(&c.equity);
    let mut tc = TimeChart::new("Drawdown (under water)", "below the running peak (%)");
    tc.y_format = YFormat::Percent;
    tc.lines.push(Line {
        label: "drawdown".into(),
        points: downsample::min_max(&c.time, &dd, COLUMNS),
        pen: pen(BLUE, Dash::Solid, 1),
        fill: true,
    });
    if let Some((peak, trough, recovery, depth)) = deepest(&dd) {
        let end = recovery.unwrap_or(c.time.len() - 1);
        let days = (c.time[end] - c.time[peak]) as f64 / 86_400_000.0;
        tc.spans.push(Span {
            from: c.time[peak],
            to: c.time[end],
            label: format!(
                " {} {:.0} days",
                if recovery.is_some() {
                    "peak to recovery:"
                } else {
                    "peak to end, not recovered:"
                },
                days
            ),
        });
        tc.marks.push(Marks {
            label: format!("max drawdown {:.1} %", 100.0 * depth),
            points: vec![(c.time[trough], depth)],
            shape: Shape::Down,
            colour: RED,
        });
        tc.notes
            .push((c.time[trough], depth, format!("  {:.1} %", 100.0 * depth)));
        tc.y_range = Some((depth * 1.12 - 0.01, 0.03));
    }
    tc
}

fn price_chart(run: &RunResult, market: &MarketData, s: usize) -> TimeChart {
    let h = &market.symbols[s];
    let name = &run.symbols[s];
    let mut tc = TimeChart::new(&format!("{name}: price and trades"), "price (USDT)");
    tc.lines.push(Line {
        label: "last price (close)".into(),
        points: downsample::min_max(&h.candles.open_time, &h.candles.close, COLUMNS),
        pen: pen(BLACK, Dash::Solid, 1),
        fill: false,
    });
    let c = &run.engine.curve;
    let n = run.symbols.len();
    // the price's own range decides the scale: a 1x long's liquidation price near zero or a
    // 1x short's at twice the price would flatten the price into a line, so liquidation
    // prices more than 40 % beyond the price's range are left off (gaps)
    let (p_lo, p_hi) = h
        .candles
        .close
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let (keep_lo, keep_hi) = (p_lo * 0.6, p_hi * 1.4);
    let liq: Vec<f64> = c
        .liquidation
        .iter()
        .skip(s)
        .step_by(n.max(1))
        .map(|&v| {
            if v >= keep_lo && v <= keep_hi {
                v
            } else {
                f64::NAN
            }
        })
        .collect();
    if liq.iter().any(|v| v.is_finite()) {
        let (time, liq) = break_jumps(&c.time, &liq);
        tc.lines.push(Line {
            label: "liquidation price of the open position".into(),
            points: downsample::min_max(&time, &liq, COLUMNS),
            pen: pen(RED, Dash::Dashed, 2),
            fill: false,
        });
    }
    let trades: Vec<_> = run.trades.iter().filter(|t| t.symbol == s).collect();
    let entries = |side| {
        trades
            .iter()
            .filter(|t| t.side == side)
            .map(|t| (t.entry_time, t.entry_price))
            .collect::<Vec<_>>()
    };
    use crate::exchange::Side;
    tc.marks.push(Marks {
        label: "long entry".into(),
        points: entries(Side::Long),
        shape: Shape::Up,
        colour: GREEN,
    });
    tc.marks.push(Marks {
        label: "short entry".into(),
        points: entries(Side::Short),
        shape: Shape::Down,
        colour: PURPLE,
    });
    for (reason, label, shape, colour) in [
        (ExitReason::Signal, "exit (signal)", Shape::Cross, BLUE),
        (ExitReason::StopLoss, "stop-loss", Shape::Square, ORANGE),
        (ExitReason::TakeProfit, "take-profit", Shape::Diamond, SKY),
        (
            ExitReason::Risk,
            "closed by the risk layer",
            Shape::Square,
            PURPLE,
        ),
        (ExitReason::Liquidation, "liquidation", Shape::Circle, RED),
    ] {
        tc.marks.push(Marks {
            label: label.into(),
            points: trades
                .iter()
                .filter(|t| t.exit_reason == reason)
                .map(|t| (t.exit_time, t.exit_price))
                .collect(),
            shape,
            colour,
        });
    }
    tc
}

/// Inserts a gap wherever the value jumps by more than 0.5 %: a liquidation price moves
/// slowly while a position is held (funding, other marks) and jumps when a new position
/// replaces it, and the two should not be joined by a line.
fn break_jumps(time: &[i64], values: &[f64]) -> (Vec<i64>, Vec<f64>) {
    let mut t = Vec::with_capacity(time.len() + 16);
    let mut v = Vec::with_capacity(values.len() + 16);
    for i in 0..time.len().min(values.len()) {
        if i > 0 {
            let (a, b) = (values[i - 1], values[i]);
            if a.is_finite() && b.is_finite() && (b - a).abs() > 0.005 * a.abs() {
                t.push(time[i]);
                v.push(f64::NAN);
            }
        }
        t.push(time[i]);
        v.push(values[i]);
    }
    (t, v)
}

fn margin_chart(spec: &RunSpec, run: &RunResult) -> TimeChart {
    let c = &run.engine.curve;
    let mut tc = TimeChart::new("Margin ratio", "maintenance / margin balance (%)");
    tc.y_format = YFormat::Percent;
    let ratio: Vec<f64> = c.margin_ratio.iter().map(|&r| r.min(1.5)).collect();
    let worst: Vec<f64> = c.margin_ratio_worst.iter().map(|&r| r.min(1.5)).collect();
    tc.lines.push(Line {
        label: "worst point of each bar".into(),
        points: downsample::min_max(&c.time, &worst, COLUMNS),
        pen: pen(ORANGE, Dash::Solid, 1),
        fill: false,
    });
    tc.lines.push(Line {
        label: "margin ratio at the close".into(),
        points: downsample::min_max(&c.time, &ratio, COLUMNS),
        pen: pen(BLUE, Dash::Solid, 1),
        fill: false,
    });
    tc.levels.push(Level {
        label: "liquidation (100 %)".into(),
        y: 1.0,
        pen: pen(RED, Dash::Solid, 2),
    });
    if spec.margin_call_ratio > 0.0 {
        tc.levels.push(Level {
            label: format!(
                "exchange margin call ({:.0} %)",
                100.0 * spec.margin_call_ratio
            ),
            y: spec.margin_call_ratio,
            pen: pen(ORANGE, Dash::Dashed, 2),
        });
    }
    let r = &spec.risk;
    for (value, what, dash) in [
        (r.margin_halt_at, "guard: entries halt", Dash::Dotted),
        (r.margin_deleverage_at, "guard: deleverage", Dash::Dashed),
        (r.margin_exit_at, "guard: close all", Dash::Solid),
    ] {
        if let Some(v) = value {
            tc.levels.push(Level {
                label: format!("{what} ({:.0} %)", 100.0 * v),
                y: v,
                pen: pen(PURPLE, dash, 1),
            });
        }
    }
    tc.marks.push(Marks {
        label: "margin call".into(),
        points: run
            .engine
            .venue
            .events()
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::MarginCall { ratio } => Some((e.time, ratio.min(1.5))),
                _ => None,
            })
            .collect(),
        shape: Shape::Diamond,
        colour: ORANGE,
    });
    // the whole scale up to liquidation when the ratio came near it; otherwise the ratio's
    // own range, with the thresholds above it named in the legend
    let top = ratio
        .iter()
        .copied()
        .filter(|r| r.is_finite())
        .fold(0.0, f64::max);
    tc.y_range = Some(if top > 0.25 {
        (0.0, 1.08)
    } else {
        (0.0, (top * 1.25).max(0.01))
    });
    tc
}

fn exposure_chart(spec: &RunSpec, c: &Curve) -> TimeChart {
    let mut tc = TimeChart::new("Exposure", "gross notional / equity (x)");
    tc.y_format = YFormat::Times;
    let exposure: Vec<f64> = c
        .gross_notional
        .iter()
        .zip(&c.equity)
        .map(|(&g, &e)| if e > 0.0 { g / e } else { f64::NAN })
        .collect();
    tc.lines.push(Line {
        label: "exposure".into(),
        points: downsample::min_max(&c.time, &exposure, COLUMNS),
        pen: pen(BLUE, Dash::Solid, 1),
        fill: true,
    });
    if let Some(cap) = spec.risk.max_total_exposure {
        tc.levels.push(Level {
            label: format!("exposure cap ({}x)", chart::short_number(cap)),
            y: cap,
            pen: pen(RED, Dash::Dashed, 2),
        });
    }
    if let Some(cap) = spec.risk.max_leverage {
        tc.levels.push(Level {
            label: format!("leverage cap per position ({}x)", chart::short_number(cap)),
            y: cap,
            pen: pen(ORANGE, Dash::Dotted, 2),
        });
    }
    tc
}

fn costs_chart(run: &RunResult) -> TimeChart {
    let c = &run.engine.curve;
    let (mut fees, mut funding) = (vec![0.0; c.time.len()], vec![0.0; c.time.len()]);
    for e in run.engine.venue.events() {
        let (fee, paid) = match &e.kind {
            EventKind::Fill { fee, .. } => (fee.to_f64().unwrap_or(0.0), 0.0),
            EventKind::Funding { paid, .. } => (0.0, paid.to_f64().unwrap_or(0.0)),
            _ => continue,
        };
        if let Some(i) = step_at(&c.time, e.time) {
            fees[i] += fee;
            funding[i] += paid;
        }
    }
    let cumulative = |v: &mut Vec<f64>| {
        let mut sum = 0.0;
        for x in v.iter_mut() {
            sum += *x;
            *x = sum;
        }
    };
    cumulative(&mut fees);
    cumulative(&mut funding);
    let total: Vec<f64> = fees.iter().zip(&funding).map(|(a, b)| a + b).collect();
    let mut tc = TimeChart::new("Costs", "cumulative (USDT)");
    for (label, values, p) in [
        ("fees", &fees, pen(BLUE, Dash::Solid, 2)),
        ("funding", &funding, pen(ORANGE, Dash::Dashed, 2)),
        ("fees + funding", &total, pen(BLACK, Dash::Dotted, 2)),
    ] {
        tc.lines.push(Line {
            label: label.into(),
            points: downsample::last(&c.time, values, DASHED_COLUMNS),
            pen: p,
            fill: false,
        });
    }
    tc
}

/// What `run.html` is given.
#[derive(Serialize)]
struct RunView<'a> {
    title: &'a str,
    name: &'a str,
    back: Option<&'a str>,
    verdict: String,
    /// the verdict box's colour class
    outcome: &'static str,
    warnings: Vec<String>,
    facts: Vec<Fact>,
    metrics: Vec<MetricRow>,
    charts: Vec<FigureView>,
    risk: Vec<RiskRow>,
    trades: Vec<Vec<String>>,
    trade_header: [&'static str; 12],
    trades_note: String,
    ruin_pct: f64,
    css: &'static str,
    sort_js: &'static str,
}

#[derive(Serialize)]
struct Fact {
    label: &'static str,
    value: String,
}

#[derive(Serialize)]
struct MetricRow {
    key: &'static str,
    label: &'static str,
    /// the value exactly as `summary.json` holds it
    raw: String,
    text: String,
    meaning: &'static str,
}

#[derive(Serialize)]
struct RiskRow {
    rule: &'static str,
    action: &'static str,
    count: usize,
    examples: Vec<String>,
}

/// `summary.json`'s figures in the table's order: key, label, unit, meaning.
pub const METRICS: [(&str, &str, Unit, &str); 24] = [
    ("start_equity", "start equity", Unit::Usdt, ""),
    (
        "final_equity",
        "final equity",
        Unit::Usdt,
        "wallet + unrealised PnL at the last mark",
    ),
    (
        "total_return",
        "total return",
        Unit::Percent,
        "final / start − 1",
    ),
    (
        "cagr",
        "CAGR",
        Unit::PercentYear,
        "compound annual growth, 365-day years",
    ),
    (
        "max_drawdown",
        "max drawdown",
        Unit::Percent,
        "deepest fall below a running peak",
    ),
    (
        "max_drawdown_days",
        "longest under water",
        Unit::Days,
        "longest time below a previous peak",
    ),
    ("min_equity", "lowest equity", Unit::Usdt, ""),
    (
        "volatility",
        "volatility",
        Unit::PercentYear,
        "of per-bar returns, annualised",
    ),
    (
        "sharpe",
        "Sharpe",
        Unit::Ratio,
        "annualised, risk-free rate 0",
    ),
    (
        "sortino",
        "Sortino",
        Unit::Ratio,
        "annualised, downside deviation",
    ),
    ("calmar", "Calmar", Unit::Ratio, "CAGR / max drawdown"),
    (
        "trades",
        "trades",
        Unit::Count,
        "round trips, open ones included",
    ),
    (
        "win_rate",
        "win rate",
        Unit::Percent,
        "closed trades with PnL > 0",
    ),
    (
        "profit_factor",
        "profit factor",
        Unit::Ratio,
        "Σ wins / |Σ losses|",
    ),
    (
        "average_trade",
        "average trade",
        Unit::Usdt,
        "PnL per closed trade",
    ),
    (
        "exposure",
        "time in the market",
        Unit::Percent,
        "bars with a position open",
    ),
    (
        "average_leverage",
        "average leverage",
        Unit::Times,
        "gross notional / equity while exposed",
    ),
    (
        "max_leverage",
        "highest leverage",
        Unit::Times,
        "gross notional / equity at a step's close: what the account really carried",
    ),
    ("liquidations", "liquidations", Unit::Count, ""),
    (
        "margin_calls",
        "margin calls",
        Unit::Count,
        "exchange warnings",
    ),
    ("fees_paid", "fees paid", Unit::Usdt, ""),
    (
        "funding_paid",
        "funding paid",
        Unit::Usdt,
        "negative: received",
    ),
    (
        "survived",
        "survived",
        Unit::YesNo,
        "no liquidation, equity never at or below 10 % of the start",
    ),
    (
        "outcome",
        "outcome",
        Unit::Text,
        "liquidated, ruined, halted (a breaker stopped it for good: it survived) or alive",
    ),
];

fn page(
    spec: &RunSpec,
    run: &RunResult,
    charts: &[Figure],
    place: Place,
) -> Result<String, ReportError> {
    let s = &run.summary;
    let m = &s.metrics;
    let json = serde_json::to_value(s).map_err(|e| ReportError::Template(e.to_string()))?;
    let metrics: Vec<MetricRow> = METRICS
        .iter()
        .map(|&(key, label, unit, meaning)| {
            let v = json.get(key).cloned().unwrap_or(serde_json::Value::Null);
            MetricRow {
                key,
                label,
                raw: v.to_string(),
                text: html::show(&v, unit),
                meaning,
            }
        })
        .collect();
    let curve = &run.engine.curve;
    let days = curve
        .first_time
        .map_or(0.0, |f| (curve.last_time - f) as f64 / 86_400_000.0);
    let mut facts = vec![
        Fact {
            label: "symbols",
            value: s.symbols.join(", "),
        },
        Fact {
            label: "span",
            value: format!("{} → {} ({days:.0} days)", s.from, s.to),
        },
        Fact {
            label: "bars",
            value: format!("{} of {} ({} warm-up)", s.bars, s.timeframe, s.warm_up_bars),
        },
        Fact {
            label: "strategy",
            value: format!("{} {}", s.strategy, parameters(&s.parameters)),
        },
        Fact {
            label: "leverage",
            value: match spec.risk.max_leverage {
                Some(l) => format!("at most {}x per position", chart::short_number(l)),
                None => "the instrument bracket's maximum (no cap)".into(),
            },
        },
        Fact {
            label: "margin mode",
            value: s.margin_mode.clone(),
        },
        Fact {
            label: "instruments",
            value: {
                let source = spec
                    .unlisted_note()
                    .unwrap_or_else(|| format!("from {}", spec.instrument_source));
                match s.liquidation_model.values().next() {
                    Some(model) => format!("{source}; {model}'s liquidation rule"),
                    None => source,
                }
            },
        },
        Fact {
            label: "start balance",
            value: format!("{} USDT", html::grouped(m.start_equity, 2)),
        },
        Fact {
            label: "sizing",
            value: sizing(&spec.risk),
        },
        Fact {
            label: "risk rules on",
            value: {
                let on = rules_on(&spec.risk);
                if on.is_empty() {
                    "none".into()
                } else {
                    on.join("; ")
                }
            },
        },
    ];
    for (symbol, source) in &s.mark_price {
        facts.push(Fact {
            label: "mark price",
            value: format!("{symbol}: {source}"),
        });
    }
    for (symbol, detail) in &s.detail {
        facts.push(Fact {
            label: "bar paths",
            value: format!("{symbol}: walked from {detail}"),
        });
    }
    for (symbol, tables) in &s.brackets {
        facts.push(Fact {
            label: "bracket tables",
            value: format!("{symbol}: {}", tables.join("; ")),
        });
    }
    let mut warnings = Vec::new();
    for (symbol, source) in &s.mark_price {
        if !source.starts_with("mark-price candles") || source.contains("stood in") {
            warnings.push(format!(
                "{symbol}: {source}. Liquidations and funding used it in place of the mark price."
            ));
        }
    }
    for (symbol, n) in &s.funding_dropped {
        if *n > 0 {
            warnings.push(format!(
                "{symbol}: {n} funding settlement(s) fell outside the candles or in a gap and were not applied."
            ));
        }
    }
    let trade_header = [
        "symbol",
        "side",
        "entry (UTC)",
        "entry price",
        "exit (UTC)",
        "exit price",
        "qty",
        "leverage",
        "fees",
        "funding",
        "PnL (USDT)",
        "exit",
    ];
    let trades: Vec<Vec<String>> = run
        .trades
        .iter()
        .take(TRADE_ROWS)
        .map(|t| {
            vec![
                run.symbols[t.symbol].clone(),
                t.side.name().to_string(),
                format_utc(t.entry_time),
                sig(t.entry_price),
                format_utc(t.exit_time),
                sig(t.exit_price),
                sig(t.qty),
                format!("{}x", chart::short_number(t.leverage)),
                format!("{:.2}", t.fees),
                format!("{:.2}", t.funding),
                format!("{:.2}", t.pnl),
                t.exit_reason.name().to_string(),
            ]
        })
        .collect();
    let trades_note = if run.trades.len() > TRADE_ROWS {
        format!(
            "The first {TRADE_ROWS} of {} trades; all are in trades.csv.",
            run.trades.len()
        )
    } else {
        format!("{} trade(s); also in trades.csv.", run.trades.len())
    };
    let view = RunView {
        title: &s.title,
        name: &s.name,
        back: place.back,
        verdict: verdict(run),
        outcome: run.summary.metrics.outcome.name(),
        warnings,
        facts,
        metrics,
        charts: charts.iter().map(Figure::view).collect(),
        risk: risk_rows(run),
        trades,
        trade_header,
        trades_note,
        ruin_pct: 100.0 * metrics::RUIN_FRACTION,
        css: html::CSS,
        sort_js: html::SORT_JS,
    };
    html::render("run.html", &view)
}

/// One sentence: did it survive, what did it make, how deep did it fall.
fn verdict(run: &RunResult) -> String {
    let m = &run.summary.metrics;
    let outcome = match (m.outcome, &m.halted) {
        (metrics::Outcome::Liquidated, _) => format!("was liquidated {} time(s)", m.liquidations),
        (metrics::Outcome::Ruined, _) => format!(
            "was ruined (equity at or below {:.0} % of the start)",
            100.0 * metrics::RUIN_FRACTION
        ),
        (metrics::Outcome::Halted, Some(h)) => format!(
            "survived, halted: the kill switch ({}) stopped it for good on {} at {} USDT, and the halt kept that capital ({} entries refused after it)",
            h.rule,
            h.utc,
            html::grouped(h.equity, 0),
            h.refused_after
        ),
        _ => "survived".into(),
    };
    format!(
        "{} on {} {outcome}: {} USDT became {} USDT ({}), with a maximum drawdown of {} and {} USDT of fees and funding.",
        run.summary.strategy,
        run.summary.symbols.join(", "),
        html::grouped(m.start_equity, 0),
        html::grouped(m.final_equity, 0),
        html::show(&serde_json::json!(m.total_return), Unit::Percent),
        html::show(&serde_json::json!(m.max_drawdown), Unit::Percent),
        html::grouped(m.fees_paid + m.funding_paid, 0),
    )
}

/// Counts per rule and action, with the first few decisions of each.
fn risk_rows(run: &RunResult) -> Vec<RiskRow> {
    let mut rows: BTreeMap<(&'static str, &'static str), RiskRow> = BTreeMap::new();
    for e in run.engine.risk.audit().events() {
        if e.rule == Rule::Signal && e.action == Action::Approved {
            // approvals of the signal as asked: counted, no examples needed
            let row = rows.entry(("signal", "approved")).or_insert(RiskRow {
                rule: "signal",
                action: "approved",
                count: 0,
                examples: Vec::new(),
            });
            row.count += 1;
            continue;
        }
        let row = rows
            .entry((e.rule.name(), e.action.name()))
            .or_insert(RiskRow {
                rule: e.rule.name(),
                action: e.action.name(),
                count: 0,
                examples: Vec::new(),
            });
        row.count += 1;
        if row.examples.len() < EXAMPLES {
            let symbol = e
                .symbol
                .map(|s| run.symbols[s].as_str())
                .unwrap_or("account");
            row.examples.push(format!(
                "{} {symbol}: {}: {}",
                format_utc(e.time),
                e.source.name(),
                e.reason()
            ));
        }
    }
    rows.into_values().collect()
}

/// `{fast = 12, slow = 48}` as "fast 12, slow 48".
fn parameters(p: &toml::Table) -> String {
    if p.is_empty() {
        return "(default parameters)".into();
    }
    let parts: Vec<String> = p.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("({})", parts.join(", "))
}

fn sizing(r: &RiskConfig) -> String {
    let pct = |x: f64| format!("{} %", chart::short_number(100.0 * x));
    match r.sizing {
        Sizing::FixedNotional => format!(
            "fixed notional, {} USDT",
            html::grouped(r.fixed_notional, 0)
        ),
        Sizing::FixedFraction => format!(
            "fixed fraction: {} of equity as margin",
            pct(r.fixed_fraction)
        ),
        Sizing::RiskPerTrade => format!(
            "risk per trade: {} of equity to the stop",
            pct(r.risk_per_trade)
        ),
        Sizing::Kelly => format!(
            "Kelly × {} after {} trades ({} per trade before)",
            r.kelly_scale,
            r.kelly_min_trades,
            pct(r.risk_per_trade)
        ),
        Sizing::VolatilityTarget => format!(
            "volatility target: {} of equity a day",
            pct(r.volatility_target)
        ),
    }
}

/// The rules that are on, with their settings.
pub fn rules_on(r: &RiskConfig) -> Vec<String> {
    let pct = |x: f64| format!("{} %", chart::short_number(100.0 * x));
    let times = |x: f64| format!("{}x", chart::short_number(x));
    let atr = |x: f64| format!("{} ATR", chart::short_number(x));
    let days = |ms: i64| format!("{} d", chart::short_number(ms as f64 / 86_400_000.0));
    let rules = [
        ("max_leverage", r.max_leverage.map(times)),
        ("max_position_pct", r.max_position_pct.map(pct)),
        ("max_total_exposure", r.max_total_exposure.map(times)),
        ("cash_reserve", r.cash_reserve.map(pct)),
        (
            "min_reward_risk",
            r.min_reward_risk.map(chart::short_number),
        ),
        ("require_stop", r.require_stop.then(String::new)),
        ("default_stop_atr", r.default_stop_atr.map(atr)),
        ("liquidation_buffer", r.liquidation_buffer.map(pct)),
        ("liquidation_buffer_atr", r.liquidation_buffer_atr.map(atr)),
        ("daily_loss_limit", r.daily_loss_limit.map(pct)),
        ("weekly_loss_limit", r.weekly_loss_limit.map(pct)),
        ("max_drawdown", r.max_drawdown.map(pct)),
        (
            "losing_streak",
            r.losing_streak
                .map(|n| format!("{n} trades, pause {}", days(r.losing_streak_cooldown))),
        ),
        (
            "volatility_halt",
            r.volatility_halt
                .map(|x| format!("{}× baseline", chart::short_number(x))),
        ),
        ("margin_halt_at", r.margin_halt_at.map(pct)),
        ("margin_deleverage_at", r.margin_deleverage_at.map(pct)),
        ("margin_exit_at", r.margin_exit_at.map(pct)),
        (
            "liquidation_probability",
            r.liquidation_probability
                .map(|p| format!("{} within {}", pct(p), days(r.liquidation_horizon))),
        ),
        (
            "max_portfolio_volatility",
            r.max_portfolio_volatility.map(pct),
        ),
    ];
    rules
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name} {v}").trim_end().to_string()))
        .collect()
}

/// 6 significant digits, trailing zeros trimmed.
fn sig(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    let digits = (6 - (x.abs().max(1e-12).log10().floor() as i32 + 1)).clamp(0, 10) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underwater_and_deepest() {
        // equity 100 → 120 (peak) → 90 (−25 %) → 130 (recovered) → 117 (−10 %)
        let dd = underwater(&[100.0, 120.0, 90.0, 130.0, 117.0]);
        assert_eq!(dd[2], 90.0 / 120.0 - 1.0);
        assert_eq!(dd[4], 117.0 / 130.0 - 1.0);
        let (peak, trough, recovery, depth) = deepest(&dd).unwrap();
        assert_eq!((peak, trough, recovery), (1, 2, Some(3)));
        assert!((depth + 0.25).abs() < 1e-12);
        assert_eq!(deepest(&underwater(&[1.0, 2.0, 3.0])), None);
    }

    #[test]
    fn significant_digits() {
        assert_eq!(sig(43_210.123_4), "43210.1");
        assert_eq!(sig(0.012_345_67), "0.0123457");
        assert_eq!(sig(2.0), "2");
    }

    #[test]
    fn the_default_preset_lists_its_rules() {
        let on = rules_on(&RiskConfig::default_rules());
        assert!(on.contains(&"max_leverage 3x".to_string()), "{on:?}");
        assert!(on.contains(&"daily_loss_limit 5 %".to_string()), "{on:?}");
        assert!(on.contains(&"require_stop".to_string()), "{on:?}");
        assert!(rules_on(&RiskConfig::no_rules()).is_empty());
    }
}
