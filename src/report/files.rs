//! The files of a run directory. Numbers are written in Rust's shortest round-trip form (the
//! same `f64` always gives the same text), times as ms since the epoch with a readable UTC
//! column beside, so identical runs give identical bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::data::time::format_utc;
use crate::exchange::venue::{Event, EventKind, FillReason};
use crate::outcome::RunResult;
use crate::risk::audit::RiskEvent;

/// Writes `summary.json`, `trades.csv`, `equity.csv` and `events.csv` into `dir` (created if
/// missing). Each is written under a temporary name; only when all four are whole are they
/// renamed into place, `summary.json` last, so that a failure (a full disk) leaves the
/// previous files as they were and never a complete summary beside a cut-short CSV.
pub fn write_run(dir: &Path, run: &RunResult) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let names = ["trades.csv", "equity.csv", "events.csv", "summary.json"];
    let tmp = |name: &str| dir.join(format!(".{name}.tmp"));
    let written = (|| -> std::io::Result<()> {
        write_trades(&tmp("trades.csv"), run)?;
        write_equity(&tmp("equity.csv"), run)?;
        write_events(&tmp("events.csv"), run)?;
        let json = serde_json::to_string_pretty(&run.summary).map_err(std::io::Error::other)?;
        std::fs::write(tmp("summary.json"), json + "\n")
    })();
    if let Err(e) = written {
        for name in names {
            let _ = std::fs::remove_file(tmp(name));
        }
        return Err(e);
    }
    for name in names {
        std::fs::rename(tmp(name), dir.join(name))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file beside it, renamed into place when
/// whole: a reader never sees half a file, and a failed write leaves the old one.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)
}

/// Shortest round-trip text; empty for NaN.
fn num(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        x.to_string()
    }
}

fn writer(path: &Path) -> std::io::Result<csv::Writer<BufWriter<File>>> {
    Ok(csv::Writer::from_writer(BufWriter::new(File::create(
        path,
    )?)))
}

fn write_trades(path: &Path, run: &RunResult) -> std::io::Result<()> {
    let mut w = writer(path)?;
    w.write_record([
        "symbol",
        "side",
        "entry_time",
        "entry_utc",
        "entry_price",
        "exit_time",
        "exit_utc",
        "exit_price",
        "qty",
        "leverage",
        "fees",
        "funding",
        "pnl",
        "exit_reason",
    ])?;
    for t in &run.trades {
        w.write_record([
            run.symbols[t.symbol].clone(),
            t.side.name().to_string(),
            t.entry_time.to_string(),
            format_utc(t.entry_time),
            num(t.entry_price),
            t.exit_time.to_string(),
            format_utc(t.exit_time),
            num(t.exit_price),
            num(t.qty),
            num(t.leverage),
            num(t.fees),
            num(t.funding),
            num(t.pnl),
            t.exit_reason.name().to_string(),
        ])?;
    }
    w.flush()
}

fn write_equity(path: &Path, run: &RunResult) -> std::io::Result<()> {
    let c = &run.engine.curve;
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(
        out,
        "time,utc,wallet,equity,unrealised_pnl,margin_ratio,margin_ratio_worst,exposure,drawdown"
    )?;
    let mut peak = f64::NEG_INFINITY;
    for i in 0..c.time.len() {
        let (wallet, equity) = (c.wallet[i], c.equity[i]);
        peak = peak.max(equity);
        let exposure = if equity > 0.0 {
            c.gross_notional[i] / equity
        } else {
            f64::NAN
        };
        let drawdown = if peak > 0.0 { 1.0 - equity / peak } else { 0.0 };
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            c.time[i],
            format_utc(c.time[i]),
            num(wallet),
            num(equity),
            num(equity - wallet),
            num(c.margin_ratio[i]),
            num(c.margin_ratio_worst[i]),
            num(exposure),
            num(drawdown)
        )?;
    }
    out.flush()
}

/// One row of `events.csv`.
struct Row {
    time: i64,
    symbol: String,
    source: &'static str,
    kind: String,
    side: String,
    qty: String,
    price: String,
    amount: String,
    rule: String,
    detail: String,
}

fn write_events(path: &Path, run: &RunResult) -> std::io::Result<()> {
    let venue = run.engine.venue.events();
    let risk = run.engine.risk.audit().events();
    let mut w = writer(path)?;
    w.write_record([
        "time", "utc", "symbol", "source", "kind", "side", "qty", "price", "amount", "rule",
        "detail",
    ])?;
    // merge by time; at equal times the risk layer's decisions (taken at a close) come before
    // the exchange's fills (at the next open, the same instant)
    let (mut i, mut j) = (0, 0);
    while i < risk.len() || j < venue.len() {
        let take_risk = j >= venue.len() || (i < risk.len() && risk[i].time <= venue[j].time);
        let row = if take_risk {
            i += 1;
            risk_row(&risk[i - 1], &run.symbols)
        } else {
            j += 1;
            venue_row(&venue[j - 1], &run.symbols)
        };
        w.write_record([
            row.time.to_string(),
            format_utc(row.time),
            row.symbol,
            row.source.to_string(),
            row.kind,
            row.side,
            row.qty,
            row.price,
            row.amount,
            row.rule,
            row.detail,
        ])?;
    }
    w.flush()
}

fn risk_row(e: &RiskEvent, symbols: &[String]) -> Row {
    Row {
        time: e.time,
        symbol: e.symbol.map(|s| symbols[s].clone()).unwrap_or_default(),
        source: "risk",
        kind: e.action.name().to_string(),
        side: String::new(),
        qty: String::new(),
        price: String::new(),
        amount: String::new(),
        rule: e.rule.name().to_string(),
        detail: format!("{}: {}", e.source.name(), e.reason()),
    }
}

fn venue_row(e: &Event, symbols: &[String]) -> Row {
    let mut row = Row {
        time: e.time,
        symbol: symbols[e.symbol].clone(),
        source: "exchange",
        kind: String::new(),
        side: String::new(),
        qty: String::new(),
        price: String::new(),
        amount: String::new(),
        rule: String::new(),
        detail: String::new(),
    };
    match &e.kind {
        EventKind::Fill {
            id,
            side,
            qty,
            price,
            fee,
            reason,
            leverage,
            reduce_only,
            insurance_cover,
        } => {
            row.kind = "fill".into();
            row.side = side.name().into();
            row.qty = qty.to_string();
            row.price = price.to_string();
            row.amount = fee.to_string();
            let how = match reason {
                FillReason::Market => "market order",
                FillReason::Limit => "limit order",
                FillReason::StopLoss => "stop-loss",
                FillReason::TakeProfit => "take-profit",
            };
            row.detail = if *reduce_only {
                format!("order {id}: {how}, reduce-only; amount = fee")
            } else {
                format!("order {id}: {how} at {leverage}x; amount = fee")
            };
            if !insurance_cover.is_zero() {
                row.detail += &format!(
                    "; filled past bankruptcy: the insurance fund covered {insurance_cover} USDT"
                );
            }
        }
        EventKind::Rejected { id, reason } => {
            row.kind = "rejected".into();
            row.detail = format!("order {id}: {reason}");
        }
        EventKind::Cancelled { id } => {
            row.kind = "cancelled".into();
            row.detail = format!("order {id}");
        }
        EventKind::Funding { rate, mark, paid } => {
            row.kind = "funding".into();
            row.price = num(*mark);
            row.amount = paid.to_string();
            row.detail = format!("rate {rate}; amount = paid (< 0: received)");
        }
        EventKind::Liquidation {
            side,
            qty,
            entry,
            liquidation_price,
            execution,
            mark_low,
            mark_high,
            loss,
            insurance_cover,
            co_liquidated,
        } => {
            row.kind = "liquidation".into();
            row.side = side.name().into();
            row.qty = qty.to_string();
            row.price = execution.to_string();
            row.amount = loss.to_string();
            row.detail = format!(
                "entry {entry}, liquidation price {}, mark range {}–{}; insurance cover {insurance_cover}; amount = loss",
                num(*liquidation_price),
                num(*mark_low),
                num(*mark_high)
            );
            for (s, price) in co_liquidated {
                row.detail += &format!("; {} closed with it at {price}", symbols[*s]);
            }
        }
        EventKind::MarginCall { ratio } => {
            row.kind = "margin_call".into();
            row.amount = num(*ratio);
            row.detail = "amount = margin ratio (maintenance / margin balance)".into();
        }
    }
    row
}
