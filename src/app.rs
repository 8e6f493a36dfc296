//! Wires a parsed command line to its command (one file each under
//! [`crate::commands`]): logging first, then the runtime, then the command.
//! Each command validates its input before anything touches AWS, and keeps
//! data on stdout and logs and progress on stderr.

use crate::cli::{Cli, Command, ImageCommand};
use crate::commands;
use crate::ops::Error;
use crate::runner::OnFailure;

/// Whether log lines may carry ANSI colour codes: only on a terminal, and
/// not when `NO_COLOR` is set to anything but the empty string
/// (<https://no-color.org>). A pipe or a file (CI logs, `2>log`, `| grep`)
/// gets plain text.
fn log_colour(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn init_tracing(verbose: u8, quiet: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    // The SDK's own logs stop at debug even at -vvv: its trace level dumps
    // request details we do not want on anyone's terminal.
    // aws_config warns, with a debug dump, about every place it looked for a
    // region or credentials and did not find one; the first call's error
    // says what matters (see `Clients::first_contact`), so its warnings
    // show from -vv on.
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn,aws_config=error",
        (_, 1) => "warn,aws_config=error,provision=info",
        (_, 2) => "info,provision=debug",
        _ => "debug,provision=trace,hyper=info,h2=info,rustls=info",
    };
    let filter = EnvFilter::try_from_env("PROVISION_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(log_colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .with_target(verbose >= 2)
        .try_init();
}

/// Runs one command line to completion.
pub fn run(cli: Cli) -> Result<(), Error> {
    init_tracing(cli.verbose, cli.quiet);
    let max_attempts = crate::config::validate_env(cli.region.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Failed(format!("cannot start the async runtime: {e}")))?;
    // `--fail-fast` is a flag of `up` and `down`; the engine reads it from
    // the task the command runs in (`OnFailure::current`).
    let on_failure = match &cli.command {
        Command::Up(a) if a.run.fail_fast => OnFailure::Stop,
        Command::Down(a) if a.run.fail_fast => OnFailure::Stop,
        _ => OnFailure::SkipDependents,
    };
    runtime.block_on(on_failure.scope(dispatch(cli, max_attempts)))
}

async fn dispatch(cli: Cli, max_attempts: u32) -> Result<(), Error> {
    match &cli.command {
        Command::Up(a) => commands::up::run(&cli, a, max_attempts).await,
        Command::Down(a) => commands::down::run(&cli, a, max_attempts).await,
        Command::Status(a) => commands::status::run(&cli, a, max_attempts).await,
        Command::Plan(a) => commands::plan::run(&cli, a, max_attempts).await,
        Command::Step(a) => commands::step::run(&cli, a, max_attempts).await,
        Command::Deploy(a) => commands::deploy::run(&cli, a, max_attempts).await,
        Command::Image(ImageCommand::Push(a)) => commands::image::run(&cli, a, max_attempts).await,
        Command::Rollback(a) => commands::rollback::run(&cli, a, max_attempts).await,
        Command::Logs(a) => commands::logs::run(&cli, a, max_attempts).await,
        Command::Run(a) => commands::run::run(&cli, a, max_attempts).await,
        Command::Exec(a) => commands::exec::run(&cli, a, max_attempts).await,
        Command::Outputs(a) => commands::outputs::run(&cli, a, max_attempts).await,
        Command::Settings(a) => commands::settings::run(&cli, a, max_attempts).await,
        Command::Unlock(a) => commands::unlock::run(&cli, a, max_attempts).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(log_colour(true, None));
        assert!(!log_colour(false, None), "a pipe or a file gets plain text");
        assert!(!log_colour(true, Some("1".into())), "NO_COLOR wins on a terminal");
        assert!(!log_colour(true, Some("false".into())), "any non-empty value counts");
        assert!(log_colour(true, Some("".into())), "an empty NO_COLOR is unset");
        assert!(!log_colour(false, Some("".into())));
    }
}
