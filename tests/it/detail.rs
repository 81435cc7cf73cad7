//! `data.detail`: the exchange walks finer bars inside each trading bar, end to end from
//! files, and bad detail input is refused before any run.

use perpsim::exchange::venue::EventKind;
use perpsim::{outcome, spec};

use crate::write;

const HOUR: i64 = 3_600_000;
/// 2024-01-01 00:00 UTC, ms
const T0: i64 = 1_704_067_200_000;

/// Three days of hourly BTC bars at a flat 100 (wiggling ±0.1), except that day 2 crashes at
/// 20:00 (low 50), and funding of −0.1 % (longs receive) at 00:00, 08:00 and 16:00.
fn files(dir: &std::path::Path) {
    let mut candles = String::from("open_time,open,high,low,close,volume\n");
    for h in 0..72i64 {
        let low = if h == 2 * 24 + 20 { 50.0 } else { 99.9 };
        candles.push_str(&format!("{},100,100.1,{low},100,1\n", T0 + h * HOUR));
    }
    write(dir, "candles.csv", &candles);
    let mut funding = String::from("funding_time,funding_rate\n");
    for k in 0..9i64 {
        funding.push_str(&format!("{},-0.001\n", T0 + k * 8 * HOUR));
    }
    write(dir, "funding.csv", &funding);
}

fn spec_text(detail: &str) -> String {
    format!(
        r#"
name = "detail"
[data]
timeframe = "1d"
{detail}
[[data.symbols]]
symbol = "BTCUSDT"
candles = "candles.csv"
funding = "funding.csv"
[account]
balance = 10000
margin_mode = "isolated"
[strategy]
kind = "naive_leverage"
retry_bars = 1000
[risk]
preset = "off"
max_leverage = 10
"#
    )
}

/// (time, paid) of every funding event, and the liquidations' times.
fn run(dir: &std::path::Path, detail: &str) -> (Vec<(i64, f64)>, Vec<i64>) {
    let path = write(dir, "spec.toml", &spec_text(detail));
    let spec = spec::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    let market = spec.load_market().unwrap();
    let result = outcome::run(&spec, &market, false);
    let events = result.engine.venue.events();
    let funding = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Funding { paid, .. } => Some((e.time - T0, paid.try_into().unwrap())),
            _ => None,
        })
        .collect();
    let liquidations = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Liquidation { .. }))
        .map(|e| e.time - T0)
        .collect();
    (funding, liquidations)
}

#[test]
fn hourly_detail_places_settlements_before_a_liquidation_inside_the_day() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    // The bot buys at day 0's close, filled at day 1's 00:00 open at 100: 10x on 95 % of the
    // wallet. Day 2's bar holds the crash at 20:00 (liquidated), after its 08:00 and 16:00
    // settlements, both receipts (−0.1 % for a long).
    let (coarse, coarse_liq) = run(dir.path(), "");
    let (fine, fine_liq) = run(dir.path(), "detail = \"1h\"");
    let day = 24 * HOUR;
    assert_eq!(coarse_liq, [2 * day]);
    assert_eq!(fine_liq, [2 * day]);
    let times = |f: &[(i64, f64)]| f.iter().map(|x| x.0).collect::<Vec<_>>();
    // From the day bar alone the liquidation's moment is unknown: day 1's receipts are
    // booked (the position held through it), day 2's 00:00 one is exact (at the open), its
    // 08:00 and 16:00 ones are forfeited.
    assert_eq!(
        times(&coarse),
        [day, day + 8 * HOUR, day + 16 * HOUR, 2 * day]
    );
    // The hours show the crash came after them: both are received.
    assert_eq!(
        times(&fine),
        [
            day,
            day + 8 * HOUR,
            day + 16 * HOUR,
            2 * day,
            2 * day + 8 * HOUR,
            2 * day + 16 * HOUR
        ]
    );
    assert!(fine.iter().all(|f| f.1 < 0.0), "{fine:?}");
}

#[test]
fn bad_detail_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    let err = |detail: &str| {
        let path = write(dir.path(), "spec.toml", &spec_text(detail));
        let text = std::fs::read_to_string(&path).unwrap();
        match spec::parse(&text, &path) {
            Err(e) => e.to_string(),
            Ok(s) => s.load_market().unwrap_err().to_string(),
        }
    };
    let e = err("detail = \"5h\"");
    assert!(
        e.contains("spec.toml:5: data.detail") && e.contains("divide"),
        "{e}"
    );
    let e = err("detail = \"1x\"");
    assert!(e.contains("unknown timeframe \"1x\""), "{e}");
    // the candles are hourly: too coarse for 15m detail without detail files
    let e = err("detail = \"15m\"");
    assert!(
        e.contains("candles.csv") && e.contains("too coarse") && e.contains("detail_candles"),
        "{e}"
    );
}

#[test]
fn detail_that_does_not_cover_a_bar_names_it() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    // hourly detail from a file missing day 1's 05:00 bar
    let text = std::fs::read_to_string(dir.path().join("candles.csv")).unwrap();
    let holed: String = text
        .lines()
        .filter(|l| !l.starts_with(&format!("{},", T0 + 29 * HOUR)))
        .map(|l| format!("{l}\n"))
        .collect();
    write(dir.path(), "fine.csv", &holed);
    let spec = spec_text("detail = \"1h\"").replace(
        "funding = \"funding.csv\"",
        "funding = \"funding.csv\"\ndetail_candles = \"fine.csv\"",
    );
    let path = write(dir.path(), "spec.toml", &spec);
    let parsed = spec::parse(&spec, &path).unwrap();
    let e = parsed.load_market().unwrap_err().to_string();
    assert!(e.contains("fine.csv"), "{e}");
    assert!(e.contains("gap") && e.contains("line 31"), "{e}");
    // gaps allowed in the files: the detail still has to cover every trading bar
    let allowing = spec.replace("timeframe = \"1d\"", "timeframe = \"1d\"\ngaps = \"allow\"");
    let path = write(dir.path(), "spec.toml", &allowing);
    let e = spec::parse(&allowing, &path)
        .unwrap()
        .load_market()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fine.csv")
            && e.contains("do not cover the 1d bar opening 2024-01-02 00:00: 23 of 24 1h bars"),
        "{e}"
    );
}
