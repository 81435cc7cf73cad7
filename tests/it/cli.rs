//! The `perpsim` binary: output and exit codes (0 ok, 1 the work failed, 2 wrong usage).

use std::process::{Command, Output};

use tempfile::TempDir;

use crate::{repo, write};

fn perpsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perpsim"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn data_check_passes_on_the_sample() {
    let out = perpsim(&["data", "check", "data"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("6 file(s) checked, all passed"), "{stdout}");
    assert!(
        stdout.contains("Binance Vision kline (12 columns, header)"),
        "{stdout}"
    );
}

#[test]
fn data_check_fails_with_the_line_and_exit_1() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "bad.csv",
        "open_time,open,high,low,close,volume\n0,1,2,0.5,1,1\n3600000,1,0.5,0.5,1,1\n",
    );
    let out = perpsim(&["data", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout)
            .contains("line 3, column 'high', value 0.5: high is below max(open, close) = 1")
    );
    assert_eq!(
        text(&out.stderr),
        "error: 1 of 1 file(s) failed the checks\n"
    );
    let missing = perpsim(&["data", "check", "no/such/file.csv"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        text(&missing.stderr),
        "error: no/such/file.csv: no such file or directory\n"
    );
}

#[test]
fn usage_errors_exit_2_and_bad_input_exits_1() {
    assert_eq!(perpsim(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        perpsim(&["data", "check", "data", "--column", "opne=x"])
            .status
            .code(),
        Some(2)
    );
    let shard = perpsim(&[
        "sweep",
        "strategies/leverage_survival.toml",
        "--shard",
        "3/2",
    ]);
    assert_eq!(shard.status.code(), Some(2));
    assert!(text(&shard.stderr).contains("--shard 3/2"));
    // a spec without a [sweep] table is bad input
    let sweep = perpsim(&["sweep", "strategies/sma_cross.toml"]);
    assert_eq!(sweep.status.code(), Some(1));
    assert!(text(&sweep.stderr).contains("no [sweep] table"));
    // a missing spec is bad input, not bad usage: exit 1, naming the file
    let run = perpsim(&["run", "strategies/x.toml"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).contains("strategies/x.toml"));
    let help = perpsim(&["sweep", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("--resume"));
}

#[test]
fn synth_is_deterministic_and_its_output_passes_the_checks() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (out, zip) in [(&a, true), (&b, true)] {
        let mut args = vec![
            "synth",
            "--out",
            out.to_str().unwrap(),
            "--seed",
            "3",
            "--days",
            "40",
            "--timeframe",
            "15m",
        ];
        args.extend(["--symbol", "SOLUSDT:150:1.6", "--symbol", "BTCUSDT:60000"]);
        if zip {
            args.push("--zip");
        }
        let status = perpsim(&args);
        assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    }
    let mut names: Vec<_> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6);
    for name in &names {
        assert_eq!(
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
            "{name:?}"
        );
    }
    let check = perpsim(&["data", "check", a.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    let bad = perpsim(&[
        "synth",
        "--out",
        a.to_str().unwrap(),
        "--correlation",
        "1.5",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        text(&bad.stderr),
        "error: correlation 1.5 must be in [0, 1)\n"
    );
}

#[test]
fn calc_liq_prints_the_price_and_json() {
    // The issue's 10x long at 65,000 with a 0.4 % rate: (6,500 − 65,000) / (0.004 − 1) = 58,734.94
    let out = perpsim(&[
        "calc",
        "liq",
        "--side",
        "long",
        "--entry",
        "65000",
        "--qty",
        "1",
        "--leverage",
        "10",
        "--mmr",
        "0.004",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(
        "liquidation price  58734.94 USDT (9.64% below entry)\nbankruptcy price   58500 USDT\n"
    ));
    // Binance's published case: wallet 500, 0.02 BTC long at 50,000 → 25,100.40
    let out = perpsim(&[
        "calc",
        "liq",
        "--side",
        "long",
        "--entry",
        "50000",
        "--qty",
        "0.02",
        "--wallet",
        "500",
        "--margin-mode",
        "cross",
        "--json",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        value["liquidation_price"],
        serde_json::json!(25100.40160643)
    );
    assert_eq!(value["bankruptcy_price"], serde_json::json!(25000.0));
    assert_eq!(
        (
            value["maint_margin_rate"].as_f64(),
            value["maint_amount"].as_f64()
        ),
        (Some(0.004), Some(0.0))
    );
    assert_eq!(value["tier"], serde_json::json!(1));
}

#[test]
fn calc_liq_refuses_leverage_above_the_tier_and_bad_usage() {
    let out = perpsim(&[
        "calc",
        "liq",
        "--side",
        "long",
        "--entry",
        "65000",
        "--qty",
        "10",
        "--leverage",
        "100",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: leverage 100x exceeds the 75x allowed for a notional of 650000 USDT (tier 3: 600000 to 3000000 USDT)\n"
    );
    let isolated_other = perpsim(&[
        "calc",
        "liq",
        "--side",
        "long",
        "--entry",
        "1",
        "--qty",
        "1",
        "--wallet",
        "1",
        "--other",
        "ETHUSDT:short:1:1:1",
    ]);
    assert_eq!(isolated_other.status.code(), Some(2));
    assert_eq!(
        perpsim(&["calc", "kelly", "--win-rate", "0.55"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn calc_kelly_gives_full_and_scaled_fractions() {
    // p = 0.55, w = 2 %, l = 1.5 %: full Kelly (1.3333 × 0.55 − 0.45) / 1.3333 = 21.25 %, half 10.625 %
    let out = perpsim(&[
        "calc",
        "kelly",
        "--win-rate",
        "0.55",
        "--avg-win",
        "0.02",
        "--avg-loss",
        "0.015",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "payoff ratio       1.3333 (average win / average loss)\nfull Kelly         21.25 % of equity\nscaled (0.5×)      10.625 % of equity\n"
    );
    let json = perpsim(&[
        "calc",
        "kelly",
        "--win-rate",
        "0.55",
        "--avg-win",
        "0.02",
        "--avg-loss",
        "0.015",
        "--json",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!((value["scaled_kelly"].as_f64().unwrap() - 0.10625).abs() < 1e-12);
    assert_eq!(
        perpsim(&[
            "calc",
            "kelly",
            "--win-rate",
            "1.5",
            "--avg-win",
            "1",
            "--avg-loss",
            "1"
        ])
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn calc_size_sizes_by_risk_and_checks_the_stop_against_liquidation() {
    // 10,000 × 1 % / (65,000 − 63,700) = 0.0769 → 0.076 BTC at the lot step; notional 4,940;
    // 10x margin 494; LP (494 − 4,940) / (0.076 × 0.004 − 0.076) = 58,734.94, below the stop
    let args = [
        "calc",
        "size",
        "--equity",
        "10000",
        "--entry",
        "65000",
        "--stop",
        "63700",
        "--risk",
        "0.01",
        "--leverage",
        "10",
        "--json",
    ];
    let value: serde_json::Value = serde_json::from_slice(&perpsim(&args).stdout).unwrap();
    assert_eq!(
        (
            value["qty"].as_f64(),
            value["notional"].as_f64(),
            value["margin"].as_f64()
        ),
        (Some(0.076), Some(4940.0), Some(494.0))
    );
    assert!((value["liquidation_price"].as_f64().unwrap() - 58_734.939_759).abs() < 1e-3);
    assert_eq!(value["stop_before_liquidation"], serde_json::json!(true));
    // at 20x with a stop at 55,000 the position is liquidated first (LP 61,997.99)
    let late = perpsim(&[
        "calc",
        "size",
        "--equity",
        "10000",
        "--entry",
        "65000",
        "--stop",
        "55000",
        "--risk",
        "0.05",
        "--leverage",
        "20",
    ]);
    assert!(text(&late.stdout).contains(
        "liquidation price  61997.99 USDT\nstop               55000 comes AFTER liquidation"
    ));
    // the instrument is named; a symbol the file does not list says its [default] applies
    assert!(text(&late.stdout).starts_with("instrument         BTCUSDT in instruments/"));
    let mut other = args.to_vec();
    other.extend(["--symbol", "BTCUSTD"]);
    let value: serde_json::Value = serde_json::from_slice(&perpsim(&other).stdout).unwrap();
    let source = value["instrument"].as_str().unwrap_or_default();
    assert!(
        source.starts_with("BTCUSTD is not listed") && source.ends_with("[default] applies"),
        "{source}"
    );
}

#[test]
fn run_and_sweep_write_their_reports() {
    let dir = TempDir::new().unwrap();
    let run_dir = dir.path().join("run");
    let out = perpsim(&[
        "run",
        "strategies/buy_and_hold.toml",
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(run_dir.join("report.html").is_file());
    assert!(run_dir.join("equity.png").is_file());

    let data = repo().join("data");
    let spec = write(
        dir.path(),
        "tiny.toml",
        &format!(
            r#"name = "tiny"
[data]
timeframe = "4h"
to = "2024-03-01"
[[data.symbols]]
symbol = "BTCUSDT"
candles = "{d}/BTCUSDT-1h.zip"
[strategy]
kind = "buy_and_hold"
[sweep]
"risk.max_leverage" = [1, 3]
[sweep.montecarlo]
paths = 3
block = 6
"#,
            d = data.display()
        ),
    );
    let sweep_dir = dir.path().join("sweep");
    let out = perpsim(&[
        "sweep",
        spec.to_str().unwrap(),
        "--out",
        sweep_dir.to_str().unwrap(),
        "--report-all",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("index.html"));
    assert!(sweep_dir.join("index.html").is_file());
    for id in 0..2 {
        assert!(
            sweep_dir
                .join(format!("configs/{id}/report.html"))
                .is_file(),
            "--report-all: no report for configuration {id}"
        );
    }
}

#[test]
fn calc_liq_uses_the_bracket_table_in_force_on_a_date() {
    // 20 BTC long from 50,000 at 10x (margin 100,000), notional 1,000,000. On 2021-06-01 the
    // 2021-03-26 table's tier 3 (1 %, amount 1,300) holds it at LP:
    //   (100,000 + 1,300 − 1,000,000) / (20 × 0.01 − 20) = 45,388.89
    // today's tier 3 (0.65 %, amount 950): (100,000 + 950 − 1,000,000) / (0.13 − 20) = 45,246.60
    let args = |date: Option<&str>| {
        let mut a = vec![
            "calc", "liq", "--side", "long", "--entry", "50000", "--qty", "20",
        ];
        a.extend(["--leverage", "10"]);
        if let Some(d) = date {
            a.extend(["--date", d]);
        }
        perpsim(&a)
    };
    let then = args(Some("2021-06-01"));
    assert_eq!(then.status.code(), Some(0), "{}", text(&then.stderr));
    let out = text(&then.stdout);
    assert!(out.starts_with("liquidation price  45388.89 USDT"), "{out}");
    assert!(out.contains("table of 2021-03-26"), "{out}");
    let now = text(&args(None).stdout);
    assert!(now.starts_with("liquidation price  45246.60 USDT"), "{now}");
    let bad = args(Some("June"));
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("--date 'June'"));
}

#[test]
fn a_bot_the_kill_switch_stopped_says_so_in_the_terminal_summary_and_report() {
    // sma_cross behind the default rules: the 30 % kill switch (no cool-down) stops it on
    // 2025-01-25; it survived, and every output says it was halted
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("run");
    let run = perpsim(&[
        "run",
        "strategies/sma_cross.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let terminal = text(&run.stdout);
    assert!(terminal.contains("survived, halted"), "{terminal}");
    assert!(
        terminal.contains("halted      for good by max_drawdown on 2025-01-25"),
        "{terminal}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let m = &summary;
    assert_eq!(m["outcome"], "halted");
    assert_eq!(m["survived"], true);
    assert_eq!(m["halted"]["rule"], "max_drawdown");
    assert!(m["halted"]["refused_after"].as_u64().unwrap() > 100);
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("answer outcome-halted"));
    assert!(report.contains("stopped it for good on 2025-01-25"));
}

/// Hourly klines `from..to` (bar numbers), prices on a gentle zig-zag; `shift` moves the price
/// path by that many bars (a mark file that is a bar late).
fn klines(from: i64, to: i64, shift: i64, volume: f64) -> String {
    let mut out = String::from("open_time,open,high,low,close,volume\n");
    for i in from..to {
        let p = |k: i64| 40_000.0 * (1.0 + 0.004 * ((k % 7) as f64 - 3.0));
        let (open, close) = (p(i - shift), p(i + 1 - shift));
        let (high, low) = (open.max(close) * 1.001, open.min(close) * 0.999);
        let t = 1_704_067_200_000 + i * 3_600_000;
        out += &format!("{t},{open},{high},{low},{close},{volume}\n");
    }
    out
}

/// `data check` joins the files of a series and pairs mark with last price as a run does,
/// so it refuses what a run refuses: a header-only file, overlapping files, a gap at a seam,
/// the same rows as `.csv` and `.zip`, a header-only funding file, a mark a bar late.
#[test]
fn data_check_refuses_what_a_run_refuses() {
    let dir = TempDir::new().unwrap();
    let folder = |name: &str, files: &[(&str, String)]| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        for (file, text) in files {
            write(&d, file, text);
        }
        d
    };
    let zipped = {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file(
            "BTCUSDT-1h-2024-01.csv",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut zip, klines(0, 100, 0, 5.0).as_bytes()).unwrap();
        zip.finish().unwrap().into_inner()
    };
    let header = "open_time,open,high,low,close,volume\n".to_string();
    let cases: Vec<(&str, std::path::PathBuf, Option<std::path::PathBuf>, &str)> = vec![
        (
            "header",
            folder("header", &[("BTCUSDT-1h-2024-01.csv", header)]),
            None,
            "holds no candles: a header and no rows",
        ),
        (
            "overlap",
            folder(
                "overlap",
                &[
                    ("BTCUSDT-1h-2024-01.csv", klines(0, 100, 0, 5.0)),
                    ("BTCUSDT-1h-2024-02.csv", klines(90, 200, 0, 5.0)),
                ],
            ),
            None,
            "the files overlap",
        ),
        (
            "seam",
            folder(
                "seam",
                &[
                    ("BTCUSDT-1h-2024-01.csv", klines(0, 100, 0, 5.0)),
                    ("BTCUSDT-1h-2024-02.csv", klines(110, 200, 0, 5.0)),
                ],
            ),
            None,
            "gap between files",
        ),
        (
            "twice",
            {
                let d = folder(
                    "twice",
                    &[("BTCUSDT-1h-2024-01.csv", klines(0, 100, 0, 5.0))],
                );
                std::fs::write(d.join("BTCUSDT-1h-2024-01.zip"), &zipped).unwrap();
                d
            },
            None,
            "the files overlap",
        ),
        (
            "late mark",
            folder("ok", &[("BTCUSDT-1h.csv", klines(0, 200, 0, 5.0))]),
            Some(folder(
                "mark",
                &[("BTCUSDT-1h-markPrice.csv", klines(0, 200, 1, 0.0))],
            )),
            "looks one bar late",
        ),
    ];
    for (case, candles, mark, words) in cases {
        let mut args = vec!["data", "check", candles.to_str().unwrap()];
        if let Some(m) = &mark {
            args.push(m.to_str().unwrap());
        }
        let check = perpsim(&args);
        let stdout = text(&check.stdout);
        assert_eq!(check.status.code(), Some(1), "{case}: {stdout}");
        assert!(stdout.contains(words), "{case}: {stdout}");
        assert!(
            text(&check.stderr).contains("would be refused by a run"),
            "{case}: {}",
            text(&check.stderr)
        );
        // and the run refuses the same
        let mark_line = mark.map_or(String::new(), |m| format!("mark = {:?}\n", m));
        let spec = write(
            dir.path(),
            "spec.toml",
            &format!(
                "name = \"x\"\n[data]\ntimeframe = \"1h\"\n[[data.symbols]]\nsymbol = \"BTCUSDT\"\ncandles = {:?}\n{mark_line}[strategy]\nkind = \"buy_and_hold\"\n",
                candles
            ),
        );
        let out = dir.path().join("out");
        let run = perpsim(&[
            "run",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.status.code(), Some(1), "{case}: {}", text(&run.stdout));
        assert!(
            text(&run.stderr).contains(words),
            "{case}: {}",
            text(&run.stderr)
        );
    }
    // a header-only funding file, which a run would take for no funding at all
    let funding = folder(
        "funding",
        &[(
            "BTCUSDT-fundingRate-2024-01.csv",
            "calc_time,funding_interval_hours,last_funding_rate\n".into(),
        )],
    );
    let check = perpsim(&["data", "check", funding.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stdout));
    assert!(
        text(&check.stdout).contains("holds no funding settlements"),
        "{}",
        text(&check.stdout)
    );
    // the same candles with a mark on time pass, compared
    let mark = folder(
        "mark_on_time",
        &[("BTCUSDT-1h-markPrice.csv", klines(0, 200, 0, 0.0))],
    );
    let good = perpsim(&[
        "data",
        "check",
        dir.path().join("ok").to_str().unwrap(),
        mark.to_str().unwrap(),
    ]);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good.stdout));
    assert!(
        text(&good.stdout).contains("mark on time"),
        "{}",
        text(&good.stdout)
    );
}

/// A spec with a [sweep] table: its grid writes reports/<name>/ and its base run
/// reports/<name>-base/, in either order, and a run never writes into a sweep's folder.
#[test]
fn a_run_and_the_sweep_of_one_spec_keep_to_their_own_folders() {
    let dir = TempDir::new().unwrap();
    let data = repo().join("data");
    let spec = write(
        dir.path(),
        "s.toml",
        &format!(
            "name = \"s\"\n[data]\ntimeframe = \"4h\"\nto = \"2024-04-01\"\n[[data.symbols]]\nsymbol = \"BTCUSDT\"\ncandles = {:?}\n[strategy]\nkind = \"sma_cross\"\n[sweep]\n\"risk.max_leverage\" = [2, 3]\n",
            data.join("BTCUSDT-1h.zip")
        ),
    );
    let at = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_perpsim"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let spec = spec.to_str().unwrap();
    for args in [["run", spec], ["sweep", spec], ["run", spec]] {
        let out = at(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let reports = dir.path().join("reports");
    assert!(reports.join("s/results.csv").is_file() && !reports.join("s/summary.json").exists());
    assert!(
        reports.join("s-base/summary.json").is_file()
            && !reports.join("s-base/results.csv").exists()
    );
    let into = at(&["run", spec, "--out", reports.join("s").to_str().unwrap()]);
    assert_eq!(into.status.code(), Some(1));
    assert!(
        text(&into.stderr).contains("holds a sweep's results"),
        "{}",
        text(&into.stderr)
    );
}

/// The README's two spec errors, from the specs it names.
#[test]
fn the_readme_spec_errors_are_what_the_shipped_examples_give() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for name in ["typo", "bad"] {
        let file = format!("examples/errors/{name}.toml");
        let out = perpsim(&["run", &file]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = text(&out.stderr);
        let shown = readme
            .lines()
            .find(|l| l.starts_with(&format!("error: {file}:")))
            .unwrap_or_else(|| panic!("the README shows no error for {file}"));
        let shown = shown.trim_end_matches('…').trim_end_matches(", ");
        assert!(
            stderr.starts_with(shown),
            "README: {shown}\nactual: {stderr}"
        );
    }
}
