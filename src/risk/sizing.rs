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

#[cfg(test)]
mod tests {
    use super::*;

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
