//! Reading a CSV stream into columns, fast.
//!
//! Candle files can have millions of rows, so this path avoids the per-row costs of a
//! general CSV reader: lines are cut from a 1 MiB buffer with `memchr`, fields are byte
//! ranges, and decimals like `40123.45` take an exact fast path (an integer mantissa of at
//! most 2^53 divided by an exact power of ten is correctly rounded: Clinger's fast path);
//! anything else goes to `str::parse::<f64>`. Nothing is allocated per row.
//!
//! The parser only reads; the checks (order, grid, price sanity) are in `check.rs`.

use std::io::{self, Read};

use memchr::{memchr, memchr_iter};

use super::error::{DataError, Result};
use super::layout::{self, ColumnNames, Kind, Layout};
use super::time::{TimeFormat, TimeUnit, parse_text_time};
use crate::market::Candles;

/// Cuts lines out of a reader through one reusable buffer.
/// The longest line read: a line past it is refused before it takes more memory.
pub const MAX_LINE: usize = 4 << 20;

pub struct LineReader<'r> {
    inner: &'r mut dyn Read,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// 1-based number of the line last returned
    pub line_no: usize,
}

impl<'r> LineReader<'r> {
    pub fn new(inner: &'r mut dyn Read) -> LineReader<'r> {
        LineReader {
            inner,
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
            eof: false,
            line_no: 0,
        }
    }

    /// The next line without its `\n` / `\r\n`, with its 1-based number, or `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(usize, &[u8])>> {
        loop {
            if let Some(pos) = memchr(b'\n', &self.buf[self.start..self.end]) {
                let (from, to) = (self.start, self.start + pos);
                self.start = to + 1;
                self.line_no += 1;
                return Ok(Some((self.line_no, strip_cr(&self.buf[from..to]))));
            }
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let (from, to) = (self.start, self.end);
                self.start = self.end;
                self.line_no += 1;
                return Ok(Some((self.line_no, strip_cr(&self.buf[from..to]))));
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.buf.len() {
            // the buffer holds one unfinished line: a row is ~150 bytes, so this is no CSV
            if self.buf.len() >= MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {} is longer than {} MiB: not a CSV row",
                        self.line_no + 1,
                        MAX_LINE >> 20
                    ),
                ));
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Maps a data row back to its line in the file (blank lines are skipped, not rows).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineMap {
    /// line number of row 0
    pub first_row_line: usize,
    /// for each skipped blank line, the index of the row that came after it
    pub blank_before_row: Vec<usize>,
    /// the row count, when the file was written newest first and its rows were turned
    /// around into time order (row `i` was then the file's row `n − 1 − i`)
    pub reversed_rows: Option<usize>,
}

impl LineMap {
    /// 1-based line of data row `row`.
    pub fn line(&self, row: usize) -> usize {
        let row = self.reversed_rows.map_or(row, |n| n - 1 - row.min(n - 1));
        self.first_row_line + row + self.blank_before_row.partition_point(|&r| r <= row)
    }

    /// Whether the file was newest first (its rows were read in time order).
    pub fn reversed(&self) -> bool {
        self.reversed_rows.is_some()
    }
}

/// Turns a newest-first file (REST dumps of Bybit and OKX) into time order: only when every
/// time is at or before the one above it and the last is before the first, so a file that is
/// neither sorted nor reversed is left for the checks to name its first line out of order.
fn reverse_if_newest_first(rows: &mut Rows, lines: &mut LineMap) {
    let time = match rows {
        Rows::Candles(c) => &c.open_time,
        Rows::Funding(f) => &f.time,
    };
    let n = time.len();
    let newest_first = n >= 2 && time[n - 1] < time[0] && time.windows(2).all(|w| w[1] <= w[0]);
    if !newest_first {
        return;
    }
    match rows {
        Rows::Candles(c) => {
            for column in [
                &mut c.open,
                &mut c.high,
                &mut c.low,
                &mut c.close,
                &mut c.volume,
            ] {
                column.reverse();
            }
            c.open_time.reverse();
        }
        Rows::Funding(f) => {
            f.time.reverse();
            f.rate.reverse();
            if let Some(h) = &mut f.interval_hours {
                h.reverse();
            }
        }
    }
    lines.reversed_rows = Some(n);
}

/// Funding rows as read, before snapping and checks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawFunding {
    /// ms as written (Binance's `calc_time` may sit a few ms past the hour)
    pub time: Vec<i64>,
    /// fraction per settlement
    pub rate: Vec<f64>,
    /// hours, where the file carries a `funding_interval_hours` column
    pub interval_hours: Option<Vec<f64>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Rows {
    Candles(Candles),
    Funding(RawFunding),
}

/// A parsed file: its layout, how it wrote time, its rows and where they sit.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub layout: Layout,
    /// `None` for a file with a header and no rows
    pub time_format: Option<TimeFormat>,
    pub rows: Rows,
    pub lines: LineMap,
}

impl Table {
    pub fn row_count(&self) -> usize {
        match &self.rows {
            Rows::Candles(c) => c.len(),
            Rows::Funding(f) => f.time.len(),
        }
    }
}

/// Reads a whole CSV stream. `file` names it in errors; `size_hint` (bytes) presizes columns.
pub fn read_table(
    reader: &mut dyn Read,
    file: &str,
    names: &ColumnNames,
    size_hint: u64,
) -> Result<Table> {
    let io_err = |source| DataError::Io {
        file: file.to_string(),
        source,
    };
    let mut lines = LineReader::new(reader);
    let (first_line_no, mut first) = loop {
        match lines.next_line().map_err(io_err)? {
            None => {
                return Err(DataError::Layout {
                    file: file.into(),
                    message: "the file is empty".into(),
                });
            }
            Some((_, line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
            Some((line_no, line)) => break (line_no, line.to_vec()),
        }
    };
    if first.starts_with(b"\xEF\xBB\xBF") {
        first.drain(..3);
    }
    let first_text = std::str::from_utf8(&first).map_err(|_| DataError::Layout {
        file: file.into(),
        message: "the first line is not UTF-8 text".into(),
    })?;
    let layout = layout::detect(first_text, names).map_err(|message| DataError::Layout {
        file: file.into(),
        message,
    })?;

    let mut reader = RowReader::new(file, &layout, size_hint, first.len());
    if layout.has_header {
        reader.lines.first_row_line = first_line_no + 1;
    } else {
        reader.lines.first_row_line = first_line_no;
        reader.row(&first, first_line_no)?;
    }
    while let Some((line_no, line)) = lines.next_line().map_err(io_err)? {
        if line.iter().all(u8::is_ascii_whitespace) {
            reader.lines.blank_before_row.push(reader.row_count());
            continue;
        }
        reader.row(line, line_no)?;
    }
    let (mut rows, mut lines, time_format) = reader.finish();
    reverse_if_newest_first(&mut rows, &mut lines);
    Ok(Table {
        layout,
        time_format,
        rows,
        lines,
    })
}

/// Per-row state of [`read_table`]: the columns being filled and the reusable field bounds.
struct RowReader<'a> {
    file: &'a str,
    layout: &'a Layout,
    kind: Kind,
    /// time, open, high, low, close, volume are fields 0..6: rows can take [`leading_row`]
    leading: bool,
    bounds: Vec<(usize, usize)>,
    time_format: Option<TimeFormat>,
    candles: Candles,
    funding: RawFunding,
    lines: LineMap,
}

impl<'a> RowReader<'a> {
    fn new(
        file: &'a str,
        layout: &'a Layout,
        size_hint: u64,
        first_line_len: usize,
    ) -> RowReader<'a> {
        let rows = (size_hint as f64 / (first_line_len.max(8) + 1) as f64 * 1.1) as usize;
        let kind = layout.kind;
        let (candles, funding) = match kind {
            Kind::Kline(_) => (
                Candles::with_capacity(rows.min(50_000_000)),
                RawFunding::default(),
            ),
            Kind::Funding(f) => {
                let interval_hours = f.interval_hours.map(|_| Vec::new());
                (
                    Candles::default(),
                    RawFunding {
                        interval_hours,
                        ..RawFunding::default()
                    },
                )
            }
        };
        let leading = matches!(kind, Kind::Kline(c)
            if (c.time, c.open, c.high, c.low, c.close, c.volume) == (0, 1, 2, 3, 4, Some(5)));
        RowReader {
            file,
            layout,
            kind,
            leading,
            bounds: Vec::with_capacity(16),
            time_format: None,
            candles,
            funding,
            lines: LineMap::default(),
        }
    }

    fn row_count(&self) -> usize {
        match self.kind {
            Kind::Kline(_) => self.candles.len(),
            Kind::Funding(_) => self.funding.time.len(),
        }
    }

    fn row(&mut self, line: &[u8], line_no: usize) -> Result<()> {
        if self.leading
            && let Some(TimeFormat::Integer(unit)) = self.time_format
            && let Some((time, [open, high, low, close, volume])) =
                leading_row(line, unit, self.layout.field_count)
        {
            self.candles.push(time, open, high, low, close, volume);
            return Ok(());
        }
        self.bounds.clear();
        let mut start = 0;
        for comma in memchr_iter(b',', line) {
            self.bounds.push((start, comma));
            start = comma + 1;
        }
        self.bounds.push((start, line.len()));
        if self.bounds.len() != self.layout.field_count {
            return Err(DataError::Row {
                file: self.file.into(),
                line: line_no,
                message: format!(
                    "{} fields, expected {} ({})",
                    self.bounds.len(),
                    self.layout.field_count,
                    self.layout.names.join(",")
                ),
            });
        }
        match self.kind {
            Kind::Kline(c) => {
                let time = self.time(line, c.time, line_no)?;
                let open = self.number(line, c.open, line_no)?;
                let high = self.number(line, c.high, line_no)?;
                let low = self.number(line, c.low, line_no)?;
                let close = self.number(line, c.close, line_no)?;
                let volume = match c.volume {
                    Some(i) => self.number(line, i, line_no)?,
                    None => 0.0,
                };
                self.candles.push(time, open, high, low, close, volume);
            }
            Kind::Funding(f) => {
                let time = self.time(line, f.time, line_no)?;
                let rate = self.number(line, f.rate, line_no)?;
                if let Some(i) = f.interval_hours {
                    let hours = self.number(line, i, line_no)?;
                    self.funding
                        .interval_hours
                        .as_mut()
                        .expect("column set up in new")
                        .push(hours);
                }
                self.funding.time.push(time);
                self.funding.rate.push(rate);
            }
        }
        Ok(())
    }

    fn field<'l>(&self, line: &'l [u8], index: usize) -> &'l [u8] {
        let (from, to) = self.bounds[index];
        trim_field(&line[from..to])
    }

    fn number(&self, line: &[u8], index: usize, line_no: usize) -> Result<f64> {
        let field = self.field(line, index);
        parse_f64(field).ok_or_else(|| self.field_error(field, index, line_no, "a number"))
    }

    fn time(&mut self, line: &[u8], index: usize, line_no: usize) -> Result<i64> {
        let field = self.field(line, index);
        let format = match self.time_format {
            Some(format) => format,
            None => {
                let format = match parse_i64(field) {
                    Some(value) => TimeFormat::Integer(TimeUnit::detect(value)),
                    None => TimeFormat::Text,
                };
                self.time_format = Some(format);
                format
            }
        };
        match format {
            TimeFormat::Integer(unit) => {
                let value = parse_i64(field).ok_or_else(|| {
                    self.field_error(field, index, line_no, "an integer timestamp")
                })?;
                let seen = TimeUnit::detect(value);
                if seen != unit {
                    return Err(DataError::Row {
                        file: self.file.into(),
                        line: line_no,
                        message: format!(
                            "column '{}': timestamp {value} looks like {} but the file's first row was in {}",
                            self.layout.names[index],
                            seen.name(),
                            unit.name()
                        ),
                    });
                }
                Ok(unit.to_ms(value))
            }
            TimeFormat::Text => std::str::from_utf8(field)
                .ok()
                .and_then(parse_text_time)
                .ok_or_else(|| {
                    self.field_error(
                        field,
                        index,
                        line_no,
                        "a timestamp (integer or ISO-8601 text)",
                    )
                }),
        }
    }

    fn field_error(
        &self,
        field: &[u8],
        index: usize,
        line_no: usize,
        expected: &'static str,
    ) -> DataError {
        DataError::Field {
            file: self.file.into(),
            line: line_no,
            column: self.layout.names[index].clone(),
            value: String::from_utf8_lossy(field).into_owned(),
            expected,
        }
    }

    fn finish(mut self) -> (Rows, LineMap, Option<TimeFormat>) {
        let rows = match self.kind {
            Kind::Kline(_) => {
                self.candles.shrink_to_fit();
                Rows::Candles(self.candles)
            }
            Kind::Funding(_) => Rows::Funding(self.funding),
        };
        (rows, self.lines, self.time_format)
    }
}

fn trim_field(field: &[u8]) -> &[u8] {
    let field = field.trim_ascii();
    let field = field.strip_prefix(b"\"").unwrap_or(field);
    let field = field.strip_suffix(b"\"").unwrap_or(field);
    field.trim_ascii()
}

/// Exact powers of ten up to 10^22, the largest a `f64` holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The fast path for the common layout (time, open, high, low, close, volume leading, the
/// time an integer in `unit`): one pass over the line, parsing while scanning, then a count of
/// the remaining commas. `None` sends the line to the general path, which also words errors.
fn leading_row(line: &[u8], unit: TimeUnit, field_count: usize) -> Option<(i64, [f64; 5])> {
    let (raw_time, mut pos) = int_prefix(line)?;
    if TimeUnit::detect(raw_time) != unit {
        return None;
    }
    let mut values = [0.0; 5];
    for value in &mut values {
        if line.get(pos) != Some(&b',') {
            return None;
        }
        let (v, used) = decimal_prefix(&line[pos + 1..])?;
        *value = v;
        pos += 1 + used;
    }
    let rest = &line[pos..];
    let more_fields = rest.iter().filter(|&&b| b == b',').count();
    if 6 + more_fields != field_count || (!rest.is_empty() && rest[0] != b',') {
        return None;
    }
    Some((unit.to_ms(raw_time), values))
}

/// A non-negative integer at the start of `bytes`, ended by `,` or the end: (value, bytes used).
fn int_prefix(bytes: &[u8]) -> Option<(i64, usize)> {
    let mut value: i64 = 0;
    let mut used = 0;
    for &b in bytes.iter().take(18) {
        if !b.is_ascii_digit() {
            break;
        }
        value = value * 10 + i64::from(b - b'0');
        used += 1;
    }
    let ended = bytes.get(used).is_none_or(|&b| b == b',');
    (used > 0 && ended).then_some((value, used))
}

/// A plain decimal (`-123.456`) at the start of `bytes`, ended by `,` or the end, that the
/// exact fast path can take: (value, bytes used). Anything else is `None`.
fn decimal_prefix(bytes: &[u8]) -> Option<(f64, usize)> {
    let negative = bytes.first() == Some(&b'-');
    let start = usize::from(negative);
    let mut mantissa: u64 = 0;
    let mut digit_count = 0u32;
    let mut fraction_digits = 0usize;
    let mut seen_dot = false;
    let mut used = start;
    for &b in &bytes[start..] {
        match b {
            b'0'..=b'9' if digit_count < 19 => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digit_count += 1;
                fraction_digits += usize::from(seen_dot);
            }
            b'.' if !seen_dot => seen_dot = true,
            b',' => break,
            _ => return None,
        }
        used += 1;
    }
    if digit_count == 0 || mantissa > 1 << 53 || fraction_digits >= POW10.len() {
        return None;
    }
    let value = mantissa as f64 / POW10[fraction_digits];
    Some((if negative { -value } else { value }, used))
}

/// Parses a decimal number. Plain decimals (`-123.456`, up to 19 digits, mantissa ≤ 2^53)
/// take the exact fast path; exponents, long mantissas, `NaN` and `inf` go to the standard
/// parser, so `inf` parses and is rejected later by the checks with its line.
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let unsigned = bytes.strip_prefix(b"+").unwrap_or(bytes);
    match decimal_prefix(unsigned) {
        Some((value, used)) if used == unsigned.len() => Some(value),
        _ => parse_f64_slow(bytes),
    }
}

fn parse_f64_slow(bytes: &[u8]) -> Option<f64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Parses an integer, also accepting a fraction of zeros (`1704067200000.0`) that some
/// exports write for integer columns.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    let (int_part, fraction) = match memchr(b'.', digits) {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &b""[..]),
    };
    if int_part.is_empty() || !fraction.iter().all(|&b| b == b'0') {
        return None;
    }
    let mut value: i64 = 0;
    for &b in int_part {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_matches_std_parse() {
        for text in [
            "0",
            "1",
            "-1",
            "40123.45",
            "0.00010000",
            "-0.00375",
            "67980.1",
            "123456789.123456789",
            "9007199254740993",
            "1e-5",
            "3.5E+2",
            ".5",
            "5.",
            "99999999999999999999.5",
        ] {
            let want: f64 = text.parse().unwrap();
            assert_eq!(parse_f64(text.as_bytes()), Some(want), "{text}");
        }
        assert!(parse_f64(b"inf").unwrap().is_infinite());
        assert!(parse_f64(b"NaN").unwrap().is_nan());
        for bad in ["", "-", ".", "1.2.3", "12a", "1,5", "--1"] {
            assert_eq!(parse_f64(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn leading_row_takes_plain_rows_and_leaves_the_rest() {
        let unit = TimeUnit::Millis;
        let row = b"1704067200000,42000.0,42016.3,41979.1,42002.4,410.367,1704067259999,1.7e7,2585,205.2,8.6e6,0";
        assert_eq!(
            leading_row(row, unit, 12),
            Some((
                1_704_067_200_000,
                [42000.0, 42016.3, 41979.1, 42002.4, 410.367]
            ))
        );
        assert_eq!(
            leading_row(b"1704067200000,1,2,0.5,1.5,3", unit, 6),
            Some((1_704_067_200_000, [1.0, 2.0, 0.5, 1.5, 3.0]))
        );
        for other in [
            &b"1704067200000,1,2,0.5,1.5,3"[..], // wrong field count for 12
            b"1704067200,1,2,0.5,1.5,3,0,0,0,0,0,0", // another unit
            b"1704067200000,1e3,2,0.5,1.5,3,0,0,0,0,0,0", // exponent
            b"1704067200000, 1,2,0.5,1.5,3,0,0,0,0,0,0", // blank
            b"1704067200000,\"1\",2,0.5,1.5,3,0,0,0,0,0,0", // quotes
            b"1704067200000,1,2,0.5,1.5,3x,0,0,0,0,0,0",
        ] {
            assert_eq!(
                leading_row(other, unit, 12),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn integers_accept_zero_fractions_only() {
        assert_eq!(parse_i64(b"1704067200000"), Some(1_704_067_200_000));
        assert_eq!(parse_i64(b"1704067200000.000"), Some(1_704_067_200_000));
        assert_eq!(parse_i64(b"-5"), Some(-5));
        assert_eq!(
            parse_i64(b"1704067200000000000"),
            Some(1_704_067_200_000_000_000)
        );
        assert_eq!(parse_i64(b"99999999999999999999"), None);
        assert_eq!(parse_i64(b"1704067200000.5"), None);
        assert_eq!(parse_i64(b"2024-01-01"), None);
        assert_eq!(parse_i64(b""), None);
    }

    #[test]
    fn line_reader_handles_crlf_missing_final_newline_and_long_lines() {
        let long = "x".repeat(3 << 20);
        let text = format!("a,b\r\n1,2\n\n{long}\n3,4");
        let mut bytes = text.as_bytes();
        let mut reader = LineReader::new(&mut bytes);
        let mut got = Vec::new();
        while let Some((line_no, line)) = reader.next_line().unwrap() {
            got.push((line_no, line.len()));
        }
        assert_eq!(got, vec![(1, 3), (2, 3), (3, 0), (4, 3 << 20), (5, 3)]);
    }

    /// A line without end (a binary file, a stuck writer) is refused once it passes
    /// [`MAX_LINE`], with its number, holding no more than that in memory; a reader that
    /// never ends stands in for a file of any size.
    #[test]
    fn a_line_longer_than_the_limit_is_refused_with_its_number() {
        let mut endless = std::io::repeat(b'x');
        let head = b"a,b\n1,2\n";
        let mut input = (&head[..]).chain(&mut endless);
        let mut reader = LineReader::new(&mut input);
        assert_eq!(reader.next_line().unwrap().map(|l| l.0), Some(1));
        assert_eq!(reader.next_line().unwrap().map(|l| l.0), Some(2));
        let e = reader.next_line().unwrap_err();
        assert_eq!(e.to_string(), "line 3 is longer than 4 MiB: not a CSV row");
        assert!(reader.buf.len() <= MAX_LINE);
    }

    #[test]
    fn line_map_counts_skipped_blank_lines() {
        // header on line 1, rows 0 and 1 on lines 2-3, a blank line 4, rows 2.. from line 5
        let map = LineMap {
            first_row_line: 2,
            blank_before_row: vec![2],
            reversed_rows: None,
        };
        assert_eq!(
            (map.line(0), map.line(1), map.line(2), map.line(3)),
            (2, 3, 5, 6)
        );
    }
}
