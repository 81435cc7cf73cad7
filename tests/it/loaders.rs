use std::io::Write;

use perpsim::data::check::GapPolicy;
use perpsim::data::layout::ColumnNames;
use perpsim::data::time::TimeFormat;
use perpsim::data::time::TimeUnit;
use perpsim::data::{self, Content, LoadOptions};
use perpsim::market::Timeframe;
use tempfile::TempDir;

use crate::write;

const H: i64 = 3_600_000;
/// 2024-01-01 00:00 UTC
const T0: i64 = 1_704_067_200_000;

fn kline_rows(times: &[i64]) -> String {
    times
        .iter()
        .map(|t| {
            format!(
                "{t},100.0,101.5,99.5,100.5,12.5,{},1256.25,42,6.0,603.0,0\n",
                t + H - 1
            )
        })
        .collect()
}

fn error_of(dir: &TempDir, name: &str, text: &str) -> String {
    let path = write(dir.path(), name, text);
    data::load_candles(path.to_str().unwrap(), &LoadOptions::default())
        .unwrap_err()
        .to_string()
}

fn file_in(dir: &TempDir, name: &str) -> String {
    dir.path().join(name).display().to_string()
}

#[test]
fn binance_kline_with_and_without_header_read_the_same() {
    let dir = TempDir::new().unwrap();
    let rows = kline_rows(&[T0, T0 + H, T0 + 2 * H]);
    let header = perpsim::data::layout::BINANCE_KLINE_COLUMNS.join(",");
    let with = write(
        dir.path(),
        "BTCUSDT-1h-2024-01-01.csv",
        &format!("{header}\n{rows}"),
    );
    let without = write(dir.path(), "ETHUSDT-1h-2024-01-01.csv", &rows);
    let a = data::load_candles(with.to_str().unwrap(), &LoadOptions::default()).unwrap();
    let b = data::load_candles(without.to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_eq!(a.candles, b.candles);
    assert_eq!(a.candles.open_time, vec![T0, T0 + H, T0 + 2 * H]);
    assert_eq!(
        (a.candles.high[1], a.candles.low[1], a.candles.volume[2]),
        (101.5, 99.5, 12.5)
    );
    let report = data::inspect(&without, &ColumnNames::default()).unwrap();
    assert_eq!(
        report.layout,
        "Binance Vision kline (12 columns, no header)"
    );
    assert_eq!(report.symbol.as_deref(), Some("ETHUSDT"));
}

/// `.csv.gz` (Bybit's public data, many exports): read like the plain file, alone or in a
/// folder; a stream cut short is an error naming the file; a bad row names its line.
#[test]
fn gzipped_csv_reads_like_the_plain_one() {
    let dir = TempDir::new().unwrap();
    let gz = |name: &str, text: &str| {
        let path = dir.path().join(name);
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap();
        path
    };
    let rows = kline_rows(&[T0, T0 + H, T0 + 2 * H]);
    let path = gz("BTCUSDT-1h-2024-01.csv.gz", &rows);
    let plain = write(dir.path(), "BTCUSDT-1h-plain.csv", &rows);
    let options = LoadOptions::default();
    let zipped = data::load_candles(path.to_str().unwrap(), &options).unwrap();
    let loaded = data::load_candles(plain.to_str().unwrap(), &options).unwrap();
    assert_eq!(zipped.candles, loaded.candles);
    assert_eq!(zipped.timeframe, Timeframe::HOUR);
    let report = data::inspect(&path, &Default::default()).unwrap();
    assert_eq!(report.symbol.as_deref(), Some("BTCUSDT"));
    // a folder of them, next month in its own file
    let folder = dir.path().join("monthly");
    std::fs::create_dir(&folder).unwrap();
    std::fs::rename(&path, folder.join("BTCUSDT-1h-2024-01.csv.gz")).unwrap();
    let feb = kline_rows(&[T0 + 3 * H]);
    std::fs::rename(
        gz("feb.csv.gz", &feb),
        folder.join("BTCUSDT-1h-2024-02.csv.gz"),
    )
    .unwrap();
    let joined = data::load_candles(folder.to_str().unwrap(), &options).unwrap();
    assert_eq!(joined.candles.len(), 4);
    // cut short
    let whole = std::fs::read(folder.join("BTCUSDT-1h-2024-01.csv.gz")).unwrap();
    let cut = dir.path().join("BTCUSDT-1h-cut.csv.gz");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let e = data::load_candles(cut.to_str().unwrap(), &options)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(&format!("{}: ", cut.display())), "{e}");
    let bad = gz("BTCUSDT-1h-bad.csv.gz", &rows.replacen("101.5", "1x1.5", 1));
    let e = data::load_candles(bad.to_str().unwrap(), &options)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.csv.gz:1: column 'high'") && e.contains("1x1.5"),
        "{e}"
    );
}

#[test]
fn zipped_csv_reads_like_the_plain_one() {
    let dir = TempDir::new().unwrap();
    let rows = kline_rows(&[T0, T0 + H]);
    let zip_path = dir.path().join("BTCUSDT-1h-2024-01.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    zip.start_file(
        "BTCUSDT-1h-2024-01.csv",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(rows.as_bytes()).unwrap();
    zip.finish().unwrap();
    let loaded = data::load_candles(zip_path.to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_eq!(loaded.candles.open_time, vec![T0, T0 + H]);

    let two = dir.path().join("two.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&two).unwrap());
    for name in ["a.csv", "b.csv"] {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(rows.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    let err = data::load_candles(two.to_str().unwrap(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: not a readable zip archive: expected one CSV inside, found 2: a.csv, b.csv",
            two.display()
        )
    );
}

#[test]
fn time_units_are_detected_and_said() {
    let dir = TempDir::new().unwrap();
    let cases = [
        (
            "s.csv",
            T0 / 1_000,
            3_600,
            TimeFormat::Integer(TimeUnit::Seconds),
        ),
        ("ms.csv", T0, H, TimeFormat::Integer(TimeUnit::Millis)),
        (
            "us.csv",
            T0 * 1_000,
            H * 1_000,
            TimeFormat::Integer(TimeUnit::Micros),
        ),
        (
            "ns.csv",
            T0 * 1_000_000,
            H * 1_000_000,
            TimeFormat::Integer(TimeUnit::Nanos),
        ),
    ];
    for (name, start, step, format) in cases {
        let text = format!(
            "timestamp,open,high,low,close,volume\n{start},1,2,0.5,1.5,3\n{},1.5,2,1,1.2,4\n",
            start + step
        );
        let path = write(dir.path(), name, &text);
        let report = data::inspect(&path, &ColumnNames::default()).unwrap();
        assert_eq!(report.time_format, Some(format), "{name}");
        let Content::Candles { candles, .. } = report.content else {
            panic!("{name}: not candles")
        };
        assert_eq!(candles.open_time, vec![T0, T0 + H], "{name}");
    }
    let iso = "date,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,3\n\"2024-01-01 01:00:00\",1.5,2,1,1.2,4\n";
    let path = write(dir.path(), "iso.csv", iso);
    let loaded = data::load_candles(path.to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_eq!(loaded.candles.open_time, vec![T0, T0 + H]);
}

#[test]
fn user_named_columns_read_an_unknown_header() {
    let dir = TempDir::new().unwrap();
    let text = format!(
        "Stamp,Px_O,Px_H,Px_L,Px_C\n{T0},1,2,0.5,1.5\n{},1.5,2,1,1.2\n",
        T0 + H
    );
    let path = write(dir.path(), "custom.csv", &text);
    let err = data::load_candles(path.to_str().unwrap(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "no time column: the header has Stamp, Px_O, Px_H, Px_L, Px_C; name it with time=COLUMN"
        ),
        "{err}"
    );
    let mut columns = ColumnNames::default();
    for a in [
        "time=Stamp",
        "open=Px_O",
        "high=Px_H",
        "low=Px_L",
        "close=Px_C",
    ] {
        columns.set(a).unwrap();
    }
    let options = LoadOptions {
        columns,
        ..LoadOptions::default()
    };
    let loaded = data::load_candles(path.to_str().unwrap(), &options).unwrap();
    assert_eq!(
        (loaded.candles.close[1], loaded.candles.volume[1]),
        (1.2, 0.0)
    );
}

#[test]
fn bad_rows_name_file_line_column_and_value() {
    let dir = TempDir::new().unwrap();
    let header = "open_time,open,high,low,close,volume\n";
    let good = format!("{T0},10,11,9,10.5,1\n");
    let cases = [
        (
            "number.csv",
            format!("{header}{good}{},10,abc,9,10,1\n", T0 + H),
            "{f}:3: column 'high': cannot read \"abc\" as a number",
        ),
        (
            "fields.csv",
            format!("{header}{good}{},10,11,9,10\n", T0 + H),
            "{f}:3: 5 fields, expected 6 (open_time,open,high,low,close,volume)",
        ),
        (
            "unit.csv",
            format!("{header}{good}{},10,11,9,10,1\n", (T0 + H) / 1000),
            "{f}:3: column 'open_time': timestamp 1704070800 looks like seconds but the file's first row was in milliseconds",
        ),
        (
            "text_time.csv",
            format!("{header}2024-01-01 00:00,10,11,9,10.5,1\n2024-13-01 00:00,10,11,9,10.5,1\n"),
            "{f}:3: column 'open_time': cannot read \"2024-13-01 00:00\" as a timestamp (integer or ISO-8601 text)",
        ),
        (
            "high.csv",
            format!("{header}{good}{},10,9.5,9,10,1\n", T0 + H),
            "{f}: 1 problem(s) found by the checks\n  line 3, column 'high', value 9.5: high is below max(open, close) = 10",
        ),
        (
            "negative.csv",
            format!("{header}{good}{},10,11,-9,10,1\n", T0 + H),
            "{f}: 1 problem(s) found by the checks\n  line 3, column 'low', value -9: price must be finite and > 0",
        ),
        (
            "volume.csv",
            format!("{header}{good}{},10,11,9,10,NaN\n", T0 + H),
            "{f}: 1 problem(s) found by the checks\n  line 3, column 'volume', value NaN: volume must be finite and >= 0",
        ),
        (
            "dup.csv",
            format!("{header}{good}{good}"),
            "{f}: 1 problem(s) found by the checks\n  line 3, column 'open_time', value 1704067200000: duplicate time (also on line 2)",
        ),
        ("empty.csv", String::new(), "{f}: the file is empty"),
    ];
    for (name, text, want) in cases {
        let got = error_of(&dir, name, &text);
        assert_eq!(got, want.replace("{f}", &file_in(&dir, name)), "{name}");
    }
}

#[test]
fn lines_count_through_bom_crlf_and_blank_lines() {
    let dir = TempDir::new().unwrap();
    // line 1 header (with BOM), 2 row, 3 blank, 4 row, 5 bad row
    let text = format!(
        "\u{feff}open_time,open,high,low,close,volume\r\n{T0},10,11,9,10,1\r\n\r\n{},10,11,9,10,1\r\n{},10,11,12,10,1\r\n",
        T0 + H,
        T0 + 2 * H
    );
    let err = error_of(&dir, "crlf.csv", &text);
    assert!(
        err.ends_with("line 5, column 'low', value 12: low is above min(open, close) = 10"),
        "{err}"
    );
}

#[test]
fn gaps_fail_by_default_and_pass_when_allowed() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "BTCUSDT-1h-gap.csv",
        &kline_rows(&[T0, T0 + H, T0 + 4 * H]),
    );
    let err = data::load_candles(path.to_str().unwrap(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("line 3, column 'open_time', value 1704081600000: gap: 2 bars missing from 2024-01-01 02:00 (set the gap policy to allow to accept gaps)"), "{err}");
    let allow = LoadOptions {
        gaps: GapPolicy::Allow,
        ..LoadOptions::default()
    };
    assert_eq!(
        data::load_candles(path.to_str().unwrap(), &allow)
            .unwrap()
            .candles
            .len(),
        3
    );
}

#[test]
fn a_directory_of_daily_files_joins_in_time_order_and_checks_seams() {
    let dir = TempDir::new().unwrap();
    let day = 24 * H;
    let times = |start: i64| (0..24).map(|i| start + i * H).collect::<Vec<_>>();
    write(
        dir.path(),
        "BTCUSDT-1h-2024-01-02.csv",
        &kline_rows(&times(T0 + day)),
    );
    write(
        dir.path(),
        "BTCUSDT-1h-2024-01-01.csv",
        &kline_rows(&times(T0)),
    );
    let all = data::load_candles(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_eq!(all.candles.len(), 48);
    assert!(all.candles.open_time.windows(2).all(|w| w[1] - w[0] == H));
    let glob = format!("{}/BTCUSDT-1h-*.csv", dir.path().display());
    assert_eq!(
        data::load_candles(&glob, &LoadOptions::default())
            .unwrap()
            .candles,
        all.candles
    );

    // a third day that overlaps the second by one bar
    write(
        dir.path(),
        "BTCUSDT-1h-2024-01-03.csv",
        &kline_rows(&times(T0 + 2 * day - H)),
    );
    let err = data::load_candles(dir.path().to_str().unwrap(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: starts at 2024-01-02 23:00, before {} ends (2024-01-02 23:00): the files overlap",
            file_in(&dir, "BTCUSDT-1h-2024-01-03.csv"),
            file_in(&dir, "BTCUSDT-1h-2024-01-02.csv")
        )
    );
    // instead, a day missing between the files
    write(
        dir.path(),
        "BTCUSDT-1h-2024-01-03.csv",
        &kline_rows(&times(T0 + 3 * day)),
    );
    let err = data::load_candles(dir.path().to_str().unwrap(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gap between files:") && err.contains("(24 steps missing;"),
        "{err}"
    );
}

#[test]
fn funding_archives_snap_and_plain_funding_reads() {
    let dir = TempDir::new().unwrap();
    let h8 = 8 * H;
    let vision = format!(
        "calc_time,funding_interval_hours,last_funding_rate\n{},8,0.00010000\n{},8,-0.00030000\n",
        T0 + 5,
        T0 + h8 + 47
    );
    let path = write(dir.path(), "BTCUSDT-fundingRate-2024-01.csv", &vision);
    let series = data::load_funding(path.to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_eq!(series.time, vec![T0, T0 + h8]);
    assert_eq!(series.rate, vec![0.0001, -0.0003]);
    let plain = write(
        dir.path(),
        "funding.csv",
        &format!(
            "funding_time,funding_rate\n{T0},0.0001\n{},0.0002\n",
            T0 + h8
        ),
    );
    assert_eq!(
        data::load_funding(plain.to_str().unwrap(), &LoadOptions::default())
            .unwrap()
            .len(),
        2
    );
    let err = data::load_candles(path.to_str().unwrap(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("this is a Binance funding-rate archive (header), not candles"),
        "{err}"
    );
    // a rate of −10 (1,000 % of the notional at once) is refused where it stands
    let wild = write(
        dir.path(),
        "wild.csv",
        &format!("funding_time,funding_rate\n{T0},0.0001\n{},-10\n", T0 + h8),
    );
    let err = data::load_funding(wild.to_str().unwrap(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: 1 problem(s) found by the checks\n  line 3, column 'funding_rate', value -10: a \
             funding rate is a fraction of the notional per settlement (0.0001 = 0.01 %); -10 is \
             beyond ±0.1, more than any exchange's cap",
            wild.display()
        )
    );
}

/// A newest-first file (Bybit's and OKX's REST dumps) is read in time order and says so; a
/// bad row still names its line in the file; a file neither sorted nor reversed is refused
/// at its first line out of order.
#[test]
fn a_newest_first_file_is_read_in_time_order() {
    let dir = TempDir::new().unwrap();
    let times = [T0, T0 + H, T0 + 2 * H, T0 + 3 * H];
    let header = "open_time,open,high,low,close,volume\n";
    let row = |t: i64| format!("{t},100.0,101.5,99.5,100.5,12.5\n");
    let newest_first: String = times.iter().rev().map(|&t| row(t)).collect();
    let path = write(
        dir.path(),
        "BTCUSDT-1h-rev.csv",
        &format!("{header}{newest_first}"),
    );
    let loaded = data::load_candles(path.to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_eq!(loaded.candles.open_time, times);
    let report = data::inspect(&path, &ColumnNames::default()).unwrap();
    assert!(report.reversed);
    let funding = "calc_time,funding_interval_hours,last_funding_rate\n1704096000000,8,0.0002\n1704067200000,8,0.0001\n";
    let f = write(dir.path(), "BTCUSDT-fundingRate-rev.csv", funding);
    let series = data::load_funding(f.to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_eq!(series.rate, [0.0001, 0.0002]);
    // high below the close on the file's line 3 (the third-newest bar): named as line 3
    let bad: String = times
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &t)| {
            if i == 1 {
                format!("{t},100.0,100.2,99.5,100.5,12.5\n")
            } else {
                row(t)
            }
        })
        .collect();
    let e = error_of(&dir, "BTCUSDT-1h-bad.csv", &format!("{header}{bad}"));
    assert!(e.contains("line 3, column 'high'"), "{e}");
    // neither sorted nor reversed
    let shuffled = format!("{header}{}{}{}", row(T0 + H), row(T0), row(T0 + 2 * H));
    let e = error_of(&dir, "BTCUSDT-1h-shuffled.csv", &shuffled);
    assert!(e.contains("line 3"), "{e}");
}

/// A spec's column map (`columns = { … }` on a symbol) reads a layout perpsim does not know,
/// as `data check --column` does; a map naming a column the file lacks, or a field that does
/// not exist, is an error naming it.
#[test]
fn a_specs_column_map_reads_an_unknown_layout() {
    let dir = TempDir::new().unwrap();
    let mut text = String::from("startTime,openPrice,highPrice,lowPrice,closePrice,volume\n");
    for i in 0..48 {
        text += &format!("{},100.0,101.5,99.5,100.5,12.5\n", T0 + i * H);
    }
    write(dir.path(), "BTCUSDT-bybit-1h.csv", &text);
    let spec = |columns: &str| {
        let body = format!(
            "name = \"b\"\n[data]\ntimeframe = \"1h\"\n[[data.symbols]]\nsymbol = \"BTCUSDT\"\ncandles = \"BTCUSDT-bybit-1h.csv\"\n{columns}\n[strategy]\nkind = \"buy_and_hold\"\n"
        );
        let file = write(dir.path(), "b.toml", &body);
        perpsim::spec::read(&file)
    };
    let e = spec("").unwrap().load_market().unwrap_err().to_string();
    assert!(
        e.contains("no time column") && e.contains("columns = { time"),
        "{e}"
    );
    let map = "columns = { time = \"startTime\", open = \"openPrice\", high = \"highPrice\", low = \"lowPrice\", close = \"closePrice\" }";
    let market = spec(map).unwrap().load_market().unwrap();
    assert_eq!(market.symbols[0].candles.len(), 48);
    let e = spec(&map.replace("\"openPrice\"", "\"opnPrice\""))
        .unwrap()
        .load_market()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no column named 'opnPrice' (given for open)"),
        "{e}"
    );
    let e = spec("columns = { tim = \"startTime\" }").unwrap_err();
    assert_eq!(e.field, "data.symbols.columns.tim");
    assert!(e.message.contains("expected time, open"), "{e}");
}
