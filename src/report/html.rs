//! What the two HTML reports share: the templates (minijinja, auto-escaped because their
//! names end in `.html`), the style sheet, the table-sorting script, PNGs as data URIs, and
//! number formatting with units.
//!
//! Reports are self-contained: no network request, no external script, font or image, so a
//! report opens from a USB stick on a plane. Nothing in them depends on the time they were
//! made, so identical inputs give identical bytes.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::chart::ChartError;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("report template: {0}")]
    Template(String),
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    super::files::write_whole(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The style sheet both reports inline: readable on a laptop, printable (charts never split
/// across pages, tables shrink).
pub const CSS: &str = include_str!("templates/style.css");

/// Sorts a table by a clicked header: numbers as numbers (via `data-v` when present), text
/// as text; a second click reverses.
pub const SORT_JS: &str = include_str!("templates/sort.js");

/// Renders one of the templates with `context`.
pub fn render(name: &str, context: &impl serde::Serialize) -> Result<String, ReportError> {
    let mut env = minijinja::Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|e| ReportError::Template(e.to_string()))?;
    env.set_syntax(syntax);
    for (n, text) in [
        ("base.html", include_str!("templates/base.html")),
        ("run.html", include_str!("templates/run.html")),
        ("sweep.html", include_str!("templates/sweep.html")),
    ] {
        env.add_template(n, text)
            .map_err(|e| ReportError::Template(e.to_string()))?;
    }
    let template = env
        .get_template(name)
        .map_err(|e| ReportError::Template(e.to_string()))?;
    template
        .render(minijinja::Value::from(minijinja::value::Serde(context)))
        .map_err(|e| ReportError::Template(format!("{e:#}")))
}

/// A drawn chart: written as its own PNG file and embedded in the page.
pub struct Figure {
    /// the HTML element id
    pub id: String,
    /// file name in the report's directory
    pub file: String,
    pub title: String,
    pub caption: String,
    pub png: Vec<u8>,
    /// px
    pub size: (u32, u32),
}

/// A [`Figure`] as the templates read it.
#[derive(serde::Serialize)]
pub struct FigureView {
    id: String,
    file: String,
    title: String,
    caption: String,
    uri: String,
    width: u32,
    height: u32,
}

impl Figure {
    pub fn view(&self) -> FigureView {
        FigureView {
            id: self.id.clone(),
            file: self.file.clone(),
            title: self.title.clone(),
            caption: self.caption.clone(),
            uri: data_uri(&self.png),
            width: self.size.0,
            height: self.size.1,
        }
    }
}

/// PNG bytes as a `data:` URI for an `<img src>`.
pub fn data_uri(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// The unit a figure is shown in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    Usdt,
    /// a fraction shown as percent
    Percent,
    /// a fraction per year shown as percent
    PercentYear,
    Days,
    /// a ratio without unit (Sharpe)
    Ratio,
    Count,
    /// a multiple of equity
    Times,
    YesNo,
    /// a word (an outcome)
    Text,
}

/// `value` in `unit` for a person: thousands separated, 2 decimals for money and percent.
pub fn show(value: &serde_json::Value, unit: Unit) -> String {
    let Some(x) = value.as_f64() else {
        return match value {
            serde_json::Value::Bool(b) => {
                if *b {
                    "yes".into()
                } else {
                    "no".into()
                }
            }
            serde_json::Value::Null => "∞".into(),
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
    };
    match unit {
        Unit::Usdt => format!("{} USDT", grouped(x, 2)),
        Unit::Percent => format!("{} %", grouped(100.0 * x, 2)),
        Unit::PercentYear => format!("{} % / year", grouped(100.0 * x, 2)),
        Unit::Days => format!("{} days", grouped(x, 1)),
        Unit::Ratio => grouped(x, 2),
        Unit::Count => grouped(x, 0),
        Unit::Times => format!("{}x", grouped(x, 2)),
        Unit::YesNo => (x != 0.0).to_string(),
        Unit::Text => x.to_string(),
    }
}

/// 1234567.891 with 2 decimals → "1,234,567.89"; NaN → "–".
pub fn grouped(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "–".into()
        } else if x > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    let text = format!("{:.*}", decimals, x.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    let zero = out.chars().all(|c| matches!(c, '0' | '.' | ','));
    if x < 0.0 && !zero {
        format!("−{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(grouped(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(grouped(-0.004, 2), "0.00");
        assert_eq!(grouped(-12.5, 1), "−12.5");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(grouped(f64::NAN, 2), "–");
        assert_eq!(show(&serde_json::json!(-0.1234), Unit::Percent), "−12.34 %");
        assert_eq!(show(&serde_json::json!(true), Unit::YesNo), "yes");
        assert_eq!(show(&serde_json::Value::Null, Unit::Ratio), "∞");
    }

    #[test]
    fn data_uris_are_base64_png() {
        assert_eq!(data_uri(b"\x89PNG"), "data:image/png;base64,iVBORw==");
    }
}
