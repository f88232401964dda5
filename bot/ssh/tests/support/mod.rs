//! The workspace's private-sshd helper and bounded waits, shared with tests/ at the root.

#![allow(dead_code)]

#[path = "../../../../tests/support/sshd.rs"]
pub mod sshd;
#[path = "../../../../tests/support/wait.rs"]
pub mod wait;
