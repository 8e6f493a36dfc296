//! Parses the command line, runs it, and maps the result to an exit code:
//! 0 success, 1 failure, 2 bad input or a refused command, 3 when `status`
//! or `plan` found the stack out of sync (a finding, not an error).

use clap::Parser;

fn main() {
    end_quietly_on_a_closed_pipe();
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

/// `provision status | head -1`, `provision logs --follow | grep -m1 ERROR`:
/// once the reader is gone, the next write to stdout ends the process the
/// way it ends `cat` or `grep` (killed by SIGPIPE, which shells do not
/// report), instead of a panic in `println!` (exit 101) or, where the
/// write's error is ignored, a `logs --follow` that polls forever for no one.
///
/// Rust ignores SIGPIPE before `main`, which turns a closed pipe into an
/// `EPIPE` error on every write; restoring the default disposition here is
/// one mechanism for every writer (`println!`, `writeln!` on a locked
/// stdout, the JSON events, the tracing lines on stderr), present and
/// future, rather than a check after each print.
///
/// What else this touches: sockets barely. The standard library sends with
/// `MSG_NOSIGNAL` (and sets `SO_NOSIGPIPE` on macOS); the vectored writes of
/// the HTTP and TLS stacks (`writev`) raise SIGPIPE on Linux only when they
/// write again to a connection that has already failed, which they do not
/// do: a reset stays an error the AWS client retries. A pipe to a child's
/// stdin does raise it, if the child exits before reading (`image push`'s
/// `docker login --password-stdin`). A run ended this way mid-change is a
/// crash like any other, which every command is built to resume from; its
/// lock is taken over at once by the next run on this host, since its
/// process is gone.
#[cfg(unix)]
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: `signal` with `SIG_DFL` only changes this process's
    // disposition for SIGPIPE; it runs first thing in `main`, before any
    // other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn end_quietly_on_a_closed_pipe() {}
