use super::*;

/// A spec on the sample data, as written from the repository root's `strategies/`.
fn sample(extra: &str) -> String {
    format!(
        r#"name = "t"

[data]
timeframe = "1h"
from = "2024-01-01"
to = "2024-03-01"

[[data.symbols]]
symbol = "BTCUSDT"
candles = "../data/BTCUSDT-1h.zip"
mark = "../data/BTCUSDT-1h-markPrice.zip"
funding = "../data/BTCUSDT-fundingRate.zip"

[strategy]
kind = "sma_cross"
fast = 10
slow = 30
{extra}"#
    )
}

fn file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/t.toml")
}

#[test]
fn a_good_spec_checks_with_defaults() {
    let spec = parse(&sample(""), &file()).unwrap();
    assert_eq!(spec.symbols[0].symbol, "BTCUSDT");
    assert!(spec.symbols[0].candles.ends_with("data/BTCUSDT-1h.zip"));
    assert_eq!(spec.balance, Decimal::from(10_000));
    assert_eq!(spec.margin_mode, MarginMode::Isolated);
    assert_eq!(spec.risk.max_leverage, Some(3.0));
    assert_eq!(
        spec.strategy_params.get("fast"),
        Some(&toml::Value::Integer(10))
    );
}

#[test]
fn a_symbol_the_instrument_file_does_not_list_is_said_to_take_its_default() {
    let listed = parse(&sample(""), &file()).unwrap();
    assert!(listed.unlisted.is_empty() && listed.unlisted_note().is_none());
    let text = sample("").replace("symbol = \"BTCUSDT\"", "symbol = \"SOLUSDT\"");
    let spec = parse(&text, &file()).unwrap();
    assert_eq!(spec.unlisted, ["SOLUSDT"]);
    let note = spec.unlisted_note().unwrap();
    assert!(
        note.starts_with("SOLUSDT not listed in instruments/binance_usdm.toml"),
        "{note}"
    );
    // the generic default's brackets, not BTCUSDT's
    let default = Instruments::binance_usdm().default.clone().unwrap();
    assert_eq!(spec.instruments[0].brackets, default.brackets);
}

#[test]
fn unknown_key_names_line_and_closest_key() {
    let text = sample("\n[risk]\nmax_levrage = 5\n");
    let e = parse(&text, &file()).unwrap_err();
    assert_eq!(e.field, "risk.max_levrage");
    assert_eq!(
        e.line,
        Some(line_of_key(&text, "risk.max_levrage").unwrap())
    );
    assert!(e.message.contains("did you mean `max_leverage`?"), "{e}");
    assert!(e.to_string().starts_with(&format!("{}:", file().display())));
}

#[test]
fn unknown_strategy_parameter_names_its_line() {
    let text = sample("slwo = 40\n");
    let e = parse(&text, &file()).unwrap_err();
    assert_eq!(e.field, "strategy.slwo");
    assert_eq!(e.line, line_of_key(&text, "strategy.slwo"));
    assert!(e.line.is_some());
}

#[test]
fn range_errors_name_the_field_and_line() {
    let cases = [
        ("\n[risk]\nmax_leverage = -2\n", "risk.max_leverage"),
        ("\n[account]\nbalance = 0\n", "account.balance"),
        ("\n[exchange]\ntaker_fee = 0.5\n", "exchange.taker_fee"),
        (
            "\n[exchange]\nmargin_call_ratio = 1.5\n",
            "exchange.margin_call_ratio",
        ),
    ];
    for (extra, field) in cases {
        let text = sample(extra);
        let e = parse(&text, &file()).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert_eq!(e.line, line_of_key(&text, field), "{e}");
        assert!(e.line.is_some(), "{e}");
    }
    let text = sample("").replace("fast = 10", "fast = 40");
    let e = parse(&text, &file()).unwrap_err();
    assert_eq!(e.field, "strategy.fast");
    let text = sample("").replace("\"1h\"", "\"7x\"");
    let e = parse(&text, &file()).unwrap_err();
    assert_eq!((e.field.as_str(), e.line), ("data.timeframe", Some(4)));
    assert!(e.message.contains("known"), "{e}");
}

#[test]
fn bad_values_name_their_key_and_line() {
    let cases = [
        ("\n[risk]\nsizing = \"kely\"\n", "risk.sizing", "kelly"),
        (
            "\n[risk]\nlosing_streak_cooldown = \"5x\"\n",
            "risk.losing_streak_cooldown",
            "duration",
        ),
        (
            "\n[risk]\nrequire_stop = 3\n",
            "risk.require_stop",
            "boolean",
        ),
        (
            "\n[exchange]\nslippage = { model = \"fixd_bps\", bps = 2 }\n",
            "exchange.slippage",
            "fixed_bps",
        ),
    ];
    for (extra, field, hint) in cases {
        let text = sample(extra);
        let e = parse(&text, &file()).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert_eq!(e.line, line_of_key(&text, field), "{e}");
        assert!(e.message.contains(hint), "{e}");
    }
}

#[test]
fn missing_files_and_unknown_kinds_are_named() {
    let text = sample("").replace("BTCUSDT-1h.zip", "nope.zip");
    let e = parse(&text, &file()).unwrap_err();
    assert_eq!(e.field, "data.symbols.candles");
    assert!(e.message.contains("nope.zip"), "{e}");
    let text = sample("").replace("sma_cross", "sma_crosss");
    let e = parse(&text, &file()).unwrap_err();
    assert_eq!(e.field, "strategy.kind");
    assert!(e.message.contains("ema_cross"), "{e}");
}

#[test]
fn a_shipped_venue_is_named_in_the_exchange_table() {
    let spec = parse(&sample("\n[exchange]\nvenue = \"bybit\"\n"), &file()).unwrap();
    let btc = &spec.instruments[0];
    assert_eq!(
        (btc.liquidation_model, btc.taker_fee),
        (
            crate::instrument::LiquidationModel::Bybit,
            Decimal::new(55, 5)
        )
    );
    // Bybit's file lists BTCUSDT only: another symbol is refused, not given BTCUSDT's tiers
    let eth = sample("\n[exchange]\nvenue = \"bybit\"\n")
        .replace("symbol = \"BTCUSDT\"", "symbol = \"ETHUSDT\"");
    let e = parse(&eth, &file()).unwrap_err();
    assert!(e.message.contains("no instrument ETHUSDT"), "{e}");
    let both = "\n[exchange]\nvenue = \"bybit\"\ninstruments = \"x.toml\"\n";
    let e = parse(&sample(both), &file()).unwrap_err();
    assert_eq!(e.field, "exchange.venue");
    assert!(e.message.contains("not both"), "{e}");
    let e = parse(&sample("\n[exchange]\nvenue = \"okx\"\n"), &file()).unwrap_err();
    assert!(e.message.contains("no okx instrument file ships"), "{e}");
    let e = parse(&sample("\n[exchange]\nvenue = \"bybt\"\n"), &file()).unwrap_err();
    assert!(e.message.contains("expected one of binance, bybit"), "{e}");
    assert_eq!(
        e.line,
        Some(
            line_of_key(
                &sample("\n[exchange]\nvenue = \"bybt\"\n"),
                "exchange.venue"
            )
            .unwrap()
        )
    );
}

/// Every spec error names the full key, its line, and for a typo the closest valid key: the
/// cases a user met with an empty field name (`strategy.: invalid type`, `:1: : missing field`)
/// or no suggestion.
#[test]
fn every_error_names_the_full_key_its_line_and_the_closest_key() {
    // (how the sample is changed, field, line's text, words the message holds)
    let cases: &[(&str, &str, &str, Option<&str>, &str)] = &[
        (
            "fast = 10",
            "fsat = 10",
            "strategy.fsat",
            Some("fsat = 10"),
            "did you mean `fast`?",
        ),
        (
            "fast = 10",
            "fast = \"x\"",
            "strategy.fast",
            Some("fast = \"x\""),
            "invalid type",
        ),
        (
            "[strategy]",
            "[strategyy]",
            "strategyy",
            Some("[strategyy]"),
            "did you mean `strategy`?",
        ),
        (
            "",
            "\n[riskk]\npreset = \"off\"\n",
            "riskk",
            Some("[riskk]"),
            "did you mean `risk`?",
        ),
        (
            "",
            "\n[risk]\npreset = 3\n",
            "risk.preset",
            Some("preset = 3"),
            "invalid type",
        ),
        (
            "candles = ",
            "candels = ",
            "data.symbols.candels",
            Some("candels = "),
            "did you mean `candles`?",
        ),
        (
            "",
            "\n[account]\nbalance = \"x\"\n",
            "account.balance",
            Some("balance = \"x\""),
            "invalid type",
        ),
        (
            "",
            "\n[exchange]\nslippage = { model = \"fixed_bps\" }\n",
            "exchange.slippage.bps",
            Some("slippage = "),
            "missing",
        ),
        (
            "",
            "\n[exchange]\nslippage = { model = \"fixed_bps\", bps = 2, bsp = 1 }\n",
            "exchange.slippage.bsp",
            Some("slippage = "),
            "unknown key `bsp`",
        ),
        ("name = \"t\"\n", "", "name", None, "missing"),
        (
            "timeframe = \"1h\"",
            "timeframe = \"1h\"\n[[data.symbolz]]",
            "data.symbolz",
            Some("[[data.symbolz]]"),
            "did you mean `symbols`?",
        ),
    ];
    for (from, to, field, line_text, words) in cases {
        let text = if from.is_empty() {
            sample(to)
        } else {
            sample("").replacen(from, to, 1)
        };
        let e = parse(&text, &file()).unwrap_err();
        assert_eq!(e.field, *field, "{text}\n{e}");
        let line = line_text.map(|t| {
            let at = text.find(t).unwrap();
            text[..at].matches('\n').count() + 1
        });
        assert_eq!(e.line, line, "{e}");
        assert!(e.message.contains(words), "{e}");
    }
    // a section missing altogether: its name, and no line 1 that is not it
    let e = parse("name = \"t\"\n[strategy]\nkind = \"sma_cross\"\n", &file()).unwrap_err();
    assert_eq!((e.field.as_str(), e.line), ("data", None), "{e}");
    // a key missing in an array-of-tables entry: the entry's header
    let text = sample("").replace("candles = \"../data/BTCUSDT-1h.zip\"\n", "");
    let e = parse(&text, &file()).unwrap_err();
    assert_eq!(e.field, "data.symbols.candles", "{e}");
    assert_eq!(
        e.line,
        Some(line_of_key(&text, "data.symbols").unwrap()),
        "{e}"
    );
}

#[test]
fn a_huge_or_binary_spec_is_refused_before_it_is_read_whole() {
    let dir = tempfile::TempDir::new().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; (MAX_SPEC_BYTES + 1) as usize]).unwrap();
    let e = read(&big).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("big.toml: longer than 1 MiB: not a spec (a spec is a few KB of TOML)"),
        "{e}"
    );
    let binary = dir.path().join("bin.toml");
    std::fs::write(&binary, b"name = \"t\"\n\n[data]\ntimeframe = \"1\xffh\"\n").unwrap();
    let e = read(&binary).unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (Some(4), "not UTF-8 text"),
        "{e}"
    );
}
