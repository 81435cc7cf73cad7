//! The account: one USDT wallet, one-way positions per symbol, isolated or cross margin, and
//! a ledger in which every cash flow is a typed `Decimal` entry.
//!
//! Invariant (asserted after every operation in debug builds, and by property tests):
//! starting balance + Σ entries = wallet ≥ 0. Moving margin between the free wallet and an
//! isolated position is not a cash flow and books nothing; fees, funding, realised PnL,
//! liquidation clearance and insurance cover are.
//!
//! Fills arrive already priced (the fill model rounds to tick and lot and applies slippage);
//! the account books them, keeps entry prices as quantity-weighted averages, and keeps each
//! position's liquidation price current (`margin::liquidation_price`). Isolated: the position's
//! own margin is its wallet balance in the formula. Cross: the whole wallet, with the other
//! positions' maintenance margin and unrealised PnL at their last known marks.
//!
//! The engine must liquidate a position (or, in cross, the account) before any fill that would
//! close it beyond its bankruptcy price: it walks the mark path and calls
//! [`Account::liquidate`] first, so the wallet never goes negative.

use rust_decimal::Decimal;

use super::Side;
use super::funding::funding_payment;
use super::liquidation::{self, Settlement};
use super::margin::{self, PositionInput};
use crate::instrument::InstrumentSpec;

/// Money is booked to 10⁻⁸ USDT, the exchange's precision. `Decimal` holds 28 significant
/// digits: without this, a PnL computed from an averaged entry price (24 decimals) would be
/// rounded when added to the wallet, and the ledger would no longer sum exactly.
pub fn usdt(amount: Decimal) -> Decimal {
    amount.round_dp(8)
}

/// How positions share collateral.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarginMode {
    /// each position has its own margin; losing it loses only that
    Isolated,
    /// all positions share the wallet; liquidation takes the whole account
    Cross,
}

/// Why a ledger entry was booked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Fee,
    Funding,
    RealizedPnl,
    /// margin left at liquidation, paid to the insurance fund
    LiquidationClearance,
    /// a loss beyond the margin (a gap through bankruptcy), absorbed by the insurance fund
    InsuranceCover,
}

/// One cash flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// ms
    pub time: i64,
    /// index of the symbol in the account
    pub symbol: usize,
    pub cause: Cause,
    /// USDT, + into the wallet, − out of it
    pub amount: Decimal,
}

/// An open position (one-way mode: net long or short).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub side: Side,
    /// base asset, > 0
    pub qty: Decimal,
    /// USDT, quantity-weighted average
    pub entry: Decimal,
    /// USDT. Isolated: the margin backing the position (initial margin, less funding paid,
    /// plus funding received). Cross: the initial margin, which only limits new orders.
    pub margin: Decimal,
    /// the leverage it was opened with
    pub leverage: Decimal,
    /// USDT; `None` when no price > 0 liquidates it
    pub liquidation: Option<Decimal>,
}

/// Why a fill was refused; nothing is booked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotPositive,
    /// leverage above the tier's maximum (the message names the tier)
    Leverage(String),
    /// USDT: an opening fill below the instrument's minimum notional
    BelowMinNotional {
        notional: Decimal,
        min: Decimal,
    },
    /// USDT: not enough free collateral for the margin and fee
    InsufficientMargin {
        needed: Decimal,
        available: Decimal,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotPositive => write!(f, "quantity, price and leverage must be > 0"),
            Refusal::Leverage(reason) => f.write_str(reason),
            Refusal::BelowMinNotional { notional, min } => {
                write!(
                    f,
                    "notional {notional} USDT is below the minimum {min} USDT"
                )
            }
            Refusal::InsufficientMargin { needed, available } => {
                write!(
                    f,
                    "needs {} USDT of margin and fee, {} USDT available",
                    needed.round_dp(8).normalize(),
                    available.round_dp(8).normalize()
                )
            }
        }
    }
}

/// One USDT wallet with its positions and ledger.
#[derive(Clone, Debug)]
pub struct Account {
    pub mode: MarginMode,
    /// USDT
    start: Decimal,
    /// USDT: free collateral plus every isolated margin
    wallet: Decimal,
    entries: Vec<Entry>,
    instruments: Vec<InstrumentSpec>,
    positions: Vec<Option<Position>>,
    /// USDT, last mark (or fill price) seen per symbol, for cross-margin liquidation prices
    marks: Vec<Decimal>,
}

impl Account {
    /// An account holding `start` USDT that trades the given instruments (index = symbol).
    pub fn new(start: Decimal, mode: MarginMode, instruments: Vec<InstrumentSpec>) -> Account {
        let n = instruments.len();
        Account {
            mode,
            start,
            wallet: start,
            entries: Vec::new(),
            instruments,
            positions: vec![None; n],
            marks: vec![Decimal::ZERO; n],
        }
    }

    /// USDT
    pub fn wallet(&self) -> Decimal {
        self.wallet
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn position(&self, symbol: usize) -> Option<&Position> {
        self.positions[symbol].as_ref()
    }

    /// Σ of the entries of `cause` for each symbol (index = symbol), e.g. funding paid (< 0)
    /// or received (> 0) per symbol for a run's summary. USDT
    pub fn totals_by_symbol(&self, cause: Cause) -> Vec<Decimal> {
        let mut totals = vec![Decimal::ZERO; self.positions.len()];
        for e in self.entries.iter().filter(|e| e.cause == cause) {
            totals[e.symbol] += e.amount;
        }
        totals
    }

    /// starting balance + Σ entries = wallet, and the wallet outside isolated positions is
    /// ≥ 0. (Funding can draw an isolated position's margin below zero while its unrealised
    /// profit still backs it — a long rally paying high funding — and the wallet, which holds
    /// every isolated margin, dips by that much until the position closes. In cross margin a
    /// closed leg's loss can take the wallet below zero while the other legs' unrealised
    /// profit covers it; the account's equity, wallet plus unrealised PnL at the marks,
    /// stays ≥ 0.)
    pub fn is_conserved(&self) -> bool {
        let sum: Decimal = self.entries.iter().map(|e| e.amount).sum();
        let owed: Decimal = match self.mode {
            MarginMode::Isolated => self
                .positions
                .iter()
                .flatten()
                .map(|p| (-p.margin).max(Decimal::ZERO))
                .sum(),
            // a realised loss may take the wallet below 0 while the other positions'
            // unrealised profit still covers it: the account's equity is what must not be
            MarginMode::Cross => (0..self.positions.len()).map(|s| self.upnl(s)).sum(),
        };
        self.start + sum == self.wallet && self.wallet + owed >= Decimal::ZERO
    }

    fn book(&mut self, time: i64, symbol: usize, cause: Cause, amount: Decimal) {
        let amount = usdt(amount);
        if !amount.is_zero() {
            self.wallet += amount;
            self.entries.push(Entry {
                time,
                symbol,
                cause,
                amount,
            });
        }
    }

    fn upnl(&self, symbol: usize) -> Decimal {
        self.positions[symbol].as_ref().map_or(Decimal::ZERO, |p| {
            margin::unrealized_pnl(p.side, p.qty, p.entry, self.marks[symbol])
        })
    }

    /// Collateral free for new margin and fees. USDT. Isolated: the wallet less every isolated
    /// margin. Cross: the wallet plus unrealised PnL (at last marks) less initial margins.
    pub fn available(&self) -> Decimal {
        let locked: Decimal = self.positions.iter().flatten().map(|p| p.margin).sum();
        match self.mode {
            MarginMode::Isolated => self.wallet - locked,
            MarginMode::Cross => {
                let upnl: Decimal = (0..self.positions.len()).map(|s| self.upnl(s)).sum();
                self.wallet + upnl - locked
            }
        }
    }

    /// Books a fill: `side` buys (long) or sells (short) `qty` at `price`, paying `fee_rate`
    /// of its notional; what opens uses `leverage`. Reduces, closes or flips an opposite
    /// position first. Refused fills book nothing. Returns the insurance fund's cover: a
    /// closing part whose loss passes what backs it (isolated: the part's margin; cross: the
    /// account's equity) is settled as a liquidation past bankruptcy is, the fund taking the
    /// rest, so the wallet never goes below zero. USDT, ≥ 0
    #[allow(clippy::too_many_arguments)] // one fill's facts; a struct would only rename them
    pub fn fill(
        &mut self,
        time: i64,
        symbol: usize,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee_rate: Decimal,
        leverage: Decimal,
    ) -> Result<Decimal, Refusal> {
        if qty <= Decimal::ZERO || price <= Decimal::ZERO || leverage <= Decimal::ZERO {
            return Err(Refusal::NotPositive);
        }
        let closing = match &self.positions[symbol] {
            Some(p) if p.side != side => qty.min(p.qty),
            _ => Decimal::ZERO,
        };
        let opening = qty - closing;
        // the fill price is the latest mark this account has seen for the symbol
        self.marks[symbol] = price;
        if opening > Decimal::ZERO {
            self.check_open(symbol, opening, price, fee_rate, leverage, closing)?;
        }
        self.book(time, symbol, Cause::Fee, -(qty * price * fee_rate));
        let cover = if closing > Decimal::ZERO {
            self.close_part(time, symbol, closing, price)
        } else {
            Decimal::ZERO
        };
        if opening > Decimal::ZERO {
            self.open_part(symbol, side, opening, price, leverage);
        }
        self.refresh_liquidation_prices();
        debug_assert!(self.is_conserved(), "ledger not conserved after a fill");
        Ok(cover)
    }

    /// Refuses an opening part that breaks the tier's leverage, the minimum notional, or the
    /// free collateral (counting what the closing part of the same fill releases).
    fn check_open(
        &self,
        symbol: usize,
        qty: Decimal,
        price: Decimal,
        fee_rate: Decimal,
        leverage: Decimal,
        closing: Decimal,
    ) -> Result<(), Refusal> {
        let spec = &self.instruments[symbol];
        let notional = qty * price;
        if notional < spec.min_notional {
            return Err(Refusal::BelowMinNotional {
                notional,
                min: spec.min_notional,
            });
        }
        // the tier is that of the whole position after the fill (a flip starts from nothing)
        let held = match &self.positions[symbol] {
            Some(p) if closing.is_zero() => p.qty * price,
            _ => Decimal::ZERO,
        };
        spec.check_leverage(held + notional, leverage)
            .map_err(Refusal::Leverage)?;
        // What the closing part of a flip frees: its margin share, and in isolated margin its
        // PnL too (cross margin already counts unrealised PnL, at this price, as available).
        let released = match (&self.positions[symbol], self.mode) {
            _ if closing.is_zero() => Decimal::ZERO,
            (Some(p), MarginMode::Isolated) => {
                p.margin * closing / p.qty + p.side.sign() * closing * (price - p.entry)
            }
            (Some(p), MarginMode::Cross) => p.margin * closing / p.qty,
            (None, _) => Decimal::ZERO,
        };
        let needed = notional / leverage + (qty + closing) * price * fee_rate;
        let available = self.available() + released;
        if needed > available {
            return Err(Refusal::InsufficientMargin { needed, available });
        }
        Ok(())
    }

    /// Closes `qty` of `symbol`'s position at `price`; returns the insurance cover of a loss
    /// past what backs it (see [`Account::fill`]). USDT
    fn close_part(&mut self, time: i64, symbol: usize, qty: Decimal, price: Decimal) -> Decimal {
        let p = self.positions[symbol]
            .as_mut()
            .expect("closing needs a position");
        let pnl = p.side.sign() * qty * (price - p.entry);
        let released = if qty == p.qty {
            p.margin
        } else {
            usdt(p.margin * qty / p.qty)
        };
        p.margin -= released;
        p.qty -= qty;
        if p.qty.is_zero() {
            self.positions[symbol] = None;
        }
        self.book(time, symbol, Cause::RealizedPnl, pnl);
        let shortfall = match self.mode {
            MarginMode::Isolated => -(usdt(pnl) + released.max(Decimal::ZERO)),
            MarginMode::Cross => {
                let upnl: Decimal = (0..self.positions.len()).map(|s| self.upnl(s)).sum();
                -(self.wallet + upnl)
            }
        };
        // the isolated wallet holds other positions' margins: it covers this part's loss
        // only up to the part's own margin
        let cover = shortfall.max(Decimal::ZERO);
        self.book(time, symbol, Cause::InsuranceCover, cover);
        cover
    }

    fn open_part(
        &mut self,
        symbol: usize,
        side: Side,
        qty: Decimal,
        price: Decimal,
        leverage: Decimal,
    ) {
        let margin = usdt(qty * price / leverage);
        match &mut self.positions[symbol] {
            Some(p) => {
                p.entry = (p.qty * p.entry + qty * price) / (p.qty + qty);
                p.qty += qty;
                p.margin += margin;
                p.leverage = leverage;
            }
            slot @ None => {
                *slot = Some(Position {
                    side,
                    qty,
                    entry: price,
                    margin,
                    leverage,
                    liquidation: None,
                })
            }
        }
    }

    /// Settles funding for `symbol` at `mark` and `rate` (fraction). Returns what the position
    /// paid (negative: received); isolated margin moves with it. USDT
    pub fn settle_funding(
        &mut self,
        time: i64,
        symbol: usize,
        mark: Decimal,
        rate: Decimal,
    ) -> Decimal {
        let Some(p) = self.positions[symbol].as_mut() else {
            return Decimal::ZERO;
        };
        let paid = usdt(funding_payment(p.side, p.qty, mark, rate));
        if self.mode == MarginMode::Isolated {
            p.margin -= paid;
        }
        self.marks[symbol] = mark;
        self.book(time, symbol, Cause::Funding, -paid);
        self.refresh_liquidation_prices();
        debug_assert!(self.is_conserved(), "ledger not conserved after funding");
        paid
    }

    /// The latest mark (or fill price) seen for `symbol`. USDT
    pub fn mark(&self, symbol: usize) -> Decimal {
        self.marks[symbol]
    }

    /// [`Account::margin_ratio`] at the latest marks seen.
    pub fn margin_ratio_now(&self) -> Option<Decimal> {
        self.margin_ratio(&self.marks)
    }

    /// Records the latest mark of `symbol` (cross-margin liquidation prices depend on it).
    pub fn set_mark(&mut self, symbol: usize, mark: Decimal) {
        self.marks[symbol] = mark;
    }

    /// Liquidates at `execution` (the liquidation price, or worse where a bar gapped through
    /// it): in isolated margin the position of `symbol`, in cross margin every position, each
    /// at `executions[s]`. Returns the settlement (see `liquidation.rs`).
    pub fn liquidate(&mut self, time: i64, symbol: usize, executions: &[Decimal]) -> Settlement {
        let symbols: Vec<usize> = match self.mode {
            MarginMode::Isolated => vec![symbol],
            MarginMode::Cross => (0..self.positions.len())
                .filter(|&s| self.positions[s].is_some())
                .collect(),
        };
        let backing = match self.mode {
            MarginMode::Isolated => self.positions[symbol]
                .as_ref()
                .map_or(Decimal::ZERO, |p| p.margin),
            MarginMode::Cross => self.wallet,
        };
        let mut realized = Decimal::ZERO;
        for &s in &symbols {
            let Some(p) = self.positions[s].take() else {
                continue;
            };
            let pnl = usdt(margin::unrealized_pnl(
                p.side,
                p.qty,
                p.entry,
                executions[s],
            ));
            realized += pnl;
            self.book(time, s, Cause::RealizedPnl, pnl);
            self.marks[s] = executions[s];
        }
        let total = liquidation::split(realized, backing);
        self.book(time, symbol, Cause::LiquidationClearance, -total.clearance);
        self.book(time, symbol, Cause::InsuranceCover, total.insurance_cover);
        self.refresh_liquidation_prices();
        debug_assert!(
            self.is_conserved(),
            "ledger not conserved after a liquidation"
        );
        total
    }

    /// Wallet plus unrealised PnL at `marks`. USDT
    pub fn equity(&self, marks: &[Decimal]) -> Decimal {
        let upnl: Decimal = self
            .positions
            .iter()
            .zip(marks)
            .flat_map(|(p, &m)| {
                p.as_ref()
                    .map(|p| margin::unrealized_pnl(p.side, p.qty, p.entry, m))
            })
            .sum();
        self.wallet + upnl
    }

    /// Maintenance margin / margin balance at `marks` (fraction; 1 = liquidation): for cross
    /// the account's, for isolated the highest of its positions'. `None` without positions.
    pub fn margin_ratio(&self, marks: &[Decimal]) -> Option<Decimal> {
        let open = || {
            self.positions
                .iter()
                .enumerate()
                .filter_map(|(s, p)| p.as_ref().map(|p| (s, p)))
        };
        let maint = |s: usize, p: &Position| self.maintenance(s, p, marks[s]);
        let past_bankruptcy = Decimal::MAX;
        match self.mode {
            MarginMode::Isolated => open()
                .map(|(s, p)| {
                    let balance =
                        p.margin + margin::unrealized_pnl(p.side, p.qty, p.entry, marks[s]);
                    margin::margin_ratio(maint(s, p), balance).unwrap_or(past_bankruptcy)
                })
                .max(),
            MarginMode::Cross => {
                let total: Decimal = open().map(|(s, p)| maint(s, p)).sum();
                open().next().map(|_| {
                    margin::margin_ratio(total, self.equity(marks)).unwrap_or(past_bankruptcy)
                })
            }
        }
    }

    /// `p`'s maintenance margin at `mark` under its symbol's model. USDT
    fn maintenance(&self, symbol: usize, p: &Position, mark: Decimal) -> Decimal {
        let spec = &self.instruments[symbol];
        margin::maintenance_margin_under(
            spec.liquidation_model,
            &spec.brackets,
            p.qty,
            p.entry,
            mark,
        )
    }

    /// Puts `tiers` in force for `symbol` (a dated bracket table taking over) and
    /// recomputes the liquidation prices on them.
    pub fn set_brackets(&mut self, symbol: usize, tiers: &[crate::instrument::Tier]) {
        let own = &mut self.instruments[symbol].brackets;
        own.clear();
        own.extend_from_slice(tiers);
        self.refresh_liquidation_prices();
    }

    /// Recomputes every position's liquidation price. Done after every booking; in cross
    /// margin with several positions each one's price also moves with the others' marks, so
    /// the engine calls this when it needs the prices rather than the margin ratio.
    pub fn refresh_liquidation_prices(&mut self) {
        for s in 0..self.positions.len() {
            let Some(p) = &self.positions[s] else {
                continue;
            };
            let input = match self.mode {
                MarginMode::Isolated => PositionInput {
                    side: p.side,
                    qty: p.qty,
                    entry: p.entry,
                    wallet: p.margin,
                    other_maint: Decimal::ZERO,
                    other_upnl: Decimal::ZERO,
                },
                MarginMode::Cross => {
                    let others = (0..self.positions.len()).filter(|&o| o != s);
                    let (mut other_maint, mut other_upnl) = (Decimal::ZERO, Decimal::ZERO);
                    for o in others {
                        if let Some(q) = &self.positions[o] {
                            other_maint += self.maintenance(o, q, self.marks[o]);
                            other_upnl +=
                                margin::unrealized_pnl(q.side, q.qty, q.entry, self.marks[o]);
                        }
                    }
                    PositionInput {
                        side: p.side,
                        qty: p.qty,
                        entry: p.entry,
                        wallet: self.wallet,
                        other_maint,
                        other_upnl,
                    }
                }
            };
            let spec = &self.instruments[s];
            let price =
                margin::liquidation_price_under(spec.liquidation_model, &input, &spec.brackets)
                    .price;
            if let Some(p) = self.positions[s].as_mut() {
                p.liquidation = price;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::Instruments;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const BTC: usize = 0;
    const ETH: usize = 1;
    const TAKER: &str = "0.0005";

    fn account(start: &str, mode: MarginMode) -> Account {
        let inst = Instruments::binance_usdm();
        let specs = vec![
            inst.get("BTCUSDT").unwrap().clone(),
            inst.get("ETHUSDT").unwrap().clone(),
        ];
        Account::new(d(start), mode, specs)
    }

    fn fill(
        a: &mut Account,
        symbol: usize,
        side: Side,
        qty: &str,
        price: &str,
        lev: &str,
    ) -> Result<(), Refusal> {
        a.fill(0, symbol, side, d(qty), d(price), d(TAKER), d(lev))
            .map(drop)
    }

    #[test]
    fn open_reduce_flip_and_close_book_every_flow() {
        let mut a = account("10000", MarginMode::Isolated);
        // Buy 1 BTC at 65,000, 10x: fee 65,000 × 0.05 % = 32.5, margin 6,500, wallet 9,967.5.
        // Notional 65,000 is tier 2 (0.5 %, 50): LP = (6,500 + 50 − 65,000)/(0.005 − 1) = 58,743.72.
        fill(&mut a, BTC, Side::Long, "1", "65000", "10").unwrap();
        let p = a.position(BTC).unwrap();
        assert_eq!(
            (a.wallet(), p.margin, p.liquidation.unwrap().round_dp(2)),
            (d("9967.5"), d("6500"), d("58743.72"))
        );
        assert_eq!(a.available(), d("3467.5"));
        // Sell 0.5 at 70,000: fee 17.5, PnL 0.5 × 5,000 = 2,500, half the margin released:
        // wallet 9,967.5 − 17.5 + 2,500 = 12,450; 0.5 BTC left with margin 3,250, tier 1 now:
        // LP = (3,250 − 32,500)/(0.5 × 0.004 − 0.5) = 58,734.94.
        fill(&mut a, BTC, Side::Short, "0.5", "70000", "10").unwrap();
        let p = a.position(BTC).unwrap();
        assert_eq!(
            (
                a.wallet(),
                p.qty,
                p.margin,
                p.liquidation.unwrap().round_dp(2)
            ),
            (d("12450"), d("0.5"), d("3250"), d("58734.94"))
        );
        // Flip with a 1.5 sell at 60,000 at 5x: the 1 BTC short needs 12,000 of margin + 45 of fee,
        // but only 12,450 − 3,250 + (3,250 − 2,500 released by the closing half) = 9,950 is free.
        let refused = fill(&mut a, BTC, Side::Short, "1.5", "60000", "5").unwrap_err();
        assert_eq!(
            refused,
            Refusal::InsufficientMargin {
                needed: d("12045"),
                available: d("9950")
            }
        );
        assert_eq!(
            (a.wallet(), a.entries().len(), a.position(BTC).unwrap().qty),
            (d("12450"), 3, d("0.5"))
        );
        // At 10x it fits (6,000 + 45): PnL 0.5 × (60,000 − 65,000) = −2,500, fee 45:
        // wallet 12,450 − 45 − 2,500 = 9,905; now 1 BTC short at 60,000 with margin 6,000.
        fill(&mut a, BTC, Side::Short, "1.5", "60000", "10").unwrap();
        let p = a.position(BTC).unwrap();
        assert_eq!(
            (a.wallet(), p.side, p.qty, p.entry, p.margin),
            (d("9905"), Side::Short, d("1"), d("60000"), d("6000"))
        );
        // Buy 1 at 59,000 closes it: fee 29.5, PnL −1 × (59,000 − 60,000) = 1,000: wallet 10,875.5.
        fill(&mut a, BTC, Side::Long, "1", "59000", "10").unwrap();
        assert_eq!((a.wallet(), a.position(BTC)), (d("10875.5"), None));
        let fees: Decimal = a
            .entries()
            .iter()
            .filter(|e| e.cause == Cause::Fee)
            .map(|e| e.amount)
            .sum();
        let pnl: Decimal = a
            .entries()
            .iter()
            .filter(|e| e.cause == Cause::RealizedPnl)
            .map(|e| e.amount)
            .sum();
        // fees 32.5 + 17.5 + 45 + 29.5 = 124.5; PnL 2,500 − 2,500 + 1,000 = 1,000; 10,000 + 1,000 − 124.5
        assert_eq!((fees, pnl), (d("-124.5"), d("1000")));
        assert!(a.is_conserved());
    }

    #[test]
    fn leverage_and_minimum_notional_are_refused() {
        let mut a = account("1000000", MarginMode::Isolated);
        // 0.001 BTC at 65,000 = 65 USDT, below Binance's 100 USDT minimum
        assert_eq!(
            fill(&mut a, BTC, Side::Long, "0.001", "65000", "10"),
            Err(Refusal::BelowMinNotional {
                notional: d("65.000"),
                min: d("100")
            })
        );
        // 10 BTC = 650,000 USDT is tier 3, at most 75x
        let Err(Refusal::Leverage(reason)) = fill(&mut a, BTC, Side::Long, "10", "65000", "100")
        else {
            panic!()
        };
        assert!(
            reason.starts_with("leverage 100x exceeds the 75x allowed"),
            "{reason}"
        );
        assert!(a.entries().is_empty());
    }

    #[test]
    fn funding_moves_isolated_margin_and_the_liquidation_price() {
        let mut a = account("10000", MarginMode::Isolated);
        fill(&mut a, BTC, Side::Long, "1", "65000", "10").unwrap();
        // pays 1 × 66,000 × 0.0001 = 6.6: margin 6,493.4, wallet 9,960.9;
        // LP = (6,493.4 + 50 − 65,000)/(0.005 − 1) = −58,456.6 / −0.995 = 58,750.35
        assert_eq!(a.settle_funding(8, BTC, d("66000"), d("0.0001")), d("6.6"));
        let p = a.position(BTC).unwrap();
        assert_eq!(
            (a.wallet(), p.margin, p.liquidation.unwrap().round_dp(2)),
            (d("9960.9"), d("6493.4"), d("58750.35"))
        );
        // a short receives a positive rate: 10 ETH at mark 3,000, rate 0.01 % → +3 USDT
        let mut c = account("10000", MarginMode::Cross);
        fill(&mut c, ETH, Side::Short, "10", "3000", "10").unwrap(); // fee 15
        assert_eq!(c.settle_funding(8, ETH, d("3000"), d("0.0001")), d("-3"));
        assert_eq!(c.wallet(), d("9988"));
        assert!(a.is_conserved() && c.is_conserved());
        // per symbol: BTC paid 6.6 in `a`; ETH received 3 in `c`
        assert_eq!(a.totals_by_symbol(Cause::Funding), vec![d("-6.6"), d("0")]);
        assert_eq!(c.totals_by_symbol(Cause::Funding), vec![d("0"), d("3")]);
    }

    #[test]
    fn funding_can_draw_isolated_margin_below_zero_while_profit_backs_it() {
        // 1 BTC long at 50,000, 20x: margin 2,500, fee 25 → wallet 9,975.
        // The price doubles; at mark 100,000 a 1 % settlement costs 1,000 each: three of them
        // leave margin 2,500 − 3,000 = −500, wallet 9,975 − 3,000 = 6,975.
        // Margin balance −500 + 50,000 upnl is far above maintenance, so the position stays;
        // LP = (WB + c − s·q·E)/(q·r − s·q) = (−500 + 0 − 50,000)/(0.004 − 1) = 50,702.81
        // (tier 1 of BTCUSDT below 50k notional has c = 0; the notional at LP is 50.7k, tier 2:
        // r 0.005, c 50 → (−500 + 50 − 50,000)/(0.005 − 1) = 50,703.52).
        let mut a = account("10000", MarginMode::Isolated);
        fill(&mut a, BTC, Side::Long, "1", "50000", "20").unwrap();
        for t in 0..3 {
            a.settle_funding(t, BTC, d("100000"), d("0.01"));
        }
        let p = a.position(BTC).unwrap();
        assert_eq!((p.margin, a.wallet()), (d("-500"), d("6975")));
        assert_eq!(p.liquidation.unwrap().round_dp(2), d("50703.52"));
        assert!(
            a.is_conserved(),
            "the wallet outside the position is untouched"
        );
    }

    #[test]
    fn isolated_liquidation_loses_exactly_the_margin() {
        for (execution, clearance, cover) in [(None, "243.72", "0"), (Some("55000"), "0", "3500")] {
            let mut a = account("10000", MarginMode::Isolated);
            fill(&mut a, BTC, Side::Long, "1", "65000", "10").unwrap();
            let lp = a.position(BTC).unwrap().liquidation.unwrap();
            let exec = execution.map_or(lp, d);
            // at LP 58,743.72: PnL −6,256.28, the remaining 243.72 (its maintenance margin) is cleared;
            // a gap to 55,000 (below bankruptcy 58,500): PnL −10,000, the fund covers 3,500.
            let s = a.liquidate(9, BTC, &[exec, d("0")]);
            assert_eq!(
                (s.clearance.round_dp(2), s.insurance_cover),
                (d(clearance), d(cover))
            );
            // either way the wallet loses the 6,500 margin: 9,967.5 − 6,500 = 3,467.5
            assert_eq!((a.wallet(), a.position(BTC)), (d("3467.5"), None));
            assert!(a.is_conserved());
        }
    }

    #[test]
    fn cross_liquidation_takes_the_whole_account() {
        let mut a = account("10000", MarginMode::Cross);
        fill(&mut a, BTC, Side::Long, "1", "65000", "10").unwrap(); // fee 32.5
        fill(&mut a, ETH, Side::Short, "10", "3000", "10").unwrap(); // fee 15: wallet 9,952.5
        a.set_mark(ETH, d("3100"));
        a.refresh_liquidation_prices();
        // ETH: MM 31,000 × 0.004 = 124, UPnL −1,000. BTC (tier 2):
        // LP = (9,952.5 − 124 − 1,000 + 50 − 65,000)/(0.005 − 1) = −56,121.5 / −0.995 = 56,403.52
        let lp = a.position(BTC).unwrap().liquidation.unwrap();
        assert_eq!(lp.round_dp(2), d("56403.52"));
        // Liquidated there: PnL (56,403.52 − 65,000) − 1,000 = −9,596.48; the remaining 356.02 is the
        // account's maintenance margin (282.02 − 50 + 124) and goes to the fund: the wallet ends at 0.
        let s = a.liquidate(9, BTC, &[lp, d("3100")]);
        assert_eq!(s.clearance.round_dp(2), d("356.02"));
        assert_eq!(
            (a.wallet(), a.position(BTC), a.position(ETH)),
            (d("0"), None, None)
        );
        assert!(a.is_conserved());
    }

    #[test]
    fn margin_ratio_and_equity() {
        let mut a = account("10000", MarginMode::Cross);
        fill(&mut a, BTC, Side::Long, "1", "65000", "10").unwrap(); // wallet 9,967.5
        // at 60,000: equity 9,967.5 − 5,000 = 4,967.5; MM 60,000 × 0.005 − 50 = 250; ratio 250 / 4,967.5
        let marks = [d("60000"), d("0")];
        assert_eq!(a.equity(&marks), d("4967.5"));
        assert_eq!(a.margin_ratio(&marks), Some(d("250") / d("4967.5")));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Random price walks with random fills and funding, liquidating whenever the price
        /// crosses a liquidation price before anything else happens at that price.
        #[test]
        fn ledger_is_conserved_and_wallet_never_negative(
            cross in any::<bool>(),
            steps in prop::collection::vec((-800i32..800, 0u8..4, 1u32..3000, 1u32..60, -30i32..30), 1..60),
        ) {
            let mode = if cross { MarginMode::Cross } else { MarginMode::Isolated };
            let mut a = account("10000", mode);
            let mut price = d("50000");
            for (step, (moved, op, qty_milli, lev, rate)) in steps.into_iter().enumerate() {
                price = (price * (Decimal::ONE + Decimal::new(moved.into(), 4))).round_dp(1).max(d("100"));
                a.set_mark(BTC, price);
                a.refresh_liquidation_prices();
                let crossed = |a: &Account| a.position(BTC).and_then(|p| p.liquidation.map(|lp| if p.side == Side::Long { price <= lp } else { price >= lp })).unwrap_or(false);
                if crossed(&a) {
                    a.liquidate(step as i64, BTC, &[price, Decimal::ZERO]);
                }
                let qty = Decimal::new(qty_milli.into(), 3);
                match op {
                    0 => { let _ = a.fill(step as i64, BTC, Side::Long, qty, price, d(TAKER), lev.into()); }
                    1 => { let _ = a.fill(step as i64, BTC, Side::Short, qty, price, d(TAKER), lev.into()); }
                    2 => {
                        a.settle_funding(step as i64, BTC, price, Decimal::new(rate.into(), 4));
                        if crossed(&a) {
                            a.liquidate(step as i64, BTC, &[price, Decimal::ZERO]);
                        }
                    }
                    _ => {}
                }
                prop_assert!(a.is_conserved(), "step {}: wallet {}", step, a.wallet());
            }
        }
    }
}
