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
fn messages(market: &MarketData) -> Vec<String> {
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
