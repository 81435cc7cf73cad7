//! The caps across a portfolio: several symbols, signals on the same and on different
//! steps, checked after every step's approvals against the account the venue will hold
//! once the orders waiting for the next open fill — worked out here from the venue's own
//! positions and orders, not from the risk layer's book.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::audit::{Action, Rule};
use super::config::{RiskConfig, Sizing};
use super::layer::RiskLayer;
use crate::exchange::Side;
use crate::exchange::account::MarginMode;
use crate::exchange::fill::{Ohlc, PathOrder, Slippage};
use crate::exchange::orders::Quantity;
use crate::exchange::venue::{Venue, VenueConfig};
use crate::instrument::Instruments;
use crate::strategy::{Intent, Signal};

const HOUR: i64 = 3_600_000;
const FEE: f64 = 0.0005;
const SLIPPAGE_BPS: f64 = 2.0;

/// `n` copies of BTCUSDT (fees 0.05 % taker, 2 bps slippage) behind one risk layer.
struct Portfolio {
    venue: Venue,
    risk: RiskLayer,
    time: i64,
    prices: Vec<f64>,
}

fn portfolio(config: RiskConfig, mode: MarginMode, n: usize) -> Portfolio {
    let mut spec = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
    spec.taker_fee = Decimal::from_f64_retain(FEE).unwrap();
    let specs = vec![spec; n];
    let venue = Venue::new(
        VenueConfig {
            mode,
            start_balance: Decimal::from(10_000),
            slippage: Slippage::FixedBps { bps: SLIPPAGE_BPS },
            path: PathOrder::AdverseFirst,
            margin_call_ratio: 0.8,
        },
        specs.clone(),
    );
    Portfolio {
        venue,
        risk: RiskLayer::new(config, &specs, HOUR, 10_000.0).unwrap(),
        time: 0,
        prices: vec![100.0; n],
    }
}

impl Portfolio {
    /// One 1h step: every symbol moves by its return (mark = last).
    fn step(&mut self, returns: &[f64]) {
        for (s, r) in returns.iter().enumerate() {
            let open = self.prices[s];
            let close = open * (1.0 + r);
            let b = Ohlc {
                open,
                high: open.max(close) * 1.001,
                low: open.min(close) * 0.999,
                close,
            };
            self.venue.on_bar(s, self.time, &b, &b, &[]);
            self.risk.observe(s, &b, close, None);
            self.prices[s] = close;
        }
        self.venue.end_step(self.time);
        self.time += HOUR;
        self.risk.on_step(self.time, &mut self.venue);
    }

    /// Signed base asset per symbol once the waiting market orders fill (only those that
    /// reduce, unless `increases`), and the margin (USDT) committed to it: what stays of
    /// the held margin, plus each entry's margin, fee and slippage at its approval price.
    fn after_fills(&self, increases: bool) -> (Vec<f64>, Vec<f64>) {
        let n = self.prices.len();
        let f = |d: Decimal| d.to_f64().unwrap();
        let mut qty = vec![0.0; n];
        let mut kept = vec![0.0; n];
        for (s, (q, m)) in qty.iter_mut().zip(&mut kept).enumerate() {
            if let Some(p) = self.venue.account.position(s) {
                *q = p.side.sign_f64() * f(p.qty);
                *m = f(p.margin);
            }
        }
        let held = qty.clone();
        let mut added = vec![0.0; n];
        let slip = SLIPPAGE_BPS * 1e-4;
        for o in self.venue.waiting_market_orders() {
            let s = o.order.symbol;
            let sign = o.order.side.sign_f64();
            match (o.order.qty, o.order.reduce_only) {
                (Quantity::ClosePosition, _) => qty[s] = 0.0,
                (Quantity::Base(_), true) => {
                    let cut = f(o.qty).min(qty[s].abs());
                    qty[s] += sign * cut;
                }
                (Quantity::Base(_), false) if increases => {
                    let notional = f(o.qty) * self.prices[s];
                    let per = (1.0 + slip) * (1.0 / f(o.order.leverage) + FEE);
                    added[s] += notional * per;
                    qty[s] += sign * f(o.qty);
                }
                (Quantity::Base(_), false) => {}
            }
        }
        let margin = (0..n)
            .map(|s| {
                // what is left of the held position keeps its margin in proportion
                let same = held[s] * qty[s] > 0.0;
                let left = if same && held[s] != 0.0 {
                    (qty[s].abs() / held[s].abs()).min(1.0)
                } else {
                    0.0
                };
                kept[s] * left + added[s]
            })
            .collect();
        (qty, margin)
    }

    /// Daily portfolio volatility (USDT) of `qty` at the latest closes, on the layer's own
    /// estimates (correlation 1 until the covariance is in).
    fn volatility(&self, qty: &[f64]) -> f64 {
        let r = &self.risk;
        let n = qty.len();
        let w: Vec<f64> = (0..n).map(|s| qty[s] * self.prices[s]).collect();
        let var = |s: usize| r.estimates[s].bar_variance().unwrap_or(0.0) * r.bars_per_day;
        let mut total = 0.0;
        for i in 0..n {
            for j in 0..n {
                let cov = if r.covariance.ready() {
                    r.covariance.get(i, j) * r.bars_per_day
                } else {
                    (var(i) * var(j)).sqrt()
                };
                total += w[i] * cov * w[j];
            }
        }
        total.max(0.0).sqrt()
    }
}

/// A random signal: 0–1 enter long/short, 2 exit, 3 target exposure, 4 reduce, else none.
fn intent(kind: u8, x: f64) -> Option<Intent> {
    match kind {
        0 => Some(Intent::Enter {
            side: Side::Long,
            stop: None,
            take_profit: None,
        }),
        1 => Some(Intent::Enter {
            side: Side::Short,
            stop: None,
            take_profit: None,
        }),
        2 => Some(Intent::Exit),
        3 => Some(Intent::TargetExposure {
            exposure: 4.0 * x - 2.0,
        }),
        4 => Some(Intent::Reduce { fraction: x }),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// After every step's approvals, at the approval prices: gross exposure ≤
    /// `max_total_exposure` × equity, committed margin ≤ (1 − `cash_reserve`) × wallet, and
    /// the portfolio volatility ≤ its cap (or no higher than the step's reductions left it)
    /// — whenever the step approved an increase.
    #[test]
    fn the_caps_hold_across_the_portfolio(
        n in 2usize..=4,
        cross in proptest::bool::ANY,
        leverage in 1.0f64..10.0,
        exposure in 0.2f64..3.0,
        reserve in 0.0f64..0.8,
        vol_cap in proptest::option::of(0.01f64..0.2),
        steps in proptest::collection::vec(
            (
                proptest::collection::vec(-0.03f64..0.03, 4),
                proptest::collection::vec((0u8..9, 0.0f64..1.0), 4),
            ),
            30..90,
        ),
    ) {
        let config = RiskConfig {
            max_leverage: Some(leverage.floor()),
            max_total_exposure: Some(exposure),
            cash_reserve: Some(reserve),
            max_portfolio_volatility: vol_cap,
            sizing: Sizing::FixedFraction,
            fixed_fraction: 0.5,
            volatility_window: 12 * HOUR,
            ..RiskConfig::no_rules()
        };
        let mode = if cross { MarginMode::Cross } else { MarginMode::Isolated };
        let mut p = portfolio(config, mode, n);
        for (returns, kinds) in steps {
            p.step(&returns[..n]);
            let signals: Vec<Signal> = kinds[..n]
                .iter()
                .enumerate()
                .filter_map(|(symbol, &(k, x))| intent(k, x).map(|intent| Signal { symbol, intent }))
                .collect();
            let seen = p.risk.audit().events().len();
            p.risk.on_signals(p.time, &signals, &mut p.venue);
            let increased = p.risk.audit().events()[seen..].iter().any(|e| {
                e.action == Action::Approved && e.rule == Rule::Signal && e.source.adds()
                    && !e.value.is_nan()
            });
            if !increased {
                continue;
            }
            let (qty, margin) = p.after_fills(true);
            // the reductions of the step come first, and may move the volatility either way
            let vol_before = p.volatility(&p.after_fills(false).0);
            let equity = p.venue.snapshot().equity();
            let wallet = p.venue.account.wallet().to_f64().unwrap();
            let gross: f64 = qty.iter().zip(&p.prices).map(|(q, px)| q.abs() * px).sum();
            let slack = 1e-6 * equity.abs().max(1.0) + 0.01;
            prop_assert!(gross <= exposure * equity + slack,
                "gross {gross} over {exposure} × {equity}");
            let committed: f64 = margin.iter().sum();
            prop_assert!(committed <= (1.0 - reserve) * wallet + slack,
                "committed {committed} over (1 − {reserve}) × {wallet}");
            if let Some(cap) = vol_cap {
                let vol = p.volatility(&qty);
                prop_assert!(vol <= cap * equity + slack || vol <= vol_before + slack,
                    "volatility {vol} over {cap} × {equity} (before {vol_before})");
            }
        }
    }
}
