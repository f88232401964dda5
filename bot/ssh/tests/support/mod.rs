//! The workspace's private-sshd helper, shared with tests/ at the root, and the two small
//! process helpers it needs (the root's `host` helper also drives a session host, which
//! this crate's tests do not have).

#![allow(dead_code)]

pub mod host;
#[path = "../../../../tests/support/sshd.rs"]
pub mod sshd;
