//! The press of Trust or Reject on a host-key card (`walkie_console::fleet` posts it when
//! a remote host presents a key walkie does not know): operators only, audited, the card
//! edited to what was decided. Trust writes walkie's own known_hosts and reconnects.

use walkie_console::front::{ChatId, UserId};
use walkie_console::store::{AuditAction, AuditEntry};

use super::buttons::Press;
use super::{App, HandleError};
use crate::render::escape_html;

impl App {
    /// A press of a host-key button (`hostkey:t:HOST`, `hostkey:r:HOST`; operators only,
    /// checked before).
    pub(super) async fn host_key_pressed(
        &self,
        p: &Press<'_>,
        rest: &str,
    ) -> Result<(), HandleError> {
        let Press {
            user,
            chat,
            q,
            data,
        } = *p;
        let (trusting, host) = match rest.split_once(':') {
            Some(("t", h)) => (true, h),
            Some(("r", h)) => (false, h),
            _ => return self.no_longer_works(p).await,
        };
        let outcome = if trusting {
            self.host.trust(host).await
        } else {
            self.host.reject(host).map(|()| String::new())
        };
        let (toast, html, detail) = match &outcome {
            Ok(fp) if trusting => (
                format!("Trusted {host}"),
                format!(
                    "✅ Host key of <b>{}</b> trusted (<code>{}</code>); connecting.",
                    escape_html(host),
                    escape_html(fp)
                ),
                format!("trusted {host} {fp}"),
            ),
            Ok(_) => (
                format!("Rejected {host}"),
                format!(
                    "⛔ Host key of <b>{}</b> rejected: nothing is sent to it. <code>walkie hosts trust {}</code> at a terminal if you change your mind.",
                    escape_html(host),
                    escape_html(host)
                ),
                format!("rejected {host}"),
            ),
            Err(why) => (why.clone(), escape_html(why), format!("{host}: {why}")),
        };
        self.audit(AuditEntry {
            user_id: Some(UserId(user)),
            chat_id: Some(ChatId(chat)),
            action: AuditAction::HostKey,
            source: Some("button".into()),
            text: Some(data.into()),
            detail: Some(detail),
            ..AuditEntry::default()
        })
        .await;
        self.tg.answer_callback(&q.id.0, Some(&toast)).await?;
        if let Some(m) = &q.message {
            self.tg.edit_html(chat, m.id().0, &html, None).await?;
        }
        Ok(())
    }
}
