//! The sweep page's one sentence checked against the files it was written from: the
//! leverage it names, the survival curves' end, the money and halt clauses — on the main job
//! (fewer paths) and on a sweep over the real history.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use perpsim::report::sweep_page;
use perpsim::sweep::{self, Sweep};
use tempfile::TempDir;

use super::{repo, shared_data};

/// Runs `spec`'s sweep into `out`, then checks that its headline agrees with `results.csv`
/// and `survival.csv`. The grid must be leverage × one other axis.
fn sweep_and_check(spec: &Path, out: &Path) -> String {
    let sweep = Sweep::prepare(spec).unwrap();
    sweep::run(
        &sweep,
        out,
        false,
        None,
        &AtomicBool::new(false),
        &|_, _| {},
    )
    .unwrap();
    let start = 10_000.0;
    let table = sweep_page::read(out, start, &sweep.report).unwrap();
    let answer = sweep_page::answer(&table, &sweep.report);
    let limit = 1.0 - sweep.report.max_p_failure;
    let li = table
        .axes
        .iter()
        .position(|a| a == "risk.max_leverage")
        .expect("a leverage axis");
    let other = 1 - li;
    let first = answer.split(". ").next().unwrap();
    for value in table
        .configs
        .iter()
        .map(|c| c.values[other].clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        // "… was 5x with preset off; 20x (the highest tested, …) with preset default"
        let claimed = first
            .split("; ")
            .find(|part| part.ends_with(&format!("with preset {value}")))
            .map(|part| part.rsplit(" was ").next().unwrap().trim_start())
            .and_then(|part| part.split('x').next())
            .and_then(|v| v.parse::<f64>().ok());
        for c in table.configs.iter().filter(|c| c.values[other] == value) {
            let leverage: f64 = c.values[li].parse().unwrap();
            let survived = c.fields["p_survived"];
            match claimed {
                Some(x) if leverage == x => {
                    assert!(
                        survived >= limit,
                        "{answer}: {value} {leverage}x survived {survived}"
                    )
                }
                Some(x) if leverage < x => {}
                _ => assert!(
                    survived < limit,
                    "{answer}: {value} {leverage}x survived {survived}"
                ),
            }
        }
    }
    // each survival curve ends where the table's share of survivors is (no path is censored:
    // they all run the whole span)
    let text = std::fs::read_to_string(out.join("survival.csv")).unwrap();
    let mut last: BTreeMap<usize, f64> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        last.insert(cells[0].parse().unwrap(), cells[2].parse().unwrap());
    }
    for c in &table.configs {
        let end = last[&c.id];
        assert!(
            (end - c.fields["p_survived"]).abs() < 1e-9,
            "id {}: the curve ends at {end}, the table says {}",
            c.id,
            c.fields["p_survived"]
        );
    }
    // the money and halt clauses of the best configuration within the limit
    if let Some(id) = answer
        .split("(id ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|id| id.parse::<usize>().ok())
    {
        let best = table.configs.iter().find(|c| c.id == id).unwrap();
        assert!(best.fields["p_survived"] >= limit, "{answer}");
        let lost = best.median_equity < start;
        let said = answer.contains("this one included")
            || answer.contains("Its median path still lost money");
        assert_eq!(
            lost, said,
            "{answer}: median final equity {}",
            best.median_equity
        );
        if answer.contains("Every configuration within the limit lost money") {
            assert!(
                table
                    .configs
                    .iter()
                    .filter(|c| c.passes)
                    .all(|c| c.median_equity < start),
                "{answer}"
            );
        }
        let halted = answer.contains("A breaker's halt did the surviving");
        assert_eq!(
            halted,
            best.p_halted >= 0.5,
            "{answer}: p_halted {}",
            best.p_halted
        );
    } else {
        assert!(answer.starts_with("No configuration survived"), "{answer}");
        assert!(
            table.configs.iter().all(|c| c.fields["p_survived"] < limit),
            "{answer}"
        );
    }
    answer
}

#[test]
fn the_main_jobs_headline_agrees_with_its_files() {
    let dir = TempDir::new().unwrap();
    // the shipped spec with 40 paths instead of 200 (the test build is unoptimised)
    let text = std::fs::read_to_string(repo().join("strategies/leverage_survival.toml"))
        .unwrap()
        .replace("paths = 200", "paths = 40");
    assert!(text.contains("paths = 40"));
    let spec = dir.path().join("leverage_survival.toml");
    let text = text.replace(
        "\"../data/",
        &format!("\"{}/", repo().join("data").display()),
    );
    std::fs::write(&spec, text).unwrap();
    let answer = sweep_and_check(&spec, &dir.path().join("out"));
    assert!(answer.contains("with preset off"), "{answer}");
}

#[test]
fn a_real_history_sweeps_headline_agrees_with_its_files() {
    let Some(data) = shared_data() else { return };
    let dir = TempDir::new().unwrap();
    let text = std::fs::read_to_string(repo().join("strategies/leverage_survival.toml")).unwrap();
    // the main job's bot on real BTCUSDT 2020–2026 in 4h bars, 20 paths
    let symbols = format!(
        "[[data.symbols]]\nsymbol = \"BTCUSDT\"\ncandles = \"{d}/binance_um_BTCUSDT_1h.csv\"\nmark = \"{d}/binance_um_BTCUSDT_1h_mark.csv\"\nfunding = \"{d}/binance_um_BTCUSDT_funding.csv\"\n",
        d = data.display()
    );
    let start = text.find("[[data.symbols]]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let mut text = format!("{}{symbols}{}", &text[..start], &text[end..]);
    text = text.replace("paths = 200", "paths = 20");
    text = text.replace("[data]\n", "[data]\nfrom = \"2020-01-01\"\n");
    let spec = dir.path().join("real.toml");
    std::fs::write(&spec, &text).unwrap();
    sweep_and_check(&spec, &dir.path().join("out"));
}
