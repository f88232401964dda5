//! Text for a session: `name: text` goes to that session, a reply to one of a session's
//! messages goes to that session, anything else to the chat's current session. Every
//! dispatch is audited and shows the session's live screen.

use walkie_host_proto::SessionName;

use super::{host_answer, Console, Result};
use crate::front::{ChatId, Frontend, MessageRef, UserId};
use crate::host::Host;
use crate::session::SessionRef;
use crate::store::{AuditAction, AuditEntry};

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    user: UserId,
    chat: ChatId,
    text: &str,
    reply_to: Option<MessageRef>,
) -> Result<()> {
    let sessions = match c.host.list().await {
        Ok(s) => s,
        Err(e) => return c.say(chat, host_answer(&e, None)).await,
    };
    let names: Vec<String> = sessions.iter().map(|s| s.name.clone()).collect();
    let reply_target = match reply_to {
        Some(r) => c.store.session_of_message(chat, r).await?.map(|s| s.name),
        None => None,
    };
    let (target, body) = if let Some((name, rest)) = route_prefix(text, &names) {
        (Some(name), rest.to_string())
    } else if let Some(name) = reply_target {
        (Some(name), text.to_string())
    } else {
        let current = c.store.current_session(chat).await?;
        (current.map(|s| s.name), text.to_string())
    };
    let Some(session) = target else {
        return c
            .say(
                chat,
                "No current session: /new NAME starts one, /use NAME picks one, /ls lists them.",
            )
            .await;
    };
    dispatch(c, user, chat, &session, &body, "text").await
}

/// Types `text` + Enter into `session`, audits it, and shows the live screen. `source`:
/// how it came (`text`, `voice`), for the audit log.
pub async fn dispatch<F: Frontend, H: Host>(
    c: &Console<F, H>,
    user: UserId,
    chat: ChatId,
    session: &str,
    text: &str,
    source: &str,
) -> Result<()> {
    let by = By {
        user: Some(user),
        who: format!("telegram user {} ({source})", user.0),
        source: source.to_string(),
        detail: None,
    };
    match deliver(c, &by, chat, session, text).await {
        Delivered::Typed => Ok(()),
        Delivered::Held(note) => c.say(chat, note).await,
        Delivered::Failed(answer) => c.say(chat, answer).await,
    }
}

/// Who a dispatch is done by.
pub(crate) struct By {
    /// The person; `None` for a scheduled run.
    pub(crate) user: Option<UserId>,
    /// For the host's recording marker (`telegram user 1 (text)`, `schedule 7`).
    pub(crate) who: String,
    /// For the audit log's `source` (`text`, `voice`, `schedule 7`).
    pub(crate) source: String,
    pub(crate) detail: Option<String>,
}

/// What became of a dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivered {
    Typed,
    /// Held until the agent's input box is back (the note for the chat).
    Held(String),
    /// Not typed: the one-line why.
    Failed(String),
}

/// The one dispatch path (typed text, voice notes, scheduled runs): held while a dialog is
/// up, else typed, audited, recording time linked, live screen kept going in `chat`.
pub(crate) async fn deliver<F: Frontend, H: Host>(
    c: &Console<F, H>,
    by: &By,
    chat: ChatId,
    session: &str,
    text: &str,
) -> Delivered {
    // A dialog on screen, or an agent not ready yet: held, typed later by the desk. A
    // scheduled run has no user; the held text's confirmation and audit line then carry 0.
    if let Some(note) = c
        .dialogs
        .hold_text(
            &*c.host,
            by.user.unwrap_or(UserId(0)),
            chat,
            session,
            text,
            &by.source,
        )
        .await
    {
        c.front.watch(chat, session);
        return Delivered::Held(note);
    }
    match c.host.send_line(session, text, &by.who).await {
        Ok(at) => {
            let entry = AuditEntry {
                user_id: by.user,
                chat_id: Some(chat),
                session: Some(SessionRef::local(session)),
                action: AuditAction::Dispatch,
                source: Some(by.source.clone()),
                text: Some(text.into()),
                detail: by.detail.clone(),
            };
            // Linked to the recording time, for "what did the agent do after that?".
            match c.store.audit(&entry).await {
                Ok(id) => {
                    if let Some(at) = at {
                        let _ = c.store.set_recording_at(id, at).await;
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot write the audit log"),
            }
            tracing::info!(by = %by.who, chat = chat.0, session, source = %by.source, "dispatched");
            c.front.watch(chat, session);
            Delivered::Typed
        }
        Err(e) => Delivered::Failed(host_answer(&e, Some(session))),
    }
}

/// `name: text` at the start of a message, for a session that exists. Anything else
/// (including `http://...` or a name that is not a session) is not routing.
pub fn route_prefix<'a>(text: &'a str, sessions: &[String]) -> Option<(String, &'a str)> {
    let (head, rest) = text.split_once(':')?;
    if SessionName::parse(head).is_err() || !sessions.iter().any(|s| s == head) {
        return None;
    }
    let rest = rest.strip_prefix(|c: char| c.is_whitespace())?.trim_start();
    (!rest.is_empty()).then(|| (head.to_string(), rest))
}

/// Spoken routing: a transcript that starts with a session's name followed by a pause
/// mark ("Backend, run the tests.") goes to that session. Names are compared ignoring
/// case, with `-`, `_` and `.` heard as spaces ("api server" for `api-server`). The
/// longest matching name wins.
pub fn route_spoken(transcript: &str, sessions: &[String]) -> Option<(String, String)> {
    let t = transcript.trim_start();
    let mut best: Option<(&String, usize)> = None;
    for name in sessions {
        let spoken: String = name
            .chars()
            .map(|c| if matches!(c, '-' | '_' | '.') { ' ' } else { c })
            .collect();
        for candidate in [name.as_str(), spoken.as_str()] {
            // Byte-wise ASCII comparison: names are ASCII, and `get` keeps a non-ASCII
            // transcript from being sliced inside a character.
            let heard = t
                .get(..candidate.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(candidate));
            if heard && best.is_none_or(|(_, len)| candidate.len() > len) {
                let after = &t[candidate.len()..];
                if after.starts_with([',', ':', ';', '.', '!']) || after.starts_with(" -") {
                    best = Some((name, candidate.len()));
                }
            }
        }
    }
    let (name, len) = best?;
    let rest = t[len..]
        .trim_start_matches([',', ':', ';', '.', '!', '-', ' '])
        .trim();
    (!rest.is_empty()).then(|| (name.clone(), rest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_colon_routing_needs_an_existing_session() {
        let s = vec!["backend".to_string(), "web".to_string()];
        assert_eq!(
            route_prefix("backend: run the tests", &s),
            Some(("backend".into(), "run the tests"))
        );
        assert_eq!(
            route_prefix("web:  ls -la", &s),
            Some(("web".into(), "ls -la"))
        );
        assert_eq!(route_prefix("note: remember this", &s), None);
        assert_eq!(route_prefix("http://example.com", &s), None);
        assert_eq!(route_prefix("backend:", &s), None);
        assert_eq!(route_prefix("backend:x", &s), None);
    }

    #[test]
    fn spoken_routing() {
        let s = vec![
            "backend".to_string(),
            "api-server".to_string(),
            "api".to_string(),
        ];
        assert_eq!(
            route_spoken("Backend, run the tests.", &s),
            Some(("backend".into(), "run the tests.".into()))
        );
        assert_eq!(
            route_spoken("API server: restart it", &s),
            Some(("api-server".into(), "restart it".into()))
        );
        assert_eq!(
            route_spoken("api, status", &s),
            Some(("api".into(), "status".into()))
        );
        // No pause after the name: ordinary speech, not routing.
        assert_eq!(route_spoken("backend tests are failing", &s), None);
        assert_eq!(route_spoken("Run the tests.", &s), None);
        assert_eq!(route_spoken("Backend.", &s), None);
    }
}
