//! Subcommands whose stage is not built yet: their arguments are declared so that `--help`
//! documents the surface scripts will rely on, and running them says so plainly (exit 2).

use std::path::PathBuf;

use clap::Args;

use super::Failure;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Spec with a [sweep] table (TOML)
    pub spec: PathBuf,
    /// Output directory (default: reports/<name>/)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Worker threads (default: all cores)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run only the configurations missing from an interrupted sweep's results.csv
    #[arg(long)]
    pub resume: bool,
    /// Run only the K-th of N deterministic slices of the grid, e.g. 2/8
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}

pub fn not_built(command: &str, stage: &str) -> Result<(), Failure> {
    Err(Failure::Usage(format!(
        "'perpsim {command}' is not built yet: it needs {stage}"
    )))
}
