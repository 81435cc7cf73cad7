//! `perpsim paper SPEC.toml`: the engine fed bar by bar from JSON lines on stdin, every
//! decision written to stdout as one JSON line, flushed at once (see `crate::paper`).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::paper::Paper;
use crate::spec;

#[derive(Args, Debug)]
pub struct PaperArgs {
    /// Run spec (TOML); its [data] table names the symbols and the timeframe (files unused)
    pub spec: PathBuf,
}

pub fn run(args: PaperArgs) -> Result<(), Failure> {
    let spec = spec::read(&args.spec)?;
    let timeframe = spec.load.timeframe.ok_or_else(|| {
        Failure::Work(format!(
            "{}: data.timeframe: paper trading needs the bars' timeframe, e.g. timeframe = \"1h\"",
            args.spec.display()
        ))
    })?;
    let mut paper = Paper::new(&spec, timeframe.ms());
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    for (i, line) in stdin.lines().enumerate() {
        let line = line.map_err(|e| Failure::Work(format!("reading stdin: {e}")))?;
        paper.feed(i + 1, &line, &mut out)?;
    }
    paper.finish(&mut out)?;
    out.flush().map_err(|e| Failure::Work(e.to_string()))
}
