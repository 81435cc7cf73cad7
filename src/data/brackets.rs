//! Leverage-bracket tables as CSV (`source,snapshot_date,symbol,bracket,notional_floor,
//! notional_cap,max_leverage,maint_margin_ratio,maint_amount`), the layout of the reference
//! table of Binance's brackets over time. `data check` reads them and checks every table
//! (one per source, snapshot date and symbol) obeys the rules exchanges publish:
//! - tiers are contiguous: the first floor is 0 and each floor is the previous cap;
//! - the maintenance rate never falls and the max leverage never rises from tier to tier;
//! - the maintenance amount makes maintenance margin continuous at each floor:
//!   `cum_n = floor_n × (rate_n − rate_(n−1)) + cum_(n−1)`, exactly, in `Decimal`.
//!
//! The rules themselves live in [`crate::instrument::tier_problems`], shared with instrument files.

use std::io::Read;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::check::{Findings, MAX_LISTED};
use super::error::{DataError, Problem, Result};
use crate::instrument;

/// The header this reader recognises.
pub const COLUMNS: [&str; 9] = [
    "source",
    "snapshot_date",
    "symbol",
    "bracket",
    "notional_floor",
    "notional_cap",
    "max_leverage",
    "maint_margin_ratio",
    "maint_amount",
];

/// True when a header line names the bracket-table columns.
pub fn is_bracket_header(line: &str) -> bool {
    let lower = line.trim().to_ascii_lowercase();
    let fields: Vec<&str> = lower.split(',').map(str::trim).collect();
    fields == COLUMNS
}

/// One tier as written.
#[derive(Clone, Debug, PartialEq)]
pub struct BracketRow {
    pub source: String,
    pub snapshot_date: String,
    pub symbol: String,
    pub bracket: u32,
    /// USDT, inclusive
    pub notional_floor: Decimal,
    /// USDT, exclusive
    pub notional_cap: Decimal,
    /// blank where the source did not publish it
    pub max_leverage: Option<u32>,
    /// fraction, 0.004 = 0.4 %
    pub maint_margin_ratio: Decimal,
    /// USDT
    pub maint_amount: Decimal,
}

impl BracketRow {
    /// Reads a record in [`COLUMNS`] order; the error names the column and value.
    fn from_record(record: &csv::StringRecord) -> std::result::Result<BracketRow, String> {
        let field = |i: usize| record.get(i).unwrap_or("");
        let bad = |i: usize, expected: &str| {
            format!(
                "column '{}': cannot read \"{}\" as {expected}",
                COLUMNS[i],
                field(i)
            )
        };
        let dec = |i: usize| decimal(field(i)).ok_or_else(|| bad(i, "a decimal number"));
        let int = |i: usize| {
            field(i)
                .parse::<u32>()
                .map_err(|_| bad(i, "a whole number"))
        };
        Ok(BracketRow {
            source: field(0).to_string(),
            snapshot_date: field(1).to_string(),
            symbol: field(2).to_string(),
            bracket: int(3)?,
            notional_floor: dec(4)?,
            notional_cap: dec(5)?,
            max_leverage: if field(6).is_empty() {
                None
            } else {
                Some(int(6)?)
            },
            maint_margin_ratio: dec(7)?,
            maint_amount: dec(8)?,
        })
    }
}

/// A checked bracket file.
#[derive(Clone, Debug, Default)]
pub struct BracketReport {
    pub rows: usize,
    /// distinct (source, snapshot, symbol) tables
    pub tables: usize,
    pub symbols: Vec<String>,
    /// first and last snapshot dates, as written
    pub snapshots: (String, String),
    pub findings: Findings,
}

/// Reads and checks a bracket table.
pub fn read(reader: &mut dyn Read, file: &str) -> Result<BracketReport> {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut rows: Vec<(usize, BracketRow)> = Vec::new();
    for record in csv.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            DataError::Row {
                file: file.into(),
                line,
                message: e.to_string(),
            }
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let row = BracketRow::from_record(&record).map_err(|message| DataError::Row {
            file: file.into(),
            line,
            message,
        })?;
        rows.push((line, row));
    }
    let mut report = BracketReport {
        rows: rows.len(),
        ..BracketReport::default()
    };
    let mut symbols: Vec<String> = rows.iter().map(|(_, r)| r.symbol.clone()).collect();
    symbols.sort();
    symbols.dedup();
    report.symbols = symbols;
    let mut dates: Vec<&str> = rows.iter().map(|(_, r)| r.snapshot_date.as_str()).collect();
    dates.sort_unstable();
    report.snapshots = (
        dates.first().unwrap_or(&"").to_string(),
        dates.last().unwrap_or(&"").to_string(),
    );

    let key = |r: &BracketRow| (r.source.clone(), r.snapshot_date.clone(), r.symbol.clone());
    let mut start = 0;
    while start < rows.len() {
        let k = key(&rows[start].1);
        let mut end = start;
        while end < rows.len() && key(&rows[end].1) == k {
            end += 1;
        }
        report.tables += 1;
        let mut table: Vec<&(usize, BracketRow)> = rows[start..end].iter().collect();
        table.sort_by_key(|(_, r)| r.bracket);
        check_table(&table, &mut report.findings);
        start = end;
    }
    Ok(report)
}

/// Checks one table (rows sorted by tier) with the rules of [`instrument::tier_problems`].
fn check_table(table: &[&(usize, BracketRow)], findings: &mut Findings) {
    let tiers: Vec<_> = table
        .iter()
        .map(|(_, r)| {
            (
                r.notional_floor,
                r.notional_cap,
                r.max_leverage,
                r.maint_margin_ratio,
                r.maint_amount,
            )
        })
        .collect();
    for p in instrument::tier_problems(&tiers) {
        let column = match p.field {
            "floor" => "notional_floor",
            "cap" => "notional_cap",
            "maint_margin_rate" => "maint_margin_ratio",
            other => other,
        };
        findings.problem_count += 1;
        if findings.problems.len() < MAX_LISTED {
            findings.problems.push(Problem {
                line: table[p.tier].0,
                column: column.into(),
                value: p.value,
                message: p.message,
            });
        }
    }
}

/// Parses a decimal from text, for callers outside serde.
pub fn decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::maint_amount;

    #[test]
    fn maint_amount_follows_binance_table() {
        // Binance BTCUSDT, 2022-02-05 (the reference table's first rows):
        // tier 2: 50,000 × (0.005 − 0.004) + 0 = 50
        // tier 3: 250,000 × (0.01 − 0.005) + 50 = 1,300
        // tier 4: 1,000,000 × (0.025 − 0.01) + 1,300 = 16,300
        let d = |s: &str| decimal(s).unwrap();
        assert_eq!(
            maint_amount(d("50000"), d("0.005"), d("0.004"), d("0")),
            d("50")
        );
        assert_eq!(
            maint_amount(d("250000"), d("0.01"), d("0.005"), d("50")),
            d("1300")
        );
        assert_eq!(
            maint_amount(d("1000000"), d("0.025"), d("0.01"), d("1300")),
            d("16300")
        );
    }

    const HEADER: &str = "source,snapshot_date,symbol,bracket,notional_floor,notional_cap,max_leverage,maint_margin_ratio,maint_amount\n";

    #[test]
    fn a_good_table_passes_and_a_bad_amount_is_named() {
        let good = format!(
            "{HEADER}x,2022-02-05,BTCUSDT,1,0.0,50000.0,125,0.004,0.0\nx,2022-02-05,BTCUSDT,2,50000.0,250000.0,100,0.005,50.0\n"
        );
        let report = read(&mut good.as_bytes(), "b.csv").unwrap();
        assert_eq!(
            (report.rows, report.tables, report.findings.problem_count),
            (2, 1, 0)
        );
        let blank_leverage = good.replace(",125,", ",,");
        assert_eq!(
            read(&mut blank_leverage.as_bytes(), "b.csv")
                .unwrap()
                .findings
                .problem_count,
            0
        );
        let bad = good.replace("0.005,50.0", "0.005,60.0");
        let report = read(&mut bad.as_bytes(), "b.csv").unwrap();
        assert_eq!(
            report.findings.problems[0].to_string(),
            "line 3, column 'maint_amount', value 60.0: expected 50 = 50000.0 × (0.005 − 0.004) + 0.0"
        );
    }

    #[test]
    fn unreadable_fields_name_line_and_column() {
        let bad = format!("{HEADER}x,2022-02-05,BTCUSDT,1,0.0,abc,125,0.004,0.0\n");
        let err = read(&mut bad.as_bytes(), "b.csv").unwrap_err().to_string();
        assert!(err.starts_with("b.csv:2: column 'notional_cap'"), "{err}");
    }
}
