//! Deciding an entry (or an addition to a position): the order in which the rules apply.
//!
//! 1. **Breakers** — a halt refuses the entry (drawdown kill switch, daily and weekly loss
//!    limits, losing streak, volatility halt, margin guard).
//! 2. **Stop** — without a stop, one is placed `default_stop_atr` ATRs away; `require_stop`
//!    refuses what still has none; the stop and take-profit must sit on the right sides of
//!    the price, and `min_reward_risk` must hold.
//! 3. **Leverage** — `max_leverage`, lowered to what the instrument bracket allows at the
//!    notional.
//! 4. **Sizing** — the notional from the sizing rule (target-exposure signals bring their
//!    own), on the equity the account will hold once this step's approved orders have paid
//!    their fees and slippage.
//! 5. **Liquidation distance** — the liquidation price must sit beyond the stop by the
//!    buffer, and far enough that the probability of reaching it within the horizon stays
//!    under its limit: isolated margin lowers the leverage, cross margin the size (or the
//!    entry is refused, with `liquidation_buffer_action = "refuse"`).
//! 6. **Caps** — `max_position_pct`, `max_total_exposure`, `cash_reserve`,
//!    `max_portfolio_volatility` and the available margin, each cutting the size, against
//!    the portfolio as this step's approved orders will leave it (see `entry_caps`).
//!
//! Each step that changes the order records a `resized` event (from → to); a refusal
//! records which rule and its numbers; what passes is `approved`.

use rust_decimal::Decimal;

use super::approved::Approved;
use super::audit::{At, Measure, RiskEvent, Rule, Source};
use super::config::{BufferAction, Sizing};
use super::layer::RiskLayer;
use super::liquidation_distance::safe_log_distance;
use super::sizing;
use crate::exchange::account::MarginMode;
use crate::exchange::margin::{
    isolated_liquidation_price_f64, max_cross_qty_f64 as max_cross_qty,
    max_isolated_leverage_f64 as max_isolated_leverage,
};
use crate::exchange::orders::{Order, OrderKind, Quantity};
use crate::exchange::venue::Venue;
use crate::exchange::{QTY_SCALE, Side, to_decimal};

/// What a signal asks to open.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ask {
    pub symbol: usize,
    pub side: Side,
    pub stop: Option<f64>,
    pub take_profit: Option<f64>,
    pub source: Source,
    /// USDT: the notional to add, when the signal sets it (target exposure)
    pub notional: Option<f64>,
}

impl Ask {
    /// The decision's place in the audit trail.
    pub fn at(&self, time: i64) -> At {
        At {
            time,
            symbol: Some(self.symbol),
            source: self.source,
        }
    }
}

/// A refusal: the rule, what it measured, its limit.
pub(super) type Refusal = (Rule, f64, f64);

impl RiskLayer {
    /// Decides an entry and, if approved, submits it.
    pub(super) fn enter(&mut self, time: i64, ask: Ask, venue: &mut Venue) {
        if let Err((rule, value, limit)) = self.try_enter(time, ask, venue) {
            self.record(RiskEvent::refused(ask.at(time), rule, value, limit));
        }
    }

    fn try_enter(&mut self, time: i64, mut ask: Ask, venue: &mut Venue) -> Result<(), Refusal> {
        if let Some(halt) = self.entry_halt(time, ask.symbol) {
            return Err(halt);
        }
        let price = self.estimates[ask.symbol].last_close();
        if price.is_nan() || price <= 0.0 {
            return Err((Rule::WarmUp, 0.0, 1.0));
        }
        ask.stop = self.stop_for(time, &ask, price)?;
        self.check_stop_and_target(&ask, price)?;
        let equity = self.sizing_equity();
        let mut leverage = self.config.max_leverage.unwrap_or(f64::INFINITY);
        let asked = match ask.notional {
            Some(n) => n,
            None => self.size(
                time,
                &ask,
                price,
                equity,
                leverage.min(self.published[ask.symbol][0].max_leverage),
            )?,
        };
        let mut notional = asked;
        let bracket = self.tier(ask.symbol, notional).max_leverage;
        if bracket < leverage {
            if self.config.max_leverage.is_some() {
                self.resized(
                    time,
                    &ask,
                    Rule::BracketLeverage,
                    Measure::Leverage,
                    (leverage, bracket),
                    (notional, bracket),
                );
            }
            leverage = bracket;
        }
        leverage = leverage.floor().max(1.0);
        (leverage, notional) =
            self.keep_liquidation_distance(time, &ask, price, leverage, notional)?;
        if self.config.sizing == Sizing::FixedFraction && ask.notional.is_none() {
            // the DIY bot commits a fraction of equity as margin: a lower leverage shrinks it
            notional = notional.min(sizing::fixed_fraction_notional(
                equity,
                self.config.fixed_fraction,
                leverage,
            ));
        }
        notional = self.apply_caps(time, &ask, price, equity, leverage, notional)?;
        self.submit_entry(time, &ask, price, leverage, asked, notional, venue)
    }

    /// The stop the entry will carry: the signal's, or an ATR stop.
    fn stop_for(&mut self, time: i64, ask: &Ask, price: f64) -> Result<Option<f64>, Refusal> {
        let targeted = ask.notional.is_some();
        if ask.stop.is_some() || targeted {
            return Ok(ask.stop);
        }
        if let Some(k) = self.config.default_stop_atr {
            let estimates = &self.estimates[ask.symbol];
            let Some(atr) = estimates.atr() else {
                return Err((
                    Rule::WarmUp,
                    f64::from(estimates.returns()),
                    f64::from(self.config.atr_bars),
                ));
            };
            let stop = price - ask.side.sign_f64() * k * atr;
            if stop > 0.0 {
                self.record(RiskEvent::stop_added(ask.at(time), stop, atr, k));
                return Ok(Some(stop));
            }
        }
        if self.config.require_stop {
            return Err((Rule::RequireStop, f64::NAN, f64::NAN));
        }
        Ok(None)
    }

    fn check_stop_and_target(&self, ask: &Ask, price: f64) -> Result<(), Refusal> {
        let sign = ask.side.sign_f64();
        let wrong = |level: Option<f64>, side: f64| {
            level.is_some_and(|l| l.is_nan() || l <= 0.0 || side * (l - price) <= 0.0)
        };
        if wrong(ask.stop, -sign) || wrong(ask.take_profit, sign) {
            return Err((Rule::InvalidSignal, f64::NAN, f64::NAN));
        }
        if let (Some(min), Some(stop), Some(tp)) =
            (self.config.min_reward_risk, ask.stop, ask.take_profit)
        {
            let ratio = (tp - price).abs() / (price - stop).abs();
            if ratio < min {
                return Err((Rule::MinRewardRisk, ratio, min));
            }
        }
        Ok(())
    }

    /// USDT notional from the sizing rule.
    fn size(
        &mut self,
        time: i64,
        ask: &Ask,
        price: f64,
        equity: f64,
        leverage: f64,
    ) -> Result<f64, Refusal> {
        self.note_kelly_takes_over(time, ask);
        let c = &self.config;
        let from_stop = |risk: f64| match ask.stop {
            Some(stop) => Ok(sizing::risk_per_trade_qty(equity, price, stop, risk) * price),
            None => Err((Rule::Sizing, f64::NAN, f64::NAN)),
        };
        let notional = match c.sizing {
            Sizing::FixedNotional => c.fixed_notional,
            Sizing::FixedFraction => {
                sizing::fixed_fraction_notional(equity, c.fixed_fraction, leverage)
            }
            Sizing::RiskPerTrade => from_stop(c.risk_per_trade)?,
            Sizing::Kelly => match self.trades.kelly() {
                Some((full, avg_loss)) if self.trades.trades() >= c.kelly_min_trades => {
                    if full <= 0.0 {
                        return Err((Rule::Sizing, full, 0.0));
                    }
                    sizing::kelly_notional(equity, c.kelly_scale * full, avg_loss)
                }
                _ => from_stop(c.risk_per_trade)?,
            },
            Sizing::VolatilityTarget => {
                let estimates = &self.estimates[ask.symbol];
                let Some(var) = estimates.bar_variance().filter(|v| *v > 0.0) else {
                    let needed = f64::from(estimates.variance_needs());
                    return Err((Rule::WarmUp, f64::from(estimates.returns()), needed));
                };
                let daily_vol = (var * self.bars_per_day).sqrt();
                sizing::volatility_target_notional(equity, c.volatility_target, daily_vol)
            }
        };
        if !(notional > 0.0 && notional.is_finite()) {
            return Err((Rule::Sizing, notional, f64::NAN));
        }
        Ok(notional)
    }

    /// Records, once, that Kelly sizing takes over from the base sizing (its trade record is
    /// long enough).
    fn note_kelly_takes_over(&mut self, time: i64, ask: &Ask) {
        let c = &self.config;
        if c.sizing != Sizing::Kelly
            || self.kelly_noted
            || self.trades.trades() < c.kelly_min_trades
        {
            return;
        }
        let Some((full, _)) = self.trades.kelly() else {
            return;
        };
        self.kelly_noted = true;
        let trades = f64::from(self.trades.trades());
        self.record(RiskEvent::switched(
            ask.at(time),
            Rule::Sizing,
            trades,
            full,
        ));
    }

    /// The liquidation price the entry may have at most (long) or at least (short), and the
    /// rule that sets it: the stop less the buffer, or the distance at which the probability
    /// of liquidation within the horizon reaches its limit.
    fn liquidation_limit(&mut self, ask: &Ask, price: f64) -> Option<(f64, Rule)> {
        let sign = ask.side.sign_f64();
        let c = &self.config;
        let mut limit: Option<(f64, Rule)> = None;
        let mut tighten = |x: f64, rule: Rule| {
            if limit.is_none_or(|(l, _)| sign * x < sign * l) {
                limit = Some((x, rule));
            }
        };
        if let Some(stop) = ask.stop {
            let atr = self.estimates[ask.symbol].atr().unwrap_or(0.0);
            let by_price = c.liquidation_buffer.map_or(0.0, |b| b * price);
            let by_atr = c.liquidation_buffer_atr.map_or(0.0, |k| k * atr);
            if c.liquidation_buffer.is_some() || c.liquidation_buffer_atr.is_some() {
                tighten(stop - sign * by_price.max(by_atr), Rule::LiquidationBuffer);
            }
        }
        if let Some(d) = self.safe_distance(ask.symbol, ask.side, true) {
            tighten(price * (-sign * d).exp(), Rule::LiquidationProbability);
        }
        limit
    }

    /// The log-distance the liquidation-probability guard asks for. New positions (`entry`)
    /// are opened at half the limit, so that ordinary noise right after an entry does not
    /// trip the guard.
    ///
    /// Measured in spreads σ√T, the safe distance depends only on the threshold and the
    /// funding drift in spreads, `μ·T / σ√T` (see [`safe_log_distance`]): it is cached per
    /// symbol, side and threshold, and solved again only when that drift moved by more than
    /// [`super::liquidation_probability::DISTANCE_DRIFT_REUSE`] spread; a change of
    /// volatility rescales it exactly.
    #[inline(always)]
    pub(super) fn safe_distance(&mut self, symbol: usize, side: Side, entry: bool) -> Option<f64> {
        let limit = self.config.liquidation_probability?;
        let var = self.estimates[symbol].bar_variance()?;
        let funding = self.funding[symbol].map_or(0.0, |f| f.per_day);
        Some(self.safe_distance_at(symbol, side, entry, limit, var, funding))
    }

    /// [`RiskLayer::safe_distance`] for a per-bar variance `var`, a funding rate `funding`
    /// (fraction per day) and the guard's `limit`.
    pub(super) fn safe_distance_at(
        &mut self,
        symbol: usize,
        side: Side,
        entry: bool,
        limit: f64,
        var: f64,
        funding: f64,
    ) -> f64 {
        let (spread, drift) = self.spread_and_drift(var, funding);
        if spread.is_nan() || spread <= 0.0 {
            return 0.0;
        }
        let cache = &mut self.guards.distance[symbol][distance_slot(side, entry)];
        if !cache.covers(drift) {
            let threshold = if entry { 0.5 * limit } else { limit };
            *cache = solve_distance(side, self.horizon_days, drift, threshold);
        }
        cache.spreads * spread
    }

    /// The spread σ√T over the horizon (fraction) for a per-bar variance `var`, and the
    /// funding drift over the horizon in spreads (μ·T / σ√T) for `funding` (fraction per
    /// day): what the safe distance is made of.
    #[inline(always)]
    pub(super) fn spread_and_drift(&self, var: f64, funding: f64) -> (f64, f64) {
        let horizon = self.horizon_days;
        let spread = (var * self.bars_per_day * horizon).sqrt();
        (spread, funding * horizon / spread)
    }

    /// What a liquidation-distance event quotes: for the buffer, the liquidation price
    /// `lp` and the `limit` price; for the probability guard, the probability of reaching
    /// `lp` from `price` within the horizon and the entry's limit (half the guard's). NaN
    /// `lp`: not worked out (cross margin sizes to the limit directly).
    fn distance_figures(
        &self,
        ask: &Ask,
        rule: Rule,
        price: f64,
        lp: f64,
        limit: f64,
    ) -> (f64, f64) {
        match (rule, self.config.liquidation_probability) {
            (Rule::LiquidationProbability, Some(threshold)) => {
                let p = if lp.is_nan() {
                    f64::NAN
                } else {
                    self.probability_from(ask.symbol, ask.side, price, lp)
                };
                (p, 0.5 * threshold)
            }
            _ => (lp, limit),
        }
    }

    /// Lowers leverage (isolated) or size (cross) until the liquidation price keeps its
    /// distance; `(leverage, notional)`.
    fn keep_liquidation_distance(
        &mut self,
        time: i64,
        ask: &Ask,
        price: f64,
        leverage: f64,
        notional: f64,
    ) -> Result<(f64, f64), Refusal> {
        let Some((limit, rule)) = self.liquidation_limit(ask, price) else {
            return Ok((leverage, notional));
        };
        let sign = ask.side.sign_f64();
        let tier = self.tier(ask.symbol, notional);
        let refuse = self.config.liquidation_buffer_action == BufferAction::Refuse;
        match self.mode {
            MarginMode::Isolated => {
                let most =
                    max_isolated_leverage(sign, price, notional, limit, tier.rate, tier.amount);
                if most >= leverage {
                    return Ok((leverage, notional));
                }
                let lower = most.floor();
                let lp = isolated_liquidation_price_f64(
                    sign,
                    price,
                    notional,
                    leverage,
                    tier.rate,
                    tier.amount,
                );
                let why = self.distance_figures(ask, rule, price, lp, limit);
                if refuse || lower < 1.0 {
                    return Err((rule, why.0, why.1));
                }
                self.resized(time, ask, rule, Measure::Leverage, (leverage, lower), why);
                Ok((lower, notional))
            }
            MarginMode::Cross => {
                let will_hold = |s: usize| self.book.qty(s).abs();
                let backing =
                    self.sizing_equity() - self.maintenance_of(will_hold, Some(ask.symbol));
                let held = (sign * self.book.qty(ask.symbol)).max(0.0);
                let most = (max_cross_qty(sign, price, limit, backing, tier.rate, tier.amount)
                    - held)
                    .max(0.0);
                let qty = notional / price;
                if most >= qty {
                    return Ok((leverage, notional));
                }
                let why = self.distance_figures(ask, rule, price, f64::NAN, limit);
                if refuse || most <= 0.0 {
                    return Err((rule, why.0, why.1));
                }
                self.resized(time, ask, rule, Measure::Qty, (qty, most), why);
                Ok((leverage, most * price))
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // the entry's facts for its order and event
    fn submit_entry(
        &mut self,
        time: i64,
        ask: &Ask,
        price: f64,
        leverage: f64,
        asked: f64,
        notional: f64,
        venue: &mut Venue,
    ) -> Result<(), Refusal> {
        let qty = to_decimal(notional / price, QTY_SCALE).unwrap_or_default();
        let order = Order {
            symbol: ask.symbol,
            side: ask.side,
            qty: Quantity::Base(qty),
            kind: OrderKind::Market,
            reduce_only: false,
            leverage: leverage_decimal(leverage),
        };
        match venue.submit(Approved::new(order, ask.stop, ask.take_profit), price) {
            Ok(id) => {
                // the venue trades what the lot step leaves of the order
                let qty = venue.resting_qty(id).unwrap_or(notional / price);
                let filled = qty * price;
                let margin = filled * (1.0 + self.slippage) / leverage;
                let cost = self.order_cost(ask.symbol, filled);
                let signed = ask.side.sign_f64() * qty;
                self.book.add(ask.symbol, signed, margin, cost);
                let qty = (asked / price, notional / price);
                self.record(RiskEvent::approved(ask.at(time), qty, leverage));
                Ok(())
            }
            Err(refusal) => {
                self.record(RiskEvent::refused_by_exchange(ask.at(time), refusal));
                Ok(())
            }
        }
    }

    /// Records a resize of the entry.
    pub(super) fn resized(
        &mut self,
        time: i64,
        ask: &Ask,
        rule: Rule,
        measure: Measure,
        change: (f64, f64),
        why: (f64, f64),
    ) {
        self.record(RiskEvent::resized(ask.at(time), rule, measure, change, why));
    }
}

/// The order's leverage as `Decimal`, without trailing zeros (the fill event prints it: "at
/// 3x"); whole leverages, the usual case, skip the normalisation.
fn leverage_decimal(leverage: f64) -> Decimal {
    if leverage.fract() == 0.0 && leverage.abs() < 1e15 {
        return Decimal::from(leverage as i64);
    }
    to_decimal(leverage, QTY_SCALE).map_or(Decimal::ONE, |l| l.normalize())
}

/// The safe distance in spreads for a drift in spreads (see [`RiskLayer::safe_distance`]),
/// solved with σ√T = 1.
#[inline(never)]
/// The distance cache's slot for a side, at entry or for the guard.
pub(super) fn distance_slot(side: Side, entry: bool) -> usize {
    2 * usize::from(side == Side::Short) + usize::from(entry)
}

fn solve_distance(
    side: Side,
    horizon: f64,
    drift: f64,
    threshold: f64,
) -> super::guards::DistanceCache {
    let spreads = safe_log_distance(
        side,
        1.0 / horizon.sqrt(),
        horizon,
        0.0,
        drift / horizon,
        threshold,
    );
    super::guards::DistanceCache {
        valid: true,
        drift,
        spreads,
    }
}
