//! One module per subcommand (or family of them).

pub(crate) mod ask;
pub(crate) mod attach;
pub(crate) mod bridge;
pub(crate) mod client;
pub(crate) mod doctor;
pub(crate) mod host;
pub(crate) mod hosts;
pub(crate) mod rec;
pub(crate) mod schedule;
pub(crate) mod target;
pub(crate) mod transcribe;
pub(crate) mod unposted;
pub(crate) mod up;
