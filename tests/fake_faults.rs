//! Self-tests of the test infrastructure for faults: the fake Telegram server's fault
//! injection (spoken to in raw HTTP/1.1, so each fault is seen exactly as a client gets
//! it), its floods of strangers and timings, the small disk that fills, and the
//! SIGSTOP/SIGCONT helper. Nothing here spawns walkie.

mod support;

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

use std::future::Future;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_telegram::{
    FakeOptions, FakeTelegram, Fault, FloodStats, Select, When, DOWNLOAD, NOT_MODIFIED,
    QUERY_TOO_OLD, TOO_LONG,
};
use serde_json::{json, Value};
use support::fulldisk::SmallDisk;
use support::host::{freeze, proc_state, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const T: Duration = Duration::from_secs(20);
const USER: i64 = 1001;

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test took longer than 60 s")
}

/// What a client got back for one request on its own connection.
#[derive(Debug)]
struct Raw {
    /// None: the connection closed before a status line.
    status: Option<u16>,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
    fn content_length(&self) -> Option<usize> {
        self.header("content-length")?.parse().ok()
    }
}

fn addr(fake: &FakeTelegram) -> SocketAddr {
    fake.api_url()
        .trim_start_matches("http://")
        .parse()
        .expect("fake address")
}

/// POSTs `body` (JSON) to `path` on a fresh connection and reads until the server closes.
async fn post(fake: &FakeTelegram, path: &str, body: &str) -> Raw {
    let mut s = tokio::net::TcpStream::connect(addr(fake))
        .await
        .expect("connect");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    // A reset counts as a close: what was read before it stays.
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let split = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(got.len());
    let head = String::from_utf8_lossy(&got[..split]).into_owned();
    let body = got.get(split + 4..).unwrap_or_default().to_vec();
    let status = head.get(9..12).and_then(|s| s.parse().ok());
    Raw { status, head, body }
}

async fn call(fake: &FakeTelegram, method: &str, params: Value) -> Raw {
    post(
        fake,
        &format!("/bot{}/{method}", fake.token()),
        &params.to_string(),
    )
    .await
}

async fn send(fake: &FakeTelegram, text: &str) -> Raw {
    call(fake, "sendMessage", json!({"chat_id": USER, "text": text})).await
}

fn bot_texts(fake: &FakeTelegram, chat: i64) -> Vec<String> {
    fake.with(|s| {
        s.bot_messages(chat)
            .iter()
            .map(|m| m.text.clone())
            .collect()
    })
}

fn envelope_error(code: u16, description: &str) -> Value {
    json!({"ok": false, "error_code": code, "description": description})
}

#[tokio::test]
async fn status_faults_strike_the_nth_call_in_telegrams_envelope() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        fake.send_text(USER, "hi");
        let id = fake.fault(
            Select::Method("sendMessage"),
            When::Nth(2),
            Fault::Status(502),
        );
        // Other methods are not picked and do not count.
        assert_eq!(call(&fake, "getMe", json!({})).await.status, Some(200));
        assert_eq!(send(&fake, "one").await.status, Some(200));
        let r = send(&fake, "two").await;
        assert_eq!(r.status, Some(502));
        assert_eq!(r.json(), envelope_error(502, "Bad Gateway"));
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(send(&fake, "three").await.status, Some(200));
        assert_eq!(fake.fault_hits(id), 1);
        // Telegram did nothing with the faulted call.
        assert_eq!(bot_texts(&fake, USER), ["one", "three"]);
        let faulted: Vec<_> = fake.with(|s| s.faulted_calls().cloned().collect());
        assert_eq!(faulted.len(), 1);
        assert_eq!(faulted[0].fault, Some(Fault::Status(502)));
        assert_eq!((faulted[0].status, faulted[0].ok()), (502, false));

        for (code, text) in [
            (500, "Internal Server Error"),
            (503, "Service Unavailable"),
            (504, "Gateway Timeout"),
        ] {
            fake.fault(
                Select::Method("sendMessage"),
                When::Nth(1),
                Fault::Status(code),
            );
            let r = send(&fake, "x").await;
            assert_eq!(
                (r.status, r.json()),
                (Some(code), envelope_error(code, text))
            );
        }
        assert_eq!(bot_texts(&fake, USER).len(), 2);
    })
    .await;
}

#[tokio::test]
async fn next_every_predicates_and_clearing() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        fake.send_text(USER, "hi");
        fake.send_text(2, "hi");
        // Next(2): the two calls after installing, then never again.
        let next = fake.fault(
            Select::Method("SENDMESSAGE"),
            When::Next(2),
            Fault::Status(500),
        );
        let got: Vec<_> = [
            send(&fake, "a").await,
            send(&fake, "b").await,
            send(&fake, "c").await,
        ]
        .iter()
        .map(|r| r.status)
        .collect();
        assert_eq!(got, [Some(500), Some(500), Some(200)]);
        assert_eq!(fake.fault_hits(next), 2);

        // A predicate: only calls to chat 2, every one of them.
        let chat2 = fake.fault(
            Select::in_chat("sendMessage", 2),
            When::Every,
            Fault::Api(403, "Forbidden: bot was blocked by the user".into()),
        );
        let card = fake.fault(
            Select::text_contains("sendMessage", "Approve?"),
            When::Every,
            Fault::Status(502),
        );
        for _ in 0..3 {
            let r = call(&fake, "sendMessage", json!({"chat_id": 2, "text": "x"})).await;
            assert_eq!(
                r.json(),
                envelope_error(403, "Forbidden: bot was blocked by the user")
            );
        }
        assert_eq!(send(&fake, "plain").await.status, Some(200));
        assert_eq!(send(&fake, "Approve? rm -rf").await.status, Some(502));
        // Rules are tried in order; the first that strikes wins, the others still count.
        let r = call(
            &fake,
            "sendMessage",
            json!({"chat_id": 2, "text": "Approve? in chat 2"}),
        )
        .await;
        assert_eq!(r.status, Some(403));
        assert_eq!((fake.fault_hits(chat2), fake.fault_hits(card)), (4, 1));

        // Any method but polling picks edits too, and not getUpdates.
        let any = fake.fault(Select::AnyButPolling, When::Every, Fault::Status(502));
        let polled = call(&fake, "getUpdates", json!({"timeout": 0})).await;
        assert_eq!(polled.status, Some(200));
        assert_eq!(send(&fake, "y").await.status, Some(502));
        fake.clear_faults();
        assert_eq!(send(&fake, "z").await.status, Some(200));
        let r = call(&fake, "sendMessage", json!({"chat_id": 2, "text": "back"})).await;
        assert_eq!(r.status, Some(200));
        assert_eq!(
            fake.fault_hits(any),
            1,
            "counts stay readable after clearing"
        );
    })
    .await;
}

#[tokio::test]
async fn api_error_faults_use_telegrams_texts() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        fake.send_text(USER, "hi");
        // The fault says what the fake itself says for a text over 4096 characters.
        let real = send(&fake, &"x".repeat(4097)).await;
        assert_eq!(real.json(), envelope_error(400, TOO_LONG));
        fake.fault(
            Select::Method("sendMessage"),
            When::Nth(1),
            Fault::Api(400, TOO_LONG.into()),
        );
        let r = send(&fake, "short").await;
        assert_eq!(
            (r.status, r.json()),
            (Some(400), envelope_error(400, TOO_LONG))
        );
        assert_eq!(
            TOO_LONG, "Bad Request: message is too long",
            "Telegram's own text"
        );
        // The real "not modified" answer, for reference.
        let sent = send(&fake, "<pre>a</pre>").await.json();
        let id = sent["result"]["message_id"].as_i64().expect("message id");
        let edit = json!({"chat_id": USER, "message_id": id, "text": "<pre>a</pre>"});
        let r = call(&fake, "editMessageText", edit).await;
        assert_eq!(r.json(), envelope_error(400, NOT_MODIFIED));
    })
    .await;
}

#[tokio::test]
async fn retry_after_faults_and_flood_chat_are_honoured_or_counted() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        fake.send_text(USER, "hi");
        fake.send_text(2, "hi");
        fake.fault(Select::Method("sendMessage"), When::Nth(1), Fault::RetryAfter(2));
        let r = send(&fake, "a").await;
        assert_eq!(r.status, Some(429));
        assert_eq!(
            r.json(),
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 2", "parameters": {"retry_after": 2}})
        );
        // The chat is now in flood wait, as after a real 429: asking at once is ignoring it.
        let again = send(&fake, "b").await;
        assert_eq!(again.status, Some(429));
        assert_eq!(
            fake.flood_stats(),
            FloodStats {
                too_many_requests: 2,
                ignored_retry_after: 1
            }
        );
        // Another chat is not affected.
        let other = call(&fake, "sendMessage", json!({"chat_id": 2, "text": "c"})).await;
        assert_eq!(other.status, Some(200));

        // flood_chat: silent until the first 429, which is not an ignored one.
        let fake = FakeTelegram::start().await;
        fake.send_text(USER, "hi");
        fake.flood_chat(USER, 1);
        let started = Instant::now();
        let first = send(&fake, "a").await;
        assert_eq!(first.status, Some(429));
        assert_eq!(first.json()["parameters"]["retry_after"], json!(1));
        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
        assert_eq!(send(&fake, "b").await.status, Some(429));
        assert_eq!(fake.flood_stats().ignored_retry_after, 1);
        // After the wait it goes through; waiting out the flood is the thing tested.
        tokio::time::sleep_until(started + Duration::from_millis(1100)).await;
        assert_eq!(send(&fake, "c").await.status, Some(200));
        assert_eq!(fake.flood_stats().ignored_retry_after, 1);
        assert_eq!(bot_texts(&fake, USER), ["c"]);
    })
    .await;
}

#[tokio::test]
async fn groups_can_have_a_per_minute_budget() {
    bounded(async {
        let fake = FakeTelegram::start_with(FakeOptions {
            chat_burst: 10.0,
            chat_per_sec: 10.0,
            group_per_minute: Some(3.0),
            ..FakeOptions::default()
        })
        .await;
        let group = -100_300;
        fake.texts_from([USER], Some(group), "hi");
        fake.send_text(USER, "hi");
        let to = |chat: i64| json!({"chat_id": chat, "text": "x"});
        for _ in 0..3 {
            assert_eq!(
                call(&fake, "sendMessage", to(group)).await.status,
                Some(200)
            );
        }
        let r = call(&fake, "sendMessage", to(group)).await;
        assert_eq!(r.status, Some(429));
        // 1 token at 3 a minute: 20 s.
        assert_eq!(r.json()["parameters"]["retry_after"], json!(20));
        // Private chats have no such budget.
        for _ in 0..5 {
            assert_eq!(call(&fake, "sendMessage", to(USER)).await.status, Some(200));
        }
    })
    .await;
}

#[tokio::test]
async fn drops_close_the_connection_without_an_answer() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        fake.send_text(USER, "hi");
        fake.fault(Select::Method("sendMessage"), When::Nth(1), Fault::Drop);
        let r = send(&fake, "lost").await;
        assert_eq!((r.status, r.head.as_str(), r.body.len()), (None, "", 0));
        assert!(bot_texts(&fake, USER).is_empty(), "Telegram never saw it");

        // Dropped after Telegram acted: no answer, but the message is in the chat.
        fake.fault(
            Select::Method("sendMessage"),
            When::Nth(1),
            Fault::DropAfter,
        );
        let r = send(&fake, "sent but unheard").await;
        assert_eq!((r.status, r.body.len()), (None, 0));
        assert_eq!(bot_texts(&fake, USER), ["sent but unheard"]);

        let logged: Vec<_> = fake.with(|s| s.faulted_calls().cloned().collect());
        assert_eq!(logged.len(), 2);
        assert_eq!((logged[0].status, logged[0].delivered()), (0, false));
        assert_eq!((logged[1].status, logged[1].ok()), (200, false));
        // The server goes on answering.
        assert_eq!(send(&fake, "next").await.status, Some(200));
    })
    .await;
}

#[tokio::test]
async fn a_cut_body_promises_more_than_it_sends() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        fake.send_text(USER, "hi");
        fake.fault(Select::Method("sendMessage"), When::Nth(1), Fault::CutBody);
        let r = send(&fake, "cut").await;
        assert_eq!(r.status, Some(200));
        let promised = r.content_length().expect("a content-length");
        assert!(
            !r.body.is_empty() && r.body.len() < promised,
            "got {} of {promised} bytes",
            r.body.len()
        );
        assert_eq!(r.json(), Value::Null, "half a JSON object does not parse");
        assert!(String::from_utf8_lossy(&r.body).starts_with("{\"ok\":true"));
        // Telegram did send it.
        assert_eq!(bot_texts(&fake, USER), ["cut"]);

        // An HTTP client sees an error reading the body.
        fake.fault(Select::Method("getMe"), When::Nth(1), Fault::CutBody);
        let stream = tokio::net::TcpStream::connect(addr(&fake)).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        let req = hyper::Request::post(format!("/bot{}/getMe", fake.token()))
            .header("host", "x")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let resp = sender.send_request(req).await.expect("head arrives");
        assert_eq!(resp.status(), 200);
        use http_body_util::BodyExt;
        assert!(resp.into_body().collect().await.is_err(), "the body is cut");
    })
    .await;
}

#[tokio::test]
async fn html_faults_are_nginx_pages() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        fake.fail_get_updates(1, Fault::Html(502));
        let r = call(&fake, "getUpdates", json!({"timeout": 0})).await;
        assert_eq!(r.status, Some(502));
        assert_eq!(r.header("content-type").as_deref(), Some("text/html"));
        let page = String::from_utf8_lossy(&r.body);
        assert!(
            page.contains("<title>502 Bad Gateway</title>") && page.contains("nginx"),
            "{page}"
        );
        assert_eq!(r.json(), Value::Null, "not JSON");
    })
    .await;
}

#[tokio::test]
async fn delays_and_latency_hold_the_answer() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        fake.send_text(USER, "hi");
        let d = Duration::from_secs(1);
        fake.fault(Select::Method("sendMessage"), When::Nth(1), Fault::Delay(d));
        let started = Instant::now();
        let r = send(&fake, "slow").await;
        assert_eq!(r.status, Some(200), "a delayed call is still handled");
        assert!(started.elapsed() >= d, "{:?}", started.elapsed());
        let c = fake.with(|s| s.calls_to("sendMessage").last().cloned().unwrap());
        assert!(c.at.duration_since(c.arrived) >= d);
        assert_eq!(c.fault, Some(Fault::Delay(d)));
        assert!(c.ok());

        let started = Instant::now();
        assert_eq!(send(&fake, "fast").await.status, Some(200));
        let fast = started.elapsed();
        assert!(fast < d, "{fast:?}");

        fake.set_latency(d / 2);
        let started = Instant::now();
        assert_eq!(call(&fake, "getMe", json!({})).await.status, Some(200));
        assert_eq!(send(&fake, "late").await.status, Some(200));
        assert!(started.elapsed() >= d);
        fake.set_latency(Duration::ZERO);
        let started = Instant::now();
        assert_eq!(call(&fake, "getMe", json!({})).await.status, Some(200));
        assert!(started.elapsed() < d / 2);
    })
    .await;
}

#[tokio::test]
async fn get_updates_fails_n_times_then_offers_and_confirms() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let msg = fake.send_text(USER, "/help");
        let id = fake.fail_get_updates(2, Fault::Status(500));
        for _ in 0..2 {
            let r = call(&fake, "getUpdates", json!({"timeout": 0})).await;
            assert_eq!(
                (r.status, r.json()),
                (Some(500), envelope_error(500, "Internal Server Error"))
            );
        }
        assert_eq!(fake.fault_hits(id), 2);
        let rec = fake.message_update(USER, msg).expect("record");
        assert_eq!(rec.offered, None, "a failed poll offers nothing");
        let r = call(&fake, "getUpdates", json!({"timeout": 0})).await;
        let ups = r.json()["result"].as_array().cloned().unwrap_or_default();
        assert_eq!(ups.len(), 1);
        let rec = fake.message_update(USER, msg).expect("record");
        let last_fault = fake
            .with(|s| s.faulted_calls().last().map(|c| c.at))
            .unwrap();
        assert!(rec.offered.expect("offered") >= last_fault);
        assert_eq!(rec.confirmed, None);
        let next = ups[0]["update_id"].as_i64().unwrap() + 1;
        call(&fake, "getUpdates", json!({"offset": next, "timeout": 0})).await;
        let rec = fake.message_update(USER, msg).expect("record");
        assert!(rec.confirmed.is_some());

        // A poll whose answer is cut does not count as offered; the next one does.
        let msg = fake.send_text(USER, "again");
        fake.fail_get_updates(1, Fault::CutBody);
        let r = call(&fake, "getUpdates", json!({"offset": next, "timeout": 0})).await;
        assert_eq!(r.json(), Value::Null);
        assert_eq!(fake.message_update(USER, msg).unwrap().offered, None);
        let r = call(&fake, "getUpdates", json!({"offset": next, "timeout": 0})).await;
        assert_eq!(r.json()["result"].as_array().map(Vec::len), Some(1));
        assert!(fake.message_update(USER, msg).unwrap().offered.is_some());
    })
    .await;
}

#[tokio::test]
async fn downloads_can_fault_too() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let (_, file_id) = fake.send_voice(USER, b"OggS voice".to_vec(), 2);
        let f = call(&fake, "getFile", json!({"file_id": file_id}))
            .await
            .json();
        let path = format!(
            "/file/bot{}/{}",
            fake.token(),
            f["result"]["file_path"].as_str().expect("file path")
        );
        fake.fault(Select::Download, When::Nth(1), Fault::Drop);
        fake.fault(Select::Download, When::Nth(2), Fault::Status(502));
        assert_eq!(post(&fake, &path, "").await.status, None);
        assert_eq!(post(&fake, &path, "").await.status, Some(502));
        let r = post(&fake, &path, "").await;
        assert_eq!(
            (r.status, r.body.as_slice()),
            (Some(200), &b"OggS voice"[..])
        );
        let downloads = fake.with(|s| s.calls_to(DOWNLOAD).count());
        assert_eq!(downloads, 3);
    })
    .await;
}

#[tokio::test]
async fn teloxide_sees_drops_and_cut_bodies_as_network_errors() {
    use teloxide::prelude::*;
    bounded(async {
        let fake = FakeTelegram::start().await;
        fake.send_text(USER, "hi");
        let bot = Bot::new(fake.token()).set_api_url(fake.api_url().parse().unwrap());
        for fault in [Fault::Drop, Fault::DropAfter, Fault::CutBody] {
            fake.fault(Select::Method("sendMessage"), When::Nth(1), fault.clone());
            let e = bot.send_message(ChatId(USER), "x").await.unwrap_err();
            assert!(
                matches!(e, teloxide::RequestError::Network(_)),
                "{fault:?}: {e:?}"
            );
        }
        bot.send_message(ChatId(USER), "fine")
            .await
            .expect("after the faults");
    })
    .await;
}

#[tokio::test]
async fn strangers_flood_at_once_with_timings() {
    bounded(async {
        let fake = FakeTelegram::start_with(FakeOptions {
            callback_expiry: Some(Duration::from_secs(15)),
            ..FakeOptions::default()
        })
        .await;
        let group = -100_200;
        // 1,000 strangers in their private chats, 60 in a group, 180 button presses.
        let private = fake.texts_from(2000..3000, None, "hello");
        let in_group = fake.texts_from(3000..3060, Some(group), "hello");
        let presses = fake.presses_from(4000..4180, Some(group), "x:1");
        let own_presses = fake.presses_from([5000, 5001], None, "y:2");
        assert_eq!(
            (
                private.len(),
                in_group.len(),
                presses.len(),
                own_presses.len()
            ),
            (1000, 60, 180, 2)
        );
        assert!(private
            .iter()
            .all(|&(chat, _)| (2000..3000).contains(&chat)));
        assert!(in_group.iter().all(|&(chat, _)| chat == group));
        let owner_msg = fake.send_text(USER, "/ls");
        assert_eq!(fake.with(|s| s.pending_updates()), 1000 + 60 + 180 + 2 + 1);
        // One bot message in the group carries the pressed button; each private presser got one.
        assert_eq!(fake.with(|s| s.bot_messages(group).len()), 1);
        assert_eq!(fake.with(|s| s.bot_messages(5001).len()), 1);

        // Drain as a bot would (100 a poll), answering callbacks as they come.
        let mut offset = 0i64;
        let mut seen = 0;
        let mut owner_seen = false;
        while !owner_seen {
            let r = call(&fake, "getUpdates", json!({"offset": offset, "timeout": 0})).await;
            let ups = r.json()["result"].as_array().cloned().unwrap_or_default();
            assert!(!ups.is_empty() && ups.len() <= 100);
            for u in &ups {
                offset = u["update_id"].as_i64().unwrap() + 1;
                seen += 1;
                if let Some(q) = u["callback_query"]["id"].as_str() {
                    let a = call(
                        &fake,
                        "answerCallbackQuery",
                        json!({"callback_query_id": q}),
                    )
                    .await;
                    assert_eq!(a.status, Some(200));
                }
                if u["message"]["chat"]["id"] == json!(USER) {
                    owner_seen = true;
                    send(&fake, "sessions: none").await;
                }
            }
        }
        assert_eq!(seen, 1243);
        let records = fake.callback_records();
        assert_eq!(records.len(), 182);
        for r in &records {
            let after = r.answered_after_offer().expect("answered and offered");
            assert!(after < Duration::from_secs(5), "{r:?}");
            assert!(r.offered.unwrap() >= r.pushed);
        }
        let latency = fake
            .reply_latency(USER, owner_msg)
            .expect("the owner was answered");
        assert!(latency < Duration::from_secs(5), "{latency:?}");
        assert!(fake
            .message_update(USER, owner_msg)
            .unwrap()
            .offered
            .is_some());
    })
    .await;
}

#[tokio::test]
async fn late_callback_answers_are_refused_with_an_expiry() {
    bounded(async {
        let expiry = Duration::from_secs(1);
        let fake = FakeTelegram::start_with(FakeOptions {
            callback_expiry: Some(expiry),
            ..FakeOptions::default()
        })
        .await;
        let answer = |q: &str| {
            call(
                &fake,
                "answerCallbackQuery",
                json!({"callback_query_id": q}),
            )
        };
        let ids = fake.presses_from([6000, 6001], Some(-100_400), "x:1");
        assert_eq!(answer(&ids[0]).await.status, Some(200), "in time");
        // Letting the expiry pass is the thing tested.
        tokio::time::sleep(expiry + Duration::from_millis(100)).await;
        let r = answer(&ids[1]).await;
        assert_eq!(r.json(), envelope_error(400, QUERY_TOO_OLD));
        let records = fake.callback_records();
        assert!(records[0].answered.is_some() && records[1].answered.is_none());
    })
    .await;
}

#[test]
fn small_disk_fills_and_frees() {
    let Some(disk) = SmallDisk::mount_or_skip("small_disk_fills_and_frees", 2048) else {
        return;
    };
    let state = disk.join("state");
    std::fs::create_dir(&state).expect("mkdir on the small disk");
    std::fs::write(state.join("a"), b"fits").expect("a small write fits");
    let before = disk.available().expect("statvfs");
    assert!(before > 1024 * 1024, "{before}");
    let took = disk.fill().expect("fill");
    assert!(took + 64 * 1024 >= before, "filled {took} of {before}");
    assert_eq!(disk.available().unwrap(), 0);
    let e = std::fs::write(state.join("b"), vec![1u8; 8192]).expect_err("the disk is full");
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    disk.free().expect("free");
    assert!(disk.available().unwrap() >= before - 8192);
    std::fs::write(state.join("b"), vec![1u8; 8192]).expect("room again");

    // Dropping unmounts it: the dir is gone and nothing is mounted there.
    let path = disk.path().to_path_buf();
    drop(disk);
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(path.to_str().unwrap()), "still mounted");
    assert!(!path.exists());
}

#[test]
fn freeze_stops_and_resumes_a_process() {
    let mut child = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    let frozen = freeze(pid);
    assert_eq!(proc_state(pid), Some('T'));
    frozen.resume();
    // Running again: runnable or asleep; `D` too (a page fault on a busy disk right after
    // SIGCONT, seen once in a full run), never stopped.
    assert!(
        matches!(proc_state(pid), Some('R' | 'S' | 'D')),
        "{:?}",
        proc_state(pid)
    );
    // Dropping the guard resumes too.
    drop(freeze(pid));
    wait_for("the process to sleep again", T, || {
        (proc_state(pid) == Some('S')).then_some(())
    });
    support::host::signal(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL");
    let st = child.wait().expect("wait");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(9));
}
