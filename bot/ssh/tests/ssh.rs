//! walkie-ssh against a real sshd on 127.0.0.1 (tests/support/sshd.rs): channels, host
//! keys, authentication, liveness and reconnection.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::sshd::Sshd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use walkie_ssh::{
    is_link_lost, trust, Auth, Channel, Error, HostConfig, HostKeyCheck, Link, LinkState,
};

/// Every test's overall bound.
const BOUND: Duration = Duration::from_secs(60);

struct Box_ {
    dir: tempfile::TempDir,
    sshd: Sshd,
}

impl Box_ {
    fn start() -> Box_ {
        let dir = tempfile::tempdir().unwrap();
        let sshd = Sshd::start(&dir.path().join("sshd"));
        Box_ { dir, sshd }
    }

    fn own_known_hosts(&self) -> PathBuf {
        self.dir.path().join("walkie").join("known_hosts")
    }

    /// A config for this box with the sshd's client key; the user's ~/.ssh/known_hosts
    /// stays out of the tests.
    fn config(&self) -> HostConfig {
        let target = format!("{}@127.0.0.1:{}", Sshd::user(), self.sshd.port);
        let mut c = HostConfig::new(
            "cloud",
            &target,
            Auth::KeyFile(self.sshd.key.clone()),
            self.own_known_hosts(),
        )
        .unwrap();
        c.user_known_hosts = None;
        c
    }

    /// A box whose key walkie trusts, and a link to it that is up.
    async fn up() -> (Box_, Link) {
        let b = Box_::start();
        b.trust_host_key();
        let link = Link::start(b.config()).unwrap();
        up(&link).await;
        (b, link)
    }

    /// Puts the sshd's current host key into walkie's known_hosts.
    fn trust_host_key(&self) {
        let file = self.own_known_hosts();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
            &file,
            self.sshd.known_hosts_line(&self.sshd.host_key) + "\n",
        )
        .unwrap();
    }
}

async fn bounded<F: std::future::Future>(what: &str, d: Duration, f: F) -> F::Output {
    tokio::time::timeout(d, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {d:?} waiting for {what}"))
}

/// Waits (by watching the state, no polling) until `pred` holds.
async fn wait_state(
    rx: &mut watch::Receiver<LinkState>,
    what: &str,
    d: Duration,
    pred: impl Fn(&LinkState) -> bool,
) -> LinkState {
    bounded(what, d, rx.wait_for(|s| pred(s)))
        .await
        .expect("the link's thread ended")
        .clone()
}

async fn up(link: &Link) {
    let mut rx = link.state();
    let st = wait_state(&mut rx, "the link up", Duration::from_secs(20), |s| {
        s.is_up() || matches!(s, LinkState::Down { why, .. } if why.needs_user())
    })
    .await;
    assert!(st.is_up(), "link not up: {st:?}");
}

async fn down(rx: &mut watch::Receiver<LinkState>, d: Duration) -> LinkState {
    wait_state(rx, "the link down", d, |s| {
        matches!(s, LinkState::Down { .. })
    })
    .await
}

fn down_why(st: &LinkState) -> Option<&Error> {
    match st {
        LinkState::Down { why, .. } => Some(why),
        _ => None,
    }
}

/// Writes `data` and shuts the write half while reading everything back.
async fn echo(ch: Channel, data: Vec<u8>) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(ch);
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    drop(writer.await.unwrap());
    got
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn accepted_logins(sshd: &Sshd) -> usize {
    sshd.log().matches("Accepted publickey").count()
}

#[tokio::test]
async fn exec_cat_echoes_both_ways_with_exit_status() {
    bounded("the test", BOUND, async {
        let (_b, link) = Box_::up().await;

        let mut ch = link.exec("cat").await.unwrap();
        let exit = ch.take_exit().unwrap();
        let data = pattern(7, 3 * 1024 * 1024 + 17);
        let got = echo(ch, data.clone()).await;
        assert_eq!(got.len(), data.len());
        assert!(got == data, "cat returned other bytes");
        let st = bounded("cat's exit", Duration::from_secs(10), exit.wait())
            .await
            .unwrap();
        assert_eq!(st.code, Some(0));

        let mut ch = link
            .exec("echo oops >&2; printf out; exit 3")
            .await
            .unwrap();
        let exit = ch.take_exit().unwrap();
        let mut out = String::new();
        ch.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "out");
        let st = exit.wait().await.unwrap();
        assert_eq!(
            (st.code, st.signal.as_deref(), st.stderr.as_str()),
            (Some(3), None, "oops\n")
        );

        let mut ch = link.exec("kill -TERM $$").await.unwrap();
        let exit = ch.take_exit().unwrap();
        let mut out = Vec::new();
        ch.read_to_end(&mut out).await.unwrap();
        let st = exit.wait().await.unwrap();
        assert_eq!((st.code, st.signal.as_deref()), (None, Some("TERM")));
    })
    .await;
}

#[tokio::test]
async fn many_channels_share_one_connection() {
    bounded("the test", BOUND, async {
        let (b, link) = Box_::up().await;
        let link = std::sync::Arc::new(link);
        // Opened and used all at once; sshd's MaxSessions is 10 per connection.
        let mut tasks = Vec::new();
        for i in 0..10u8 {
            let link = link.clone();
            tasks.push(tokio::spawn(async move {
                let ch = link.exec("cat").await.unwrap();
                let data = pattern(i, 200_000 + i as usize);
                (echo(ch, data.clone()).await == data, i)
            }));
        }
        for t in tasks {
            let (same, i) = t.await.unwrap();
            assert!(same, "channel {i} echoed other bytes");
        }
        // Beyond MaxSessions the box refuses that channel, clearly, and only that one.
        let mut held = Vec::new();
        for _ in 0..10 {
            held.push(link.exec("cat").await.unwrap());
        }
        match link.exec("cat").await {
            Err(Error::ChannelRefused(m)) => eprintln!("11th session: {m}"),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("sshd allowed 11 sessions"),
        }
        // Dropped channels close in the background; their slots come back.
        drop(held);
        let ch = bounded("a session slot", Duration::from_secs(5), async {
            loop {
                match link.exec("cat").await {
                    Ok(ch) => break ch,
                    Err(Error::ChannelRefused(_)) => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Err(other) => panic!("unexpected error {other}"),
                }
            }
        })
        .await;
        assert_eq!(echo(ch, b"still up".to_vec()).await, b"still up");
        assert_eq!(
            accepted_logins(&b.sshd),
            1,
            "one connection carried every channel"
        );
    })
    .await;
}

#[tokio::test]
async fn a_slow_reader_holds_the_box_back_without_loss() {
    bounded("the test", BOUND, async {
        let (_b, link) = Box_::up().await;
        // 64 MB out of the box; nothing read for a while: the channel window and the
        // bounded queues hold it back (the box's `head` blocks), then it all arrives.
        let mut ch = link.exec("head -c 67108864 /dev/zero").await.unwrap();
        let mut first = [0u8; 1];
        ch.read_exact(&mut first).await.unwrap();
        let probe = link.exec("printf alive").await.unwrap();
        let mut s = String::new();
        let mut probe = probe;
        probe.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "alive", "a stalled channel does not stall the others");
        let t = Instant::now();
        let mut total = 1u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = ch.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            assert!(buf[..n].iter().all(|b| *b == 0));
            total += n as u64;
        }
        assert_eq!(total, 64 << 20);
        eprintln!("64 MB from the box in {:?}", t.elapsed());
    })
    .await;
}

#[tokio::test]
async fn direct_streamlocal_reaches_a_unix_socket() {
    bounded("the test", BOUND, async {
        let b = Box_::start();
        b.trust_host_key();
        let sock = b.dir.path().join("app.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(b"pong:").await.unwrap();
            s.write_all(&buf).await.unwrap();
            s.shutdown().await.unwrap();
            // EOF from the client side propagates to the socket.
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.unwrap();
            rest
        });
        let link = Link::start(b.config()).unwrap();
        up(&link).await;
        let mut ch = link.streamlocal(sock.to_str().unwrap()).await.unwrap();
        ch.write_all(b"ping").await.unwrap();
        let mut got = Vec::new();
        ch.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"pong:ping");
        ch.write_all(b"tail").await.unwrap();
        ch.shutdown().await.unwrap();
        assert_eq!(server.await.unwrap(), b"tail");

        let missing = b.dir.path().join("missing.sock");
        match link.streamlocal(missing.to_str().unwrap()).await {
            Err(Error::ChannelRefused(m)) => assert!(m.contains("missing.sock"), "{m}"),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a missing socket opened"),
        }
        assert!(
            link.state().borrow().is_up(),
            "a refused channel leaves the link up"
        );
    })
    .await;
}

#[tokio::test]
async fn unknown_key_sends_nothing_until_trusted() {
    bounded("the test", BOUND, async {
        let b = Box_::start();
        let link = Link::start(b.config()).unwrap();
        let mut rx = link.state();
        let st = down(&mut rx, Duration::from_secs(20)).await;
        let key = match down_why(&st) {
            Some(Error::HostKey(check)) => match check.as_ref() {
                HostKeyCheck::Unknown(key) => key.clone(),
                other => panic!("expected Unknown, got {other:?}"),
            },
            other => panic!("expected a host-key stop, got {other:?}"),
        };
        assert_eq!(key.key_type, "ssh-ed25519");
        assert_eq!(key.fingerprint(), Sshd::fingerprint_of(&b.sshd.host_key));
        let marker = b.dir.path().join("marker");
        let cmd = format!("touch {}", marker.display());
        assert!(matches!(link.exec(&cmd).await, Err(Error::NotUp(_))));
        assert!(!marker.exists());
        assert_eq!(
            accepted_logins(&b.sshd),
            0,
            "no authentication to an untrusted box"
        );
        assert!(!b.own_known_hosts().exists(), "nothing trusted silently");

        trust(&b.own_known_hosts(), &key).unwrap();
        link.reconnect_now();
        // The stop is over once the thread acts on the request.
        wait_state(&mut rx, "the reconnection", Duration::from_secs(5), |s| {
            !matches!(s, LinkState::Down { .. })
        })
        .await;
        up(&link).await;
        let mut ch = link.exec(&cmd).await.unwrap();
        let exit = ch.take_exit().unwrap();
        assert_eq!(exit.wait().await.unwrap().code, Some(0));
        assert!(marker.exists());
    })
    .await;
}

#[tokio::test]
async fn hashed_entries_in_the_users_file_are_trusted() {
    bounded("the test", BOUND, async {
        let b = Box_::start();
        let user_file = b.dir.path().join("user_known_hosts");
        std::fs::write(&user_file, b.sshd.known_hosts_line(&b.sshd.host_key) + "\n").unwrap();
        let out = std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&user_file)
            .output()
            .unwrap();
        assert!(out.status.success());
        let hashed = std::fs::read_to_string(&user_file).unwrap();
        assert!(hashed.starts_with("|1|"), "{hashed}");
        let mut config = b.config();
        config.user_known_hosts = Some(user_file.clone());
        let link = Link::start(config).unwrap();
        up(&link).await;
        assert_eq!(
            std::fs::read_to_string(&user_file).unwrap(),
            hashed,
            "the user's file is untouched"
        );
        assert!(!b.own_known_hosts().exists());
    })
    .await;
}

#[tokio::test]
async fn changed_key_is_a_hard_stop() {
    bounded("the test", BOUND, async {
        let mut b = Box_::start();
        b.trust_host_key();
        let old = Sshd::fingerprint_of(&b.sshd.host_key);
        let link = Link::start(b.config()).unwrap();
        up(&link).await;
        b.sshd.stop();
        b.sshd.new_host_key();
        b.sshd.restart();
        let new = Sshd::fingerprint_of(&b.sshd.host_key);
        assert_ne!(old, new);
        let mut rx = link.state();
        let st = wait_state(&mut rx, "a host-key stop", Duration::from_secs(20), |s| {
            matches!(down_why(s), Some(Error::HostKey(_)))
        })
        .await;
        match down_why(&st) {
            Some(Error::HostKey(check)) => match check.as_ref() {
                HostKeyCheck::Changed { key, old: held } => {
                    assert_eq!(key.fingerprint(), new);
                    assert_eq!(held, &vec![old.clone()]);
                }
                other => panic!("expected Changed, got {other:?}"),
            },
            _ => unreachable!(),
        }
        let text = down_why(&st).unwrap().to_string();
        assert!(
            text.contains("CHANGED") && text.contains(&old) && text.contains(&new),
            "{text}"
        );
        assert!(matches!(link.exec("true").await, Err(Error::NotUp(_))));
        assert_eq!(
            accepted_logins(&b.sshd),
            0,
            "nothing sent to a box whose key changed"
        );
    })
    .await;
}

#[tokio::test]
async fn host_key_algorithms_follow_known_hosts() {
    bounded("the test", BOUND, async {
        let mut b = Box_::start();
        // The box has an ed25519 and an ecdsa key; walkie's file holds only one of them.
        let ecdsa = b.sshd.add_host_key("ecdsa");
        b.sshd.stop();
        b.sshd.restart();
        for held in [b.sshd.host_key.clone(), ecdsa] {
            let file = b.own_known_hosts();
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, b.sshd.known_hosts_line(&held) + "\n").unwrap();
            let link = Link::start(b.config()).unwrap();
            up(&link).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_key_restricted_to_one_command_works_for_exec() {
    bounded("the test", BOUND, async {
        let b = Box_::start();
        b.trust_host_key();
        let line = walkie_ssh::authorized_keys_line("cat", &b.sshd.client_public_key()).unwrap();
        assert!(
            line.starts_with("restrict,command=\"cat\" ssh-ed25519 "),
            "{line}"
        );
        b.sshd.set_authorized_keys(&(line + "\n"));
        let link = Link::start(b.config()).unwrap();
        up(&link).await;
        // Whatever is asked, the box runs cat.
        let ch = link.bridge().await.unwrap();
        assert_eq!(echo(ch, b"frames".to_vec()).await, b"frames");
        // `restrict` forbids forwarding.
        let sock = b.dir.path().join("app.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert!(matches!(
            link.streamlocal(sock.to_str().unwrap()).await,
            Err(Error::ChannelRefused(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn wrong_key_gets_the_line_to_install() {
    bounded("the test", BOUND, async {
        let b = Box_::start();
        b.trust_host_key();
        let walkie_key = b.dir.path().join("keys").join("walkie_ed25519");
        let mut config = b.config();
        config.auth = Auth::KeyFile(walkie_key.clone());
        config.bridge_command = "/opt/walkie bridge --stdio".into();
        let link = Link::start(config).unwrap();
        let mut rx = link.state();
        let st = down(&mut rx, Duration::from_secs(20)).await;
        let why = down_why(&st).unwrap();
        assert!(matches!(why, Error::AuthRefused { .. }), "{why:?}");
        assert!(why.needs_user());
        let public = std::fs::read_to_string(walkie_key.with_extension("pub")).unwrap();
        let b64 = public.split_whitespace().nth(1).unwrap();
        let text = why.to_string();
        assert!(
            text.contains("the key is not installed on the box yet"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "restrict,command=\"/opt/walkie bridge --stdio\" ssh-ed25519 {b64}"
            )),
            "{text}"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&walkie_key).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "walkie's key was made private");
    })
    .await;
}

#[tokio::test]
async fn unreachable_box_says_so() {
    bounded("the test", BOUND, async {
        let b = Box_::start();
        b.trust_host_key();
        let mut b = b;
        b.sshd.stop();
        let link = Link::start(b.config()).unwrap();
        let mut rx = link.state();
        let st = down(&mut rx, Duration::from_secs(20)).await;
        let why = down_why(&st).unwrap();
        assert!(matches!(why, Error::Unreachable { .. }), "{why:?}");
        assert!(!why.needs_user(), "retried on a timer");
        b.sshd.restart();
        let t = Instant::now();
        up(&link).await;
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "back after {:?}",
            t.elapsed()
        );
    })
    .await;
}

#[tokio::test]
async fn link_goes_down_when_the_box_dies_and_comes_back() {
    bounded("the test", BOUND, async {
        let (mut b, link) = Box_::up().await;
        let mut ch = link.exec("cat").await.unwrap();
        ch.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        ch.read_exact(&mut one).await.unwrap();

        let mut rx = link.state();
        let t = Instant::now();
        b.sshd.stop();
        let st = down(&mut rx, Duration::from_secs(15)).await;
        let down_after = t.elapsed();
        assert!(matches!(down_why(&st), Some(Error::LinkLost(_))), "{st:?}");
        let err = ch
            .read(&mut one)
            .await
            .expect_err("a dead link reads as an error, not EOF");
        assert!(is_link_lost(&err), "{err:?}");

        b.sshd.restart();
        let t = Instant::now();
        up(&link).await;
        let up_after = t.elapsed();
        assert!(up_after < Duration::from_secs(5), "back after {up_after:?}");
        eprintln!("down detected after {down_after:?}, up again {up_after:?} after the restart");
        let ch = link.exec("cat").await.unwrap();
        assert_eq!(echo(ch, b"again".to_vec()).await, b"again");
    })
    .await;
}

#[tokio::test]
async fn the_agent_is_tried_through_an_explicit_socket() {
    bounded("the test", BOUND, async {
        let b = Box_::start();
        b.trust_host_key();
        let sock = b.dir.path().join("agent.sock");
        let _agent = Agent(
            std::process::Command::new("ssh-agent")
                .arg("-D")
                .arg("-a")
                .arg(&sock)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        support::wait::wait_for("the agent socket", Duration::from_secs(10), || {
            sock.exists().then_some(())
        });
        // A key the box does not know first, then the right one: every identity is tried.
        let other = b.dir.path().join("other_key");
        walkie_ssh::ensure_key(&other, "other").unwrap();
        for key in [other.as_path(), b.sshd.key.as_path()] {
            let out = std::process::Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &sock)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ssh-add: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut config = b.config();
        config.auth = Auth::Agent {
            socket: Some(sock.clone()),
        };
        let link = Link::start(config).unwrap();
        up(&link).await;
        let ch = link.exec("cat").await.unwrap();
        assert_eq!(echo(ch, b"via agent".to_vec()).await, b"via agent");
    })
    .await;
}

/// The test's ssh-agent, ended (by its pid) however the test ends.
struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_failed_application_ping_takes_the_link_down_and_back() {
    bounded("the test", BOUND, async {
        let (b, link) = Box_::up().await;
        let mut ch = link.exec("cat").await.unwrap();
        let mut rx = link.state();
        link.mark_down("no pong for 10 s");
        let st = down(&mut rx, Duration::from_secs(5)).await;
        assert!(
            down_why(&st)
                .unwrap()
                .to_string()
                .contains("no pong for 10 s"),
            "{st:?}"
        );
        let mut one = [0u8; 1];
        let err = ch.read(&mut one).await.expect_err("not a clean EOF");
        assert!(is_link_lost(&err), "{err:?}");
        up(&link).await;
        assert_eq!(accepted_logins(&b.sshd), 2, "a new connection");
    })
    .await;
}

/// Set in the child run that `a_silent_box_is_down_within_15_s` starts in its own network
/// namespace.
const IN_NETNS: &str = "WALKIE_SSH_TEST_IN_NETNS";

/// A box that goes silent (no FIN, no RST: its loopback taken down, as a cut cable) is
/// down within 15 s by the socket deadline, and back within 5 s of the network returning.
/// Runs itself again inside `unshare -n` (root, as CI is) so only a private loopback goes
/// down.
#[test]
fn a_silent_box_is_down_within_15_s() {
    if std::env::var_os(IN_NETNS).is_some() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        return rt.block_on(bounded("the test", BOUND, silent_box()));
    }
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "-n",
        "sh",
        "-c",
        "ip link set lo up && exec \"$0\" --exact a_silent_box_is_down_within_15_s --nocapture",
    ])
    .arg(std::env::current_exe().unwrap())
    .env(IN_NETNS, "1");
    let out = support::wait::run_bounded(cmd, Duration::from_secs(90));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the run in a network namespace (needs root and iproute2) failed:\n{text}"
    );
    eprintln!(
        "{}",
        text.lines()
            .filter(|l| l.contains("silent box"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn loopback(up: bool) {
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["link", "set", "lo", if up { "up" } else { "down" }]);
    let out = support::wait::run_bounded(cmd, Duration::from_secs(10));
    assert!(
        out.status.success(),
        "ip link: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn silent_box() {
    let (_b, link) = Box_::up().await;
    let mut ch = link.exec("cat").await.unwrap();
    ch.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    ch.read_exact(&mut one).await.unwrap();
    let mut rx = link.state();
    loopback(false);
    let t = Instant::now();
    let st = down(&mut rx, Duration::from_secs(25)).await;
    let down_after = t.elapsed();
    let why = down_why(&st).unwrap().to_string();
    assert!(why.contains("no answer"), "{why}");
    assert!(
        down_after <= Duration::from_secs(16),
        "down after {down_after:?}"
    );
    let err = ch
        .read(&mut one)
        .await
        .expect_err("a dead link reads as an error");
    assert!(is_link_lost(&err), "{err:?}");
    loopback(true);
    let t = Instant::now();
    up(&link).await;
    let up_after = t.elapsed();
    assert!(up_after < Duration::from_secs(5), "back after {up_after:?}");
    eprintln!("silent box: down after {down_after:?}, up {up_after:?} after the network returned");
}
