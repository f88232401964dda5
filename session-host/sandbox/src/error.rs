//! The crate's error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown sandbox profile {0:?} (built-in: off, workspace, readonly)")]
    UnknownProfile(String),
    #[error("the session's directory {0} is itself on the deny list")]
    CwdDenied(PathBuf),
    #[error("cannot resolve {path}: {source}")]
    Path {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the sandbox plan is not valid: {0}")]
    Plan(String),
    #[error("the session has no command to run")]
    NoCommand,
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("landlock: {0}")]
    Landlock(String),
    #[error("cannot start {program}: {source}")]
    Exec { program: String, source: nix::Error },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
