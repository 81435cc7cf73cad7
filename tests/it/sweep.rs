//! Sweeps end to end on the sample data: determinism across thread counts, resume after an
//! interruption, shards merged, grid errors, and the survival statistics' direction.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use perpsim::sweep::{self, Sweep};
use tempfile::TempDir;

use super::repo;

/// A small sweep: 4 configurations × 8 paths on three months of 4h bars.
pub fn small_spec(dir: &Path, sweep_table: &str) -> std::path::PathBuf {
    let data = repo().join("data");
    let text = format!(
        r#"name = "small"
[data]
timeframe = "4h"
to = "2024-04-01"
[[data.symbols]]
symbol = "BTCUSDT"
candles = "{d}/BTCUSDT-1h.zip"
mark = "{d}/BTCUSDT-1h-markPrice.zip"
funding = "{d}/BTCUSDT-fundingRate.zip"
[strategy]
kind = "ema_cross"
fast = 6
slow = 24
[risk]
sizing = "fixed_fraction"
fixed_fraction = 0.5
{sweep_table}
"#,
        d = data.display()
    );
    let file = dir.join("small.toml");
    std::fs::write(&file, text).unwrap();
    file
}

const GRID: &str = r#"[sweep]
"risk.max_leverage" = [2, 10]
"risk.preset" = ["off", "default"]
[sweep.montecarlo]
paths = 8
block = 6
seed = 3
"#;

fn run_with(
    threads: usize,
    sweep: &Sweep,
    out: &Path,
    resume: bool,
    shard: Option<(usize, usize)>,
    stop_after: Option<usize>,
) -> sweep::Progress {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let stop = AtomicBool::new(false);
    let tick = |done: usize, _total: usize| {
        if stop_after.is_some_and(|n| done >= n) {
            stop.store(true, Ordering::Relaxed);
        }
    };
    pool.install(|| sweep::run(sweep, out, resume, shard, &stop, &tick))
        .unwrap()
}

fn files(dir: &Path) -> (String, String) {
    (
        std::fs::read_to_string(dir.join("results.csv")).unwrap(),
        std::fs::read_to_string(dir.join("survival.csv")).unwrap(),
    )
}

#[test]
fn results_are_identical_for_one_and_two_threads_and_survive_interruption_and_sharding() {
    let dir = TempDir::new().unwrap();
    let spec = small_spec(dir.path(), GRID);
    let sweep = Sweep::prepare(&spec).unwrap();
    assert_eq!(sweep.points.len(), 4);

    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    run_with(1, &sweep, &one, false, None, None);
    run_with(2, &sweep, &two, false, None, None);
    let reference = files(&one);
    assert_eq!(reference, files(&two), "thread count changed the results");
    assert_eq!(reference.0.lines().count(), 5, "{}", reference.0);
    assert!(
        reference
            .0
            .starts_with("id,risk.max_leverage,risk.preset,total_return")
    );
    // every configuration's survival curve runs to the end of the history: 2024-01-01 to
    // 2024-04-01, 91 days (the last 4h bar opens on 31 March at 20:00)
    for id in 0..4 {
        let last = reference
            .1
            .lines()
            .rfind(|l| l.starts_with(&format!("{id},")));
        let day = last.and_then(|l| l.split(',').nth(1)).unwrap_or("none");
        assert_eq!(day, "91", "configuration {id}'s survival ends at {day}");
    }

    // interrupted after one configuration, with a half-written line left by a crash
    let cut = dir.path().join("cut");
    let p = run_with(2, &sweep, &cut, false, None, Some(1));
    assert!(p.interrupted && p.done_now >= 1 && p.done_now < 4, "{p:?}");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(cut.join("results.csv"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"3,10,default,0.1").unwrap();
    // without --resume the directory is refused; with it only the rest runs
    let stop = AtomicBool::new(false);
    assert!(sweep::run(&sweep, &cut, false, None, &stop, &|_, _| {}).is_err());
    let q = run_with(2, &sweep, &cut, true, None, None);
    assert_eq!(q.done_before + q.done_now, 4);
    assert_eq!(q.done_before, p.done_now);
    assert_eq!(
        files(&cut),
        reference,
        "resume differs from an uninterrupted run"
    );

    // two shards merged
    let (s1, s2, merged) = (
        dir.path().join("s1"),
        dir.path().join("s2"),
        dir.path().join("m"),
    );
    run_with(1, &sweep, &s1, false, Some((1, 2)), None);
    run_with(1, &sweep, &s2, false, Some((2, 2)), None);
    assert_eq!(sweep::merge(&[&s1, &s2], &merged, false).unwrap().rows, 4);
    assert_eq!(
        files(&merged),
        reference,
        "merged shards differ from the whole sweep"
    );
}

#[test]
fn bad_grid_paths_and_values_are_named() {
    let dir = TempDir::new().unwrap();
    let err = |table: &str| {
        let spec = small_spec(dir.path(), table);
        Sweep::prepare(&spec)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = err("[sweep]\n\"risk.max_levrage\" = [1, 2]\n");
    assert!(
        e.contains("max_levrage") && e.contains("grid point 0"),
        "{e}"
    );
    let e = err("[sweep]\n\"risk.max_leverage\" = [2, -1]\n");
    assert!(
        e.contains("risk.max_leverage")
            && e.contains("grid point 1")
            && e.contains("risk.max_leverage=-1"),
        "{e}"
    );
    let e = err("[sweep]\n\"strategy.fast\" = [6, 30]\n");
    assert!(
        e.contains("strategy.fast") && e.contains("grid point 1"),
        "{e}"
    );
    // a bad value names the axis and its line, whichever axis comes first
    let table = "[sweep]\n\"risk.max_leverage\" = [2]\n\"risk.liquidation_buffer_action\" = [\"reduce\", \"shrink\"]\n";
    let e = err(table);
    let text = std::fs::read_to_string(small_spec(dir.path(), table)).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("\"risk.liquidation_buffer_action\""))
        .unwrap();
    let at =
        format!("small.toml:{line}: sweep.\"risk.liquidation_buffer_action\": unknown variant");
    assert!(e.contains(&at) && e.contains("grid point 1"), "{e}");
    let e = err("[sweep]\n\"data.timeframe\" = [\"1h\"]\n");
    assert!(e.contains("cannot be swept"), "{e}");
    let e = err(
        "[sweep]\n\"risk.max_leverage\" = [2]\n[sweep.montecarlo]\npaths = 4\nmethod = \"jackknife\"\n",
    );
    assert!(e.contains("sweep.montecarlo.method"), "{e}");
    // a typo and a wrong type inside [sweep.montecarlo]: the full key, its line, a suggestion
    let mc = "[sweep]\n\"risk.max_leverage\" = [2]\n[sweep.montecarlo]\npaths = 4\n";
    let text = std::fs::read_to_string(small_spec(dir.path(), &format!("{mc}sead = 1\n"))).unwrap();
    let line = 1 + text.lines().position(|l| l.starts_with("sead")).unwrap();
    let e = err(&format!("{mc}sead = 1\n"));
    let at = format!(
        "small.toml:{line}: sweep.montecarlo.sead: unknown key `sead` (did you mean `seed`?)"
    );
    assert!(e.contains(&at), "{e}");
    let e = err(&mc.replace("paths = 4", "paths = \"x\""));
    assert!(
        e.contains(&format!(
            "small.toml:{}: sweep.montecarlo.paths: invalid type",
            line - 1
        )),
        "{e}"
    );
}

#[test]
fn naive_leverage_is_liquidated_more_often_as_leverage_rises() {
    let dir = TempDir::new().unwrap();
    let data = repo().join("data");
    let text = format!(
        r#"name = "naive"
[data]
timeframe = "4h"
[[data.symbols]]
symbol = "BTCUSDT"
candles = "{d}/BTCUSDT-1h.zip"
mark = "{d}/BTCUSDT-1h-markPrice.zip"
funding = "{d}/BTCUSDT-fundingRate.zip"
[strategy]
kind = "naive_leverage"
[risk]
preset = "off"
[sweep]
"risk.max_leverage" = [2, 3, 5, 10, 20]
[sweep.montecarlo]
paths = 24
block = 42
seed = 11
"#,
        d = data.display()
    );
    let file = dir.path().join("naive.toml");
    std::fs::write(&file, text).unwrap();
    let sweep = Sweep::prepare(&file).unwrap();
    let out = dir.path().join("out");
    run_with(2, &sweep, &out, false, None, None);
    let (results, _) = files(&out);
    let header: Vec<&str> = results.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "p_liquidation").unwrap();
    let p: Vec<f64> = results
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    assert_eq!(p.len(), 5);
    assert!(
        p.windows(2).all(|w| w[0] <= w[1]),
        "P(liquidation) by leverage: {p:?}"
    );
    assert!(
        p[4] > p[0],
        "20x must be liquidated more often than 2x: {p:?}"
    );
    // one meaning of "survived": each configuration's p_survived is where its Kaplan–Meier
    // curve in survival.csv ends, and no more than 1 − P(liquidation)
    let (_, survival) = files(&out);
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for line in results.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let id = f[0];
        let survived: f64 = f[column("p_survived")].parse().unwrap();
        let liquidated: f64 = f[column("p_liquidation")].parse().unwrap();
        let end: f64 = survival
            .lines()
            .rfind(|l| l.split(',').next() == Some(id))
            .and_then(|l| l.rsplit(',').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (survived - end).abs() < 1e-12,
            "{id}: {survived} vs the curve's {end}"
        );
        assert!(survived <= 1.0 - liquidated + 1e-12, "{id}");
    }
}

#[test]
fn batched_monte_carlo_rows_equal_one_configuration_at_a_time() {
    // configurations share each path's build in batches and run on it side by side; a
    // batch of four must give the rows of four batches of one (`run_config`)
    let dir = TempDir::new().unwrap();
    let spec = small_spec(dir.path(), GRID);
    let sweep = Sweep::prepare(&spec).unwrap();
    let mc = sweep.montecarlo.as_ref().unwrap();
    let stop = AtomicBool::new(false);
    let configs: Vec<_> = sweep
        .points
        .iter()
        .map(|p| (p.id, p.values.clone(), sweep.spec_of(p).unwrap()))
        .collect();
    let kept = sweep::runner::PathRecordings::default();
    let batched = sweep::runner::run_batch(&configs, &sweep.market, mc, &kept, &stop)
        .unwrap()
        .unwrap();
    assert_eq!(batched.len(), 4);
    // every path's `ema_cross` signals were kept; a later batch plays them back instead of
    // recording them again, with the same rows
    assert_eq!(kept.len(), mc.paths);
    let again = sweep::runner::run_batch(&configs, &sweep.market, mc, &kept, &stop)
        .unwrap()
        .unwrap();
    let line = |r: &sweep::runner::Row| sweep::results::results_line(r, mc.ruin_levels.len());
    for (a, b) in batched.iter().zip(&again) {
        assert_eq!(line(a), line(b));
    }
    for ((id, values, spec), row) in configs.iter().zip(&batched) {
        let alone = sweep::runner::run_config(
            *id,
            values.clone(),
            spec,
            &sweep.market,
            Some(mc),
            None,
            &stop,
        )
        .unwrap()
        .unwrap();
        assert_eq!(line(row), line(&alone), "configuration {id}");
        assert_eq!(
            sweep::results::survival_lines(row),
            sweep::results::survival_lines(&alone)
        );
    }
}

#[test]
fn a_constraint_leaves_out_the_grid_points_that_make_no_sense() {
    let dir = TempDir::new().unwrap();
    // fast ≥ slow is refused by ema_cross: without a constraint the sweep is refused, and
    // the error says how to run the rest
    let axes = "[sweep]\n\"strategy.fast\" = [6, 24, 48]\n\"strategy.slow\" = [12, 36]\n";
    let e = Sweep::prepare(&small_spec(dir.path(), axes))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("grid point 2") && e.contains("sweep.constraint"),
        "{e}"
    );
    // with it, the 3 × 2 grid runs its 3 valid points: (6, 12), (6, 36), (24, 36); the ids
    // stay the full grid's (first axis slowest: 0, 1, 3)
    let with = format!("{axes}constraint = \"strategy.fast < strategy.slow\"\n");
    let sweep = Sweep::prepare(&small_spec(dir.path(), &with)).unwrap();
    let ids: Vec<usize> = sweep.points.iter().map(|p| p.id).collect();
    assert_eq!((ids, sweep.left_out), (vec![0, 1, 3], 3));
    let out = dir.path().join("out");
    let progress = run_with(2, &sweep, &out, false, None, None);
    assert_eq!(progress.total, 3);
    let (results, _) = files(&out);
    let rows: Vec<&str> = results.lines().skip(1).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows[2].starts_with("3,24,36,"), "{}", rows[2]);
    // a constraint on a key the base spec sets, and one that leaves nothing
    let base_key = format!(
        "{axes}constraint = \"strategy.fast < strategy.slow and risk.fixed_fraction <= 0.5\"\n"
    );
    assert_eq!(
        Sweep::prepare(&small_spec(dir.path(), &base_key))
            .unwrap()
            .points
            .len(),
        3
    );
    let none = format!("{axes}constraint = \"strategy.fast > 100\"\n");
    let e = Sweep::prepare(&small_spec(dir.path(), &none))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("sweep.constraint") && e.contains("leaves no grid point"),
        "{e}"
    );
    let typo = format!("{axes}constraint = \"strategy.fats < strategy.slow\"\n");
    let e = Sweep::prepare(&small_spec(dir.path(), &typo))
        .err()
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(small_spec(dir.path(), &typo)).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("constraint"))
        .unwrap();
    assert!(
        e.contains(&format!("small.toml:{line}: sweep.constraint"))
            && e.contains("did you mean `strategy.fast`?"),
        "{e}"
    );
}
