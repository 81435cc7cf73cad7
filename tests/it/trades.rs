//! Trade accounting adds up: Σ trade PnL (each trade's realised PnL from every partial
//! reduction and its close or liquidation, less fees and funding; the open trades at the
//! last marks) equals the equity's change — on random runs in both margin modes, with the
//! margin guard cutting positions before liquidations and cross-margin liquidations closing
//! several positions at once.

use perpsim::outcome;
use perpsim::spec;
use proptest::prelude::*;
use tempfile::TempDir;

use super::repo;

fn body(
    from: &str,
    to: &str,
    mode: &str,
    leverage: u32,
    deleverage: Option<f64>,
    sma: bool,
) -> String {
    let data = repo().join("data").display().to_string();
    let strategy = if sma {
        "kind = \"sma_cross\"\nfast = 10\nslow = 30".to_string()
    } else {
        format!("kind = \"naive_leverage\"\nleverage = {leverage}")
    };
    let guard = match deleverage {
        Some(level) => format!(
            "margin_halt_at = {}\nmargin_deleverage_at = {level}",
            level / 2.0
        ),
        None => String::new(),
    };
    format!(
        r#"
name = "t"
[data]
timeframe = "1h"
from = "{from}"
to = "{to}"
[[data.symbols]]
symbol = "BTCUSDT"
candles = "{data}/BTCUSDT-1h.zip"
mark = "{data}/BTCUSDT-1h-markPrice.zip"
funding = "{data}/BTCUSDT-fundingRate.zip"
[[data.symbols]]
symbol = "ETHUSDT"
candles = "{data}/ETHUSDT-1h.zip"
mark = "{data}/ETHUSDT-1h-markPrice.zip"
funding = "{data}/ETHUSDT-fundingRate.zip"
[account]
balance = 10000
margin_mode = "{mode}"
[exchange]
slippage = {{ model = "fixed_bps", bps = 2 }}
[strategy]
{strategy}
[risk]
preset = "off"
max_leverage = {leverage}
sizing = "fixed_fraction"
fixed_fraction = 0.4
{guard}
"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn trade_pnl_adds_up_to_the_equity_change(
        start_day in 0u32..600,
        days in 20u32..120,
        cross in proptest::bool::ANY,
        leverage in 3u32..60,
        deleverage in proptest::option::of(0.2f64..0.8),
        sma in proptest::bool::ANY,
    ) {
        let day = |d: u32| {
            let t = 1_704_067_200 + i64::from(d) * 86_400; // 2024-01-01 + d days
            chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%d").to_string()
        };
        let mode = if cross { "cross" } else { "isolated" };
        let dir = TempDir::new().unwrap();
        let file = dir.path().join("spec.toml");
        let text = body(&day(start_day), &day(start_day + days), mode, leverage, deleverage, sma);
        std::fs::write(&file, text).unwrap();
        let spec = spec::read(&file).unwrap();
        let market = spec.load_market().unwrap();
        let run = outcome::run(&spec, &market, false);
        let m = &run.summary.metrics;
        let total: f64 = run.trades.iter().map(|t| t.pnl).sum();
        let change = m.final_equity - m.start_equity;
        prop_assert!(
            (total - change).abs() < 1e-6 * m.start_equity,
            "{mode}, {leverage}x, {} liquidations: trades {total} vs equity change {change}",
            m.liquidations
        );
        for t in &run.trades {
            prop_assert!(t.exit_price.is_finite(), "{t:?}");
        }
    }
}
