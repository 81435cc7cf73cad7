//! `perpsim paper SPEC.toml`: the engine fed bar by bar from JSON lines on stdin, every
//! decision written to stdout as one JSON line, flushed at once (see `crate::paper`).

use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::paper::{Paper, PaperError};
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
    if let Some(fine) = spec.load.detail {
        return Err(Failure::Work(format!(
            "{}: data.detail = \"{fine}\": paper trading walks the bars it is fed; remove detail \
             (a live feed of {fine} bars can be fed at timeframe = \"{fine}\")",
            args.spec.display()
        )));
    }
    let mut paper = Paper::new(&spec, timeframe.ms());
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    paper.feed_all(stdin, &mut out).map_err(failure)
}

/// A reader that went away (`perpsim paper … | head`) ends the run quietly, as in any Unix
/// filter; every other failure is reported.
fn failure(e: PaperError) -> Failure {
    match e {
        PaperError::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe => Failure::Quiet,
        other => Failure::from(other),
    }
}
