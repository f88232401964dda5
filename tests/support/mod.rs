//! Shared support for the integration tests in tests/.

pub mod agents;
pub mod fulldisk;
pub mod host;
pub mod reboot;
pub mod sshd;
pub mod term;
pub mod wait;
