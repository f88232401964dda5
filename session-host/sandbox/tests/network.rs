//! The allowlist proxy: on its own (decisions, timeouts, the blocked log) and from inside a
//! real bwrap sandbox through the loopback relay, with curl as the client. Test names map to
//! 127.0.0.1 in the proxy's resolver.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{bwrap_mechanism, fixture, run, LIMIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use walkie_sandbox::{
    AccessRequest, Decide, Decision, NetworkMode, Proxy, ProxyOptions, Resolver, Unasked,
};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// An HTTP server on 127.0.0.1 answering "hello PATH" to every request.
async fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split(' ').nth(1).unwrap_or("?").to_string();
                let body = format!("hello {path}\n");
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
    port
}

type Asks = mpsc::Receiver<(AccessRequest, oneshot::Sender<Decision>)>;

/// A decision callback that hands every question to the test.
fn asking() -> (Decide, Asks) {
    let (tx, rx) = mpsc::channel(16);
    let decide: Decide = Arc::new(move |req| {
        let tx = tx.clone();
        Box::pin(async move {
            let (answer, wait) = oneshot::channel();
            if tx.send((req, answer)).await.is_err() {
                return Decision::Deny {
                    reason: "denied by the user".into(),
                };
            }
            wait.await.unwrap_or(Decision::Deny {
                reason: "denied by the user".into(),
            })
        })
    });
    (decide, rx)
}

fn options(ask_timeout: Duration) -> ProxyOptions {
    ProxyOptions {
        allow: vec!["allowed.test".into()],
        ask_timeout,
        log_capacity: 2,
        resolver: Resolver::default()
            .with_override("allowed.test", LOCAL)
            .with_override("other.test", LOCAL)
            .with_override("tip.test", LOCAL),
        ..ProxyOptions::default()
    }
}

async fn ask(asks: &mut Asks) -> (AccessRequest, oneshot::Sender<Decision>) {
    tokio::time::timeout(LIMIT, asks.recv())
        .await
        .expect("no question within the limit")
        .expect("callback gone")
}

/// One raw request through the proxy socket; the whole response.
/// The phone's Deny.
fn deny(answer: oneshot::Sender<Decision>) {
    answer
        .send(Decision::Deny {
            reason: "denied by the user".into(),
        })
        .unwrap();
}

async fn through(socket: &Path, request: &str) -> String {
    let mut conn = UnixStream::connect(socket).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(LIMIT, conn.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn proxy_decisions_timeouts_and_the_blocked_log() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("p.sock");
    let port = http_server().await;
    let (decide, mut asks) = asking();
    let proxy = Proxy::bind(&socket, options(Duration::from_millis(300)), decide)
        .await
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Allowed by the list: absolute form, no question.
    let out = through(
        &socket,
        &format!("GET http://allowed.test:{port}/a HTTP/1.1\r\nHost: allowed.test\r\n\r\n"),
    )
    .await;
    assert!(out.ends_with("hello /a\n"), "{out}");

    // Allow for this session: asked once, then on the list.
    let req = format!("GET http://other.test:{port}/s HTTP/1.1\r\nHost: other.test\r\n\r\n");
    let pending = tokio::spawn({
        let (socket, req) = (socket.clone(), req.clone());
        async move { through(&socket, &req).await }
    });
    let (q, answer) = ask(&mut asks).await;
    assert_eq!(
        q,
        AccessRequest {
            host: "other.test".into(),
            port
        }
    );
    answer.send(Decision::AllowSession).unwrap();
    assert!(pending.await.unwrap().ends_with("hello /s\n"));
    assert!(through(&socket, &req).await.ends_with("hello /s\n"));
    assert!(
        asks.try_recv().is_err(),
        "asked again after allow-for-session"
    );
    assert_eq!(
        proxy.allowed(),
        vec!["allowed.test".to_string(), "other.test".to_string()]
    );

    // No answer: denied after the timeout, with the reason, and logged.
    let out = through(&socket, "CONNECT slow.test:443 HTTP/1.1\r\n\r\n").await;
    let (_q, _unanswered) = ask(&mut asks).await;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(
        out.contains(
            "connection to slow.test:443 denied: not on the allowlist and no answer within"
        ),
        "{out}"
    );

    // Bad requests get a 400 and reach nobody.
    let out = through(&socket, "GET /relative HTTP/1.1\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");

    // The ring keeps the last two blocked attempts.
    for host in ["a.test", "b.test"] {
        let pending = tokio::spawn({
            let socket = socket.clone();
            let req = format!("CONNECT {host}:443 HTTP/1.1\r\n\r\n");
            async move { through(&socket, &req).await }
        });
        let (_, answer) = ask(&mut asks).await;
        deny(answer);
        assert!(pending.await.unwrap().contains("denied by the user"));
    }
    let blocked: Vec<String> = proxy
        .blocked()
        .iter()
        .map(|b| format!("{}:{} {}", b.host, b.port, b.reason))
        .collect();
    assert_eq!(
        blocked,
        vec![
            "a.test:443 denied by the user",
            "b.test:443 denied by the user"
        ]
    );

    drop(proxy);
    assert!(!socket.exists(), "the socket outlived the proxy");
}

#[tokio::test]
async fn an_unasked_domain_is_denied_without_a_question_until_it_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("p.sock");
    let port = http_server().await;
    let (decide, mut asks) = asking();
    let opts = ProxyOptions {
        unasked: vec![Unasked {
            rule: "tip.test".into(),
            why: "the agent's announcement tip, fetched at every start".into(),
        }],
        ..options(Duration::from_secs(30))
    };
    let proxy = Proxy::bind(&socket, opts, decide).await.unwrap();
    let req = format!("GET http://tip.test:{port}/tip HTTP/1.1\r\nHost: tip.test\r\n\r\n");
    // Bounded: a question would wait for the 30 s ask timeout.
    let out = tokio::time::timeout(Duration::from_secs(5), through(&socket, &req))
        .await
        .expect("an unasked domain waited for an answer");
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(
        out.contains("denied without asking: the agent's announcement tip, fetched at every start (allow tip.test to let it through)"),
        "{out}"
    );
    assert!(asks.try_recv().is_err(), "the phone was asked");
    let blocked: Vec<(String, u16)> = proxy
        .blocked()
        .iter()
        .map(|b| (b.host.clone(), b.port))
        .collect();
    assert_eq!(blocked, vec![("tip.test".to_string(), port)], "on the card");
    // Other names still ask.
    let other = tokio::spawn({
        let socket = socket.clone();
        async move { through(&socket, "CONNECT other.test:443 HTTP/1.1\r\n\r\n").await }
    });
    let (q, answer) = ask(&mut asks).await;
    assert_eq!(q.host, "other.test");
    deny(answer);
    assert!(other.await.unwrap().contains("denied by the user"));
    // An allow rule (the card's Allow domain) wins over the quiet denial.
    proxy.allow_domain("tip.test");
    assert!(through(&socket, &req).await.ends_with("hello /tip\n"));
    assert!(asks.try_recv().is_err(), "the phone was asked");
}

#[tokio::test]
async fn concurrent_connections_to_one_target_share_one_question() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("p.sock");
    let port = http_server().await;
    let (decide, mut asks) = asking();
    let proxy = Proxy::bind(&socket, options(LIMIT), decide).await.unwrap();
    let waiting = |n: usize| {
        let proxy = &proxy;
        async move {
            let deadline = tokio::time::Instant::now() + LIMIT;
            while proxy.waiting() != n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} waiting, not {n}",
                    proxy.waiting()
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let get = |path: &str| {
        let socket = socket.clone();
        let req =
            format!("GET http://other.test:{port}/{path} HTTP/1.1\r\nHost: other.test\r\n\r\n");
        tokio::spawn(async move { through(&socket, &req).await })
    };

    // Allow once: the asker passes, the one waiting on the same question asks again.
    let first = get("1");
    let (_, answer) = ask(&mut asks).await;
    let second = get("2");
    waiting(2).await;
    answer.send(Decision::AllowOnce).unwrap();
    assert!(first.await.unwrap().ends_with("hello /1\n"));
    let (q, answer) = ask(&mut asks).await;
    assert_eq!(q.host, "other.test");
    deny(answer);
    assert!(second.await.unwrap().contains("denied by the user"));

    // Allow for the session answers every waiting connection with one question.
    let conns: Vec<_> = (0..3).map(|i| get(&format!("s{i}"))).collect();
    let (_, answer) = ask(&mut asks).await;
    waiting(3).await;
    answer.send(Decision::AllowSession).unwrap();
    for (i, conn) in conns.into_iter().enumerate() {
        assert!(conn.await.unwrap().ends_with(&format!("hello /s{i}\n")));
    }
    assert!(asks.try_recv().is_err(), "more than one question");
    assert_eq!(proxy.waiting(), 0);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_not_connected() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("p.sock");
    let port = http_server().await;
    let (decide, _asks) = asking();
    let mut opts = options(LIMIT);
    opts.allow.push("localhost".into());
    let _proxy = Proxy::bind(&socket, opts, decide).await.unwrap();
    let out = through(
        &socket,
        &format!("CONNECT localhost:{port} HTTP/1.1\r\n\r\n"),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
    assert!(
        out.contains("resolves to no address outside this machine"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlist_inside_bwrap_passes_allowed_names_asks_for_others() {
    let Some(mechanism) = bwrap_mechanism() else {
        return;
    };
    let fx = fixture();
    let port = http_server().await;
    let socket = fx.root.join("p.sock");
    let (decide, mut asks) = asking();
    let proxy = Proxy::bind(&socket, options(LIMIT), decide).await.unwrap();
    let script = format!(
        r#"
curl -sS -p --max-time 20 http://allowed.test:{port}/tunnel
curl -sS --max-time 20 http://allowed.test:{port}/plain
curl -sS -p --max-time 20 http://other.test:{port}/once; echo "once-rc=$?"
curl -sS -p --max-time 20 http://other.test:{port}/again; echo "again-rc=$?"
curl -sS --max-time 20 http://other.test:{port}/plain-denied; echo "plain-rc=$?"
curl -sS --noproxy '*' --max-time 5 http://1.1.1.1/ >/dev/null 2>&1; echo "direct-rc=$?"
echo DONE
"#
    );
    let mut plan = fx.plan(mechanism, NetworkMode::Allowlist, &script);
    plan.proxy_socket = Some(socket.clone());
    let cmd = fx.command(&plan);
    let session = tokio::task::spawn_blocking(move || run(cmd));

    let (q, answer) = ask(&mut asks).await;
    assert_eq!(
        q,
        AccessRequest {
            host: "other.test".into(),
            port
        }
    );
    answer.send(Decision::AllowOnce).unwrap();
    for _ in 0..2 {
        let (q, answer) = ask(&mut asks).await;
        assert_eq!(q.host, "other.test");
        deny(answer);
    }
    let out = session.await.unwrap();
    assert!(out.contains("DONE"), "{out}");
    assert!(out.contains("hello /tunnel"), "{out}");
    assert!(out.contains("hello /plain\n"), "{out}");
    assert!(out.contains("hello /once\nonce-rc=0"), "{out}");
    // Allow once let exactly that connection through.
    assert!(!out.contains("hello /again"), "{out}");
    assert!(out.contains("CONNECT tunnel failed, response 403"), "{out}");
    assert!(!out.contains("again-rc=0"), "{out}");
    assert!(
        out.contains(&format!(
            "walkie sandbox: connection to other.test:{port} denied: denied by the user"
        )),
        "{out}"
    );
    assert!(
        out.contains("direct-rc=") && !out.contains("direct-rc=0"),
        "{out}"
    );
    assert_eq!(proxy.allowed(), vec!["allowed.test".to_string()]);
    assert!(asks.try_recv().is_err(), "an extra question");
}

#[test]
fn network_off_leaves_only_loopback() {
    let Some(mechanism) = bwrap_mechanism() else {
        return;
    };
    let fx = fixture();
    // A server on the host's loopback: inside, 127.0.0.1 is the sandbox's own loopback.
    let host_server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host_server.local_addr().unwrap().port();
    let script = format!(
        r#"
/usr/bin/python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname(), timeout=5); a, _ = s.accept()
c.sendall(b"ping"); print("LOOPBACK=" + a.recv(4).decode())
'
curl -sS --max-time 5 http://127.0.0.1:{host_port}/ >/dev/null 2>&1; echo "host-loopback-rc=$?"
curl -sS --max-time 5 http://1.1.1.1/ >/dev/null 2>&1; echo "outside-rc=$?"
test -z "$HTTPS_PROXY" && echo NO_PROXY_VARS
echo DONE
"#
    );
    let plan = fx.plan(mechanism, NetworkMode::Off, &script);
    let out = run(fx.command(&plan));
    assert!(out.contains("DONE"), "{out}");
    assert!(out.contains("LOOPBACK=ping"), "{out}");
    // curl exit 7: could not connect.
    assert!(out.contains("host-loopback-rc=7"), "{out}");
    assert!(
        out.contains("outside-rc=") && !out.contains("outside-rc=0"),
        "{out}"
    );
    assert!(out.contains("NO_PROXY_VARS"), "{out}");
}
