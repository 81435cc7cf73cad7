//! The size caps on an entry, each against the portfolio as this step's approved orders
//! will leave it (see [`super::book`]), in this order:
//! 1. `max_position_pct`: the position's margin (held, approved and asked) as a share of
//!    equity;
//! 2. `max_total_exposure`: gross notional of every position the account will hold;
//! 3. `cash_reserve`: margin held and approved, plus every approved order's fee and
//!    slippage, as a share of the wallet;
//! 4. `max_portfolio_volatility`: the portfolio's daily volatility with the entry, on the
//!    covariance of the symbols' returns (correlation 1 between all positions stands in
//!    until it is estimated, and the audit trail says so once per symbol);
//! 5. `available_margin` (always on): the entry's margin, taker fee and slippage must fit
//!    the collateral the account has free — the exchange's own condition, so an entry the
//!    caps let through is not refused at the fill.
//!
//! Exposure is valued at the approval prices: the latest close of each symbol.

use super::audit::{At, Measure, RiskEvent, Rule};
use super::caps;
use super::entry::{Ask, Refusal};
use super::layer::RiskLayer;
use crate::exchange::account::MarginMode;

/// What every cap reads of the entry.
struct Facts {
    /// the decision's place in the audit trail
    at: At,
    symbol: usize,
    /// +1 long, −1 short
    sign: f64,
    /// USDT: the approval price (the latest close)
    price: f64,
    /// USDT: the sizing equity (net of the step's approved orders' costs)
    equity: f64,
    leverage: f64,
    /// margin, taker fee and worst slippage per USDT of notional, at the slipped price
    per_notional: f64,
}

/// A cap's verdict on the notional asked: the most it allows (USDT), and the figures its
/// event quotes (what it measured with the whole notional, and its limit).
struct Capped {
    rule: Rule,
    most: f64,
    value: f64,
    limit: f64,
}

/// A cap: `None` when it is off.
type Cap = fn(&mut RiskLayer, &Facts, f64) -> Result<Option<Capped>, Refusal>;

/// The caps in the order they apply.
const CAPS: [Cap; 5] = [
    RiskLayer::position_pct_cap,
    RiskLayer::total_exposure_cap,
    RiskLayer::cash_reserve_cap,
    RiskLayer::portfolio_volatility_cap,
    RiskLayer::available_margin_cap,
];

impl RiskLayer {
    /// Applies the size caps in turn, each against the portfolio as this step's approved
    /// orders will leave it (see [`super::book`]); the notional they leave.
    pub(super) fn apply_caps(
        &mut self,
        time: i64,
        ask: &Ask,
        price: f64,
        equity: f64,
        leverage: f64,
        mut notional: f64,
    ) -> Result<f64, Refusal> {
        let k = ask.symbol;
        let facts = Facts {
            at: ask.at(time),
            symbol: k,
            sign: ask.side.sign_f64(),
            price,
            equity,
            leverage,
            per_notional: (1.0 + self.slippage) * (1.0 / leverage + self.fee_rate[k]),
        };
        for cap in CAPS {
            if let Some(c) = cap(self, &facts, notional)? {
                let why = (c.value, c.limit);
                self.cap(time, ask, price, c.rule, c.most, why, &mut notional)?;
            }
        }
        Ok(notional)
    }

    /// `max_position_pct`: the position's margin (held, approved and asked) over equity.
    fn position_pct_cap(&mut self, f: &Facts, notional: f64) -> Result<Option<Capped>, Refusal> {
        let Some(pct) = self.config.max_position_pct else {
            return Ok(None);
        };
        let held = (f.sign * self.book.qty(f.symbol)).max(0.0) * f.price;
        Ok(Some(Capped {
            rule: Rule::MaxPositionPct,
            most: caps::position_pct(f.equity, pct, f.leverage, held),
            value: (held + notional) / f.leverage / f.equity,
            limit: pct,
        }))
    }

    /// `max_total_exposure`: gross notional the account will hold, over equity.
    fn total_exposure_cap(&mut self, f: &Facts, notional: f64) -> Result<Option<Capped>, Refusal> {
        let Some(limit) = self.config.max_total_exposure else {
            return Ok(None);
        };
        let gross = self.book_gross(f.symbol, f.price);
        Ok(Some(Capped {
            rule: Rule::MaxTotalExposure,
            most: caps::total_exposure(f.equity, limit, gross),
            value: (gross + notional) / f.equity,
            limit,
        }))
    }

    /// USDT committed: the margin held and approved, and what the approved orders will cost.
    fn committed(&self) -> f64 {
        self.book.margin(None) + self.book.cost()
    }

    /// `cash_reserve`: what is committed, with the entry's margin, fee and slippage, over
    /// the wallet.
    fn cash_reserve_cap(&mut self, f: &Facts, notional: f64) -> Result<Option<Capped>, Refusal> {
        let Some(reserve) = self.config.cash_reserve else {
            return Ok(None);
        };
        let (in_use, wallet) = (self.committed(), self.wallet);
        Ok(Some(Capped {
            rule: Rule::CashReserve,
            most: caps::cash_reserve(wallet, reserve, in_use, f.per_notional),
            value: (in_use + notional * f.per_notional) / wallet,
            limit: 1.0 - reserve,
        }))
    }

    /// `max_portfolio_volatility`: the portfolio's daily volatility with the entry, over
    /// equity.
    fn portfolio_volatility_cap(
        &mut self,
        f: &Facts,
        notional: f64,
    ) -> Result<Option<Capped>, Refusal> {
        let Some(limit) = self.config.max_portfolio_volatility else {
            return Ok(None);
        };
        let (a, b, q) = self.portfolio_terms(f)?;
        let with = (a * notional * notional + 2.0 * b * notional + q)
            .max(0.0)
            .sqrt()
            / f.equity;
        Ok(Some(Capped {
            rule: Rule::PortfolioVolatility,
            most: caps::portfolio_volatility(a, b, q, limit, f.equity),
            value: with,
            limit,
        }))
    }

    /// The available margin (always on): the entry's margin, fee and slippage against the
    /// collateral free, as the exchange checks it at the fill.
    fn available_margin_cap(
        &mut self,
        f: &Facts,
        notional: f64,
    ) -> Result<Option<Capped>, Refusal> {
        // `equity` is already net of the approved orders' costs
        let free = match self.mode {
            MarginMode::Isolated => self.wallet - self.committed(),
            MarginMode::Cross => f.equity - self.book.margin(None),
        };
        Ok(Some(Capped {
            rule: Rule::AvailableMargin,
            most: caps::available_margin(free, f.per_notional),
            value: notional * f.per_notional,
            limit: free,
        }))
    }

    /// One cap: `most` (USDT notional) cuts `notional` and records the resize with the
    /// rule's measure and limit `(value, limit)`; a cap that leaves nothing refuses the
    /// entry rather than "resizing" it to zero.
    #[allow(clippy::too_many_arguments)] // the cap's facts for its event
    fn cap(
        &mut self,
        time: i64,
        ask: &Ask,
        price: f64,
        rule: Rule,
        most: f64,
        (value, limit): (f64, f64),
        notional: &mut f64,
    ) -> Result<(), Refusal> {
        if most <= 0.0 {
            return Err((rule, value, limit));
        }
        if most < *notional {
            let change = (*notional / price, most / price);
            self.resized(time, ask, rule, Measure::Qty, change, (value, limit));
            *notional = most;
        }
        Ok(())
    }

    /// USDT: gross notional the account will hold before the entry on `k`, at the approval
    /// prices (`price` for `k`, the latest close for the others). A position on `k` against
    /// the entry (its close was refused) is counted whole, the conservative side.
    fn book_gross(&self, k: usize, price: f64) -> f64 {
        let closes = |s: usize| {
            if s == k {
                price
            } else {
                self.estimates[s].last_close()
            }
        };
        self.book.gross(closes, None)
    }

    /// `(a, b, c)` of the portfolio variance in the addition `x` (USDT): see
    /// [`caps::portfolio_volatility`]. Daily covariance; one symbol uses its own variance.
    /// Until the covariance is estimated, correlation 1 between all positions stands in
    /// (said once per symbol); until a symbol's own variance is, the entry waits.
    fn portfolio_terms(&mut self, f: &Facts) -> Result<(f64, f64, f64), Refusal> {
        let k = f.symbol;
        let n = self.held.len();
        let scale = self.bars_per_day;
        // the symbols the variance needs: the entry's and every one held
        for s in 0..n {
            let e = &self.estimates[s];
            if (s == k || self.book.qty(s) != 0.0) && e.bar_variance().is_none() {
                let needed = f64::from(e.variance_needs());
                return Err((Rule::WarmUp, f64::from(e.returns()), needed));
            }
        }
        let estimated = n == 1 || self.covariance.ready();
        if !estimated && !self.stand_in_noted[k] {
            self.stand_in_noted[k] = true;
            let (seen, needed) = self.covariance.warm_up();
            let (seen, needed) = (f64::from(seen), f64::from(needed));
            let rule = Rule::PortfolioVolatility;
            self.record(RiskEvent::assumed(f.at, rule, seen, needed));
        }
        let exposure = |s: usize| {
            let q = self.book.qty(s);
            if q == 0.0 {
                0.0
            } else {
                q * self.estimates[s].last_close()
            }
        };
        let var = |s: usize| self.estimates[s].bar_variance().unwrap_or(0.0) * scale;
        let cov = |i: usize, j: usize| -> f64 {
            if n == 1 {
                var(0)
            } else if estimated {
                self.covariance.get(i, j) * scale
            } else {
                (var(i) * var(j)).sqrt()
            }
        };
        let sign = f.sign;
        let a = cov(k, k);
        let (mut b, mut c) = (0.0, 0.0);
        for i in 0..n {
            let wi = exposure(i);
            if wi == 0.0 {
                continue;
            }
            b += sign * cov(k, i) * wi;
            for j in 0..n {
                let wj = exposure(j);
                if wj != 0.0 {
                    c += wi * cov(i, j) * wj;
                }
            }
        }
        Ok((a, b, c))
    }
}
