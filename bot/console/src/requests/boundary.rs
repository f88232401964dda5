//! `/boundary [NAME]`: the session's boundary card; and the card's widen buttons, which
//! change the session's network rules live (audited with who pressed).

use walkie_host_proto::sandbox::Widen;

use super::{host_answer, Console, Result, View};
use crate::front::{ChatId, Frontend, UserId};
use crate::host::Host;
use crate::session::SessionRef;
use crate::store::{AuditAction, AuditEntry};

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    name: Option<String>,
) -> Result<()> {
    let Some(name) = c.target(chat, name).await? else {
        return Ok(());
    };
    match c.host.boundary(&name).await {
        Ok(b) => c.reply(chat, View::Boundary(Box::new(b))).await,
        Err(e) => c.say(chat, host_answer(&e, Some(&name))).await,
    }
}

pub(crate) async fn widen<F: Frontend, H: Host>(
    c: &Console<F, H>,
    user: UserId,
    chat: ChatId,
    name: String,
    change: Widen,
) -> Result<()> {
    let what = match &change {
        Widen::AllowDomain { domain } => format!("allow {domain}"),
        Widen::OpenNetwork => "open network".to_string(),
    };
    let by = format!("telegram user {}", user.0);
    let result = c.host.widen(&name, change, &by).await;
    // Audited whether or not the host took it: the attempt is a boundary decision too.
    let entry = AuditEntry {
        user_id: Some(user),
        chat_id: Some(chat),
        session: Some(SessionRef::local(&name)),
        action: AuditAction::Boundary,
        source: Some("button".into()),
        text: Some(what.clone()),
        detail: result.as_ref().err().map(|e| e.to_string()),
    };
    c.store.audit(&entry).await?;
    match result {
        Ok(b) => {
            c.say(chat, format!("{name}: {what}, from now on (no restart)."))
                .await?;
            c.reply(chat, View::Boundary(Box::new(b))).await
        }
        Err(e) => c.say(chat, host_answer(&e, Some(&name))).await,
    }
}
