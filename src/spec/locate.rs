//! Finding where a field was written in a spec's text, for error messages. TOML's own spans
//! cover what serde sees; these cover the checks that come after it.

/// The 1-based line holding byte `offset`.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The table header (`[a.b]` or `[[a.b]]`, as `a.b`) in force at byte `offset`.
pub fn table_at(text: &str, offset: usize) -> String {
    // the header on the offset's own line counts: serde points at it for a missing key
    let end = text
        .get(offset.min(text.len())..)
        .and_then(|rest| rest.find('\n'))
        .map_or(text.len(), |i| offset + i);
    let before = text.get(..end).unwrap_or(text);
    before
        .lines()
        .filter_map(header)
        .next_back()
        .unwrap_or_default()
}

fn header(line: &str) -> Option<String> {
    let line = line.trim();
    if !line.starts_with('[') {
        return None;
    }
    let inner = line.trim_start_matches('[');
    let inner = inner.split(']').next()?;
    Some(inner.split('.').map(unquote).collect::<Vec<_>>().join("."))
}

fn unquote(part: &str) -> String {
    part.trim().trim_matches('"').trim_matches('\'').to_string()
}

/// The 1-based line where the dotted `path` (e.g. `risk.max_leverage`) is written: a key under
/// its table's header, a dotted key, or the table's header itself. The first match wins.
pub fn line_of_key(text: &str, path: &str) -> Option<usize> {
    let mut table = String::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(h) = header(line) {
            if h == path {
                return Some(i + 1);
            }
            table = h;
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || key.starts_with('#') {
            continue;
        }
        let key = key.split('.').map(unquote).collect::<Vec<_>>().join(".");
        let full = if table.is_empty() {
            key
        } else {
            format!("{table}.{key}")
        };
        if full == path {
            return Some(i + 1);
        }
    }
    None
}

/// The line of `path`, or else of the nearest table above it that is written: a key that is
/// missing is reported at its table's header.
pub fn line_of_key_or_table(text: &str, path: &str) -> Option<usize> {
    let mut path = path;
    loop {
        if let Some(line) = line_of_key(text, path) {
            return Some(line);
        }
        path = path.rsplit_once('.')?.0;
    }
}

/// The key (dotted keys joined) whose value holds byte `offset`, when the value starts on the
/// key's own line (`sizing = "kely"`); `None` on a header or a continued value.
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let end = offset.min(text.len());
    let start = text.get(..end)?.rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text.get(start..end)?.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    Some(key.split('.').map(unquote).collect::<Vec<_>>().join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"x\"\n\n[risk]\nmax_leverage = 3\n\n[[data.symbols]]\nsymbol = \"BTCUSDT\"\n[strategy]\nkind = \"sma_cross\"\n";

    #[test]
    fn finds_keys_under_headers_and_headers_themselves() {
        assert_eq!(line_of_key(TEXT, "name"), Some(1));
        assert_eq!(line_of_key(TEXT, "risk.max_leverage"), Some(4));
        assert_eq!(line_of_key(TEXT, "data.symbols.symbol"), Some(7));
        assert_eq!(line_of_key(TEXT, "strategy"), Some(8));
        assert_eq!(line_of_key(TEXT, "strategy.fast"), None);
        assert_eq!(table_at(TEXT, TEXT.find("kind").unwrap()), "strategy");
        assert_eq!(line_of_offset(TEXT, TEXT.find("kind").unwrap()), 9);
    }

    #[test]
    fn finds_the_key_of_a_value() {
        let value = TEXT.find("\"sma_cross\"").unwrap();
        assert_eq!(key_at(TEXT, value).as_deref(), Some("kind"));
        // the key itself (before its `=`) and a header are not a value
        assert_eq!(key_at(TEXT, TEXT.find("kind").unwrap()), None);
        assert_eq!(key_at(TEXT, TEXT.find("[risk]").unwrap() + 2), None);
        let dotted = "[sweep]\n\"risk.sizing\" = [1]\nfill.model = \"x\"\n";
        assert_eq!(
            key_at(dotted, dotted.find('x').unwrap()).as_deref(),
            Some("fill.model")
        );
    }
}
