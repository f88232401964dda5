//! The widen buttons of a boundary card (`bw:d:NAME:DOMAIN`, `bw:o:NAME`, `bw:e:NAME`):
//! decoded here, refused to viewers, answered at once, then run as the console's
//! [`Request::Widen`] (audited there with who pressed). "Edit boundary" says how to restart.

use walkie_console::requests::Request;
use walkie_host_proto::sandbox::Widen;

use super::buttons::Press;
use super::{App, HandleError};
use crate::views::{BOUNDARY_PREFIX, SESSION_SEP};

/// What a widen button's data says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pressed {
    Widen { name: String, change: Widen },
    Edit { name: String },
}

/// `None` if `data` is not a widen button (or a malformed one).
pub(crate) fn decode(data: &str) -> Option<Pressed> {
    let rest = data.strip_prefix(BOUNDARY_PREFIX)?;
    let (kind, rest) = rest.split_once(SESSION_SEP)?;
    match kind {
        "d" => {
            let (name, domain) = rest.split_once(SESSION_SEP)?;
            Some(Pressed::Widen {
                name: name.to_string(),
                change: Widen::AllowDomain {
                    domain: domain.to_string(),
                },
            })
        }
        "o" => Some(Pressed::Widen {
            name: rest.to_string(),
            change: Widen::OpenNetwork,
        }),
        "e" => Some(Pressed::Edit {
            name: rest.to_string(),
        }),
        _ => None,
    }
}

impl App {
    /// A press of a widen button (operators only, checked before).
    pub(super) async fn boundary_pressed(&self, p: &Press<'_>) -> Result<(), HandleError> {
        let (user, chat, q) = (p.user, p.chat, p.q);
        let Some(pressed) = decode(p.data) else {
            return self.no_longer_works(p).await;
        };
        self.tg.answer_callback(&q.id.0, None).await?;
        match pressed {
            Pressed::Widen { name, change } => {
                self.request(user, chat, Request::Widen { name, change })
                    .await
            }
            Pressed::Edit { name } => {
                let text = format!(
                    "Changing {name}'s file boundary restarts it: /kill {name}, then /new {name} PRESET DIR --sandbox PROFILE (off, workspace, readonly or one of [sandbox.profiles]) --network off|allowlist|open."
                );
                self.tg.send_text(chat, &text).await?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widen_buttons_decode_and_others_do_not() {
        assert_eq!(
            decode("bw:d:api:pypi.org"),
            Some(Pressed::Widen {
                name: "api".into(),
                change: Widen::AllowDomain {
                    domain: "pypi.org".into()
                }
            })
        );
        assert_eq!(
            decode("bw:o:api"),
            Some(Pressed::Widen {
                name: "api".into(),
                change: Widen::OpenNetwork
            })
        );
        assert_eq!(
            decode("bw:e:api"),
            Some(Pressed::Edit { name: "api".into() })
        );
        assert_eq!(decode("bw:x:api"), None);
        assert_eq!(decode("dir:1:2"), None);
    }
}
