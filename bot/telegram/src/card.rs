//! Approval cards on Telegram: the neutral card content ([`walkie_approval::card`]) as HTML
//! and an inline keyboard, and the buttons' `callback_data` codes.
//!
//! Buttons carry only `ap:<id>:<action>` ([`encode_callback`]), far inside the 64-byte
//! `callback_data` limit; everything else lives in the store.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use walkie_approval::card::{Block, Card, Span};
use walkie_approval::model::{ApprovalAction, ApprovalId};

use super::render::escape_html;

/// Whether `data` is an approval card's button (else it belongs to someone else).
pub(crate) fn is_approval_button(data: &str) -> bool {
    data.starts_with(CALLBACK_PREFIX)
}

/// The card's text as Telegram HTML.
pub(crate) fn html(c: &Card) -> String {
    let block = |b: &Block| match b {
        Block::Pre(t) => format!("<pre>{}</pre>", escape_html(t)),
        Block::Line(spans) => spans
            .iter()
            .map(|s| match s {
                Span::Plain(t) => escape_html(t),
                Span::Strong(t) => format!("<b>{}</b>", escape_html(t)),
                Span::Code(t) => format!("<code>{}</code>", escape_html(t)),
            })
            .collect(),
    };
    c.blocks.iter().map(block).collect::<Vec<_>>().join("\n")
}

/// The card's buttons as an inline keyboard; `None` for a card without buttons.
pub(crate) fn markup(c: &Card) -> Option<InlineKeyboardMarkup> {
    if c.buttons.is_empty() {
        return None;
    }
    Some(InlineKeyboardMarkup::new(c.buttons.iter().map(|row| {
        row.iter()
            .map(|b| {
                InlineKeyboardButton::callback(b.label.clone(), encode_callback(b.id, b.action))
            })
            .collect::<Vec<_>>()
    })))
}

fn code(a: ApprovalAction) -> String {
    match a {
        ApprovalAction::Approve => "a".into(),
        ApprovalAction::ApproveForSession => "s".into(),
        // A network card's "Always".
        ApprovalAction::ApproveAlways => "w".into(),
        ApprovalAction::Deny => "d".into(),
        ApprovalAction::Screen => "v".into(),
        // A dialog card's choice: `c0` to `c9`.
        ApprovalAction::Choose(n) => format!("c{n}"),
    }
}

/// Telegram's limit on `callback_data`.
#[cfg(test)]
const CALLBACK_DATA_MAX: usize = 64;

pub(crate) const CALLBACK_PREFIX: &str = "ap:";

/// `ap:<id in base 36>:<action>`; at most 19 bytes.
pub(crate) fn encode_callback(id: ApprovalId, action: ApprovalAction) -> String {
    format!("{CALLBACK_PREFIX}{}:{}", base36(id.0), code(action))
}

/// The inverse of [`encode_callback`]; `None` for anything else (other buttons, forgeries).
pub(crate) fn decode_callback(data: &str) -> Option<(ApprovalId, ApprovalAction)> {
    let rest = data.strip_prefix(CALLBACK_PREFIX)?;
    let (id, action) = rest.split_once(':')?;
    let action = match action {
        "a" => ApprovalAction::Approve,
        "s" => ApprovalAction::ApproveForSession,
        "w" => ApprovalAction::ApproveAlways,
        "d" => ApprovalAction::Deny,
        "v" => ApprovalAction::Screen,
        c => match c.strip_prefix('c').map(str::as_bytes) {
            Some([d @ b'0'..=b'9']) => ApprovalAction::Choose(d - b'0'),
            _ => return None,
        },
    };
    // Canonical form only, so one approval has exactly one spelling per button.
    if id.is_empty() || id.len() > 13 || (id.len() > 1 && id.starts_with('0')) {
        return None;
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    {
        return None;
    }
    let n = u64::from_str_radix(id, 36).ok()?;
    Some((ApprovalId(n), action))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkie_approval::card::{decided, pending};
    use walkie_approval::model::{Answer, Approval, Decider, Subject, DEFAULT_TIMEOUT};
    use walkie_approval::testing::{hook_approval, T0};

    #[test]
    fn pending_card_as_html_and_buttons() {
        let a = hook_approval();
        let c = pending(&a, true);
        assert_eq!(
            html(&c),
            "🔐 <b>backend</b> · claude wants to run:\n\
             <pre>touch /tmp/agent-approved-demo</pre>\n\
             📁 <code>/srv/demo/agent-repo-1</code>\n\
             💬 Create marker file\n\
             ⏳ denied at 15:32 UTC if nobody answers"
        );
        let m = markup(&c).unwrap();
        let data: Vec<_> = m
            .inline_keyboard
            .iter()
            .flatten()
            .map(|b| match &b.kind {
                teloxide::types::InlineKeyboardButtonKind::CallbackData(d) => {
                    assert!(d.len() <= 64);
                    decode_callback(d).unwrap()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            data,
            [
                (ApprovalId(41), ApprovalAction::Approve),
                (ApprovalId(41), ApprovalAction::ApproveForSession),
                (ApprovalId(41), ApprovalAction::Deny),
                (ApprovalId(41), ApprovalAction::Screen),
            ]
        );
        assert!(markup(&pending(&a, false)).is_none());
    }

    #[test]
    fn decided_card_as_html() {
        let mut a = hook_approval();
        let by = Decider::Phone {
            user_id: 1,
            name: "ana".into(),
        };
        a.decide(Answer::Approve, by, T0 + 65_000).unwrap();
        assert!(html(&decided(&a)).starts_with("✅ Approved by ana at 15:23 UTC\n<b>backend</b>"));
        let mut p = hook_approval();
        p.decide(
            Answer::Approve,
            Decider::Policy {
                rule: "touch <x>".into(),
            },
            T0,
        )
        .unwrap();
        assert!(html(&decided(&p)).starts_with("✅ Approved by rule <code>touch &lt;x&gt;</code>"));
    }

    #[test]
    fn everything_shown_is_escaped_and_bounded() {
        let a = Approval::new(
            ApprovalId(1),
            "s",
            Subject::Ask {
                question: format!("<b>&{}", "x".repeat(10_000)),
            },
            T0,
            DEFAULT_TIMEOUT,
        );
        let text = html(&pending(&a, true));
        assert!(text.contains("&lt;b&gt;&amp;"));
        assert!(!text.contains("<b>&"));
        assert!(super::super::render::utf16_len(&text) < 4096);
        assert!(text.contains('…'));
    }

    #[test]
    fn callback_data_round_trips_within_64_bytes() {
        let actions = [
            ApprovalAction::Approve,
            ApprovalAction::ApproveForSession,
            ApprovalAction::ApproveAlways,
            ApprovalAction::Deny,
            ApprovalAction::Screen,
            ApprovalAction::Choose(0),
            ApprovalAction::Choose(9),
        ];
        for id in [0, 1, 35, 36, 1_000_000, u64::MAX - 1, u64::MAX] {
            for action in actions {
                let data = encode_callback(ApprovalId(id), action);
                assert!(
                    data.len() <= 19 && data.len() <= CALLBACK_DATA_MAX,
                    "{data}"
                );
                assert_eq!(
                    decode_callback(&data),
                    Some((ApprovalId(id), action)),
                    "{data}"
                );
            }
        }
        assert_eq!(
            encode_callback(ApprovalId(36), ApprovalAction::Deny),
            "ap:10:d"
        );
        assert_eq!(ApprovalAction::Screen.answer(), None);
        assert_eq!(ApprovalAction::Deny.answer(), Some(Answer::Deny));
        for bad in [
            "",
            "ap:",
            "ap:1",
            "ap:1:",
            "ap:1:x",
            "ap:1:c",
            "ap:1:c10",
            "ap:1:c-",
            "ap::a",
            "ap:01:a",
            "ap:A:a",
            "ap:-1:a",
            "ap:1:a:extra",
            "xx:1:a",
            "ap:zzzzzzzzzzzzzz:a",
            "ap:3w5e11264sgsg:a",
            "ap: 1:a",
        ] {
            assert_eq!(decode_callback(bad), None, "{bad:?}");
        }
    }
}
