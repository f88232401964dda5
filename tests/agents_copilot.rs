//! GitHub Copilot CLI as a first-class agent (issue 14), end to end: the real Copilot CLI
//! 1.0.102 (installed by `.ci/agents`) offline against the fake model, in a loopback-only
//! network namespace, started by the real `walkie up` from the fake Telegram's
//! `/new cp copilot DIR`. The prompt typed on the phone reaches the model; walkie's
//! `permissionRequest` hook (a plugin) makes one card; a stranger's press does nothing;
//! Approve runs the command; `agentStop` says "finished its turn"; Deny refuses the next one
//! and Copilot says so; the user's own hook fires; the user's `~/.copilot` is byte-for-byte
//! the same afterwards.

mod support;

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

use std::time::{Duration, Instant};

use bot_rig::{network_cards, BotRig, OPERATOR};
use fake_telegram::{ChatMessage, FakeTelegram};
use serde_json::{json, Value};
use support::agents::{hook_log, record_hook_command, Agent, AgentHome, FakeLlm, Setup};
use support::host::path_str;

const STRANGER: i64 = 666;
/// Copilot's cold start on a loaded 2-core machine (its first start unpacks it, 3-5 s).
const START: Duration = Duration::from_secs(90);
/// From the prompt on the phone to the card, or from a press to its effect.
const TURN: Duration = Duration::from_secs(60);
/// Output silence after which a freshly drawn input box takes keys (docs/AGENTS.md).
const QUIET: Duration = Duration::from_millis(500);
/// walkie's `approvals.timeout_s` in these tests: long enough for a press, short enough to
/// wait out once.
const TIMEOUT_S: u64 = 25;

/// A TOML string (JSON's escapes are TOML's for these).
fn q(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The fake model's script: one shell call touching `marker`, then "done".
fn scenario(marker: &std::path::Path) -> Value {
    json!({"turns": [{"text": "Creating it.", "shell": format!("touch {}", path_str(marker)),
                      "description": "Create the marker"},
                     {"text": "done"}],
           "aux_text": "OK"})
}

/// Waits (bounded, on a thread of its own: the helpers block) until `session` shows the
/// input box and has been quiet for [`QUIET`].
async fn wait_ready(rig: &BotRig, session: &str) {
    let host = &rig.host;
    std::thread::scope(|s| {
        s.spawn(|| {
            let deadline = Instant::now() + START;
            loop {
                let out = host.run(&["ls", "--json"]);
                let idle = serde_json::from_slice::<Value>(&out.stdout)
                    .ok()
                    .and_then(|l| {
                        l.as_array()?.iter().find(|s| s["name"] == session)?["idle_ms"].as_u64()
                    })
                    .unwrap_or(0);
                let screen = host.run(&["screen", session]);
                let last = String::from_utf8_lossy(&screen.stdout).into_owned();
                if Agent::Copilot.input_ready(&last) && idle >= QUIET.as_millis() as u64 {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "Copilot not ready in {START:?}; screen:\n{last}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        })
        .join()
        .expect("ready");
    });
}

/// Waits until `session`'s screen shows `text`.
async fn wait_screen(rig: &BotRig, session: &str, text: &str) -> String {
    let host = &rig.host;
    std::thread::scope(|s| {
        s.spawn(|| {
            let deadline = Instant::now() + TURN;
            loop {
                let screen = host.screen(session);
                if screen.contains(text) {
                    return screen;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {text:?} on the screen in {TURN:?}:\n{screen}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        })
        .join()
        .expect("screen")
    })
}

/// The approval cards about `what` in the operator's chat, pending or decided.
fn cards(fake: &FakeTelegram, what: &str) -> Vec<ChatMessage> {
    fake.with(|s| {
        s.bot_messages(OPERATOR)
            .into_iter()
            .filter(|m| m.text.contains("wants to run") && m.text.contains(what))
            .cloned()
            .collect()
    })
}

/// Presses the card's button `code` (`a` approve, `d` deny) as `user`; returns the query id.
fn press(fake: &FakeTelegram, user: i64, card: &ChatMessage, code: &str) -> String {
    let data = card
        .button_data()
        .into_iter()
        .find(|d| d.ends_with(&format!(":{code}")))
        .unwrap_or_else(|| panic!("no {code} button on {:?}", card.buttons()));
    fake.press_button(user, card.chat_id, card.message_id, &data)
}

async fn answer(fake: &FakeTelegram, id: &str) -> String {
    fake.wait_until(TURN, "the press to be answered", |s| {
        s.callback_answers.get(id).map(|a| {
            a.get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
    })
    .await
}

/// Waits (bounded) until `path` exists.
async fn file_appears(path: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + TURN;
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} was not created",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn copilot_from_the_phone_asks_on_a_card_approves_denies_and_leaves_the_users_home_alone() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(400), the_whole_story())
            .await
            .expect("test took longer than 400 s")
    });
}

async fn the_whole_story() {
    // The markers are made once the work dir is (the scenario is re-read on every request).
    let llm = FakeLlm::start_for_sandbox(&scenario(std::path::Path::new("/nonexistent")));
    // The folder is pre-trusted: the trust dialog as a card is another change's.
    let user = AgentHome::new(
        Agent::Copilot,
        &llm,
        &Setup {
            trust_folder: true,
            ..Setup::default()
        },
    );
    // In the workspace: the preset's boundary lets an approved command write only there.
    let markers = tempfile::Builder::new()
        .prefix("walkie-marker")
        .tempdir_in(&user.work)
        .expect("marker dir");
    let approved = markers.path().join("approved");
    let denied = markers.path().join("denied");
    llm.set_scenario(&scenario(&approved));
    let user_copilot = user.home.join(".copilot");
    // The user's own hook, which must keep working in walkie's sessions.
    // Its log in the workspace: inside the preset's boundary a hook writes only there.
    let user_log = user.work.join("user-hook.jsonl");
    std::fs::create_dir_all(user_copilot.join("hooks")).expect("hooks dir");
    std::fs::write(
        user_copilot.join("hooks/mine.json"),
        json!({"version": 1, "hooks": {"userPromptSubmitted": [
            {"type": "command", "bash": record_hook_command(&user_log, "none"), "timeoutSec": 30}]}})
        .to_string(),
    )
    .expect("user hook");
    let before = AgentHome::checksums(&user_copilot);

    // The preset as a user would configure it: the real CLI (in the fake's namespace) and its
    // provider settings in the preset's env.
    let mut command = llm.netns_prefix();
    command.push(path_str(&Agent::Copilot.bin()).to_string());
    command.extend([
        "--no-auto-update".into(),
        "--disable-client-telemetry".into(),
    ]);
    let command: Vec<String> = command.iter().map(|w| q(w)).collect();
    let env: Vec<String> = user
        .env()
        .iter()
        .map(|(k, v)| format!("{k} = {}", q(v)))
        .collect();
    let toml = format!(
        "[approvals]\ntimeout_s = {TIMEOUT_S}\n[presets.copilot]\ncommand = [{}]\nauto_allow = [\"touch */auto\"]\nenv = {{ {} }}\n",
        command.join(", "),
        env.join(", ")
    );
    let fake = FakeTelegram::start().await;
    let rig = BotRig::start(&fake, &[], &[], Some(&toml)).await;
    rig.wait_started(&fake, 1, TURN).await;

    fake.send_text(
        OPERATOR,
        &format!("/new cp copilot {}", path_str(&user.work)),
    );
    fake.wait_for_bot_message(OPERATOR, TURN, "the session to start", |m| {
        m.text.contains("Started cp")
    })
    .await;
    wait_ready(&rig, "cp").await;

    // The prompt from the phone reaches the model; the hook makes one card.
    fake.send_text(OPERATOR, "Please create the marker file.");
    llm.wait_request_with(&["Please create the marker file."], TURN);
    let what = format!("touch {}", path_str(&approved));
    let card = fake
        .wait_for_bot_message(OPERATOR, TURN, "the approval card", |m| {
            m.text.starts_with("🔐") && m.text.contains(&what)
        })
        .await;
    assert!(
        card.text.contains("cp · copilot wants to run"),
        "the card names the agent: {}",
        card.text
    );
    // The tool's description, which the payload lacks, from Copilot's own event log.
    assert!(
        card.text.contains("Create the marker"),
        "the card has the description: {}",
        card.text
    );
    // A stranger's press decides nothing.
    let q_stranger = press(&fake, STRANGER, &card, "a");
    assert_eq!(answer(&fake, &q_stranger).await, "");
    assert!(!approved.exists());
    let q_ok = press(&fake, OPERATOR, &card, "a");
    assert_eq!(answer(&fake, &q_ok).await, "Approved");
    file_appears(&approved).await;
    fake.wait_for_bot_message(OPERATOR, TURN, "the finished-turn notice", |m| {
        m.text.contains("cp finished its turn")
    })
    .await;
    assert_eq!(
        cards(&fake, &what).len(),
        1,
        "one card for the request, whoever saw it"
    );
    // The user's own hook fired with walkie's.
    let user_saw = hook_log(&user_log);
    assert!(
        user_saw
            .iter()
            .any(|p| p["prompt"] == "Please create the marker file."),
        "{user_saw:?}"
    );

    // Deny: the next command is refused, and Copilot says so.
    llm.set_scenario(&scenario(&denied));
    wait_ready(&rig, "cp").await;
    fake.send_text(OPERATOR, "Please create the other marker.");
    llm.wait_request_with(&["Please create the other marker."], TURN);
    let what = format!("touch {}", path_str(&denied));
    let card = fake
        .wait_for_bot_message(OPERATOR, TURN, "the second card", |m| {
            m.text.starts_with("🔐") && m.text.contains(&what)
        })
        .await;
    let q_no = press(&fake, OPERATOR, &card, "d");
    assert_eq!(answer(&fake, &q_no).await, "Denied");
    wait_screen(&rig, "cp", "Permission denied").await;
    assert!(!denied.exists());
    assert_eq!(cards(&fake, &what).len(), 1);

    // The preset's rules apply to Copilot's commands: this one passes without a card.
    let auto = markers.path().join("auto");
    llm.set_scenario(&scenario(&auto));
    wait_ready(&rig, "cp").await;
    fake.send_text(OPERATOR, "Please create the auto marker.");
    file_appears(&auto).await;
    let what_auto = format!("touch {}", path_str(&auto));
    fake.wait_for_bot_message(OPERATOR, TURN, "the rule's note", |m| {
        m.text.contains("Approved by rule") && m.text.contains(&what_auto)
    })
    .await;
    assert!(cards(&fake, &what_auto)
        .iter()
        .all(|c| c.buttons().is_empty()));

    // Nobody answers: denied with a reason when walkie's deadline passes, and Copilot says so.
    let late = markers.path().join("late");
    llm.set_scenario(&scenario(&late));
    wait_ready(&rig, "cp").await;
    fake.send_text(OPERATOR, "Please create the late marker.");
    let what_late = format!("touch {}", path_str(&late));
    fake.wait_for_bot_message(OPERATOR, TURN, "the third card", |m| {
        m.text.starts_with("🔐") && m.text.contains(&what_late)
    })
    .await;
    wait_screen(&rig, "cp", "no decision from the phone").await;
    assert!(!late.exists());

    // Copilot's session id came with the requests (for revival), and the session lives in
    // walkie's Copilot home, where `copilot --resume=<id>` finds it.
    let store = rig.store().await;
    let asked = store.recent_approvals("cp", 0).await.expect("approvals");
    store.close().await;
    let ids: Vec<String> = asked
        .iter()
        .filter_map(|a| match &a.subject {
            walkie_approval::model::Subject::Hook { request } => request.session_id.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 4, "{asked:?}");
    assert!(ids.iter().all(|i| i == &ids[0]), "{ids:?}");
    let walkie_home = rig.host.state.join("copilot-home/copilot");
    assert!(
        walkie_home.join("session-state").join(&ids[0]).is_dir(),
        "no session {} in {}",
        ids[0],
        walkie_home.display()
    );

    // Its start under the preset's boundary asked nothing about the network.
    let network = network_cards(&fake);
    assert!(network.is_empty(), "{network:?}");

    // Stop Copilot before comparing: nothing it does may have touched the user's home.
    rig.host.ok(&["kill", "cp"]);
    assert_eq!(AgentHome::checksums(&user_copilot), before);
    drop(rig);
}

/// Copilot started as a plain command (no preset, so no walkie hook): its own "Do you want to
/// run this command?" box is read off the screen into a card; Approve types `1` and the
/// command runs, Deny types Escape and it does not.
#[test]
fn copilot_without_the_hook_is_asked_through_its_screen() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(300), screen_story())
            .await
            .expect("test took longer than 300 s")
    });
}

async fn screen_story() {
    let llm = FakeLlm::start_for_sandbox(&json!({"turns": [{"text": "hi"}]}));
    let user = AgentHome::new(
        Agent::Copilot,
        &llm,
        &Setup {
            trust_folder: true,
            ..Setup::default()
        },
    );
    // Inside the trusted folder: a path outside it brings Copilot's "allow path access" box
    // first (also a card, but another one).
    let approved = user.work.join("approved");
    let denied = user.work.join("denied");
    let fake = FakeTelegram::start().await;
    let toml = format!("[approvals]\ntimeout_s = {TIMEOUT_S}\n");
    let rig = BotRig::start(&fake, &[], &[], Some(&toml)).await;
    rig.wait_started(&fake, 1, TURN).await;
    let mut args = vec!["new", "cp2", "--cwd", path_str(&user.work), "--"];
    let argv = user.argv(&[]);
    args.extend(argv.iter().map(String::as_str));
    rig.host.ok(&args);
    fake.send_text(OPERATOR, "/use cp2");
    wait_ready(&rig, "cp2").await;

    for (marker, prompt, button) in [
        (&approved, "Please create the marker file.", "a"),
        (&denied, "Please create the other marker.", "d"),
    ] {
        llm.set_scenario(&scenario(marker));
        wait_ready(&rig, "cp2").await;
        fake.send_text(OPERATOR, prompt);
        let what = format!("touch {}", path_str(marker));
        let card = fake
            .wait_for_bot_message(OPERATOR, TURN, "the screen card", |m| {
                m.text.starts_with("🔐") && m.text.contains(&what)
            })
            .await;
        assert!(
            card.text
                .contains("cp2 asks: Do you want to run this command?")
                && card.text.contains("Create the marker"),
            "{}",
            card.text
        );
        let q = press(&fake, OPERATOR, &card, button);
        answer(&fake, &q).await;
        if button == "a" {
            file_appears(marker).await;
            wait_screen(&rig, "cp2", "done").await;
        } else {
            wait_screen(&rig, "cp2", "cancelled").await;
            assert!(!marker.exists());
        }
        // Cards only: the live screen message shows the box too.
        let shown: Vec<String> = fake.with(|s| {
            s.bot_messages(OPERATOR)
                .iter()
                .filter(|m| {
                    m.text
                        .contains("cp2 asks: Do you want to run this command?")
                        && m.text.contains(&what)
                })
                .map(|m| m.text.clone())
                .collect()
        });
        assert_eq!(shown.len(), 1, "one card for {what}: {shown:#?}");
    }
    rig.host.ok(&["kill", "cp2"]);
    drop(rig);
}
