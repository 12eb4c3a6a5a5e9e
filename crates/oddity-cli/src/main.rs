//! The `oddity` command line: parses arguments, calls the library, renders.

mod args;
mod commands;
mod output;
mod series;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;

/// Exit status for bad input data.
const EXIT_BAD_DATA: u8 = 3;
/// Exit status for an unreadable or incompatible model file.
const EXIT_BAD_MODEL: u8 = 4;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    if let Some(threads) = cli.threads
        && let Err(error) = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
    {
        eprintln!("oddity: cannot start {threads} threads: {error}");
        return ExitCode::FAILURE;
    }
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if is_broken_pipe(&error) {
                // The reader went away (`oddity ... | head`): not a failure.
                return ExitCode::SUCCESS;
            }
            eprintln!("oddity: {error:#}");
            ExitCode::from(exit_code(&error))
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ODDITY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .init();
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn exit_code(error: &anyhow::Error) -> u8 {
    use oddity::Error;
    for cause in error.chain() {
        if cause.downcast_ref::<oddity::data::DataError>().is_some()
            || cause.downcast_ref::<oddity::prep::PrepError>().is_some()
        {
            return EXIT_BAD_DATA;
        }
        if let Some(error) = cause.downcast_ref::<oddity::series::SeriesError>() {
            use oddity::series::SeriesError;
            return match error {
                SeriesError::Param(_)
                | SeriesError::PeriodNeeded
                | SeriesError::PeriodFromSpacing { .. } => 1,
                _ => EXIT_BAD_DATA,
            };
        }
        if cause
            .downcast_ref::<oddity::model_file::ModelFileError>()
            .is_some()
        {
            return EXIT_BAD_MODEL;
        }
        if let Some(error) = cause.downcast_ref::<Error>() {
            match error {
                Error::Data(_)
                | Error::Prep(_)
                | Error::Label { .. }
                | Error::NoTrainingRows { .. } => {
                    return EXIT_BAD_DATA;
                }
                Error::ModelFile(_) | Error::Decode { .. } => return EXIT_BAD_MODEL,
                // A bad window parameter is a bad command, not bad data.
                Error::Window(oddity::series::window::WindowError::Param(_)) => {}
                Error::Window(_) => return EXIT_BAD_DATA,
                _ => {}
            }
        }
    }
    1
}
