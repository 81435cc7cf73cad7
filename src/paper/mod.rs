//! Paper trading: the engine fed live, one JSON message per line, every decision written out
//! as one JSON line as soon as it is taken. This is the seam where a real exchange connector
//! plugs in: it turns the exchange's stream into these messages, and the output lines into
//! orders. The engine, the simulated exchange and the risk layer are the same code as in
//! `run`: feeding a history through `paper` gives exactly the trades of `run`
//! (`tests/it/paper.rs`).
//!
//! Input messages (the README lists every field):
//! - a bar: `{"symbol":"BTCUSDT","open_time":…,"open":…,"high":…,"low":…,"close":…,"volume":…}`
//!   (`"type":"bar"` may be given);
//! - a mark bar: `{"type":"mark","symbol":…,"open_time":…,"open":…,"high":…,"low":…,"close":…}`,
//!   before the bar of the same time (without it, the last price stands in for mark);
//! - a funding settlement: `{"type":"funding","symbol":…,"time":…,"rate":…}` (optional `mark`),
//!   before the bar whose span holds `time`.
//!
//! A time step is complete when every symbol of the spec has sent its bar for it, or when a
//! bar of a later time arrives, or at the end of the input. The stream is checked as a file
//! is: bars, mark bars and funding come in time order per symbol, each at most once, and
//! nothing arrives after the bar it belongs to; a line that is not UTF-8, longer than
//! [`MAX_LINE`], or malformed (a negative volume, funding off the whole hour) stops the run
//! with an error naming the line and the field (everything before it has already been
//! written). A repeated message stops it too: a feed that resends after a reconnect must
//! drop what it has sent, or the settlement would be paid twice.

use std::io::{BufRead, Write};

use serde_json::Value;

use crate::data::check::{FUNDING_SNAP_MS, MAX_FUNDING_RATE, funding_rate_possible, snap_to_hour};
use crate::engine::{Engine, Settlement, StepBar};
use crate::exchange::fill::Ohlc;
use crate::spec::RunSpec;
use crate::strategy::Bar;
use output::{risk_json, signal_json, venue_json};

mod output;

/// A bad message: its line, the field, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    #[error("stdin line {line}: {field}: {message}")]
    Input {
        line: usize,
        field: String,
        message: String,
    },
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("reading stdin after line {line}: {source}")]
    Read { line: usize, source: std::io::Error },
}

/// The longest input line: a message is a few hundred bytes, and a line without its end
/// (a stuck feed, a binary file) must not grow without bound before it is refused.
pub const MAX_LINE: usize = 1 << 20;

/// A funding settlement waiting for its bar.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    time: i64,
    rate: f64,
    mark: Option<f64>,
}

/// The engine and the step being gathered.
pub struct Paper {
    pub engine: Engine,
    symbols: Vec<String>,
    timeframe: i64,
    /// the open time of the step being gathered, and its bars per symbol
    gathering: Option<i64>,
    pending: Vec<Option<StepBar<'static>>>,
    /// per symbol, the settlements of its pending bar (the bar borrows them when the step runs)
    pending_funding: Vec<Vec<Settlement>>,
    marks: Vec<Option<(i64, Ohlc)>>,
    funding: Vec<Vec<Waiting>>,
    /// the open time of the last step run
    done: Option<i64>,
    /// per symbol, the open time of its last bar and mark bar, and its last settlement time
    last_bar: Vec<Option<i64>>,
    last_mark: Vec<Option<i64>>,
    last_funding: Vec<Option<i64>>,
    seen_venue: usize,
    seen_risk: usize,
}

impl Paper {
    /// A paper engine for `spec` on bars of `timeframe` ms.
    pub fn new(spec: &RunSpec, timeframe: i64) -> Paper {
        let n = spec.symbols.len();
        Paper {
            engine: Engine::new(spec, timeframe, false),
            symbols: spec.symbols.iter().map(|s| s.symbol.clone()).collect(),
            timeframe,
            gathering: None,
            pending: vec![None; n],
            pending_funding: vec![Vec::new(); n],
            marks: vec![None; n],
            funding: vec![Vec::new(); n],
            done: None,
            last_bar: vec![None; n],
            last_mark: vec![None; n],
            last_funding: vec![None; n],
            seen_venue: 0,
            seen_risk: 0,
        }
    }

    /// One input line (1-based `line` for errors); writes whatever it set off.
    pub fn feed(
        &mut self,
        line: usize,
        text: &str,
        out: &mut impl Write,
    ) -> Result<(), PaperError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let bad = |field: &str, message: String| PaperError::Input {
            line,
            field: field.to_string(),
            message,
        };
        let value: Value =
            serde_json::from_str(text).map_err(|e| bad("message", format!("not JSON: {e}")))?;
        let field = |name: &str| value.get(name).ok_or_else(|| bad(name, "missing".into()));
        let number = |name: &str| -> Result<f64, PaperError> {
            field(name)?
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(name, format!("expected a number, found {}", value[name])))
        };
        let time = |name: &str| -> Result<i64, PaperError> {
            field(name)?.as_i64().ok_or_else(|| {
                bad(
                    name,
                    format!("expected ms since the epoch, found {}", value[name]),
                )
            })
        };
        let name = field("symbol")?
            .as_str()
            .ok_or_else(|| bad("symbol", "expected text".into()))?;
        let symbol = self.symbols.iter().position(|s| s == name).ok_or_else(|| {
            bad(
                "symbol",
                format!("{name:?} is not in the spec ({})", self.symbols.join(", ")),
            )
        })?;
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("bar");
        match kind {
            "funding" => {
                let mark = match value.get("mark") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(number("mark")?)
                        .filter(|m| *m > 0.0)
                        .map(Some)
                        .ok_or_else(|| {
                            bad("mark", format!("{}: must be a price > 0", value["mark"]))
                        })?,
                };
                let mut waiting = Waiting {
                    time: time("time")?,
                    rate: number("rate")?,
                    mark,
                };
                self.check_funding(symbol, &mut waiting)
                    .map_err(|(field, m)| bad(field, m))?;
                self.last_funding[symbol] = Some(waiting.time);
                self.funding[symbol].push(waiting);
                Ok(())
            }
            "mark" | "bar" => {
                let open_time = time("open_time")?;
                let ohlc = Ohlc {
                    open: number("open")?,
                    high: number("high")?,
                    low: number("low")?,
                    close: number("close")?,
                };
                check_ohlc(&ohlc).map_err(|m| bad("high", m))?;
                if open_time.rem_euclid(self.timeframe) != 0 {
                    return Err(bad(
                        "open_time",
                        format!("{open_time} is not on the spec's timeframe grid"),
                    ));
                }
                if kind == "mark" {
                    self.check_mark(symbol, open_time)
                        .map_err(|m| bad("open_time", m))?;
                    self.last_mark[symbol] = Some(open_time);
                    self.marks[symbol] = Some((open_time, ohlc));
                    return Ok(());
                }
                let volume = match value.get("volume") {
                    None | Some(Value::Null) => 0.0,
                    Some(_) => number("volume")?,
                };
                if volume < 0.0 {
                    return Err(bad("volume", format!("{volume}: must be ≥ 0")));
                }
                self.bar(line, symbol, open_time, ohlc, volume, out)
            }
            other => Err(bad(
                "type",
                format!("unknown message type {other:?}: bar, mark or funding"),
            )),
        }
    }

    /// A settlement must be on a whole hour (within [`FUNDING_SNAP_MS`], and snapped to it, as
    /// in a file), within the exchanges' cap, after the symbol's last one, and before the bar
    /// that holds it.
    fn check_funding(&self, symbol: usize, w: &mut Waiting) -> Result<(), (&'static str, String)> {
        let (snapped, off) = snap_to_hour(w.time);
        if off > FUNDING_SNAP_MS {
            return Err((
                "time",
                format!("{}: not within 60 s of a whole hour", w.time),
            ));
        }
        w.time = snapped;
        if !funding_rate_possible(w.rate) {
            return Err((
                "rate",
                format!("{}: beyond ±{MAX_FUNDING_RATE} per settlement", w.rate),
            ));
        }
        if let Some(last) = self.last_funding[symbol]
            && w.time <= last
        {
            let what = if w.time == last {
                "repeated"
            } else {
                "out of order"
            };
            return Err((
                "time",
                format!(
                    "funding of {} at {} is {what}: the last one was at {last}",
                    self.symbols[symbol], w.time
                ),
            ));
        }
        if let Some(bar) = self.last_bar[symbol]
            && w.time < bar + self.timeframe
        {
            return Err((
                "time",
                format!(
                    "funding of {} at {} is late: the bar holding it (open_time {}) has been sent",
                    self.symbols[symbol],
                    w.time,
                    w.time - (w.time - bar).rem_euclid(self.timeframe)
                ),
            ));
        }
        Ok(())
    }

    /// A mark bar must come after the symbol's last one and before its bar.
    fn check_mark(&self, symbol: usize, open_time: i64) -> Result<(), String> {
        let name = &self.symbols[symbol];
        if self.last_bar[symbol].is_some_and(|b| open_time <= b) {
            return Err(format!(
                "mark bar of {name} at {open_time} is late: a mark bar comes before its bar, \
                 and the bar of {} has been sent",
                self.last_bar[symbol].unwrap_or_default()
            ));
        }
        if let Some(last) = self.last_mark[symbol]
            && open_time <= last
        {
            let what = if open_time == last {
                "repeated"
            } else {
                "out of order"
            };
            return Err(format!(
                "mark bar of {name} at {open_time} is {what}: the last one was at {last}"
            ));
        }
        Ok(())
    }

    /// Feeds every line of `input` and finishes: the stream as bytes, so a line that is not
    /// UTF-8 or longer than [`MAX_LINE`] is named by its number; a BOM before the first
    /// message is skipped.
    pub fn feed_all(
        &mut self,
        mut input: impl BufRead,
        out: &mut impl Write,
    ) -> Result<(), PaperError> {
        let mut buf = Vec::new();
        let mut line = 0;
        loop {
            buf.clear();
            let read = read_line_bounded(&mut input, &mut buf)
                .map_err(|source| PaperError::Read { line, source })?;
            if read == 0 {
                break;
            }
            line += 1;
            if buf.len() > MAX_LINE {
                return Err(PaperError::Input {
                    line,
                    field: "message".into(),
                    message: format!("longer than {MAX_LINE} bytes: not a message"),
                });
            }
            let text = std::str::from_utf8(&buf).map_err(|e| PaperError::Input {
                line,
                field: "message".into(),
                message: format!("not UTF-8 (byte {} of the line)", e.valid_up_to() + 1),
            })?;
            let text = if line == 1 {
                text.trim_start_matches('\u{feff}')
            } else {
                text
            };
            self.feed(line, text, out)?;
        }
        self.finish(out)
    }

    fn bar(
        &mut self,
        line: usize,
        symbol: usize,
        open_time: i64,
        last: Ohlc,
        volume: f64,
        out: &mut impl Write,
    ) -> Result<(), PaperError> {
        if let Some(t) = self.gathering
            && open_time > t
        {
            self.run_step(out)?;
        }
        let late = self.done.is_some_and(|d| open_time <= d)
            || self.last_bar[symbol].is_some_and(|b| open_time <= b);
        let twice = self.gathering == Some(open_time) && self.pending[symbol].is_some();
        if late || twice {
            return Err(PaperError::Input {
                line,
                field: "open_time".into(),
                message: format!(
                    "bar of {} at {open_time} is out of order or repeated",
                    self.symbols[symbol]
                ),
            });
        }
        self.gathering = Some(open_time);
        self.last_bar[symbol] = Some(open_time);
        // a mark bar of this time stands for it; one of an earlier time lost its bar in a gap
        let mark = match self.marks[symbol] {
            Some((t, m)) if t == open_time => {
                self.marks[symbol] = None;
                m
            }
            Some((t, _)) if t < open_time => {
                self.marks[symbol] = None;
                last
            }
            _ => last,
        };
        let end = open_time + self.timeframe;
        let mut last_rate = None;
        // settlements before this bar fell in a gap: they never apply (as in `run`)
        self.funding[symbol].retain(|w| w.time >= open_time);
        let due = &mut self.pending_funding[symbol];
        due.clear();
        for w in self.funding[symbol].iter().filter(|w| w.time < end) {
            let (time, rate) = (w.time, w.rate);
            let mark = w.mark.unwrap_or(mark.open);
            due.push(Settlement { time, rate, mark });
            last_rate = Some((w.time, w.rate));
        }
        self.funding[symbol].retain(|w| w.time >= end);
        self.pending[symbol] = Some(StepBar {
            symbol,
            bar: Bar {
                open_time,
                open: last.open,
                high: last.high,
                low: last.low,
                close: last.close,
                volume,
                mark_close: mark.close,
            },
            mark,
            funding: &[],
            last_rate,
            detail: None,
        });
        if self.pending.iter().all(Option::is_some) {
            self.run_step(out)?;
        }
        Ok(())
    }

    /// Runs the gathered step and writes what happened, in the order it happened.
    fn run_step(&mut self, out: &mut impl Write) -> Result<(), PaperError> {
        let Some(open_time) = self.gathering.take() else {
            return Ok(());
        };
        let bars: Vec<StepBar<'_>> = self
            .pending
            .iter_mut()
            .zip(&self.pending_funding)
            .filter_map(|(bar, due)| bar.take().map(|b| StepBar { funding: due, ..b }))
            .collect();
        let equity = self.engine.advance(open_time, &bars);
        self.write_new(out)?;
        self.engine.decide(open_time + self.timeframe, equity);
        let close = open_time + self.timeframe;
        for s in self.engine.last_signals() {
            writeln!(out, "{}", signal_json(close, s, &self.symbols))?;
        }
        self.write_new(out)?;
        out.flush()?;
        self.done = Some(open_time);
        Ok(())
    }

    /// Writes the risk decisions and exchange events not written yet.
    fn write_new(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let risk = &self.engine.risk.audit().events()[self.seen_risk..];
        for e in risk {
            writeln!(out, "{}", risk_json(e, &self.symbols))?;
        }
        self.seen_risk += risk.len();
        let venue = &self.engine.venue.events()[self.seen_venue..];
        for e in venue {
            writeln!(out, "{}", venue_json(e, &self.symbols))?;
        }
        self.seen_venue += venue.len();
        Ok(())
    }

    /// At the end of the input: runs the last, incomplete step.
    pub fn finish(&mut self, out: &mut impl Write) -> Result<(), PaperError> {
        self.run_step(out)?;
        out.flush()?;
        Ok(())
    }
}

/// Reads one line (through its `\n`) into `buf`, keeping at most [`MAX_LINE`] + 1 bytes of
/// it and skipping the rest, so a line without an end cannot take the memory. Returns the
/// bytes consumed (0 at the end of the input).
fn read_line_bounded(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        input.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
    }
}

fn check_ohlc(b: &Ohlc) -> Result<(), String> {
    let positive = [b.open, b.high, b.low, b.close].iter().all(|x| *x > 0.0);
    if !positive || b.low > b.open.min(b.close) || b.high < b.open.max(b.close) {
        return Err(format!(
            "inconsistent bar: open {}, high {}, low {}, close {} (need 0 < low ≤ open, close ≤ high)",
            b.open, b.high, b.low, b.close
        ));
    }
    Ok(())
}
