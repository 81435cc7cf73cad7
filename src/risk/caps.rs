//! The caps on a new position, as pure functions: each gives the largest notional (USDT) the
//! rule allows for the addition, given the account as it stands. `f64`: these are limits,
//! the fill that follows is booked in `Decimal`.

/// `max_position_pct`: the position's margin (notional / leverage, this addition plus what
/// it already holds) at most `pct` of equity.
pub fn position_pct(equity: f64, pct: f64, leverage: f64, held_notional: f64) -> f64 {
    (equity * pct * leverage - held_notional).max(0.0)
}

/// `max_total_exposure`: gross notional of every position, with the addition, at most
/// `cap` × equity.
pub fn total_exposure(equity: f64, cap: f64, gross_notional: f64) -> f64 {
    (equity * cap - gross_notional).max(0.0)
}

/// `cash_reserve`: margin in use plus what the addition commits — its margin, fee and
/// slippage, `per_notional` USDT per USDT of notional — at most `(1 − reserve)` of the
/// wallet.
pub fn cash_reserve(wallet: f64, reserve: f64, margin_in_use: f64, per_notional: f64) -> f64 {
    ((wallet * (1.0 - reserve) - margin_in_use) / per_notional).max(0.0)
}

/// The exchange's own condition: what the addition commits (`per_notional` USDT per USDT
/// of notional: margin, fee, slippage) at most the collateral `free` (USDT).
pub fn available_margin(free: f64, per_notional: f64) -> f64 {
    (free / per_notional).max(0.0)
}

/// `max_portfolio_volatility`: the largest addition `x` (USDT, signed by its side `sign`)
/// to symbol `k`'s exposure keeping the portfolio's daily volatility at most `limit`
/// (fraction of equity). With exposures `w` (USDT), daily covariance `Σ` (fraction²) and
/// `σ²_P(x) = (w + x·e_k)ᵀ Σ (w + x·e_k) / equity² = a·x² + 2·b·x + c` where
/// `a = Σ_kk`, `b = sign·(Σ w)_k`, `c = wᵀ Σ w`, the largest root of `σ²_P = limit²` is
/// `x = (−b + √(b² − a·(c − L²))) / a` with `L = limit × equity`.
/// 0 when the portfolio is over the limit already and the addition cannot bring it down.
pub fn portfolio_volatility(a: f64, b: f64, c: f64, limit: f64, equity: f64) -> f64 {
    let l2 = (limit * equity).powi(2);
    if a <= 0.0 {
        return f64::INFINITY;
    }
    let disc = b * b - a * (c - l2);
    if disc < 0.0 {
        return 0.0;
    }
    ((-b + disc.sqrt()) / a).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_worked_by_hand() {
        // 10,000 equity, 50 % of it as margin at 3x → 15,000 notional; 4,000 held → 11,000
        assert_eq!(position_pct(10_000.0, 0.5, 3.0, 4_000.0), 11_000.0);
        // 3x equity = 30,000 gross; 25,000 open → 5,000 more
        assert_eq!(total_exposure(10_000.0, 3.0, 25_000.0), 5_000.0);
        assert_eq!(total_exposure(10_000.0, 3.0, 35_000.0), 0.0);
        // wallet 10,000, 10 % reserve → 9,000 usable; 6,000 in use → 3,000 margin × 3x = 9,000
        assert_eq!(cash_reserve(10_000.0, 0.1, 6_000.0, 1.0 / 3.0), 9_000.0);
        // with a 0.05 % taker fee and 2 bps slippage at 1x, each USDT of notional commits
        // 1.0002 × (1 + 0.0005) = 1.0007001: 10,000 / 1.0007001 = 9,993.0039 of notional
        let per = 1.0002 * (1.0 + 0.0005);
        assert!((available_margin(10_000.0, per) - 9_993.003_9).abs() < 1e-3);
        assert_eq!(available_margin(-5.0, per), 0.0);
    }

    #[test]
    fn portfolio_volatility_counts_correlation() {
        // BTC and ETH at 3 % and 4 % daily volatility, correlation 0.8:
        // Σ = [[9e-4, 9.6e-4], [9.6e-4, 16e-4]]. Equity 10,000, long 10,000 BTC held.
        // Adding a long ETH x with a 5 % limit (500 USDT a day):
        // a = 16e-4, b = 9.6e-4 × 10,000 = 9.6, c = 9e-4 × 10,000² = 90,000, L² = 250,000:
        // x = (−9.6 + √(92.16 + 16e-4 × 160,000)) / 16e-4 = (−9.6 + √348.16) / 16e-4
        //   = (−9.6 + 18.6590) / 16e-4 = 5,661.9
        let x = portfolio_volatility(16e-4, 9.6, 90_000.0, 0.05, 10_000.0);
        assert!((x - (-9.6 + 348.16f64.sqrt()) / 16e-4).abs() < 1e-9, "{x}");
        assert!((x - 5_661.9).abs() < 0.1, "{x}");
        // uncorrelated (b = 0) the same addition could be larger: √(160,000 / 16e-4) = 10,000
        let x0 = portfolio_volatility(16e-4, 0.0, 90_000.0, 0.05, 10_000.0);
        assert!((x0 - 10_000.0).abs() < 1e-6);
        // a short ETH hedge (b = −9.6) is allowed more still
        assert!(portfolio_volatility(16e-4, -9.6, 90_000.0, 0.05, 10_000.0) > x0);
    }
}
