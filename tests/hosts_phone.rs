//! Many hosts from the phone: the real `walkie up` (with its own local host) against the
//! strict fake Telegram, driving a second `walkie host` (the "cloud" box) through a real
//! sshd on 127.0.0.1, with a key restricted to the bridge command in authorized_keys.
//!
//! `/ls` grouped by host with the cloud's state, `/new api@cloud`, text to it, its live
//! screen, an approval from the cloud's broker decided on the phone, the link cut (the
//! chat told it is down, then back), text and `/new` queued meanwhile and delivered once,
//! and a changed host key refused. A remote turn's end and went-quiet notices, a voice
//! note naming a cloud session, and the CLI (`walkie hosts`, `walkie attach api@cloud`)
//! through the bot's own ssh connection. A preset started on a box whose walkie is installed
//! elsewhere (another path, another state dir, its own walkie.toml) is expanded there: the
//! real Claude Code's hook names the box's walkie and its approval comes to the phone.

mod support;

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::{Duration, Instant};

use bot_rig::{BotRig, OPERATOR};
use fake_telegram::{ChatMessage, FakeTelegram};
use support::agents::{Agent, AgentHome, FakeLlm, Setup};
use support::host::{hook_fixture, path_str, run_with_stdin, walkie_bin, TestHost};
use support::sshd::Sshd;

/// How long any one event may take.
const T: Duration = Duration::from_secs(30);

const ALLOW_JSON: &str = "{\"hookSpecificOutput\":{\"hookEventName\":\"PermissionRequest\",\"decision\":{\"behavior\":\"allow\"}}}\n";

/// The cloud box's bridge command: its own socket and state, the box's walkie.
fn bridge_command(cloud: &TestHost) -> String {
    format!(
        "env WALKIE_SOCKET={} WALKIE_STATE_DIR={} {} --no-spawn bridge --stdio",
        path_str(&cloud.socket),
        path_str(&cloud.state),
        cloud.exe.display()
    )
}

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

struct Cloud {
    host: TestHost,
    sshd: Sshd,
}

/// The cloud box: a host behind a private sshd whose only key may run just the bridge.
fn cloud() -> Cloud {
    cloud_of(TestHost::start())
}

/// [`cloud`] with its host started by the caller.
fn cloud_of(host: TestHost) -> Cloud {
    let sshd = Sshd::start(&host.dir.path().join("sshd"));
    let public = std::fs::read_to_string(sshd.key.with_extension("pub")).unwrap();
    sshd.set_authorized_keys(&format!(
        "restrict,command=\"{}\" {}",
        bridge_command(&host),
        public.trim()
    ));
    Cloud { host, sshd }
}

/// `walkie up` at home with `[hosts.cloud]`, started again once the operator has talked to
/// it (Telegram lets a bot write only to people who have); with `trusted`, the cloud's host
/// key is in walkie's own known_hosts (as `walkie hosts trust` writes it) by then.
async fn home(fake: &FakeTelegram, cloud: &Cloud, trusted: bool) -> BotRig {
    home_with(fake, cloud, trusted, "", &[]).await
}

/// [`home`] with more walkie.toml (`extra`) and environment for the bot (`bot_env`).
async fn home_with(
    fake: &FakeTelegram,
    cloud: &Cloud,
    trusted: bool,
    extra: &str,
    bot_env: &[(&str, &str)],
) -> BotRig {
    let toml = format!(
        "{extra}[hosts.cloud]\nssh = \"{}@127.0.0.1:{}\"\nkey = \"{}\"\nbridge = \"{}\"\n",
        Sshd::user(),
        cloud.sshd.port,
        path_str(&cloud.sshd.key),
        bridge_command(&cloud.host).replace('"', "\\\"")
    );
    let mut rig = BotRig::start(fake, &[], bot_env, Some(&toml)).await;
    rig.wait_started(fake, 1, T).await;
    fake.send_text(OPERATOR, "/help");
    bot_says(fake, "/new", T).await;
    rig.kill_bot().await;
    if !trusted {
        rig.start_bot();
        rig.wait_started(fake, 2, T).await;
        return rig;
    }
    let ssh = rig.host.state.join("ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700)).unwrap();
    let known = ssh.join("known_hosts");
    std::fs::write(
        &known,
        format!("{}\n", cloud.sshd.known_hosts_line(&cloud.sshd.host_key)),
    )
    .unwrap();
    std::fs::set_permissions(&known, std::fs::Permissions::from_mode(0o600)).unwrap();
    rig.start_bot();
    rig.wait_started(fake, 2, T).await;
    rig
}

/// Sends `/ls` until its answer satisfies `pred` (a bounded poll: the host's state is
/// what is waited for, and `/ls` is how the phone sees it).
async fn ls_until(fake: &FakeTelegram, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + T;
    loop {
        let sent = fake.send_text(OPERATOR, "/ls");
        let answer = fake
            .wait_until(T, "the answer to /ls", |s| {
                s.bot_messages(OPERATOR)
                    .into_iter()
                    .find(|m| m.message_id > sent && m.text.contains("🖥 local"))
                    .cloned()
            })
            .await;
        if pred(&answer.text) {
            return answer.text;
        }
        assert!(
            Instant::now() < deadline,
            "/ls never showed {what}: {}",
            answer.text
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn bot_says(fake: &FakeTelegram, what: &str, within: Duration) -> ChatMessage {
    let needle = what.to_string();
    fake.wait_for_bot_message(OPERATOR, within, what, move |m| m.text.contains(&needle))
        .await
}

/// Waits until the operator's message `id` starts with `start`.
async fn message_starts(fake: &FakeTelegram, id: i64, start: &str) -> ChatMessage {
    fake.wait_until(T, &format!("message {id} to say {start:?}"), |s| {
        s.message(OPERATOR, id)
            .filter(|m| m.text.starts_with(start))
            .cloned()
    })
    .await
}

/// Waits for the approval card of `api@cloud` and presses its Approve.
async fn approve_card(fake: &FakeTelegram, within: Duration) {
    let card = fake
        .wait_for_bot_message(OPERATOR, within, "the cloud's approval card", |m| {
            m.text.starts_with("🔐") && m.text.contains("api@cloud") && !m.buttons().is_empty()
        })
        .await;
    let approve = card
        .button_data()
        .into_iter()
        .find(|d| d.ends_with(":a"))
        .expect("an Approve button");
    fake.press_button(OPERATOR, OPERATOR, card.message_id, &approve);
}

/// Runs a blocking test helper (it has a runtime of its own) on a thread of its own.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("helper thread"))
}

/// Waits until the cloud's `session` shows `text`.
async fn cloud_screen(cloud: &TestHost, session: &str, text: &str) {
    off_runtime(|| {
        cloud.wait_screen(session, &format!("the screen to show {text:?}"), |t| {
            t.contains(text)
        })
    });
}

#[test]
fn a_cloud_session_from_the_phone_through_a_real_sshd() {
    run(async {
        let fake = FakeTelegram::start().await;
        let mut cloud = cloud();
        let rig = home(&fake, &cloud, true).await;

        // /ls: grouped by host, the cloud up with its latency.
        let ls = ls_until(&fake, "cloud up", |t| t.contains("☁️ cloud · up")).await;
        assert!(ls.contains(" ms"), "{ls}");

        // /new on the cloud: started there, named with its host.
        fake.send_text(OPERATOR, "/new api@cloud -- bash --norc --noprofile");
        bot_says(&fake, "Started api@cloud", T).await;
        assert!(off_runtime(|| cloud.host.info("api")).state.is_live());
        let socket = rig.host.socket.clone();
        let at_home = off_runtime(|| {
            support::host::block_on(async {
                walkie_host_proto::client::Client::connect(&socket)
                    .await?
                    .list()
                    .await
            })
        });
        assert!(
            at_home.expect("home list").is_empty(),
            "nothing started at home"
        );

        // Text by address, and plain text to the current session: typed on the cloud.
        fake.send_text(OPERATOR, "api@cloud: echo addressed-$((6*7))");
        cloud_screen(&cloud.host, "api", "addressed-42").await;
        fake.send_text(OPERATOR, "echo plain-$((7*7))");
        cloud_screen(&cloud.host, "api", "plain-49").await;
        // The live screen follows the cloud session, its changes pushed by the box over the
        // link (not read on a timer).
        bot_says(&fake, "plain-49", T).await;
        let log = rig.bot_log();
        assert!(
            log.lines()
                .any(|l| l.contains("screen changes pushed") && l.contains("cloud")),
            "{log}"
        );
        // /screen by address, and a bare name that only the cloud has.
        fake.send_text(OPERATOR, "/screen api");
        let screen = fake
            .wait_for_bot_message(OPERATOR, T, "/screen api", |m| {
                m.text.contains("addressed-42") && m.text.contains("plain-49")
            })
            .await;
        assert!(!screen.text.contains("No session"), "{}", screen.text);
        let ls = ls_until(&fake, "api under the cloud", |t| t.contains("api@cloud")).await;
        let cloud_part = ls.split("☁️ cloud").nth(1).unwrap_or_default();
        assert!(cloud_part.contains("api@cloud"), "{ls}");

        // An approval asked on the cloud's broker: a card at home, Approve reaches it.
        let mut cmd = cloud.host.command();
        cmd.env("WALKIE_SESSION", "api")
            .args(["approve-hook", "--agent", "claude"]);
        let payload = hook_fixture("claude-hooks.jsonl", "PermissionRequest");
        let hook: tokio::task::JoinHandle<Output> = tokio::task::spawn_blocking(move || {
            run_with_stdin(cmd, payload.as_bytes(), Duration::from_secs(90))
        });
        approve_card(&fake, T).await;
        let out = hook.await.expect("hook");
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&out.stdout), ALLOW_JSON);

        // Cut the link: the chat is told within 15 s, and /ls says since when.
        let cut = Instant::now();
        cloud.sshd.stop();
        bot_says(&fake, "cloud is down", Duration::from_secs(15)).await;
        assert!(cut.elapsed() < Duration::from_secs(15));
        let ls = ls_until(&fake, "cloud down", |t| t.contains("down since")).await;
        assert!(ls.contains("☁️ cloud · down since"), "{ls}");
        // A call meanwhile is answered with the host's state, not a hang.
        fake.send_text(OPERATOR, "/screen api@cloud");
        bot_says(&fake, "cloud is down since", T).await;
        // Text meanwhile is queued, with a Cancel button; a second one is cancelled.
        fake.send_text(OPERATOR, "api@cloud: echo queued-$((9*9))");
        let queued = bot_says(&fake, "⏳ queued for cloud (down since", T).await;
        let labels: Vec<String> = queued.buttons().into_iter().map(|(l, _)| l).collect();
        assert_eq!(labels, ["✖ Cancel"]);
        fake.send_text(OPERATOR, "api@cloud: echo cancelled-$((5*5))");
        let second = fake
            .wait_for_bot_message(OPERATOR, T, "the second queued message", |m| {
                m.text.starts_with("⏳ queued") && m.message_id != queued.message_id
            })
            .await;
        let cancel = second.button_data().pop().expect("a Cancel button");
        fake.press_button(OPERATOR, OPERATOR, second.message_id, &cancel);
        message_starts(&fake, second.message_id, "✖ cancelled").await;

        // /new meanwhile is queued too (its card, Cancel), and becomes the chat's current
        // session: plain text after it queues behind it.
        fake.send_text(OPERATOR, "/new web@cloud -- bash --norc --noprofile");
        let queued_new = bot_says(&fake, "web@cloud starts when cloud is back", T).await;
        assert!(
            queued_new
                .text
                .starts_with("⏳ queued for cloud (down since"),
            "{}",
            queued_new.text
        );
        let labels: Vec<String> = queued_new.buttons().into_iter().map(|(l, _)| l).collect();
        assert_eq!(labels, ["✖ Cancel"]);
        fake.send_text(OPERATOR, "echo after-new-$((3*3))");
        let after_new = fake
            .wait_for_bot_message(OPERATOR, T, "the text queued for web", |m| {
                m.text.starts_with("⏳ queued") && m.text.contains("web@cloud gets it")
            })
            .await;

        // The box comes back: reconnected within 5 s, and it works again.
        let back = Instant::now();
        cloud.sshd.restart();
        bot_says(&fake, "cloud is back", Duration::from_secs(10)).await;
        let took = back.elapsed();
        assert!(took < Duration::from_secs(5), "reconnected after {took:?}");
        // The queued text delivered once, its message edited to say so; the cancelled one
        // never.
        message_starts(&fake, queued.message_id, "✅ delivered to api@cloud").await;
        cloud_screen(&cloud.host, "api", "queued-81").await;
        fake.send_text(OPERATOR, "api@cloud: echo again-$((8*8))");
        cloud_screen(&cloud.host, "api", "again-64").await;
        let screen = off_runtime(|| cloud.host.screen("api"));
        assert_eq!(screen.matches("queued-81").count(), 1, "{screen}");
        assert!(!screen.contains("cancelled"), "{screen}");
        // The queued /new started web on the cloud, once, and the text behind it reached it.
        message_starts(
            &fake,
            queued_new.message_id,
            "✅ delivered: started web@cloud",
        )
        .await;
        message_starts(&fake, after_new.message_id, "✅ delivered to web@cloud").await;
        cloud_screen(&cloud.host, "web", "after-new-9").await;
        let web = off_runtime(|| cloud.host.screen("web"));
        assert_eq!(web.matches("after-new-9").count(), 1, "{web}");
        let listed = off_runtime(|| cloud.host.ok(&["ls"]));
        assert_eq!(listed.matches("web").count(), 1, "{listed}");

        // A changed host key: refused, and said so.
        cloud.sshd.stop();
        cloud.sshd.new_host_key();
        cloud.sshd.restart();
        let ls = ls_until(&fake, "the changed key", |t| {
            t.to_lowercase().contains("changed")
        })
        .await;
        assert!(ls.contains("☁️ cloud · down since"), "{ls}");
        drop(rig);
    });
}

#[test]
fn first_contact_asks_the_phone_to_trust_the_host_key() {
    run(async {
        let fake = FakeTelegram::start().await;
        let cloud = cloud();
        let rig = home(&fake, &cloud, false).await;
        let fingerprint = Sshd::fingerprint_of(&cloud.sshd.host_key);
        // The card of the bot as `home` restarted it: the first bot may have shown one too
        // before it was stopped, and the key it offered went with it (the restarted bot
        // answers a press on that card "no host key waiting" and shows its own).
        let card_id = fake
            .wait_until(T, "the restarted bot's host-key card", |s| {
                let restart = s
                    .calls
                    .iter()
                    .filter(|c| c.method == "setMyCommands" && c.ok())
                    .nth(1)?
                    .seq;
                s.calls
                    .iter()
                    .filter(|c| c.seq > restart && c.method == "sendMessage" && c.ok())
                    .filter_map(|c| c.response["result"]["message_id"].as_i64())
                    .find(|id| {
                        s.message(OPERATOR, *id)
                            .is_some_and(|m| m.text.starts_with("🔑") && m.text.contains("cloud"))
                    })
            })
            .await;
        let card = fake
            .with(|s| s.message(OPERATOR, card_id).cloned())
            .expect("the card");
        assert!(
            card.text.contains(&fingerprint) && card.text.contains("ssh-ed25519"),
            "{}",
            card.text
        );
        let known = rig.host.state.join("ssh/known_hosts");
        assert!(!known.exists(), "nothing trusted before the press");
        let labels: Vec<String> = card.buttons().into_iter().map(|(l, _)| l).collect();
        assert_eq!(labels, ["✅ Trust", "⛔ Reject"]);
        let trust = card
            .button_data()
            .into_iter()
            .find(|d| d.starts_with("hostkey:t:"))
            .expect("a Trust button");
        fake.press_button(OPERATOR, OPERATOR, card.message_id, &trust);
        fake.wait_until(T, "the card to say trusted", |s| {
            s.message(OPERATOR, card.message_id)
                .filter(|m| m.text.starts_with("✅ Host key of cloud trusted"))
                .cloned()
        })
        .await;
        let line = std::fs::read_to_string(&known).expect("walkie's known_hosts");
        assert!(
            line.contains(&format!("[127.0.0.1]:{}", cloud.sshd.port)),
            "{line}"
        );
        assert_eq!(
            std::fs::metadata(&known).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Connected: a session starts there from the phone.
        bot_says(&fake, "cloud is back", T).await;
        fake.send_text(OPERATOR, "/new api@cloud -- bash --norc --noprofile");
        bot_says(&fake, "Started api@cloud", T).await;
        // Pause, resume and kill reach the cloud's session.
        fake.send_text(OPERATOR, "/pause api@cloud");
        bot_says(&fake, "api@cloud: paused", T).await;
        assert_eq!(
            off_runtime(|| cloud.host.info("api")).state,
            walkie_host_proto::protocol::SessionState::Paused
        );
        fake.send_text(OPERATOR, "/resume");
        bot_says(&fake, "api@cloud: running", T).await;
        fake.send_text(OPERATOR, "/kill api@cloud");
        bot_says(&fake, "api@cloud: ", T).await;
        off_runtime(|| cloud.host.wait_exit("api"));
        let audit = rig.audit().await;
        assert!(
            audit.iter().any(|a| a.action == "host key"
                && a.detail
                    .as_deref()
                    .is_some_and(|d| d.contains(&fingerprint))),
            "{audit:?}"
        );
    });
}

/// The shared whisper model (beside the repository, as in CI).
fn model() -> String {
    std::env::var("WALKIE_MODEL").unwrap_or_else(|_| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/models/ggml-tiny.en.bin")
            .display()
            .to_string()
    })
}

/// How many ssh logins the cloud's sshd accepted since it started.
fn logins(sshd: &Sshd) -> usize {
    sshd.log().matches("Accepted publickey").count()
}

#[test]
fn notices_voice_and_the_cli_go_through_the_bots_link() {
    run(async {
        let fake = FakeTelegram::start().await;
        let cloud = cloud();
        let model = model();
        let rig = home_with(
            &fake,
            &cloud,
            true,
            "[notify]\nquiet_after_s = 2\nmin_work_s = 1\nidle_stop_s = 60\n",
            &[("WALKIE_MODEL", &model)],
        )
        .await;
        ls_until(&fake, "cloud up", |t| t.contains("☁️ cloud · up")).await;
        fake.send_text(OPERATOR, "/new api@cloud -- bash --norc --noprofile");
        bot_says(&fake, "Started api@cloud", T).await;
        cloud_screen(&cloud.host, "api", "bash-").await;

        // A remote turn without a hook goes quiet; a remote turn's end (the agent's Stop
        // hook inside the cloud session, to the cloud's broker) is announced. Both reach
        // the chat with the host in the name.
        fake.send_text(
            OPERATOR,
            "for i in 1 2 3 4 5 6; do echo tock-$i; sleep 0.3; done",
        );
        let quiet = bot_says(&fake, "api@cloud went quiet", T).await;
        assert!(quiet.text.starts_with("💤"), "{}", quiet.text);
        let stop = r#"{"hook_event_name":"Stop","stop_hook_active":false}"#;
        fake.send_text(
            OPERATOR,
            &format!(
                "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.3; done; echo '{stop}' | {} approve-hook --agent claude",
                walkie_bin().display()
            ),
        );
        let ended = bot_says(&fake, "api@cloud finished its turn", T).await;
        assert!(ended.message_id > quiet.message_id);

        // A voice note that names a session only the cloud has goes to it.
        let ogg = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures/voice/api_logs.ogg"),
        )
        .expect("voice fixture");
        fake.send_voice(OPERATOR, ogg, 3);
        let card = fake
            .wait_for_bot_message(
                OPERATOR,
                Duration::from_secs(90),
                "the transcript card",
                |m| m.text.starts_with("🎙"),
            )
            .await;
        assert!(card.text.starts_with("🎙 → api@cloud:"), "{}", card.text);
        let send = card
            .button_data()
            .into_iter()
            .find(|d| d.ends_with(":s"))
            .expect("a Send button");
        fake.press_button(OPERATOR, OPERATOR, card.message_id, &send);
        off_runtime(|| {
            cloud
                .host
                .wait_screen("api", "the spoken words typed on the cloud", |t| {
                    t.to_lowercase().contains("show me the logs")
                })
        });

        // The CLI at home: `walkie hosts` shows the bot's view, and `walkie attach
        // api@cloud` goes through the bot's own ssh connection (no second login at sshd).
        let out = off_runtime(|| {
            let mut c = rig.host.command();
            c.args(["hosts"]);
            support::wait::run_bounded(c, Duration::from_secs(30))
        });
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{said}");
        let row = said
            .lines()
            .find(|l| l.starts_with("cloud"))
            .unwrap_or_default();
        assert!(row.contains(" up ") && row.contains(" ms"), "{said}");
        assert!(said.contains("as the running walkie up (pid"), "{said}");
        let relay = rig.host.socket.parent().unwrap().join("hosts/cloud.sock");
        assert_eq!(
            std::fs::metadata(&relay)
                .expect("the relay socket")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let before = logins(&cloud.sshd);
        assert!(before >= 1, "{}", cloud.sshd.log());
        off_runtime(|| {
            let mut cmd = rig.host.command();
            cmd.env("TERM", "xterm-256color")
                .args(["attach", "api@cloud"]);
            let mut t = support::term::Term::spawn(&cmd, 90, 25);
            t.wait_screen("the remote repaint", |s| s.contains("tick-6"));
            t.type_bytes(b"echo relayed-$((2*21))\r");
            t.wait_screen("typing through the relay", |s| s.contains("relayed-42"));
            support::host::wait_for("the remote size", Duration::from_secs(10), || {
                (cloud.host.info("api").cols == 90).then_some(())
            });
            t.resize(100, 30);
            support::host::wait_for(
                "the resize through the relay",
                Duration::from_secs(10),
                || {
                    let i = cloud.host.info("api");
                    (i.cols == 100 && i.rows == 30).then_some(())
                },
            );
            t.type_bytes(b"\x1cd");
            assert_eq!(t.wait_exit(), 0);
        });
        assert!(off_runtime(|| cloud.host.info("api")).state.is_live());
        assert_eq!(
            logins(&cloud.sshd),
            before,
            "attach opened a second ssh connection: {}",
            cloud.sshd.log()
        );
        assert!(
            rig.bot_log().contains("relaying a CLI connection"),
            "{}",
            rig.bot_log()
        );
    });
}

/// A TOML string (JSON's escapes are TOML's for these).
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Waits (bounded) until `pred` holds for the cloud's session `name`'s screen.
async fn box_screen(cloud: &TestHost, name: &str, what: &str, pred: fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = off_runtime(|| cloud.run(&["screen", name]));
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && pred(&last) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("timed out waiting for {what}; screen:\n{last}");
}

/// Waits until the cloud's session `name` printed nothing for half a second (keys sent into
/// an input box being drawn can be undone).
async fn box_quiet(cloud: &TestHost, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if off_runtime(|| cloud.info(name))
            .idle_ms
            .is_some_and(|ms| ms >= 500)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} never went quiet");
}

/// The values of `var` in process `pid`'s environment.
fn environ(pid: u32, var: &str) -> Vec<String> {
    let all = std::fs::read(format!("/proc/{pid}/environ")).expect("a session's environ");
    let prefix = format!("{var}=");
    all.split(|b| *b == 0)
        .filter_map(|v| std::str::from_utf8(v).ok()?.strip_prefix(&prefix))
        .map(String::from)
        .collect()
}

#[test]
fn a_cloud_preset_is_expanded_on_the_box_with_its_own_walkie_and_state() {
    run(async {
        // In the workspace (the command runs in the session's cwd): the agent presets'
        // boundary lets an approved command write only there.
        let llm = FakeLlm::start_for_sandbox(&serde_json::json!({
            "turns": [{"text": "Creating it.", "shell": "touch walkie-approved",
                       "description": "Create the marker"},
                      {"text": "done"}],
            "aux_text": "OK"}));
        // The box's user, with Claude Code set up against the fake model.
        let user = AgentHome::new(
            Agent::Claude,
            &llm,
            &Setup {
                trust_folder: true,
                ..Setup::default()
            },
        );
        // The box: a dir of its own (outside /tmp, as a Codex home must be), walkie installed
        // at another path than this build's, its own walkie.toml with the presets.
        let dir = tempfile::Builder::new()
            .prefix("wk")
            .tempdir_in("/var/tmp")
            .expect("box dir");
        let exe = dir.path().join("opt/walkie/bin/walkie");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::hard_link(walkie_bin(), &exe)
            .or_else(|_| std::fs::copy(walkie_bin(), &exe).map(|_| ()))
            .expect("the box's walkie");
        // With the slim daemon beside it (as `cargo install` puts it), so the box's host is
        // `walkie-host` and the hooks it expands must still name the box's `walkie`.
        let slim = walkie_bin().with_file_name("walkie-host");
        if slim.is_file() {
            std::fs::hard_link(&slim, exe.with_file_name("walkie-host"))
                .or_else(|_| std::fs::copy(&slim, exe.with_file_name("walkie-host")).map(|_| ()))
                .expect("the box's walkie-host");
        }
        let env: Vec<String> = user
            .env()
            .iter()
            .filter(|(k, _)| k != "HOME")
            .map(|(k, v)| format!("{} = {}", q(k), q(v)))
            .collect();
        let claude = [
            path_str(&Agent::Claude.bin()),
            "--permission-mode",
            "default",
        ]
        .map(q)
        .join(", ");
        let toml = format!(
            "[approvals]\ntimeout_s = 120\n[presets.claude]\ncommand = [{claude}]\nenv = {{ {} }}\n[presets.codex]\ncommand = [{}]\n",
            env.join(", "),
            q(path_str(&Agent::Codex.bin()))
        );
        let config = dir.path().join("walkie.toml");
        std::fs::write(&config, toml).unwrap();
        let home_dir = path_str(&user.home).to_string();
        let box_host = TestHost::start_as(
            dir,
            &[("HOME", &home_dir), ("WALKIE_CONFIG", path_str(&config))],
            &exe,
        );
        let mut cloud = cloud_of(box_host);
        let fake = FakeTelegram::start().await;
        let rig = home(&fake, &cloud, true).await;
        ls_until(&fake, "cloud up", |t| t.contains("☁️ cloud · up")).await;
        let home_state = rig.host.state.clone();
        let home_before: Vec<String> = std::fs::read_dir(&home_state)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();

        // A preset the box does not have: the phone is told whose table lacks it.
        fake.send_text(OPERATOR, "/new x@cloud nope");
        let no = bot_says(&fake, "no preset", T).await;
        assert!(no.text.starts_with("cloud: "), "{}", no.text);
        assert!(no.text.contains("claude"), "the box's presets: {}", no.text);

        // Claude on the box: the launch recorded there names the box's walkie, not this one.
        fake.send_text(
            OPERATOR,
            &format!("/new api@cloud claude {}", path_str(&user.work)),
        );
        bot_says(&fake, "Started api@cloud", T).await;
        let info = off_runtime(|| cloud.host.info("api"));
        let exe_s = path_str(&cloud.host.exe).to_string();
        let home_exe = walkie_bin().display().to_string();
        assert!(
            info.command
                .iter()
                // Quoted or not, as the shell line of the hook spells it.
                .any(|a| [
                    format!("{exe_s} approve-hook"),
                    format!("{exe_s}' approve-hook")
                ]
                .iter()
                .any(|hook| a.contains(hook))),
            "the hook is the box's walkie: {:?}",
            info.command
        );
        assert!(
            !info.command.iter().any(|a| a.contains("walkie-host")),
            "the hook names walkie, not the daemon: {:?}",
            info.command
        );
        assert!(
            !info.command.iter().any(|a| a.contains(&home_exe)),
            "{:?}",
            info.command
        );
        assert_eq!(info.cwd, user.work);

        // Its approval: the hook inside the box's session asks the box's broker, the card
        // comes to the phone, Approve runs the command.
        box_screen(&cloud.host, "api", "Claude's input box", |s| {
            Agent::Claude.input_ready(s)
        })
        .await;
        box_quiet(&cloud.host, "api").await;
        fake.send_text(OPERATOR, "create the marker");
        approve_card(&fake, Duration::from_secs(90)).await;
        let marker = user.work.join("walkie-approved");
        off_runtime(|| {
            support::host::wait_for("the approved command", Duration::from_secs(60), || {
                marker.exists().then_some(())
            })
        });

        // Codex on the box: its home in the box's state dir, nothing in the home's.
        fake.send_text(OPERATOR, "/new cx@cloud codex ~");
        bot_says(&fake, "Started cx@cloud", T).await;
        let info = off_runtime(|| cloud.host.info("cx"));
        assert!(
            info.command.iter().any(|a| a.contains(&exe_s)),
            "{:?}",
            info.command
        );
        let pid = info.pid.expect("codex runs");
        let homes = environ(pid, "CODEX_HOME");
        let box_home = cloud.host.state.join("codex-home/codex");
        assert_eq!(homes, [path_str(&box_home)], "CODEX_HOME");
        assert!(box_home.join("config.toml").is_file());
        let home_after: Vec<String> = std::fs::read_dir(&home_state)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !home_before.contains(n))
            .collect();
        assert!(
            !home_after
                .iter()
                .any(|n| n.contains("codex") || n.contains("copilot")),
            "the home state dir got {home_after:?}"
        );

        // The box's host crashes and starts again: Claude is resumed there from the box's own
        // record, its hook still the box's walkie.
        cloud.host.crash();
        cloud.host.spawn_host();
        let revived = off_runtime(|| {
            support::host::wait_for("api revived on the box", T, || {
                let i = cloud.host.info("api");
                i.state.is_live().then_some(i)
            })
        });
        assert!(
            revived.command.iter().any(|a| a == "--resume")
                && revived.command.iter().any(|a| a.contains(&exe_s)),
            "{:?}",
            revived.command
        );
        drop(rig);
    });
}
