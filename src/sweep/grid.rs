//! The `[sweep]` table: which spec parameters vary, over which values, and the grid of
//! configurations they make.
//!
//! ```toml
//! [sweep]
//! "risk.max_leverage" = [1, 2, 3, 5, 10, 20]
//! "risk.preset" = ["off", "default"]
//! sample = 50          # optional: a seeded random sample of 50 grid points
//! sample_seed = 1
//! constraint = "strategy.fast < strategy.slow"   # optional: points that make sense (`constraint.rs`)
//!
//! [sweep.montecarlo]   # see `montecarlo.rs`
//! ```
//!
//! The grid is the cartesian product of the lists, ordered with the **first key varying
//! slowest** (as written, which the TOML table keeps sorted by name); a configuration's id is
//! its index in that order, so ids are stable between runs, shards and resumes. Every point is
//! checked like a spec before anything runs. `data.*` cannot be swept: the history is loaded
//! once and shared by every run.

use std::path::Path;

use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::spec::{self, RawSpec, RunSpec, Source, SpecError};

/// One swept parameter: its dotted path in the spec and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub path: String,
    pub values: Vec<toml::Value>,
}

/// A configuration: its id in the full grid and one value per axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub id: usize,
    pub values: Vec<toml::Value>,
}

/// The parsed `[sweep]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub axes: Vec<Axis>,
    /// a random sample of this many points (all when `None`)
    pub sample: Option<usize>,
    pub sample_seed: u64,
    pub montecarlo: Option<toml::Table>,
    /// `sweep.constraint`'s text, read against the spec by [`super::constraint`]
    pub constraint: Option<String>,
}

/// The `[sweep]` keys that are not axes.
const RESERVED: [&str; 4] = ["sample", "sample_seed", "montecarlo", "constraint"];

impl Grid {
    /// Reads the `[sweep]` table; `file` names the spec in errors.
    pub fn parse(table: &toml::Table, file: &Path, text: Option<&str>) -> Result<Grid, SpecError> {
        let err = |field: &str, message: String| SpecError {
            file: file.display().to_string(),
            line: text.and_then(|t| {
                spec::line_of_key(t, &format!("sweep.{field}"))
                    .or_else(|| spec::line_of_key(t, "sweep"))
            }),
            field: format!("sweep.\"{field}\""),
            message,
        };
        let mut axes = Vec::new();
        for (path, value) in table
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        {
            if path.starts_with("data.") || path == "data" || path == "name" {
                return Err(err(
                    path,
                    "cannot be swept: the history is loaded once and shared by every run".into(),
                ));
            }
            let values = match value {
                toml::Value::Array(a) if !a.is_empty() => a.clone(),
                _ => {
                    return Err(err(
                        path,
                        format!("expected a non-empty list of values, found {value}"),
                    ));
                }
            };
            axes.push(Axis {
                path: path.clone(),
                values,
            });
        }
        let sample = match table.get("sample") {
            None => None,
            Some(toml::Value::Integer(n)) if *n > 0 => Some(*n as usize),
            Some(other) => {
                return Err(err(
                    "sample",
                    format!("expected a whole number > 0, found {other}"),
                ));
            }
        };
        let sample_seed = match table.get("sample_seed") {
            None => 0,
            Some(toml::Value::Integer(n)) if *n >= 0 => *n as u64,
            Some(other) => {
                return Err(err(
                    "sample_seed",
                    format!("expected a whole number ≥ 0, found {other}"),
                ));
            }
        };
        let montecarlo = match table.get("montecarlo") {
            None => None,
            Some(toml::Value::Table(t)) => Some(t.clone()),
            Some(other) => {
                return Err(err(
                    "montecarlo",
                    format!("expected a table, found {other}"),
                ));
            }
        };
        let constraint = match table.get("constraint") {
            None => None,
            Some(toml::Value::String(t)) => Some(t.clone()),
            Some(other) => {
                return Err(err(
                    "constraint",
                    format!(
                        "expected a string such as \"strategy.fast < strategy.slow\", found {other}"
                    ),
                ));
            }
        };
        Ok(Grid {
            axes,
            sample,
            sample_seed,
            montecarlo,
            constraint,
        })
    }

    /// Points in the full grid.
    pub fn size(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }

    /// The point with id `id` (first axis slowest).
    pub fn point(&self, id: usize) -> Point {
        let mut rest = id;
        let mut values = vec![toml::Value::Boolean(false); self.axes.len()];
        for (i, axis) in self.axes.iter().enumerate().rev() {
            let n = axis.values.len();
            values[i] = axis.values[rest % n].clone();
            rest /= n;
        }
        Point { id, values }
    }

    /// The ids that run: the whole grid, or the seeded sample (sorted).
    pub fn ids(&self) -> Vec<usize> {
        self.ids_where(|_| true)
    }

    /// The ids that run among those `keep` allows: all of them, or a seeded sample of them
    /// (sorted). With every id kept, the sample is [`Grid::ids`]'.
    pub fn ids_where(&self, keep: impl Fn(usize) -> bool) -> Vec<usize> {
        let kept: Vec<usize> = (0..self.size()).filter(|&id| keep(id)).collect();
        match self.sample {
            Some(n) if n < kept.len() => {
                let mut rng = ChaCha8Rng::seed_from_u64(self.sample_seed);
                let mut ids: Vec<usize> = index::sample(&mut rng, kept.len(), n)
                    .into_iter()
                    .map(|i| kept[i])
                    .collect();
                ids.sort_unstable();
                ids
            }
            _ => kept,
        }
    }
}

/// The spec of one point: the base spec's table (without `[sweep]`) with the point's values
/// set at their paths, read and checked like a spec file.
pub fn point_spec(
    base: &toml::Table,
    grid: &Grid,
    point: &Point,
    file: &Path,
) -> Result<RunSpec, SpecError> {
    let mut table = base.clone();
    for (axis, value) in grid.axes.iter().zip(&point.values) {
        set(&mut table, &axis.path, value.clone()).map_err(|message| SpecError {
            file: file.display().to_string(),
            line: None,
            field: format!("sweep.\"{}\"", axis.path),
            message,
        })?;
    }
    let describe = describe(grid, point);
    let wrap = |e: SpecError| SpecError {
        message: format!("{} (grid point {} — {describe})", e.message, point.id),
        field: if e.field.is_empty() {
            "sweep".into()
        } else {
            e.field
        },
        ..e
    };
    let raw = RawSpec::deserialize(toml::Value::Table(table)).map_err(|e: toml::de::Error| {
        let message = e.message().to_string();
        // an unknown key can only have come from an axis: name it, with the closest key
        let axis = crate::keys::unknown_field(&message).and_then(|k| {
            grid.axes
                .iter()
                .find(|a| a.path.rsplit('.').next() == Some(k.as_str()))
                .map(|a| (a.path.clone(), k))
        });
        match axis {
            Some((path, key)) => {
                let message = crate::keys::unknown_key_message(&key, &message);
                SpecError {
                    file: file.display().to_string(),
                    line: None,
                    field: format!("sweep.\"{path}\""),
                    message: message.split("; ").next().unwrap_or_default().to_string(),
                }
            }
            None => SpecError {
                file: file.display().to_string(),
                line: None,
                field: bad_axis(base, grid, point)
                    .map_or("sweep".into(), |path| format!("sweep.\"{path}\"")),
                message,
            },
        }
    });
    let raw = raw.map_err(wrap)?;
    let source = Source { file, text: None };
    raw.check(&source).map_err(wrap).map_err(|e| {
        if grid.constraint.is_some() {
            return e;
        }
        // a value the spec refuses at this point: the constraint can leave such points out
        SpecError {
            message: format!(
                "{}; to run the other points, leave such points out with sweep.constraint \
                 (e.g. constraint = \"strategy.fast < strategy.slow\")",
                e.message
            ),
            ..e
        }
    })
}

/// The path of the axis whose value of `point`, set alone on the base spec, does not read
/// (a bad value reports no place of its own: the table it is read from was built here).
fn bad_axis<'g>(base: &toml::Table, grid: &'g Grid, point: &Point) -> Option<&'g str> {
    let fails = |path: &str, value: &toml::Value| {
        let mut alone = base.clone();
        set(&mut alone, path, value.clone()).is_err()
            || RawSpec::deserialize(toml::Value::Table(alone)).is_err()
    };
    grid.axes
        .iter()
        .zip(&point.values)
        .find(|(axis, value)| fails(&axis.path, value))
        .map(|(axis, _)| axis.path.as_str())
}

/// The value `path` has at `point`: the point's own where `path` is an axis, else the base
/// spec's (`None` when it sets none).
pub fn value_at(base: &toml::Table, grid: &Grid, point: &Point, path: &str) -> Option<toml::Value> {
    if let Some(i) = grid.axes.iter().position(|a| a.path == path) {
        return Some(point.values[i].clone());
    }
    let mut here = base;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let value = here.get(part)?;
        if parts.peek().is_none() {
            return Some(value.clone());
        }
        here = value.as_table()?;
    }
    None
}

/// Every dotted path to a value (not a table) in `table`: `strategy.fast`, `risk.preset`.
pub fn key_paths(table: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(t) => {
                out.extend(key_paths(t).into_iter().map(|p| format!("{key}.{p}")));
            }
            _ => out.push(key.clone()),
        }
    }
    out
}

/// `risk.max_leverage=10, risk.preset="off"`.
pub fn describe(grid: &Grid, point: &Point) -> String {
    grid.axes
        .iter()
        .zip(&point.values)
        .map(|(a, v)| format!("{}={v}", a.path))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sets `value` at the dotted `path`, creating tables on the way; a path through something
/// that is not a table is an error.
fn set(table: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts
        .pop()
        .filter(|p| !p.is_empty())
        .ok_or("an empty path")?;
    let mut here = table;
    for part in parts {
        let next = here
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = next
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` in the path is not a table"))?;
    }
    here.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(text: &str) -> Grid {
        let t: toml::Table = toml::from_str(text).unwrap();
        Grid::parse(&t, Path::new("s.toml"), Some(text)).unwrap()
    }

    #[test]
    fn cartesian_product_with_the_first_axis_slowest() {
        let g = grid("\"a.x\" = [1, 2, 3]\n\"b.y\" = [\"p\", \"q\"]\n");
        assert_eq!(g.size(), 6);
        let v = |id| {
            g.point(id)
                .values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(v(0), "1 \"p\"");
        assert_eq!(v(1), "1 \"q\"");
        assert_eq!(v(2), "2 \"p\"");
        assert_eq!(v(5), "3 \"q\"");
        assert_eq!(g.ids(), (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn a_sample_is_seeded_sorted_and_inside_the_grid() {
        let g = grid(
            "\"a.x\" = [1, 2, 3, 4, 5]\n\"b.y\" = [1, 2, 3, 4]\nsample = 7\nsample_seed = 3\n",
        );
        let ids = g.ids();
        assert_eq!(ids.len(), 7);
        assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[6] < 20);
        assert_eq!(ids, g.ids());
    }

    #[test]
    fn bad_axes_are_named() {
        let t: toml::Table = toml::from_str("\"data.timeframe\" = [\"1h\"]").unwrap();
        let e = Grid::parse(&t, Path::new("s.toml"), None).unwrap_err();
        assert_eq!(e.field, "sweep.\"data.timeframe\"");
        let t: toml::Table = toml::from_str("\"risk.max_leverage\" = 3").unwrap();
        let e = Grid::parse(&t, Path::new("s.toml"), None).unwrap_err();
        assert!(e.message.contains("list"), "{e}");
    }

    #[test]
    fn set_creates_tables_and_refuses_paths_through_values() {
        let mut t: toml::Table =
            toml::from_str("name = \"x\"\n[risk]\npreset = \"off\"\n").unwrap();
        set(&mut t, "risk.max_leverage", toml::Value::Integer(5)).unwrap();
        set(&mut t, "account.balance", toml::Value::Integer(100)).unwrap();
        assert_eq!(t["risk"]["max_leverage"].as_integer(), Some(5));
        assert_eq!(t["account"]["balance"].as_integer(), Some(100));
        assert!(set(&mut t, "name.x", toml::Value::Integer(1)).is_err());
    }
}
