//! The `perpsim` command: parses the command line and maps errors to exit codes
//! (0 success, 1 the work failed, 2 wrong usage).

fn main() -> std::process::ExitCode {
    perpsim::cli::main()
}
