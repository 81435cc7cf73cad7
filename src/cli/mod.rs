//! The command line. Exit codes: 0 success; 1 the work failed (bad input, bad spec), with a
//! message naming the file, line and field; 2 wrong command-line usage (clap's own errors).

/// `print!` to a stdout that may have closed (`perpsim run … | head`): the text is dropped
/// and the command goes on, so that the files it writes are whole and it exits as it would
/// have (`print!` would panic with exit 101).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod calc;
mod data;
mod paper;
mod run;
mod sweep;
mod synth;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// How a subcommand failed.
#[derive(Debug)]
pub enum Failure {
    /// the work failed: bad data, bad spec (exit 1)
    Work(String),
    /// wrong usage (exit 2)
    Usage(String),
    /// stopped on purpose with nothing to add (the output's reader went away): exit 0
    Quiet,
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Work(e.to_string())
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "perpsim",
    version,
    about = "Backtests leveraged crypto perpetual futures: fees, funding, margin, liquidation, risk layer, sweeps.",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one backtest from a spec file and write its results
    Run(run::RunArgs),
    /// Sweep leverage, risk settings and strategy parameters in parallel, with Monte Carlo survival
    Sweep(sweep::SweepArgs),
    /// Risk calculators: liquidation price, position size, Kelly fraction
    #[command(subcommand)]
    Calc(calc::CalcCommand),
    /// Validate history files: layout, span, gaps, duplicates, bad rows
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Write synthetic perp history (klines, mark klines, funding) in Binance Vision layout
    Synth(synth::SynthArgs),
    /// Paper-trade a spec bar by bar from JSON lines on stdin; decisions as JSON lines on stdout
    Paper(paper::PaperArgs),
}

/// The whole `perpsim` command line with the caller's strategies added to the built-ins: a
/// crate that depends on perpsim calls this from its `main`, and its specs name those
/// strategies by kind (`examples/custom_strategy.rs`). A kind that clashes with a built-in or
/// another is a usage error (exit 2).
pub fn main_with(strategies: &[(&'static str, crate::strategy::Builder)]) -> ExitCode {
    for &(kind, builder) in strategies {
        if let Err(e) = crate::strategy::register(kind, builder) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    main()
}

/// Parses the command line, runs the subcommand, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse(); // clap exits 2 on usage errors, 0 on --help
    let outcome = match cli.command {
        Command::Data(command) => data::run(command),
        Command::Synth(args) => synth::run(args),
        Command::Run(args) => run::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Calc(command) => calc::run(command),
        Command::Paper(args) => paper::run(args),
    };
    match outcome {
        Ok(()) | Err(Failure::Quiet) => ExitCode::SUCCESS,
        Err(Failure::Work(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
