//! The `boot` command: see [`boot::cli`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = boot::cli::Cli::parse();
    boot::cli::run(cli).unwrap_or_else(|error| {
        eprintln!("error: {error}");
        ExitCode::FAILURE
    })
}
