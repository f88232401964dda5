//! Text for a session: `name: text` goes to that session, a reply to one of a session's
//! messages goes to that session, anything else to the chat's current session. Every
//! dispatch is audited and shows the session's live screen.

use walkie_host_proto::name::Address;

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
    let mut names: Vec<String> = sessions.iter().map(|s| s.name.clone()).collect();
    // `api@cloud: ...` while cloud is down: its sessions are not listed, but the text is
    // for the outbox all the same.
    if let Some((head, _)) = text.split_once(':') {
        if head.contains('@') && Address::parse(head).is_ok() && c.host.queue_for(head).is_some() {
            names.push(head.to_string());
        }
    }
    let reply_target = match reply_to {
        Some(r) => c
            .store
            .session_of_message(chat, r)
            .await?
            .map(|s| s.to_string()),
        None => None,
    };
    let (target, body) = if let Some((name, rest)) = route_prefix(text, &names) {
        (Some(name), rest.to_string())
    } else if let Some(name) = reply_target {
        (Some(name), text.to_string())
    } else {
        let current = c.store.current_session(chat).await?;
        (current.map(|s| s.to_string()), text.to_string())
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
    // Its host is down: into the outbox, delivered once when the host is back.
    if let Some(since) = c.host.queue_for(session) {
        let payload = crate::outbox::Payload::Text(text.to_string());
        let who = format!("telegram user {} ({source})", user.0);
        return crate::outbox::queue(
            &c.store,
            &c.front,
            Some(user),
            chat,
            session,
            payload,
            &who,
            since,
        )
        .await;
    }
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
                session: Some(SessionRef::address(session)),
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
    // `api@cloud` as listed, or a bare `api` that one host has (the fleet finds it).
    let listed = |s: &String| {
        s == head || (!head.contains('@') && s.split_once('@').is_some_and(|(n, _)| n == head))
    };
    if Address::parse(head).is_err() || !sessions.iter().any(listed) {
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

/// What a voice note may name, as `(spoken form, session it routes to)`, from the fleet's
/// session list (`api`, `api@cloud`): each local name as itself; each remote address as
/// spoken ("api at cloud"); and a remote session's bare name with the rule typed text
/// follows: this machine's session of that name wins, else the one remote that has it,
/// else (several remotes) the bare name, which the fleet answers with the candidates.
pub fn spoken_names(sessions: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let local = |n: &str| sessions.iter().any(|s| s == n);
    for s in sessions {
        match s.split_once('@') {
            None => out.push((s.clone(), s.clone())),
            Some((name, host)) => {
                out.push((format!("{name} at {host}"), s.clone()));
                if local(name) || out.iter().any(|(f, _)| f == name) {
                    continue;
                }
                let hosts = sessions
                    .iter()
                    .filter(|o| o.split_once('@').is_some_and(|(n, _)| n == name))
                    .count();
                let target = if hosts == 1 {
                    s.clone()
                } else {
                    name.to_string()
                };
                out.push((name.to_string(), target));
            }
        }
    }
    out
}

/// [`route_spoken`] over [`spoken_names`]: the session a transcript names (an address for a
/// remote one) and the rest of it.
pub fn route_voice(transcript: &str, names: &[(String, String)]) -> Option<(String, String)> {
    let forms: Vec<String> = names.iter().map(|(f, _)| f.clone()).collect();
    let (form, rest) = route_spoken(transcript, &forms)?;
    let target = names.iter().find(|(f, _)| *f == form)?.1.clone();
    Some((target, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_names_remote_sessions_by_bare_name_or_spoken_address() {
        let s: Vec<String> = ["web", "api@cloud", "db@cloud", "db@lab", "web@lab"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let names = spoken_names(&s);
        let route = |t: &str| route_voice(t, &names);
        // Only the cloud has it: the bare name goes there.
        assert_eq!(
            route("API, show me the logs."),
            Some(("api@cloud".into(), "show me the logs.".into()))
        );
        // Spoken as an address.
        assert_eq!(
            route("db at lab, vacuum it"),
            Some(("db@lab".into(), "vacuum it".into()))
        );
        // Two remotes: the bare name, which the fleet answers with both candidates.
        assert_eq!(
            route("db, vacuum it"),
            Some(("db".into(), "vacuum it".into()))
        );
        // This machine's session of that name wins, as for typed text.
        assert_eq!(route("web, reload"), Some(("web".into(), "reload".into())));
        assert_eq!(route("api is slow today"), None);
        // Each form once, so the matcher never sees two equal names.
        let mut forms: Vec<&String> = names.iter().map(|(f, _)| f).collect();
        forms.sort();
        let n = forms.len();
        forms.dedup();
        assert_eq!(forms.len(), n, "{names:?}");
    }

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
        // Sessions on other hosts: by address, or by a bare name one host has.
        let remote = vec!["api@cloud".to_string(), "web".to_string()];
        assert_eq!(
            route_prefix("api@cloud: run the tests", &remote),
            Some(("api@cloud".into(), "run the tests"))
        );
        assert_eq!(
            route_prefix("api: run the tests", &remote),
            Some(("api".into(), "run the tests"))
        );
        assert_eq!(route_prefix("api@lab: x", &remote), None);
        assert_eq!(route_prefix("Api@cloud: x", &remote), None);
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
