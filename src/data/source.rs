//! Where history comes from: a file, a zip holding one CSV (as Binance Vision ships them), a
//! gzipped CSV (`.csv.gz`, as Bybit's public data ships), a directory of such files, or a glob. Also what a Binance file name says (symbol, timeframe).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::error::{DataError, Result};
use crate::market::Timeframe;

/// The files a user's path stands for, sorted by name (Binance names sort in time order):
/// a directory gives its `.csv`, `.csv.gz` and `.zip` files, a pattern with `*`, `?` or `[`
/// its matches.
pub fn expand(spec: &str) -> Result<Vec<PathBuf>> {
    let path = Path::new(spec);
    let mut files = if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| DataError::Io {
            file: spec.into(),
            source,
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| DataError::Io {
                file: spec.into(),
                source,
            })?;
            let p = entry.path();
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if p.is_file() && (matches!(ext.as_deref(), Some("csv" | "zip")) || is_gzip(&p)) {
                files.push(p);
            }
        }
        if files.is_empty() {
            return Err(DataError::NoFiles(format!(
                "{spec}: the directory holds no .csv, .csv.gz or .zip file"
            )));
        }
        files
    } else if spec.contains(['*', '?', '[']) {
        let paths = glob::glob(spec)
            .map_err(|e| DataError::NoFiles(format!("{spec}: bad pattern: {e}")))?;
        let files: Vec<PathBuf> = paths
            .filter_map(std::result::Result::ok)
            .filter(|p| p.is_file())
            .collect();
        if files.is_empty() {
            return Err(DataError::NoFiles(format!("{spec}: no file matches")));
        }
        files
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        return Err(DataError::NoFiles(format!(
            "{spec}: no such file or directory"
        )));
    };
    files.sort();
    Ok(files)
}

/// Opens `path` (plain or zipped CSV) and hands `read` the stream, a label for error
/// messages (`dir/x.zip/x.csv` for a zip member) and the uncompressed size in bytes.
pub fn with_reader<T>(
    path: &Path,
    read: impl FnOnce(&mut dyn Read, &str, u64) -> Result<T>,
) -> Result<T> {
    let label = path.display().to_string();
    let io_err = |source| DataError::Io {
        file: label.clone(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    if is_gzip(path) {
        // the uncompressed size is not in the header: the compressed one, ×5, is the hint
        let size = file.metadata().map_err(io_err)?.len().saturating_mul(5);
        let mut reader = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        return read(&mut reader, &label, size);
    }
    let is_zip = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if !is_zip {
        let size = file.metadata().map_err(io_err)?.len();
        let mut reader = file;
        return read(&mut reader, &label, size);
    }
    let zip_err = |e: zip::result::ZipError| DataError::Zip {
        file: label.clone(),
        message: e.to_string(),
    };
    let mut archive = ::zip::ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<std::result::Result<_, _>>()
        .map_err(zip_err)?;
    let members: Vec<String> = names.into_iter().filter(|n| !n.ends_with('/')).collect();
    let [member] = members.as_slice() else {
        let message = format!(
            "expected one CSV inside, found {}: {}",
            members.len(),
            members.join(", ")
        );
        return Err(DataError::Zip {
            file: label,
            message,
        });
    };
    let mut entry = archive.by_name(member).map_err(zip_err)?;
    let size = entry.size();
    let inner_label = format!("{label}/{member}");
    read(&mut entry, &inner_label, size)
}

/// A gzipped file, by its name (`x.csv.gz`, `x.gz`).
pub fn is_gzip(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// The symbol in a Binance-style file name: the first `-`/`_`-separated word made of
/// capitals and digits that ends in a quote currency (`BTCUSDT-1h-2024-10-28.zip`,
/// `binance_um_ETHUSDT_15m.csv`).
pub fn symbol_from_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    name.split(['-', '_', '.', ' '])
        .find(|word| {
            word.len() > 4
                && word
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && ["USDT", "USDC", "BUSD", "USD"]
                    .iter()
                    .any(|q| word.ends_with(q) && word.len() > q.len())
        })
        .map(String::from)
}

/// The timeframe in a Binance-style file name (`BTCUSDT-1h-2024-10.zip` → 1h), used only
/// when the rows cannot tell (a file of one bar).
pub fn timeframe_from_name(path: &Path) -> Option<Timeframe> {
    let name = path.file_name()?.to_str()?;
    name.split(['-', '_', '.', ' ']).find_map(|w| {
        let ends_in_unit =
            w.ends_with(['m', 'h', 'd', 'w']) && w.starts_with(|c: char| c.is_ascii_digit());
        if ends_in_unit {
            Timeframe::parse(w)
        } else {
            None
        }
    })
}

/// True when the path says mark price: a word `mark`, `markPrice` or `markPriceKlines` (Binance
/// Vision's folder) in any component, so `binance_um_BTCUSDT_1h_mark.csv` and
/// `markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip` are, and `/tmp/market/…` is not.
pub fn is_mark_name(path: &Path) -> bool {
    path.components().any(|c| {
        c.as_os_str()
            .to_string_lossy()
            .split(['-', '_', '.', ' '])
            .any(|word| {
                ["mark", "markprice", "markpriceklines"]
                    .iter()
                    .any(|m| word.eq_ignore_ascii_case(m))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tell_symbol_and_timeframe() {
        let cases = [
            ("BTCUSDT-1h-2024-10-28.zip", Some("BTCUSDT"), Some("1h")),
            (
                "binance_um_ETHUSDT_15m_2023-01_2025-12.csv",
                Some("ETHUSDT"),
                Some("15m"),
            ),
            (
                "spot-BTCUSDT-1h-2024-10-28.zip",
                Some("BTCUSDT"),
                Some("1h"),
            ),
            ("ETHUSDT-fundingRate-2021-05.csv", Some("ETHUSDT"), None),
            ("prices.csv", None, None),
        ];
        for (name, symbol, tf) in cases {
            let path = Path::new(name);
            assert_eq!(symbol_from_name(path).as_deref(), symbol, "{name}");
            assert_eq!(
                timeframe_from_name(path).map(|t| t.to_string()).as_deref(),
                tf,
                "{name}"
            );
        }
    }

    #[test]
    fn mark_price_is_told_by_whole_words() {
        let marks = [
            "binance_um_BTCUSDT_1h_mark.csv",
            "data/BTCUSDT-1h-markPrice.zip",
            "um/markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip",
        ];
        for mark in marks {
            assert!(is_mark_name(Path::new(mark)), "{mark}");
        }
        for last in [
            "/tmp/market/ETHUSDT-1h.zip",
            "data/BTCUSDT-1h.zip",
            "marketdata/x.csv",
        ] {
            assert!(!is_mark_name(Path::new(last)), "{last}");
        }
    }
}
