//! What the risk layer knows of the market: exponentially weighted volatility, ATR and
//! covariance of bar returns, updated in O(1) per bar without allocating.
//!
//! Returns are simple returns `close / previous close − 1` (no logarithm per bar: at bar
//! scale the two differ by r²/2, far below the estimates' own noise). Variances are
//! zero-mean EWMAs of r² (RiskMetrics), with `alpha = 2 / (span + 1)`; the first `span`
//! returns are averaged plainly, so an estimate is unbiased from its first value. Daily
//! figures scale the per-bar variance by the number of bars in a day. The ATR is Wilder's
//! (`alpha = 1 / atr_bars`) over true ranges.

/// One symbol's estimates.
#[derive(Clone, Debug)]
pub struct SymbolEstimates {
    prev_close: f64,
    /// returns seen
    returns: u32,
    short_span: u32,
    long_span: u32,
    atr_bars: u32,
    /// returns after which every weight is fixed: max(long_span, atr_bars)
    steady_after: u32,
    /// returns after which the short span's and the ATR's weights are fixed
    short_fixed_after: u32,
    /// EWMA weights past the spans, precomputed (a division per bar is most of the cost)
    alpha_short: f64,
    alpha_long: f64,
    alpha_atr: f64,
    /// per-bar variance of returns over the short span (fraction²)
    var_short: f64,
    /// the same over the long-run span
    var_long: f64,
    /// USDT
    atr: f64,
    /// the latest bar's return, taken (and reset) by the covariance at the end of a step
    pub last_return: f64,
}

impl SymbolEstimates {
    /// Spans in bars.
    pub fn new(short_span: u32, long_span: u32, atr_bars: u32) -> SymbolEstimates {
        SymbolEstimates {
            prev_close: f64::NAN,
            returns: 0,
            short_span: short_span.max(1),
            long_span: long_span.max(1),
            atr_bars: atr_bars.max(1),
            steady_after: long_span.max(atr_bars).max(1),
            short_fixed_after: short_span.max(atr_bars).max(1),
            alpha_short: 2.0 / (f64::from(short_span.max(1)) + 1.0),
            alpha_long: 2.0 / (f64::from(long_span.max(1)) + 1.0),
            alpha_atr: 1.0 / f64::from(atr_bars.max(1)),
            var_short: 0.0,
            var_long: 0.0,
            atr: 0.0,
            last_return: 0.0,
        }
    }

    /// A closed bar (USDT prices).
    #[inline(always)]
    pub fn update(&mut self, high: f64, low: f64, close: f64) {
        let prev = self.prev_close;
        self.prev_close = close;
        if prev.is_nan() {
            return;
        }
        self.returns += 1;
        let n = self.returns;
        let r = close / prev - 1.0;
        let r2 = r * r;
        // max(high, prev) − min(low, prev), the range widened to the previous close: the
        // same as the largest of high − low, |high − prev|, |low − prev| for high ≥ low, in
        // two comparisons (prices are checked finite when loaded)
        let top = if high > prev { high } else { prev };
        let bottom = if low < prev { low } else { prev };
        let true_range = top - bottom;
        if n > self.steady_after {
            // the steady state: every weight fixed
            self.var_short += self.alpha_short * (r2 - self.var_short);
            self.var_long += self.alpha_long * (r2 - self.var_long);
            self.atr += self.alpha_atr * (true_range - self.atr);
        } else if n > self.short_fixed_after {
            // the short span and the ATR past their plain means; the long-run variance still
            // a plain mean (n ≤ long_span here)
            self.var_short += self.alpha_short * (r2 - self.var_short);
            self.var_long += (1.0 / f64::from(n)) * (r2 - self.var_long);
            self.atr += self.alpha_atr * (true_range - self.atr);
        } else {
            // before every weight is fixed: the plain mean's 1/n, one division for all three
            let mean = 1.0 / f64::from(n);
            let w = |span: u32, alpha: f64| if n <= span { mean } else { alpha };
            self.var_short += w(self.short_span, self.alpha_short) * (r2 - self.var_short);
            self.var_long += w(self.long_span, self.alpha_long) * (r2 - self.var_long);
            self.atr += w(self.atr_bars, self.alpha_atr) * (true_range - self.atr);
        }
        self.last_return = r;
    }

    /// USDT, once `atr_bars` true ranges are in.
    pub fn atr(&self) -> Option<f64> {
        (self.returns >= self.atr_bars).then_some(self.atr)
    }

    /// Per-bar variance of returns over the short span, once a span (at least 10 returns)
    /// is in.
    pub fn bar_variance(&self) -> Option<f64> {
        (self.returns >= self.variance_needs()).then_some(self.var_short)
    }

    /// Returns [`SymbolEstimates::bar_variance`] waits for.
    pub fn variance_needs(&self) -> u32 {
        self.short_span.max(10)
    }

    /// Short-span volatility / long-run volatility, once twice the short span is in (before,
    /// the long-run level is the short one).
    pub fn volatility_ratio(&self) -> Option<f64> {
        self.volatility_ready()
            .then(|| (self.var_short / self.var_long).sqrt())
    }

    /// Whether [`SymbolEstimates::volatility_ratio`] has its data (twice the short span).
    #[inline]
    pub fn volatility_ready(&self) -> bool {
        self.returns >= 2 * self.short_span.max(10) && self.var_long > 0.0
    }

    /// The raw per-bar variances (short, long), for the halt's cheap per-bar comparison.
    #[inline]
    pub fn variances(&self) -> (f64, f64) {
        (self.var_short, self.var_long)
    }

    /// USDT: the latest bar's close (NaN before the first).
    #[inline(always)]
    pub fn last_close(&self) -> f64 {
        self.prev_close
    }

    pub fn returns(&self) -> u32 {
        self.returns
    }
}

/// EWMA covariance of the symbols' bar returns (per bar, fraction²), row-major n × n.
#[derive(Clone, Debug)]
pub struct Covariance {
    n: usize,
    span: u32,
    /// the weight past the span, `2 / (span + 1)`, precomputed
    alpha: f64,
    steps: u32,
    cov: Vec<f64>,
}

impl Covariance {
    pub fn new(n: usize, span: u32) -> Covariance {
        let span = span.max(1);
        Covariance {
            n,
            span,
            alpha: 2.0 / (span as f64 + 1.0),
            steps: 0,
            cov: vec![0.0; n * n],
        }
    }

    /// One time step: every symbol's latest return, in symbol order (0 for a symbol without
    /// a bar).
    #[inline]
    pub fn update(&mut self, returns: &[f64]) {
        let n = self.n;
        if n < 2 || returns.len() != n {
            return;
        }
        self.steps += 1;
        let a = if self.steps <= self.span {
            1.0 / self.steps as f64
        } else {
            self.alpha
        };
        // two symbols (a hedged pair), the common case, without the loops' index work
        if let ([r0, r1], [c00, c01, c10, c11]) = (returns, &mut self.cov[..]) {
            *c00 += a * (r0 * r0 - *c00);
            *c01 += a * (r0 * r1 - *c01);
            *c10 = *c01;
            *c11 += a * (r1 * r1 - *c11);
            return;
        }
        for (i, &ri) in returns.iter().enumerate() {
            for (j, &rj) in returns.iter().enumerate().skip(i) {
                let c = &mut self.cov[i * n + j];
                *c += a * (ri * rj - *c);
                let c = *c;
                self.cov[j * n + i] = c;
            }
        }
    }

    /// Symbols covered; below 2 there is nothing to estimate.
    #[inline]
    pub fn symbols(&self) -> usize {
        self.n
    }

    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.cov[i * self.n + j]
    }

    pub fn ready(&self) -> bool {
        self.n >= 2 && self.steps >= self.span.max(10)
    }

    /// `(steps seen, steps needed)` before [`Covariance::ready`].
    pub fn warm_up(&self) -> (u32, u32) {
        (self.steps, self.span.max(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_average_first_then_ewma() {
        let mut e = SymbolEstimates::new(3, 6, 2);
        // closes 100 → 110 → 99: returns +0.10, −0.10; r² = 0.01 both, so var = 0.01
        e.update(100.0, 100.0, 100.0);
        e.update(112.0, 100.0, 110.0);
        e.update(111.0, 98.0, 99.0);
        assert!((e.variances().0 - 0.01).abs() < 1e-15);
        // true ranges: max(12, 12, 0) = 12 and max(13, 1, 12) = 13; mean of 2 = 12.5
        assert_eq!(e.atr(), Some(12.5));
        // a third return of 0, still within the span of 3: the plain mean (0.01 + 0.01 + 0) / 3
        e.update(99.0, 99.0, 99.0);
        assert!((e.variances().0 - 0.02 / 3.0).abs() < 1e-15);
        // past the span the EWMA weight 2 / (3 + 1) = 0.5 applies: 0.006667 / 2 = 0.003333
        e.update(99.0, 99.0, 99.0);
        assert!((e.variances().0 - 0.01 / 3.0).abs() < 1e-15);
        // Wilder ATR, alpha 1/2 past 2 bars: true ranges 0, 0 → 12.5 / 2 / 2 = 3.125
        assert_eq!(e.atr(), Some(3.125));
    }

    #[test]
    fn covariance_of_moving_together() {
        let mut c = Covariance::new(2, 4);
        for r in [0.01, -0.02, 0.01, 0.02] {
            c.update(&[r, 2.0 * r]);
        }
        // mean of r² = (1 + 4 + 1 + 4)e-4 / 4 = 2.5e-4; the second moves twice as much:
        // cov = 5e-4, var2 = 1e-3, correlation 1
        assert!((c.get(0, 0) - 2.5e-4).abs() < 1e-15);
        assert!((c.get(0, 1) - 5e-4).abs() < 1e-15);
        assert!((c.get(1, 1) - 1e-3).abs() < 1e-15);
    }

    #[test]
    fn covariance_of_three_symbols_is_symmetric() {
        // the general path (the pair has its own): a third symbol moving against the first
        let mut c = Covariance::new(3, 4);
        for r in [0.01, -0.02, 0.01, 0.02] {
            c.update(&[r, 2.0 * r, -r]);
        }
        // mean r² = 2.5e-4 as above: cov(0, 2) = −2.5e-4, cov(1, 2) = −5e-4, var2 = 2.5e-4
        for (i, j, want) in [(0, 2, -2.5e-4), (1, 2, -5e-4), (2, 2, 2.5e-4), (0, 1, 5e-4)] {
            assert!((c.get(i, j) - want).abs() < 1e-15, "({i}, {j})");
            assert_eq!(c.get(i, j), c.get(j, i));
        }
    }
}
