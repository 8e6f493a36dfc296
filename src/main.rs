//! Parses the command line, runs it, and maps the result to an exit code:
//! 0 success, 1 failure, 2 bad input or a refused command, 3 when `status`
//! or `plan` found the stack out of sync (a finding, not an error).

use clap::Parser;

fn main() {
    let cli = match provision::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            e.exit();
        }
    };
    let code = match provision::app::run(cli) {
        Ok(()) => 0,
        Err(e) => {
            if e.exit_code() == provision::ops::DRIFT_EXIT {
                eprintln!("{e}");
            } else {
                eprintln!("error: {e}");
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
