//! Survival statistics over Monte Carlo paths: quantiles and the Kaplan–Meier estimate.

/// The `q` quantile (0 ≤ q ≤ 1) of `values` by linear interpolation between order statistics
/// (Hyndman & Fan type 7, as numpy and R default); NaN when empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// One path's time to the event, or to its end without it (censored). Days.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    pub time: f64,
    pub event: bool,
}

/// The Kaplan–Meier estimate S(t) = Π over event times tᵢ ≤ t of (1 − dᵢ / nᵢ), where dᵢ paths
/// had the event at tᵢ and nᵢ were still at risk just before it (a path censored at tᵢ counts
/// as at risk there). Returns the steps `(tᵢ, S(tᵢ))`; S = 1 before the first.
pub fn kaplan_meier(observations: &[Observation]) -> Vec<(f64, f64)> {
    let mut obs = observations.to_vec();
    obs.sort_by(|a, b| a.time.total_cmp(&b.time));
    let mut at_risk = obs.len();
    let mut s = 1.0;
    let mut steps = Vec::new();
    let mut i = 0;
    while i < obs.len() {
        let t = obs[i].time;
        let same = obs[i..].iter().take_while(|o| o.time == t).count();
        let events = obs[i..i + same].iter().filter(|o| o.event).count();
        if events > 0 {
            s *= 1.0 - events as f64 / at_risk as f64;
            steps.push((t, s));
        }
        at_risk -= same;
        i += same;
    }
    steps
}

/// The first time S(t) ≤ 0.5, or `None` when it never falls that far.
pub fn median_survival(steps: &[(f64, f64)]) -> Option<f64> {
    steps.iter().find(|(_, s)| *s <= 0.5).map(|(t, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&v, 0.5), 2.5); // between 2 and 3
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        // h = 3 × 0.05 = 0.15 → 1 + 0.15 × (2 − 1)
        assert!((quantile(&v, 0.05) - 1.15).abs() < 1e-12);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn kaplan_meier_by_hand() {
        // six paths: events at 2, 3, 3 and 7 days; censored at 5 and 10 (the path ended)
        let o = |time, event| Observation { time, event };
        let obs = [
            o(3.0, true),
            o(2.0, true),
            o(10.0, false),
            o(3.0, true),
            o(5.0, false),
            o(7.0, true),
        ];
        let km = kaplan_meier(&obs);
        // t=2: 6 at risk, 1 event → 5/6
        // t=3: 5 at risk, 2 events → 5/6 × 3/5 = 1/2
        // t=5: censored, nothing drops; 2 at risk after it
        // t=7: 2 at risk, 1 event → 1/2 × 1/2 = 1/4
        let want = [(2.0, 5.0 / 6.0), (3.0, 0.5), (7.0, 0.25)];
        assert_eq!(km.len(), 3);
        for ((t, s), (wt, ws)) in km.iter().zip(want) {
            assert_eq!(*t, wt);
            assert!((s - ws).abs() < 1e-12, "S({t}) = {s}, want {ws}");
        }
        assert_eq!(median_survival(&km), Some(3.0));
        assert_eq!(median_survival(&km[..1]), None);
    }
}
