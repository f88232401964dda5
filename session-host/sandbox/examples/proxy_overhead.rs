//! Proxy overhead: 100 small HTTP exchanges on 127.0.0.1, direct and through the allowlist
//! proxy as `CONNECT` tunnels (what HTTPS requests from the sandbox do), side by side.
//! `cargo run --release -p walkie-sandbox --example proxy_overhead`

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use walkie_sandbox::{Decide, Decision, Proxy, ProxyOptions};

const REQUESTS: usize = 100;
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n";
const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

async fn exchange(mut conn: impl AsyncReadExt + AsyncWriteExt + Unpin) -> std::io::Result<()> {
    conn.write_all(REQUEST).await?;
    let mut out = Vec::new();
    conn.read_to_end(&mut out).await?;
    if !out.ends_with(b"ok") {
        return Err(std::io::Error::other(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(&out)
        )));
    }
    Ok(())
}

async fn tunnel(socket: &std::path::Path, port: u16) -> std::io::Result<()> {
    let mut conn = UnixStream::connect(socket).await?;
    conn.write_all(format!("CONNECT bench.test:{port} HTTP/1.1\r\n\r\n").as_bytes())
        .await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await? == 0 {
            return Err(std::io::Error::other("proxy closed"));
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&head).to_string(),
        ));
    }
    exchange(conn).await
}

fn per_request(total: Duration) -> String {
    format!(
        "{:.3} ms/request ({:.1} ms for {REQUESTS})",
        total.as_secs_f64() * 1000.0 / REQUESTS as f64,
        total.as_secs_f64() * 1000.0
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = TcpListener::bind("127.0.0.1:0").await?;
    let port = server.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = server.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let mut got = Vec::new();
                while !got.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn.write_all(REPLY).await;
            });
        }
    });
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("bench.sock");
    let decide: Decide = Arc::new(|_| {
        Box::pin(async {
            Decision::Deny {
                reason: "denied by the user".into(),
            }
        })
    });
    let options = ProxyOptions {
        allow: vec!["bench.test".into()],
        resolver: walkie_sandbox::Resolver::default()
            .with_override("bench.test", std::net::Ipv4Addr::LOCALHOST.into()),
        ..ProxyOptions::default()
    };
    let _proxy = Proxy::bind(&socket, options, decide)
        .await
        .map_err(std::io::Error::other)?;

    let started = Instant::now();
    for _ in 0..REQUESTS {
        exchange(TcpStream::connect(("127.0.0.1", port)).await?).await?;
    }
    let direct = started.elapsed();
    let started = Instant::now();
    for _ in 0..REQUESTS {
        tunnel(&socket, port).await?;
    }
    let proxied = started.elapsed();
    println!("direct:        {}", per_request(direct));
    println!("through proxy: {}", per_request(proxied));
    println!(
        "overhead:      {:.3} ms/request",
        (proxied.as_secs_f64() - direct.as_secs_f64()) * 1000.0 / REQUESTS as f64
    );
    Ok(())
}
