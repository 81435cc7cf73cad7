//! Which CSV layout a file is in, told from its first line.
//!
//! - Binance Vision USDⓈ-M klines: 12 columns `open_time,open,high,low,close,volume,close_time,
//!   quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore`, with or without the
//!   header row (older files have none). Mark-price klines share the layout.
//! - Binance funding archives: `calc_time,funding_interval_hours,last_funding_rate`.
//! - Plain OHLCV CSV with a header: the time, open, high, low, close and (optional) volume
//!   columns are found by name among common aliases, or named by the user ([`ColumnNames`]).
//! - Plain funding CSV with a header: a time column and a rate column (`funding_time,funding_rate`).
//! - Without a header: 12 fields are Binance klines, 6 to 11 fields are `time,o,h,l,c,v,…`,
//!   3 fields are a Binance funding archive, 2 fields are `time,rate`.

use std::fmt;

/// The Binance Vision kline header, in order.
pub const BINANCE_KLINE_COLUMNS: [&str; 12] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
];

/// The Binance Vision funding-rate archive header, in order.
pub const BINANCE_FUNDING_COLUMNS: [&str; 3] =
    ["calc_time", "funding_interval_hours", "last_funding_rate"];

const TIME_ALIASES: &[&str] = &[
    "open_time",
    "opentime",
    "open time",
    "timestamp",
    "time",
    "date",
    "datetime",
    "ts",
    "funding_time",
    "fundingtime",
    "calc_time",
];
const OPEN_ALIASES: &[&str] = &["open", "o"];
const HIGH_ALIASES: &[&str] = &["high", "h"];
const LOW_ALIASES: &[&str] = &["low", "l"];
const CLOSE_ALIASES: &[&str] = &["close", "c"];
const VOLUME_ALIASES: &[&str] = &["volume", "vol", "v", "base_volume"];
const RATE_ALIASES: &[&str] = &["funding_rate", "fundingrate", "last_funding_rate", "rate"];

/// Column names a user can give for a CSV whose header perpsim does not recognise.
/// Unset names are looked up among the aliases above (case-insensitive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnNames {
    pub time: Option<String>,
    pub open: Option<String>,
    pub high: Option<String>,
    pub low: Option<String>,
    pub close: Option<String>,
    pub volume: Option<String>,
    pub rate: Option<String>,
}

impl ColumnNames {
    /// Sets one name from `field=name` (e.g. `time=Date`); the error says what fields exist.
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (field, name) = assignment
            .split_once('=')
            .ok_or_else(|| format!("'{assignment}' is not FIELD=NAME, e.g. time=Date"))?;
        let slot = match field.trim() {
            "time" => &mut self.time,
            "open" => &mut self.open,
            "high" => &mut self.high,
            "low" => &mut self.low,
            "close" => &mut self.close,
            "volume" => &mut self.volume,
            "rate" => &mut self.rate,
            other => {
                return Err(format!(
                    "unknown column field '{other}': expected time, open, high, low, close, volume or rate"
                ));
            }
        };
        *slot = Some(name.trim().to_string());
        Ok(())
    }
}

/// Field positions of a candle file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KlineColumns {
    pub time: usize,
    pub open: usize,
    pub high: usize,
    pub low: usize,
    pub close: usize,
    /// absent in some exports; volume is then 0
    pub volume: Option<usize>,
}

/// Field positions of a funding file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FundingColumns {
    pub time: usize,
    pub rate: usize,
    /// Binance archives carry the interval per row (8 for BTCUSDT; 4 or 1 for some symbols)
    pub interval_hours: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Kline(KlineColumns),
    Funding(FundingColumns),
}

/// A file's layout: what its rows are, where the fields sit, and how many fields a row has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub kind: Kind,
    pub has_header: bool,
    /// Binance's own layout (Vision klines or funding archive) rather than a plain CSV
    pub binance: bool,
    pub field_count: usize,
    /// column names, from the header or the layout's documented names
    pub names: Vec<String>,
}

impl Layout {
    pub fn is_kline(&self) -> bool {
        matches!(self.kind, Kind::Kline(_))
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = if self.has_header {
            "header"
        } else {
            "no header"
        };
        match (self.kind, self.binance) {
            (Kind::Kline(_), true) => write!(
                f,
                "Binance Vision kline ({} columns, {header})",
                self.field_count
            ),
            (Kind::Funding(_), true) => write!(f, "Binance funding-rate archive ({header})"),
            (Kind::Kline(_), false) => write!(f, "OHLCV CSV ({}; {header})", self.names.join(",")),
            (Kind::Funding(_), false) => {
                write!(f, "funding CSV ({}; {header})", self.names.join(","))
            }
        }
    }
}

/// Splits a line into fields, trimming blanks and surrounding quotes. Quoted fields that
/// themselves hold commas are not supported (no market-data export perpsim knows writes them).
pub fn split_fields(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|f| f.trim().trim_matches('"').trim())
        .collect()
}

/// True when the first field of a line reads as data (a number or a date), not a name.
fn looks_like_data(first_field: &str) -> bool {
    let bytes = first_field.as_bytes();
    let digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    digit_at(0) || (bytes.first() == Some(&b'-') && digit_at(1))
}

/// Decides the layout from the first line of a file.
pub fn detect(first_line: &str, names: &ColumnNames) -> Result<Layout, String> {
    let fields = split_fields(first_line);
    if fields.is_empty() || fields.iter().all(|f| f.is_empty()) {
        return Err("the first line is empty".into());
    }
    if looks_like_data(fields[0]) {
        headerless(fields.len())
    } else {
        with_header(&fields, names)
    }
}

fn headerless(count: usize) -> Result<Layout, String> {
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let kline = KlineColumns {
        time: 0,
        open: 1,
        high: 2,
        low: 3,
        close: 4,
        volume: Some(5),
    };
    match count {
        12 => Ok(Layout {
            kind: Kind::Kline(kline),
            has_header: false,
            binance: true,
            field_count: 12,
            names: names(&BINANCE_KLINE_COLUMNS),
        }),
        6..=11 => Ok(Layout {
            kind: Kind::Kline(kline),
            has_header: false,
            binance: false,
            field_count: count,
            names: names(&BINANCE_KLINE_COLUMNS[..count]),
        }),
        3 => Ok(Layout {
            kind: Kind::Funding(FundingColumns {
                time: 0,
                rate: 2,
                interval_hours: Some(1),
            }),
            has_header: false,
            binance: true,
            field_count: 3,
            names: names(&BINANCE_FUNDING_COLUMNS),
        }),
        2 => Ok(Layout {
            kind: Kind::Funding(FundingColumns {
                time: 0,
                rate: 1,
                interval_hours: None,
            }),
            has_header: false,
            binance: false,
            field_count: 2,
            names: names(&["funding_time", "funding_rate"]),
        }),
        n => Err(format!(
            "no header and {n} fields per row: expected 12 (Binance kline), 6 (time,open,high,low,close,volume), \
             3 (Binance funding) or 2 (time,rate)"
        )),
    }
}

fn with_header(fields: &[&str], names: &ColumnNames) -> Result<Layout, String> {
    let lower: Vec<String> = fields.iter().map(|f| f.to_ascii_lowercase()).collect();
    let find =
        |given: &Option<String>, aliases: &[&str], what: &str| -> Result<Option<usize>, String> {
            match given {
                Some(name) => lower
                    .iter()
                    .position(|c| *c == name.to_ascii_lowercase())
                    .map(Some)
                    .ok_or_else(|| {
                        format!(
                            "no column named '{name}' (given for {what}); the header has: {}",
                            fields.join(", ")
                        )
                    }),
                None => Ok(aliases
                    .iter()
                    .find_map(|a| lower.iter().position(|c| c == a))),
            }
        };
    let header_names: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    let binance_kline =
        lower.len() == 12 && lower.iter().zip(BINANCE_KLINE_COLUMNS).all(|(a, b)| a == b);
    let binance_funding = lower.len() == 3
        && lower
            .iter()
            .zip(BINANCE_FUNDING_COLUMNS)
            .all(|(a, b)| a == b);

    let time = find(&names.time, TIME_ALIASES, "time")?;
    let open = find(&names.open, OPEN_ALIASES, "open")?;
    let close = find(&names.close, CLOSE_ALIASES, "close")?;
    let rate = find(&names.rate, RATE_ALIASES, "rate")?;
    let Some(time) = time else {
        return Err(format!(
            "no time column: the header has {}; name it with time=COLUMN (`data check --column`, or `columns = {{ time = \"…\" }}` on the spec's symbol; looked for {})",
            fields.join(", "),
            TIME_ALIASES.join(", ")
        ));
    };
    if let (Some(open), Some(close)) = (open, close) {
        let high = find(&names.high, HIGH_ALIASES, "high")?;
        let low = find(&names.low, LOW_ALIASES, "low")?;
        let (Some(high), Some(low)) = (high, low) else {
            return Err(format!(
                "open and close columns found but no high or low: the header has {}",
                fields.join(", ")
            ));
        };
        let volume = find(&names.volume, VOLUME_ALIASES, "volume")?;
        let kind = Kind::Kline(KlineColumns {
            time,
            open,
            high,
            low,
            close,
            volume,
        });
        return Ok(Layout {
            kind,
            has_header: true,
            binance: binance_kline,
            field_count: fields.len(),
            names: header_names,
        });
    }
    if let Some(rate) = rate {
        let interval_hours = lower.iter().position(|c| c == "funding_interval_hours");
        let kind = Kind::Funding(FundingColumns {
            time,
            rate,
            interval_hours,
        });
        return Ok(Layout {
            kind,
            has_header: true,
            binance: binance_funding,
            field_count: fields.len(),
            names: header_names,
        });
    }
    Err(format!(
        "neither candles (open, high, low, close) nor funding (a rate column) in the header: {}; \
         name the columns with FIELD=COLUMN (`data check --column`, or `columns = {{ … }}` on \
         the spec's symbol)",
        fields.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_default(line: &str) -> Layout {
        detect(line, &ColumnNames::default()).unwrap()
    }

    #[test]
    fn binance_kline_with_and_without_header() {
        let with = detect_default(&BINANCE_KLINE_COLUMNS.join(","));
        assert!(with.binance && with.has_header && with.is_kline());
        let without = detect_default(
            "1730073600000,67980.0,68200.1,67900.0,68100.5,1234.5,1730077199999,8.4e7,12345,600.1,4.1e7,0",
        );
        assert!(without.binance && !without.has_header);
        assert_eq!(without.kind, with.kind);
    }

    #[test]
    fn plain_layouts_by_header_names() {
        let ohlcv = detect_default("open_time,open,high,low,close,volume");
        assert!(!ohlcv.binance);
        assert_eq!(
            ohlcv.kind,
            Kind::Kline(KlineColumns {
                time: 0,
                open: 1,
                high: 2,
                low: 3,
                close: 4,
                volume: Some(5)
            })
        );
        let shuffled = detect_default("Close,High,Low,Open,Timestamp");
        assert_eq!(
            shuffled.kind,
            Kind::Kline(KlineColumns {
                time: 4,
                open: 3,
                high: 1,
                low: 2,
                close: 0,
                volume: None
            })
        );
        let funding = detect_default("funding_time,funding_rate");
        assert_eq!(
            funding.kind,
            Kind::Funding(FundingColumns {
                time: 0,
                rate: 1,
                interval_hours: None
            })
        );
        let vision = detect_default("calc_time,funding_interval_hours,last_funding_rate");
        assert!(vision.binance);
        assert_eq!(
            vision.kind,
            Kind::Funding(FundingColumns {
                time: 0,
                rate: 2,
                interval_hours: Some(1)
            })
        );
    }

    #[test]
    fn user_named_columns_override_aliases() {
        let mut names = ColumnNames::default();
        names.set("time=Stamp").unwrap();
        names.set("volume=qty").unwrap();
        let layout = detect("Stamp,open,high,low,close,qty", &names).unwrap();
        assert_eq!(
            layout.kind,
            Kind::Kline(KlineColumns {
                time: 0,
                open: 1,
                high: 2,
                low: 3,
                close: 4,
                volume: Some(5)
            })
        );
        let missing = detect(
            "when,open,high,low,close",
            &ColumnNames {
                time: Some("Stamp".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            missing.unwrap_err(),
            "no column named 'Stamp' (given for time); the header has: when, open, high, low, close"
        );
        assert_eq!(
            ColumnNames::default().set("opne=x").unwrap_err(),
            "unknown column field 'opne': expected time, open, high, low, close, volume or rate"
        );
    }

    #[test]
    fn unknown_layouts_are_explained() {
        let err = detect("a,b,c", &ColumnNames::default()).unwrap_err();
        assert!(
            err.starts_with("no time column: the header has a, b, c"),
            "{err}"
        );
        let err = detect("1,2,3,4", &ColumnNames::default()).unwrap_err();
        assert!(err.starts_with("no header and 4 fields per row"), "{err}");
    }
}
