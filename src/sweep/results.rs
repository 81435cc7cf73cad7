//! `results.csv` and `survival.csv`: written row by row as configurations finish (flushed, so
//! an interruption loses nothing finished), read back by `--resume`, sorted by configuration
//! id when the sweep completes (so the file does not depend on the thread count), and merged
//! from shards.
//!
//! A configuration's survival rows are written before its results row: the results row is
//! the commit mark. On resume, a configuration counts as done only if its results row is
//! complete; survival rows of configurations without one are dropped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use super::runner::Row;

pub const RESULTS: &str = "results.csv";
pub const SURVIVAL: &str = "survival.csv";

/// The header of `results.csv` for these swept paths and ruin levels.
pub fn header(axes: &[String], ruin_levels: &[f64]) -> String {
    let mut cols: Vec<String> = vec!["id".into()];
    cols.extend(axes.iter().cloned());
    for c in [
        "total_return",
        "cagr",
        "max_drawdown",
        "sharpe",
        "sortino",
        "trades",
        "liquidations",
        "margin_calls",
        "fees_paid",
        "funding_paid",
        "exposure",
        "average_leverage",
        "max_leverage",
        "survived",
        "outcome",
        "paths",
        "p_liquidation",
        "p_survived",
        "p_halted",
    ] {
        cols.push(c.into());
    }
    for l in ruin_levels {
        cols.push(format!("p_ruin_{}", level_name(*l)));
    }
    for c in [
        "median_final_equity",
        "p5_final_equity",
        "median_max_drawdown",
        "p95_max_drawdown",
        "median_days_to_liquidation",
        "median_days_to_halt",
    ] {
        cols.push(c.into());
    }
    cols.join(",")
}

/// 0.5 → "50", 0.125 → "12.5".
fn level_name(l: f64) -> String {
    let pct = (l * 1e6).round() / 1e4;
    pct.to_string()
}

fn num(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        x.to_string()
    }
}

/// A swept value as a CSV field: text without its quotes, numbers and booleans as written.
fn value(v: &toml::Value) -> String {
    let text = match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The results line of `row` (with its newline).
pub fn results_line(row: &Row, ruin_levels: usize) -> String {
    let h = &row.history;
    let mut f: Vec<String> = vec![row.id.to_string()];
    f.extend(row.params.iter().map(value));
    f.extend([
        num(h.total_return),
        num(h.cagr),
        num(h.max_drawdown),
        num(h.sharpe),
        num(h.sortino),
        h.trades.to_string(),
        h.liquidations.to_string(),
        h.margin_calls.to_string(),
        num(h.fees_paid),
        num(h.funding_paid),
        num(h.exposure),
        num(h.average_leverage),
        num(h.max_leverage),
        h.survived.to_string(),
        h.outcome.name().to_string(),
    ]);
    match &row.paths {
        Some(p) => {
            f.push(p.paths.to_string());
            f.push(num(p.p_liquidation));
            f.push(num(p.p_survived));
            f.push(num(p.p_halted));
            f.extend(p.p_ruin.iter().map(|x| num(*x)));
            f.extend([
                num(p.median_final_equity),
                num(p.p5_final_equity),
                num(p.median_max_drawdown),
                num(p.p95_max_drawdown),
                p.median_days_to_liquidation.map(num).unwrap_or_default(),
                p.median_days_to_halt.map(num).unwrap_or_default(),
            ]);
        }
        None => f.extend(std::iter::repeat_n(String::new(), 10 + ruin_levels)),
    }
    f.join(",") + "\n"
}

/// The survival lines of `row`: S = 1 at day 0, then each step, then S at the paths' end
/// (where the survivors are censored), so that the file holds the curve's whole span (a
/// merged sweep's index draws it from the file alone).
pub fn survival_lines(row: &Row) -> String {
    let Some(p) = &row.paths else {
        return String::new();
    };
    let mut out = format!("{},0,1\n", row.id);
    let (mut day, mut level) = (0.0, 1.0);
    for &(t, s) in &p.survival {
        out += &format!("{},{},{}\n", row.id, num(t), num(s));
        (day, level) = (t, s);
    }
    if p.span_days > day {
        out += &format!("{},{},{}\n", row.id, num(p.span_days), num(level));
    }
    out
}

/// Appends finished configurations to the two files, flushing after each.
pub struct Appender {
    results: BufWriter<File>,
    survival: BufWriter<File>,
    ruin_levels: usize,
}

impl Appender {
    /// Opens (creating with headers when new) the files in `dir`.
    pub fn open(dir: &Path, header: &str, ruin_levels: usize) -> std::io::Result<Appender> {
        let open = |name: &str, head: &str| -> std::io::Result<BufWriter<File>> {
            let path = dir.join(name);
            let fresh = !path.exists() || std::fs::metadata(&path)?.len() == 0;
            let mut w = BufWriter::new(OpenOptions::new().create(true).append(true).open(&path)?);
            if fresh {
                writeln!(w, "{head}")?;
                w.flush()?;
            }
            Ok(w)
        };
        Ok(Appender {
            results: open(RESULTS, header)?,
            survival: open(SURVIVAL, "id,day,survival")?,
            ruin_levels,
        })
    }

    pub fn append(&mut self, row: &Row) -> std::io::Result<()> {
        self.survival.write_all(survival_lines(row).as_bytes())?;
        self.survival.flush()?;
        self.results
            .write_all(results_line(row, self.ruin_levels).as_bytes())?;
        self.results.flush()
    }
}

/// What a results file holds: its header and complete rows by id (a line cut short by an
/// interruption is left out).
pub struct Table {
    pub header: String,
    pub rows: BTreeMap<usize, String>,
}

/// Reads `results.csv` (or `None` when absent). Only lines ending in a newline with as many
/// fields as the header count.
pub fn read_results(path: &Path) -> std::io::Result<Option<Table>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.split_inclusive('\n');
    let Some(header) = lines.next().filter(|h| h.ends_with('\n')) else {
        return Ok(None);
    };
    let header = header.trim_end().to_string();
    let fields = count_fields(&header);
    let mut rows = BTreeMap::new();
    for line in lines.filter(|l| l.ends_with('\n')) {
        let body = line.trim_end_matches('\n');
        if count_fields(body) != fields {
            continue;
        }
        if let Some(Ok(id)) = body.split(',').next().map(str::parse::<usize>) {
            rows.insert(id, body.to_string());
        }
    }
    Ok(Some(Table { header, rows }))
}

/// Fields of a CSV line (quoted commas do not split).
fn count_fields(line: &str) -> usize {
    let mut quoted = false;
    1 + line
        .chars()
        .filter(|&c| {
            if c == '"' {
                quoted = !quoted;
            }
            c == ',' && !quoted
        })
        .count()
}

/// Survival rows by id, in file order within an id.
pub fn read_survival(path: &Path) -> std::io::Result<BTreeMap<usize, Vec<String>>> {
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    if !path.exists() {
        return Ok(out);
    }
    let text = std::fs::read_to_string(path)?;
    for line in text
        .split_inclusive('\n')
        .skip(1)
        .filter(|l| l.ends_with('\n'))
    {
        let body = line.trim_end_matches('\n');
        if let Some(Ok(id)) = body.split(',').next().map(str::parse::<usize>)
            && count_fields(body) == 3
        {
            out.entry(id).or_default().push(body.to_string());
        }
    }
    Ok(out)
}

/// Rewrites both files in `dir` sorted by id, keeping survival rows only for ids with a
/// results row. Written to temporary files and renamed, so a crash here loses nothing.
pub fn finalize(
    dir: &Path,
    table: &Table,
    survival: &BTreeMap<usize, Vec<String>>,
) -> std::io::Result<()> {
    let write = |name: &str, text: String| -> std::io::Result<()> {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(name))
    };
    let mut results = format!("{}\n", table.header);
    let mut surv = String::from("id,day,survival\n");
    for (id, line) in &table.rows {
        results += line;
        results.push('\n');
        for s in survival.get(id).into_iter().flatten() {
            surv += s;
            surv.push('\n');
        }
    }
    write(RESULTS, results)?;
    write(SURVIVAL, surv)
}

/// Rewrites `survival.csv` in `dir` with `survival`'s rows (by id, in file order), through a
/// temporary file renamed over it.
pub fn rewrite_survival(
    dir: &Path,
    survival: &BTreeMap<usize, Vec<String>>,
) -> std::io::Result<()> {
    let mut text = String::from("id,day,survival\n");
    for line in survival.values().flatten() {
        text += line;
        text.push('\n');
    }
    let tmp = dir.join(format!(".{SURVIVAL}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(SURVIVAL))
}

/// Drops survival rows of ids that have no results row (an interrupted configuration).
pub fn keep_committed(survival: &mut BTreeMap<usize, Vec<String>>, table: &Table) {
    survival.retain(|id, _| table.rows.contains_key(id));
}

/// Cuts a line left unfinished by an interruption off the end of `path`, so that appending
/// starts on a fresh line.
pub fn trim_partial(path: &Path) -> std::io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let bytes = std::fs::read(path)?;
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if keep < bytes.len() {
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(keep as u64)?;
    }
    Ok(())
}
