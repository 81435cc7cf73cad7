//! Instrument specs: contract rules and the tiered leverage brackets exchanges publish.
//!
//! perpsim ships `instruments/binance_usdm.toml` (Binance USDⓈ-M BTCUSDT, ETHUSDT and a
//! generic `default` for other symbols), compiled into the binary so it works from any folder.
//! A spec can point at its own file of the same format to model another venue or another
//! date's table. Every file is checked when loaded (see [`tier_problems`]).
//!
//! Each symbol names the exchange rule its maintenance margin follows
//! (`liquidation_model`, [`LiquidationModel`]); perpsim's margin maths takes every model in
//! one form, notional × rate − amount per tier, with the two variations below.

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde::Deserialize;

/// The shipped Binance USDⓈ-M instrument file.
pub const BINANCE_USDM: &str = include_str!("../instruments/binance_usdm.toml");

/// The shipped Bybit USDT-perpetual instrument file.
pub const BYBIT_USDT: &str = include_str!("../instruments/bybit_usdt.toml");

/// The venues whose instrument files ship with perpsim, by the name a spec or `calc` takes.
pub const SHIPPED_VENUES: [&str; 2] = ["binance", "bybit"];

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
    tier_problems_of(tiers, false)
}

/// [`tier_problems`], or with `whole_position` the rules of a table whose rate applies to
/// the whole position (OKX, Gate): every maintenance amount 0.
pub fn tier_problems_of(
    tiers: &[(Decimal, Decimal, Option<u32>, Decimal, Decimal)],
    whole_position: bool,
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
    for (i, &(floor, cap, _, _, amount)) in tiers.iter().enumerate() {
        if cap <= floor {
            add(
                i,
                "cap",
                cap.to_string(),
                format!("cap must exceed the floor {floor}"),
            );
        }
        if whole_position && !amount.is_zero() {
            add(
                i,
                "maint_amount",
                amount.to_string(),
                "this model applies a tier's rate to the whole position: the amount must be 0"
                    .into(),
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
        if whole_position {
            continue;
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

/// How an exchange computes a position's maintenance margin, the amount its margin balance
/// is liquidated at. Each is its exchange's published rule; the tests hold their worked
/// examples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiquidationModel {
    /// Binance USDⓈ-M: notional at the mark × the tier's rate − its maintenance amount, in
    /// the tier of the notional at the mark.
    #[default]
    Binance,
    /// Bybit USDT contracts: the same table form (rate and "maintenance margin deduction"),
    /// but on the position value at the *entry* price, in the tier of that value: the
    /// maintenance margin stays put while the mark moves, and the liquidation price is
    /// `entry − s·(margin − maintenance)/qty`.
    Bybit,
    /// OKX USDT swaps: liquidated when the margin balance falls to the maintenance margin
    /// plus the liquidation (taker) fee, notional at the mark × (rate + taker fee), the whole
    /// position at its tier's rate (no deduction).
    Okx,
    /// Gate USDT perpetuals: the same condition as OKX, `LP = (entry − s·margin/qty) /
    /// (1 − s·(rate + taker fee))`.
    Gate,
}

impl LiquidationModel {
    /// Whether the maintenance margin is charged on the entry price (else on the mark).
    pub fn on_entry(self) -> bool {
        self == LiquidationModel::Bybit
    }

    /// Whether the taker fee is part of the liquidation condition: perpsim then adds it to
    /// every tier's rate when the file loads.
    pub fn fee_in_maintenance(self) -> bool {
        matches!(self, LiquidationModel::Okx | LiquidationModel::Gate)
    }

    /// Whether a tier's rate applies to the whole position (no maintenance amount), as OKX
    /// and Gate publish their tiers; else the amount keeps the margin continuous.
    pub fn whole_position_tiers(self) -> bool {
        self.fee_in_maintenance()
    }

    pub fn name(self) -> &'static str {
        match self {
            LiquidationModel::Binance => "binance",
            LiquidationModel::Bybit => "bybit",
            LiquidationModel::Okx => "okx",
            LiquidationModel::Gate => "gate",
        }
    }
}

/// Contract rules of one symbol.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    /// the exchange rule the maintenance margin follows (default `binance`)
    #[serde(default)]
    pub liquidation_model: LiquidationModel,
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
    /// the table in force now (since `brackets_from`)
    pub brackets: Vec<Tier>,
    /// the date (UTC) `brackets` took effect; needed with `dated_brackets`
    #[serde(default)]
    pub brackets_from: Option<String>,
    /// earlier tables, oldest first, each in force from its date until the next one's
    #[serde(default)]
    pub dated_brackets: Vec<DatedBrackets>,
}

/// A bracket table of the past and the date it took effect.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatedBrackets {
    /// UTC date or ISO time, "2021-03-26"
    pub from: String,
    pub brackets: Vec<Tier>,
}

/// ms: a table's date, as [`crate::data::time::parse_text_time`] reads it.
fn table_date(text: &str) -> Option<i64> {
    crate::data::time::parse_text_time(text)
}

impl InstrumentSpec {
    /// Every bracket table, oldest first, with the time (ms) from which it applies: the
    /// oldest from the start of time (a run before its date uses the oldest record there
    /// is), the current one last. One table, from the start of time, for an instrument
    /// without dated tables.
    pub fn bracket_tables(&self) -> Vec<(i64, &str, &[Tier])> {
        let mut out: Vec<(i64, &str, &[Tier])> = Vec::new();
        let dated = self
            .dated_brackets
            .iter()
            .map(|t| (t.from.as_str(), t.brackets.as_slice()));
        let current = (
            self.brackets_from.as_deref().unwrap_or(""),
            self.brackets.as_slice(),
        );
        for (k, (from, tiers)) in dated.chain(std::iter::once(current)).enumerate() {
            let start = if k == 0 {
                i64::MIN
            } else {
                table_date(from).unwrap_or(i64::MIN)
            };
            out.push((start, from, tiers));
        }
        out
    }

    /// This instrument with the bracket table in force at `time` (ms) as its `brackets`,
    /// and that table's date.
    pub fn at(&self, time: i64) -> (InstrumentSpec, String) {
        let tables = self.bracket_tables();
        let k = tables.iter().rposition(|t| t.0 <= time).unwrap_or(0);
        let (_, date, tiers) = tables[k];
        let date = date.to_string();
        let spec = InstrumentSpec {
            brackets: tiers.to_vec(),
            ..self.clone()
        };
        (spec, date)
    }

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

    /// Sets the taker fee (a spec's override), keeping a fee-inclusive model's tiers in step
    /// with it.
    pub fn set_taker_fee(&mut self, fee: Decimal) {
        if self.liquidation_model.fee_in_maintenance() {
            let change = fee - self.taker_fee;
            let tables = std::iter::once(&mut self.brackets)
                .chain(self.dated_brackets.iter_mut().map(|t| &mut t.brackets));
            for t in tables.flatten() {
                t.maint_margin_rate += change;
            }
        }
        self.taker_fee = fee;
    }

    /// For a model whose liquidation condition counts the taker fee (OKX, Gate): adds the
    /// fee to every tier's maintenance rate, so that the margin maths' one form,
    /// notional × rate − amount, gives the exchange's maintenance margin plus liquidation fee.
    fn take_fee_into_maintenance(&mut self) {
        if !self.liquidation_model.fee_in_maintenance() {
            return;
        }
        let fee = self.taker_fee;
        let tables = std::iter::once(&mut self.brackets)
            .chain(self.dated_brackets.iter_mut().map(|t| &mut t.brackets));
        for tiers in tables {
            for t in tiers.iter_mut() {
                t.maint_margin_rate += fee;
            }
        }
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
        let whole = self.liquidation_model.whole_position_tiers();
        out.extend(table_problems("brackets", &self.brackets, whole));
        for (k, t) in self.dated_brackets.iter().enumerate() {
            let key = format!("dated_brackets[{k}] (from {:?}) brackets", t.from);
            out.extend(table_problems(&key, &t.brackets, whole));
        }
        out.extend(self.date_problems());
        out
    }

    /// The dates of the tables: readable, and strictly increasing to `brackets_from`.
    fn date_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.dated_brackets.is_empty() {
            return out;
        }
        let Some(current) = &self.brackets_from else {
            out.push(
                "brackets_from: with dated_brackets, the date the current brackets took \
                 effect is needed (brackets_from = \"2024-05-30\")"
                    .into(),
            );
            return out;
        };
        let dates = self
            .dated_brackets
            .iter()
            .enumerate()
            .map(|(k, t)| (format!("dated_brackets[{k}].from"), &t.from))
            .chain(std::iter::once(("brackets_from".to_string(), current)));
        let mut previous: Option<(i64, String, &String)> = None;
        for (key, text) in dates {
            let Some(at) = table_date(text) else {
                out.push(format!(
                    "{key} = {text:?}: not a date (2021-03-26) or ISO time"
                ));
                continue;
            };
            if let Some((before, before_key, before_text)) = &previous
                && at <= *before
            {
                out.push(format!(
                    "{key} = {text:?}: tables overlap: it must come after {before_key} = \
                     {before_text:?} (oldest first, one table per date)"
                ));
            }
            previous = Some((at, key, text));
        }
        out
    }
}

/// The problems of one bracket table, named by `key`.
fn table_problems(key: &str, brackets: &[Tier], whole_position: bool) -> Vec<String> {
    let mut out = Vec::new();
    {
        if brackets.is_empty() {
            out.push(format!("{key}: at least one tier is needed"));
        }
        let tiers: Vec<_> = brackets
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
        for p in tier_problems_of(&tiers, whole_position) {
            out.push(format!(
                "{key} tier {}: {} = {}: {}",
                p.tier + 1,
                p.field,
                p.value,
                p.message
            ));
        }
    }
    out
}

/// The line (1-based) of `text` a dated-table problem of `symbol` is about: the `k`-th
/// `[[SYMBOL.dated_brackets]]` header for `dated_brackets[k]`, the symbol's `brackets_from`.
fn line_of_problem(text: &str, symbol: &str, problem: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let header = |l: &str| l.trim() == format!("[{symbol}]");
    let section = lines.iter().position(|l| header(l))?;
    if problem.starts_with("brackets_from") {
        let found = lines[section..]
            .iter()
            .position(|l| l.trim_start().starts_with("brackets_from"))?;
        return Some(section + found + 1);
    }
    let k: usize = problem
        .strip_prefix("dated_brackets[")?
        .split(']')
        .next()?
        .parse()
        .ok()?;
    let table = format!("[[{symbol}.dated_brackets]]");
    let (line, _) = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == table)
        .nth(k)?;
    // a date's problem points at the table's `from`, the line after its header
    let at_from = problem.contains("].from ");
    Some(line + 1 + usize::from(at_from))
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

    /// The shipped Bybit USDT-perpetual file, parsed once per process.
    pub fn bybit_usdt() -> Instruments {
        static PARSED: std::sync::OnceLock<Instruments> = std::sync::OnceLock::new();
        PARSED
            .get_or_init(|| {
                Instruments::parse(BYBIT_USDT, "instruments/bybit_usdt.toml")
                    .expect("the shipped instrument file is valid")
            })
            .clone()
    }

    /// A shipped venue's file by name ([`SHIPPED_VENUES`]).
    pub fn shipped(venue: &str) -> Result<Instruments, String> {
        match venue {
            "binance" => Ok(Instruments::binance_usdm()),
            "bybit" => Ok(Instruments::bybit_usdt()),
            "okx" | "gate" => Err(format!(
                "{venue:?}: no {venue} instrument file ships with perpsim (its published tier \
                 table was not at hand); write one with liquidation_model = {venue:?} and \
                 point at it (exchange.instruments, or calc's --instruments)"
            )),
            other => Err(format!(
                "{other:?}: not a shipped venue (expected one of {})",
                SHIPPED_VENUES.join(", ")
            )),
        }
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
            problems.extend(spec.problems().into_iter().map(|p| {
                match line_of_problem(text, symbol, &p) {
                    Some(line) => format!("line {line}: [{symbol}] {p}"),
                    None => format!("[{symbol}] {p}"),
                }
            }));
        }
        if !problems.is_empty() {
            return Err(format!("{source}: {}", problems.join("; ")));
        }
        for spec in table.values_mut() {
            spec.take_fee_into_maintenance();
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

    /// A file holding XUSDT with its current table from 2024-05-30 and `dated` before it.
    fn dated(dated: &str) -> String {
        format!(
            r#"
[XUSDT]
tick_size = "0.1"
lot_size = "0.001"
min_notional = "5"
maker_fee = "0.0002"
taker_fee = "0.0005"
brackets = [
    {{ floor = "0", cap = "50000", max_leverage = 125, maint_margin_rate = "0.004", maint_amount = "0" }},
    {{ floor = "50000", cap = "1000000", max_leverage = 100, maint_margin_rate = "0.005", maint_amount = "50" }},
]
brackets_from = "2024-05-30"
{dated}"#
        )
    }

    const TABLE_2021: &str = r#"
[[XUSDT.dated_brackets]]
from = "2021-03-26"
brackets = [
    { floor = "0", cap = "10000", max_leverage = 100, maint_margin_rate = "0.005", maint_amount = "0" },
    { floor = "10000", cap = "1000000", max_leverage = 75, maint_margin_rate = "0.0065", maint_amount = "15" },
]
"#;

    #[test]
    fn dated_tables_apply_from_their_dates_oldest_first() {
        let inst = Instruments::parse(&dated(TABLE_2021), "x.toml").unwrap();
        let x = inst.get("XUSDT").unwrap();
        let tables = x.bracket_tables();
        // the oldest serves from the start of time; the current one from its date
        let starts: Vec<(i64, &str)> = tables.iter().map(|t| (t.0, t.1)).collect();
        assert_eq!(
            starts,
            [(i64::MIN, "2021-03-26"), (1_717_027_200_000, "2024-05-30")]
        );
        assert_eq!(tables[0].2[1].maint_amount, d("15"));
        // the shipped file: BTCUSDT's ten tables from 2021-03-26 to 2024-05-30
        let btc = Instruments::binance_usdm().get("BTCUSDT").unwrap().clone();
        let dates: Vec<&str> = btc.bracket_tables().iter().map(|t| t.1).collect();
        assert_eq!(dates.len(), 10);
        assert_eq!(
            (dates[0], dates[1], dates[9]),
            ("2021-03-26", "2022-02-05", "2024-05-30")
        );
        // 2021: tier 3 is 250,000 to 1,000,000 at 1 %; 2024: 600,000 to 3,000,000 at 0.65 %
        let tier3 = |t: &[Tier]| (t[2].floor, t[2].maint_margin_rate);
        assert_eq!(tier3(btc.bracket_tables()[0].2), (d("250000"), d("0.01")));
        assert_eq!(tier3(&btc.brackets), (d("600000"), d("0.0065")));
    }

    #[test]
    fn overlapping_or_undated_tables_are_refused_with_their_line() {
        let later = TABLE_2021.replace("2021-03-26", "2024-06-01");
        let err = Instruments::parse(&dated(&later), "x.toml").unwrap_err();
        assert_eq!(
            err,
            "x.toml: line 12: [XUSDT] brackets_from = \"2024-05-30\": tables overlap: it must \
             come after dated_brackets[0].from = \"2024-06-01\" (oldest first, one table per date)"
        );
        let twice = format!("{TABLE_2021}{TABLE_2021}");
        let err = Instruments::parse(&dated(&twice), "x.toml").unwrap_err();
        assert!(
            err.contains(
                "line 22: [XUSDT] dated_brackets[1].from = \"2021-03-26\": tables overlap"
            ),
            "{err}"
        );
        let undated = dated(TABLE_2021).replace("brackets_from = \"2024-05-30\"\n", "");
        let err = Instruments::parse(&undated, "x.toml").unwrap_err();
        assert!(err.contains("brackets_from: with dated_brackets"), "{err}");
        let bad_date = TABLE_2021.replace("2021-03-26", "spring 2021");
        let err = Instruments::parse(&dated(&bad_date), "x.toml").unwrap_err();
        assert!(
            err.contains("line 15: [XUSDT] dated_brackets[0].from = \"spring 2021\": not a date"),
            "{err}"
        );
        let bad_tier = TABLE_2021.replace("maint_amount = \"15\"", "maint_amount = \"16\"");
        let err = Instruments::parse(&dated(&bad_tier), "x.toml").unwrap_err();
        assert!(
            err.contains(
                "dated_brackets[0] (from \"2021-03-26\") brackets tier 2: maint_amount = 16: expected 15"
            ),
            "{err}"
        );
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
