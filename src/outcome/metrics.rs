//! A run's figures for `summary.json`: returns, risk-adjusted returns, trade statistics,
//! exposure and the account's events. Pure functions of the run's record.
//!
//! Conventions (documented in the README):
//! - Sharpe, Sortino and volatility are from **daily** returns of equity (wallet + unrealised
//!   PnL at the mark, at each UTC midnight), annualised with √365 (crypto trades every day)
//!   and a risk-free rate of 0, whatever the bar length, as QuantStats and most reports
//!   compute them; bars longer than a day use their own returns, annualised by bars a year;
//! - Sharpe = mean / standard deviation of daily returns × √365; Sortino uses the downside
//!   deviation √(Σ min(r, 0)² / n) instead; Calmar = CAGR / max drawdown. An arithmetic
//!   Sharpe can stay positive on a run that lost most of its equity (volatility drag): the
//!   reports lead with the outcome and the geometric return (CAGR, total return);
//! - `survived`: never liquidated, and equity never fell to `RUIN_FRACTION` of the start or
//!   below;
//! - `outcome`: exactly one of `liquidated` (at least one liquidation), `ruined` (equity at or
//!   below `RUIN_FRACTION` of the start), `halted` (a breaker stopped the bot for good: the
//!   kill switch without a cool-down) or `alive`, in that order of precedence. A halted run
//!   survived: it kept what the kill switch saved, and `halted` says when and at what equity
//!   it stopped trading.

use std::collections::BTreeMap;

use serde::Serialize;

use super::trades::{ExitReason, Trade};
use crate::engine::Curve;

/// Equity at or below this fraction of the start counts as ruin for `survived`.
pub const RUIN_FRACTION: f64 = 0.1;

const YEAR_MS: f64 = 365.0 * 86_400_000.0;

/// How a run (or a Monte Carlo path) ended: see the module's doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Liquidated,
    Ruined,
    Halted,
    Alive,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Liquidated => "liquidated",
            Outcome::Ruined => "ruined",
            Outcome::Halted => "halted",
            Outcome::Alive => "alive",
        }
    }
}

/// A breaker that stopped the bot for good.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Halt {
    /// the rule's name in the `[risk]` table
    pub rule: &'static str,
    /// ms
    pub time: i64,
    pub utc: String,
    /// USDT, when it stopped
    pub equity: f64,
    /// entries the halt refused from then on
    pub refused_after: u32,
}

/// The figures of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// USDT
    pub start_equity: f64,
    /// USDT
    pub final_equity: f64,
    /// fraction: final / start − 1
    pub total_return: f64,
    /// fraction per year
    pub cagr: f64,
    /// fraction of the peak
    pub max_drawdown: f64,
    /// days: the longest time below a previous peak
    pub max_drawdown_days: f64,
    /// USDT, the lowest equity
    pub min_equity: f64,
    /// fraction per year
    pub volatility: f64,
    pub sharpe: f64,
    pub sortino: f64,
    pub calmar: f64,
    pub trades: usize,
    /// fraction of closed trades with PnL > 0
    pub win_rate: f64,
    /// Σ winning PnL / |Σ losing PnL| (∞ written as null when nothing was lost)
    pub profit_factor: Option<f64>,
    /// USDT per closed trade
    pub average_trade: f64,
    /// fraction of steps with a position open
    pub exposure: f64,
    /// gross notional / equity, averaged over the steps with a position
    pub average_leverage: f64,
    /// gross notional / equity, the highest at a step's close: what a "20x" configuration
    /// really traded at
    pub max_leverage: f64,
    pub liquidations: usize,
    pub margin_calls: usize,
    /// USDT
    pub fees_paid: f64,
    /// USDT: paid (> 0) or received (< 0)
    pub funding_paid: f64,
    pub survived: bool,
    pub outcome: Outcome,
    /// the breaker that stopped the bot for good, if one did
    pub halted: Option<Halt>,
    /// trades per exit reason
    pub exits: BTreeMap<&'static str, usize>,
}

/// The account's counts that the curve does not hold.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub liquidations: usize,
    /// the breaker that stopped the bot for good
    pub halted: Option<Halt>,
    pub margin_calls: usize,
    /// USDT
    pub fees_paid: f64,
    /// USDT
    pub funding_paid: f64,
}

/// Computes the figures from the curve's running sums and the trades.
pub fn compute(
    curve: &Curve,
    start: f64,
    final_equity: f64,
    trades: &[Trade],
    c: Counts,
) -> Metrics {
    let total_return = final_equity / start - 1.0;
    let ruined = curve.min_equity <= RUIN_FRACTION * start;
    let span = curve
        .first_time
        .map_or(0.0, |first| (curve.last_time - first) as f64);
    let years = span / YEAR_MS;
    let cagr = if years > 0.0 && final_equity > 0.0 {
        (final_equity / start).powf(1.0 / years) - 1.0
    } else if final_equity <= 0.0 {
        -1.0
    } else {
        0.0
    };
    // daily returns of equity, annualised with √365, whatever the bar (QuantStats' way);
    // bars longer than a day give no daily return, and their own returns stand in
    let daily = curve.daily_returns.n >= 2
        && span <= curve.step_returns.n.max(1) as f64 * 86_400_000.0 + 1.0;
    let (moments, periods_a_year) = if daily {
        (curve.daily_returns, 365.0)
    } else {
        let n = curve.step_returns.n as f64;
        let steps_a_year = if span > 0.0 { n * YEAR_MS / span } else { 0.0 };
        (curve.step_returns, steps_a_year)
    };
    let n = moments.n as f64;
    let (sum, sq_sum, down_sq_sum) = (moments.sum, moments.sq_sum, moments.downside_sq_sum);
    let mean = if n > 0.0 { sum / n } else { 0.0 };
    let var = if n > 1.0 {
        ((sq_sum - n * mean * mean) / (n - 1.0)).max(0.0)
    } else {
        0.0
    };
    let downside = if n > 0.0 {
        (down_sq_sum / n).sqrt()
    } else {
        0.0
    };
    let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
    let closed: Vec<&Trade> = trades
        .iter()
        .filter(|t| t.exit_reason != ExitReason::Open)
        .collect();
    let won: f64 = closed.iter().map(|t| t.pnl).filter(|p| *p > 0.0).sum();
    let lost: f64 = -closed
        .iter()
        .map(|t| t.pnl)
        .filter(|p| *p < 0.0)
        .sum::<f64>();
    let wins = closed.iter().filter(|t| t.pnl > 0.0).count();
    let mut exits = BTreeMap::new();
    for t in trades {
        *exits.entry(t.exit_reason.name()).or_insert(0) += 1;
    }
    Metrics {
        start_equity: start,
        final_equity,
        total_return,
        cagr,
        max_drawdown: curve.max_drawdown,
        max_drawdown_days: curve.longest_underwater as f64 / 86_400_000.0,
        min_equity: curve.min_equity,
        volatility: var.sqrt() * periods_a_year.sqrt(),
        sharpe: ratio(mean, var.sqrt()) * periods_a_year.sqrt(),
        sortino: ratio(mean, downside) * periods_a_year.sqrt(),
        calmar: ratio(cagr, curve.max_drawdown),
        trades: trades.len(),
        win_rate: ratio(wins as f64, closed.len() as f64),
        profit_factor: (lost > 0.0).then(|| won / lost),
        average_trade: ratio(won - lost, closed.len() as f64),
        exposure: ratio(curve.exposed_steps as f64, curve.steps as f64),
        average_leverage: ratio(curve.leverage_sum, curve.exposed_steps as f64),
        max_leverage: curve.max_leverage,
        liquidations: c.liquidations,
        margin_calls: c.margin_calls,
        fees_paid: c.fees_paid,
        funding_paid: c.funding_paid,
        survived: c.liquidations == 0 && !ruined,
        outcome: if c.liquidations > 0 {
            Outcome::Liquidated
        } else if ruined {
            Outcome::Ruined
        } else if c.halted.is_some() {
            Outcome::Halted
        } else {
            Outcome::Alive
        },
        halted: c.halted,
        exits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's own record of an equity path, one step of `step_ms` each.
    fn curve(equity: &[f64], step_ms: i64) -> Curve {
        let mut c = Curve::new(false, equity[0]);
        for (i, &e) in equity.iter().enumerate().skip(1) {
            let t = (i as i64 - 1) * step_ms;
            let snap = crate::exchange::venue::Snapshot {
                wallet: e,
                ..Default::default()
            };
            c.record(t, t + step_ms, &snap);
        }
        c
    }

    #[test]
    fn returns_drawdown_and_ratios_by_hand() {
        // daily equity 100 → 110 → 99 → 121 over 3 days
        let c = curve(&[100.0, 110.0, 99.0, 121.0], 86_400_000);
        let m = compute(&c, 100.0, 121.0, &[], Counts::default());
        assert!((m.total_return - 0.21).abs() < 1e-12);
        // drawdown from 110 to 99: 1 − 99/110 = 0.1
        assert!((m.max_drawdown - 0.1).abs() < 1e-12);
        // CAGR over 3/365 of a year: 1.21^(365/3) − 1, a huge number, finite
        assert!((m.cagr - (1.21f64.powf(365.0 / 3.0) - 1.0)).abs() / m.cagr < 1e-9);
        // returns 0.1, −0.1, 0.2222…: mean 0.074074, sample sd 0.16267; 365 steps a year
        let r = [0.1, -0.1, 121.0 / 99.0 - 1.0];
        let mean = r.iter().sum::<f64>() / 3.0;
        let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((m.sharpe - mean / sd * 365f64.sqrt()).abs() < 1e-9);
        // downside deviation √(0.01 / 3)
        assert!((m.sortino - mean / (0.01f64 / 3.0).sqrt() * 365f64.sqrt()).abs() < 1e-9);
        assert!(m.survived);
    }

    #[test]
    fn sharpe_is_daily_whatever_the_bar() {
        // the same days — closes 110, 99, 108.9 from 100: returns +10 %, −10 %, +10 % — in
        // 1h bars that wiggle ±3 % inside each day, in 4h bars, and in 1d bars.
        // mean 0.033333, sample sd √((2 × 0.066667² + 0.133333²) / 2) = 0.115470:
        // Sharpe = 0.288675 × √365 = 5.5151; downside √(0.01 / 3) = 0.057735: Sortino 11.0302
        let days = [100.0, 110.0, 99.0, 108.9];
        let path = |per_day: usize| -> Vec<f64> {
            let mut e = vec![days[0]];
            for d in 1..days.len() {
                for k in 1..=per_day {
                    let straight =
                        days[d - 1] + (days[d] - days[d - 1]) * k as f64 / per_day as f64;
                    let wiggle = if k == per_day {
                        1.0
                    } else if k % 2 == 0 {
                        1.03
                    } else {
                        0.97
                    };
                    e.push(straight * wiggle);
                }
            }
            e
        };
        for (per_day, step) in [(24, 3_600_000), (6, 4 * 3_600_000), (1, 86_400_000)] {
            let c = curve(&path(per_day), step);
            let m = compute(&c, 100.0, 108.9, &[], Counts::default());
            assert!(
                (m.sharpe - 5.5151).abs() < 1e-3,
                "{per_day} bars a day: {}",
                m.sharpe
            );
            assert!(
                (m.sortino - 11.0302).abs() < 1e-3,
                "{per_day} bars a day: {}",
                m.sortino
            );
        }
    }

    #[test]
    fn a_liquidation_or_ruin_is_not_survival() {
        let c = curve(&[100.0, 50.0, 60.0], 3_600_000);
        let liquidated = Counts {
            liquidations: 1,
            ..Counts::default()
        };
        assert!(!compute(&c, 100.0, 60.0, &[], liquidated).survived);
        let c = curve(&[100.0, 10.0, 60.0], 3_600_000);
        assert!(!compute(&c, 100.0, 60.0, &[], Counts::default()).survived);
    }
}
