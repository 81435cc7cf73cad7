//! `paper`: a history fed line by line gives exactly the run's decisions and fills.

use std::io::Write;
use std::process::{Command, Stdio};

use perpsim::market::{MarketData, NO_BAR};
use perpsim::outcome;
use perpsim::paper::Paper;
use perpsim::spec;
use serde_json::{Value, json};

use super::repo;

/// The history as the messages a connector would send: per step and symbol, the funding
/// settled in the bar, its mark bar, then the bar.
pub fn messages(market: &MarketData) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, &t) in market.clock.iter().enumerate() {
        for (s, h) in market.symbols.iter().enumerate() {
            let at = market.bar_at[s][i];
            if at == NO_BAR {
                continue;
            }
            let at = at as usize;
            let f = &h.funding;
            for k in (0..f.len()).filter(|&k| f.bar[k] as usize == at) {
                lines.push(
                    json!({"type": "funding", "symbol": h.symbol, "time": f.due[k].time,
                           "rate": f.due[k].rate, "mark": f.due[k].mark})
                    .to_string(),
                );
            }
            let m = &h.mark;
            lines.push(
                json!({"type": "mark", "symbol": h.symbol, "open_time": t, "open": m.open[at],
                       "high": m.high[at], "low": m.low[at], "close": m.close[at]})
                .to_string(),
            );
            let c = &h.candles;
            lines.push(
                json!({"symbol": h.symbol, "open_time": t, "open": c.open[at], "high": c.high[at],
                       "low": c.low[at], "close": c.close[at], "volume": c.volume[at]})
                .to_string(),
            );
        }
    }
    lines
}

#[test]
fn paper_fed_a_history_decides_exactly_as_run() {
    for name in ["donchian_breakout", "core_hedge"] {
        let spec = spec::read(&repo().join(format!("strategies/{name}.toml"))).unwrap();
        let market = spec.load_market().unwrap();
        let run = outcome::run(&spec, &market, false);
        let tf = market.symbols[0].timeframe.ms();
        let mut paper = Paper::new(&spec, tf);
        let mut out = Vec::new();
        for (i, line) in messages(&market).iter().enumerate() {
            paper.feed(i + 1, line, &mut out).unwrap();
        }
        paper.finish(&mut out).unwrap();
        assert!(run.trades.len() > 1, "{name}: too few trades to compare");
        assert_eq!(
            paper.engine.venue.events(),
            run.engine.venue.events(),
            "{name}"
        );
        // compared as text: NaN fields (no limit) are equal there, not under `==`
        let text = |e: &[perpsim::risk::audit::RiskEvent]| format!("{e:?}");
        assert!(
            text(paper.engine.risk.audit().events()) == text(run.engine.risk.audit().events()),
            "{name}: risk decisions differ"
        );
        // every output line is JSON with a type; fills are there
        let text = String::from_utf8(out).unwrap();
        let fills = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["type"] == "fill")
            .count();
        assert!(fills >= run.trades.len(), "{name}: {fills} fills");
    }
}

#[test]
fn paper_binary_streams_json_and_names_a_bad_line() {
    let spec = repo().join("strategies/sma_cross.toml");
    let market = spec::read(&spec).unwrap().load_market().unwrap();
    let mut input = messages(&market)[..3 * 400].join("\n");
    input.push_str("\n{\"symbol\":\"BTCUSDT\",\"open_time\":1,\"open\":1}\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_perpsim"))
        .args(["paper", spec.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stdin line 1201"), "{stderr}");
    let kinds: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for kind in ["signal", "order", "fill", "funding"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} line in {kinds:?}"
        );
    }
}

/// The sample's first `n` messages, then `extra` (each a line), fed through `Paper::feed_all`:
/// the error, if any, as text.
fn fed(lines: &[String], extra: &[&[u8]]) -> Result<String, String> {
    let spec = spec::read(&repo().join("strategies/sma_cross.toml")).unwrap();
    let mut input = lines.join("\n").into_bytes();
    for e in extra {
        input.push(b'\n');
        input.extend_from_slice(e);
    }
    let mut paper = Paper::new(&spec, 3_600_000);
    let mut out = Vec::new();
    paper
        .feed_all(&input[..], &mut out)
        .map(|()| String::from_utf8(out).unwrap())
        .map_err(|e| e.to_string())
}

/// A paper stream is checked as a file is: each case names its line and what is wrong, and
/// none is silently dropped or paid twice.
#[test]
fn a_bad_stream_is_refused_at_its_line() {
    let spec = repo().join("strategies/sma_cross.toml");
    let market = spec::read(&spec).unwrap().load_market().unwrap();
    let all = messages(&market);
    // the sample's first 30 steps: mark + bar each, funding every 8th hour (lines 1..)
    let n = all
        .iter()
        .position(|l| l.contains("\"open_time\":1704175200000") && l.contains("\"open\""))
        .unwrap();
    let head = &all[..n];
    let ok = fed(head, &[]).unwrap();
    assert!(
        head.iter().any(|l| l.contains("\"funding\"")),
        "the head holds funding"
    );
    let last_bar = head.iter().rev().find(|l| !l.contains("\"type\"")).unwrap();
    let last_mark = head
        .iter()
        .rev()
        .find(|l| l.contains("\"type\":\"mark\""))
        .unwrap();
    let bar_time: i64 = serde_json::from_str::<Value>(last_bar).unwrap()["open_time"]
        .as_i64()
        .unwrap();
    let line = n + 1;
    let funding = |t: i64, rate: &str| {
        format!("{{\"type\":\"funding\",\"symbol\":\"BTCUSDT\",\"time\":{t},\"rate\":{rate}}}")
    };
    let bar = |t: i64, volume: &str| {
        format!(
            "{{\"symbol\":\"BTCUSDT\",\"open_time\":{t},\"open\":42000,\"high\":42100,\"low\":41900,\"close\":42050,\"volume\":{volume}}}"
        )
    };
    let next = bar_time + 3_600_000;
    let cases: Vec<(&str, Vec<Vec<u8>>, usize, &str)> = vec![
        (
            "a repeated funding message",
            vec![
                funding(next + 7_200_000, "0.0001").into(),
                funding(next + 7_200_000, "0.0001").into(),
            ],
            line + 1,
            "is repeated",
        ),
        (
            "funding after its bar",
            vec![funding(bar_time, "0.0001").into()],
            line,
            "is late: the bar holding it",
        ),
        (
            "funding out of order",
            vec![
                funding(next + 7_200_000, "0.0001").into(),
                funding(next + 3_600_000, "0.0001").into(),
            ],
            line + 1,
            "is out of order",
        ),
        (
            "funding 17 min past the hour",
            vec![funding(next + 17 * 60_000, "0.0001").into()],
            line,
            "not within 60 s of a whole hour",
        ),
        (
            "a funding rate of -10",
            vec![funding(next, "-10").into()],
            line,
            "beyond ±0.1",
        ),
        (
            "a mark bar after its bar",
            vec![last_mark.clone().into()],
            line,
            "is late: a mark bar comes before its bar",
        ),
        (
            "a repeated bar",
            vec![last_bar.clone().into()],
            line,
            "out of order or repeated",
        ),
        (
            "a negative volume",
            vec![bar(next, "-5").into()],
            line,
            "volume: -5: must be ≥ 0",
        ),
        (
            "invalid UTF-8",
            vec![b"{\"symbol\":\"BTC\xffUSDT\"}".to_vec()],
            line,
            "not UTF-8 (byte 15 of the line)",
        ),
        (
            "a line without end",
            vec![vec![b'x'; perpsim::paper::MAX_LINE + 10]],
            line,
            "longer than 1048576 bytes",
        ),
    ];
    for (case, extra, at, words) in cases {
        let extra: Vec<&[u8]> = extra.iter().map(Vec::as_slice).collect();
        let e = fed(head, &extra).expect_err(case);
        assert!(e.starts_with(&format!("stdin line {at}: ")), "{case}: {e}");
        assert!(e.contains(words), "{case}: {e}");
    }
    // a BOM before the first message is not an error
    let mut with_bom = head.to_vec();
    with_bom[0] = format!("\u{feff}{}", with_bom[0]);
    assert_eq!(fed(&with_bom, &[]).unwrap(), ok);
}
