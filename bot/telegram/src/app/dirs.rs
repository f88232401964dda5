//! `/new NAME PRESET` without a directory: buttons for the likely ones (the console decides
//! which, `walkie_console::workdir`), and the press that starts the session in one.

use std::path::PathBuf;

use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup};
use walkie_console::store::{AuditAction, AuditEntry};
use walkie_console::workdir::{self, DirChoice, Place, WorkdirError};

use super::{App, HandleError, NewSpec};
use crate::render::escape_html;

/// Callback data of the directory buttons: `dir:ID:INDEX`.
const DIR_PREFIX: &str = "dir:";

/// Longest directory shown on a button.
const LABEL_CHARS: usize = 40;

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

impl App {
    /// Where `/new` runs: `Some(cwd)` to start now (`None`: the host's home), or `None` when
    /// the chat got an answer instead (a refused directory, or buttons to choose one).
    pub(super) async fn session_place(
        &self,
        chat: i64,
        name: &str,
        spec: &NewSpec,
        dir: Option<&str>,
    ) -> Result<Option<Option<PathBuf>>, HandleError> {
        let preset = match spec {
            NewSpec::Preset(p) => Some(p.as_str()),
            _ => None,
        };
        let home = home();
        match workdir::place(&self.cfg, &self.store, preset, dir, home.as_deref()).await {
            Ok(Place::Dir(d)) => Ok(Some(Some(d))),
            Ok(Place::Home) => Ok(Some(None)),
            Ok(Place::Choose(dirs)) => {
                let preset = preset.unwrap_or_default().to_string();
                self.offer_dirs(chat, name, preset, dirs).await?;
                Ok(None)
            }
            Err(WorkdirError::Refused(why)) => {
                self.reply(chat, &why).await?;
                Ok(None)
            }
            Err(WorkdirError::Store(e)) => Err(e.into()),
        }
    }

    async fn offer_dirs(
        &self,
        chat: i64,
        name: &str,
        preset: String,
        dirs: Vec<PathBuf>,
    ) -> Result<(), HandleError> {
        let home = home();
        let labels: Vec<String> = dirs
            .iter()
            .map(|d| format!("📁 {}", workdir::short_dir(d, home.as_deref(), LABEL_CHARS)))
            .collect();
        let choice = DirChoice {
            chat_id: chat,
            name: name.to_string(),
            preset,
            dirs,
        };
        let id = self.store.save_dir_choice(&choice).await?;
        let rows: Vec<Vec<InlineKeyboardButton>> = labels
            .into_iter()
            .enumerate()
            .map(|(i, label)| {
                vec![InlineKeyboardButton::callback(
                    label,
                    format!("{DIR_PREFIX}{id}:{i}"),
                )]
            })
            .collect();
        let (name, preset) = (escape_html(name), escape_html(&choice.preset));
        let html = format!(
            "📁 Where should <b>{name}</b> ({preset}) run? Or send <code>/new {name} {preset} DIR</code>."
        );
        self.reply_html(chat, &html, Some(InlineKeyboardMarkup::new(rows)))
            .await
            .map(|_| ())
    }

    /// Refuses (audited, answered) the press of a button that acts by someone who may only
    /// look; `true` if refused.
    pub(super) async fn viewer_refused(
        &self,
        user: i64,
        chat: i64,
        query: &str,
        data: &str,
        what: &str,
    ) -> Result<bool, HandleError> {
        if self.gate.role(user) == walkie_console::gate::Role::Operator {
            return Ok(false);
        }
        self.audit(AuditEntry {
            user_id: Some(user),
            chat_id: Some(chat),
            action: AuditAction::Refused,
            source: Some("button".into()),
            text: Some(data.into()),
            detail: Some(format!("viewer pressed {what}")),
            ..AuditEntry::default()
        })
        .await;
        self.tg
            .answer_callback(query, Some(walkie_console::gate::VIEWER_TEXT))
            .await?;
        Ok(true)
    }

    /// A press of a directory button; `None` if `data` is not one.
    pub(super) async fn on_dir_button(
        &self,
        user: i64,
        chat: i64,
        q: &CallbackQuery,
        data: &str,
    ) -> Option<Result<(), HandleError>> {
        let rest = data.strip_prefix(DIR_PREFIX)?;
        Some(self.dir_pressed(user, chat, q, rest).await)
    }

    async fn dir_pressed(
        &self,
        user: i64,
        chat: i64,
        q: &CallbackQuery,
        rest: &str,
    ) -> Result<(), HandleError> {
        let data = format!("{DIR_PREFIX}{rest}");
        if self
            .viewer_refused(user, chat, &q.id.0, &data, "a directory button")
            .await?
        {
            return Ok(());
        }
        let parsed = rest
            .split_once(':')
            .and_then(|(id, i)| Some((id.parse::<i64>().ok()?, i.parse::<usize>().ok()?)));
        let taken = match parsed {
            Some((id, _)) => self.store.take_dir_choice(id, chat).await?,
            None => None,
        };
        let Some((choice, dir)) = taken.and_then(|c| {
            let d = c.dirs.get(parsed?.1)?.clone();
            Some((c, d))
        }) else {
            self.tg
                .answer_callback(&q.id.0, Some("This choice was already made."))
                .await?;
            return Ok(());
        };
        let shown = workdir::short_dir(&dir, home().as_deref(), LABEL_CHARS * 2);
        self.tg
            .answer_callback(&q.id.0, Some(&format!("{} in {shown}", choice.name)))
            .await?;
        if let Some(m) = &q.message {
            let html = format!(
                "📁 <b>{}</b> ({}): {}",
                escape_html(&choice.name),
                escape_html(&choice.preset),
                escape_html(&shown)
            );
            self.tg.edit_html(chat, m.id().0, &html, None).await?;
        }
        let dir = dir.to_string_lossy().into_owned();
        self.audit(AuditEntry {
            user_id: Some(user),
            chat_id: Some(chat),
            action: AuditAction::Command,
            source: Some("button".into()),
            text: Some(format!("/new {} {} {dir}", choice.name, choice.preset)),
            ..AuditEntry::default()
        })
        .await;
        self.new_session(chat, choice.name, NewSpec::Preset(choice.preset), Some(dir))
            .await
    }
}
