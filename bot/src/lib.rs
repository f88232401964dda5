//! The `walkie` binary's library: the command line and the Telegram bot.
//!
//! # Layout
//! - [`cli`]: clap definitions and dispatch of every subcommand.
//! - [`host_cmd`]: the session-host client commands (`new`, `ls`, `send`, `attach`, ...).
//! - [`attach`]: the full-screen attach loop (raw mode, resize, detach key).
//! - [`rec_cmd`]: `walkie replay` and `walkie rec` (session recordings, no host needed).
//! - [`transcribe_cmd`]: `walkie transcribe` and `walkie model`.
//! - [`ask_cmd`]: `walkie ask` and `walkie approve-hook` (asking the phone through the host).
//! - [`logging`]: tracing setup.
//! - [`telegram`]: the Telegram bot (`walkie up`): access control, commands, pacing, rendering.
//! - [`approval`]: approvals without I/O: prompt detection, hook answers, policy, decisions.
//! - [`store`]: the bot's state in SQLite (chats, live screens, audit log, transcripts, updates).
//! - [`approval_store`]: approvals, their cards and session rules in the same SQLite store.

pub mod approval;
pub mod approval_store;
pub mod ask_cmd;
pub mod attach;
pub mod cli;
pub mod host_cmd;
pub mod logging;
pub mod rec_cmd;
pub mod store;
pub mod telegram;
pub mod transcribe_cmd;
