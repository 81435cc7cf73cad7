//! `sweep.constraint`: which grid points make sense together, as comparisons joined by
//! `and`, e.g. `"strategy.fast < strategy.slow and risk.max_leverage <= 10"`. A point that
//! fails it is left out of the sweep (said once in the log), so a grid whose axes make some
//! combinations invalid runs the rest instead of being refused.
//!
//! A side is a spec path (a swept axis, or a key the base spec sets), a number, a quoted
//! string, `true` or `false`; the operators are `<`, `<=`, `>`, `>=`, `==`, `!=`. Numbers
//! compare as numbers, strings and booleans only for (in)equality. Deliberately no `or`,
//! arithmetic or brackets: a constraint is read by people deciding what a sweep covered.

use std::fmt;

/// One side of a comparison.
#[derive(Clone, Debug, PartialEq)]
enum Term {
    Path(String),
    Value(toml::Value),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        })
    }
}

/// A parsed constraint: comparisons that must all hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    text: String,
    all: Vec<(Term, Op, Term)>,
}

/// Why a constraint cannot be read or applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConstraintError(pub String);

impl Constraint {
    /// Reads `text`; every path must be in `known` (the axes and the base spec's keys), else
    /// the error names the closest one.
    pub fn parse(text: &str, known: &[String]) -> Result<Constraint, ConstraintError> {
        let mut all = Vec::new();
        for part in text.split(" and ") {
            all.push(comparison(part.trim(), known)?);
        }
        Ok(Constraint {
            text: text.to_string(),
            all,
        })
    }

    /// Whether the point whose values `value_of` gives holds every comparison.
    pub fn holds(
        &self,
        value_of: impl Fn(&str) -> Option<toml::Value>,
    ) -> Result<bool, ConstraintError> {
        for (left, op, right) in &self.all {
            let side = |t: &Term| match t {
                Term::Value(v) => Ok(v.clone()),
                Term::Path(p) => value_of(p)
                    .ok_or_else(|| ConstraintError(format!("{p} has no value at this point"))),
            };
            if !compare(&side(left)?, *op, &side(right)?)
                .ok_or_else(|| ConstraintError(format!("cannot compare in `{}`", self.text)))?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

fn comparison(part: &str, known: &[String]) -> Result<(Term, Op, Term), ConstraintError> {
    // two-character operators first, so that `<=` is not read as `<`
    const OPS: [(&str, Op); 6] = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let Some((at, text, op)) = OPS
        .iter()
        .filter_map(|&(t, op)| part.find(t).map(|at| (at, t, op)))
        .min_by_key(|&(at, t, _)| (at, usize::MAX - t.len()))
    else {
        return Err(ConstraintError(format!(
            "`{part}`: expected a comparison such as `strategy.fast < strategy.slow` \
             (<, <=, >, >=, ==, !=; joined by `and`)"
        )));
    };
    let (left, right) = (part[..at].trim(), part[at + text.len()..].trim());
    Ok((term(left, part, known)?, op, term(right, part, known)?))
}

fn term(text: &str, part: &str, known: &[String]) -> Result<Term, ConstraintError> {
    if text.is_empty() {
        return Err(ConstraintError(format!("`{part}`: a side is missing")));
    }
    if let Ok(v) = text.parse::<i64>() {
        return Ok(Term::Value(toml::Value::Integer(v)));
    }
    if let Ok(v) = text.parse::<f64>() {
        return Ok(Term::Value(toml::Value::Float(v)));
    }
    match text {
        "true" => return Ok(Term::Value(toml::Value::Boolean(true))),
        "false" => return Ok(Term::Value(toml::Value::Boolean(false))),
        _ => {}
    }
    if let Some(s) = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .or_else(|| text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')))
    {
        return Ok(Term::Value(toml::Value::String(s.to_string())));
    }
    if known.iter().any(|k| k == text) {
        return Ok(Term::Path(text.to_string()));
    }
    let hint = crate::keys::closest(text, known)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    Err(ConstraintError(format!(
        "`{text}` is neither a swept axis nor a key of the spec{hint}"
    )))
}

/// `a op b`; `None` when the two cannot be compared that way.
fn compare(a: &toml::Value, op: Op, b: &toml::Value) -> Option<bool> {
    use toml::Value::{Boolean, Float, Integer, String};
    let number = |v: &toml::Value| match v {
        Integer(i) => Some(*i as f64),
        Float(f) => Some(*f),
        _ => None,
    };
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return Some(match op {
            Op::Lt => x < y,
            Op::Le => x <= y,
            Op::Gt => x > y,
            Op::Ge => x >= y,
            Op::Eq => x == y,
            Op::Ne => x != y,
        });
    }
    let equal = match (a, b) {
        (String(x), String(y)) => x == y,
        (Boolean(x), Boolean(y)) => x == y,
        _ => return None,
    };
    match op {
        Op::Eq => Some(equal),
        Op::Ne => Some(!equal),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        ["strategy.fast", "strategy.slow", "risk.preset"]
            .map(String::from)
            .to_vec()
    }

    fn at(fast: i64, slow: i64, preset: &str) -> impl Fn(&str) -> Option<toml::Value> {
        let preset = preset.to_string();
        move |p: &str| match p {
            "strategy.fast" => Some(toml::Value::Integer(fast)),
            "strategy.slow" => Some(toml::Value::Integer(slow)),
            "risk.preset" => Some(toml::Value::String(preset.clone())),
            _ => None,
        }
    }

    #[test]
    fn comparisons_joined_by_and_all_hold() {
        let c = Constraint::parse(
            "strategy.fast < strategy.slow and strategy.slow <= 40",
            &known(),
        )
        .unwrap();
        assert!(c.holds(at(10, 20, "off")).unwrap());
        assert!(!c.holds(at(30, 20, "off")).unwrap());
        assert!(!c.holds(at(20, 20, "off")).unwrap());
        assert!(!c.holds(at(10, 50, "off")).unwrap());
        let c =
            Constraint::parse("risk.preset != \"off\" and strategy.fast >= 2.5", &known()).unwrap();
        assert!(c.holds(at(10, 20, "default")).unwrap());
        assert!(!c.holds(at(10, 20, "off")).unwrap());
    }

    #[test]
    fn a_bad_constraint_says_what_is_wrong() {
        let e = Constraint::parse("strategy.fats < strategy.slow", &known()).unwrap_err();
        assert_eq!(
            e.0,
            "`strategy.fats` is neither a swept axis nor a key of the spec (did you mean `strategy.fast`?)"
        );
        let e = Constraint::parse("strategy.fast strategy.slow", &known()).unwrap_err();
        assert!(e.0.contains("expected a comparison"), "{e}");
        let e = Constraint::parse("strategy.fast < ", &known()).unwrap_err();
        assert!(e.0.contains("a side is missing"), "{e}");
        // strings have no order
        let c = Constraint::parse("risk.preset < \"z\"", &known()).unwrap();
        assert!(c.holds(at(1, 2, "off")).is_err());
    }
}
