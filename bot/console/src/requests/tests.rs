//! Dispatch against the in-memory front end and host, with a real store.

use std::sync::Arc;

use walkie_config::{Config, NotifyLevel};
use walkie_host_proto::protocol::SessionState;

use super::{Console, NewSpec, Request, View};
use crate::front::{ChatId, MessageRef, UserId};
use crate::gate::{Gate, Verdict};
use crate::session::SessionRef;
use crate::store::Store;
use crate::testing::{InMemory, MemHost, Sent};

const OPERATOR: i64 = 1;
const VIEWER: i64 = 2;
const CHAT: ChatId = ChatId(101);
const USER: UserId = UserId(OPERATOR);

struct Rig {
    console: Console<InMemory, MemHost>,
    front: InMemory,
    host: MemHost,
    _dir: tempfile::TempDir,
}

async fn rig(extra: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let cfg = Config::from_toml(&format!(
        "state_dir = {:?}\n[telegram]\nallowed_users = [{OPERATOR}]\nviewers = [{VIEWER}]\n{extra}",
        dir.path().join("state")
    ))
    .unwrap();
    let host = MemHost::default();
    host.add("backend", SessionState::Running);
    host.add("web", SessionState::Running);
    host.with(|s| {
        s.screens
            .insert("backend".into(), "$ cargo test\nok".into());
    });
    let front = InMemory::default();
    let console = Console {
        cfg,
        store,
        host: Arc::new(host.clone()),
        front: front.clone(),
        dialogs: Default::default(),
        schedules: Default::default(),
    };
    Rig {
        console,
        front,
        host,
        _dir: dir,
    }
}

impl Rig {
    async fn run(&self, req: Request) {
        self.console.handle(USER, CHAT, req).await.unwrap();
    }

    async fn say(&self, text: &str) {
        self.run(Request::Text {
            text: text.into(),
            reply_to: None,
        })
        .await;
    }

    /// The lines typed into sessions, as text.
    fn typed(&self) -> Vec<(String, String)> {
        self.host.with(|s| {
            s.typed
                .iter()
                .map(|(n, chunks)| (n.clone(), String::from_utf8_lossy(&chunks.concat()).into()))
                .collect()
        })
    }

    /// The plain-text answers, in order.
    fn texts(&self) -> Vec<String> {
        self.views()
            .into_iter()
            .filter_map(|v| match v {
                View::Text(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn views(&self) -> Vec<View> {
        self.front
            .sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::View { view, .. } => Some(view),
                _ => None,
            })
            .collect()
    }

    fn watched(&self) -> Vec<String> {
        self.front
            .sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Watch { chat, session } if chat == CHAT => Some(session),
                _ => None,
            })
            .collect()
    }

    async fn current(&self) -> Option<String> {
        let current = self.console.store.current_session(CHAT).await.unwrap();
        current.map(|s| s.name)
    }

    async fn dispatches(&self) -> Vec<(Option<String>, Option<String>)> {
        let mut log = self.console.store.audit_tail(50).await.unwrap();
        log.reverse();
        log.into_iter()
            .filter(|r| r.action == "dispatch")
            .map(|r| (r.session, r.text))
            .collect()
    }
}

#[tokio::test]
async fn name_colon_text_goes_to_that_session_and_is_audited() {
    let r = rig("").await;
    r.run(Request::Use { name: "web".into() }).await;
    r.say("backend: cargo test").await;
    assert_eq!(r.typed(), [("backend".into(), "cargo test\r".into())]);
    assert_eq!(
        r.dispatches().await,
        [(Some("backend".into()), Some("cargo test".into()))]
    );
    assert_eq!(r.watched(), ["web", "backend"]);
    // Routing does not change the current session.
    assert_eq!(r.current().await.as_deref(), Some("web"));
}

#[tokio::test]
async fn plain_text_goes_to_the_current_session() {
    let r = rig("").await;
    r.say("ls").await;
    assert_eq!(
        r.texts(),
        ["No current session: /new NAME starts one, /use NAME picks one, /ls lists them."]
    );
    assert!(r.typed().is_empty());
    r.run(Request::Use {
        name: "backend".into(),
    })
    .await;
    // `note:` is no session: the whole line goes to the current one.
    r.say("note: ls").await;
    assert_eq!(r.typed(), [("backend".into(), "note: ls\r".into())]);
}

#[tokio::test]
async fn a_reply_to_a_sessions_message_goes_to_that_session() {
    let r = rig("").await;
    r.run(Request::Use { name: "web".into() }).await;
    r.run(Request::Screen {
        name: Some("backend".into()),
    })
    .await;
    let screen = r
        .front
        .sent()
        .into_iter()
        .find_map(|s| match s {
            Sent::View {
                message,
                view: View::Screen { .. },
                ..
            } => Some(message),
            _ => None,
        })
        .unwrap();
    r.run(Request::Text {
        text: "y".into(),
        reply_to: Some(screen),
    })
    .await;
    // A reply to a message of no session goes to the current one.
    r.run(Request::Text {
        text: "n".into(),
        reply_to: Some(MessageRef(-1)),
    })
    .await;
    assert_eq!(
        r.typed(),
        [
            ("backend".into(), "y\r".into()),
            ("web".into(), "n\r".into())
        ]
    );
}

#[tokio::test]
async fn text_for_a_dead_session_is_refused_with_its_state() {
    let r = rig("").await;
    r.host.add(
        "old",
        SessionState::Exited {
            code: Some(0),
            signal: None,
        },
    );
    r.say("old: make").await;
    assert!(r.typed().is_empty());
    assert!(r.dispatches().await.is_empty());
    assert_eq!(r.texts(), ["old is not running (exited (0))"]);
    assert!(r.watched().is_empty());
}

#[tokio::test]
async fn an_unknown_session_is_named_with_what_to_do() {
    let r = rig("").await;
    r.run(Request::Screen {
        name: Some("nope".into()),
    })
    .await;
    r.run(Request::Use {
        name: "nope".into(),
    })
    .await;
    r.run(Request::Keys {
        name: Some("nope".into()),
        keys: vec!["Enter".into()],
    })
    .await;
    assert_eq!(
        r.texts(),
        [
            "No session nope; /ls lists them, /new nope starts one.",
            "No session nope; /ls lists them.",
            "No session nope; /ls lists them, /new nope starts one.",
        ]
    );
    assert_eq!(r.current().await, None);
    assert!(r.watched().is_empty());
}

#[tokio::test]
async fn commands_without_a_name_need_a_current_session() {
    let r = rig("").await;
    for req in [
        Request::Screen { name: None },
        Request::Tail {
            name: None,
            lines: None,
        },
        Request::Kill { name: None },
        Request::Attach { name: None },
    ] {
        r.run(req).await;
    }
    assert_eq!(
        r.texts(),
        ["No current session: name one, or /use NAME first (/ls lists them)."; 4]
    );
    assert!(r.host.with(|s| s.killed.is_empty()));
}

#[test]
fn viewers_may_only_read() {
    let gate = Gate::new([OPERATOR], [VIEWER]);
    let reads = [
        Request::Ls,
        Request::Help,
        Request::Use { name: "a".into() },
        Request::Screen { name: None },
        Request::Tail {
            name: None,
            lines: None,
        },
        Request::Attach { name: None },
        Request::Notify { level: None },
        Request::Boundary { name: None },
    ];
    let acts = [
        Request::New {
            name: "a".into(),
            spec: NewSpec::Default,
            dir: None,
            sandbox: Default::default(),
        },
        Request::Keys {
            name: None,
            keys: vec!["y".into()],
        },
        Request::Pause { name: None },
        Request::Resume { name: None },
        Request::Kill { name: None },
        Request::Widen {
            name: "a".into(),
            change: walkie_host_proto::sandbox::Widen::OpenNetwork,
        },
        Request::Text {
            text: "rm -rf /".into(),
            reply_to: None,
        },
    ];
    for r in &reads {
        assert!(r.is_read_only(), "{r:?}");
        assert_eq!(
            gate.check(UserId(VIEWER), r.action(), None),
            Verdict::Allow,
            "{r:?}"
        );
    }
    for r in &acts {
        assert!(!r.is_read_only(), "{r:?}");
        assert!(
            matches!(
                gate.check(UserId(VIEWER), r.action(), None),
                Verdict::Refuse { .. }
            ),
            "{r:?}"
        );
        assert_eq!(gate.check(USER, r.action(), None), Verdict::Allow, "{r:?}");
    }
}

#[tokio::test]
async fn new_starts_a_preset_with_its_hooks_and_makes_it_current() {
    let r = rig("").await;
    r.run(Request::New {
        name: "api".into(),
        spec: NewSpec::Preset("claude".into()),
        dir: None,
        sandbox: Default::default(),
    })
    .await;
    r.run(Request::New {
        name: "top".into(),
        spec: NewSpec::Command(vec!["htop".into()]),
        dir: None,
        sandbox: Default::default(),
    })
    .await;
    r.run(Request::New {
        name: "x".into(),
        spec: NewSpec::Preset("nope".into()),
        dir: None,
        sandbox: Default::default(),
    })
    .await;
    r.run(Request::New {
        name: "web".into(),
        spec: NewSpec::Default,
        dir: None,
        sandbox: Default::default(),
    })
    .await;
    let started = r.host.with(|s| s.started.clone());
    assert_eq!(started.len(), 2);
    assert_eq!(started[0].command[0], "claude");
    assert!(started[0].command.iter().any(|a| a == "--settings"));
    assert_eq!(started[1].command, ["htop"]);
    let texts = r.texts();
    assert_eq!(
        texts[..3],
        [
            "Started api (claude); plain text now goes to it.",
            "Started top (htop); plain text now goes to it.",
            "No preset nope.",
        ]
    );
    assert!(texts[3].contains("exists"), "{texts:?}");
    assert_eq!(r.current().await.as_deref(), Some("top"));
    assert_eq!(r.watched(), ["api", "top"]);
}

#[tokio::test]
async fn ls_lists_the_sessions_with_the_current_one() {
    let r = rig("").await;
    r.run(Request::Use { name: "web".into() }).await;
    r.run(Request::Ls).await;
    let Some(View::Sessions {
        sessions, current, ..
    }) = r.views().pop()
    else {
        panic!("{:?}", r.views());
    };
    let names: Vec<_> = sessions.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["backend", "web"]);
    assert_eq!(current.as_deref(), Some("web"));
    r.host.with(|s| s.sessions.clear());
    r.run(Request::Ls).await;
    assert_eq!(
        r.texts().last().unwrap(),
        "No sessions. /new NAME [PRESET] starts one."
    );
}

#[tokio::test]
async fn use_makes_a_session_current_and_shows_it() {
    let r = rig("").await;
    r.run(Request::Use {
        name: "backend".into(),
    })
    .await;
    assert_eq!(r.current().await.as_deref(), Some("backend"));
    assert_eq!(r.texts(), ["Now talking to backend."]);
    assert_eq!(r.watched(), ["backend"]);
}

#[tokio::test]
async fn screen_and_tail_are_messages_of_their_session() {
    let r = rig("").await;
    r.run(Request::Use {
        name: "backend".into(),
    })
    .await;
    r.run(Request::Screen { name: None }).await;
    r.run(Request::Tail {
        name: None,
        lines: Some(5),
    })
    .await;
    let views = r.views();
    assert_eq!(
        views[1..],
        [
            View::Screen {
                session: "backend".into(),
                screen: "$ cargo test\nok".into()
            },
            View::Tail {
                session: "backend".into(),
                text: "$ cargo test\nok".into()
            },
        ]
    );
    for s in r.front.sent() {
        if let Sent::View { message, view, .. } = s {
            if matches!(view, View::Screen { .. } | View::Tail { .. }) {
                let of = r
                    .console
                    .store
                    .session_of_message(CHAT, message)
                    .await
                    .unwrap();
                assert_eq!(of, Some(SessionRef::local("backend")));
            }
        }
    }
}

#[tokio::test]
async fn keys_are_typed_one_by_one() {
    let r = rig("").await;
    r.run(Request::Keys {
        name: Some("backend".into()),
        keys: vec!["y".into(), "Enter".into(), "C-c".into()],
    })
    .await;
    let typed = r.host.with(|s| s.typed.clone());
    assert_eq!(
        typed,
        [(
            "backend".to_string(),
            vec![b"y".to_vec(), b"\r".to_vec(), vec![3]]
        )]
    );
    assert_eq!(r.watched(), ["backend"]);
    assert!(r.texts().is_empty());
}

#[tokio::test]
async fn pause_resume_and_kill_answer_with_the_state() {
    let r = rig("").await;
    for req in [
        Request::Pause {
            name: Some("web".into()),
        },
        Request::Resume {
            name: Some("web".into()),
        },
        Request::Kill {
            name: Some("web".into()),
        },
    ] {
        r.run(req).await;
    }
    assert_eq!(r.texts(), ["web: paused", "web: running", "web: running"]);
    assert_eq!(r.host.with(|s| s.killed.clone()), ["web"]);
    assert_eq!(r.watched(), ["web"; 3]);
}

#[tokio::test]
async fn notify_sets_and_shows_the_chats_level() {
    let r = rig("[notify]\ndefault_level = \"approvals\"").await;
    r.run(Request::Notify { level: None }).await;
    r.run(Request::Notify {
        level: Some(NotifyLevel::None),
    })
    .await;
    r.run(Request::Notify { level: None }).await;
    let t = r.texts();
    assert!(
        t[0].starts_with("Notifications here: only approval requests buzz"),
        "{t:?}"
    );
    assert_eq!(
        t[1],
        "Notifications here: nothing buzzes (everything arrives silently)."
    );
    assert!(
        t[2].starts_with("Notifications here: nothing buzzes"),
        "{t:?}"
    );
    assert!(t[2].ends_with("Change with /notify all | approvals | none."));
}

#[tokio::test]
async fn attach_and_help_are_views_for_the_front_end() {
    let r = rig("ssh_host = \"me@box\"").await;
    r.run(Request::Attach {
        name: Some("web".into()),
    })
    .await;
    r.run(Request::Help).await;
    assert_eq!(
        r.views(),
        [
            View::Attach {
                session: "web".into(),
                ssh_host: Some("me@box".into())
            },
            View::Help
        ]
    );
}

/// The documents the console showed, in order.
fn files(front: &InMemory) -> Vec<(String, super::Document)> {
    front
        .sent()
        .into_iter()
        .filter_map(|s| match s {
            Sent::View {
                view: View::File { session, file },
                ..
            } => Some((session, file)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn shot_draws_the_screen_as_a_png_named_after_the_session() {
    let r = rig("").await;
    r.run(Request::Shot {
        name: Some("backend".into()),
    })
    .await;
    let files = files(&r.front);
    assert_eq!(files.len(), 1, "{:?}", r.front.sent());
    let (session, file) = &files[0];
    assert_eq!(session, "backend");
    assert!(file.bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{file:?}");
    assert!(
        file.file_name.starts_with("backend-") && file.file_name.ends_with(".png"),
        "{file:?}"
    );
    assert!(file.caption.contains("backend · 80x24"), "{file:?}");
    // A reply to the picture goes to its session.
    let m = match r.front.sent().last() {
        Some(Sent::View { message, .. }) => *message,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        r.console.store.session_of_message(CHAT, m).await.unwrap(),
        Some(SessionRef::local("backend"))
    );

    r.run(Request::Shot {
        name: Some("nope".into()),
    })
    .await;
    assert!(
        r.texts().iter().any(|t| t.starts_with("No session nope")),
        "{:?}",
        r.front.sent()
    );
}

#[tokio::test]
async fn watch_asks_the_front_end_for_a_live_picture_of_a_live_session_only() {
    let r = rig("").await;
    r.host.add(
        "done",
        SessionState::Exited {
            code: Some(0),
            signal: None,
        },
    );
    r.run(Request::Watch {
        name: Some("backend".into()),
    })
    .await;
    r.run(Request::Watch {
        name: Some("done".into()),
    })
    .await;
    r.run(Request::Watch {
        name: Some("nope".into()),
    })
    .await;
    let sent = r.front.sent();
    let pictures: Vec<_> = sent
        .iter()
        .filter(|s| matches!(s, Sent::WatchPicture { .. }))
        .collect();
    assert_eq!(
        pictures,
        vec![&Sent::WatchPicture {
            chat: CHAT,
            session: "backend".into()
        }]
    );
    let texts = r.texts();
    assert!(texts[0].starts_with("done is exited"), "{texts:?}");
    assert!(texts[1].starts_with("No session nope"), "{texts:?}");
    // Viewers may watch: it only reads.
    assert!(Request::Watch { name: None }.is_read_only());
}

#[tokio::test]
async fn replay_sends_the_joined_recording_or_says_there_is_none() {
    let r = rig("").await;
    let dir = walkie_recording::recordings_dir(&r.console.cfg.state_dir()).join("backend");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("000001.cast"),
        "{\"version\":2,\"width\":80,\"height\":24}\n[0.5,\"o\",\"hello \"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("000002.cast"),
        "{\"version\":2,\"width\":80,\"height\":24}\n[0.25,\"o\",\"world\"]\n",
    )
    .unwrap();
    r.run(Request::Replay {
        name: Some("backend".into()),
    })
    .await;
    let files = files(&r.front);
    assert_eq!(files.len(), 1, "{:?}", r.front.sent());
    let text = String::from_utf8(files[0].1.bytes.clone()).unwrap();
    let cast = walkie_recording::Cast::parse(&text).unwrap();
    assert_eq!(cast.output(), "hello world");
    assert!(files[0].1.file_name.ends_with(".cast"), "{:?}", files[0].1);

    r.run(Request::Replay {
        name: Some("web".into()),
    })
    .await;
    assert!(
        r.texts()
            .iter()
            .any(|t| t.starts_with("No recording of web")),
        "{:?}",
        r.front.sent()
    );
}

impl Rig {
    /// Every view shown or edited into message `m`, in order.
    fn views_in(&self, m: MessageRef) -> Vec<View> {
        self.front
            .sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::View { view, message, .. } if message == m => Some(view),
                _ => None,
            })
            .collect()
    }

    /// The message and view of the last schedule card or zone question posted.
    fn last_card(&self) -> (MessageRef, View) {
        self.front
            .sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::View { view, message, .. }
                    if matches!(view, View::ScheduleDraft(_) | View::ScheduleZone(_)) =>
                {
                    Some((message, view))
                }
                _ => None,
            })
            .next_back()
            .expect("a schedule card")
    }
}

fn draft_card(v: &View) -> super::schedule::DraftCard {
    match v {
        View::ScheduleDraft(c) => c.clone(),
        other => panic!("not a job card: {other:?}"),
    }
}

#[tokio::test]
async fn schedule_add_asks_the_zone_once_shows_a_card_create_edits_it_and_makes_the_job_once() {
    use super::schedule::{DraftOp, JobOp, Overlap, ScheduleRequest as S};
    let r = rig("[schedule]\nzone = \"Europe/Paris\"\n").await;
    r.run(Request::Schedule(S::Add {
        line: "0 9 * * 1-5 backend --overlap queue --grace 10m: triage new issues".into(),
    }))
    .await;
    // No zone stored: the question comes first, with the configured zone offered.
    let (m, q) = r.last_card();
    let View::ScheduleZone(q) = q else {
        panic!("the zone question first: {q:?}")
    };
    assert_eq!(q.zone, "Europe/Paris");
    assert_eq!(r.console.store.chat_zone(CHAT).await.unwrap(), None);
    r.run(Request::Schedule(S::ZoneChoice {
        draft: q.draft,
        use_offered: true,
    }))
    .await;
    assert_eq!(
        r.console.store.chat_zone(CHAT).await.unwrap().as_deref(),
        Some("Europe/Paris")
    );
    // The question became the card, in place: words, target, text, three fires, policies.
    let card = draft_card(r.views_in(m).last().unwrap());
    assert_eq!(card.draft, q.draft);
    assert_eq!(card.schedule, "every weekday at 09:00 (Europe/Paris)");
    assert_eq!(
        (card.target.as_str(), card.text.as_str()),
        ("backend", "triage new issues")
    );
    assert_eq!(card.next.len(), 3);
    assert!(
        card.next.iter().all(|t| t.contains("09:00")),
        "{:?}",
        card.next
    );
    assert_eq!(card.overlap, Overlap::Queue);
    assert_eq!(
        card.policies,
        [
            "if still busy: queue the run until it is idle",
            "missed runs: run once if at most 10m late"
        ]
    );
    assert!(
        r.console.store.jobs().await.unwrap().is_empty(),
        "nothing before Create"
    );
    // A second press on the answered question says so.
    r.run(Request::Schedule(S::ZoneChoice {
        draft: q.draft,
        use_offered: true,
    }))
    .await;
    assert_eq!(
        r.texts().last().unwrap(),
        "That question was already answered."
    );

    // The overlap button changes the card in place before Create.
    r.run(Request::Schedule(S::Draft {
        draft: card.draft,
        op: DraftOp::Overlap(Overlap::Send),
    }))
    .await;
    let card = draft_card(r.views_in(m).last().unwrap());
    assert_eq!(card.overlap, Overlap::Send);
    assert_eq!(card.policies[0], "if still busy: send it anyway");

    r.run(Request::Schedule(S::Draft {
        draft: card.draft,
        op: DraftOp::Create,
    }))
    .await;
    let jobs = r.console.store.jobs().await.unwrap();
    assert_eq!(jobs.len(), 1, "created");
    assert_eq!(jobs[0].chat, Some(CHAT));
    assert_eq!(jobs[0].job.overlap, Overlap::Send);
    assert_eq!(
        jobs[0].job.catch_up,
        walkie_schedule::CatchUp::RunLate { grace_s: 600 }
    );
    let id = jobs[0].job.id;
    // Create edited the card: no buttons (a text), the job and its next fire.
    let View::Text(done) = r.views_in(m).last().unwrap().clone() else {
        panic!("the card edited into a line")
    };
    assert!(
        done.starts_with(&format!("✅ Created job {id}: every weekday at 09:00"))
            && done.contains("— next "),
        "{done}"
    );
    // A second press on the used card: said, nothing more made, the card unchanged.
    let edits = r.views_in(m).len();
    for op in [
        DraftOp::Create,
        DraftOp::Cancel,
        DraftOp::Overlap(Overlap::Skip),
    ] {
        r.run(Request::Schedule(S::Draft {
            draft: card.draft,
            op,
        }))
        .await;
        assert_eq!(r.texts().last().unwrap(), "That card was already used.");
    }
    assert_eq!(r.views_in(m).len(), edits);
    assert_eq!(r.console.store.jobs().await.unwrap().len(), 1);

    // Asked once: the next add goes straight to the card; Cancel edits it too.
    r.run(Request::Schedule(S::Add {
        line: "every 2h web: review".into(),
    }))
    .await;
    let (m2, v) = r.last_card();
    let card2 = draft_card(&v);
    assert_eq!(card2.overlap, Overlap::Skip);
    r.run(Request::Schedule(S::Draft {
        draft: card2.draft,
        op: DraftOp::Cancel,
    }))
    .await;
    assert_eq!(
        r.views_in(m2).last().unwrap(),
        &View::Text("Cancelled; no job was made.".into())
    );
    assert_eq!(r.console.store.jobs().await.unwrap().len(), 1);

    r.run(Request::Schedule(S::List)).await;
    let list = r
        .views()
        .into_iter()
        .find_map(|v| match v {
            View::Schedules { jobs, zone } => Some((jobs, zone)),
            _ => None,
        })
        .expect("the list");
    assert_eq!(list.1, "Europe/Paris");
    assert_eq!(list.0.len(), 1);
    assert!(list.0[0].next.as_deref().unwrap().contains("09:00"));

    r.run(Request::Schedule(S::Job {
        job: id,
        op: JobOp::Pause,
    }))
    .await;
    assert!(r.console.store.job(id).await.unwrap().unwrap().job.paused);
    r.run(Request::Schedule(S::Job {
        job: id,
        op: JobOp::RunNow,
    }))
    .await;
    assert_eq!(r.console.store.take_run_now().await.unwrap().len(), 1);
    r.run(Request::Schedule(S::Job {
        job: id,
        op: JobOp::Delete,
    }))
    .await;
    assert!(r.console.store.jobs().await.unwrap().is_empty());
    r.run(Request::Schedule(S::Job {
        job: id,
        op: JobOp::Resume,
    }))
    .await;
    assert_eq!(
        r.texts().last().unwrap(),
        &format!("No job {id}; /schedule lists them.")
    );

    // Wrong lines and options say what is wrong; a wrong zone too.
    for (line, says) in [
        ("every 2h backend", "<schedule> <target>: <text>"),
        (
            "every 2h backend --overlap later: x",
            "--overlap `later`: write skip, queue or send",
        ),
        ("every 2h backend --grace soon: x", "--grace `soon`"),
        (
            "every 2h backend --kill-after: x",
            "--kill-after is for a new session from a preset",
        ),
        (
            "every 2h backend --retry 3: x",
            "`--retry` is not an option",
        ),
    ] {
        r.run(Request::Schedule(S::Add { line: line.into() })).await;
        let last = r.texts().last().unwrap().clone();
        assert!(
            last.starts_with("Not a job: ") && last.contains(says),
            "{line}: {last}"
        );
    }
    r.run(Request::Schedule(S::Zone {
        name: Some("Mars/Base".into()),
    }))
    .await;
    assert!(r
        .texts()
        .last()
        .unwrap()
        .contains("unknown time zone `Mars/Base`"));
    assert!(Request::Schedule(S::List).is_read_only());
    assert!(!Request::Schedule(S::Add {
        line: String::new()
    })
    .is_read_only());
    assert!(!Request::Schedule(S::ZoneChoice {
        draft: 1,
        use_offered: true
    })
    .is_read_only());
}

#[tokio::test]
async fn other_zone_waits_for_schedule_zone_and_the_line_is_read_again_in_it() {
    use super::schedule::ScheduleRequest as S;
    let r = rig("[schedule]\nzone = \"Europe/Paris\"\n").await;
    r.run(Request::Schedule(S::Add {
        line: "at 14:30 backend: deploy".into(),
    }))
    .await;
    let (m, v) = r.last_card();
    let View::ScheduleZone(q) = v else {
        panic!("{v:?}")
    };
    r.run(Request::Schedule(S::ZoneChoice {
        draft: q.draft,
        use_offered: false,
    }))
    .await;
    let View::Text(how) = r.views_in(m).last().unwrap().clone() else {
        panic!("the question says how")
    };
    assert!(how.starts_with("Send /schedule zone Area/City"), "{how}");
    assert_eq!(
        r.console.store.chat_zone(CHAT).await.unwrap(),
        None,
        "no silent zone"
    );
    r.run(Request::Schedule(S::Zone {
        name: Some("Asia/Tokyo".into()),
    }))
    .await;
    // The waiting line gets its card in the zone picked: 14:30 Tokyo.
    let card = draft_card(r.views_in(m).last().unwrap());
    assert!(card.schedule.contains("14:30"), "{}", card.schedule);
    assert_eq!(card.zone, "Asia/Tokyo");
    assert!(card.next[0].contains("14:30 JST"), "{:?}", card.next);
    let stored = r
        .console
        .store
        .schedule_draft(card.draft)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.job.zone.name(), "Asia/Tokyo");
    assert_eq!(stored.state, "pending");
}

#[tokio::test]
async fn a_voice_note_that_starts_like_a_schedule_proposes_a_job_and_others_do_not() {
    use super::schedule::spoken;
    let r = rig("[schedule]\nzone = \"Europe/Berlin\"\n").await;
    r.console
        .store
        .set_chat_zone(CHAT, "Europe/Berlin")
        .await
        .unwrap();
    // As tiny.en hears tests/fixtures/voice/every_day_backend.ogg: the name in two words.
    let heard = "Every day at nine, back end, run the tests.";
    assert!(spoken(&r.console, USER, CHAT, heard).await.unwrap());
    let card = draft_card(&r.last_card().1);
    assert_eq!(card.target, "backend");
    assert!(card.schedule.contains("09:00"), "{}", card.schedule);
    assert_eq!(card.text, "run the tests.");
    assert!(r.typed().is_empty(), "nothing typed before Create");
    assert!(
        spoken(&r.console, USER, CHAT, "every weekday at 9:30 web: triage")
            .await
            .unwrap()
    );
    assert_eq!(draft_card(&r.last_card().1).target, "web");
    assert!(!spoken(&r.console, USER, CHAT, "Backend, run the tests.")
        .await
        .unwrap());
}
