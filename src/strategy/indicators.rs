//! Incremental indicators: each `update` costs O(1) and allocates nothing (buffers are sized
//! at construction).
//!
//! **Same prices, same signal.** Rolling sums are kept in integer ticks (`Fixed`: the value
//! times 10⁸, rounded, summed in `i128`), so adding and removing values is exact: a window's sum
//! is the same integer however long the run has been going and wherever it started. A running
//! `f64` sum would drift by rounding, and two runs starting on different dates could then
//! disagree about a crossover where the averages are nearly equal. Recursive indicators (EMA,
//! Wilder's ATR and RSI) have no sum to drift, but they remember their start: they are seeded
//! with the simple average of their first `n` inputs, as Wilder did, and a run that starts
//! later gives slightly different values for a while (peers differ here too).
//!
//! Every indicator answers `None` until it has seen enough data (its warm-up).

/// Fixed-point scale of the integer sums: 10⁸ ticks per unit (USDT prices to 1e-8).
const SCALE: f64 = 1e8;

/// A value in integer ticks of 1e-8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Fixed(i64);

impl Fixed {
    /// Rounded half away from zero. Through `i64` (one instruction each way, where `i128`
    /// conversions are library calls): values up to ±9.2·10¹⁰ units.
    #[inline]
    fn of(x: f64) -> Fixed {
        let v = x * SCALE;
        Fixed((v + 0.5f64.copysign(v)) as i64)
    }

    /// For the `i128` sums (a window of 8-byte values is half the memory of 16-byte ones).
    #[inline]
    fn wide(self) -> i128 {
        i128::from(self.0)
    }
}

/// `i128` → `f64`, through `i64` when it fits (the common case: one instruction where the
/// `i128` conversion is a library call).
#[inline]
fn wide_to_f64(x: i128) -> f64 {
    let small = x as i64;
    if i128::from(small) == x {
        small as f64
    } else {
        wide_to_f64_slow(x)
    }
}

/// Out of line, so that the compiler does not compute it on every call and select.
#[cold]
#[inline(never)]
fn wide_to_f64_slow(x: i128) -> f64 {
    x as f64
}

/// A fixed-length window of the last `n` values, oldest first out.
#[derive(Clone, Debug)]
struct Window<T> {
    values: Vec<T>,
    /// where the next value goes
    next: usize,
    full: bool,
}

impl<T: Copy + Default> Window<T> {
    fn new(n: usize) -> Window<T> {
        Window {
            values: vec![T::default(); n.max(1)],
            next: 0,
            full: false,
        }
    }

    /// Puts `x` in; returns the value it pushed out: `T::default()` (zero) until the window
    /// is full, so that sums can subtract it without a branch.
    #[inline]
    fn push(&mut self, x: T) -> T {
        let Some(slot) = self.values.get_mut(self.next) else {
            return T::default();
        };
        let out = std::mem::replace(slot, x);
        self.next += 1;
        if self.next == self.values.len() {
            self.next = 0;
            self.full = true;
        }
        out
    }

    fn len(&self) -> usize {
        self.values.len()
    }
}

/// Simple moving average of the last `n` values.
#[derive(Clone, Debug)]
pub struct Sma {
    window: Window<Fixed>,
    sum: i128,
    /// ticks per unit × the window's length: the mean is one correctly rounded division of
    /// the sum by it (exact in `f64` for windows below 9·10⁷)
    ticks_per_mean: f64,
}

impl Sma {
    pub fn new(n: usize) -> Sma {
        let window = Window::new(n);
        let ticks_per_mean = SCALE * window.len() as f64;
        Sma {
            window,
            sum: 0,
            ticks_per_mean,
        }
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let v = Fixed::of(x);
        self.sum += v.wide() - self.window.push(v).wide();
        self.value()
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        self.window
            .full
            .then(|| wide_to_f64(self.sum) / self.ticks_per_mean)
    }
}

/// Mean and population standard deviation of the last `n` values, from exact integer sums
/// of the values and their squares.
#[derive(Clone, Debug)]
pub struct RollingStats {
    window: Window<Fixed>,
    sum: i128,
    /// Σ x² in ticks² (10¹⁶ per unit²): room for prices to 10⁶ over windows of 10⁵ bars
    sum_sq: i128,
}

impl RollingStats {
    pub fn new(n: usize) -> RollingStats {
        RollingStats {
            window: Window::new(n),
            sum: 0,
            sum_sq: 0,
        }
    }

    #[inline]
    pub fn update(&mut self, x: f64) {
        let f = Fixed::of(x);
        let v = f.wide();
        let out = self.window.push(f).wide();
        self.sum += v - out;
        self.sum_sq += v * v - out * out;
    }

    /// `(mean, standard deviation)` once the window is full.
    #[inline]
    pub fn value(&self) -> Option<(f64, f64)> {
        if !self.window.full {
            return None;
        }
        let n = self.window.len() as i128;
        // n²·variance = n·Σx² − (Σx)², exact in integers, never negative
        let spread = n * self.sum_sq - self.sum * self.sum;
        let mean = wide_to_f64(self.sum) / SCALE / n as f64;
        let sd = wide_to_f64(spread.max(0)).sqrt() / (n as f64 * SCALE);
        Some((mean, sd))
    }
}

/// Exponential moving average with weight `2 / (n + 1)`, seeded with the SMA of the first `n`
/// values.
#[derive(Clone, Debug)]
pub struct Ema {
    alpha: f64,
    n: usize,
    seen: usize,
    value: f64,
}

impl Ema {
    pub fn new(n: usize) -> Ema {
        Ema::with_alpha(n, 2.0 / (n.max(1) as f64 + 1.0))
    }

    /// Wilder's smoothing: weight `1 / n`.
    pub fn wilder(n: usize) -> Ema {
        Ema::with_alpha(n, 1.0 / n.max(1) as f64)
    }

    fn with_alpha(n: usize, alpha: f64) -> Ema {
        Ema {
            alpha,
            n: n.max(1),
            seen: 0,
            value: 0.0,
        }
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if self.seen < self.n {
            self.seen += 1;
            self.value += (x - self.value) / self.seen as f64;
        } else {
            self.value += self.alpha * (x - self.value);
        }
        self.value()
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        (self.seen >= self.n).then_some(self.value)
    }
}

/// Average true range (Wilder), USDT.
#[derive(Clone, Debug)]
pub struct Atr {
    smooth: Ema,
    prev_close: f64,
}

impl Atr {
    pub fn new(n: usize) -> Atr {
        Atr {
            smooth: Ema::wilder(n),
            prev_close: f64::NAN,
        }
    }

    /// True range: the bar's range widened to the previous close (the bar's own range for the
    /// first bar).
    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let range = if self.prev_close.is_nan() {
            high - low
        } else {
            high.max(self.prev_close) - low.min(self.prev_close)
        };
        self.prev_close = close;
        self.smooth.update(range)
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        self.smooth.value()
    }
}

/// Relative strength index (Wilder), 0–100.
#[derive(Clone, Debug)]
pub struct Rsi {
    gains: Ema,
    losses: Ema,
    prev: f64,
}

impl Rsi {
    pub fn new(n: usize) -> Rsi {
        Rsi {
            gains: Ema::wilder(n),
            losses: Ema::wilder(n),
            prev: f64::NAN,
        }
    }

    #[inline]
    pub fn update(&mut self, close: f64) -> Option<f64> {
        if self.prev.is_nan() {
            self.prev = close;
            return None;
        }
        let change = close - self.prev;
        self.prev = close;
        self.gains.update(change.max(0.0));
        self.losses.update((-change).max(0.0));
        self.value()
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        let (gain, loss) = (self.gains.value()?, self.losses.value()?);
        Some(if loss == 0.0 {
            if gain == 0.0 { 50.0 } else { 100.0 }
        } else {
            100.0 - 100.0 / (1.0 + gain / loss)
        })
    }
}

/// Bollinger bands: SMA ± `k` population standard deviations of the last `n` closes.
#[derive(Clone, Debug)]
pub struct Bollinger {
    stats: RollingStats,
    k: f64,
}

/// Lower band, middle, upper band. USDT
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bands {
    pub lower: f64,
    pub middle: f64,
    pub upper: f64,
}

impl Bollinger {
    pub fn new(n: usize, k: f64) -> Bollinger {
        Bollinger {
            stats: RollingStats::new(n),
            k,
        }
    }

    #[inline]
    pub fn update(&mut self, close: f64) -> Option<Bands> {
        self.stats.update(close);
        self.value()
    }

    #[inline]
    pub fn value(&self) -> Option<Bands> {
        let (mean, sd) = self.stats.value()?;
        Some(Bands {
            lower: mean - self.k * sd,
            middle: mean,
            upper: mean + self.k * sd,
        })
    }
}

/// Highest high and lowest low of the last `n` bars, with monotonic queues (amortised O(1)).
#[derive(Clone, Debug)]
pub struct Donchian {
    n: u64,
    seen: u64,
    /// (bar number, value), values decreasing: the front is the window's maximum
    highs: Ring,
    /// (bar number, value), values increasing: the front is the window's minimum
    lows: Ring,
}

/// A fixed-capacity double-ended queue of (bar number, value).
#[derive(Clone, Debug)]
struct Ring {
    items: Vec<(u64, f64)>,
    head: usize,
    len: usize,
}

impl Ring {
    fn new(capacity: usize) -> Ring {
        Ring {
            items: vec![(0, 0.0); capacity.max(1)],
            head: 0,
            len: 0,
        }
    }

    fn slot(&self, i: usize) -> usize {
        (self.head + i) % self.items.len()
    }

    fn front(&self) -> Option<(u64, f64)> {
        (self.len > 0).then(|| self.items[self.head])
    }

    fn back(&self) -> Option<(u64, f64)> {
        (self.len > 0).then(|| self.items[self.slot(self.len - 1)])
    }

    fn pop_front(&mut self) {
        self.head = self.slot(1);
        self.len -= 1;
    }

    fn pop_back(&mut self) {
        self.len -= 1;
    }

    fn push_back(&mut self, item: (u64, f64)) {
        let i = self.slot(self.len);
        self.items[i] = item;
        self.len += 1;
    }

    /// Keeps the queue monotonic (`keep(back, x)` false drops the back), drops what left the
    /// window, and adds `x` as bar `at`.
    #[inline]
    fn add(&mut self, at: u64, x: f64, n: u64, keep: impl Fn(f64, f64) -> bool) {
        while self.back().is_some_and(|(_, b)| !keep(b, x)) {
            self.pop_back();
        }
        self.push_back((at, x));
        while self.front().is_some_and(|(t, _)| t + n <= at) {
            self.pop_front();
        }
    }
}

impl Donchian {
    pub fn new(n: usize) -> Donchian {
        Donchian {
            n: n.max(1) as u64,
            seen: 0,
            highs: Ring::new(n + 1),
            lows: Ring::new(n + 1),
        }
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64) -> Option<(f64, f64)> {
        let (at, n) = (self.seen, self.n);
        self.highs.add(at, high, n, |back, x| back > x);
        self.lows.add(at, low, n, |back, x| back < x);
        self.seen += 1;
        self.value()
    }

    /// `(highest high, lowest low)` of the last `n` bars, once `n` were seen.
    #[inline]
    pub fn value(&self) -> Option<(f64, f64)> {
        if self.seen < self.n {
            return None;
        }
        Some((self.highs.front()?.1, self.lows.front()?.1))
    }
}

/// Realised volatility: the standard deviation of the last `n` log returns of the close,
/// per bar (multiply by √(bars per year) to annualise).
#[derive(Clone, Debug)]
pub struct RealisedVol {
    stats: RollingStats,
    prev: f64,
}

impl RealisedVol {
    pub fn new(n: usize) -> RealisedVol {
        RealisedVol {
            stats: RollingStats::new(n),
            prev: f64::NAN,
        }
    }

    #[inline]
    pub fn update(&mut self, close: f64) -> Option<f64> {
        if !self.prev.is_nan() {
            self.stats.update((close / self.prev).ln());
        }
        self.prev = close;
        self.value()
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        self.stats.value().map(|(_, sd)| sd)
    }
}

/// Rolling correlation and beta of two return series over the last `n` pairs, from exact
/// integer sums of x, y, x², y², xy.
#[derive(Clone, Debug)]
pub struct RollingPair {
    window: Window<(Fixed, Fixed)>,
    sx: i128,
    sy: i128,
    sxx: i128,
    syy: i128,
    sxy: i128,
}

impl RollingPair {
    pub fn new(n: usize) -> RollingPair {
        RollingPair {
            window: Window::new(n),
            sx: 0,
            sy: 0,
            sxx: 0,
            syy: 0,
            sxy: 0,
        }
    }

    /// Adds the pair `(x, y)` of returns (fractions) of the same bar.
    #[inline]
    pub fn update(&mut self, x: f64, y: f64) {
        let (a, b) = (Fixed::of(x), Fixed::of(y));
        let (oa, ob) = self.window.push((a, b));
        let (x, y, ox, oy) = (a.wide(), b.wide(), oa.wide(), ob.wide());
        // the pair in, the pair out (zeros while filling); each product is one widening
        // multiply of two i64
        self.sx += x - ox;
        self.sy += y - oy;
        self.sxx += x * x - ox * ox;
        self.syy += y * y - oy * oy;
        self.sxy += x * y - ox * oy;
    }

    /// n² times the (co)variances: exact integers.
    fn moments(&self) -> Option<(f64, f64, f64)> {
        if !self.window.full {
            return None;
        }
        let n = self.window.len() as i128;
        let vx = n * self.sxx - self.sx * self.sx;
        let vy = n * self.syy - self.sy * self.sy;
        let cxy = n * self.sxy - self.sx * self.sy;
        Some((wide_to_f64(vx), wide_to_f64(vy), wide_to_f64(cxy)))
    }

    /// Pearson correlation of x and y, in [−1, 1]; `None` while warming up or when either
    /// series is constant over the window.
    pub fn correlation(&self) -> Option<f64> {
        let (vx, vy, cxy) = self.moments()?;
        (vx > 0.0 && vy > 0.0).then(|| (cxy / (vx.sqrt() * vy.sqrt())).clamp(-1.0, 1.0))
    }

    /// Beta of y on x: cov(x, y) / var(x), the units of y that move with one unit of x.
    pub fn beta(&self) -> Option<f64> {
        let (vx, _, cxy) = self.moments()?;
        (vx > 0.0).then(|| cxy / vx)
    }
}

/// A crossover state: the sign of (fast − slow), where equality keeps the previous state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cross {
    /// +1 fast above, −1 fast below, 0 not known yet
    state: i8,
}

impl Cross {
    /// Feeds the two values; returns the new state (+1 or −1) when it flipped, `None` when it
    /// held (or the difference is 0 and no state was known yet). The first known state counts
    /// as a flip from unknown.
    #[inline]
    pub fn update(&mut self, fast: f64, slow: f64) -> Option<i8> {
        let sign = if fast > slow {
            1
        } else if fast < slow {
            -1
        } else {
            return None;
        };
        if sign == self.state {
            return None;
        }
        self.state = sign;
        Some(sign)
    }

    pub fn state(&self) -> i8 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn sma_of_last_n_and_exact_whatever_came_before() {
        let mut s = Sma::new(3);
        assert_eq!(s.update(1.0), None);
        assert_eq!(s.update(2.0), None);
        assert_eq!(s.update(3.0), Some(2.0)); // (1+2+3)/3
        assert_eq!(s.update(10.0), Some(5.0)); // (2+3+10)/3
        // a long noisy prefix leaves no residue: the sum is exact in ticks
        let mut long = Sma::new(3);
        for i in 0..100_000 {
            long.update(40_000.0 + (i as f64 * 0.7).sin() * 1_234.567_891);
        }
        let mut short = Sma::new(3);
        for x in [40_000.1, 40_000.2, 40_000.3] {
            long.update(x);
            short.update(x);
        }
        assert_eq!(long.value(), short.value());
        assert!(close(long.value().unwrap(), 40_000.2));
    }

    #[test]
    fn ema_seeds_with_sma_then_weights_two_over_n_plus_one() {
        let mut e = Ema::new(3); // α = 2/4 = 0.5
        e.update(1.0);
        e.update(2.0);
        assert_eq!(e.update(3.0), Some(2.0)); // seed: (1+2+3)/3
        assert_eq!(e.update(4.0), Some(3.0)); // 2 + 0.5·(4 − 2)
        assert_eq!(e.update(1.0), Some(2.0)); // 3 + 0.5·(1 − 3)
    }

    #[test]
    fn atr_is_wilder_average_of_true_range() {
        let mut a = Atr::new(2);
        assert_eq!(a.update(11.0, 9.0, 10.0), None); // TR 2
        // TR = max(12, 10) − min(10.5, 10) = 2 ; seed (2+2)/2 = 2
        assert_eq!(a.update(12.0, 10.5, 11.0), Some(2.0));
        // gap up: TR = max(15, 11) − min(14, 11) = 4 ; Wilder 2 + (4 − 2)/2 = 3
        assert_eq!(a.update(15.0, 14.0, 14.5), Some(3.0));
    }

    #[test]
    fn rsi_worked_example() {
        let mut r = Rsi::new(2);
        r.update(10.0);
        r.update(11.0); // +1
        // changes +1, −0.5: avg gain 0.5, avg loss 0.25 → RS 2 → 100 − 100/3
        let v = r.update(10.5).unwrap();
        assert!(close(v, 100.0 - 100.0 / 3.0));
        // +1.5: gain 0.5 + (1.5 − 0.5)/2 = 1.0 ; loss 0.25 + (0 − 0.25)/2 = 0.125 → RS 8
        let v = r.update(12.0).unwrap();
        assert!(close(v, 100.0 - 100.0 / 9.0));
        let mut flat = Rsi::new(2);
        for _ in 0..4 {
            flat.update(5.0);
        }
        assert_eq!(flat.value(), Some(50.0));
    }

    #[test]
    fn bollinger_bands_use_population_sd() {
        let mut b = Bollinger::new(4, 2.0);
        for x in [2.0, 4.0, 4.0, 4.0] {
            b.update(x);
        }
        // mean 3.5 ; deviations −1.5, .5, .5, .5 → var (2.25 + 3·0.25)/4 = 0.75
        let bands = b.value().unwrap();
        assert!(close(bands.middle, 3.5));
        assert!(close(bands.upper, 3.5 + 2.0 * 0.75f64.sqrt()));
        assert!(close(bands.lower, 3.5 - 2.0 * 0.75f64.sqrt()));
    }

    #[test]
    fn donchian_tracks_window_extremes() {
        let mut d = Donchian::new(3);
        assert_eq!(d.update(5.0, 1.0), None);
        assert_eq!(d.update(7.0, 2.0), None);
        assert_eq!(d.update(6.0, 0.5), Some((7.0, 0.5)));
        assert_eq!(d.update(4.0, 3.0), Some((7.0, 0.5)));
        assert_eq!(d.update(4.5, 3.5), Some((6.0, 0.5)));
        assert_eq!(d.update(3.0, 2.5), Some((4.5, 2.5)));
        // against a brute force over a wiggly series
        let mut d = Donchian::new(7);
        let xs: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64).collect();
        for (i, &x) in xs.iter().enumerate() {
            let got = d.update(x, x - 1.0);
            if i >= 6 {
                let w = &xs[i - 6..=i];
                let hi = w.iter().cloned().fold(f64::MIN, f64::max);
                let lo = w.iter().cloned().fold(f64::MAX, f64::min) - 1.0;
                assert_eq!(got, Some((hi, lo)), "bar {i}");
            }
        }
    }

    #[test]
    fn realised_vol_and_pair_statistics() {
        let mut v = RealisedVol::new(2);
        v.update(100.0);
        v.update(101.0); // log return ln 1.01
        let got = v.update(100.0).unwrap();
        // returns r and −r: sd = |r|
        let r = (101.0f64 / 100.0).ln().abs();
        assert!((got - r).abs() < 1e-7, "{got} vs {r}");

        // y = 2x exactly: correlation 1, beta 2
        let mut p = RollingPair::new(4);
        for x in [0.01, -0.02, 0.005, 0.03, -0.01] {
            p.update(x, 2.0 * x);
        }
        assert!(close(p.correlation().unwrap(), 1.0));
        assert!(close(p.beta().unwrap(), 2.0));
        // y = −x: correlation −1, beta −1
        let mut p = RollingPair::new(3);
        for x in [0.01, -0.02, 0.005] {
            p.update(x, -x);
        }
        assert!(close(p.correlation().unwrap(), -1.0));
        assert!(close(p.beta().unwrap(), -1.0));
    }

    #[test]
    fn crossover_flips_on_sign_and_equality_holds_state() {
        let mut c = Cross::default();
        assert_eq!(c.update(1.0, 1.0), None); // equal and unknown: nothing
        assert_eq!(c.update(2.0, 1.0), Some(1));
        assert_eq!(c.update(1.0, 1.0), None); // touching keeps "above"
        assert_eq!(c.update(3.0, 1.0), None);
        assert_eq!(c.update(0.5, 1.0), Some(-1));
        assert_eq!(c.state(), -1);
    }
}
