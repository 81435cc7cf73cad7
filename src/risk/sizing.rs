//! Position sizing, as pure functions on `f64` (risk estimates are not money: the fill that
//! follows is booked in `Decimal`).

/// Full Kelly fraction of equity to stake: `f* = (b·p − q) / b` with `b = avg_win / avg_loss`
/// and `q = 1 − p`. Negative when the record shows no edge (the caller then stakes nothing).
/// `win_rate` is a fraction; `avg_win` and `avg_loss` are positive sizes of the average
/// winning and losing trade (any unit, the same for both).
pub fn kelly_fraction(win_rate: f64, avg_win: f64, avg_loss: f64) -> f64 {
    let b = avg_win / avg_loss;
    (b * win_rate - (1.0 - win_rate)) / b
}

/// Base-asset quantity that loses `risk` (fraction of `equity`) if the stop is hit:
/// `equity × risk / |entry − stop|`. Fees and slippage come on top.
pub fn risk_per_trade_qty(equity: f64, entry: f64, stop: f64, risk: f64) -> f64 {
    equity * risk / (entry - stop).abs()
}

/// USDT notional of the DIY bot: a fraction of equity as margin, times the leverage.
pub fn fixed_fraction_notional(equity: f64, fraction: f64, leverage: f64) -> f64 {
    equity * fraction * leverage
}

/// USDT notional whose expected daily move is `target` of equity: `equity × target / σ_day`.
/// Smaller in turbulent markets, larger in calm ones (the caps still apply).
pub fn volatility_target_notional(equity: f64, target: f64, daily_vol: f64) -> f64 {
    equity * target / daily_vol
}

/// USDT notional for a Kelly stake. With trade outcomes `+w` and `−l` (returns on notional),
/// the growth-optimal notional fraction `x` maximises `p·ln(1 + x·w) + q·ln(1 − x·l)`, which
/// gives `x* = (p·w − q·l) / (w·l) = f* / l`: the Kelly fraction is the share of equity *lost*
/// on an average losing trade, so the notional is `equity × stake / avg_loss`.
pub fn kelly_notional(equity: f64, stake: f64, avg_loss: f64) -> f64 {
    equity * stake / avg_loss
}

/// The strategy's closed trades so far, as returns on their notional (fees and funding in).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TradeRecord {
    pub wins: u32,
    pub losses: u32,
    /// sum of winning returns (fraction)
    pub sum_win: f64,
    /// sum of losing returns' sizes (fraction, > 0)
    pub sum_loss: f64,
    /// losing trades in a row, up to the latest
    pub losing_streak: u32,
}

impl TradeRecord {
    /// A closed trade's return on its notional. A zero return counts as a loss (it paid fees).
    pub fn push(&mut self, ret: f64) {
        if ret > 0.0 {
            self.wins += 1;
            self.sum_win += ret;
            self.losing_streak = 0;
        } else {
            self.losses += 1;
            self.sum_loss -= ret;
            self.losing_streak += 1;
        }
    }

    pub fn trades(&self) -> u32 {
        self.wins + self.losses
    }

    /// `(full Kelly fraction, average loss)`, once there are both wins and losses.
    pub fn kelly(&self) -> Option<(f64, f64)> {
        if self.wins == 0 || self.losses == 0 {
            return None;
        }
        let p = f64::from(self.wins) / f64::from(self.trades());
        let avg_win = self.sum_win / f64::from(self.wins);
        let avg_loss = self.sum_loss / f64::from(self.losses);
        Some((kelly_fraction(p, avg_win, avg_loss), avg_loss))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notionals_worked_by_hand() {
        // 10,000 equity, 10 % as margin at 5x → 5,000 USDT notional
        assert_eq!(fixed_fraction_notional(10_000.0, 0.1, 5.0), 5_000.0);
        // target 1 % a day of 10,000 (100 USDT) with 4 % daily volatility → 2,500 notional
        assert_eq!(volatility_target_notional(10_000.0, 0.01, 0.04), 2_500.0);
        // half Kelly of 0.2125 with average loss 1.5 %: 10,000 × 0.10625 / 0.015 = 70,833.33;
        // losing 1.5 % of that loses 1,062.5 = 10.625 % of equity
        let n = kelly_notional(10_000.0, 0.10625, 0.015);
        assert!((n - 70_833.333_333).abs() < 1e-3, "{n}");
    }

    #[test]
    fn trade_record_gives_kelly_and_streaks() {
        let mut r = TradeRecord::default();
        assert_eq!(r.kelly(), None);
        // 3 wins of +2 %, 2 losses of −1.5 %: p = 0.6, b = 2 / 1.5 = 1.3333,
        // f* = (1.3333 × 0.6 − 0.4) / 1.3333 = 0.4 / 1.3333 = 0.3
        for ret in [0.02, -0.015, 0.02, -0.015, 0.02] {
            r.push(ret);
        }
        let (f, l) = r.kelly().unwrap();
        assert!((f - 0.3).abs() < 1e-12, "{f}");
        assert!((l - 0.015).abs() < 1e-15);
        assert_eq!(r.losing_streak, 0);
        r.push(-0.01);
        r.push(0.0);
        assert_eq!(r.losing_streak, 2);
    }

    #[test]
    fn kelly_worked_example() {
        // p = 0.55, average win 2 %, average loss 1.5 %: b = 2 / 1.5 = 1.3333,
        // f* = (1.3333 × 0.55 − 0.45) / 1.3333 = 0.28333 / 1.3333 = 0.2125; half Kelly 10.625 %
        // (the article that inspired perpsim says "~16 %": wrong).
        let full = kelly_fraction(0.55, 0.02, 0.015);
        assert!((full - 0.2125).abs() < 1e-12, "{full}");
        assert!((full * 0.5 - 0.10625).abs() < 1e-12);
        // no edge: p = 0.4 with b = 1 → (0.4 − 0.6) / 1 = −0.2
        assert!((kelly_fraction(0.4, 1.0, 1.0) + 0.2).abs() < 1e-12);
    }

    #[test]
    fn risk_per_trade_worked_example() {
        // 10,000 equity risking 1 % with entry 65,000 and stop 63,700 (1,300 away):
        // 10,000 × 0.01 / 1,300 = 0.076923 BTC; a short with its stop above works the same
        assert!(
            (risk_per_trade_qty(10_000.0, 65_000.0, 63_700.0, 0.01) - 100.0 / 1_300.0).abs()
                < 1e-12
        );
        assert!(
            (risk_per_trade_qty(10_000.0, 65_000.0, 66_300.0, 0.01) - 100.0 / 1_300.0).abs()
                < 1e-12
        );
    }
}
