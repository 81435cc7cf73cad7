//! Instrument specs: contract rules and the tiered leverage brackets exchanges publish.
//!
//! perpsim ships `instruments/binance_usdm.toml` (Binance USDⓈ-M BTCUSDT, ETHUSDT and a
//! generic `default` for other symbols), compiled into the binary so it works from any folder.
//! A spec can point at its own file of the same format to model another venue or another
//! date's table. Every file is checked when loaded (see [`tier_problems`]).

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde::Deserialize;

/// The shipped Binance USDⓈ-M instrument file.
pub const BINANCE_USDM: &str = include_str!("../instruments/binance_usdm.toml");

/// One notional tier of a leverage-bracket table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// USDT notional, inclusive
    pub floor: Decimal,
    /// USDT notional, exclusive
    pub cap: Decimal,
    /// the highest leverage allowed for a position whose notional is in this tier
    pub max_leverage: u32,
    /// fraction, 0.004 = 0.4 %
    pub maint_margin_rate: Decimal,
    /// USDT: makes maintenance margin continuous at the tier's floor
    pub maint_amount: Decimal,
}

/// The maintenance amount that keeps maintenance margin continuous at a tier's floor:
/// `cum_n = floor_n × (rate_n − rate_(n−1)) + cum_(n−1)`. USDT
pub fn maint_amount(
    floor: Decimal,
    rate: Decimal,
    prev_rate: Decimal,
    prev_amount: Decimal,
) -> Decimal {
    (floor * (rate - prev_rate) + prev_amount).normalize()
}

/// A broken rule of a bracket table: the tier (0-based), the field, its value, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierProblem {
    pub tier: usize,
    pub field: &'static str,
    pub value: String,
    pub message: String,
}

/// Checks the rules every published bracket table obeys: tiers contiguous from 0 (each floor
/// the previous cap), cap above floor, maintenance rate never falling, max leverage (where
/// known) never rising, and the maintenance amount exactly as [`maint_amount`] gives it.
/// `max_leverage` of `None` means the source did not publish it.
pub fn tier_problems(
    tiers: &[(Decimal, Decimal, Option<u32>, Decimal, Decimal)],
) -> Vec<TierProblem> {
    let mut out = Vec::new();
    let mut add = |tier: usize, field: &'static str, value: String, message: String| {
        out.push(TierProblem {
            tier,
            field,
            value,
            message,
        });
    };
    if let Some(first) = tiers.first()
        && !first.0.is_zero()
    {
        add(
            0,
            "floor",
            first.0.to_string(),
            "the first tier must start at 0".into(),
        );
    }
    for (i, &(floor, cap, _, _, _)) in tiers.iter().enumerate() {
        if cap <= floor {
            add(
                i,
                "cap",
                cap.to_string(),
                format!("cap must exceed the floor {floor}"),
            );
        }
    }
    for (i, pair) in tiers.windows(2).enumerate() {
        let (prev, row) = (pair[0], pair[1]);
        let tier = i + 1;
        if row.0 != prev.1 {
            add(
                tier,
                "floor",
                row.0.to_string(),
                format!("floor must equal the previous tier's cap {}", prev.1),
            );
        }
        if row.3 < prev.3 {
            add(
                tier,
                "maint_margin_rate",
                row.3.to_string(),
                format!("maintenance rate falls from {}", prev.3),
            );
        }
        if let (Some(max), Some(prev_max)) = (row.2, prev.2)
            && max > prev_max
        {
            add(
                tier,
                "max_leverage",
                max.to_string(),
                format!("max leverage rises from {prev_max}"),
            );
        }
        let want = maint_amount(row.0, row.3, prev.3, prev.4);
        if row.4 != want {
            let message = format!(
                "expected {want} = {} × ({} − {}) + {}",
                row.0, row.3, prev.3, prev.4
            );
            add(tier, "maint_amount", row.4.to_string(), message);
        }
    }
    out
}

/// Contract rules of one symbol.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    /// USDT, price step
    pub tick_size: Decimal,
    /// base asset, quantity step
    pub lot_size: Decimal,
    /// USDT, the smallest order notional
    pub min_notional: Decimal,
    /// fraction of filled notional, for orders that rested on the book
    pub maker_fee: Decimal,
    /// fraction of filled notional, for orders that took liquidity
    pub taker_fee: Decimal,
    pub brackets: Vec<Tier>,
}

impl InstrumentSpec {
    /// The tier holding `notional` (USDT, taken as its absolute value); past the last cap,
    /// the last tier.
    pub fn tier(&self, notional: Decimal) -> (usize, &Tier) {
        let notional = notional.abs();
        let i = self
            .brackets
            .partition_point(|t| t.cap <= notional)
            .min(self.brackets.len() - 1);
        (i, &self.brackets[i])
    }

    /// Refuses a leverage above what the tier of `notional` allows, saying which tier.
    pub fn check_leverage(&self, notional: Decimal, leverage: Decimal) -> Result<(), String> {
        let (i, tier) = self.tier(notional);
        if leverage > Decimal::from(tier.max_leverage) {
            return Err(format!(
                "leverage {leverage}x exceeds the {}x allowed for a notional of {} USDT (tier {}: {} to {} USDT)",
                tier.max_leverage,
                notional.abs().round_dp(2),
                i + 1,
                tier.floor,
                tier.cap
            ));
        }
        Ok(())
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in [("tick_size", self.tick_size), ("lot_size", self.lot_size)] {
            if value <= Decimal::ZERO {
                out.push(format!("{name} = {value}: must be > 0"));
            }
        }
        if self.min_notional < Decimal::ZERO {
            out.push(format!(
                "min_notional = {}: must be >= 0",
                self.min_notional
            ));
        }
        for (name, value) in [("maker_fee", self.maker_fee), ("taker_fee", self.taker_fee)] {
            if value.abs() >= Decimal::ONE {
                out.push(format!(
                    "{name} = {value}: a fee is a fraction of notional (0.0005 = 0.05 %)"
                ));
            }
        }
        if self.brackets.is_empty() {
            out.push("brackets: at least one tier is needed".into());
        }
        let tiers: Vec<_> = self
            .brackets
            .iter()
            .map(|t| {
                (
                    t.floor,
                    t.cap,
                    Some(t.max_leverage),
                    t.maint_margin_rate,
                    t.maint_amount,
                )
            })
            .collect();
        for p in tier_problems(&tiers) {
            out.push(format!(
                "brackets tier {}: {} = {}: {}",
                p.tier + 1,
                p.field,
                p.value,
                p.message
            ));
        }
        out
    }
}

/// All instruments of one file: per symbol, and a `default` for the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruments {
    /// where they came from, for messages
    pub source: String,
    pub symbols: BTreeMap<String, InstrumentSpec>,
    pub default: Option<InstrumentSpec>,
}

impl Instruments {
    /// The shipped Binance USDⓈ-M file, parsed once per process (every grid point of a
    /// sweep is checked as a spec, and parsing the file was 2 % of a sweep's work).
    pub fn binance_usdm() -> Instruments {
        static PARSED: std::sync::OnceLock<Instruments> = std::sync::OnceLock::new();
        PARSED
            .get_or_init(|| {
                Instruments::parse(BINANCE_USDM, "instruments/binance_usdm.toml")
                    .expect("the shipped instrument file is valid")
            })
            .clone()
    }

    /// Reads an instrument file.
    pub fn load(path: &Path) -> Result<Instruments, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Instruments::parse(&text, &path.display().to_string())
    }

    /// Parses and checks an instrument file's text; errors name the file, symbol and tier.
    pub fn parse(text: &str, source: &str) -> Result<Instruments, String> {
        let mut table: BTreeMap<String, InstrumentSpec> =
            toml::from_str(text).map_err(|e| format!("{source}: {e}"))?;
        let mut problems = Vec::new();
        for (symbol, spec) in &table {
            problems.extend(
                spec.problems()
                    .into_iter()
                    .map(|p| format!("[{symbol}] {p}")),
            );
        }
        if !problems.is_empty() {
            return Err(format!("{source}: {}", problems.join("; ")));
        }
        let default = table.remove("default");
        Ok(Instruments {
            source: source.into(),
            symbols: table,
            default,
        })
    }

    /// Whether the file has an entry of `symbol`'s own (otherwise its `[default]` serves).
    pub fn lists(&self, symbol: &str) -> bool {
        self.symbols.contains_key(symbol)
    }

    /// Where `symbol`'s instrument comes from: its own entry, or the generic `[default]`
    /// when the file does not list it (said, so that a mistyped or unlisted symbol shows).
    pub fn describe(&self, symbol: &str) -> String {
        if self.lists(symbol) {
            format!("{symbol} in {}", self.source)
        } else {
            format!(
                "{symbol} is not listed in {}: its generic [default] applies",
                self.source
            )
        }
    }

    /// The spec of `symbol`, else the file's default.
    pub fn get(&self, symbol: &str) -> Result<&InstrumentSpec, String> {
        self.symbols
            .get(symbol)
            .or(self.default.as_ref())
            .ok_or_else(|| {
                let known: Vec<&str> = self.symbols.keys().map(String::as_str).collect();
                format!(
                    "{}: no instrument {symbol} and no [default] (it has {})",
                    self.source,
                    known.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn every_shipped_table_obeys_the_maintenance_amount_rule() {
        // parse() refuses any table that breaks a rule; this re-checks explicitly
        let inst = Instruments::binance_usdm();
        assert_eq!(
            inst.symbols.keys().collect::<Vec<_>>(),
            ["BTCUSDT", "ETHUSDT"]
        );
        for spec in inst.symbols.values().chain(inst.default.iter()) {
            for pair in spec.brackets.windows(2) {
                let (prev, t) = (&pair[0], &pair[1]);
                assert_eq!(
                    t.maint_amount,
                    maint_amount(
                        t.floor,
                        t.maint_margin_rate,
                        prev.maint_margin_rate,
                        prev.maint_amount
                    )
                );
            }
        }
        // BTCUSDT tier 3: 600,000 × (0.0065 − 0.005) + 50 = 950
        assert_eq!(
            inst.get("BTCUSDT").unwrap().brackets[2].maint_amount,
            d("950")
        );
    }

    #[test]
    fn tier_lookup_uses_inclusive_floor_and_exclusive_cap() {
        let btc = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
        assert_eq!(btc.tier(d("49999.99")).0, 0);
        assert_eq!(btc.tier(d("50000")).0, 1);
        assert_eq!(btc.tier(d("-50000")).0, 1);
        assert_eq!(btc.tier(d("5000000000")).0, btc.brackets.len() - 1);
    }

    #[test]
    fn leverage_above_the_tier_max_is_refused_with_the_reason() {
        let btc = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
        assert!(btc.check_leverage(d("40000"), d("125")).is_ok());
        assert_eq!(
            btc.check_leverage(d("650000"), d("100")).unwrap_err(),
            "leverage 100x exceeds the 75x allowed for a notional of 650000 USDT (tier 3: 600000 to 3000000 USDT)"
        );
    }

    #[test]
    fn unknown_symbols_get_the_default_and_bad_files_are_explained() {
        let inst = Instruments::binance_usdm();
        assert_eq!(inst.get("SOLUSDT").unwrap().brackets[0].max_leverage, 75);
        let bad = r#"
[XUSDT]
tick_size = "0.1"
lot_size = "0.001"
min_notional = "5"
maker_fee = "0.0002"
taker_fee = "0.0005"
brackets = [
    { floor = "0", cap = "50000", max_leverage = 125, maint_margin_rate = "0.004", maint_amount = "0" },
    { floor = "50000", cap = "600000", max_leverage = 100, maint_margin_rate = "0.005", maint_amount = "60" },
]
"#;
        assert_eq!(
            Instruments::parse(bad, "x.toml").unwrap_err(),
            "x.toml: [XUSDT] brackets tier 2: maint_amount = 60: expected 50 = 50000 × (0.005 − 0.004) + 0"
        );
        let typo = bad.replace("taker_fee", "taker_fe");
        let err = Instruments::parse(&typo, "x.toml").unwrap_err();
        assert!(err.contains("unknown field `taker_fe`"), "{err}");
    }

    #[test]
    fn unquoted_numbers_read_exactly() {
        let text = BINANCE_USDM
            .replace("\"0.004\"", "0.004")
            .replace("tick_size = \"0.1\"", "tick_size = 0.1");
        let inst = Instruments::parse(&text, "x.toml").unwrap();
        let btc = inst.get("BTCUSDT").unwrap();
        assert_eq!(
            (btc.tick_size, btc.brackets[0].maint_margin_rate),
            (d("0.1"), d("0.004"))
        );
    }
}
