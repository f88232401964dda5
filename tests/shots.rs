//! Issue 15's pictures on the phone and issue 13's `/replay`, end to end: the real
//! `walkie up` and session host against the strict fake Bot API, whose uploads
//! (multipart/form-data, sendDocument / editMessageMedia) are kept byte for byte.

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

mod support;

use std::future::Future;
use std::time::Duration;

use bot_rig::{new_sh, BotRig, OPERATOR};
use fake_telegram::{Call, ChatMessage, FakeTelegram, Fault, Select, State, Upload, When};
use tokio::time::Instant;

const T: Duration = Duration::from_secs(30);

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(150), f)
        .await
        .expect("test took longer than 150 s")
}

async fn start(fake: &FakeTelegram, bot_env: &[(&str, &str)]) -> BotRig {
    let rig = BotRig::start(fake, &[("SHELL", "/bin/sh")], bot_env, None).await;
    rig.wait_started(fake, 1, T).await;
    rig
}

/// The `n`-th accepted upload (0-based) whose file name starts with `prefix`.
async fn upload(fake: &FakeTelegram, prefix: &str, n: usize, what: &str) -> Upload {
    fake.wait_until(T, what, |s| {
        s.uploads
            .iter()
            .filter(|u| {
                u.file_name
                    .as_deref()
                    .is_some_and(|f| f.starts_with(prefix))
            })
            .nth(n)
            .cloned()
    })
    .await
}

/// A valid PNG: signature, IHDR first with non-zero dimensions, which it returns, and a
/// decoder that reads it to the end.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "{} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "IHDR first");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (w, h) = (be(&bytes[16..20]), be(&bytes[20..24]));
    assert!(w > 0 && h > 0, "{w}x{h}");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!((info.width, info.height), (w, h));
    (w, h)
}

/// `name-YYYY-MM-DD-HHMM.ext`
fn dated_name(file: &str, name: &str, ext: &str) -> bool {
    let Some(stamp) = file
        .strip_prefix(&format!("{name}-"))
        .and_then(|r| r.strip_suffix(&format!(".{ext}")))
    else {
        return false;
    };
    stamp.len() == 15
        && stamp.chars().enumerate().all(|(i, c)| {
            if [4, 7, 10].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn message(fake: &FakeTelegram, id: i64) -> ChatMessage {
    fake.with(|s| s.message(OPERATOR, id).cloned())
        .expect("the message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shot_uploads_a_png_document_and_the_screens_picture_button_does_too() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let rig = start(&fake, &[]).await;
        new_sh(&fake, "s1").await;
        fake.send_text(
            OPERATOR,
            "printf '\\033[41mRED\\033[0m shot-%s\\n' $((40+2))",
        );
        fake.wait_for_bot_message(OPERATOR, T, "the output on the live screen", |m| {
            m.text.contains("shot-42")
        })
        .await;

        fake.send_text(OPERATOR, "/shot s1");
        let u = upload(&fake, "s1-", 0, "the /shot upload").await;
        assert_eq!(u.method, "sendDocument");
        let file = u.file_name.clone().unwrap_or_default();
        assert!(dated_name(&file, "s1", "png"), "{file}");
        assert_eq!(u.mime_type.as_deref(), Some("image/png"));
        let (w, h) = png_size(&u.bytes);
        // The session's 120x40 cells at phone scale, a title bar above.
        assert!(w > 120 * 10 && h > 40 * 20, "{w}x{h}");
        assert!(u.caption.starts_with("🖼 s1 · 120x40 · "), "{}", u.caption);
        let m = message(&fake, u.message_id);
        assert!(m.document.is_some() && m.reply_markup.is_none(), "{m:?}");

        // /screen's text screen carries the picture button; its press sends the picture.
        fake.send_text(OPERATOR, "/screen s1");
        let screen = fake
            .wait_for_bot_message(OPERATOR, T, "the text screen", |m| {
                m.button_data().contains(&"pic:s1".to_string())
            })
            .await;
        assert!(screen.text.contains("shot-42"), "{}", screen.text);
        fake.press_button(OPERATOR, OPERATOR, screen.message_id, "pic:s1");
        let second = upload(&fake, "s1-", 1, "the picture button's upload").await;
        assert_eq!(png_size(&second.bytes), (w, h));

        // An unknown session: the usual answer, nothing uploaded.
        fake.send_text(OPERATOR, "/shot nope");
        fake.wait_for_bot_message(OPERATOR, T, "the answer about nope", |m| {
            m.text.starts_with("No session nope")
        })
        .await;
        assert_eq!(fake.with(|s| s.uploads.len()), 2);
        // Commands are audited like every other.
        let audit = rig.audit().await;
        assert!(
            audit
                .iter()
                .any(|a| a.action == "command" && a.text.as_deref() == Some("/shot s1")),
            "{audit:?}"
        );
        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
    })
    .await
}

/// When the editMessageMedia calls of message `id` arrived, in order; each answered ok.
fn media_edits_in(s: &State, id: i64) -> Vec<Instant> {
    s.calls_to("editMessageMedia")
        .filter(|c| c.params["message_id"].as_str() == Some(&id.to_string()))
        .map(|c| {
            assert!(c.ok(), "an edit that failed: {:?}", c.response);
            c.arrived
        })
        .collect()
}

fn media_edits(fake: &FakeTelegram, id: i64) -> Vec<Instant> {
    // `with` holds the fake's lock: never call it from inside `wait_until`'s closure.
    fake.with(|s| media_edits_in(s, id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_edits_only_on_change_at_most_every_5_s_and_stop_leaves_the_last_picture() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let rig = start(&fake, &[]).await;
        new_sh(&fake, "w1").await;
        fake.send_text(OPERATOR, "/watch w1");
        let first = upload(&fake, "w1-", 0, "the live picture").await;
        png_size(&first.bytes);
        let posted = message(&fake, first.message_id);
        let buttons = posted.button_data();
        for want in ["wk:Escape:w1", "wk:Enter:w1", "wk:Up:w1", "wk:Down:w1", "wk:Tab:w1", "wk:C-c:w1", "wst:w1"] {
            assert!(buttons.contains(&want.to_string()), "{want} not in {buttons:?}");
        }

        // The screen changes every 0.3 s for about 13 s: edits come, never 5 s apart.
        fake.send_text(
            OPERATOR,
            "i=0; while [ $i -lt 44 ]; do echo tick-$i; i=$((i+1)); sleep 0.3; done; echo loop-done",
        );
        fake.wait_until(Duration::from_secs(60), "two picture edits", |s| {
            (media_edits_in(s, first.message_id).len() >= 2).then_some(())
        })
        .await;
        // Then it stops changing (the text live screen shows the loop's end): the last
        // state lands, and nothing after it.
        fake.wait_for_bot_message(OPERATOR, Duration::from_secs(60), "the loop's end", |m| {
            m.text.contains("loop-done")
        })
        .await;
        let settle = Instant::now();
        let edits_then = loop {
            let n = media_edits(&fake, first.message_id).len();
            tokio::time::sleep(Duration::from_secs(6)).await;
            // Quiet for one full gap and more: the screen no longer changes.
            if media_edits(&fake, first.message_id).len() == n {
                break n;
            }
            assert!(settle.elapsed() < Duration::from_secs(40), "edits never stopped");
        };
        let edits = media_edits(&fake, first.message_id);
        let mut times = vec![fake.with(|s| {
            s.calls_to("sendDocument")
                .find(|c| c.ok())
                .map(|c| c.arrived)
                .expect("the sendDocument call")
        })];
        times.extend(edits.iter().copied());
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            // The bot waits 5 s after the previous answer; arrival to arrival is at least
            // that less the previous call's own time on the wire (milliseconds here).
            assert!(gap >= Duration::from_millis(4900), "edits {gap:?} apart: {times:?}");
        }
        // Every edit changed the picture (none was "not modified").
        let not_modified = fake.with(|s| {
            s.calls_to("editMessageMedia")
                .filter(|c| !c.ok())
                .count()
        });
        assert_eq!(not_modified, 0);
        let pictures: Vec<Vec<u8>> = fake.with(|s| {
            s.uploads
                .iter()
                .filter(|u| u.message_id == first.message_id)
                .map(|u| u.bytes.clone())
                .collect()
        });
        assert_eq!(pictures.len(), 1 + edits_then);
        for pair in pictures.windows(2) {
            assert_ne!(pair[0], pair[1], "a picture sent twice");
        }

        // A key button types the key (audited); Stop ends it with a note, keys removed.
        fake.press_button(OPERATOR, OPERATOR, first.message_id, "wk:Enter:w1");
        fake.wait_until(T, "the key's toast", |s| {
            s.callback_answers
                .values()
                .any(|a| a["text"].as_str() == Some("Enter sent"))
                .then_some(())
        })
        .await;
        fake.press_button(OPERATOR, OPERATOR, first.message_id, "wst:w1");
        let stopped = fake
            .wait_for_bot_message(OPERATOR, T, "the stopped note", |m| {
                m.message_id == first.message_id && m.text.contains("⏹ stopped")
            })
            .await;
        assert!(stopped.reply_markup.is_none(), "{stopped:?}");
        assert!(stopped.document.is_some());
        let edits_at_stop = media_edits(&fake, first.message_id).len();
        // Enter made the prompt redraw; a stopped picture does not follow it.
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(media_edits(&fake, first.message_id).len(), edits_at_stop);
        let audit = rig.audit().await;
        assert!(
            audit.iter().any(|a| a.source.as_deref() == Some("button")
                && a.text.as_deref() == Some("/keys w1 Enter")),
            "{audit:?}"
        );
        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_stops_by_itself_after_watch_s() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let _rig = start(&fake, &[("WALKIE_WATCH_S", "6")]).await;
        new_sh(&fake, "w2").await;
        let asked = Instant::now();
        fake.send_text(OPERATOR, "/watch w2");
        let first = upload(&fake, "w2-", 0, "the live picture").await;
        let ended = fake
            .wait_for_bot_message(OPERATOR, T, "the time-up note", |m| {
                m.message_id == first.message_id && m.text.contains("stopped after")
            })
            .await;
        assert!(
            asked.elapsed() >= Duration::from_secs(6),
            "{:?}",
            asked.elapsed()
        );
        assert!(
            ended.reply_markup.is_none() && ended.document.is_some(),
            "{ended:?}"
        );
        // An unknown session has nothing to watch.
        fake.send_text(OPERATOR, "/watch nope");
        fake.wait_for_bot_message(OPERATOR, T, "the answer about nope", |m| {
            m.text.starts_with("No session nope")
        })
        .await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_uploads_the_recording_as_asciicast_v2() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let _rig = start(&fake, &[]).await;
        new_sh(&fake, "r1").await;
        fake.send_text(OPERATOR, "echo replay-$((20+3))");
        fake.wait_for_bot_message(OPERATOR, T, "the output", |m| m.text.contains("replay-23"))
            .await;
        fake.send_text(OPERATOR, "/replay r1");
        let u = upload(&fake, "r1-", 0, "the recording").await;
        let file = u.file_name.clone().unwrap_or_default();
        assert!(dated_name(&file, "r1", "cast"), "{file}");
        assert!(u.caption.contains("asciicast"), "{}", u.caption);
        let text = String::from_utf8(u.bytes.clone()).expect("UTF-8");
        let mut lines = text.lines();
        let header: serde_json::Value =
            serde_json::from_str(lines.next().expect("a header")).expect("header JSON");
        assert_eq!(header["version"], 2, "{header}");
        assert!(header["width"].as_u64().is_some_and(|w| w > 0), "{header}");
        let mut last = 0.0;
        let mut output = String::new();
        for line in lines {
            let e: serde_json::Value = serde_json::from_str(line).expect("event JSON");
            let t = e[0].as_f64().expect("time");
            assert!(t >= last, "times go back: {last} then {t}");
            last = t;
            let code = e[1].as_str().expect("code");
            assert!(["o", "i", "m", "r", "x"].contains(&code), "{line}");
            if code == "o" {
                output.push_str(e[2].as_str().expect("data"));
            }
        }
        assert!(output.contains("replay-23"), "{output}");

        fake.send_text(OPERATOR, "/replay nope");
        fake.wait_for_bot_message(OPERATOR, T, "the answer about nope", |m| {
            m.text.starts_with("No recording of nope")
        })
        .await;
    })
    .await
}

/// Every editMessageMedia call of message `id`: (arrived, answered ok).
fn media_calls(fake: &FakeTelegram, id: i64) -> Vec<(Instant, bool)> {
    fake.with(|s| {
        s.calls_to("editMessageMedia")
            .filter(|c| c.params["message_id"].as_str() == Some(&id.to_string()))
            .map(|c| (c.arrived, c.ok()))
            .collect()
    })
}

/// Waits (bounded) until the bot's store keeps `n` live pictures, and returns them.
async fn kept_pictures(rig: &BotRig, n: usize) -> Vec<walkie_console::picture_store::LivePicture> {
    let until = Instant::now() + T;
    loop {
        let store = rig.store().await;
        let rows = store.live_pictures().await.expect("live pictures");
        store.close().await;
        if rows.len() == n {
            return rows;
        }
        assert!(
            Instant::now() < until,
            "{n} live pictures never kept: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `/shot f1` with `faults` on its sendDocument calls (the n-th call, in order): the
/// first upload Telegram kept, a valid PNG, once every fault struck once.
async fn shot_under(faults: &[Fault]) -> (FakeTelegram, BotRig, Upload) {
    let fake = FakeTelegram::start().await;
    let rig = start(&fake, &[]).await;
    new_sh(&fake, "f1").await;
    let ids: Vec<_> = (1u32..)
        .zip(faults)
        .map(|(n, f)| fake.fault(Select::Method("sendDocument"), When::Nth(n), f.clone()))
        .collect();
    fake.send_text(OPERATOR, "/shot f1");
    let u = upload(&fake, "f1-", 0, "the /shot upload").await;
    png_size(&u.bytes);
    for (id, f) in ids.into_iter().zip(faults) {
        assert_eq!(fake.fault_hits(id), 1, "{f:?}");
    }
    (fake, rig, u)
}

/// The uploads of `/shot f1` and the sendDocument calls, once an `/ls` has been answered
/// (the update loop went on) and a late copy had time to come.
async fn uploads_settled(fake: &FakeTelegram) -> (usize, Vec<Call>) {
    fake.send_text(OPERATOR, "/ls");
    fake.wait_for_bot_message(OPERATOR, T, "the /ls answer", |m| m.text.contains("f1"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fake.with(|s| {
        (
            s.uploads
                .iter()
                .filter(|u| u.file_name.as_deref().is_some_and(|f| f.starts_with("f1-")))
                .count(),
            s.calls_to("sendDocument").cloned().collect(),
        )
    })
}

fn told_not_sent(fake: &FakeTelegram) -> bool {
    fake.with(|s| {
        s.bot_messages(OPERATOR)
            .iter()
            .any(|m| m.text.contains("could not be sent"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shot_whose_upload_fails_twice_arrives_once() {
    bounded(async {
        // Telegram fails (502), then the connection drops without an answer: neither time
        // did Telegram post it, so the picture arrives exactly once.
        let (fake, _rig, _) = shot_under(&[Fault::Status(502), Fault::Drop]).await;
        let (uploads, calls) = uploads_settled(&fake).await;
        assert_eq!((uploads, calls.len()), (1, 3));
        assert!(
            !told_not_sent(&fake),
            "a delivered picture is not reported as lost"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shot_told_to_slow_down_waits_out_retry_after_and_arrives_once() {
    bounded(async {
        let (fake, _rig, _) = shot_under(&[Fault::RetryAfter(2)]).await;
        let (uploads, calls) = uploads_settled(&fake).await;
        assert_eq!((uploads, calls.len()), (1, 2), "{calls:?}");
        // The second try waited the whole retry_after from the 429's answer.
        let waited = calls[1].arrived.duration_since(calls[0].at);
        assert!(
            waited >= Duration::from_secs(2),
            "asked again after {waited:?}"
        );
        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
        assert!(
            !told_not_sent(&fake),
            "a delivered picture is not reported as lost"
        );
    })
    .await
}

/// Telegram posted the picture but its answer was lost: the bot cannot tell that from a
/// lost request (the Bot API has no idempotency key to send with, nor a way to read the
/// chat's last messages), so it sends again: at least once, here twice, never silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shot_whose_answer_was_lost_is_sent_again_at_least_once() {
    bounded(async {
        let (fake, _rig, first) = shot_under(&[Fault::DropAfter]).await;
        let again = upload(&fake, "f1-", 1, "the /shot upload sent again").await;
        assert_eq!(first.bytes, again.bytes, "the same picture both times");
        let (uploads, calls) = uploads_settled(&fake).await;
        assert_eq!((uploads, calls.len()), (2, 2), "{calls:?}");
        assert!(!calls[0].delivered() && calls[1].ok(), "{calls:?}");
        assert!(
            !told_not_sent(&fake),
            "a delivered picture is not reported as lost"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_edit_is_retried_after_a_500_and_a_400_stops_it_and_says_so() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let _rig = start(&fake, &[]).await;
        new_sh(&fake, "f2").await;
        fake.send_text(OPERATOR, "/watch f2");
        let first = upload(&fake, "f2-", 0, "the live picture").await;
        let server = fake.fault(
            Select::Method("editMessageMedia"),
            When::Nth(1),
            Fault::Status(500),
        );
        fake.send_text(OPERATOR, "echo change-1");
        fake.wait_until(Duration::from_secs(60), "an edit after the 500", |s| {
            let ok = s
                .calls_to("editMessageMedia")
                .filter(|c| c.params["message_id"].as_str() == Some(&first.message_id.to_string()))
                .any(|c| c.ok());
            ok.then_some(())
        })
        .await;
        assert_eq!(fake.fault_hits(server), 1);
        let calls = media_calls(&fake, first.message_id);
        assert!(!calls[0].1 && calls[1].1, "{calls:?}");
        // Tried again after the cards' first backoff (0.5 s), not a 5 s gap later.
        assert!(
            calls[1].0 - calls[0].0 < Duration::from_secs(4),
            "{calls:?}"
        );

        // A 400 is Telegram's final word: not tried again; the chat is told, and the live
        // picture stops with a note.
        let refused = fake.fault(
            Select::Method("editMessageMedia"),
            When::Nth(1),
            Fault::Api(
                400,
                "Bad Request: wrong file identifier/HTTP URL specified".into(),
            ),
        );
        fake.send_text(OPERATOR, "echo change-2");
        fake.wait_for_bot_message(OPERATOR, Duration::from_secs(60), "the chat told", |m| {
            m.text.contains("could not be sent") && m.text.contains("f2")
        })
        .await;
        assert_eq!(fake.fault_hits(refused), 1);
        let stopped = fake
            .wait_for_bot_message(OPERATOR, T, "the stopped note", |m| {
                m.message_id == first.message_id && m.text.contains("⏹ stopped")
            })
            .await;
        assert!(stopped.reply_markup.is_none(), "{stopped:?}");
        let n = media_calls(&fake, first.message_id).len();
        fake.send_text(OPERATOR, "echo change-3");
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert_eq!(
            media_calls(&fake, first.message_id).len(),
            n,
            "no edit after the 400"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_picture_survives_a_bot_restart_and_stop_still_works() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let mut rig = start(&fake, &[]).await;
        new_sh(&fake, "f3").await;
        fake.send_text(OPERATOR, "/watch f3");
        let first = upload(&fake, "f3-", 0, "the live picture").await;
        let rows = kept_pictures(&rig, 1).await;
        assert_eq!(rows[0].message.0, first.message_id);

        // The bot dies and comes back; the screen changes after that.
        rig.kill_bot().await;
        rig.start_bot();
        rig.wait_started(&fake, 2, T).await;
        let restarted = Instant::now();
        fake.send_text(OPERATOR, "echo after-restart-$((6*7))");
        fake.wait_until(Duration::from_secs(60), "the same message edited", |s| {
            s.calls_to("editMessageMedia")
                .filter(|c| c.params["message_id"].as_str() == Some(&first.message_id.to_string()))
                .any(|c| c.ok() && c.arrived > restarted)
                .then_some(())
        })
        .await;
        let posted = fake.with(|s| s.calls_to("sendDocument").count());
        assert_eq!(posted, 1, "no second live picture");
        let edited = message(&fake, first.message_id);
        assert!(
            edited.button_data().contains(&"wst:f3".to_string()),
            "{edited:?}"
        );

        // Its keys and Stop work with the new bot.
        fake.press_button(OPERATOR, OPERATOR, first.message_id, "wst:f3");
        fake.wait_until(T, "the Stop toast", |s| {
            s.callback_answers
                .values()
                .any(|a| a["text"].as_str() == Some("Stopped"))
                .then_some(())
        })
        .await;
        let stopped = fake
            .wait_for_bot_message(OPERATOR, T, "the stopped note", |m| {
                m.message_id == first.message_id && m.text.contains("⏹ stopped")
            })
            .await;
        assert!(stopped.reply_markup.is_none(), "{stopped:?}");
        kept_pictures(&rig, 0).await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_picture_that_expired_while_the_bot_was_down_gets_its_final_note() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let mut rig = start(&fake, &[("WALKIE_WATCH_S", "6")]).await;
        new_sh(&fake, "f4").await;
        fake.send_text(OPERATOR, "/watch f4");
        let first = upload(&fake, "f4-", 0, "the live picture").await;
        kept_pictures(&rig, 1).await;
        rig.kill_bot().await;
        // Down past the end of its 6 s.
        tokio::time::sleep(Duration::from_secs(7)).await;
        rig.start_bot();
        rig.wait_started(&fake, 2, T).await;
        let ended = fake
            .wait_for_bot_message(OPERATOR, T, "the time-up note", |m| {
                m.message_id == first.message_id && m.text.contains("stopped after")
            })
            .await;
        assert!(ended.reply_markup.is_none(), "{ended:?}");
        assert_eq!(media_calls(&fake, first.message_id).len(), 0);
        kept_pictures(&rig, 0).await;
    })
    .await
}
