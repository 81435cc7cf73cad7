//! `signals`: intents another program wrote (a notebook, a TradingView export, a live bot's
//! decision log), replayed through the risk layer and the exchange as a built-in's are, so
//! leverage and risk settings can be swept over them.
//!
//! ```toml
//! [strategy]
//! kind = "signals"
//! file = "my_signals.csv"   # or .jsonl; relative to the spec
//! ```
//!
//! Columns (CSV with a header, or JSON lines with these keys): `time` (ms, s or µs since the
//! epoch, or ISO-8601 text; UTC), `symbol` (one of the spec's), `intent`, and as the intent
//! needs: `stop`, `take_profit` (prices), `exposure` (a signed multiple of equity), `fraction`.
//!
//! | intent | does |
//! |---|---|
//! | `long`, `short` | enter (closing an opposite position first), sized by the risk layer; `stop` and `take_profit` optional. With `exposure`, a target exposure instead (sizing rules bypassed, no stop) |
//! | `flat` (or `exit`) | close the position |
//! | `target` | hold `exposure` × equity, signed (needs `exposure`) |
//! | `reduce` | cut the position by `fraction` (0, 1] |
//!
//! **Timing, without look-ahead**: a row stamped `t` is acted on at the first bar open after
//! `t`: it is given to the risk layer at the close of the bar whose span holds `t`. A row
//! stamped with a bar's open time (as most tools stamp a bar's signal) so fills at the next
//! bar's open; one stamped with a close fills a bar later.
//!
//! Rows come in time order; a bad row (a time that goes back, an unknown symbol or intent, a
//! missing or bad number, an unknown column) is an error naming the file, line, column and
//! value. Rows before the data's first bar or after its last are not acted on and are
//! counted in the run's notes: a file often spans more than the `data.from`–`data.to` being
//! tested. Limit prices are not read yet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::{Build, Context, Intent, ParamError, Signal, Strategy};
use crate::data::time::{TimeUnit, format_utc, parse_text_time};
use crate::exchange::Side;

/// Its `kind` in a spec.
pub const KIND: &str = "signals";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    file: String,
}

/// One row, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// ms UTC
    pub time: i64,
    pub signal: Signal,
}

/// The columns a signal file may have.
const COLUMNS: [&str; 7] = [
    "time",
    "symbol",
    "intent",
    "stop",
    "take_profit",
    "exposure",
    "fraction",
];

pub fn build(b: &Build) -> Result<Box<dyn Strategy>, ParamError> {
    let p: Params = b.params()?;
    let path = match b.spec_dir {
        Some(dir) if Path::new(&p.file).is_relative() => dir.join(&p.file),
        _ => PathBuf::from(&p.file),
    };
    let rows = read_cached(&path, b.symbols).map_err(|m| ParamError::new("file", m))?;
    Ok(Box::new(SignalFile {
        rows,
        next: 0,
        first_open: None,
        before: 0,
        file: p.file,
    }))
}

/// Files read once per process: a sweep checks and builds the strategy for every grid
/// point, and the file does not change between them (its size and time are compared).
fn read_cached(path: &Path, symbols: &[String]) -> Result<Arc<Vec<Row>>, String> {
    type Key = (PathBuf, Vec<String>);
    type Seen = (u64, Option<std::time::SystemTime>, Arc<Vec<Row>>);
    static CACHE: Mutex<Option<HashMap<Key, Seen>>> = Mutex::new(None);
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let stamp = (meta.len(), meta.modified().ok());
    let key = (path.to_path_buf(), symbols.to_vec());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some((len, time, rows)) = cache.get(&key)
        && (*len, *time) == stamp
    {
        return Ok(rows.clone());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "json" | "ndjson")
    );
    let rows = Arc::new(parse(&text, &path.display().to_string(), symbols, json)?);
    cache.insert(key, (stamp.0, stamp.1, rows.clone()));
    Ok(rows)
}

/// Parses a signal file's text (CSV with a header, or JSON lines); `file` names it in errors.
pub fn parse(text: &str, file: &str, symbols: &[String], json: bool) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut fields: Vec<(usize, String)> = Vec::new();
    let mut header: Option<Vec<String>> = None;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = if i == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        if line.trim().is_empty() {
            continue;
        }
        fields.clear();
        if json {
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| format!("{file} line {line_no}: not JSON: {e}"))?;
            let object = value
                .as_object()
                .ok_or_else(|| format!("{file} line {line_no}: expected an object"))?;
            for (key, v) in object {
                let column = COLUMNS.iter().position(|c| c == key).ok_or_else(|| {
                    format!(
                        "{file} line {line_no}: unknown key {key:?}; known: {}",
                        COLUMNS.join(", ")
                    )
                })?;
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                fields.push((column, text));
            }
        } else {
            let cells: Vec<&str> = line
                .split(',')
                .map(|c| c.trim().trim_matches('"'))
                .collect();
            let Some(names) = &header else {
                let names: Vec<String> = cells.iter().map(|c| c.to_ascii_lowercase()).collect();
                for name in &names {
                    // a pandas index column has no name
                    if !name.is_empty() && !COLUMNS.contains(&name.as_str()) {
                        return Err(format!(
                            "{file} line {line_no}: unknown column {name:?}; known: {}",
                            COLUMNS.join(", ")
                        ));
                    }
                }
                for needed in ["time", "symbol", "intent"] {
                    if !names.iter().any(|n| n == needed) {
                        return Err(format!(
                            "{file} line {line_no}: the header has no '{needed}' column"
                        ));
                    }
                }
                header = Some(names);
                continue;
            };
            if cells.len() != names.len() {
                return Err(format!(
                    "{file} line {line_no}: {} fields, the header has {}",
                    cells.len(),
                    names.len()
                ));
            }
            for (name, cell) in names.iter().zip(&cells) {
                if let Some(column) = COLUMNS.iter().position(|c| c == name)
                    && !cell.is_empty()
                {
                    fields.push((column, cell.to_string()));
                }
            }
        }
        let row = row(&fields, symbols).map_err(|(column, value, why)| {
            format!("{file} line {line_no}, column '{column}', value {value:?}: {why}")
        })?;
        if let Some(last) = rows.last().map(|r: &Row| r.time)
            && row.time < last
        {
            return Err(format!(
                "{file} line {line_no}, column 'time', value {:?}: {} is before the row above ({}); rows must come in time order",
                get(&fields, 0).unwrap_or_default(),
                format_utc(row.time),
                format_utc(last)
            ));
        }
        rows.push(row);
    }
    if !json && header.is_none() {
        return Err(format!(
            "{file}: empty; expected a header: time,symbol,intent,…"
        ));
    }
    Ok(rows)
}

fn get(fields: &[(usize, String)], column: usize) -> Option<&str> {
    fields
        .iter()
        .find(|(c, _)| *c == column)
        .map(|(_, v)| v.as_str())
}

type Fault = (&'static str, String, String);

/// One row from its fields (column index → text): the fault names the column and value.
fn row(fields: &[(usize, String)], symbols: &[String]) -> Result<Row, Fault> {
    let text = |column: usize| get(fields, column);
    let fault = |column: usize, why: &str| -> Fault {
        (
            COLUMNS[column],
            text(column).unwrap_or_default().to_string(),
            why.to_string(),
        )
    };
    let required = |column: usize| text(column).ok_or_else(|| fault(column, "missing"));
    let number = |column: usize| -> Result<Option<f64>, Fault> {
        text(column)
            .map(|t| {
                t.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| fault(column, "not a number"))
            })
            .transpose()
    };
    let time_text = required(0)?;
    let time = match time_text.parse::<i64>() {
        Ok(n) => TimeUnit::detect(n).to_ms(n),
        Err(_) => parse_text_time(time_text)
            .ok_or_else(|| fault(0, "not a time (ms since the epoch, or ISO-8601)"))?,
    };
    let name = required(1)?;
    let symbol = symbols.iter().position(|s| s == name).ok_or_else(|| {
        fault(
            1,
            &format!("not one of the spec's symbols ({})", symbols.join(", ")),
        )
    })?;
    let price = |column: usize| -> Result<Option<f64>, Fault> {
        match number(column)? {
            Some(p) if p <= 0.0 => Err(fault(column, "a price must be > 0")),
            p => Ok(p),
        }
    };
    let (stop, take_profit, exposure) = (price(3)?, price(4)?, number(5)?);
    let intent_text = required(2)?;
    let intent = match intent_text.to_ascii_lowercase().as_str() {
        side @ ("long" | "short") => {
            let side = if side == "long" {
                Side::Long
            } else {
                Side::Short
            };
            match exposure {
                Some(_) if stop.is_some() || take_profit.is_some() => {
                    return Err(fault(
                        5,
                        "a size hint makes the row a target exposure, which carries no stop or take-profit",
                    ));
                }
                Some(e) if e <= 0.0 => {
                    return Err(fault(
                        5,
                        "with long or short, give the size as a positive multiple of equity",
                    ));
                }
                Some(e) => Intent::TargetExposure {
                    exposure: if side == Side::Long { e } else { -e },
                },
                None => Intent::Enter {
                    side,
                    stop,
                    take_profit,
                },
            }
        }
        "flat" | "exit" => Intent::Exit,
        "target" => Intent::TargetExposure {
            exposure: exposure.ok_or_else(|| fault(5, "missing: target needs an exposure"))?,
        },
        "reduce" => {
            let fraction =
                number(6)?.ok_or_else(|| fault(6, "missing: reduce needs a fraction"))?;
            if !(fraction > 0.0 && fraction <= 1.0) {
                return Err(fault(6, "must be in (0, 1]"));
            }
            Intent::Reduce { fraction }
        }
        _ => {
            return Err(fault(
                2,
                "expected long, short, flat (or exit), target or reduce",
            ));
        }
    };
    Ok(Row {
        time,
        signal: Signal { symbol, intent },
    })
}

struct SignalFile {
    rows: Arc<Vec<Row>>,
    next: usize,
    /// ms: the first bar's open, once seen
    first_open: Option<i64>,
    /// rows before it, skipped
    before: usize,
    file: String,
}

impl Strategy for SignalFile {
    fn warm_up(&self) -> usize {
        0
    }

    fn on_bar(&mut self, ctx: &Context, signals: &mut Vec<Signal>) {
        if self.first_open.is_none() {
            let open = ctx.bars.iter().flatten().map(|b| b.open_time).min();
            if let Some(open) = open {
                self.first_open = Some(open);
                while self.rows.get(self.next).is_some_and(|r| r.time < open) {
                    self.next += 1;
                    self.before += 1;
                }
            }
        }
        // the rows stamped inside this step's bars: acted on at the next open
        while let Some(row) = self.rows.get(self.next).filter(|r| r.time < ctx.time) {
            signals.push(row.signal);
            self.next += 1;
        }
    }

    fn market_only(&self) -> bool {
        true
    }

    fn notes(&self) -> Vec<String> {
        let after = self.rows.len() - self.next;
        if self.before == 0 && after == 0 {
            return Vec::new();
        }
        vec![format!(
            "{}: {} row(s) before the data's first bar and {after} after its last were not acted on",
            self.file, self.before
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols() -> Vec<String> {
        vec!["BTCUSDT".into(), "ETHUSDT".into()]
    }

    #[test]
    fn reads_every_intent_and_time_form() {
        let text = "time,symbol,intent,stop,take_profit,exposure,fraction\n\
            2024-01-01T04:00:00Z,BTCUSDT,long,41000,45000,,\n\
            1704081600000,ETHUSDT,short,,,,\n\
            1704085200,BTCUSDT,reduce,,,,0.5\n\
            2024-01-01 06:00,ETHUSDT,target,,,-0.5,\n\
            2024-01-01 07:00,BTCUSDT,flat,,,,\n\
            2024-01-01 08:00,ETHUSDT,long,,,0.8,\n";
        let rows = parse(text, "s.csv", &symbols(), false).unwrap();
        let h = 3_600_000;
        let t0 = 1_704_067_200_000;
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0].time, t0 + 4 * h);
        assert_eq!(
            rows[0].signal.intent,
            Intent::Enter {
                side: Side::Long,
                stop: Some(41_000.0),
                take_profit: Some(45_000.0)
            }
        );
        assert_eq!((rows[1].time, rows[1].signal.symbol), (t0 + 4 * h, 1));
        // seconds since the epoch, detected from the magnitude
        assert_eq!(rows[2].time, t0 + 5 * h);
        assert_eq!(rows[2].signal.intent, Intent::Reduce { fraction: 0.5 });
        assert_eq!(
            rows[3].signal.intent,
            Intent::TargetExposure { exposure: -0.5 }
        );
        assert_eq!(rows[4].signal.intent, Intent::Exit);
        assert_eq!(
            rows[5].signal.intent,
            Intent::TargetExposure { exposure: 0.8 }
        );
        let json = "{\"time\": 1704081600000, \"symbol\": \"BTCUSDT\", \"intent\": \"long\", \"stop\": 41000}\n";
        let rows = parse(json, "s.jsonl", &symbols(), true).unwrap();
        assert_eq!(
            rows[0].signal.intent,
            Intent::Enter {
                side: Side::Long,
                stop: Some(41_000.0),
                take_profit: None
            }
        );
    }

    #[test]
    fn a_bad_row_names_file_line_column_and_value() {
        let cases = [
            (
                "time,symbol,intent\n2024-01-01,SOLUSDT,long\n",
                "s.csv line 2, column 'symbol', value \"SOLUSDT\": not one of the spec's symbols (BTCUSDT, ETHUSDT)",
            ),
            (
                "time,symbol,intent\n2024-01-01,BTCUSDT,lng\n",
                "s.csv line 2, column 'intent', value \"lng\": expected long",
            ),
            (
                "time,symbol,intent\nyesterday,BTCUSDT,long\n",
                "s.csv line 2, column 'time', value \"yesterday\": not a time",
            ),
            (
                "time,symbol,intent\n2024-01-02,BTCUSDT,long\n2024-01-01,BTCUSDT,flat\n",
                "s.csv line 3, column 'time', value \"2024-01-01\": 2024-01-01 00:00 is before the row above",
            ),
            (
                "time,symbol,intent,stop\n2024-01-01,BTCUSDT,long,-5\n",
                "column 'stop', value \"-5\": a price must be > 0",
            ),
            (
                "time,symbol,intent,fraction\n2024-01-01,BTCUSDT,reduce,1.5\n",
                "column 'fraction', value \"1.5\": must be in (0, 1]",
            ),
            (
                "time,symbol,intent\n2024-01-01,BTCUSDT,target\n",
                "column 'exposure', value \"\": missing: target needs an exposure",
            ),
            (
                "time,symbol,side\n",
                "s.csv line 1: unknown column \"side\"",
            ),
            (
                "time,symbol,intent\n2024-01-01,BTCUSDT\n",
                "s.csv line 2: 2 fields, the header has 3",
            ),
            ("", "s.csv: empty"),
        ];
        for (text, words) in cases {
            let e = parse(text, "s.csv", &symbols(), false).unwrap_err();
            assert!(e.contains(words), "{e}");
        }
        // a pandas index column (no name) is ignored
        assert!(
            parse(
                ",time,symbol,intent\n0,2024-01-01,BTCUSDT,long\n",
                "s.csv",
                &symbols(),
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn a_row_is_acted_on_at_the_close_of_the_bar_holding_it() {
        let h = 3_600_000;
        let t0 = 1_704_067_200_000;
        let rows = vec![
            // before the data, in the first bar (its open), inside the second, at its close
            (t0 - h, Intent::Exit),
            (t0, Intent::Exit),
            (t0 + h + 1, Intent::Exit),
            (t0 + 2 * h, Intent::Exit),
            (t0 + 100 * h, Intent::Exit),
        ];
        let rows = rows
            .into_iter()
            .map(|(time, intent)| Row {
                time,
                signal: Signal { symbol: 0, intent },
            })
            .collect();
        let mut s = SignalFile {
            rows: Arc::new(rows),
            next: 0,
            first_open: None,
            before: 0,
            file: "s.csv".into(),
        };
        let mut emitted = Vec::new();
        for step in 0..3 {
            let bar = crate::strategy::Bar {
                open_time: t0 + step * h,
                ..Default::default()
            };
            let bars = [Some(bar)];
            let ctx = Context {
                time: t0 + (step + 1) * h,
                bars: &bars,
                funding_rate: &[None],
                holdings: &[Default::default()],
                equity: 1.0,
                start_equity: 1.0,
            };
            let mut out = Vec::new();
            s.on_bar(&ctx, &mut out);
            emitted.push(out.len());
        }
        // step 0 (00:00–01:00) takes the row at 00:00; step 1 the one at 01:00:00.001; the
        // one stamped 02:00 (step 1's close) waits for step 2, so it fills at 03:00
        assert_eq!(emitted, [1, 1, 1]);
        assert_eq!(
            s.notes(),
            ["s.csv: 1 row(s) before the data's first bar and 1 after its last were not acted on"]
        );
    }
}
