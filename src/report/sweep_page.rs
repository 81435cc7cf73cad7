//! A sweep's `index.html` and its PNG charts, made from the sweep directory's `results.csv`
//! and `survival.csv` alone (so a merged or resumed sweep gets the same page).
//!
//! What the page answers first, in one sentence: the highest leverage at which the strategy
//! survived — neither liquidated nor ruined, the one meaning of the word — on all but the
//! limit's share of paths (`max_p_failure`, 1 % unless the spec's `[report]` says otherwise),
//! how often a breaker's halt did the surviving, and the best configuration by risk-adjusted
//! return within that limit, saying when its median path still lost money.
//!
//! Definitions (the README repeats them):
//! - **P(liquidation)**: the share of Monte Carlo paths with at least one liquidation; without
//!   Monte Carlo, 1 if the historical run was liquidated, else 0;
//! - **P(ruin)**: the same for the deepest ruin level (equity at or below that fraction of the
//!   start); without Monte Carlo, 1 if the historical run did not survive;
//! - **risk-adjusted return**: the median return over the paths divided by their median
//!   maximum drawdown (a Calmar-like ratio; the drawdown is floored at 1 %); without Monte
//!   Carlo, the history's return / its maximum drawdown;
//! - heatmap cells that hold several configurations (other swept parameters) show their
//!   median.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::chart::{
    self, BarChart, DASHES, Heatmap, Line, PALETTE, Pen, TimeChart, XFormat, YFormat,
};
use super::html::{self, Figure, FigureView, ReportError};
use super::run_page::{self, Place};
use rust_decimal::prelude::ToPrimitive;

use crate::data::time::format_utc;
use crate::sweep::Sweep;
use crate::sweep::results::{RESULTS, SURVIVAL, read_survival};

const DAY_MS: f64 = 86_400_000.0;
/// Survival charts drawn at most (one per combination of the other swept values).
const MAX_SURVIVAL_CHARTS: usize = 6;
const HEATMAP_SIZE: (u32, u32) = (560, 420);

pub use crate::spec::ReportOptions;

/// One configuration's row of `results.csv`, with the figures the page ranks by.
#[derive(Clone, Debug)]
pub struct Config {
    pub id: usize,
    /// swept values as written
    pub values: Vec<String>,
    /// every column by name (NaN when empty)
    pub fields: BTreeMap<String, f64>,
    pub p_liquidation: f64,
    pub p_ruin: f64,
    /// the share of paths that did not survive (liquidated or ruined at 10 % of the start)
    pub p_failed: f64,
    /// the share of paths whose outcome is "halted" (survivors a breaker stopped for good)
    pub p_halted: f64,
    /// USDT
    pub median_equity: f64,
    /// fraction
    pub median_drawdown: f64,
    pub score: f64,
    pub passes: bool,
    /// paths liquidated (history liquidations without Monte Carlo)
    pub liquidated: f64,
}

/// `results.csv` read for the page.
pub struct Results {
    pub axes: Vec<String>,
    pub columns: Vec<String>,
    pub configs: Vec<Config>,
    pub monte_carlo: bool,
    /// the name of the deepest ruin level's column, e.g. "p_ruin_10"
    pub ruin_column: Option<String>,
}

/// Reads `results.csv` in `dir`. `start` is the starting balance (USDT), for returns.
pub fn read(dir: &Path, start: f64, options: &ReportOptions) -> Result<Results, ReportError> {
    let path = dir.join(RESULTS);
    let io = |e: csv::Error| ReportError::Io {
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut reader = csv::Reader::from_path(&path).map_err(io)?;
    let columns: Vec<String> = reader
        .headers()
        .map_err(io)?
        .iter()
        .map(String::from)
        .collect();
    let first_metric = columns
        .iter()
        .position(|c| c == "total_return")
        .unwrap_or(columns.len());
    let axes: Vec<String> = columns[1.min(first_metric)..first_metric].to_vec();
    // the deepest ruin level has the smallest percentage
    let ruin_column = columns
        .iter()
        .filter_map(|c| {
            c.strip_prefix("p_ruin_")
                .and_then(|l| l.parse::<f64>().ok())
                .map(|l| (l, c.clone()))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c);
    let mut configs = Vec::new();
    let mut monte_carlo = false;
    for record in reader.records() {
        let record = record.map_err(io)?;
        let Ok(id) = record.get(0).unwrap_or("").parse::<usize>() else {
            continue;
        };
        let outcome = columns
            .iter()
            .position(|c| c == "outcome")
            .and_then(|i| record.get(i))
            .unwrap_or("")
            .to_string();
        let values: Vec<String> = (1..first_metric)
            .map(|i| record.get(i).unwrap_or("").to_string())
            .collect();
        let fields: BTreeMap<String, f64> = columns
            .iter()
            .enumerate()
            .skip(first_metric)
            .map(|(i, c)| {
                let v = match record.get(i).unwrap_or("") {
                    "true" => 1.0,
                    "false" => 0.0,
                    text => text.parse().unwrap_or(f64::NAN),
                };
                (c.clone(), v)
            })
            .collect();
        let get = |c: &str| fields.get(c).copied().unwrap_or(f64::NAN);
        let start = axes
            .iter()
            .position(|a| a == "account.balance")
            .and_then(|i| values[i].parse().ok())
            .unwrap_or(start);
        let paths = get("paths");
        let mc = paths > 0.0;
        monte_carlo |= mc;
        let (p_liquidation, p_ruin, median_equity, median_drawdown, liquidated) = if mc {
            (
                get("p_liquidation"),
                ruin_column.as_deref().map_or(f64::NAN, get),
                get("median_final_equity"),
                get("median_max_drawdown"),
                (get("p_liquidation") * paths).round(),
            )
        } else {
            (
                f64::from(get("liquidations") > 0.0),
                f64::from(get("survived") == 0.0),
                start * (1.0 + get("total_return")),
                get("max_drawdown"),
                get("liquidations"),
            )
        };
        let (p_failed, p_halted) = if mc && fields.contains_key("p_survived") {
            (1.0 - get("p_survived"), get("p_halted"))
        } else if mc {
            // a results file from before p_survived: the two shares it has
            (p_liquidation.max(p_ruin), f64::NAN)
        } else {
            (
                f64::from(get("survived") == 0.0),
                f64::from(outcome == "halted"),
            )
        };
        let score = (median_equity / start - 1.0) / median_drawdown.max(0.01);
        configs.push(Config {
            id,
            values,
            passes: p_failed <= options.max_p_failure,
            fields,
            p_liquidation,
            p_ruin,
            p_failed,
            p_halted,
            median_equity,
            median_drawdown,
            score,
            liquidated,
        });
    }
    Ok(Results {
        axes,
        columns,
        configs,
        monte_carlo,
        ruin_column,
    })
}

/// The swept path that sets leverage, if any.
fn leverage_axis(axes: &[String]) -> Option<usize> {
    axes.iter()
        .position(|a| a.ends_with("max_leverage"))
        .or_else(|| axes.iter().position(|a| a.contains("leverage")))
}

/// The heatmaps' axes: the spec's choice, else leverage × a sizing parameter, else the
/// first two swept paths. `None` for y when only one path is swept.
fn heatmap_axes(axes: &[String], options: &ReportOptions) -> (usize, Option<usize>) {
    let index =
        |name: &Option<String>| name.as_ref().and_then(|n| axes.iter().position(|a| a == n));
    let sizing = [
        "risk_per_trade",
        "fixed_fraction",
        "kelly_scale",
        "volatility_target",
        "fixed_notional",
    ];
    let x = index(&options.heatmap_x)
        .or_else(|| leverage_axis(axes))
        .unwrap_or(0);
    let y = index(&options.heatmap_y).or_else(|| {
        axes.iter()
            .enumerate()
            .find(|(i, a)| *i != x && sizing.iter().any(|s| a.ends_with(s)))
            .map(|(i, _)| i)
            .or_else(|| (0..axes.len()).find(|&i| i != x))
    });
    (x, y)
}

/// Distinct values of axis `i`, numerically sorted when all are numbers.
fn levels(configs: &[Config], i: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in configs {
        if !out.contains(&c.values[i]) {
            out.push(c.values[i].clone());
        }
    }
    if out.iter().all(|v| v.parse::<f64>().is_ok()) {
        out.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        });
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    crate::sweep::stats::quantile(&v, 0.5)
}

/// The short name of a swept path: its last segment.
fn short(axis: &str) -> &str {
    axis.rsplit('.').next().unwrap_or(axis)
}

/// A value with its unit where the path says it: leverage as "5x".
fn value_text(axis: &str, value: &str) -> String {
    if axis.contains("leverage") && value.parse::<f64>().is_ok() {
        format!("{value}x")
    } else {
        value.to_string()
    }
}

/// "max_leverage 5x, preset default".
fn describe(axes: &[String], c: &Config) -> String {
    axes.iter()
        .zip(&c.values)
        .map(|(a, v)| format!("{} {}", short(a), value_text(a, v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pct(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else {
        format!("{} %", chart::short_number(100.0 * x))
    }
}

/// The configurations that get a run report: the best `top` by risk-adjusted return among
/// those within the limit (or, when none is, the `top` that survived most often), or all.
pub fn chosen(results: &Results, options: &ReportOptions, all: bool) -> Vec<usize> {
    if all {
        return results.configs.iter().map(|c| c.id).collect();
    }
    let mut ranked: Vec<&Config> = results.configs.iter().collect();
    if ranked.iter().any(|c| c.passes) {
        ranked.retain(|c| c.passes);
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    } else {
        ranked.sort_by(|a, b| {
            a.p_failed
                .total_cmp(&b.p_failed)
                .then(b.score.total_cmp(&a.score))
                .then(a.id.cmp(&b.id))
        });
    }
    let mut ids: Vec<usize> = ranked.iter().take(options.top).map(|c| c.id).collect();
    ids.sort_unstable();
    ids
}

/// The sentence the user came for.
pub fn answer(results: &Results, options: &ReportOptions) -> String {
    let limit = options.max_p_failure;
    let survive = if results.monte_carlo {
        format!("{} of paths", pct(1.0 - limit))
    } else {
        "the history (no Monte Carlo paths)".to_string()
    };
    let best = results
        .configs
        .iter()
        .filter(|c| c.passes)
        .max_by(|a, b| a.score.total_cmp(&b.score).then(b.id.cmp(&a.id)));
    let halted = |c: &Config| {
        // NaN (a results file from before p_halted) says nothing
        if c.p_halted.is_nan() || c.p_halted <= 0.0 {
            String::new()
        } else if results.monte_carlo {
            format!(", {} of them halted for good by a breaker", pct(c.p_halted))
        } else {
            ", halted for good by a breaker".to_string()
        }
    };
    let figures = |c: &Config| {
        if results.monte_carlo {
            format!(
                "survived {} of paths{}, P(liquidation) {}, median final equity {} USDT, median max drawdown {}",
                pct(1.0 - c.p_failed),
                halted(c),
                pct(c.p_liquidation),
                html::grouped(c.median_equity, 0),
                pct(c.median_drawdown)
            )
        } else {
            format!(
                "final equity {} USDT, max drawdown {}{}",
                html::grouped(c.median_equity, 0),
                pct(c.median_drawdown),
                halted(c)
            )
        }
    };
    let Some(best) = best else {
        let most = results
            .configs
            .iter()
            .min_by(|a, b| a.p_failed.total_cmp(&b.p_failed));
        return match most {
            None => "No configuration has finished yet.".into(),
            Some(c) => format!(
                "No configuration survived {survive} (neither liquidated nor ruined): the most that did was {} at {}.",
                pct(1.0 - c.p_failed),
                describe(&results.axes, c)
            ),
        };
    };
    let mut best_text = format!(
        "The best risk-adjusted configuration within that limit is {} (id {}): {}.",
        describe(&results.axes, best),
        best.id,
        figures(best)
    );
    if best.score < 0.0 {
        let all_lost = results
            .configs
            .iter()
            .filter(|c| c.passes)
            .all(|c| c.score < 0.0);
        best_text += if all_lost {
            " Every configuration within the limit lost money on its median path, this one included."
        } else {
            " Its median path still lost money."
        };
    }
    if best.p_halted >= 0.5 {
        best_text += &format!(
            " A breaker's halt did the surviving on {} of its paths: it stopped the bot for good and kept what was left.",
            pct(best.p_halted)
        );
    }
    let Some(li) = leverage_axis(&results.axes) else {
        return format!(
            "{} of {} configurations survived {survive} (neither liquidated nor ruined). {best_text}",
            results.configs.iter().filter(|c| c.passes).count(),
            results.configs.len()
        );
    };
    let axis = &results.axes[li];
    let highest = |c: &Config, top: bool| {
        // a leverage setting the account never came near is named with what it carried
        let nominal = c.values[li].parse::<f64>().unwrap_or(f64::NAN);
        let carried = c.fields.get("max_leverage").copied().unwrap_or(f64::NAN);
        let mut notes = Vec::new();
        if top {
            notes.push("the highest tested".to_string());
        }
        if carried < 0.5 * nominal {
            notes.push(format!(
                "never carrying more than {}x",
                html::grouped(carried, 1)
            ));
        }
        let top_text = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        format!("{}{top_text}", value_text(axis, &c.values[li]))
    };
    let groups = by_other_values(results, li);
    if (2..=4).contains(&groups.len()) {
        // one answer per setting of the other parameters (e.g. without and with the rules)
        let parts: Vec<String> = groups
            .iter()
            .map(|(key, configs)| match highest_surviving(configs, li) {
                Some((c, top)) => format!("{} with {key}", highest(c, top)),
                None => format!("none with {key}"),
            })
            .collect();
        return format!(
            "The highest leverage at which this strategy survived {survive} (neither liquidated nor ruined) was {}. {best_text}",
            parts.join("; ")
        );
    }
    let all: Vec<&Config> = results.configs.iter().collect();
    match highest_surviving(&all, li) {
        Some((c, top)) => format!(
            "The highest leverage at which this strategy survived {survive} (neither liquidated nor ruined) was {} ({}{}): {}. {best_text}",
            value_text(axis, &c.values[li]),
            if top { "the highest tested; " } else { "" },
            describe(&results.axes, c),
            figures(c)
        ),
        None => best_text,
    }
}

/// The configurations grouped by their values of every swept path but `axis`, in order of
/// first appearance; each group named like "preset default" (empty with one swept path).
fn by_other_values(results: &Results, axis: usize) -> Vec<(String, Vec<&Config>)> {
    let mut groups: Vec<(String, Vec<&Config>)> = Vec::new();
    for c in &results.configs {
        let key = results
            .axes
            .iter()
            .zip(&c.values)
            .enumerate()
            .filter(|(i, _)| *i != axis)
            .map(|(_, (a, v))| format!("{} {}", short(a), value_text(a, v)))
            .collect::<Vec<_>>()
            .join(", ");
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(c),
            None => groups.push((key, vec![c])),
        }
    }
    groups
}

/// The highest leverage within the limit among `configs` (with the best such
/// configuration at it), and whether it is the highest tested.
fn highest_surviving<'a>(configs: &[&'a Config], li: usize) -> Option<(&'a Config, bool)> {
    let tested = configs
        .iter()
        .filter_map(|c| c.values[li].parse::<f64>().ok())
        .fold(f64::NEG_INFINITY, f64::max);
    configs
        .iter()
        .filter(|c| c.passes)
        .filter_map(|c| c.values[li].parse::<f64>().ok().map(|l| (l, *c)))
        .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.score.total_cmp(&b.1.score)))
        .map(|(l, c)| (c, l >= tested))
}

/// A chart to draw.
enum Draw {
    Heat(Heatmap),
    Time(TimeChart),
    Bars(BarChart),
}

fn heatmaps(results: &Results, options: &ReportOptions) -> Vec<(String, String, Draw)> {
    let (xi, yi) = heatmap_axes(&results.axes, options);
    if results.axes.is_empty() {
        return Vec::new();
    }
    let xs = levels(&results.configs, xi);
    let ys = yi.map_or_else(|| vec![String::new()], |y| levels(&results.configs, y));
    let cell = |f: &dyn Fn(&Config) -> f64| -> Vec<Vec<f64>> {
        ys.iter()
            .map(|yv| {
                xs.iter()
                    .map(|xv| {
                        median(
                            results
                                .configs
                                .iter()
                                .filter(|c| {
                                    &c.values[xi] == xv && yi.is_none_or(|y| &c.values[y] == yv)
                                })
                                .map(f)
                                .collect(),
                        )
                    })
                    .collect()
            })
            .collect()
    };
    let several = results.axes.len() > 2 || (yi.is_none() && results.axes.len() > 1);
    let note = if several {
        " (median over the other swept values)"
    } else {
        ""
    };
    let ruin_name = results
        .ruin_column
        .as_deref()
        .and_then(|c| c.strip_prefix("p_ruin_"))
        .map_or_else(
            || "ruin".to_string(),
            |l| format!("ruin (equity ≤ {l} % of the start)"),
        );
    // (file id, title, the figure, low is good, its text)
    type Figure = fn(&Config) -> f64;
    type Text = fn(f64) -> String;
    let what: [(&str, String, Figure, bool, Text); 5] = [
        (
            "equity",
            "median final equity (USDT)".to_string(),
            |c| c.median_equity,
            false,
            |v| {
                if v.abs() >= 100.0 {
                    html::grouped(v, 0)
                } else {
                    chart::short_number(v)
                }
            },
        ),
        (
            "drawdown",
            "median max drawdown".to_string(),
            |c| c.median_drawdown,
            true,
            pct,
        ),
        (
            "liquidation",
            "P(liquidation)".to_string(),
            |c| c.p_liquidation,
            true,
            pct,
        ),
        ("ruin", format!("P({ruin_name})"), |c| c.p_ruin, true, pct),
        // what a leverage setting came to: a "20x" the sizing kept at 3.2x says so
        (
            "leverage",
            "highest leverage carried on the history (× equity)".to_string(),
            |c| c.fields.get("max_leverage").copied().unwrap_or(f64::NAN),
            true,
            |v| format!("{}x", html::grouped(v, 1)),
        ),
    ];
    let carried = results
        .configs
        .iter()
        .any(|c| c.fields.contains_key("max_leverage"));
    what.into_iter()
        .filter(|w| w.0 != "leverage" || carried)
        .map(|(id, title, f, reverse, fmt)| {
            let values = cell(&f);
            let texts = values
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|&v| if v.is_nan() { "–".into() } else { fmt(v) })
                        .collect()
                })
                .collect();
            let map = Heatmap {
                title: title.clone(),
                x_label: results.axes[xi].clone(),
                y_label: yi.map_or_else(String::new, |y| results.axes[y].clone()),
                x_ticks: xs
                    .iter()
                    .map(|v| value_text(&results.axes[xi], v))
                    .collect(),
                y_ticks: ys
                    .iter()
                    .map(|v| yi.map_or_else(String::new, |y| value_text(&results.axes[y], v)))
                    .collect(),
                values,
                texts,
                reverse,
            };
            (
                format!("heatmap_{id}"),
                format!("{title}{note}"),
                Draw::Heat(map),
            )
        })
        .collect()
}

/// Kaplan–Meier S(t) as step lines: per combination of the other swept values, one line per
/// leverage level (or per value of the first swept path).
fn survival_charts(
    results: &Results,
    survival: &BTreeMap<usize, Vec<(f64, f64)>>,
    span_days: f64,
) -> (Vec<(String, String, Draw)>, usize) {
    if survival.is_empty() || results.axes.is_empty() {
        return (Vec::new(), 0);
    }
    let li = leverage_axis(&results.axes).unwrap_or(0);
    let groups = by_other_values(results, li);
    let total = groups.len();
    let charts = groups
        .into_iter()
        .take(MAX_SURVIVAL_CHARTS)
        .enumerate()
        .map(|(g, (key, mut configs))| {
            configs.sort_by(|a, b| {
                let num = |c: &Config| c.values[li].parse::<f64>().unwrap_or(f64::NAN);
                num(a).total_cmp(&num(b)).then(a.id.cmp(&b.id))
            });
            let title = if key.is_empty() {
                "Survival: no liquidation and no ruin".to_string()
            } else {
                format!("Survival: {key}")
            };
            let mut tc = TimeChart::new(&title, "paths surviving (%)");
            tc.x_format = XFormat::Days;
            tc.x_label = "days from the start".into();
            tc.y_format = YFormat::Percent;
            for (k, c) in configs.iter().enumerate() {
                let Some(steps) = survival.get(&c.id) else {
                    continue;
                };
                let mut points = Vec::with_capacity(2 * steps.len() + 1);
                let mut level = 1.0;
                for &(day, s) in steps {
                    let t = (day * DAY_MS) as i64;
                    points.push((t, level));
                    points.push((t, s));
                    level = s;
                }
                points.push(((span_days * DAY_MS) as i64, level));
                tc.lines.push(Line {
                    label: value_text(&results.axes[li], &c.values[li]),
                    points,
                    pen: Pen::new(PALETTE[k % PALETTE.len()], DASHES[k % DASHES.len()], 2),
                    fill: false,
                });
            }
            let low = tc
                .lines
                .iter()
                .flat_map(|l| l.points.iter().map(|p| p.1))
                .fold(1.0f64, f64::min);
            tc.y_range = Some(((low - 0.05).max(0.0), 1.02));
            (format!("survival_{}", g + 1), title, Draw::Time(tc))
        })
        .collect();
    (charts, total)
}

fn liquidation_bars(results: &Results) -> (String, String, Draw) {
    let mut title = if results.monte_carlo {
        "Paths liquidated per configuration".to_string()
    } else {
        "Liquidations per configuration (history)".to_string()
    };
    if results.configs.iter().all(|c| c.liquidated == 0.0) {
        title += ": none";
    }
    let names = results
        .configs
        .iter()
        .map(|c| {
            if results.configs.len() > 24 {
                c.id.to_string()
            } else {
                results
                    .axes
                    .iter()
                    .zip(&c.values)
                    .map(|(a, v)| value_text(a, v))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        })
        .collect();
    let bars = BarChart {
        title: title.clone(),
        x_label: if results.configs.len() > 24 {
            "configuration id".into()
        } else {
            results
                .axes
                .iter()
                .map(|a| short(a))
                .collect::<Vec<_>>()
                .join(" · ")
        },
        y_label: if results.monte_carlo {
            "paths".into()
        } else {
            "liquidations".into()
        },
        names,
        values: results.configs.iter().map(|c| c.liquidated).collect(),
        accent: results.configs.iter().map(|c| !c.passes).collect(),
    };
    (
        "liquidations".into(),
        format!("{title}; outlined red bars break the survival limit"),
        Draw::Bars(bars),
    )
}

#[derive(Serialize)]
struct Cell {
    text: String,
    /// the raw value, for sorting
    v: String,
    text_cell: bool,
}

#[derive(Serialize)]
struct RowView {
    id: usize,
    class: &'static str,
    cells: Vec<Cell>,
    link: Option<String>,
}

#[derive(Serialize)]
struct SweepView {
    title: String,
    subtitle: String,
    answer: String,
    limit: String,
    notes: Vec<String>,
    heatmaps: Vec<FigureView>,
    survival: Vec<FigureView>,
    bars: Vec<FigureView>,
    header: Vec<(String, bool)>,
    rows: Vec<RowView>,
    definitions: Vec<(String, String)>,
    css: &'static str,
    sort_js: &'static str,
}

/// What the index says about the sweep beyond its results.
pub struct About {
    pub name: String,
    /// USDT
    pub start: f64,
    /// days the history spans (the survival charts' x range)
    pub span_days: f64,
    /// e.g. "ema_cross on BTCUSDT, 4h bars, 2024-01-01 → 2025-12-31"
    pub description: String,
}

/// Writes `index.html` and its charts into `dir`; `reports` are the configurations that have
/// a run report in `configs/<id>/`.
pub fn write_index(
    dir: &Path,
    about: &About,
    options: &ReportOptions,
    reports: &[usize],
) -> Result<(), ReportError> {
    let results = read(dir, about.start, options)?;
    let survival_rows = read_survival(&dir.join(SURVIVAL)).map_err(|e| ReportError::Io {
        path: dir.join(SURVIVAL),
        source: e,
    })?;
    let survival: BTreeMap<usize, Vec<(f64, f64)>> = survival_rows
        .into_iter()
        .map(|(id, lines)| {
            let steps = lines
                .iter()
                .filter_map(|l| {
                    let mut f = l.split(',').skip(1);
                    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
                })
                .collect();
            (id, steps)
        })
        .collect();
    let heat = heatmaps(&results, options);
    let (surv, groups) = survival_charts(&results, &survival, about.span_days);
    let bars = liquidation_bars(&results);
    let draw = |(file_id, title, d): (String, String, Draw)| -> Result<Figure, ReportError> {
        let (png, size, chart_title) = match &d {
            Draw::Heat(h) => (
                chart::heatmap(h, HEATMAP_SIZE)?,
                HEATMAP_SIZE,
                h.title.clone(),
            ),
            Draw::Time(t) => (
                chart::time_chart(t, chart::SIZE)?,
                chart::SIZE,
                t.title.clone(),
            ),
            Draw::Bars(b) => (
                chart::bar_chart(b, chart::SIZE)?,
                chart::SIZE,
                b.title.clone(),
            ),
        };
        Ok(Figure {
            file: format!("{file_id}.png"),
            id: file_id,
            title: chart_title,
            caption: title,
            png,
            size,
        })
    };
    let heat: Vec<Figure> = heat.into_par_iter().map(draw).collect::<Result<_, _>>()?;
    let surv: Vec<Figure> = surv.into_par_iter().map(draw).collect::<Result<_, _>>()?;
    let bars = vec![draw(bars)?];
    for p in heat.iter().chain(&surv).chain(&bars) {
        html::write(&dir.join(&p.file), &p.png)?;
    }
    let best = results
        .configs
        .iter()
        .filter(|c| c.passes)
        .max_by(|a, b| a.score.total_cmp(&b.score).then(b.id.cmp(&a.id)))
        .map(|c| c.id);
    let shown: Vec<&str> = [
        "total_return",
        "max_drawdown",
        "sharpe",
        "liquidations",
        "p_liquidation",
    ]
    .into_iter()
    .chain(results.ruin_column.as_deref())
    .chain([
        "median_final_equity",
        "p5_final_equity",
        "median_max_drawdown",
        "median_days_to_liquidation",
    ])
    .filter(|c| results.columns.iter().any(|h| h == c))
    .collect();
    let mut header: Vec<(String, bool)> = vec![("id".into(), false)];
    header.extend(results.axes.iter().map(|a| (a.clone(), true)));
    header.extend(shown.iter().map(|c| (c.to_string(), false)));
    header.push(("risk-adjusted return".into(), false));
    header.push(("report".into(), true));
    let rows = results
        .configs
        .iter()
        .map(|c| {
            let mut cells = vec![Cell {
                text: c.id.to_string(),
                v: c.id.to_string(),
                text_cell: false,
            }];
            for v in &c.values {
                cells.push(Cell {
                    text: v.clone(),
                    v: v.clone(),
                    text_cell: true,
                });
            }
            for col in &shown {
                let x = c.fields.get(*col).copied().unwrap_or(f64::NAN);
                let text = match *col {
                    "liquidations" => html::grouped(x, 0),
                    "sharpe" => html::grouped(x, 2),
                    "median_final_equity" | "p5_final_equity" => html::grouped(x, 0),
                    "median_days_to_liquidation" => html::grouped(x, 0),
                    _ => format!("{} %", html::grouped(100.0 * x, 1)).replace("– %", "–"),
                };
                cells.push(Cell {
                    text,
                    v: if x.is_nan() {
                        String::new()
                    } else {
                        x.to_string()
                    },
                    text_cell: false,
                });
            }
            cells.push(Cell {
                text: html::grouped(c.score, 2),
                v: c.score.to_string(),
                text_cell: false,
            });
            RowView {
                id: c.id,
                class: if Some(c.id) == best {
                    "best"
                } else if c.passes {
                    "pass"
                } else {
                    ""
                },
                cells,
                link: reports
                    .contains(&c.id)
                    .then(|| format!("configs/{}/report.html", c.id)),
            }
        })
        .collect();
    let mut notes = Vec::new();
    if !results.monte_carlo {
        notes.push("No Monte Carlo paths ([sweep.montecarlo] is absent): probabilities are 0 or 1, from the history alone, and there are no survival curves.".to_string());
    }
    if groups > MAX_SURVIVAL_CHARTS {
        notes.push(format!(
            "Survival curves: the first {MAX_SURVIVAL_CHARTS} of {groups} combinations of the other swept values are drawn; all curves are in survival.csv."
        ));
    }
    let ruin_text = results
        .ruin_column
        .as_deref()
        .and_then(|c| c.strip_prefix("p_ruin_"))
        .map_or("the deepest ruin level".to_string(), |l| {
            format!("{l} % of the start")
        });
    let view = SweepView {
        title: format!("Sweep {}", about.name),
        subtitle: about.description.clone(),
        answer: answer(&results, options),
        limit: pct(options.max_p_failure),
        notes,
        heatmaps: heat.iter().map(Figure::view).collect(),
        survival: surv.iter().map(Figure::view).collect(),
        bars: bars.iter().map(Figure::view).collect(),
        header,
        rows,
        definitions: vec![
            ("survived".into(), "neither liquidated nor ruined at 10 % of the start, the one meaning used throughout (the end of each survival curve); halted paths, which a breaker stopped for good, survived and are counted apart".into()),
            ("P(liquidation)".into(), "share of Monte Carlo paths with at least one liquidation".into()),
            ("P(ruin)".into(), format!("share of paths whose equity fell to {ruin_text} or below at some bar close")),
            ("survival S(t)".into(), "Kaplan–Meier estimate of the share of paths with neither a liquidation nor ruin after t days".into()),
            ("risk-adjusted return".into(), "median return over the paths / their median maximum drawdown (floored at 1 %); without paths, the history's return / its maximum drawdown".into()),
            ("history columns".into(), "total_return, max_drawdown, sharpe and liquidations are the configuration's run on the actual history".into()),
        ],
        css: html::CSS,
        sort_js: html::SORT_JS,
    };
    let page = html::render("sweep.html", &view)?;
    html::write(&dir.join("index.html"), page.as_bytes())
}

/// Runs the chosen configurations on the history again, with the full record, and writes
/// each one's run directory and report into `dir/configs/<id>/`, in parallel.
pub fn write_config_reports(dir: &Path, sweep: &Sweep, ids: &[usize]) -> Result<(), ReportError> {
    ids.par_iter().try_for_each(|&id| {
        let point = sweep.grid.point(id);
        let mut spec = sweep
            .spec_of(&point)
            .map_err(|e| ReportError::Template(e.to_string()))?;
        spec.title = format!(
            "{} — configuration {id}: {}",
            spec.title,
            crate::sweep::grid::describe(&sweep.grid, &point)
        );
        let run = crate::outcome::run(&spec, &sweep.market, true);
        let out = dir.join("configs").join(id.to_string());
        super::files::write_run(&out, &run).map_err(|source| ReportError::Io {
            path: out.clone(),
            source,
        })?;
        run_page::write_report(
            &out,
            &spec,
            &sweep.market,
            &run,
            Place {
                back: Some("../../index.html"),
            },
        )
    })
}

/// A finished sweep's report in `out`: the chosen configurations' run reports (the best
/// `top`, or all) and `index.html`. Returns the ids that got a run report.
pub fn write_sweep_report(sweep: &Sweep, out: &Path, all: bool) -> Result<Vec<usize>, ReportError> {
    let first = sweep
        .points
        .first()
        .ok_or_else(|| ReportError::Template("the sweep has no configuration".into()))?;
    let spec = sweep
        .spec_of(first)
        .map_err(|e| ReportError::Template(e.to_string()))?;
    let clock = &sweep.market.clock;
    let tf = sweep.market.symbols.first().map_or(0, |s| s.timeframe.ms());
    let (from, to) = (
        clock.first().copied().unwrap_or(0),
        clock.last().copied().unwrap_or(0) + tf,
    );
    let paths = sweep.montecarlo.as_ref().map_or(0, |m| m.paths);
    let about = About {
        name: sweep.name.clone(),
        start: spec.balance.to_f64().unwrap_or(0.0),
        span_days: (to - from) as f64 / 86_400_000.0,
        description: format!(
            "{} on {}, {} bars of {}, {} → {}; {} configuration(s){}{}",
            spec.strategy_kind,
            sweep
                .market
                .symbols
                .iter()
                .map(|s| s.symbol.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            clock.len(),
            sweep
                .market
                .symbols
                .first()
                .map_or_else(String::new, |s| s.timeframe.to_string()),
            format_utc(from),
            format_utc(to),
            sweep.points.len(),
            if paths > 0 {
                format!(" × {paths} Monte Carlo paths")
            } else {
                String::new()
            },
            match &sweep.grid.constraint {
                Some(c) if sweep.left_out > 0 => format!(
                    " ({} of {} grid points left out by the constraint `{c}`)",
                    sweep.left_out,
                    sweep.grid.size()
                ),
                _ => String::new(),
            }
        ),
    };
    let results = read(out, about.start, &sweep.report)?;
    let ids = chosen(&results, &sweep.report, all);
    write_config_reports(out, sweep, &ids)?;
    write_index(out, &about, &sweep.report, &ids)?;
    Ok(ids)
}

/// The index of merged shards, from the copy of the spec they carry (no run reports: the
/// history is not loaded here).
pub fn write_merged_index(
    out: &Path,
    shards: usize,
    merged: crate::sweep::Merged,
) -> Result<(), ReportError> {
    let fail = ReportError::Template;
    let text = std::fs::read_to_string(out.join("spec.toml")).unwrap_or_default();
    let doc: toml::Table = toml::from_str(&text).unwrap_or_default();
    let start = doc
        .get("account")
        .and_then(|a| a.get("balance"))
        .and_then(|b| b.as_float().or_else(|| b.as_integer().map(|i| i as f64)))
        .unwrap_or(10_000.0);
    // the shards ran the same spec, checked then; a heatmap axis that is not swept falls
    // back to the default axes
    let options = match doc.get("report").and_then(|r| r.as_table()) {
        Some(t) => crate::keys::table_into::<crate::spec::RawReport>(t)
            .map_err(|f| (f.key, f.message))
            .and_then(|raw| raw.options())
            .map_err(|(k, m)| fail(format!("report.{k}: {m}")))?,
        None => ReportOptions::default(),
    };
    let survival = read_survival(&out.join(SURVIVAL)).map_err(|source| ReportError::Io {
        path: out.join(SURVIVAL),
        source,
    })?;
    let span_days = survival
        .values()
        .flatten()
        .filter_map(|l| l.split(',').nth(1)?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    let about = About {
        name: doc
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("merged")
            .to_string(),
        start,
        span_days,
        description: if merged.rows < merged.points {
            format!(
                "merged from {shards} shard(s) — PARTIAL: {} of the grid's {} configurations; \
                 the answer below covers only these",
                merged.rows, merged.points
            )
        } else {
            format!("merged from {shards} shard(s)")
        },
    };
    write_index(out, &about, &options, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A results table of (leverage, preset, P(liquidation), median equity, median drawdown).
    fn results(rows: &[(&str, &str, f64, f64, f64)]) -> Results {
        let options = ReportOptions::default();
        let configs = rows
            .iter()
            .enumerate()
            .map(|(id, &(lev, preset, p, equity, dd))| Config {
                id,
                values: vec![lev.into(), preset.into()],
                fields: BTreeMap::new(),
                p_liquidation: p,
                p_ruin: p,
                p_failed: p,
                p_halted: 0.0,
                median_equity: equity,
                median_drawdown: dd,
                // return / drawdown with a start of 10,000
                score: (equity / 10_000.0 - 1.0) / dd.max(0.01),
                passes: p <= options.max_p_failure,
                liquidated: p * 100.0,
            })
            .collect();
        Results {
            axes: vec!["risk.max_leverage".into(), "risk.preset".into()],
            columns: Vec::new(),
            configs,
            monte_carlo: true,
            ruin_column: Some("p_ruin_10".into()),
        }
    }

    #[test]
    fn the_answer_names_the_highest_surviving_leverage_per_setting() {
        let r = results(&[
            ("1", "off", 0.0, 11_000.0, 0.2),
            ("5", "off", 0.3, 9_000.0, 0.6),
            ("1", "default", 0.0, 10_500.0, 0.1),
            ("5", "default", 0.005, 12_000.0, 0.2),
        ]);
        let a = answer(&r, &ReportOptions::default());
        assert!(
            a.starts_with("The highest leverage at which this strategy survived 99 % of paths (neither liquidated nor ruined) was 1x with preset off; 5x (the highest tested) with preset default."),
            "{a}"
        );
        // scores: 1x off 0.1/0.2 = 0.5; 1x default 0.05/0.1 = 0.5; 5x default 0.2/0.2 = 1
        assert!(
            a.contains("is max_leverage 5x, preset default (id 3)"),
            "{a}"
        );
        // the best two within the limit get a report, in id order
        let options = ReportOptions {
            top: 2,
            ..ReportOptions::default()
        };
        assert_eq!(chosen(&r, &options, false), vec![0, 3]);
        assert_eq!(chosen(&r, &options, true), vec![0, 1, 2, 3]);
    }

    #[test]
    fn the_answer_says_when_the_best_lost_money_and_a_halt_did_the_surviving() {
        // every configuration within the limit ends its median path below the 10,000 start
        let mut r = results(&[
            ("1", "default", 0.0, 9_700.0, 0.3),
            ("3", "default", 0.0, 8_900.0, 0.3),
            ("3", "off", 0.2, 5_000.0, 0.6),
        ]);
        r.configs[0].p_halted = 0.57;
        let a = answer(&r, &ReportOptions::default());
        assert!(
            a.contains(
                "(id 0): survived 100 % of paths, 57 % of them halted for good by a breaker"
            ),
            "{a}"
        );
        assert!(
            a.contains("Every configuration within the limit lost money on its median path, this one included."),
            "{a}"
        );
        assert!(
            a.contains("A breaker's halt did the surviving on 57 % of its paths"),
            "{a}"
        );
    }

    #[test]
    fn when_nothing_survives_the_answer_says_so() {
        let r = results(&[
            ("10", "off", 0.5, 100.0, 0.99),
            ("20", "off", 0.9, 10.0, 1.0),
        ]);
        let a = answer(&r, &ReportOptions::default());
        assert_eq!(
            a,
            "No configuration survived 99 % of paths (neither liquidated nor ruined): the most that did was 50 % at max_leverage 10x, preset off."
        );
        // the least liquidated get the reports
        let options = ReportOptions {
            top: 1,
            ..ReportOptions::default()
        };
        assert_eq!(chosen(&r, &options, false), vec![0]);
    }

    #[test]
    fn heatmap_axes_default_to_leverage_and_sizing() {
        let axes: Vec<String> = ["risk.preset", "risk.max_leverage", "risk.risk_per_trade"]
            .map(String::from)
            .to_vec();
        assert_eq!(heatmap_axes(&axes, &ReportOptions::default()), (1, Some(2)));
        let options = ReportOptions {
            heatmap_x: Some("risk.preset".into()),
            ..ReportOptions::default()
        };
        assert_eq!(heatmap_axes(&axes, &options).0, 0);
        assert_eq!(
            heatmap_axes(&axes[..1], &ReportOptions::default()),
            (0, None)
        );
    }
}
