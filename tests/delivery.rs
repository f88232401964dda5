//! Nothing lost on a flaky Telegram: the real `walkie up` against the fake Bot API with
//! injected faults (a dropped connection, an answer lost after Telegram did it, a cut
//! body, 5xx, nginx's HTML page, a 403 for good), and a real session host.
//!
//! - approval cards, their closing edits, exit and went-quiet notices are delivered
//!   despite a transient failure; a card refused for good is reported to the other chats;
//! - a live screen whose last edit failed ends on the last state;
//! - after getUpdates failed with 5xx, the bot hears again within 5 s.
//!
//! Every test proves its fault struck (`fault_hits`), so none passes because the fault
//! never happened; every wait is bounded.

mod support;

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

use std::future::Future;
use std::process::Output;
use std::time::Duration;

use bot_rig::{BotRig, OPERATOR};
use fake_telegram::{ChatMessage, FakeTelegram, Fault, Select, State, When};
use serde_json::Value;
use support::host::{hook_fixture, run_with_stdin};

const VIEWER: i64 = 1002;
/// How long any one event may take.
const T: Duration = Duration::from_secs(30);
/// How long a blocked hook may take in all.
const ASKER: Duration = Duration::from_secs(90);

const ALLOW_JSON: &str = "{\"hookSpecificOutput\":{\"hookEventName\":\"PermissionRequest\",\"decision\":{\"behavior\":\"allow\"}}}\n";

/// Runs an async test on its own runtime, bounded.
fn run<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(240), f)
                .await
                .expect("test took longer than 240 s")
        })
}

/// The fake, a host and `walkie up` with an operator and a viewer who have both talked to
/// the bot (Telegram lets a bot write only to those).
async fn start(toml: Option<&str>) -> (FakeTelegram, BotRig) {
    let fake = FakeTelegram::start().await;
    let viewer = VIEWER.to_string();
    let rig = BotRig::start(
        &fake,
        &[("SHELL", "/bin/sh")],
        &[("WALKIE_VIEWERS", &viewer)],
        toml,
    )
    .await;
    rig.wait_started(&fake, 1, T).await;
    for user in [OPERATOR, VIEWER] {
        fake.send_text(user, "/help");
        fake.wait_for_bot_message(user, T, "the answer to /help", |m| m.text.contains("/new"))
            .await;
    }
    (fake, rig)
}

/// `walkie approve-hook --agent claude` in session `agent` asking about `command`, in
/// the background.
fn hook(rig: &BotRig, command: &str) -> tokio::task::JoinHandle<Output> {
    let payload = hook_fixture("claude-hooks.jsonl", "PermissionRequest");
    let mut v: Value = serde_json::from_str(&payload).expect("payload json");
    v["tool_input"]["command"] = Value::String(command.into());
    let payload = v.to_string();
    let mut cmd = rig.host.command();
    cmd.env("WALKIE_SESSION", "agent")
        .args(["approve-hook", "--agent", "claude"]);
    tokio::task::spawn_blocking(move || run_with_stdin(cmd, payload.as_bytes(), ASKER))
}

/// The pending cards (with buttons) about `what` in `chat`, oldest first.
fn open_cards(s: &State, chat: i64, what: &str) -> Vec<ChatMessage> {
    s.bot_messages(chat)
        .into_iter()
        .filter(|m| m.text.starts_with("🔐") && m.text.contains(what) && !m.buttons().is_empty())
        .cloned()
        .collect()
}

/// Waits for a card with buttons about `what` in `chat`; returns the first.
async fn card(fake: &FakeTelegram, chat: i64, what: &str) -> ChatMessage {
    fake.wait_for_bot_message(chat, T, &format!("a card about {what:?}"), |m| {
        m.text.starts_with("🔐") && m.text.contains(what) && !m.buttons().is_empty()
    })
    .await
}

/// Presses the card's Approve button as the operator.
fn approve(fake: &FakeTelegram, card: &ChatMessage) -> String {
    let data = card
        .button_data()
        .into_iter()
        .find(|d| d.ends_with(":a"))
        .unwrap_or_else(|| panic!("no Approve button on {:?}", card.buttons()));
    fake.press_button(OPERATOR, card.chat_id, card.message_id, &data)
}

/// Whether a sendMessage to the operator carries buttons (an approval card).
fn operator_card(p: &Value) -> bool {
    p["reply_markup"].is_object() && p["chat_id"].as_i64() == Some(OPERATOR)
}

#[test]
fn approval_cards_arrive_despite_a_dropped_cut_or_failed_send() {
    run(async {
        let (fake, rig) = start(None).await;
        // Drop and 5xx: Telegram did nothing. DropAfter and a cut body: it posted the
        // card but the bot never heard, so a second copy may appear; pressing the first
        // closes both.
        let cases = [
            (Fault::Drop, "drop"),
            (Fault::Status(502), "bad-gateway"),
            (Fault::Html(502), "nginx-page"),
            (Fault::CutBody, "cut-body"),
            (Fault::DropAfter, "drop-after"),
        ];
        for (fault, name) in cases {
            let command = format!("touch /tmp/delivery-{name}");
            let id = fake.fault(
                Select::method_where("sendMessage", operator_card),
                When::Nth(1),
                fault.clone(),
            );
            let asker = hook(&rig, &command);
            let first = card(&fake, OPERATOR, &command).await;
            assert_eq!(fake.fault_hits(id), 1, "{fault:?} struck the card");
            let copies = fake.with(|s| open_cards(s, OPERATOR, &command).len());
            match fault {
                Fault::Drop | Fault::Status(_) | Fault::Html(_) => {
                    assert_eq!(copies, 1, "{fault:?}: Telegram did nothing, one card")
                }
                _ => assert!(copies <= 2, "{fault:?}: {copies} copies"),
            }
            approve(&fake, &first);
            let out = asker.await.expect("asker thread");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                ALLOW_JSON,
                "{fault:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // No copy is left waiting with buttons.
            fake.wait_until(T, "every copy of the card to be closed", |s| {
                open_cards(s, OPERATOR, &command).is_empty().then_some(())
            })
            .await;
        }
    });
}

#[test]
fn a_dropped_closing_edit_still_closes_the_card() {
    run(async {
        let (fake, rig) = start(None).await;
        let command = "touch /tmp/delivery-closing-edit";
        let asker = hook(&rig, command);
        let c = card(&fake, OPERATOR, command).await;
        let id = fake.fault(
            Select::in_chat("editMessageText", OPERATOR),
            When::Nth(1),
            Fault::Drop,
        );
        approve(&fake, &c);
        let out = asker.await.expect("asker thread");
        assert_eq!(String::from_utf8_lossy(&out.stdout), ALLOW_JSON);
        let done = fake
            .wait_until(T, "the card to show the outcome without buttons", |s| {
                s.message(OPERATOR, c.message_id)
                    .filter(|m| m.text.starts_with("✅ Approved by") && m.buttons().is_empty())
                    .cloned()
            })
            .await;
        assert!(done.text.contains(command), "{}", done.text);
        assert_eq!(fake.fault_hits(id), 1);
    });
}

#[test]
fn a_card_refused_for_good_is_reported_to_the_other_chats() {
    run(async {
        let (fake, rig) = start(None).await;
        let blocked = fake.fault(
            Select::in_chat("sendMessage", VIEWER),
            When::Every,
            Fault::Api(403, "Forbidden: bot was blocked by the user".into()),
        );
        let command = "touch /tmp/delivery-blocked";
        let asker = hook(&rig, command);
        let c = card(&fake, OPERATOR, command).await;
        let warning = fake
            .wait_for_bot_message(OPERATOR, T, "the warning about the viewer's card", |m| {
                m.text
                    .starts_with("⚠️ Could not post the approval card for agent")
                    && m.text.contains(&format!("chat {VIEWER}"))
            })
            .await;
        assert!(
            warning.text.contains("blocked") && warning.text.contains("waits for a decision here"),
            "{}",
            warning.text
        );
        // A 403 is final: tried once, not retried.
        assert_eq!(fake.fault_hits(blocked), 1);
        assert!(
            rig.bot_log().contains("could not post an approval card"),
            "the log names it"
        );
        approve(&fake, &c);
        let out = asker.await.expect("asker thread");
        assert_eq!(String::from_utf8_lossy(&out.stdout), ALLOW_JSON);
    });
}

#[test]
fn went_quiet_and_exit_notices_arrive_despite_transient_failures() {
    run(async {
        let toml = "[notify]\nquiet_after_s = 2\nmin_work_s = 1\nidle_stop_s = 60\n";
        let (fake, _rig) = start(Some(toml)).await;
        fake.send_text(OPERATOR, "/new n1 sh");
        fake.wait_for_bot_message(OPERATOR, T, "the session to start", |m| {
            m.text.starts_with("Started n1")
        })
        .await;
        let quiet = fake.fault(
            Select::text_contains("sendMessage", "went quiet"),
            When::Nth(1),
            Fault::Drop,
        );
        fake.send_text(
            OPERATOR,
            "for i in 1 2 3 4 5; do echo tick-$i; sleep 0.3; done",
        );
        fake.wait_for_bot_message(OPERATOR, T, "the went-quiet notice", |m| {
            m.text.contains("n1 went quiet")
        })
        .await;
        assert_eq!(fake.fault_hits(quiet), 1);
        let exit = fake.fault(
            Select::text_contains("sendMessage", "⏹"),
            When::Nth(1),
            Fault::Status(502),
        );
        fake.send_text(OPERATOR, "exit 3");
        fake.wait_for_bot_message(OPERATOR, T, "the exit notice", |m| {
            m.text.starts_with("⏹ n1 exited (3)")
        })
        .await;
        assert_eq!(fake.fault_hits(exit), 1);
    });
}

#[test]
fn a_live_screen_whose_last_edit_failed_ends_on_the_last_state() {
    run(async {
        let (fake, _rig) = start(None).await;
        fake.send_text(OPERATOR, "/new l1 sh");
        fake.wait_for_bot_message(OPERATOR, T, "the session to start", |m| {
            m.text.starts_with("Started l1")
        })
        .await;
        // Each `read` holds the screen until the next message; only the output shows 42.
        fake.send_text(
            OPERATOR,
            "echo step-1; read x; echo first-$((40+2)); read x; echo second-$((40+2)); read x; echo third-$((40+2))",
        );
        let live = fake
            .wait_for_bot_message(OPERATOR, T, "the live screen at step 1", |m| {
                m.raw.starts_with("<b>l1</b>") && m.text.contains("\nstep-1")
            })
            .await;
        let cases = [
            ("first-42", Fault::Drop),
            // Telegram edited, the answer was cut: the retry hears "not modified".
            ("second-42", Fault::CutBody),
            ("third-42", Fault::Status(502)),
        ];
        for (marker, fault) in cases {
            let id = fake.fault(
                Select::text_contains("editMessageText", marker),
                When::Nth(1),
                fault.clone(),
            );
            fake.send_text(OPERATOR, "go");
            fake.wait_until(T, &format!("the live screen to show {marker}"), |s| {
                s.message(OPERATOR, live.message_id)
                    .filter(|m| m.text.contains(marker))
                    .map(|_| ())
            })
            .await;
            assert_eq!(fake.fault_hits(id), 1, "{fault:?} struck the edit");
        }
    });
}

#[test]
fn get_updates_recovers_within_5_s_of_telegram_answering_again() {
    run(async {
        let (fake, rig) = start(None).await;
        let cases = [
            (2, Fault::Status(500)),
            (3, Fault::Status(502)),
            (2, Fault::Html(502)),
        ];
        for (n, fault) in cases {
            let failed = |s: &State| {
                s.faulted_calls()
                    .filter(|c| c.method == "getUpdates")
                    .count()
            };
            let before = fake.with(failed);
            let id = fake.fail_get_updates(n, fault.clone());
            // The long poll under way is not struck; this ends it, so the next ones are.
            fake.send_text(OPERATOR, "/help");
            fake.wait_until(T, "the first getUpdates to fail", |s| {
                (failed(s) > before).then_some(())
            })
            .await;
            let m = fake.send_text(OPERATOR, "/help");
            let offered = fake
                .wait_until(T, "the message to be offered", |s| {
                    s.message_update(OPERATOR, m).and_then(|u| u.offered)
                })
                .await;
            assert_eq!(fake.fault_hits(id), n, "{fault:?}");
            let last_fault = fake
                .with(|s| s.faulted_calls().map(|c| c.at).max())
                .expect("faulted calls");
            let took = offered.duration_since(last_fault);
            eprintln!("{n} x {fault:?}: offered {took:?} after the last failure");
            assert!(
                offered > last_fault && took < Duration::from_secs(5),
                "{n} x {fault:?}: offered {took:?} after the last failure"
            );
            fake.wait_until(T, "the answer", |s| {
                s.calls
                    .iter()
                    .any(|c| {
                        c.method == "sendMessage"
                            && c.chat_id() == Some(OPERATOR)
                            && c.arrived >= offered
                    })
                    .then_some(())
            })
            .await;
        }
        drop(rig);
    });
}

#[test]
fn a_voice_card_arrives_despite_a_dropped_send() {
    run(async {
        let fake = FakeTelegram::start().await;
        let model = std::env::var("WALKIE_MODEL").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/models/ggml-tiny.en.bin"
            )
            .into()
        });
        let rig = BotRig::start(
            &fake,
            &[("SHELL", "/bin/sh")],
            &[("WALKIE_MODEL", &model)],
            None,
        )
        .await;
        rig.wait_started(&fake, 1, T).await;
        fake.send_text(OPERATOR, "/new v1 sh");
        fake.wait_for_bot_message(OPERATOR, T, "the session to start", |m| {
            m.text.starts_with("Started v1")
        })
        .await;
        let id = fake.fault(
            Select::method_where("sendMessage", |p| {
                p["text"].as_str().is_some_and(|t| t.starts_with("🎙"))
            }),
            When::Nth(1),
            Fault::Drop,
        );
        let ogg = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/voice/list_files.ogg"
        ))
        .expect("voice fixture");
        fake.send_voice(OPERATOR, ogg, 3);
        let card = fake
            .wait_for_bot_message(
                OPERATOR,
                Duration::from_secs(90),
                "the transcript card",
                |m| m.text.starts_with("🎙 → v1:"),
            )
            .await;
        assert!(!card.buttons().is_empty(), "{:?}", card.buttons());
        assert_eq!(fake.fault_hits(id), 1);
    });
}

#[test]
fn a_card_no_chat_could_get_is_named_by_walkie_ls_and_the_log() {
    run(async {
        let (fake, rig) = start(Some("[approvals]\ntimeout_s = 30\n")).await;
        let refused = fake.fault(
            Select::Method("sendMessage"),
            When::Every,
            Fault::Api(400, "Bad Request: chat not found".into()),
        );
        let asker = hook(&rig, "touch /tmp/delivery-nowhere");
        // Bounded polls: the log and `walkie ls` are files and a command, not events.
        let deadline = tokio::time::Instant::now() + T;
        let listed = loop {
            let ls = rig.host.ok(&["ls"]);
            if ls.contains("no chat got its card") {
                break ls;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "walkie ls said: {ls}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(listed.contains("for agent"), "{listed}");
        let log = rig.bot_log();
        assert!(
            log.contains("could not post an approval card")
                && log.contains("no chat can be told that an approval card could not be posted"),
            "{log}"
        );
        // The operator's and the viewer's card, each tried once (final), and the
        // warnings to nobody.
        assert!(fake.fault_hits(refused) >= 2);
        fake.clear_faults();
        let out = asker.await.expect("asker thread");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("deny"),
            "the timeout denies: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    });
}
