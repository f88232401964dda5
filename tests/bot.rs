//! Integration tests of the Telegram bot: the real `walkie up` binary against a strict
//! fake Telegram Bot API server (tests/support/fake_telegram.rs) and a real session host.

// Included by path so that this test binary takes only the fake from tests/support/.
#[path = "support/fake_telegram.rs"]
mod fake_telegram;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fake_telegram::FakeTelegram;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use walkie_bot::store::{AuditRecord, Store, DB_FILE};
use walkie_session_host::client::Client;

const OPERATOR: i64 = 1001;
const STRANGER: i64 = 666;
const T: Duration = Duration::from_secs(30);

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("test took longer than 120 s")
}

/// A temp dir with a session host and, on demand, `walkie up` processes.
struct Rig {
    dir: tempfile::TempDir,
    _host: Child,
    bot: Option<Child>,
    fake_url: String,
    token: String,
}

impl Rig {
    async fn start(fake: &FakeTelegram) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rig = Rig {
            _host: Command::new(env!("CARGO_BIN_EXE_walkie"))
                .arg("host")
                .envs(base_env(dir.path()))
                .env_clear_except_base()
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file(dir.path(), "host.log"))
                .kill_on_drop(true)
                .spawn()
                .expect("spawn walkie host"),
            dir,
            bot: None,
            fake_url: fake.api_url(),
            token: fake.token().to_string(),
        };
        // Bounded wait for the host to listen (it runs in another process: poll).
        let socket = rig.socket();
        let deadline = tokio::time::Instant::now() + T;
        while Client::connect(&socket).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "host did not start; {}",
                rig.log("host.log")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rig.start_bot();
        rig
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("host.sock")
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    fn bot_command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_walkie"));
        c.arg("up")
            .envs(base_env(self.dir.path()))
            .env_clear_except_base()
            .env("TELEGRAM_BOT_TOKEN", &self.token)
            .env("WALKIE_ALLOWED_USERS", OPERATOR.to_string())
            .env("WALKIE_TELEGRAM_API_URL", &self.fake_url)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        c
    }

    fn start_bot(&mut self) {
        let mut c = self.bot_command();
        c.stderr(log_file(self.dir.path(), "bot.log"));
        self.bot = Some(c.spawn().expect("spawn walkie up"));
    }

    fn bot_pid(&self) -> Pid {
        let id = self.bot.as_ref().and_then(Child::id).expect("bot running");
        Pid::from_raw(id as i32)
    }

    async fn store(&self) -> Store {
        Store::open(&self.dir.path().join("state").join(DB_FILE))
            .await
            .expect("open the bot's store")
    }

    async fn audit(&self) -> Vec<AuditRecord> {
        let s = self.store().await;
        let a = s.audit_tail(1000).await.expect("audit");
        s.close().await;
        a
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- bot.log ---\n{}\n--- host.log ---\n{}",
                self.log("bot.log"),
                self.log("host.log")
            );
        }
        // kill_on_drop sends SIGKILL to both; the host's sessions die with their PTYs.
    }
}

/// Only what the processes need: no user config, no stray .env, no real token.
fn base_env(dir: &Path) -> Vec<(String, String)> {
    let s = |p: &Path| p.display().to_string();
    vec![
        (
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        ),
        ("HOME".into(), s(dir)),
        ("XDG_CONFIG_HOME".into(), s(&dir.join("config"))),
        ("XDG_STATE_HOME".into(), s(&dir.join("xdg-state"))),
        ("XDG_RUNTIME_DIR".into(), s(dir)),
        ("WALKIE_STATE_DIR".into(), s(&dir.join("state"))),
        ("WALKIE_SOCKET".into(), s(&dir.join("host.sock"))),
        ("SHELL".into(), "/bin/sh".into()),
        ("TERM".into(), "xterm-256color".into()),
        ("RUST_LOG".into(), "info".into()),
        ("RUST_BACKTRACE".into(), "1".into()),
    ]
}

trait ClearEnv {
    fn env_clear_except_base(&mut self) -> &mut Self;
}

impl ClearEnv for Command {
    /// Removes the test's own environment (keeping what `base_env` set).
    fn env_clear_except_base(&mut self) -> &mut Self {
        for (k, _) in std::env::vars() {
            if k.starts_with("WALKIE_") || k.starts_with("TELEGRAM_") || k.starts_with("XDG_") {
                let keep = base_env(Path::new("/")).iter().any(|(b, _)| *b == k);
                if !keep {
                    self.env_remove(&k);
                }
            }
        }
        self
    }
}

fn log_file(dir: &Path, name: &str) -> Stdio {
    std::fs::File::create(dir.join(name))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// The bot is ready once it has registered its command menu.
async fn wait_ready(fake: &FakeTelegram, registrations: usize) {
    fake.wait_until(T, "walkie up to register its commands", |s| {
        (s.calls_to("setMyCommands").filter(|c| c.ok()).count() >= registrations).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_refused_once_and_audited_and_help_is_answered() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        let menu = fake.with(|s| s.commands.clone());
        for want in [
            "new", "ls", "use", "screen", "tail", "keys", "pause", "resume", "kill", "attach",
            "help",
        ] {
            assert!(
                menu.iter().any(|(c, d)| c == want && !d.is_empty()),
                "{want} not in {menu:?}"
            );
        }

        fake.send_text(STRANGER, "/new evil sh");
        fake.send_text(STRANGER, "rm -rf /");
        fake.send_text(OPERATOR, "/help");
        // Updates are handled in order, so once /help is answered the stranger's two
        // messages have been handled and audited.
        let help = fake
            .wait_for_bot_message(OPERATOR, T, "the answer to /help", |m| {
                m.text.contains("/new")
            })
            .await;
        assert!(
            help.text.contains("/screen") && help.text.contains("/attach"),
            "{}",
            help.text
        );

        let to_stranger = fake.with(|s| {
            s.bot_messages(STRANGER)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        });
        assert_eq!(
            to_stranger.len(),
            1,
            "one refusal, nothing else: {to_stranger:?}"
        );
        assert_eq!(to_stranger[0].text, "This is a private bot.");
        let mut host = Client::connect(&rig.socket()).await.expect("host");
        assert!(
            host.list().await.expect("list").is_empty(),
            "the stranger created nothing"
        );

        let refused: Vec<_> = rig
            .audit()
            .await
            .into_iter()
            .filter(|a| a.action == "refused" && a.user_id == Some(STRANGER))
            .collect();
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert_eq!(refused[0].text.as_deref(), Some("/new evil sh"));
        assert!(
            refused[0]
                .detail
                .as_deref()
                .unwrap_or("")
                .contains("answered"),
            "{refused:?}"
        );
        assert!(
            refused[1]
                .detail
                .as_deref()
                .unwrap_or("")
                .contains("silent"),
            "{refused:?}"
        );
        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_session_and_text_show_up_on_the_live_screen() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;

        fake.send_text(OPERATOR, "/new t1 sh");
        fake.wait_for_bot_message(OPERATOR, T, "the session to start", |m| {
            m.text.starts_with("Started t1")
        })
        .await;
        fake.send_text(OPERATOR, "echo walkie-$((6*7))");
        // The command line itself shows "walkie-$((6*7))"; only its output shows 42.
        let live = fake
            .wait_for_bot_message(OPERATOR, T, "the live screen to show the output", |m| {
                m.text.contains("walkie-42") && m.raw.starts_with("<b>t1</b>")
            })
            .await;
        assert!(live.raw.contains("<pre>"), "{}", live.raw);

        let dispatched: Vec<_> = rig
            .audit()
            .await
            .into_iter()
            .filter(|a| a.action == "dispatch")
            .collect();
        assert_eq!(dispatched.len(), 1, "{dispatched:?}");
        let d = &dispatched[0];
        assert_eq!(
            (
                d.user_id,
                d.chat_id,
                d.session.as_deref(),
                d.source.as_deref(),
                d.text.as_deref()
            ),
            (
                Some(OPERATOR),
                Some(OPERATOR),
                Some("t1"),
                Some("text"),
                Some("echo walkie-$((6*7))")
            )
        );

        // `name: text` routes to another session; unknown names get a one-line answer.
        fake.send_text(OPERATOR, "/new t2 sh");
        fake.wait_for_bot_message(OPERATOR, T, "t2 to start", |m| {
            m.text.starts_with("Started t2")
        })
        .await;
        fake.send_text(OPERATOR, "t1: echo routed-$((1+1))");
        fake.wait_for_bot_message(OPERATOR, T, "t1's screen to show the routed text", |m| {
            m.raw.starts_with("<b>t1</b>") && m.text.contains("routed-2")
        })
        .await;
        fake.send_text(OPERATOR, "/screen nope");
        fake.wait_for_bot_message(OPERATOR, T, "an answer about the unknown session", |m| {
            m.text.starts_with("No session nope")
        })
        .await;
        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_never_dispatches_a_message_twice_and_sigterm_stops_cleanly() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let mut rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        fake.send_text(OPERATOR, "/new r1 sh");
        fake.wait_for_bot_message(OPERATOR, T, "r1 to start", |m| {
            m.text.starts_with("Started r1")
        })
        .await;
        fake.send_text(OPERATOR, "echo first-$((2+3))");
        fake.wait_for_bot_message(OPERATOR, T, "the first output", |m| {
            m.text.contains("first-5")
        })
        .await;

        // SIGKILL: no chance to confirm the last updates with Telegram, so they are
        // delivered again to the next bot, which must not dispatch them again.
        kill(rig.bot_pid(), Signal::SIGKILL).expect("kill");
        let status = rig.bot.as_mut().expect("bot").wait().await.expect("wait");
        assert!(!status.success());
        rig.start_bot();
        wait_ready(&fake, 2).await;
        fake.send_text(OPERATOR, "echo second-$((3+4))");
        fake.wait_for_bot_message(OPERATOR, T, "the second output", |m| {
            m.text.contains("second-7")
        })
        .await;
        let dispatched: Vec<_> = rig
            .audit()
            .await
            .into_iter()
            .filter(|a| a.action == "dispatch")
            .filter_map(|a| a.text)
            .collect();
        assert_eq!(
            dispatched,
            vec!["echo first-$((2+3))", "echo second-$((3+4))"]
        );
        let mut host = Client::connect(&rig.socket()).await.expect("host");
        let screen = host.screen("r1", false).await.expect("screen");
        assert_eq!(
            screen.matches("first-5").count(),
            1,
            "typed once:\n{screen}"
        );

        // SIGTERM (what systemd sends): a clean, prompt exit.
        kill(rig.bot_pid(), Signal::SIGTERM).expect("sigterm");
        let status = tokio::time::timeout(T, rig.bot.as_mut().expect("bot").wait())
            .await
            .expect("the bot to exit after SIGTERM")
            .expect("wait");
        assert!(status.success(), "{status:?}: {}", rig.log("bot.log"));
        assert!(
            !rig.log("bot.log").contains(fake.token()),
            "the token reached the log"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_or_allowlist_says_what_to_put_where() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let rig_like = |token: Option<&str>, users: Option<&str>| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_walkie"));
            c.arg("up")
                .envs(base_env(dir.path()))
                .env_clear_except_base()
                .env("WALKIE_TELEGRAM_API_URL", fake.api_url())
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .kill_on_drop(true);
            if let Some(t) = token {
                c.env("TELEGRAM_BOT_TOKEN", t);
            }
            if let Some(u) = users {
                c.env("WALKIE_ALLOWED_USERS", u);
            }
            c
        };
        let out = rig_like(None, Some("1")).output().await.expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("TELEGRAM_BOT_TOKEN") && err.contains(".env"),
            "{err}"
        );
        let out = rig_like(Some("1:secret-token"), None)
            .output()
            .await
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("WALKIE_ALLOWED_USERS"), "{err}");
        assert!(!err.contains("secret-token"), "{err}");
        assert!(fake.calls().is_empty(), "nothing was sent to Telegram");
    })
    .await
}
