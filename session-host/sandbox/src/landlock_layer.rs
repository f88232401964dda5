//! The Landlock ruleset for a boundary: read (and execute) everywhere but the deny list,
//! write only in the write areas, /tmp and /dev; no signals to processes outside and no
//! abstract Unix sockets outside (ABI 6).
//!
//! Landlock rules only add rights, so "everywhere but ~/.ssh" is expressed as a cover: the
//! directories on the way from / to each denied path are split into their entries, and every
//! entry that is not denied (and holds nothing denied) gets a read rule. The split directories
//! themselves only get ReadDir, so `ls ~` still works while `cat ~/.ssh/id_ed25519` does not.
//! What Landlock cannot express: a read-only path inside a write area (the protected paths)
//! and a denied file inside a write area (`.env` in the cwd); bwrap covers those, and
//! [`Limits`] says so when Landlock is the only layer.

use std::path::{Path, PathBuf};

use ::landlock::{
    path_beneath_rules, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    Scope, ABI,
};
use serde::{Deserialize, Serialize};

use crate::profile::Boundary;
use crate::Error;

/// The newest ABI whose rights this code was written and tested against.
const TESTED_ABI: ABI = ABI::V6;
/// Bounds the cover walk so a deny path under a huge directory cannot stall a start.
const MAX_COVER_ENTRIES: usize = 10_000;

/// The paths of a Landlock ruleset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandlockRules {
    /// Read, list and execute beneath these.
    pub read: Vec<PathBuf>,
    /// Only list these (the directories split around denied paths).
    pub list: Vec<PathBuf>,
    /// Everything beneath these.
    pub write: Vec<PathBuf>,
}

/// What Landlock enforced when it was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    Full,
    /// An older kernel: some rights (truncate, ioctl, scopes) are not restricted.
    Partial,
    NotEnforced,
}

/// What a Landlock-only boundary leaves unenforced, for the boundary card.
pub struct Limits;

impl Limits {
    pub fn landlock_only(boundary: &Boundary) -> Vec<String> {
        let mut out = Vec::new();
        if !boundary.protected.is_empty() {
            out.push("protected paths inside the write areas stay writable (Landlock cannot make a part of a write area read-only)".to_string());
        }
        let in_write = boundary
            .deny_files
            .iter()
            .chain(&boundary.deny_dirs)
            .any(|d| boundary.write.iter().any(|w| d.starts_with(w)));
        if in_write {
            out.push("secrets inside the write areas (.env files) stay readable".to_string());
        }
        out.push("/tmp is shared with the host, not private".to_string());
        if boundary.network != crate::NetworkMode::Open {
            out.push(
                "the network is not restricted (no network namespace without bwrap)".to_string(),
            );
        }
        out
    }
}

/// The rules for `boundary`, computed on the file system as the sandbox sees it.
pub fn rules(boundary: &Boundary) -> LandlockRules {
    let mut deny: Vec<PathBuf> = boundary.deny_dirs.clone();
    deny.extend(boundary.deny_files.iter().cloned());
    let mut rules = LandlockRules::default();
    let mut budget = MAX_COVER_ENTRIES;
    cover(Path::new("/"), &deny, &mut rules, &mut budget);
    rules.write = boundary.write.clone();
    for extra in ["/tmp", "/dev"] {
        rules.write.push(PathBuf::from(extra));
    }
    rules
}

fn cover(dir: &Path, deny: &[PathBuf], rules: &mut LandlockRules, budget: &mut usize) {
    if deny.iter().any(|d| d == dir) {
        return;
    }
    if !deny.iter().any(|d| d.starts_with(dir)) {
        rules.read.push(dir.to_path_buf());
        return;
    }
    rules.list.push(dir.to_path_buf());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            cover(&path, deny, rules, budget);
            continue;
        }
        // A rule opens its path following symlinks: a link to a secret must not become a
        // read rule for it.
        let target = path.canonicalize().unwrap_or_else(|_| path.clone());
        let touches_deny = deny
            .iter()
            .any(|d| target.starts_with(d) || d.starts_with(&target));
        if !touches_deny {
            rules.read.push(path);
        }
    }
}

/// Restricts the calling thread (and what it execs) to `rules`.
pub fn apply(rules: &LandlockRules) -> Result<Enforcement, Error> {
    let err = |e: ::landlock::RulesetError| Error::Landlock(e.to_string());
    let abi = TESTED_ABI;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .scope(Scope::from_all(abi))
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(&rules.read, AccessFs::from_read(abi)))
        .map_err(err)?
        .add_rules(path_beneath_rules(&rules.list, AccessFs::ReadDir))
        .map_err(err)?
        .add_rules(path_beneath_rules(&rules.write, AccessFs::from_all(abi)))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::NotEnforced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cover_splits_only_the_directories_on_the_way_to_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().canonicalize().unwrap().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(home.join("src")).unwrap();
        std::fs::write(home.join(".bashrc"), "").unwrap();
        std::os::unix::fs::symlink(home.join(".ssh"), home.join("keys")).unwrap();
        let mut rules = LandlockRules::default();
        let mut budget = MAX_COVER_ENTRIES;
        cover(&home, &[home.join(".ssh")], &mut rules, &mut budget);
        let mut read = rules.read.clone();
        read.sort();
        assert_eq!(read, vec![home.join(".bashrc"), home.join("src")]);
        assert_eq!(rules.list, vec![home]);
    }
}
