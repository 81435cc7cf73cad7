//! Errors of the data layer. Each names the file, and where a row is at fault, its line,
//! column and value, so that a user can open the file at that line and fix it.

use std::fmt;

/// One problem found while checking a file: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// 1-based line in the file (the header, if any, is line 1)
    pub line: usize,
    /// column name as the layout calls it
    pub column: String,
    /// the offending value as written (or as parsed, for derived checks)
    pub value: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column '{}', value {}: {}",
            self.line, self.column, self.value, self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },

    #[error("{file}: not a readable zip archive: {message}")]
    Zip { file: String, message: String },

    /// A field that cannot be read as what its column holds.
    #[error("{file}:{line}: column '{column}': cannot read \"{value}\" as {expected}")]
    Field {
        file: String,
        line: usize,
        column: String,
        value: String,
        expected: &'static str,
    },

    /// A row whose shape is wrong (field count, unit change).
    #[error("{file}:{line}: {message}")]
    Row {
        file: String,
        line: usize,
        message: String,
    },

    /// The file as a whole is not what was asked for (unknown layout, empty, wrong kind).
    #[error("{file}: {message}")]
    Layout { file: String, message: String },

    /// The file parsed but breaks the checks; the first problems are listed.
    #[error("{file}: {total} problem(s) found by the checks{}", list_problems(problems, *total))]
    Check {
        file: String,
        problems: Vec<Problem>,
        total: usize,
    },

    #[error("{0}")]
    NoFiles(String),

    #[error("{context}: {message}")]
    Align { context: String, message: String },
}

fn list_problems(problems: &[Problem], total: usize) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    if total > problems.len() {
        out.push_str(&format!("\n  … and {} more", total - problems.len()));
    }
    out
}

pub type Result<T> = std::result::Result<T, DataError>;
