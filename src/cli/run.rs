//! `perpsim run SPEC.toml [--out DIR]`: one backtest, its files, a short terminal summary.

use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::outcome::metrics::Outcome;
use crate::outcome::{self, RunResult};
use crate::report;
use crate::spec;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run spec (TOML)
    pub spec: PathBuf,
    /// Output directory (default: reports/<name>/, or reports/<name>-base/ for a spec with a
    /// [sweep] table, whose grid writes reports/<name>/)
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> Result<(), Failure> {
    let spec = spec::read(&args.spec)?;
    // a spec's sweep writes reports/<name>/: its base run goes beside it, never into it
    let dir = args.out.unwrap_or_else(|| {
        let name = match spec.sweep {
            Some(_) => format!("{}-base", spec.name),
            None => spec.name.clone(),
        };
        PathBuf::from("reports").join(name)
    });
    if dir.join(crate::sweep::folder::MADE).exists() {
        return Err(Failure::Work(format!(
            "{} holds a sweep's results; a run's files would mix with them: use another --out",
            dir.display()
        )));
    }
    let market = spec.load_market()?;
    let result = outcome::run(&spec, &market, true);
    report::files::write_run(&dir, &result)
        .map_err(|e| Failure::Work(format!("{}: {e}", dir.display())))?;
    report::run_page::write_report(&dir, &spec, &market, &result, Default::default())
        .map_err(|e| Failure::Work(format!("{}: report: {e}", dir.display())))?;
    out!("{}", terminal_summary(&result));
    outln!("wrote {}", dir.display());
    if let Some(note) = spec.unlisted_note() {
        outln!("note: {note}");
    }
    for note in &result.summary.notes {
        outln!("note: {note}");
    }
    if spec.sweep.is_some() {
        outln!(
            "note: this spec has a [sweep] table; `run` ran its base configuration into {} (`perpsim sweep` runs the grid into reports/{}/)",
            dir.display(),
            spec.name
        );
    }
    Ok(())
}

/// A few lines for the terminal.
pub fn terminal_summary(r: &RunResult) -> String {
    let s = &r.summary;
    let m = &s.metrics;
    let pct = |x: f64| format!("{:.2} %", 100.0 * x);
    let mut out = String::new();
    out += &format!(
        "{} — {} on {} ({} bars of {}, {} → {})\n",
        s.title,
        s.strategy,
        s.symbols.join(", "),
        s.bars,
        s.timeframe,
        s.from,
        s.to
    );
    for (symbol, tables) in &s.brackets {
        // "table of <date> from <time>" → "<date>"
        let date = |t: &String| {
            t.trim_start_matches("table of ")
                .split(" from ")
                .next()
                .unwrap_or_default()
                .to_string()
        };
        let shown = match tables.as_slice() {
            [only] => only.clone(),
            [first, .., last] => format!(
                "the tables of {} to {}, each from its date ({} in all; summary.json lists them)",
                date(first),
                date(last),
                tables.len()
            ),
            [] => continue,
        };
        out += &format!("  brackets    {symbol}: {shown}\n");
    }
    for (symbol, model) in &s.liquidation_model {
        out += &format!("  venue       {symbol}: {model}'s liquidation rule\n");
    }
    for (symbol, detail) in &s.detail {
        out += &format!("  detail      {symbol}: paths walked from {detail}\n");
    }
    out += &format!(
        "  equity      {:.2} → {:.2} USDT ({}), CAGR {}\n",
        m.start_equity,
        m.final_equity,
        pct(m.total_return),
        pct(m.cagr)
    );
    out += &format!(
        "  risk        max drawdown {} ({:.1} days under water), Sharpe {:.2}, Sortino {:.2}\n",
        pct(m.max_drawdown),
        m.max_drawdown_days,
        m.sharpe,
        m.sortino
    );
    out += &format!(
        "  trades      {} (win rate {}), fees {:.2} USDT, funding paid {:.2} USDT\n",
        m.trades,
        pct(m.win_rate),
        m.fees_paid,
        m.funding_paid
    );
    out += &format!(
        "  survival    {} liquidation(s), {} margin call(s): {}\n",
        m.liquidations,
        m.margin_calls,
        match m.outcome {
            Outcome::Liquidated => "liquidated: did NOT survive",
            Outcome::Ruined => "ruined (equity fell to 10 % of the start): did NOT survive",
            Outcome::Halted => "survived, halted",
            Outcome::Alive => "survived",
        }
    );
    if let Some(h) = &m.halted {
        out += &format!(
            "  halted      for good by {} on {} at {:.2} USDT: no trading after it ({} entries refused); the halt kept that capital\n",
            h.rule, h.utc, h.equity, h.refused_after
        );
    }
    let decisions: u32 = s.risk_events.values().flat_map(|a| a.values()).sum();
    out += &format!("  risk layer  {decisions} decision(s) logged (events.csv)\n");
    out
}
