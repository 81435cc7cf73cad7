//! The account as the per-bar checks read it: an `f64` shadow of the exact account,
//! refreshed after every booking, its log for the per-step columns, and snapshots.

use super::{Venue, dec};
use crate::exchange::account::MarginMode;
use crate::exchange::margin;

/// The account as the per-bar checks read it, in `f64`.
#[derive(Clone, Debug, Default)]
pub(super) struct Shadow {
    /// USDT
    pub(super) wallet: f64,
    /// per symbol
    pub(super) positions: Vec<Option<ShadowPosition>>,
    /// per symbol: tiers as (cap, maintenance rate, maintenance amount)
    pub(super) tiers: Vec<Vec<(f64, f64, f64)>>,
    /// bumped on every change to `wallet` or `positions` (the account log's cue)
    pub(super) changes: u64,
    /// per symbol: the tiers with rate and amount divided by the margin-call threshold θ. The
    /// margin ratio maintenance / balance reaches θ exactly where balance = maintenance / θ,
    /// so the liquidation-price formula on these tiers gives the margin-call price.
    pub(super) call_tiers: Vec<Vec<(f64, f64, f64)>>,
    /// per symbol: whether its model charges maintenance on the entry price (Bybit)
    pub(super) on_entry: Vec<bool>,
    /// whether some symbol's tiers apply to the whole position (OKX, Gate), so that the
    /// maintenance margin jumps where a notional crosses a tier's floor
    pub(super) stepped: bool,
}

/// A position as the per-bar checks read it. USDT and base asset, `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct ShadowPosition {
    /// +1 long, −1 short
    pub(super) sign: f64,
    pub(super) qty: f64,
    pub(super) entry: f64,
    pub(super) margin: f64,
    pub(super) liquidation: Option<f64>,
    /// USDT: where the margin ratio reaches the margin-call threshold; −∞ (long) or +∞
    /// (short) when it never does; NaN when unknown (cross margin with several positions,
    /// where it moves with the other marks)
    pub(super) margin_call: f64,
}

/// The account at each step where it changed, for a run's per-step columns: they are
/// rebuilt from it and the marks when the output is written
/// ([`crate::engine::Engine::fill_columns`]), so a step that changes nothing writes
/// nothing (a million-bar run's six dense columns were 48 MB of fresh pages to fault in).
#[derive(Clone, Debug, Default)]
pub struct AccountLog {
    /// the step from which each state holds, ascending
    steps: Vec<u32>,
    /// USDT, per state
    wallets: Vec<f64>,
    /// per state, one entry per symbol
    positions: Vec<Option<ShadowPosition>>,
    /// the shadow's change count at the last state logged
    changes: u64,
}

impl AccountLog {
    /// States logged.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The step from which state `k` holds.
    pub fn step(&self, k: usize) -> u32 {
        self.steps[k]
    }
}

/// USDT: a position's liquidation price; NaN when flat or when no price > 0 liquidates it.
pub(super) fn liquidation_of(p: Option<ShadowPosition>) -> f64 {
    p.and_then(|p| p.liquidation).unwrap_or(f64::NAN)
}

/// Whether two positions are the same bit for bit (`==` would take −0 for 0, and never a
/// NaN field for itself).
pub(super) fn same_bits(a: &Option<ShadowPosition>, b: &Option<ShadowPosition>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let bits = |p: &ShadowPosition| {
                [
                    p.sign.to_bits(),
                    p.qty.to_bits(),
                    p.entry.to_bits(),
                    p.margin.to_bits(),
                    p.liquidation.map_or(u64::MAX, f64::to_bits),
                    p.margin_call.to_bits(),
                ]
            };
            a.liquidation.is_some() == b.liquidation.is_some() && bits(a) == bits(b)
        }
        _ => false,
    }
}

impl Shadow {
    /// The cross-margin liquidation price of `symbol`'s position with the other positions at
    /// `marks` (their entry where no mark was seen yet). USDT; `None` when no price > 0
    /// liquidates it.
    pub(super) fn cross_liquidation(&self, symbol: usize, marks: &[f64]) -> Option<f64> {
        let p = self.positions[symbol]?;
        let (mut other_maint, mut other_upnl) = (0.0, 0.0);
        for (o, q) in self.positions.iter().enumerate() {
            if let Some(q) = q
                && o != symbol
            {
                let mark = if marks[o] > 0.0 { marks[o] } else { q.entry };
                other_maint += self.maint(o, q.qty, q.entry, mark);
                other_upnl += q.sign * q.qty * (mark - q.entry);
            }
        }
        let backing = self.wallet + other_upnl;
        let mut one = [(0.0, 0.0, 0.0)];
        let tiers = self.position_tiers(&self.tiers[symbol], symbol, p.qty, p.entry, &mut one);
        liquidation_f64(p.sign, p.qty, p.entry, backing, other_maint, tiers)
    }

    /// Maintenance margin of `qty` (entered at `entry`) at `mark` for `symbol`'s tiers. USDT
    #[inline(always)]
    pub(super) fn maint(&self, symbol: usize, qty: f64, entry: f64, mark: f64) -> f64 {
        let basis = if self.on_entry[symbol] { entry } else { mark };
        let notional = qty * basis;
        let tiers = &self.tiers[symbol];
        let (_, rate, amount) = tiers[margin::tier_index_f64(tiers, notional)];
        margin::maintenance_f64(notional, rate, amount)
    }

    /// The tiers a position of `qty` entered at `entry` is charged on: `tiers` (the symbol's
    /// own or its call tiers), or for a model charging the entry price the one tier that
    /// makes its maintenance constant ([`margin::entry_tier_f64`]), kept in `one`.
    pub(super) fn position_tiers<'a>(
        &self,
        tiers: &'a [(f64, f64, f64)],
        symbol: usize,
        qty: f64,
        entry: f64,
        one: &'a mut [(f64, f64, f64); 1],
    ) -> &'a [(f64, f64, f64)] {
        if self.on_entry[symbol] {
            one[0] = margin::entry_tier_f64(tiers, qty, entry);
            &one[..]
        } else {
            tiers
        }
    }
}

impl Venue {
    /// Copies the account's state into the `f64` shadow; after every booking.
    pub(super) fn resync(&mut self) {
        let f = crate::exchange::approx_f64;
        self.shadow.changes += 1;
        self.shadow.wallet = f(self.account.wallet());
        let single = (0..self.instruments.len())
            .filter(|&s| self.account.position(s).is_some())
            .count()
            <= 1;
        for s in 0..self.instruments.len() {
            self.shadow.positions[s] = self.account.position(s).map(|p| {
                let backing = match self.config.mode {
                    MarginMode::Isolated => Some(p.margin),
                    MarginMode::Cross if single => Some(self.account.wallet()),
                    MarginMode::Cross => None,
                };
                let sign = p.side.sign_f64();
                let margin_call = match backing {
                    None => f64::NAN,
                    Some(wallet) => {
                        let never = if sign > 0.0 {
                            f64::NEG_INFINITY
                        } else {
                            f64::INFINITY
                        };
                        let (qty, entry) = (f(p.qty), f(p.entry));
                        let mut one = [(0.0, 0.0, 0.0)];
                        let calls = &self.shadow.call_tiers[s];
                        let tiers = self.shadow.position_tiers(calls, s, qty, entry, &mut one);
                        liquidation_f64(sign, qty, entry, f(wallet), 0.0, tiers).unwrap_or(never)
                    }
                };
                ShadowPosition {
                    sign,
                    qty: f(p.qty),
                    entry: f(p.entry),
                    margin: f(p.margin),
                    liquidation: p.liquidation.map(crate::exchange::approx_f64),
                    margin_call,
                }
            });
        }
    }

    /// Gives the account the latest marks before it books something.
    pub(super) fn sync_marks(&mut self) {
        for (s, &m) in self.marks.iter().enumerate() {
            if m > 0.0 {
                self.account.set_mark(s, dec(m));
            }
        }
    }

    /// The account at the latest marks, in `f64`, for the per-bar record: no `Decimal`, no
    /// allocation. The margin ratio is the account's (cross) or the highest of the positions'
    /// (isolated): maintenance margin / margin balance, a fraction (1 = liquidation).
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_with::<true>()
    }

    /// [`Venue::snapshot`] without the margin ratio (NaN) and the margin, when only equity
    /// and exposure are wanted: no maintenance-tier lookup, no division (a sweep's per-bar
    /// record).
    #[inline]
    pub fn snapshot_without_ratio(&self) -> Snapshot {
        self.snapshot_with::<false>()
    }

    #[inline]
    pub(super) fn snapshot_with<const RATIO: bool>(&self) -> Snapshot {
        self.snapshot_of::<RATIO>(self.shadow.wallet, &self.shadow.positions, &self.marks)
    }

    /// The snapshot of an account holding `wallet` and `positions` at `marks`: the one
    /// computation behind [`Venue::snapshot`] and the columns rebuilt from an
    /// [`AccountLog`], so that both give the same figures.
    #[inline(always)]
    pub(super) fn snapshot_of<const RATIO: bool>(
        &self,
        wallet: f64,
        positions: &[Option<ShadowPosition>],
        marks: &[f64],
    ) -> Snapshot {
        let sh = &self.shadow;
        let mut snap = Snapshot {
            wallet,
            ..Snapshot::default()
        };
        let mut maint_sum = 0.0;
        for (s, p) in positions.iter().enumerate() {
            let Some(p) = p else { continue };
            let mark = if marks[s] > 0.0 { marks[s] } else { p.entry };
            let upnl = p.sign * p.qty * (mark - p.entry);
            snap.unrealised += upnl;
            snap.gross_notional += p.qty * mark;
            if !RATIO {
                continue;
            }
            let maint = sh.maint(s, p.qty, p.entry, mark);
            snap.margin += p.margin;
            maint_sum += maint;
            if self.config.mode == MarginMode::Isolated {
                snap.margin_ratio = snap.margin_ratio.max(ratio(maint, p.margin + upnl));
            }
        }
        if !RATIO {
            snap.margin_ratio = f64::NAN;
        } else if self.config.mode == MarginMode::Cross && maint_sum > 0.0 {
            snap.margin_ratio = ratio(maint_sum, wallet + snap.unrealised);
        }
        snap
    }

    /// Logs the account as of `step` into `log` when it changed since the last state logged:
    /// most steps change nothing, which the shadow's change count tells in one comparison
    /// (debug builds also compare the states themselves, bit for bit).
    #[inline(always)]
    pub fn log_account(&self, step: u32, log: &mut AccountLog) {
        let sh = &self.shadow;
        if !log.steps.is_empty() && log.changes == sh.changes {
            debug_assert!(
                self.logged_state_is_current(log),
                "an unlogged shadow change"
            );
            return;
        }
        log.changes = sh.changes;
        log.steps.push(step);
        log.wallets.push(sh.wallet);
        log.positions.extend_from_slice(&sh.positions);
    }

    /// Whether `log`'s last state is the shadow's, bit for bit.
    pub(super) fn logged_state_is_current(&self, log: &AccountLog) -> bool {
        let sh = &self.shadow;
        let n = sh.positions.len();
        log.wallets
            .last()
            .is_some_and(|w| w.to_bits() == sh.wallet.to_bits())
            && log.positions[log.positions.len() - n..]
                .iter()
                .zip(&sh.positions)
                .all(|(a, b)| same_bits(a, b))
    }

    /// [`Venue::snapshot`] as it was at a step whose account is `log`'s state `k` and whose
    /// marks were `marks`.
    pub fn logged_snapshot(&self, log: &AccountLog, k: usize, marks: &[f64]) -> Snapshot {
        let n = self.shadow.positions.len();
        self.snapshot_of::<true>(log.wallets[k], &log.positions[k * n..(k + 1) * n], marks)
    }

    /// The margin ratio of `log`'s state `k` at its step's worst point: each position at
    /// its symbol's adverse mark extreme (`lows` for a long, `highs` for a short), together
    /// in cross margin (`margin_call.rs`). `adverse` is a buffer.
    pub fn logged_worst_ratio(
        &self,
        log: &AccountLog,
        k: usize,
        lows: &[f64],
        highs: &[f64],
        adverse: &mut Vec<f64>,
    ) -> f64 {
        let n = self.shadow.positions.len();
        let positions = &log.positions[k * n..(k + 1) * n];
        adverse.clear();
        adverse.extend(positions.iter().enumerate().map(|(s, p)| match p {
            Some(p) if p.sign < 0.0 => highs[s],
            _ => lows[s],
        }));
        self.snapshot_of::<true>(log.wallets[k], positions, adverse)
            .margin_ratio
    }

    /// [`Venue::liquidation_price`] of `symbol` in `log`'s state `k`.
    pub fn logged_liquidation_price(&self, log: &AccountLog, k: usize, symbol: usize) -> f64 {
        let n = self.shadow.positions.len();
        liquidation_of(log.positions[k * n + symbol])
    }

    /// `symbol`'s open position as the venue's `f64` view holds it, refreshed after every
    /// booking: (+1 long / −1 short, quantity, entry). The one `f64` copy of the account that
    /// the strategies read (the engine's holdings).
    pub fn position_view(&self, symbol: usize) -> Option<(f64, f64, f64)> {
        self.shadow.positions[symbol].map(|p| (p.sign, p.qty, p.entry))
    }

    /// The view's change count: bumped whenever the `f64` account is rewritten, so a reader
    /// can tell in one comparison that nothing changed.
    pub fn view_changes(&self) -> u64 {
        self.shadow.changes
    }

    /// USDT: the liquidation price of `symbol`'s open position as the per-bar check uses it
    /// (for cross margin, at the other symbols' latest marks); NaN when flat or when no
    /// price > 0 liquidates it.
    pub fn liquidation_price(&self, symbol: usize) -> f64 {
        liquidation_of(self.shadow.positions.get(symbol).copied().flatten())
    }
}

/// The liquidation price in `f64` ([`margin::liquidation_price_tiered_f64`]) with
/// `backing` = the wallet (cross, plus the other positions' unrealised PnL) or the isolated
/// margin, less the other positions' maintenance, on tiers `(cap, rate, amount)`. USDT;
/// `None` when no price > 0 reaches it.
pub(super) fn liquidation_f64(
    sign: f64,
    qty: f64,
    entry: f64,
    backing: f64,
    other_maint: f64,
    tiers: &[(f64, f64, f64)],
) -> Option<f64> {
    margin::liquidation_price_tiered_f64(sign, qty, entry, backing - other_maint, tiers)
}

/// maintenance / balance; ∞ when the balance is gone.
pub(super) fn ratio(maint: f64, balance: f64) -> f64 {
    if balance > 0.0 {
        maint / balance
    } else {
        f64::INFINITY
    }
}

/// The account in `f64` at the latest marks. USDT unless noted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub wallet: f64,
    pub unrealised: f64,
    /// Σ |qty| × mark over open positions
    pub gross_notional: f64,
    /// initial (cross) or isolated margin committed
    pub margin: f64,
    /// fraction; 0 when flat
    pub margin_ratio: f64,
}

impl Snapshot {
    pub fn equity(&self) -> f64 {
        self.wallet + self.unrealised
    }
}

#[cfg(test)]
mod formula_tests {
    //! Every `f64` form of the perp maths agrees with the exact `Decimal` one, in every tier
    //! of every table the shipped instrument file holds (current and dated): a copy that
    //! dropped the maintenance amount, or looked up the wrong tier, would pass in tier 1
    //! (amount 0) and fail here.

    use super::*;
    use crate::exchange::Side;
    use crate::exchange::margin::{self, PositionInput};
    use crate::instrument::{Instruments, Tier};
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;

    /// Every bracket table shipped, per symbol, oldest first.
    fn tables() -> Vec<Vec<Tier>> {
        let mut out = Vec::new();
        for inst in [Instruments::binance_usdm(), Instruments::bybit_usdt()] {
            out.extend(
                inst.symbols
                    .values()
                    .chain(inst.default.iter())
                    .flat_map(|spec| spec.bracket_tables().into_iter().map(|t| t.2.to_vec())),
            );
        }
        out
    }

    fn f(d: Decimal) -> f64 {
        d.to_f64().unwrap()
    }

    /// `x` exactly (the f64 forms get the same inputs bit for bit)
    fn dec(x: f64) -> Decimal {
        Decimal::from_f64_retain(x).unwrap()
    }

    /// Within 1e-9 relative, or 1e-7 USDT (the exact forms book to 10⁻⁸).
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-7
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn f64_forms_agree_with_the_exact_ones_in_every_tier(
            table in any::<prop::sample::Index>(),
            tier in any::<prop::sample::Index>(),
            within in 0.0f64..1.0,
            long in any::<bool>(),
            margin_pct in 1u32..60,
        ) {
            let tables = tables();
            let tiers = &tables[table.index(tables.len())];
            let t = &tiers[tier.index(tiers.len())];
            // a notional inside the tier (the last tier's cap is its end)
            let (floor, cap) = (f(t.floor), f(t.cap));
            let notional = floor + (cap - floor) * within;
            prop_assume!(notional > 1.0);
            let entry = 50_000.0;
            let qty = notional / entry;
            let view: Vec<(f64, f64, f64)> = tiers
                .iter()
                .map(|t| (f(t.cap), f(t.maint_margin_rate), f(t.maint_amount)))
                .collect();
            let shadow = Shadow {
                tiers: vec![view.clone()],
                on_entry: vec![false],
                ..Shadow::default()
            };
            // maintenance margin at the entry: the venue's view, the risk layer's and the exact
            let exact = f(margin::maintenance_margin(tiers, dec(qty), dec(entry)));
            prop_assert!(close(shadow.maint(0, qty, entry, entry), exact), "venue {} exact {}", shadow.maint(0, qty, entry, entry), exact);
            // the liquidation price, isolated on `margin_pct` % of the notional
            let (side, sign) = if long { (Side::Long, 1.0) } else { (Side::Short, -1.0) };
            let backing = notional * f64::from(margin_pct) / 100.0;
            let input = PositionInput {
                side,
                qty: dec(qty),
                entry: dec(entry),
                wallet: dec(backing),
                other_maint: Decimal::ZERO,
                other_upnl: Decimal::ZERO,
            };
            // charged on the entry price (Bybit): the same at any mark, and its LP
            let on_entry = Shadow { on_entry: vec![true], ..shadow.clone() };
            let model = crate::instrument::LiquidationModel::Bybit;
            let mark = entry * (0.5 + within);
            let exact = f(margin::maintenance_margin_under(model, tiers, dec(qty), dec(entry), dec(mark)));
            prop_assert!(close(on_entry.maint(0, qty, entry, mark), exact), "entry basis {} exact {}", on_entry.maint(0, qty, entry, mark), exact);
            let mut one = [(0.0, 0.0, 0.0)];
            let charged = on_entry.position_tiers(&view, 0, qty, entry, &mut one);
            let venue = liquidation_f64(sign, qty, entry, backing, 0.0, charged);
            let exact = margin::liquidation_price_under(model, &input, tiers).price.map(f);
            prop_assert!(match (venue, exact) {
                (Some(v), Some(e)) => close(v, e),
                (None, None) => true,
                _ => false,
            }, "entry basis LP venue {:?} exact {:?}", venue, exact);
            let exact = margin::liquidation_price(&input, tiers);
            let venue = liquidation_f64(sign, qty, entry, backing, 0.0, &view);
            match exact.price {
                None => prop_assert!(venue.is_none(), "venue {:?}, exact none", venue),
                Some(lp) => {
                    let lp = f(lp);
                    prop_assert!(venue.is_some_and(|v| close(v, lp)), "venue {:?} exact {}", venue, lp);
                    // the risk layer's form, in the tier the exact price lands in
                    let (rate, amount) = (f(exact.maint_margin_rate), f(exact.maint_amount));
                    let risk = margin::liquidation_price_f64(sign, qty, entry, backing, rate, amount);
                    prop_assert!(close(risk, lp), "risk {} exact {}", risk, lp);
                    // its inverse: the highest leverage whose LP sits at `risk` is this margin's
                    // (a difference of near-equal terms, so to 1e-7 relative)
                    let most = margin::max_isolated_leverage_f64(sign, entry, notional, risk, rate, amount);
                    let leverage = 100.0 / f64::from(margin_pct);
                    prop_assert!((most / leverage - 1.0).abs() < 1e-7, "max leverage {} for {}", most, leverage);
                    // the same price from the leverage (B = N / L)
                    let at = margin::isolated_liquidation_price_f64(sign, entry, notional, leverage, rate, amount);
                    prop_assert!(close(at, lp), "at leverage {} exact {}", at, lp);
                    // the mark where the margin ratio meets a level: at 1 the LP; at 0.8 a
                    // mark whose ratio, worked out from the exact maintenance, is 0.8
                    let w0 = backing - sign * qty * entry;
                    let one = margin::mark_at_margin_ratio_f64(sign, qty, w0, rate, amount, 1.0);
                    prop_assert!(close(one, lp), "ratio 1 at {} exact LP {}", one, lp);
                    let at_level = |(_, r, c): (f64, f64, f64)| {
                        margin::mark_at_margin_ratio_f64(sign, qty, w0, r, c, 0.8)
                    };
                    // one step of the tier search from the LP's tier, kept when it settles
                    let tier8 = margin::tier_index_f64(&view, qty * at_level((0.0, rate, amount)));
                    let m8 = at_level(view[tier8]);
                    if m8 > 0.0 && margin::tier_index_f64(&view, qty * m8) == tier8 {
                        let maint = f(margin::maintenance_margin(tiers, dec(qty), dec(m8)));
                        let ratio = maint / (w0 + sign * qty * m8);
                        prop_assert!((ratio - 0.8).abs() < 1e-6, "ratio {} at {}", ratio, m8);
                    }
                }
            }
        }
    }
}
