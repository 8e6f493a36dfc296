//! Who this run is (user, host, process) and whether a process on this
//! host is still alive: the lock names its holder with these, and a lock
//! whose holder ran on this host and is gone is stale at once.

use std::path::Path;

/// The user running this command (`USER`, else `USERNAME`, else `unknown`).
pub fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// `user@host`, as records and the lock name who did something.
pub fn who() -> String {
    format!("{}@{}", user(), host())
}

/// This machine's host name.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Field 22 of /proc/PID/stat: the process start time in clock ticks, to
/// tell a reused pid apart.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process `pid` (started at `start`, when known) of this host
/// still runs. Where that cannot be told, it is taken to be alive.
pub fn is_alive(pid: u32, start: Option<u64>) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if Path::new("/proc/self").exists() {
        // Linux: the pid must exist and be the same process (not a reuse).
        match (process_start(pid), start) {
            (None, _) => false,
            (Some(now), Some(then)) => now == then,
            (Some(_), None) => true,
        }
    } else {
        std::process::Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_child_is_dead_and_this_process_is_alive() {
        let me = std::process::id();
        assert!(is_alive(me, process_start(me)));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!is_alive(pid, Some(1)));
        assert!(!host().is_empty() && !user().is_empty());
    }
}
