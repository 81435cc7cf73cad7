//! What a TOML table's wrong key or value is called in a message: serde's error with the key
//! it was found under and, for an unknown key, the closest valid one. A leaf: the spec, the
//! strategies and the sweep read their nested tables through it.

use serde::de::DeserializeOwned;

/// A key in a table that is wrong: its dotted path inside the table (empty for the table as a
/// whole, e.g. a missing key's table) and why.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyFault {
    pub key: String,
    pub message: String,
}

/// Reads `table` into `T` (which denies unknown fields). A wrong value names the key it was
/// under, nested keys joined by dots; an unknown key is named with the closest valid one; a
/// missing key is named too.
pub fn table_into<T: DeserializeOwned>(table: &toml::Table) -> Result<T, KeyFault> {
    serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(
        |e: serde_path_to_error::Error<toml::de::Error>| {
            let path = e.path().to_string();
            // the tracker names the table an error was found in as "."
            let path = if path == "." { String::new() } else { path };
            let message = e.inner().message().trim().to_string();
            fault(&path, &message)
        },
    )
}

/// A serde message found at `path` as a [`KeyFault`] naming the key at fault.
pub fn fault(path: &str, message: &str) -> KeyFault {
    // the tracker's path ends at an unknown key already, not at a missing one
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    if let Some(key) = unknown_field(message) {
        let at = path == key || path.ends_with(&format!(".{key}"));
        return KeyFault {
            key: if at { path.to_string() } else { join(&key) },
            message: unknown_key_message(&key, message),
        };
    }
    if let Some(key) = missing_field(message) {
        return KeyFault {
            key: join(&key),
            message: "missing: this key is required".to_string(),
        };
    }
    KeyFault {
        key: path.to_string(),
        message: message.to_string(),
    }
}

/// "unknown key `k` (did you mean `x`?); " and serde's own message, which lists the keys.
pub fn unknown_key_message(key: &str, message: &str) -> String {
    let hint = closest(key, &expected_keys(message))
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    format!("unknown key `{key}`{hint}; {message}")
}

/// The key named by serde's "unknown field `x`, expected …" message.
pub fn unknown_field(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

/// The key named by serde's "missing field `x`" message.
pub fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// The keys listed by serde's "expected one of `a`, `b`" (or "expected `a`").
pub fn expected_keys(message: &str) -> Vec<String> {
    let Some(rest) = message.split("expected").nth(1) else {
        return Vec::new();
    };
    rest.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The candidate nearest to `key` by edit distance, when it is near enough to be a typo.
pub fn closest<'a>(key: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(key, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len().max(key.len()) / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        fast: usize,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        seed: u64,
    }

    fn fault_of(text: &str) -> KeyFault {
        table_into::<Outer>(&toml::from_str(text).unwrap()).unwrap_err()
    }

    #[test]
    fn names_the_key_of_a_wrong_value_unknown_or_missing_key() {
        let f = fault_of("fast = \"x\"");
        assert_eq!(f.key, "fast");
        assert!(f.message.contains("invalid type"), "{f:?}");
        let f = fault_of("fsat = 1");
        assert_eq!(f.key, "fsat");
        assert!(f.message.contains("did you mean `fast`?"), "{f:?}");
        let f = fault_of("fast = 1\n[inner]\nsead = 1");
        assert_eq!(f.key, "inner.sead");
        assert!(f.message.contains("did you mean `seed`?"), "{f:?}");
        let f = fault_of("fast = 1\n[inner]\nseed = -1");
        assert_eq!(f.key, "inner.seed");
        let f = fault_of("inner = { seed = 1 }");
        assert_eq!(f.key, "fast");
        assert_eq!(f.message, "missing: this key is required");
    }

    #[test]
    fn suggests_near_keys_only() {
        let keys = vec!["max_leverage".to_string(), "cooldown_bars".to_string()];
        assert_eq!(closest("max_levrage", &keys), Some("max_leverage"));
        assert_eq!(closest("maxleverage", &keys), Some("max_leverage"));
        assert_eq!(closest("colour", &keys), None);
    }
}
