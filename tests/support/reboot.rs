//! A reboot as far as a host's sessions can tell (issue 13's tests): the host and every process
//! of its sessions stopped, then SIGKILLed, with no chance to write anything.

#![allow(dead_code)]

use std::time::Duration;

use super::host::TestHost;
use super::wait::wait_for;

/// The host and every process below it (it is a child subreaper, so that is every process
/// of its sessions), from /proc.
pub fn tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 2..].split(' ').nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// A reboot, as far as the sessions can tell: the host and all its sessions' processes are
/// stopped (so none forks away), then SIGKILLed, with no chance to write anything.
pub fn reboot(h: &mut TestHost) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let host = h.pid();
    for pid in tree(host) {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGSTOP);
    }
    let all = tree(host);
    for pid in &all {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
    }
    h.crash();
    wait_for(
        "every process of the sessions to die",
        Duration::from_secs(20),
        || {
            all.iter()
                .all(|p| {
                    std::fs::read_to_string(format!("/proc/{p}/stat"))
                        .map(|s| s.contains(") Z "))
                        .unwrap_or(true)
                })
                .then_some(())
        },
    );
}
