//! The one context the update handler ([`crate::app::App`]) and the front end
//! ([`crate::front::TelegramFront`]) draw on: built once at start, reached through `Deref`.

use std::sync::Arc;

use walkie_config::Config;
use walkie_console::fleet::Fleet;
use walkie_console::gate::Gate;
use walkie_console::store::Store;

use crate::live::LiveScreens;
use crate::tg::Tg;

pub(crate) struct Context {
    pub(crate) cfg: Config,
    pub(crate) tg: Tg,
    pub(crate) store: Store,
    pub(crate) gate: Gate,
    /// This machine's host and every `[hosts.NAME]`.
    pub(crate) host: Arc<Fleet>,
    /// Live screens; the desk tells them (through the front end) when an agent announced
    /// the end of its turn, so no "went quiet" repeats it.
    pub(crate) live: Arc<LiveScreens>,
}
