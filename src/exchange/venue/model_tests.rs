//! Other exchanges' liquidation rules (`instrument::LiquidationModel`), each against its
//! published formula and worked example, through the formulas and through a bar walk.

use super::tests::{bar, d, kinds, market};
use super::*;
use crate::exchange::Side;
use crate::exchange::fill::{PathOrder, Slippage};
use crate::exchange::margin::{self, PositionInput};
use crate::instrument::{Instruments, LiquidationModel};
use rust_decimal::prelude::ToPrimitive;

fn venue_on(instruments: &Instruments, symbol: &str) -> Venue {
    let config = VenueConfig {
        mode: MarginMode::Isolated,
        start_balance: d("10000"),
        slippage: Slippage::None,
        path: PathOrder::AdverseFirst,
        margin_call_ratio: 0.8,
    };
    Venue::new(config, vec![instruments.get(symbol).unwrap().clone()])
}

fn isolated(side: Side, qty: &str, entry: &str, margin: &str) -> PositionInput {
    PositionInput {
        side,
        qty: d(qty),
        entry: d(entry),
        wallet: d(margin),
        other_maint: Decimal::ZERO,
        other_upnl: Decimal::ZERO,
    }
}

fn bybit_lp(p: &PositionInput) -> Decimal {
    let btc = Instruments::bybit_usdt().get("BTCUSDT").unwrap().clone();
    assert_eq!(btc.liquidation_model, LiquidationModel::Bybit);
    margin::liquidation_price_under(btc.liquidation_model, p, &btc.brackets)
        .price
        .unwrap()
}

#[test]
fn bybits_worked_examples_hold() {
    // Bybit help centre, "Liquidation Price (USDT Contract)", example 1: long 1 BTC at
    // 20,000, 50x, MMR 0.5 %: IM = 400, MM = 20,000 × 0.5 % = 100, LP = 20,000 − 300 = 19,700
    assert_eq!(
        bybit_lp(&isolated(Side::Long, "1", "20000", "400")),
        d("19700")
    );
    // the short the same way: 20,000 + (400 − 100) = 20,300
    assert_eq!(
        bybit_lp(&isolated(Side::Short, "1", "20000", "400")),
        d("20300")
    );
    // Binance's rule on the same position charges 0.4 % at the mark instead:
    // (400 − 20,000)/(0.004 − 1) = 19,678.71
    let binance = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
    let lp = margin::liquidation_price(
        &isolated(Side::Long, "1", "20000", "400"),
        &binance.brackets,
    );
    assert_eq!(lp.price.unwrap().round_dp(2), d("19678.71"));
}

#[test]
fn bybit_charges_the_entry_tier_in_every_tier() {
    // tier 2 (2.0M–2.6M, 0.56 %, deduction 1,200): 40 BTC at 60,000 = 2.4M, 5x: IM 480,000,
    // MM = 2,400,000 × 0.56 % − 1,200 = 12,240, LP = 60,000 − (480,000 − 12,240)/40 = 48,306.
    // At LP the value is 1.93M, in tier 1: Bybit keeps the entry's tier and its MM.
    assert_eq!(
        bybit_lp(&isolated(Side::Long, "40", "60000", "480000")),
        d("48306")
    );
    // tier 3 (2.6M–3.2M, 0.63 %, 3,020): 50 BTC at 60,000 = 3M, 20x: IM 150,000,
    // MM = 18,900 − 3,020 = 15,880, LP = 60,000 − 134,120/50 = 57,317.6
    assert_eq!(
        bybit_lp(&isolated(Side::Long, "50", "60000", "150000")),
        d("57317.6")
    );
    // tier 20 (75M–80M, 4.5 %, 1,482,000): 1,000 BTC at 78,000 = 78M, 10x: IM 7.8M,
    // MM = 3,510,000 − 1,482,000 = 2,028,000, short LP = 78,000 + 5,772,000/1,000 = 83,772
    assert_eq!(
        bybit_lp(&isolated(Side::Short, "1000", "78000", "7800000")),
        d("83772")
    );
    // the f64 forms agree: the entry tier is rate 0 and amount −MM_e
    let btc = Instruments::bybit_usdt().get("BTCUSDT").unwrap().clone();
    let view: Vec<(f64, f64, f64)> = btc
        .brackets
        .iter()
        .map(|t| {
            let f = |x: Decimal| x.to_f64().unwrap();
            (f(t.cap), f(t.maint_margin_rate), f(t.maint_amount))
        })
        .collect();
    let one = [margin::entry_tier_f64(&view, 50.0, 60_000.0)];
    assert_eq!(one[0], (f64::INFINITY, 0.0, -15_880.0));
    let lp = margin::liquidation_price_tiered_f64(1.0, 50.0, 60_000.0, 150_000.0, &one).unwrap();
    assert!((lp - 57_317.6).abs() < 1e-6, "{lp}");
}

#[test]
fn a_bybit_long_is_liquidated_at_bybits_price_in_a_bar_walk() {
    let mut v = venue_on(&Instruments::bybit_usdt(), "BTCUSDT");
    let order = crate::exchange::orders::Order {
        leverage: d("50"),
        ..market(Side::Long, "1")
    };
    v.accept(order, 20_000.0).unwrap();
    let flat = bar(20_000.0, 20_050.0, 19_950.0, 20_000.0);
    v.on_bar(0, 0, &flat, &flat, &[]);
    // the example's position: margin 400, LP 19,700 (fee 20,000 × 0.055 % = 11 from the wallet)
    let p = v.account.position(0).unwrap();
    assert_eq!((p.margin, p.liquidation), (d("400"), Some(d("19700"))));
    assert_eq!(v.account.wallet(), d("9989"));
    assert_eq!(v.shadow.positions[0].unwrap().margin_call, 19_725.0);
    // the mark held above 19,700 by a tick: no liquidation, but a margin call (the ratio
    // 100/125 = 0.8 is reached at 20,000 − 275 = 19,725); the next bar reaches the LP
    let near = bar(20_000.0, 20_000.0, 19_700.1, 19_800.0);
    v.on_bar(0, 1, &near, &near, &[]);
    assert_eq!(kinds(&v), ["fill", "margin call"]);
    let fall = bar(19_800.0, 19_800.0, 19_500.0, 19_600.0);
    v.on_bar(0, 2, &fall, &fall, &[]);
    assert_eq!(kinds(&v), ["fill", "margin call", "liquidation"]);
    // the position's 400 are gone: 9,989 − 400 = 9,589
    assert_eq!(v.account.wallet(), d("9589"));
}

/// An instrument file of one symbol under `model`, taker 0.05 %, with `tiers` lines.
fn one_symbol(model: &str, tiers: &str) -> Instruments {
    let text = format!(
        r#"
[XUSDT]
liquidation_model = "{model}"
tick_size = "0.1"
lot_size = "0.001"
min_notional = "5"
maker_fee = "0.0002"
taker_fee = "0.0005"
brackets = [
{tiers}
]
"#
    );
    Instruments::parse(&text, "x.toml").unwrap()
}

const FLAT_04: &str = r#"    { floor = "0", cap = "1000000000", max_leverage = 125, maint_margin_rate = "0.004", maint_amount = "0" },"#;

#[test]
fn gate_and_okx_count_the_taker_fee_in_the_condition() {
    // Gate's formula: LP = (entry − s·margin/qty) / (1 − s·(MMR + taker)). Long 1 at 20,000,
    // 50x (margin 400), MMR 0.4 %, taker 0.05 %: 19,600 / 0.9955 = 19,688.5987;
    // short: 20,400 / 1.0045 = 20,308.6112
    for model in ["gate", "okx"] {
        let x = one_symbol(model, FLAT_04).get("XUSDT").unwrap().clone();
        assert_eq!(
            x.brackets[0].maint_margin_rate,
            d("0.0045"),
            "{model}: fee added"
        );
        let lp = |side| {
            margin::liquidation_price(&isolated(side, "1", "20000", "400"), &x.brackets)
                .price
                .unwrap()
                .round_dp(4)
        };
        assert_eq!(lp(Side::Long), d("19688.5987"), "{model}");
        assert_eq!(lp(Side::Short), d("20308.6112"), "{model}");
    }
    // a spec's taker fee override moves the condition with it: 0.0004 + 0.004
    let mut x = one_symbol("okx", FLAT_04).get("XUSDT").unwrap().clone();
    x.set_taker_fee(d("0.0004"));
    assert_eq!(x.brackets[0].maint_margin_rate, d("0.0044"));
}

#[test]
fn a_short_in_the_jump_of_whole_position_tiers_is_liquidated_at_the_floor() {
    // OKX tiers: 1 % below 50,000 notional, 2 % from it, taker 0.05 % → 1.05 % and 2.05 %.
    // Short 1 at 45,000, 7.5x: margin 6,000. Tier 1's LP = 51,000/1.0105 = 50,470 is in
    // tier 2; tier 2's = 51,000/1.0205 = 49,975.5 is in tier 1. At 49,999.9 (tier 1) the
    // balance 1,000.1 covers 525; at 50,000 (tier 2) 1,000 < 1,025: LP = 50,000.
    let tiers = r#"    { floor = "0", cap = "50000", max_leverage = 50, maint_margin_rate = "0.01", maint_amount = "0" },
    { floor = "50000", cap = "1000000000", max_leverage = 20, maint_margin_rate = "0.02", maint_amount = "0" },"#;
    let okx = one_symbol("okx", tiers);
    let x = okx.get("XUSDT").unwrap().clone();
    let lp = margin::liquidation_price(&isolated(Side::Short, "1", "45000", "6000"), &x.brackets);
    assert_eq!((lp.price, lp.tier), (Some(d("50000")), 1));
    let view = [(50_000.0, 0.0105, 0.0), (1e9, 0.0205, 0.0)];
    let f = margin::liquidation_price_tiered_f64(-1.0, 1.0, 45_000.0, 6_000.0, &view);
    assert_eq!(f, Some(50_000.0));
    // and in a bar walk: a rally to 50,500 liquidates at 50,000
    let mut v = venue_on(&okx, "XUSDT");
    let order = crate::exchange::orders::Order {
        leverage: d("7.5"),
        ..market(Side::Short, "1")
    };
    v.accept(order, 45_000.0).unwrap();
    let flat = bar(45_000.0, 45_050.0, 44_950.0, 45_000.0);
    v.on_bar(0, 0, &flat, &flat, &[]);
    assert_eq!(v.account.position(0).unwrap().liquidation, Some(d("50000")));
    let rally = bar(45_000.0, 50_500.0, 45_000.0, 50_400.0);
    v.on_bar(0, 1, &rally, &rally, &[]);
    assert_eq!(kinds(&v), ["fill", "liquidation"]);
}

#[test]
fn a_whole_position_table_with_a_maintenance_amount_is_refused() {
    let tiers = r#"    { floor = "0", cap = "50000", max_leverage = 50, maint_margin_rate = "0.01", maint_amount = "0" },
    { floor = "50000", cap = "1000000000", max_leverage = 20, maint_margin_rate = "0.02", maint_amount = "500" },"#;
    let text = format!(
        "[XUSDT]\nliquidation_model = \"gate\"\ntick_size = \"0.1\"\nlot_size = \"0.001\"\n\
         min_notional = \"5\"\nmaker_fee = \"0\"\ntaker_fee = \"0.0005\"\nbrackets = [\n{tiers}\n]\n"
    );
    let err = Instruments::parse(&text, "x.toml").unwrap_err();
    assert!(
        err.contains(
            "tier 2: maint_amount = 500: this model applies a tier's rate to the whole position"
        ),
        "{err}"
    );
    let bad = text.replace("\"gate\"", "\"kraken\"");
    let err = Instruments::parse(&bad, "x.toml").unwrap_err();
    assert!(err.contains("unknown variant `kraken`"), "{err}");
}
