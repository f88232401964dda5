//! walkie's console: everything the bot does that is not a particular chat service.
//!
//! A front end (today Telegram, in `walkie-telegram`) turns its updates into calls here and
//! renders what comes back. Nothing in this crate knows teloxide, HTML or Telegram's id
//! rules; `cargo tree -p walkie-console | grep -i teloxide` is empty.
//!
//! # Layout
//! - [`activity`]: went quiet / finished turn / idle, from successive looks at a screen.
//! - [`approval_store`]: approvals, their cards and session rules in the store.
//! - [`boundary`]: a session's boundary as a neutral card (lines, widen buttons).
//! - [`changes`]: screen changes pushed by this machine's host (screens read only when
//!   they changed), and which sessions a scan must read ([`changes::Looks`]).
//! - [`desk`]: the approval desk (asks become cards, presses decide them once, expiry,
//!   restart resync, screen prompts), against [`front::Frontend`] and [`host::Host`].
//! - [`dialogs`]: agents' dialogs (folder trust, API key, hook review) as cards whose
//!   buttons type verified keys, and text held until an agent's input box is ready.
//! - [`fleet`]: every host `walkie up` drives (this machine's and each `[hosts.NAME]`)
//!   behind one [`host::Host`]: `name@host` addresses, pings, host status, tagged asks.
//! - [`front`]: what the console asks of a chat front end ([`front::Frontend`]: where
//!   things go, post/edit a card, answer a press, notices), opaque chat, user and message
//!   references, and where approval cards go.
//! - [`gate`]: who may do what (operators, viewers, strangers) and the refusal policy.
//! - [`host`]: what the console asks of a session host ([`host::Host`]) and the real link
//!   to one (one connection, reconnected on demand).
//! - [`outbox`]: text, keys and `/new` for a remote host that is down, queued in the store with a
//!   dispatch id, delivered in order and once when it is back, or expired or cancelled.
//! - [`picture_store`]: running live pictures (`/watch`) in the store, resumed after a
//!   restart.
//! - [`presets`]: walkie-presets' expansion of a preset (agent hooks included), re-exported:
//!   this machine's sessions are expanded here, another box's by its own host.
//! - [`remote`]: `[hosts.NAME]` to an ssh link and a host client over it (bridge or
//!   direct-streamlocal).
//! - [`relay`]: for the CLI while `walkie up` runs: a 0600 socket per remote host relaying
//!   the host protocol over the fleet's own ssh connection, and the hosts' status file.
//! - [`requests`]: typed, chat-neutral requests (commands, text for a session), one
//!   handler per file, answered with neutral views ([`requests::View`]) through
//!   [`front::Frontend`].
//! - [`revival`]: the message about what came back after a host restart.
//! - [`schedule`]: scheduled dispatch: jobs in the store, the timer that fires them
//!   through the dispatch path, the clock (test clock file) and default zone.
//! - [`session`]: [`session::SessionRef`], a session with its host (local by default).
//! - [`store`]: the bot's state in SQLite (chats, live screens, audit log, transcripts,
//!   updates).
//! - `testing` (tests, and the `test-util` feature): an in-memory front end and host.
//! - [`voice`]: the voice queue (local transcription).
//! - [`workdir`]: where a session from the phone runs (its DIR, the preset's cwd, or a
//!   choice of recent and project directories) and its environment file; the store's
//!   directory choices and what each live screen last showed.

pub mod activity;
pub mod approval_store;
pub mod boundary;
pub mod changes;
pub mod desk;
pub mod dialogs;
pub mod fleet;
pub mod front;
pub mod gate;
pub mod host;
pub mod outbox;
pub mod picture_store;
/// The one expansion of a preset lives in `walkie-presets`, which the host binary uses too.
pub use walkie_presets as presets;
pub mod relay;
pub mod remote;
pub mod requests;
pub mod revival;
pub mod schedule;
pub mod session;
pub mod store;
pub mod voice;
pub mod workdir;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;
