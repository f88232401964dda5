//! The console's answers ([`View`]) as Telegram messages: plain text, or HTML with an
//! inline keyboard (the `/ls` buttons, whose presses come back as `use:NAME`; the directory
//! buttons of `/new`, as `dir:CHOICE:INDEX`).

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use teloxide::utils::command::BotCommands;
use walkie_console::requests::schedule::{
    DraftCard, DraftOp, JobLine, JobOp, Overlap, ScheduleRequest, ZoneQuestion,
};
use walkie_console::requests::View;
use walkie_host_proto::protocol::SessionInfo;

use crate::commands::Command;
use crate::render::MAX_MESSAGE_UTF16;
use crate::render::{escape_html, fit_bottom, render_live, trim_screen, utf16_len};

/// Callback data of the /ls buttons: `use:NAME` (at most 36 bytes, under Telegram's 64).
pub(crate) const USE_PREFIX: &str = "use:";

/// Callback data of the directory buttons of `/new NAME PRESET`: `dir:CHOICE:INDEX`.
pub(crate) const DIR_PREFIX: &str = "dir:";

/// Callback data of a host-key card: `hostkey:t:HOST` (Trust) and `hostkey:r:HOST` (Reject),
/// at most 42 bytes.
pub(crate) const HOSTKEY_PREFIX: &str = "hostkey:";

/// Callback data of the Cancel button of a queued item: `outbox:c:ID`.
pub(crate) const OUTBOX_PREFIX: &str = "outbox:";

/// Callback data of the 🖼 button under a text screen (`/screen`, a card's 🖥 Screen):
/// `pic:NAME`, the same screen as a picture (`/shot NAME`).
pub(crate) const PICTURE_PREFIX: &str = "pic:";

/// The 🖼 button under a text screen of `session`.
pub(crate) fn picture_button(session: &str) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::callback(
        "🖼 Picture",
        format!("{PICTURE_PREFIX}{session}"),
    )]])
}

/// Callback data of a boundary card's widen buttons: `bw:d:NAME:DOMAIN` (allow a domain),
/// `bw:o:NAME` (open network), `bw:e:NAME` (edit boundary: how to restart).
pub(crate) const BOUNDARY_PREFIX: &str = "bw:";
pub(crate) const SESSION_SEP: char = ':';
/// Telegram's limit on a button's callback data.
const MAX_CALLBACK_BYTES: usize = 64;

/// Callback data of a job's buttons in the `/schedule` list: `sj:OP:ID` (OP: `p` pause,
/// `r` resume, `n` run now, `d` delete).
pub(crate) const JOB_PREFIX: &str = "sj:";

/// Callback data of a proposed job's card: `sd:c:ID` (Create), `sd:x:ID` (Cancel), and
/// its overlap buttons `sd:os:ID`, `sd:oq:ID`, `sd:oe:ID` (skip, queue, send).
pub(crate) const DRAFT_PREFIX: &str = "sd:";

/// Callback data of the zone question before a chat's first job: `sz:u:ID` (use the zone
/// offered), `sz:o:ID` (another one: how to say it).
pub(crate) const ZONE_PREFIX: &str = "sz:";

/// The overlap buttons' codes, labels and policies, in the card's order.
const OVERLAP_BUTTONS: [(&str, &str, Overlap); 3] = [
    ("os", "skip if busy", Overlap::Skip),
    ("oq", "queue if busy", Overlap::Queue),
    ("oe", "send if busy", Overlap::Send),
];

/// A job or draft button's press, as the console's request.
pub(crate) fn schedule_press(data: &str) -> Option<ScheduleRequest> {
    if let Some(rest) = data.strip_prefix(JOB_PREFIX) {
        let (op, id) = rest.split_once(':')?;
        let op = match op {
            "p" => JobOp::Pause,
            "r" => JobOp::Resume,
            "n" => JobOp::RunNow,
            "d" => JobOp::Delete,
            _ => return None,
        };
        return Some(ScheduleRequest::Job {
            job: id.parse().ok()?,
            op,
        });
    }
    if let Some(rest) = data.strip_prefix(ZONE_PREFIX) {
        let (op, id) = rest.split_once(':')?;
        let use_offered = match op {
            "u" => true,
            "o" => false,
            _ => return None,
        };
        return Some(ScheduleRequest::ZoneChoice {
            draft: id.parse().ok()?,
            use_offered,
        });
    }
    let rest = data.strip_prefix(DRAFT_PREFIX)?;
    let (op, id) = rest.split_once(':')?;
    let op = match op {
        "c" => DraftOp::Create,
        "x" => DraftOp::Cancel,
        code => DraftOp::Overlap(
            OVERLAP_BUTTONS
                .iter()
                .find(|(c, _, _)| *c == code)
                .map(|(_, _, o)| *o)?,
        ),
    };
    Some(ScheduleRequest::Draft {
        draft: id.parse().ok()?,
        op,
    })
}

/// A proposed job's card: the schedule in words, target, text, the next fires, its
/// policies, a row of overlap buttons (the current one marked) and Create / Cancel.
fn draft_html(card: &DraftCard) -> (String, InlineKeyboardMarkup) {
    let mut html = format!(
        "🗓 <b>New job</b>: {}\n→ <b>{}</b>: {}\nNext ({}):\n",
        escape_html(&card.schedule),
        escape_html(&card.target),
        escape_html(&cut(&card.text, 600)),
        escape_html(&card.zone)
    );
    if card.next.is_empty() {
        html.push_str("• never (its time has passed)\n");
    }
    for t in &card.next {
        html.push_str(&format!("• {}\n", escape_html(t)));
    }
    for p in &card.policies {
        html.push_str(&format!("<i>{}</i>\n", escape_html(p)));
    }
    let overlap = OVERLAP_BUTTONS
        .iter()
        .map(|(code, label, o)| {
            let label = if *o == card.overlap {
                format!("• {label}")
            } else {
                (*label).to_string()
            };
            InlineKeyboardButton::callback(label, format!("{DRAFT_PREFIX}{code}:{}", card.draft))
        })
        .collect();
    let answer = vec![
        InlineKeyboardButton::callback("✅ Create", format!("{DRAFT_PREFIX}c:{}", card.draft)),
        InlineKeyboardButton::callback("✖ Cancel", format!("{DRAFT_PREFIX}x:{}", card.draft)),
    ];
    (html, InlineKeyboardMarkup::new(vec![overlap, answer]))
}

/// The zone question before a chat's first job.
fn zone_html(q: &ZoneQuestion) -> (String, InlineKeyboardMarkup) {
    let html = format!(
        "🕘 Times in <b>{}</b>? Jobs in this chat will run in that zone (asked once; /schedule zone NAME changes it).",
        escape_html(&q.zone)
    );
    let row = vec![
        InlineKeyboardButton::callback(
            format!("Use {}", q.zone),
            format!("{ZONE_PREFIX}u:{}", q.draft),
        ),
        InlineKeyboardButton::callback("Other…", format!("{ZONE_PREFIX}o:{}", q.draft)),
    ];
    (html, InlineKeyboardMarkup::new(vec![row]))
}

/// A view as Telegram sends it.
pub(crate) enum Rendered {
    Text(String),
    Html(String, Option<InlineKeyboardMarkup>),
    /// A document (a picture, a recording).
    File(walkie_console::requests::Document),
}

pub(crate) fn render(view: &View) -> Rendered {
    match view {
        View::Text(t) => Rendered::Text(t.clone()),
        View::Help => {
            let help = Command::descriptions().to_string();
            let extra = "\n\nPlain text goes to the current session; `name: text` to another one; \
                         replying to a session's message goes to that session.";
            Rendered::Text(format!("{help}{extra}"))
        }
        View::Screen { session, screen } => Rendered::Html(
            render_live(
                Some(&format!("<b>{}</b>", escape_html(session))),
                utf16_len(session),
                screen,
            ),
            Some(picture_button(session)),
        ),
        View::File { file, .. } => Rendered::File(file.clone()),
        View::Tail { text, .. } => {
            let text = trim_screen(text);
            let body = if text.is_empty() {
                "(no output yet)".to_string()
            } else {
                text
            };
            let body = fit_bottom(&body, MAX_MESSAGE_UTF16 - 1);
            Rendered::Html(format!("<pre>{}</pre>", escape_html(&body)), None)
        }
        View::Sessions {
            sessions,
            current,
            hosts,
        } => {
            let (html, markup) = sessions_html(sessions, current.as_deref(), hosts);
            Rendered::Html(html, Some(markup))
        }
        View::HostKey {
            host,
            address,
            key_type,
            fingerprint,
            old,
        } => host_key_html(host, address, key_type, fingerprint, old),
        View::Queued { id, line } => Rendered::Html(
            escape_html(line),
            Some(InlineKeyboardMarkup::new(vec![vec![
                InlineKeyboardButton::callback("✖ Cancel", format!("{OUTBOX_PREFIX}c:{id}")),
            ]])),
        ),
        View::Attach { session, ssh_host } => {
            let line = match ssh_host {
                Some(h) => format!(
                    "<code>ssh -t {} walkie attach {}</code>",
                    escape_html(h),
                    escape_html(session)
                ),
                None => format!(
                    "<code>walkie attach {}</code>\n(on this machine; set WALKIE_SSH_HOST to get the ssh line)",
                    escape_html(session)
                ),
            };
            Rendered::Html(line, None)
        }
        View::Dirs {
            session,
            preset,
            choice,
            labels,
        } => {
            let rows: Vec<Vec<InlineKeyboardButton>> = labels
                .iter()
                .enumerate()
                .map(|(i, label)| {
                    vec![InlineKeyboardButton::callback(
                        format!("📁 {label}"),
                        format!("{DIR_PREFIX}{choice}:{i}"),
                    )]
                })
                .collect();
            let (name, preset) = (escape_html(session), escape_html(preset));
            let html = format!(
                "📁 Where should <b>{name}</b> ({preset}) run? Or send <code>/new {name} {preset} DIR</code>."
            );
            Rendered::Html(html, Some(InlineKeyboardMarkup::new(rows)))
        }
        View::Boundary(b) => {
            let (html, markup) = boundary_html(b);
            Rendered::Html(html, Some(markup))
        }
        View::Schedules { zone, jobs } => {
            let (html, markup) = schedules_html(zone, jobs);
            Rendered::Html(html, markup)
        }
        View::ScheduleDraft(card) => {
            let (html, markup) = draft_html(card);
            Rendered::Html(html, Some(markup))
        }
        View::ScheduleZone(q) => {
            let (html, markup) = zone_html(q);
            Rendered::Html(html, Some(markup))
        }
    }
}

/// One host's part of `/ls`: its `(name, state)` (`None`: this machine) and sessions.
type Group<'a> = (Option<&'a (String, String)>, Vec<&'a SessionInfo>);

/// The boundary card: the console's lines, bold labels, and its widen buttons (a domain too
/// long for a button's 64 bytes gets none; `/boundary` still names it).
fn boundary_html(b: &walkie_host_proto::sandbox::BoundaryInfo) -> (String, InlineKeyboardMarkup) {
    use walkie_console::boundary::{self, Widen};
    let icon = if b.enforced { "🛡" } else { "⚠️" };
    let what = if boundary::is_none(b) {
        "no boundary"
    } else {
        "boundary"
    };
    let mut html = format!("{icon} <b>{}</b>: {what}\n", escape_html(&b.session));
    for (label, value) in boundary::lines(b) {
        html.push_str(&format!(
            "<b>{}</b>: {}\n",
            escape_html(label),
            escape_html(&value)
        ));
    }
    let html = fit_bottom(&html, MAX_MESSAGE_UTF16 - 1);
    let name = &b.session;
    let rows: Vec<Vec<InlineKeyboardButton>> = boundary::buttons(b)
        .into_iter()
        .filter_map(|(label, widen)| {
            let data = match widen {
                Widen::AllowDomain(d) => {
                    format!("{BOUNDARY_PREFIX}d{SESSION_SEP}{name}{SESSION_SEP}{d}")
                }
                Widen::OpenNetwork => format!("{BOUNDARY_PREFIX}o{SESSION_SEP}{name}"),
                Widen::EditBoundary => format!("{BOUNDARY_PREFIX}e{SESSION_SEP}{name}"),
            };
            (data.len() <= MAX_CALLBACK_BYTES)
                .then(|| vec![InlineKeyboardButton::callback(label, data)])
        })
        .collect();
    (html, InlineKeyboardMarkup::new(rows))
}

fn cut(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// The `/schedule` list: one paragraph per job, a row of buttons each.
fn schedules_html(zone: &str, jobs: &[JobLine]) -> (String, Option<InlineKeyboardMarkup>) {
    if jobs.is_empty() {
        return (
            "No jobs yet. <code>/schedule add 0 9 * * 1-5 backend: triage new issues</code> makes one."
                .into(),
            None,
        );
    }
    let mut html = format!("🗓 <b>Jobs</b> (times in {})\n", escape_html(zone));
    let mut rows = Vec::new();
    for j in jobs {
        let next = match (&j.next, j.paused) {
            (_, true) => "paused".to_string(),
            (Some(n), false) => format!("next {}", escape_html(n)),
            (None, false) => "no more runs".to_string(),
        };
        html.push_str(&format!(
            "\n<b>{}</b> · {} → <b>{}</b>: {}\n{}\n",
            j.id,
            escape_html(&j.schedule),
            escape_html(&j.target),
            escape_html(&cut(&j.text, 100)),
            next
        ));
        let toggle = if j.paused {
            InlineKeyboardButton::callback(
                format!("▶️ Resume {}", j.id),
                format!("{JOB_PREFIX}r:{}", j.id),
            )
        } else {
            InlineKeyboardButton::callback(
                format!("⏸ Pause {}", j.id),
                format!("{JOB_PREFIX}p:{}", j.id),
            )
        };
        rows.push(vec![
            toggle,
            InlineKeyboardButton::callback(
                format!("▶ Run {} now", j.id),
                format!("{JOB_PREFIX}n:{}", j.id),
            ),
            InlineKeyboardButton::callback(
                format!("🗑 Delete {}", j.id),
                format!("{JOB_PREFIX}d:{}", j.id),
            ),
        ]);
    }
    let html = if utf16_len(&html) > MAX_MESSAGE_UTF16 {
        let cut: String = html.chars().take(3500).collect();
        format!(
            "{}\n…",
            cut.rsplit_once('\n').map(|(a, _)| a).unwrap_or_default()
        )
    } else {
        html
    };
    rows.truncate(30);
    (html, Some(InlineKeyboardMarkup::new(rows)))
}

/// The `/ls` list: one line per session (the current one marked) and a `use` button each.
fn sessions_html(
    sessions: &[SessionInfo],
    current: Option<&str>,
    hosts: &[(String, String)],
) -> (String, InlineKeyboardMarkup) {
    let mut html = String::new();
    let mut rows = Vec::new();
    // With remote hosts: this machine's sessions under its header, then each host's.
    let host_of = |s: &SessionInfo| s.name.split_once('@').map(|(_, h)| h.to_string());
    let mut groups: Vec<Group<'_>> = Vec::new();
    if hosts.is_empty() {
        groups.push((None, sessions.iter().collect()));
    } else {
        groups.push((
            None,
            sessions.iter().filter(|s| host_of(s).is_none()).collect(),
        ));
        for h in hosts {
            let mine = sessions
                .iter()
                .filter(|s| host_of(s).as_deref() == Some(h.0.as_str()))
                .collect();
            groups.push((Some(h), mine));
        }
    }
    for (host, group) in groups {
        if !hosts.is_empty() {
            let (name, state) = match host {
                Some((n, st)) => (format!("☁️ {n}"), st.clone()),
                None => ("🖥 local".to_string(), "this machine".to_string()),
            };
            html.push_str(&format!(
                "<b>{}</b> · {}\n",
                escape_html(&name),
                escape_html(&state)
            ));
            if group.is_empty() {
                html.push_str("  (no sessions)\n");
            }
        }
        sessions_lines(&group, current, &mut html, &mut rows);
    }
    // A long list is cut at its end (its start has the sessions shown first).
    let html = if utf16_len(&html) > MAX_MESSAGE_UTF16 {
        html.chars()
            .take(3000)
            .collect::<String>()
            .rsplit_once('\n')
            .map(|(a, _)| a.to_string())
            .unwrap_or_default()
    } else {
        html
    };
    rows.truncate(50);
    (html, InlineKeyboardMarkup::new(rows))
}

/// One line and one `use` button per session.
fn sessions_lines(
    sessions: &[&SessionInfo],
    current: Option<&str>,
    html: &mut String,
    rows: &mut Vec<Vec<InlineKeyboardButton>>,
) {
    for s in sessions {
        let mark = if current == Some(s.name.as_str()) {
            "▶ "
        } else {
            ""
        };
        let idle = s
            .idle_ms
            .map(|ms| format!(", idle {}s", ms / 1000))
            .unwrap_or_default();
        let cmd = if s.command.is_empty() {
            "shell".to_string()
        } else {
            s.command.join(" ")
        };
        html.push_str(&format!(
            "{mark}<b>{}</b> · {}{} · <code>{}</code>\n",
            escape_html(&s.name),
            escape_html(&s.state.label()),
            idle,
            escape_html(&cmd)
        ));
        rows.push(vec![InlineKeyboardButton::callback(
            format!("use {}", s.name),
            format!("{USE_PREFIX}{}", s.name),
        )]);
    }
}

/// A host-key card: first contact with Trust / Reject, or a changed key as a hard stop.
fn host_key_html(
    host: &str,
    address: &str,
    key_type: &str,
    fingerprint: &str,
    old: &[String],
) -> Rendered {
    let (h, a) = (escape_html(host), escape_html(address));
    let (t, f) = (escape_html(key_type), escape_html(fingerprint));
    if old.is_empty() {
        let html = format!(
            "🔑 <b>{h}</b> ({a}) presents a host key walkie does not know yet:\n\
             <code>{t}</code>\n<code>{f}</code>\n\
             Compare it with the box's own (<code>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code> there). \
             Nothing is sent to {h} until you trust it."
        );
        let buttons = InlineKeyboardMarkup::new(vec![vec![
            InlineKeyboardButton::callback("✅ Trust", format!("{HOSTKEY_PREFIX}t:{host}")),
            InlineKeyboardButton::callback("⛔ Reject", format!("{HOSTKEY_PREFIX}r:{host}")),
        ]]);
        Rendered::Html(html, Some(buttons))
    } else {
        let known: Vec<String> = old
            .iter()
            .map(|o| format!("<code>{}</code>", escape_html(o)))
            .collect();
        let html = format!(
            "⛔ The host key of <b>{h}</b> ({a}) CHANGED.\nNow: <code>{t}</code> <code>{f}</code>\n\
             Known: {}\nNothing is sent to {h}. If the box was really re-keyed, run \
             <code>walkie hosts trust {h}</code> on this machine; otherwise someone may be in between.",
            known.join(", ")
        );
        Rendered::Html(html, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(m: &Option<InlineKeyboardMarkup>) -> Vec<String> {
        m.iter()
            .flat_map(|m| m.inline_keyboard.iter().flatten())
            .filter_map(|b| match &b.kind {
                teloxide::types::InlineKeyboardButtonKind::CallbackData(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn schedule_buttons_round_trip_to_requests() {
        let line = |paused| JobLine {
            id: 7,
            schedule: "every day at 09:00 (Europe/Berlin)".into(),
            target: "backend".into(),
            text: "<b>triage</b>".into(),
            next: Some("Wed 2 Dec 2026 09:00 CET".into()),
            paused,
        };
        let Rendered::Html(html, markup) = render(&View::Schedules {
            zone: "Europe/Berlin".into(),
            jobs: vec![line(false)],
        }) else {
            panic!("html")
        };
        assert!(
            html.contains("&lt;b&gt;triage") && html.contains("next Wed 2 Dec"),
            "{html}"
        );
        let codes = data(&markup);
        assert_eq!(codes, ["sj:p:7", "sj:n:7", "sj:d:7"]);
        let ops: Vec<_> = codes.iter().map(|c| schedule_press(c)).collect();
        assert_eq!(
            ops,
            [JobOp::Pause, JobOp::RunNow, JobOp::Delete]
                .map(|op| Some(ScheduleRequest::Job { job: 7, op }))
        );
        let Rendered::Html(html, markup) = render(&View::Schedules {
            zone: "UTC".into(),
            jobs: vec![line(true)],
        }) else {
            panic!("html")
        };
        assert!(html.contains("paused"));
        assert_eq!(
            schedule_press(&data(&markup)[0]),
            Some(ScheduleRequest::Job {
                job: 7,
                op: JobOp::Resume
            })
        );

        let Rendered::Html(html, markup) = render(&View::ScheduleDraft(DraftCard {
            draft: 3,
            schedule: "in 20 minutes".into(),
            target: "api".into(),
            text: "check".into(),
            zone: "UTC".into(),
            next: vec!["Tue 1 Dec 2026 10:20 UTC".into()],
            overlap: Overlap::Queue,
            policies: vec!["if still busy: queue the run until it is idle".into()],
        })) else {
            panic!("html")
        };
        assert!(html.contains("• Tue 1 Dec 2026 10:20 UTC"), "{html}");
        assert!(html.contains("<i>if still busy: queue"), "{html}");
        assert_eq!(
            data(&markup),
            ["sd:os:3", "sd:oq:3", "sd:oe:3", "sd:c:3", "sd:x:3"]
        );
        let labels: Vec<String> = markup
            .unwrap()
            .inline_keyboard
            .concat()
            .into_iter()
            .map(|b| b.text)
            .collect();
        assert_eq!(labels[1], "• queue if busy", "the current policy is marked");
        for (code, op) in [
            ("sd:c:3", DraftOp::Create),
            ("sd:x:3", DraftOp::Cancel),
            ("sd:os:3", DraftOp::Overlap(Overlap::Skip)),
            ("sd:oq:3", DraftOp::Overlap(Overlap::Queue)),
            ("sd:oe:3", DraftOp::Overlap(Overlap::Send)),
        ] {
            assert_eq!(
                schedule_press(code),
                Some(ScheduleRequest::Draft { draft: 3, op }),
                "{code}"
            );
        }
        let Rendered::Html(html, markup) = render(&View::ScheduleZone(ZoneQuestion {
            draft: 4,
            zone: "Europe/Paris".into(),
        })) else {
            panic!("html")
        };
        assert!(
            html.starts_with("🕘 Times in <b>Europe/Paris</b>?"),
            "{html}"
        );
        assert_eq!(data(&markup), ["sz:u:4", "sz:o:4"]);
        assert_eq!(
            schedule_press("sz:o:4"),
            Some(ScheduleRequest::ZoneChoice {
                draft: 4,
                use_offered: false
            })
        );
        for bad in [
            "sj:z:1", "sj:p:x", "sd:c:", "use:a", "sj:p", "sd:oz:1", "sz:x:1", "sz:u:",
        ] {
            assert_eq!(schedule_press(bad), None, "{bad}");
        }
        // Within Telegram's 64 bytes of callback data.
        assert!(format!("{JOB_PREFIX}d:{}", u64::MAX).len() <= 64);
    }
}
