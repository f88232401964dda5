//! `walkie hosts` and `walkie bridge` against a real sshd on 127.0.0.1 in front of a second
//! `walkie host` (the "cloud" box): adding a host, the restricted key line, trusting its host
//! key only with the right fingerprint, listing, a changed key refused, forgetting a host.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::host::{path_str, run_bounded, walkie_bin, TestHost};
use support::sshd::Sshd;

/// The home walkie: its own config file, state and socket (no host of its own runs).
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(home.config(), "").unwrap();
        home
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("walkie.toml")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(walkie_bin());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("WALKIE_CONFIG", self.config())
            .env("WALKIE_STATE_DIR", self.state())
            .env("WALKIE_SOCKET", self.dir.path().join("home.sock"))
            .current_dir(self.dir.path())
            .arg("--no-spawn")
            .args(args);
        run_bounded(cmd, Duration::from_secs(60))
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The cloud box's bridge command: its own socket and state, this build of walkie.
fn bridge_command(cloud: &TestHost) -> String {
    format!(
        "env WALKIE_SOCKET={} WALKIE_STATE_DIR={} {} --no-spawn bridge --stdio",
        path_str(&cloud.socket),
        path_str(&cloud.state),
        walkie_bin().display()
    )
}

fn line_with<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{out}"))
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn add_trust_list_and_a_changed_key_over_a_real_sshd() {
    let cloud = TestHost::start();
    cloud.ok(&["new", "work", "--", "bash", "--norc", "--noprofile"]);
    let mut sshd = Sshd::start(&cloud.dir.path().join("sshd"));
    let home = Home::new();
    std::fs::write(
        home.config(),
        "# my own notes stay\n[notify]\nquiet_after_s = 90\n",
    )
    .unwrap();
    let target = format!("{}@127.0.0.1:{}", Sshd::user(), sshd.port);

    // add: recorded, walkie's own key made, the restricted line printed, the key unknown.
    let out = home.run(&[
        "hosts",
        "add",
        "cloud",
        &target,
        "--bridge",
        &bridge_command(&cloud),
    ]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    let config = std::fs::read_to_string(home.config()).unwrap();
    assert!(
        config.contains("# my own notes stay") && config.contains("quiet_after_s = 90"),
        "{config}"
    );
    assert!(
        config.contains("[hosts.cloud]") && config.contains(&target),
        "{config}"
    );
    let key = home.state().join("ssh/id_ed25519");
    assert_eq!(mode(&key), 0o600);
    let line = line_with(&said, "restrict,command=");
    assert!(
        line.starts_with("restrict,command=\"env WALKIE_SOCKET="),
        "{line}"
    );
    assert!(line.contains(" ssh-ed25519 "), "{line}");
    let fingerprint = Sshd::fingerprint_of(&sshd.host_key);
    let probe = line_with(&said, "cloud: ");
    assert!(
        probe.contains("unknown host key") && probe.contains(&fingerprint),
        "{said}"
    );

    // The box gets exactly the printed line.
    sshd.set_authorized_keys(&format!("{line}\n"));

    // Trust needs the box's own fingerprint; a wrong one trusts nothing.
    let out = home.run(&[
        "hosts",
        "trust",
        "cloud",
        "--fingerprint",
        "SHA256:not-this-one",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!home.state().join("ssh/known_hosts").exists());
    let out = home.run(&["hosts", "trust", "cloud", "--fingerprint", &fingerprint]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        line_with(&said, "cloud: ").contains("up") && said.contains("1 session"),
        "{said}"
    );
    assert_eq!(mode(&home.state().join("ssh/known_hosts")), 0o600);
    assert!(
        !home.dir.path().join(".ssh/known_hosts").exists(),
        "the user's known_hosts is never written"
    );

    // The list: the local host (not running here) and the cloud, up, with its session.
    let out = home.run(&["hosts"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(line_with(&said, "local").contains("not running"), "{said}");
    let row = line_with(&said, "cloud ");
    assert!(
        row.contains(&target) && row.contains("up") && row.contains("1 session"),
        "{said}"
    );

    // A new host key is a hard stop, with both fingerprints.
    sshd.stop();
    sshd.new_host_key();
    sshd.restart();
    let out = home.run(&["hosts"]);
    let said = text(&out);
    let row = line_with(&said, "cloud ");
    assert!(
        row.contains("CHANGED") && row.contains(&Sshd::fingerprint_of(&sshd.host_key)),
        "{said}"
    );
    assert!(
        row.contains(&fingerprint),
        "the old key is named too: {said}"
    );

    // Forgetting the host keeps the user's own settings.
    let out = home.run(&["hosts", "rm", "cloud"]);
    assert!(out.status.success(), "{}", text(&out));
    let config = std::fs::read_to_string(home.config()).unwrap();
    assert!(
        !config.contains("[hosts.cloud]") && config.contains("# my own notes stay"),
        "{config}"
    );
}

#[test]
fn bad_hosts_are_refused_with_a_fix() {
    let home = Home::new();
    let out = home.run(&["hosts", "add", "local", "me@box"]);
    assert!(text(&out).contains("this machine"), "{}", text(&out));
    let out = home.run(&["hosts", "add", "cloud", "box"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("user@box"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(home.config()).unwrap(),
        "",
        "nothing recorded for a bad host"
    );
    let out = home.run(&["hosts", "trust", "nope"]);
    assert!(
        text(&out).contains("walkie hosts add nope"),
        "{}",
        text(&out)
    );
}

/// A home walkie with `[hosts.NAME]` for each of `names`, all in front of `cloud` through
/// `sshd`, its key installed and the box's host key trusted.
fn home_with_hosts(cloud: &TestHost, sshd: &Sshd, names: &[&str]) -> Home {
    let home = Home::new();
    let target = format!("{}@127.0.0.1:{}", Sshd::user(), sshd.port);
    let mut lines = String::new();
    for name in names {
        let out = home.run(&[
            "hosts",
            "add",
            name,
            &target,
            "--bridge",
            &bridge_command(cloud),
        ]);
        let said = text(&out);
        assert!(out.status.success(), "{said}");
        lines.push_str(line_with(&said, "restrict,command="));
        lines.push('\n');
    }
    sshd.set_authorized_keys(&lines);
    let fingerprint = Sshd::fingerprint_of(&sshd.host_key);
    let out = home.run(&["hosts", "trust", names[0], "--fingerprint", &fingerprint]);
    assert!(out.status.success(), "{}", text(&out));
    home
}

#[test]
fn sessions_on_a_remote_host_by_name_at_host() {
    let cloud = TestHost::start();
    let sshd = Sshd::start(&cloud.dir.path().join("sshd"));
    let home = home_with_hosts(&cloud, &sshd, &["cloud"]);

    let out = home.run(&["new", "api@cloud", "--", "bash", "--norc", "--noprofile"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "api");
    assert_eq!(
        cloud.info("api").name,
        "api",
        "the session is on the cloud host"
    );
    cloud.wait_screen("api", "a prompt", |s| s.contains('$') || s.contains('#'));

    let out = home.run(&["send", "api@cloud", "echo remote-$((6*7))"]);
    assert!(out.status.success(), "{}", text(&out));
    cloud.wait_screen("api", "the text typed over ssh", |s| {
        s.contains("remote-42")
    });

    // A bare name finds the one host that has it (no local host runs here).
    let out = home.run(&["screen", "api"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("remote-42"));

    // ls: a HOST column, and the local host's absence said on its own line.
    let out = home.run(&["ls"]);
    let said = text(&out);
    assert!(line_with(&said, "HOST").contains("NAME"), "{said}");
    let row = line_with(&said, "api");
    assert!(
        row.starts_with("cloud") && row.contains("running"),
        "{said}"
    );
    assert!(
        line_with(&said, "local:").contains("no walkie host"),
        "{said}"
    );

    // attach through the ssh link: the screen, typing, detach.
    let mut cmd = Command::new(walkie_bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.dir.path())
        .env("WALKIE_CONFIG", home.config())
        .env("WALKIE_STATE_DIR", home.state())
        .env("TERM", "xterm-256color")
        .args(["--no-spawn", "attach", "api@cloud"]);
    let mut t = support::term::Term::spawn(&cmd, 90, 25);
    t.wait_screen("the remote repaint", |s| s.contains("remote-42"));
    t.type_bytes(b"echo attached-$((2*21))\r");
    t.wait_screen("typing through the remote attach", |s| {
        s.contains("attached-42")
    });
    support::host::wait_for("the remote size", Duration::from_secs(10), || {
        (cloud.info("api").cols == 90).then_some(())
    });
    t.type_bytes(b"\x1cd");
    assert_eq!(t.wait_exit(), 0);
    assert!(cloud.info("api").state.is_live());
}

#[test]
fn a_bare_name_on_two_hosts_is_ambiguous() {
    let cloud = TestHost::start();
    cloud.ok(&["new", "api", "--", "bash", "--norc", "--noprofile"]);
    let sshd = Sshd::start(&cloud.dir.path().join("sshd"));
    // Two names for one box: both have `api`.
    let home = home_with_hosts(&cloud, &sshd, &["cloud", "cloud2"]);
    let out = home.run(&["screen", "api"]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("api@cloud or api@cloud2"), "{said}");
    let out = home.run(&["screen", "api@cloud2"]);
    assert!(out.status.success(), "{}", text(&out));
}
