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

use super::audit::{Measure, RiskEvent, Rule};
use super::caps;
use super::entry::{Ask, Refusal};
use super::layer::RiskLayer;
use crate::exchange::account::MarginMode;

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
        let sign = ask.side.sign_f64();
        let c = &self.config;
        let (pct, total, reserve, vol) = (
            c.max_position_pct,
            c.max_total_exposure,
            c.cash_reserve,
            c.max_portfolio_volatility,
        );
        if let Some(pct) = pct {
            let held = (sign * self.book.qty(k)).max(0.0) * price;
            let most = caps::position_pct(equity, pct, leverage, held);
            let value = (held + notional) / leverage / equity;
            self.cap(
                time,
                ask,
                price,
                Rule::MaxPositionPct,
                most,
                (value, pct),
                &mut notional,
            )?;
        }
        if let Some(limit) = total {
            let gross = self.book_gross(k, price);
            let most = caps::total_exposure(equity, limit, gross);
            let value = (gross + notional) / equity;
            self.cap(
                time,
                ask,
                price,
                Rule::MaxTotalExposure,
                most,
                (value, limit),
                &mut notional,
            )?;
        }
        // margin and what the order costs, per USDT of notional, at the slipped fill price
        let per_notional = (1.0 + self.slippage) * (1.0 / leverage + self.fee_rate[k]);
        // committed: the margin held and approved, and what the approved orders will cost
        let in_use = self.book.margin(None) + self.book.cost();
        let wallet = self.wallet;
        if let Some(reserve) = reserve {
            let most = caps::cash_reserve(wallet, reserve, in_use, per_notional);
            let value = (in_use + notional * per_notional) / wallet;
            let why = (value, 1.0 - reserve);
            self.cap(
                time,
                ask,
                price,
                Rule::CashReserve,
                most,
                why,
                &mut notional,
            )?;
        }
        if let Some(limit) = vol {
            let (a, b, q) = self.portfolio_terms(time, ask)?;
            let most = caps::portfolio_volatility(a, b, q, limit, equity);
            let with = (a * notional * notional + 2.0 * b * notional + q)
                .max(0.0)
                .sqrt()
                / equity;
            let why = (with, limit);
            self.cap(
                time,
                ask,
                price,
                Rule::PortfolioVolatility,
                most,
                why,
                &mut notional,
            )?;
        }
        // `equity` is already net of the approved orders' costs
        let free = match self.mode {
            MarginMode::Isolated => wallet - in_use,
            MarginMode::Cross => equity - self.book.margin(None),
        };
        let most = caps::available_margin(free, per_notional);
        let why = (notional * per_notional, free);
        self.cap(
            time,
            ask,
            price,
            Rule::AvailableMargin,
            most,
            why,
            &mut notional,
        )?;
        Ok(notional)
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

    /// USDT: maintenance margin of the positions the account will hold, except `skip`'s,
    /// at the latest marks.
    pub(super) fn book_maintenance(&self, skip: Option<usize>) -> f64 {
        let mut total = 0.0;
        for s in 0..self.held.len() {
            let q = self.book.qty(s).abs();
            if q != 0.0 && Some(s) != skip {
                let notional = q * self.marks[s];
                let t = self.tier(s, notional);
                total += crate::exchange::margin::maintenance_f64(notional, t.rate, t.amount);
            }
        }
        total
    }

    /// `(a, b, c)` of the portfolio variance in the addition `x` (USDT): see
    /// [`caps::portfolio_volatility`]. Daily covariance; one symbol uses its own variance.
    /// Until the covariance is estimated, correlation 1 between all positions stands in
    /// (said once per symbol); until a symbol's own variance is, the entry waits.
    fn portfolio_terms(&mut self, time: i64, ask: &Ask) -> Result<(f64, f64, f64), Refusal> {
        let k = ask.symbol;
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
            self.record(RiskEvent::assumed(ask.at(time), rule, seen, needed));
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
        let sign = ask.side.sign_f64();
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
