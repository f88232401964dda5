//! Who is inside the host's sessions: the host is a child subreaper, so every process a
//! session starts stays below the host in the process tree (a double fork that escapes its
//! session's parent is reparented to the host, not to init), and a peer is "inside" when its
//! ancestry reaches the host. The subreaper must then reap those orphans itself.
//!
//! The limit, said plainly: this stops a process that is in a session's tree. A same-uid
//! process can still leave the tree through something that starts processes for it
//! elsewhere: `systemd-run --user`, `ssh localhost`, a cron job, an already running shell it
//! can type into. Sandboxed sessions (no access to the user's systemd, sshd or other
//! terminals) close those doors; the check here is what the host alone can do.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

/// Session leaders the host has started and not yet waited for: their waiter threads wait
/// for them, so the reaper must leave them alone. Process-wide, as the subreaper is.
static LEADERS: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

fn leaders() -> MutexGuard<'static, Option<HashSet<u32>>> {
    LEADERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes this process the subreaper of everything it starts.
pub(crate) fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Held while a session leader is spawned and registered, so that the reaper never sees
/// (and reaps) a leader before it is known as one.
pub(crate) struct Spawning(MutexGuard<'static, Option<HashSet<u32>>>);

pub(crate) fn spawning() -> Spawning {
    Spawning(leaders())
}

impl Spawning {
    pub(crate) fn register(mut self, pid: u32) {
        self.0.get_or_insert_with(HashSet::new).insert(pid);
    }
}

/// The leader `pid` has been waited for by its waiter thread.
pub(crate) fn forget(pid: u32) {
    if let Some(set) = leaders().as_mut() {
        set.remove(&pid);
    }
}

/// Reaps every child of this process that has exited and is not a session leader: the
/// orphans of sessions, reparented here. Returns how many were reaped.
pub(crate) fn reap_orphans() -> usize {
    let me = std::process::id();
    let guard = leaders();
    let mut reaped = 0;
    for pid in children_of(me) {
        if guard.as_ref().is_some_and(|s| s.contains(&pid)) {
            continue;
        }
        // WNOHANG: a child still running is left alone.
        if let Ok(st) = waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) {
            if st.pid().is_some() {
                reaped += 1;
            }
        }
    }
    reaped
}

/// Every process whose parent is `parent`, from /proc.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent_of(*pid) == Some(parent))
        .collect()
}

/// The parent pid of `pid` from /proc/PID/stat (the field after the state, which follows
/// the command name's last ')': the name may hold spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.get(stat.rfind(')')? + 2..)?;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is `ancestor` or descends from it. A process that cannot be traced (it is
/// gone, or /proc says nothing) counts as a descendant: the check fails closed.
pub(crate) fn descends_from(pid: u32, ancestor: u32) -> bool {
    let mut p = pid;
    // Bounded: pid chains are short, and a racing reparent must not loop forever.
    for _ in 0..4096 {
        if p == ancestor {
            return true;
        }
        if p <= 1 {
            return false;
        }
        match parent_of(p) {
            Some(parent) => p = parent,
            None => return true,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestry_is_read_from_proc() {
        let me = std::process::id();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(descends_from(pid, me));
        assert!(descends_from(me, me));
        assert!(!descends_from(me, pid));
        assert_eq!(parent_of(pid), Some(me));
        child.kill().unwrap();
        child.wait().unwrap();
        // Gone: fails closed.
        assert!(descends_from(pid, 1));
    }
}
