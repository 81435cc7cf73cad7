//! Margin maths of a USDⓈ-margined perpetual, as Binance publishes it: pure functions on
//! `Decimal` (USDT amounts, prices in USDT, quantities in the base asset), and below them the
//! same formulas and their rearrangements in `f64` for the per-bar checks of the venue and
//! the risk layer (the one place either computes maintenance, a liquidation price, the mark
//! at a margin-ratio level, or the leverage and size that keep a liquidation limit).
//!
//! - Maintenance margin = notional × rate − maintenance amount, with the rate and amount of the
//!   tier holding the *current* notional (at the mark price).
//! - Liquidation price, one-way mode, of a position with side s (+1 long, −1 short), size q,
//!   entry E, wallet balance WB (isolated: the position's own margin), and in cross margin the
//!   other positions' maintenance margin (otherMM) and unrealised PnL (otherUPnL):
//!
//!   `LP = (WB − otherMM + otherUPnL + c − s·q·E) / (q·r − s·q)`
//!
//!   with r, c the rate and amount of the tier of the notional *at LP*: start from the tier of
//!   the entry notional and recompute while LP lands in another tier (Binance's rule). At LP
//!   the margin balance equals the maintenance margin exactly.
//! - Bankruptcy price: where the margin balance reaches zero (the same with r = c = otherMM = 0).
//!
//! Other exchanges' rules take the same form (`instrument::LiquidationModel`): OKX and Gate
//! count the taker fee in the condition (added to each tier's rate when the file loads, the
//! whole position at its tier's rate), and Bybit charges the rate on the position value at
//! the entry price. For Bybit a position's maintenance is a constant, MM_e = q·E·r − c in the
//! tier of q·E, which is this form in one tier of rate 0 and amount −MM_e
//! ([`entry_tier`], [`entry_tier_f64`]): every formula below then holds unchanged.
//!
//! With whole-position tiers the maintenance jumps at a tier's floor; a short's liquidation
//! price can then fall in the jump (the tier below puts it above the floor, the tier above
//! puts it below): it is the floor itself, where the margin balance first falls short.
//!
//! A common shortcut, `LP ≈ E × (1 − 1/L + r)` for an isolated long at leverage L, charges the
//! maintenance margin on the entry notional instead of the notional at LP, and lands a little
//! high: 58,760 instead of 58,734.94 for 10x at 65,000 with r = 0.4 % (see the tests).

use rust_decimal::Decimal;

use super::Side;
use crate::instrument::{LiquidationModel, Tier};

/// A position as the formulas need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionInput {
    pub side: Side,
    /// base asset, > 0
    pub qty: Decimal,
    /// USDT
    pub entry: Decimal,
    /// USDT: the position's isolated margin, or the cross wallet balance
    pub wallet: Decimal,
    /// USDT, cross margin only: maintenance margin of all other positions (0 when isolated)
    pub other_maint: Decimal,
    /// USDT, cross margin only: unrealised PnL of all other positions (0 when isolated)
    pub other_upnl: Decimal,
}

/// A liquidation price and the tier it was computed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Liquidation {
    /// USDT; `None` when the position cannot be liquidated at any price > 0
    pub price: Option<Decimal>,
    /// 0-based tier of the notional at the liquidation price
    pub tier: usize,
    /// fraction
    pub maint_margin_rate: Decimal,
    /// USDT
    pub maint_amount: Decimal,
}

/// |qty| × price. USDT
pub fn notional(qty: Decimal, price: Decimal) -> Decimal {
    qty.abs() * price
}

/// side × qty × (mark − entry). USDT
pub fn unrealized_pnl(side: Side, qty: Decimal, entry: Decimal, mark: Decimal) -> Decimal {
    side.sign() * qty * (mark - entry)
}

/// Margin to open `qty` at `price` with `leverage`: notional / leverage. USDT
pub fn initial_margin(qty: Decimal, price: Decimal, leverage: Decimal) -> Decimal {
    notional(qty, price) / leverage
}

/// The tier holding `notional` (past the last cap: the last tier).
pub fn tier_of(tiers: &[Tier], notional: Decimal) -> usize {
    tiers
        .partition_point(|t| t.cap <= notional.abs())
        .min(tiers.len() - 1)
}

/// notional × rate − amount, with the tier of that notional. USDT
pub fn maintenance_margin(tiers: &[Tier], qty: Decimal, mark: Decimal) -> Decimal {
    let n = notional(qty, mark);
    let t = &tiers[tier_of(tiers, n)];
    n * t.maint_margin_rate - t.maint_amount
}

/// The one tier a position's maintenance is charged in when the model charges it on the
/// entry price: rate 0 and amount −MM_e, MM_e = q·E × rate − amount in the tier of q·E, so
/// that notional × 0 − (−MM_e) = MM_e at every mark.
pub fn entry_tier(tiers: &[Tier], qty: Decimal, entry: Decimal) -> Tier {
    let t = &tiers[tier_of(tiers, notional(qty, entry))];
    Tier {
        floor: Decimal::ZERO,
        cap: Decimal::MAX,
        max_leverage: t.max_leverage,
        maint_margin_rate: Decimal::ZERO,
        maint_amount: -maintenance_margin(tiers, qty, entry),
    }
}

/// [`maintenance_margin`] of a position entered at `entry`, under `model`: at the mark, or
/// for a model charging the entry price ([`LiquidationModel::on_entry`]) at the entry. USDT
pub fn maintenance_margin_under(
    model: LiquidationModel,
    tiers: &[Tier],
    qty: Decimal,
    entry: Decimal,
    mark: Decimal,
) -> Decimal {
    maintenance_margin(tiers, qty, if model.on_entry() { entry } else { mark })
}

/// [`liquidation_price`] under `model`: for a model charging the entry price, computed in
/// the position's [`entry_tier`] and reported with the tier of the entry notional.
pub fn liquidation_price_under(
    model: LiquidationModel,
    p: &PositionInput,
    tiers: &[Tier],
) -> Liquidation {
    if !model.on_entry() {
        return liquidation_price(p, tiers);
    }
    let at = liquidation_price(p, &[entry_tier(tiers, p.qty, p.entry)]);
    let tier = tier_of(tiers, notional(p.qty, p.entry));
    Liquidation {
        tier,
        maint_margin_rate: tiers[tier].maint_margin_rate,
        maint_amount: tiers[tier].maint_amount,
        ..at
    }
}

/// Maintenance margin / margin balance (fraction; 1 = liquidation). `None` when the margin
/// balance is ≤ 0 (past bankruptcy).
pub fn margin_ratio(maint: Decimal, margin_balance: Decimal) -> Option<Decimal> {
    (margin_balance > Decimal::ZERO).then(|| maint / margin_balance)
}

/// The formula with a given rate and amount. USDT (may be ≤ 0: never reached)
pub fn liquidation_price_with(p: &PositionInput, rate: Decimal, amount: Decimal) -> Decimal {
    let s = p.side.sign();
    let numerator = p.wallet - p.other_maint + p.other_upnl + amount - s * p.qty * p.entry;
    numerator / (p.qty * rate - s * p.qty)
}

/// The liquidation price, recomputed until the tier of the notional at LP is the tier used.
pub fn liquidation_price(p: &PositionInput, tiers: &[Tier]) -> Liquidation {
    let mut tier = tier_of(tiers, notional(p.qty, p.entry));
    let mut price = Decimal::ZERO;
    let mut before = usize::MAX;
    // Each step moves to the tier of the last LP; a table has few tiers. Returning to the
    // tier just left means the price falls in a jump of whole-position tiers: the floor of
    // the higher of the two.
    for _ in 0..=tiers.len() {
        let t = &tiers[tier];
        price = liquidation_price_with(p, t.maint_margin_rate, t.maint_amount);
        if price <= Decimal::ZERO {
            break;
        }
        let at_lp = tier_of(tiers, notional(p.qty, price));
        if at_lp == tier {
            break;
        }
        if at_lp == before {
            tier = tier.max(at_lp);
            price = tiers[tier].floor / p.qty;
            break;
        }
        before = tier;
        tier = at_lp;
    }
    let t = &tiers[tier];
    Liquidation {
        price: (price > Decimal::ZERO).then_some(price),
        tier,
        maint_margin_rate: t.maint_margin_rate,
        maint_amount: t.maint_amount,
    }
}

/// Where the margin balance reaches zero: `E − s·(WB + otherUPnL)/q`. USDT (`None` if ≤ 0)
pub fn bankruptcy_price(p: &PositionInput) -> Option<Decimal> {
    let price = liquidation_price_with(
        &PositionInput {
            other_maint: Decimal::ZERO,
            ..*p
        },
        Decimal::ZERO,
        Decimal::ZERO,
    );
    (price > Decimal::ZERO).then_some(price)
}

// ----- the same maths in `f64`, for per-bar checks and risk estimates (never booked) -----
//
// Each form below is the exact formula above (or its rearrangement) on `f64` inputs: `s` is
// +1 long / −1 short, `q` the size, `E` the entry, `B` the backing (isolated: the position's
// margin; cross: the wallet less the other positions' maintenance, plus their unrealised
// PnL), `r` and `c` a tier's maintenance rate and amount. A property test checks every form
// against the `Decimal` one in every tier of every shipped table (`venue/view.rs`).

/// The f64 tier index of `notional` in tiers `(cap, rate, amount)`: the first whose cap it is
/// below, else the last. A linear scan: positions sit in the first tier or two, so the branch
/// is predicted (a binary search's dependent compares were a third of a bar's time).
#[inline(always)]
pub fn tier_index_f64(tiers: &[(f64, f64, f64)], notional: f64) -> usize {
    tiers
        .iter()
        .position(|t| notional < t.0)
        .unwrap_or(tiers.len() - 1)
}

/// [`entry_tier`] in `f64`: (cap, rate, amount) = (∞, 0, −MM_e) for a position of `qty`
/// entered at `entry` on tiers `(cap, rate, amount)`.
#[inline]
pub fn entry_tier_f64(tiers: &[(f64, f64, f64)], qty: f64, entry: f64) -> (f64, f64, f64) {
    let notional = qty * entry;
    let (_, rate, amount) = tiers[tier_index_f64(tiers, notional)];
    (f64::INFINITY, 0.0, -maintenance_f64(notional, rate, amount))
}

/// [`maintenance_margin`] in a tier: `notional × r − c`. USDT
#[inline(always)]
pub fn maintenance_f64(notional: f64, rate: f64, amount: f64) -> f64 {
    notional * rate - amount
}

/// [`liquidation_price_with`] in one tier: `LP = (B + c − s·q·E) / (q·(r − s))`. USDT; ≤ 0
/// (long) when no price liquidates it.
#[inline(always)]
pub fn liquidation_price_f64(
    sign: f64,
    qty: f64,
    entry: f64,
    backing: f64,
    rate: f64,
    amount: f64,
) -> f64 {
    (backing + amount - sign * qty * entry) / (qty * (rate - sign))
}

/// [`liquidation_price`] in `f64`: [`liquidation_price_f64`] recomputed until the tier of the
/// notional at LP is the tier used. USDT; `None` when no price > 0 reaches it.
pub fn liquidation_price_tiered_f64(
    sign: f64,
    qty: f64,
    entry: f64,
    backing: f64,
    tiers: &[(f64, f64, f64)],
) -> Option<f64> {
    let mut tier = tier_index_f64(tiers, qty * entry);
    let mut price = 0.0;
    let mut before = usize::MAX;
    for _ in 0..=tiers.len() {
        let (_, rate, amount) = tiers[tier];
        price = liquidation_price_f64(sign, qty, entry, backing, rate, amount);
        if price <= 0.0 {
            break;
        }
        let at = tier_index_f64(tiers, qty * price);
        if at == tier {
            break;
        }
        if at == before {
            // in a jump of whole-position tiers: the higher tier's floor, the lower's cap
            price = tiers[tier.min(at)].0 / qty;
            break;
        }
        before = tier;
        tier = at;
    }
    (price > 0.0).then_some(price)
}

/// The mark at which a position's margin ratio (maintenance / margin balance) equals `level`
/// in one tier, where the margin balance at mark `m` is `w0 + s·q·m` (`w0` = B − s·q·E):
/// `q·m·r − c = level·(w0 + s·q·m)`, so `m = (c + level·w0) / (q·(r − level·s))`. At
/// `level` = 1 it is [`liquidation_price_f64`]. USDT
#[inline(always)]
pub fn mark_at_margin_ratio_f64(
    sign: f64,
    qty: f64,
    w0: f64,
    rate: f64,
    amount: f64,
    level: f64,
) -> f64 {
    (amount + level * w0) / (qty * (rate - level * sign))
}

/// The isolated liquidation price of a position of `notional` at `leverage` (B = N / L) in
/// one tier: `LP = E·(1 − s/L − s·c/N) / (1 − s·r)`, [`liquidation_price_f64`] rearranged.
/// USDT
#[inline(always)]
pub fn isolated_liquidation_price_f64(
    sign: f64,
    entry: f64,
    notional: f64,
    leverage: f64,
    rate: f64,
    amount: f64,
) -> f64 {
    entry * (1.0 - sign / leverage - sign * amount / notional) / (1.0 - sign * rate)
}

/// Isolated margin: the highest leverage at which the liquidation price sits at or beyond
/// `limit` (at or below it for a long). From [`isolated_liquidation_price_f64`], `s·LP ≤ s·X`
/// gives `1/L ≥ s − c/N − s·(X/E)·(1 − s·r)`. `+∞` when any leverage will do.
pub fn max_isolated_leverage_f64(
    sign: f64,
    entry: f64,
    notional: f64,
    limit: f64,
    rate: f64,
    amount: f64,
) -> f64 {
    let need = sign - amount / notional - sign * (limit / entry) * (1.0 - sign * rate);
    if need <= 0.0 {
        f64::INFINITY
    } else {
        1.0 / need
    }
}

/// Cross margin: the largest quantity whose liquidation price sits at or beyond `limit`,
/// given the backing `B`. From [`liquidation_price_f64`], `s·LP ≤ s·X` ⇔
/// `q · s·(E − X·(1 − s·r)) ≤ B + c`. `+∞` when any quantity will do.
pub fn max_cross_qty_f64(
    sign: f64,
    entry: f64,
    limit: f64,
    backing: f64,
    rate: f64,
    amount: f64,
) -> f64 {
    let k = sign * (entry - limit * (1.0 - sign * rate));
    if k <= 0.0 {
        f64::INFINITY
    } else {
        ((backing + amount) / k).max(0.0)
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

    fn btc_tiers() -> Vec<Tier> {
        Instruments::binance_usdm()
            .get("BTCUSDT")
            .unwrap()
            .brackets
            .clone()
    }

    fn one_tier(rate: &str) -> Vec<Tier> {
        vec![Tier {
            floor: d("0"),
            cap: d("1e12"),
            max_leverage: 125,
            maint_margin_rate: d(rate),
            maint_amount: d("0"),
        }]
    }

    fn isolated(side: Side, qty: &str, entry: &str, wallet: &str) -> PositionInput {
        PositionInput {
            side,
            qty: d(qty),
            entry: d(entry),
            wallet: d(wallet),
            other_maint: d("0"),
            other_upnl: d("0"),
        }
    }

    /// Margin balance of the position at `price`, and its maintenance margin there.
    fn balance_and_maint(p: &PositionInput, tiers: &[Tier], price: Decimal) -> (Decimal, Decimal) {
        let balance = p.wallet + p.other_upnl + unrealized_pnl(p.side, p.qty, p.entry, price);
        (
            balance,
            maintenance_margin(tiers, p.qty, price) + p.other_maint,
        )
    }

    fn close(a: Decimal, b: Decimal) -> bool {
        (a - b).abs() < d("0.000000001")
    }

    #[test]
    fn issue_example_10x_long_at_65000() {
        // 1 BTC long at 65,000, 10x isolated with initial margin only: WB = 65,000 / 10 = 6,500;
        // r = 0.4 %, c = 0, s = +1, q = 1:
        // LP = (6,500 + 0 − 1 × 1 × 65,000) / (1 × 0.004 − 1) = −58,500 / −0.996 = 58,734.9397…
        // At LP: margin balance 6,500 + (58,734.94 − 65,000) = 234.94 = MM 58,734.94 × 0.004.
        // The shortcut 65,000 × (1 − 1/10 + 0.004) = 58,760 charges MM on the entry notional
        // (260 USDT) and is 25.06 too high; the article's 58,565 is wrong either way.
        let p = isolated(Side::Long, "1", "65000", "6500");
        let liq = liquidation_price(&p, &one_tier("0.004"));
        let lp = liq.price.unwrap();
        assert_eq!(lp.round_dp(2), d("58734.94"));
        let (balance, maint) = balance_and_maint(&p, &one_tier("0.004"), lp);
        assert!(close(balance, maint));
        assert_eq!(
            d("65000") * (d("1") - d("1") / d("10") + d("0.004")),
            d("58760.000")
        );
        assert_eq!(bankruptcy_price(&p), Some(d("58500")));
    }

    #[test]
    fn binance_published_example_500_wallet_1000_notional() {
        // Binance FAQ "How to avoid liquidation" (binance.com/en/support/faq/25edcd7fe0e544839d0847b8cbb2e400):
        // wallet 500 USDT, a 1,000 USDT long BTCUSDT at 50,000 (q = 0.02), liquidation 25,100.40.
        // LP = (500 − 0.02 × 50,000) / (0.02 × 0.004 − 0.02) = −500 / −0.01992 = 25,100.4016…
        let p = isolated(Side::Long, "0.02", "50000", "500");
        let liq = liquidation_price(&p, &btc_tiers());
        assert_eq!(
            (liq.price.unwrap().round_dp(2), liq.tier),
            (d("25100.40"), 0)
        );
    }

    #[test]
    fn short_mirrors_long() {
        // 1 BTC short at 65,000, 10x isolated: WB = 6,500, s = −1:
        // LP = (6,500 + 65,000) / (0.004 + 1) = 71,500 / 1.004 = 71,215.1394…
        // At LP: balance 6,500 − (71,215.14 − 65,000) = 284.86 = MM 71,215.14 × 0.004.
        let p = isolated(Side::Short, "1", "65000", "6500");
        let lp = liquidation_price(&p, &one_tier("0.004")).price.unwrap();
        assert_eq!(lp.round_dp(2), d("71215.14"));
        let (balance, maint) = balance_and_maint(&p, &one_tier("0.004"), lp);
        assert!(close(balance, maint));
        assert_eq!(bankruptcy_price(&p), Some(d("71500")));
    }

    #[test]
    fn cross_margin_counts_the_other_position() {
        // Cross wallet 10,000. Other position: ETH short 10 at 3,000, mark 3,100:
        //   notional 31,000 → tier 1 (0.4 %, 0): MM = 124; UPnL = −1 × 10 × (3,100 − 3,000) = −1,000.
        // BTC long 1 at 65,000: notional 65,000 → tier 2 (0.5 %, amount 50):
        //   LP = (10,000 − 124 − 1,000 + 50 − 65,000) / (0.005 − 1) = −56,074 / −0.995 = 56,355.7789…
        //   (its notional 56,356 is still tier 2).
        // At LP the account's balance 10,000 + (LP − 65,000) − 1,000 = 355.78 equals total MM
        // LP × 0.005 − 50 + 124 = 281.78 − 50 + 124 = 355.78.
        let tiers = btc_tiers();
        let eth_maint = maintenance_margin(&tiers, d("10"), d("3100"));
        let eth_upnl = unrealized_pnl(Side::Short, d("10"), d("3000"), d("3100"));
        assert_eq!((eth_maint, eth_upnl), (d("124.000"), d("-1000")));
        let p = PositionInput {
            other_maint: eth_maint,
            other_upnl: eth_upnl,
            ..isolated(Side::Long, "1", "65000", "10000")
        };
        let lp = liquidation_price(&p, &tiers).price.unwrap();
        assert_eq!(lp.round_dp(2), d("56355.78"));
        let (balance, maint) = balance_and_maint(&p, &tiers, lp);
        assert!(close(balance, maint));
    }

    #[test]
    fn liquidation_price_moves_to_the_tier_of_its_own_notional() {
        // 10 BTC long at 65,000: notional 650,000 → tier 3 (0.65 %, 950). 10x isolated: WB = 65,000.
        // Tier 3: LP = (65,000 + 950 − 650,000) / (10 × 0.0065 − 10) = −584,050 / −9.935 = 58,787.12;
        //   its notional 587,871 is in tier 2 (50,000 to 600,000: 0.5 %, 50), so recompute:
        // Tier 2: LP = (65,000 + 50 − 650,000) / (10 × 0.005 − 10) = −584,950 / −9.95 = 58,788.94,
        //   notional 587,889 → tier 2: stable.
        // At LP: balance 65,000 + 10 × (58,788.94 − 65,000) = 2,889.45 = MM 587,889.45 × 0.005 − 50.
        let tiers = btc_tiers();
        let p = isolated(Side::Long, "10", "65000", "65000");
        let first = liquidation_price_with(&p, d("0.0065"), d("950"));
        assert_eq!(first.round_dp(2), d("58787.12"));
        let liq = liquidation_price(&p, &tiers);
        assert_eq!(
            (liq.price.unwrap().round_dp(2), liq.tier, liq.maint_amount),
            (d("58788.94"), 1, d("50"))
        );
        let (balance, maint) = balance_and_maint(&p, &tiers, liq.price.unwrap());
        assert!(close(balance, maint));
    }

    #[test]
    fn an_unlevered_long_cannot_be_liquidated() {
        // 1x isolated long with full margin: WB = q × E, so LP = c / (q·(r − 1)) ≤ 0: none.
        let p = isolated(Side::Long, "2", "65000", "130000");
        assert_eq!(liquidation_price(&p, &btc_tiers()).price, None);
        assert_eq!(bankruptcy_price(&p), None);
    }

    #[test]
    fn margin_ratio_is_none_past_bankruptcy() {
        assert_eq!(margin_ratio(d("50"), d("200")), Some(d("0.25")));
        assert_eq!(margin_ratio(d("50"), d("0")), None);
    }

    fn leverage() -> impl Strategy<Value = u32> {
        2u32..=100
    }

    proptest! {
        #[test]
        fn long_lp_below_entry_short_lp_above(entry in 100u32..200_000, lev in leverage(), qty_milli in 1u32..5_000) {
            let entry = Decimal::from(entry);
            let qty = Decimal::new(qty_milli.into(), 3);
            let wallet = entry * qty / Decimal::from(lev);
            let tiers = btc_tiers();
            let long = liquidation_price(&PositionInput { side: Side::Long, qty, entry, wallet, other_maint: Decimal::ZERO, other_upnl: Decimal::ZERO }, &tiers);
            let short = liquidation_price(&PositionInput { side: Side::Short, qty, entry, wallet, other_maint: Decimal::ZERO, other_upnl: Decimal::ZERO }, &tiers);
            prop_assert!(long.price.unwrap() < entry);
            prop_assert!(short.price.unwrap() > entry);
        }

        #[test]
        fn higher_leverage_liquidates_nearer_entry(entry in 100u32..200_000, lev in 2u32..60, qty_milli in 1u32..5_000) {
            let entry = Decimal::from(entry);
            let qty = Decimal::new(qty_milli.into(), 3);
            let tiers = btc_tiers();
            for side in [Side::Long, Side::Short] {
                let lp = |l: u32| {
                    let p = PositionInput { side, qty, entry, wallet: entry * qty / Decimal::from(l), other_maint: Decimal::ZERO, other_upnl: Decimal::ZERO };
                    liquidation_price(&p, &tiers).price.unwrap()
                };
                prop_assert!((lp(lev + 1) - entry).abs() < (lp(lev) - entry).abs());
            }
        }

        #[test]
        fn at_the_liquidation_price_balance_equals_maintenance(entry in 100u32..200_000, lev in leverage(), qty_milli in 1u32..50_000, short in any::<bool>()) {
            let side = if short { Side::Short } else { Side::Long };
            let entry = Decimal::from(entry);
            let qty = Decimal::new(qty_milli.into(), 3);
            let p = PositionInput { side, qty, entry, wallet: entry * qty / Decimal::from(lev), other_maint: Decimal::ZERO, other_upnl: Decimal::ZERO };
            let tiers = btc_tiers();
            let liq = liquidation_price(&p, &tiers);
            let lp = liq.price.unwrap();
            let (balance, maint) = balance_and_maint(&p, &tiers, lp);
            prop_assert!(close(balance, maint), "balance {} maint {}", balance, maint);
        }

        #[test]
        fn no_unlevered_long_is_ever_liquidated(entry in 1u32..200_000, qty_milli in 1u32..50_000) {
            let entry = Decimal::from(entry);
            let qty = Decimal::new(qty_milli.into(), 3);
            let p = PositionInput { side: Side::Long, qty, entry, wallet: entry * qty, other_maint: Decimal::ZERO, other_upnl: Decimal::ZERO };
            prop_assert_eq!(liquidation_price(&p, &btc_tiers()).price, None);
        }
    }

    #[test]
    fn the_f64_form_mirrors_binance_published_example() {
        // Binance's example (also the exchange's Decimal test): 500 USDT wallet, a 1,000 USDT
        // long at 50,000 (q = 0.02), tier 1: m = 0.4 %, c = 0. Isolated with B = 500:
        // LP = (500 + 0 − 0.02 × 50,000) / (0.02 × (0.004 − 1)) = −500 / −0.01992 = 25,100.40
        let lp = liquidation_price_f64(1.0, 0.02, 50_000.0, 500.0, 0.004, 0.0);
        assert!((lp - 25_100.401_606).abs() < 1e-3, "{lp}");
    }

    #[test]
    fn f64_leverage_and_size_that_keep_a_liquidation_limit() {
        // long at 100, stop 92, buffer 2 → LP must be ≤ 90; m = 0.4 %, c = 0:
        // 1/L ≥ 1 − 0 − 0.9 × 0.996 = 0.1036 → L ≤ 9.6525
        let l = max_isolated_leverage_f64(1.0, 100.0, 1_000.0, 90.0, 0.004, 0.0);
        assert!((l - 1.0 / 0.1036).abs() < 1e-9, "{l}");
        // and at that leverage the liquidation price is 90: B = 1,000 / L = 103.6, q = 10
        let lp = liquidation_price_f64(1.0, 10.0, 100.0, 1_000.0 / l, 0.004, 0.0);
        assert!((lp - 90.0).abs() < 1e-9, "{lp}");
        // short at 100, stop 108, buffer 2 → LP ≥ 110: 1/L ≥ −1 + 1.1 × 1.004 = 0.1044
        let l = max_isolated_leverage_f64(-1.0, 100.0, 1_000.0, 110.0, 0.004, 0.0);
        assert!((l - 1.0 / 0.1044).abs() < 1e-9, "{l}");
        // cross, long, backing 1,000 USDT, LP ≤ 90: q × (100 − 90 × 0.996) ≤ 1,000
        // → q ≤ 1,000 / 10.36 = 96.525; its LP: (1,000 − 96.525 × 100) / (96.525 × −0.996) = 90
        let q = max_cross_qty_f64(1.0, 100.0, 90.0, 1_000.0, 0.004, 0.0);
        assert!((q - 1_000.0 / 10.36).abs() < 1e-9, "{q}");
        let lp = liquidation_price_f64(1.0, q, 100.0, 1_000.0, 0.004, 0.0);
        assert!((lp - 90.0).abs() < 1e-9, "{lp}");
        // a long backed by B ≥ 0 has its LP below the entry: a limit above it always holds
        assert_eq!(
            max_cross_qty_f64(1.0, 100.0, 101.0, 0.0, 0.004, 0.0),
            f64::INFINITY
        );
        // with nothing to back it (B < 0), no quantity keeps the limit
        assert_eq!(max_cross_qty_f64(1.0, 100.0, 90.0, -5.0, 0.004, 0.0), 0.0);
    }
}
