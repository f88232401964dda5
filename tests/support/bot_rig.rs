//! The one rig of the bot's end-to-end tests (tests/bot.rs, tests/approvals.rs): a real
//! session host ([`TestHost`]) in a temp dir and the real `walkie up` against the fake
//! Telegram server, restartable, with the bot's store and logs at hand.
//!
//! Included by path (`#[path = "support/bot_rig.rs"]`) beside `fake_telegram`, which it
//! uses from the test crate's root.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use walkie_console::store::{AuditRecord, Store, DB_FILE};

use crate::fake_telegram::FakeTelegram;
use crate::support::host::TestHost;

/// The allowlisted user of every bot test.
pub const OPERATOR: i64 = 1001;

/// A host, and `walkie up` (restartable) talking to one fake Telegram server.
pub struct BotRig {
    pub host: TestHost,
    pub bot: Option<Child>,
    /// How many times `walkie up` was started.
    pub starts: usize,
    fake_url: String,
    token: String,
    /// Extra environment for `walkie up`.
    bot_env: Vec<(String, String)>,
}

impl BotRig {
    /// Starts a host and `walkie up`. `host_env`: extra environment of every `walkie`
    /// process (host, bot, CLI); `bot_env`: of the bot only; `toml`: a walkie.toml for all
    /// of them, where `{dir}` stands for the test's directory. Does not wait for the bot.
    pub async fn start(
        fake: &FakeTelegram,
        host_env: &[(&str, &str)],
        bot_env: &[(&str, &str)],
        toml: Option<&str>,
    ) -> BotRig {
        let owned = |env: &[(&str, &str)]| -> Vec<(String, String)> {
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let host_env = owned(host_env);
        let toml = toml.map(str::to_string);
        let host = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = host_env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            // The config is written before the host starts, so that it reads it too.
            let dir = tempfile::Builder::new()
                .prefix("wk")
                .tempdir_in("/tmp")
                .expect("tempdir");
            let mut env = env;
            let path = dir.path().join("walkie.toml");
            let path_s = path.display().to_string();
            if let Some(t) = &toml {
                let t = t.replace("{dir}", &dir.path().display().to_string());
                std::fs::write(&path, t).expect("walkie.toml");
                env.push(("WALKIE_CONFIG", &path_s));
            }
            TestHost::start_in(dir, &env)
        })
        .await
        .expect("host");
        let mut rig = BotRig {
            host,
            bot: None,
            starts: 0,
            fake_url: fake.api_url(),
            token: fake.token().to_string(),
            bot_env: owned(bot_env),
        };
        rig.start_bot();
        rig
    }

    /// `walkie up` with this rig's environment, not yet spawned.
    pub fn bot_command(&self) -> Command {
        let mut c = Command::from(self.host.command());
        c.arg("up")
            .env("TELEGRAM_BOT_TOKEN", &self.token)
            .env("WALKIE_ALLOWED_USERS", OPERATOR.to_string())
            .env("WALKIE_TELEGRAM_API_URL", &self.fake_url)
            .envs(self.bot_env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// Starts `walkie up` (again), its stderr appended to `bot.log`.
    pub fn start_bot(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.host.dir.path().join("bot.log"))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null());
        let mut c = self.bot_command();
        c.stderr(log);
        self.bot = Some(c.spawn().expect("spawn walkie up"));
        self.starts += 1;
    }

    /// SIGKILL: the bot dies mid-flight, as in a crash.
    pub async fn kill_bot(&mut self) {
        if let Some(mut b) = self.bot.take() {
            let _ = b.kill().await;
        }
    }

    pub fn bot_pid(&self) -> Pid {
        let id = self.bot.as_ref().and_then(Child::id).expect("bot running");
        Pid::from_raw(id as i32)
    }

    /// Sends `sig` to the bot.
    pub fn signal_bot(&self, sig: Signal) {
        kill(self.bot_pid(), sig).expect("signal the bot");
    }

    pub fn socket(&self) -> PathBuf {
        self.host.socket.clone()
    }

    /// The bot's stderr.
    pub fn bot_log(&self) -> String {
        std::fs::read_to_string(self.host.dir.path().join("bot.log")).unwrap_or_default()
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.host.state.join(DB_FILE))
            .await
            .expect("open the bot's store")
    }

    /// The whole audit log, oldest first.
    pub async fn audit(&self) -> Vec<AuditRecord> {
        let s = self.store().await;
        let a = s.audit_tail(1000).await.expect("audit");
        s.close().await;
        a
    }

    /// Waits (bounded) until `walkie up` has registered its commands `n` times: the n-th
    /// start polls.
    pub async fn wait_started(&self, fake: &FakeTelegram, n: usize, within: Duration) {
        fake.wait_until(within, "walkie up to register its commands", |s| {
            (s.calls_to("setMyCommands").filter(|c| c.ok()).count() >= n).then_some(())
        })
        .await;
    }
}

/// `/new NAME sh`, waiting (30 s) for the bot to say it started.
pub async fn new_sh(fake: &FakeTelegram, name: &str) {
    fake.send_text(OPERATOR, &format!("/new {name} sh"));
    let started = format!("Started {name}");
    fake.wait_for_bot_message(
        OPERATOR,
        Duration::from_secs(30),
        "the session to start",
        |m| m.text.starts_with(&started),
    )
    .await;
}

/// The network cards ("NAME wants to reach HOST:PORT") the operator's chat got: an agent's
/// start under its preset's boundary must raise none.
pub fn network_cards(fake: &FakeTelegram) -> Vec<String> {
    fake.with(|s| {
        s.bot_messages(OPERATOR)
            .iter()
            .filter(|m| m.text.contains(" wants to reach "))
            .map(|m| m.text.clone())
            .collect()
    })
}

impl Drop for BotRig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- bot.log ---\n{}\n--- host ---\n{}",
                self.bot_log(),
                self.host.host_log()
            );
        }
        // The bot first: stopped after the host, it would start a new host in this test's
        // directory (its link starts one when none answers), which then outlived the test.
        if let Some(mut b) = self.bot.take() {
            if let Some(id) = b.id() {
                let _ = kill(Pid::from_raw(id as i32), Signal::SIGKILL);
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while std::time::Instant::now() < deadline {
                    if !matches!(b.try_wait(), Ok(None)) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        // Then the host's Drop ends the host.
    }
}
