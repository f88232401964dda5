//! Issue 13 on the phone, end to end against the real `walkie up` and the strict fake
//! Telegram: a simulated reboot (SIGKILL of the host and of every process of its sessions),
//! then a new host. The chat gets one message for the host, "♻️ revived after restart: …",
//! naming each session with how it came back, with a screen and a kill button per session
//! that both work; no "lost" notice for a session that is being revived; an approval that
//! was pending when the host went down is shown as expired; text for a revived agent waits
//! until the agent's input box is back.
//!
//! The agent is a stand-in named `claude` (the host and the bot know an agent by its
//! program's name): it writes the transcript Claude Code would (so the host resumes it with
//! `--resume ID`), draws Claude's ready line ("? for shortcuts", docs/AGENTS.md) only after a
//! delay, and logs every line it reads before that as too early.

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

mod support;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use bot_rig::{BotRig, OPERATOR};
use fake_telegram::{ChatMessage, FakeTelegram};
use support::host::run_bounded;
use support::reboot::reboot;
use walkie_host_proto::client::Client;

/// How long any one event may take (a loaded 2-core machine).
const T: Duration = Duration::from_secs(45);

/// The stand-in agent. A first start draws its box after 1 s; a resumed one after 15 s (the
/// revival message reaches the chat a few seconds after the host starts, behind the live
/// screens' edits in the chat's budget).
const STAND_IN: &str = r#"#!/bin/bash
id=""; prev=""
for a in "$@"; do
  case "$prev" in --session-id|--resume) id="$a";; esac
  prev="$a"
done
resumed=no; case " $* " in *" --resume "*) resumed=yes;; esac
dir="$HOME/.claude/projects/$(pwd | sed 's/[^A-Za-z0-9]/-/g')"
mkdir -p "$dir"
[ -f "$dir/$id.jsonl" ] || echo '{"type":"user","message":"hi"}' > "$dir/$id.jsonl"
delay=1; [ "$resumed" = yes ] && delay=15
echo "stand-in starting (resumed: $resumed)"
end=$((SECONDS + delay))
while [ "$SECONDS" -lt "$end" ]; do
  if read -r -t 1 line; then echo "EARLY:$line" >> "$HOME/early.log"; fi
done
printf '> \n? for shortcuts\n'
while read -r line; do echo "got:$line"; done
"#;

async fn bounded<F: Future>(limit: Duration, f: F) -> F::Output {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("test took longer than {limit:?}"))
}

/// `/new NAME COMMAND`, waiting for the bot to say it started.
async fn new_session(fake: &FakeTelegram, name: &str, command: &str) {
    fake.send_text(OPERATOR, &format!("/new {name} {command}"));
    let started = format!("Started {name}");
    fake.wait_for_bot_message(OPERATOR, T, "the session to start", |m| {
        m.text.starts_with(&started)
    })
    .await;
}

/// The live message of `session` once it shows `needle`.
async fn live_showing(fake: &FakeTelegram, session: &str, needle: &str) -> ChatMessage {
    let head = format!("<b>{session}</b>");
    fake.wait_for_bot_message(
        OPERATOR,
        T,
        &format!("{session}'s screen to show {needle}"),
        |m| m.raw.starts_with(&head) && m.text.contains(needle),
    )
    .await
}

/// Waits until message `id` satisfies `pred`.
async fn message_where(
    fake: &FakeTelegram,
    id: i64,
    what: &str,
    pred: impl Fn(&ChatMessage) -> bool,
) -> ChatMessage {
    fake.wait_until(T, what, |s| {
        s.message(OPERATOR, id).filter(|m| pred(m)).cloned()
    })
    .await
}

/// Presses `data` on message `id` and waits for the press's answer (its toast text).
async fn press(fake: &FakeTelegram, id: i64, data: &str) -> String {
    let q = fake.press_button(OPERATOR, OPERATOR, id, data);
    let answer = fake
        .wait_until(T, &format!("the press of {data} to be answered"), |s| {
            s.callback_answers.get(&q).cloned()
        })
        .await;
    answer["text"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_is_one_message_with_working_buttons_expired_cards_and_held_text() {
    bounded(Duration::from_secs(240), async {
        let fake = FakeTelegram::start().await;
        let toml = "[host]\nrevive = \"all\"\n";
        let mut rig = BotRig::start(&fake, &[("SHELL", "/bin/sh")], &[], Some(toml)).await;
        // No host may be started by the bot: the test restarts its own, as systemd would.
        rig.wait_started(&fake, 1, T).await;
        rig.kill_bot().await;
        let mut c = rig.bot_command();
        c.arg("--no-spawn")
            .stderr(std::fs::File::create(rig.host.dir.path().join("bot.log")).expect("bot.log"));
        rig.bot = Some(c.spawn().expect("walkie up"));
        rig.wait_started(&fake, 2, T).await;

        let dir = rig.host.dir.path().to_path_buf();
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let agent = bin.join("claude");
        std::fs::write(&agent, STAND_IN).expect("stand-in");
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");

        new_session(&fake, "s1", "sh").await;
        fake.send_text(OPERATOR, "echo one-$((0+1))");
        let s1 = live_showing(&fake, "s1", "one-1").await;
        new_session(&fake, "s2", "sh").await;
        fake.send_text(OPERATOR, "echo two-$((1+1))");
        live_showing(&fake, "s2", "two-2").await;
        new_session(&fake, "cc", &agent.display().to_string()).await;
        live_showing(&fake, "cc", "? for shortcuts").await;
        fake.send_text(OPERATOR, "cc: before-reboot");
        live_showing(&fake, "cc", "got:before-reboot").await;

        // An approval pending when the host goes down.
        let mut ask = rig.host.command();
        ask.env("WALKIE_SESSION", "s1")
            .args(["ask", "deploy", "to", "staging?"]);
        let asker = tokio::task::spawn_blocking(move || run_bounded(ask, T));
        let card = fake
            .wait_for_bot_message(OPERATOR, T, "the approval card", |m| {
                m.text.starts_with("🔐") && m.text.contains("deploy to staging?")
            })
            .await;

        tokio::task::block_in_place(|| reboot(&mut rig.host));
        let _ = asker.await;
        // The host stays down until the live screens have seen their sessions lost (as
        // after a reboot, or a host that systemd starts again a few seconds later).
        let lost_seen = |log: &str| {
            log.matches("live screen: the session was lost with its host")
                .count()
        };
        let deadline = tokio::time::Instant::now() + T;
        while lost_seen(&rig.bot_log()) < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the live screens never saw their sessions lost:\n{}",
                rig.bot_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::task::block_in_place(|| rig.host.spawn_host());

        let revived = fake
            .wait_for_bot_message(OPERATOR, T, "the revival message", |m| {
                m.text.starts_with("♻️ revived after restart")
            })
            .await;
        for (name, how) in [("s1", "restarted"), ("s2", "restarted"), ("cc", "resumed")] {
            assert!(
                revived.text.contains(&format!("{name} (")) && {
                    let at = revived.text.find(&format!("{name} (")).unwrap_or(0);
                    revived.text[at..]
                        .split(')')
                        .next()
                        .unwrap_or("")
                        .contains(how)
                },
                "{name} should be {how}: {}",
                revived.text
            );
        }
        let mut data = revived.button_data();
        data.sort();
        assert_eq!(
            data,
            ["rk:cc", "rk:s1", "rk:s2", "use:cc", "use:s1", "use:s2"]
        );

        // Text for the revived agent is held until its box is back, then typed once.
        fake.send_text(OPERATOR, "cc: after-reboot");
        fake.wait_for_bot_message(OPERATOR, T, "the text to be held", |m| {
            m.text.contains("held until cc's input box is back")
        })
        .await;
        live_showing(&fake, "cc", "got:after-reboot").await;
        let early = std::fs::read_to_string(dir.join("early.log")).unwrap_or_default();
        assert!(
            !early.contains("after-reboot"),
            "typed before the box was back: {early}"
        );

        // The pending approval's card says it expired with the host.
        message_where(&fake, card.message_id, "the card to say expired", |m| {
            m.text.starts_with("⌛ Expired: the session host restarted")
        })
        .await;

        // The screen button makes s1 the chat's session and shows its screen running.
        press(&fake, revived.message_id, "use:s1").await;
        fake.send_text(OPERATOR, "echo three-$((1+2))");
        live_showing(&fake, "s1", "three-3").await;
        let _ = s1;

        // The kill button ends s2.
        let toast = press(&fake, revived.message_id, "rk:s2").await;
        assert!(toast.starts_with("s2:"), "{toast}");
        let socket = rig.socket();
        let mut ended = false;
        for _ in 0..200 {
            let list = Client::connect(&socket)
                .await
                .expect("host")
                .list()
                .await
                .expect("list");
            if list.iter().any(|s| {
                s.name == "s2" && matches!(s.state, walkie_host_proto::SessionState::Exited { .. })
            }) {
                ended = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ended, "s2 did not end after its kill button");

        // One message for the host, and no misleading "lost" notice for what came back.
        let (revivals, lost) = fake.with(|s| {
            let m = s.bot_messages(OPERATOR);
            (
                m.iter()
                    .filter(|m| m.text.starts_with("♻️ revived after restart"))
                    .count(),
                m.iter()
                    .filter(|m| m.button_data().iter().any(|d| d.starts_with("revive:")))
                    .map(|m| m.text.clone())
                    .collect::<Vec<_>>(),
            )
        });
        assert_eq!(revivals, 1, "one revival message");
        assert!(
            lost.is_empty(),
            "lost notices for revived sessions: {lost:?}"
        );
        rig.kill_bot().await;
    })
    .await
}
