//! Issue 11's faults of the update loop, end to end against the real `walkie up`: strangers
//! flooding the bot (point 3) and a group (12b), a voice note too long for one card (4), a
//! full disk under the bot's state (8), a host that crashes under live screens (9).

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

mod support;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fake_telegram::{
    ChatMessage, FakeOptions, FakeTelegram, Fault, Select, When, QUERY_TOO_OLD, TOO_LONG,
};
use walkie_console::store::{AuditRecord, Store, DB_FILE};
use walkie_host_proto::client::Client;

use bot_rig::{BotRig, OPERATOR};
use support::fulldisk::SmallDisk;

const T: Duration = Duration::from_secs(30);
const GROUP: i64 = -100500;

async fn bounded<F: Future>(limit: Duration, f: F) -> F::Output {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("test took longer than {limit:?}"))
}

async fn start(fake: &FakeTelegram, bot_env: &[(&str, &str)], toml: Option<&str>) -> BotRig {
    let rig = BotRig::start(fake, &[("SHELL", "/bin/sh")], bot_env, toml).await;
    rig.wait_started(fake, 1, T).await;
    rig
}

/// `/new NAME COMMAND` in `chat`, waiting for the bot to say it started.
async fn new_session(fake: &FakeTelegram, chat: i64, name: &str, command: &str) {
    fake.send_text_in(chat, OPERATOR, &format!("/new {name} {command}"), None);
    let started = format!("Started {name}");
    fake.wait_for_bot_message(chat, T, "the session to start", |m| {
        m.text.starts_with(&started)
    })
    .await;
}

/// The live message of `session` in `chat` once it shows `needle`.
async fn live_showing(fake: &FakeTelegram, chat: i64, session: &str, needle: &str) -> ChatMessage {
    let head = format!("<b>{session}</b>");
    fake.wait_for_bot_message(
        chat,
        T,
        &format!("{session}'s screen to show {needle}"),
        |m| m.raw.starts_with(&head) && m.text.contains(needle),
    )
    .await
}

/// How long after message `msg` of `chat` was offered to the bot its answer (the first
/// sendMessage to `chat` whose text satisfies `pred`) arrived.
fn answer_latency(
    fake: &FakeTelegram,
    chat: i64,
    msg: i64,
    pred: impl Fn(&str) -> bool,
) -> Option<Duration> {
    fake.with(|s| {
        let offered = s.message_update(chat, msg)?.offered?;
        s.calls_to("sendMessage")
            .filter(|c| c.chat_id() == Some(chat) && c.arrived >= offered)
            .find(|c| c.text().is_some_and(&pred))
            .map(|c| c.arrived.saturating_duration_since(offered))
    })
}

fn refusals_to(fake: &FakeTelegram, chat: i64) -> usize {
    fake.with(|s| {
        s.bot_messages(chat)
            .iter()
            .filter(|m| m.text == "This is a private bot.")
            .count()
    })
}

/// Point 3: 1,000 strangers and 180 presses queued at once hold the owner up by no more
/// than one update's worth, every press is answered well inside Telegram's 15 s, the group
/// gets no refusal per presser, and one stranger's thousand messages get one refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_flooding_the_bot_do_not_hold_up_the_owner_or_let_presses_expire() {
    bounded(Duration::from_secs(150), async {
        let fake = FakeTelegram::start_with(FakeOptions {
            callback_expiry: Some(Duration::from_secs(15)),
            ..FakeOptions::default()
        })
        .await;
        let _rig = start(&fake, &[], None).await;

        // One stranger's thousand messages: one refusal. A second stranger's message after
        // them is refused after them (the queues keep their order), so once it is answered
        // every one of the thousand has been seen.
        fake.texts_from(std::iter::repeat_n(666, 1000), None, "hello");
        fake.send_text(777, "hello");
        fake.wait_for_bot_message(
            777,
            T,
            "the refusal of the stranger behind the flood",
            |m| m.text == "This is a private bot.",
        )
        .await;
        assert_eq!(refusals_to(&fake, 666), 1);

        fake.texts_from(2000..3000, None, "hello");
        let presses = fake.presses_from(3000..3180, Some(GROUP), "use:x");
        let help = fake.send_text(OPERATOR, "/help");
        fake.wait_for_bot_message(OPERATOR, T, "the answer to /help", |m| {
            m.text.contains("/new")
        })
        .await;
        let owner = answer_latency(&fake, OPERATOR, help, |t| t.contains("/new")).expect("offered");
        let pushed = fake.message_update(OPERATOR, help).expect("pushed").pushed;
        let offered = fake
            .message_update(OPERATOR, help)
            .and_then(|u| u.offered)
            .expect("offered");
        eprintln!(
            "owner: offered {:?} after it was sent, answered {owner:?} after the offer",
            offered - pushed
        );
        assert!(owner < Duration::from_secs(2), "the owner waited {owner:?}");
        assert!(
            offered - pushed < Duration::from_secs(5),
            "the owner's message was fetched {:?} after it was sent",
            offered - pushed
        );

        let records = fake
            .wait_until(T, "every press to be answered", |s| {
                let r: Vec<_> = s
                    .update_log
                    .iter()
                    .filter(|u| u.kind == "callback_query")
                    .cloned()
                    .collect();
                r.iter().all(|u| u.answered.is_some()).then_some(r)
            })
            .await;
        assert_eq!(records.len(), presses.len());
        let slowest = records
            .iter()
            .filter_map(|u| u.answered.map(|a| a - u.pushed))
            .max()
            .expect("presses");
        eprintln!("slowest press answered {slowest:?} after it was pressed");
        assert!(slowest < Duration::from_secs(5), "{slowest:?}");
        assert!(fake.with(|s| s
            .calls_to("answerCallbackQuery")
            .all(|c| c.description() != Some(QUERY_TOO_OLD))));
        assert_eq!(
            refusals_to(&fake, GROUP),
            0,
            "presses post nothing in the group"
        );

        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
    })
    .await
}

/// Point 3 in a group, and 12b: sixty strangers saying hello get one refusal between them,
/// hold the owner up by nothing, and do not push the group's live screen up (it is
/// edited in place, not posted again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_in_a_group_get_one_refusal_and_leave_the_live_screen_in_place() {
    bounded(Duration::from_secs(120), async {
        let fake = FakeTelegram::start_with(FakeOptions {
            group_per_minute: Some(20.0),
            ..FakeOptions::default()
        })
        .await;
        let _rig = start(&fake, &[], None).await;
        new_session(&fake, GROUP, "g1", "sh").await;
        fake.send_text_in(GROUP, OPERATOR, "echo before-$((1+1))", None);
        let live = live_showing(&fake, GROUP, "g1", "before-2").await;

        fake.texts_from(3000..3060, Some(GROUP), "hello");
        let help = fake.send_text_in(GROUP, OPERATOR, "/help", None);
        fake.wait_for_bot_message(GROUP, T, "the answer to /help", |m| m.text.contains("/new"))
            .await;
        let owner = answer_latency(&fake, GROUP, help, |t| t.contains("/new")).expect("offered");
        eprintln!("owner in the group answered {owner:?} after the offer");
        assert!(owner < Duration::from_secs(4), "the owner waited {owner:?}");

        fake.send_text_in(GROUP, OPERATOR, "echo after-$((2+2))", None);
        let now = live_showing(&fake, GROUP, "g1", "after-4").await;
        assert_eq!(
            now.message_id, live.message_id,
            "edited in place, not posted again"
        );
        assert!(now.edits > live.edits);
        assert_eq!(fake.with(|s| s.calls_to("deleteMessage").count()), 0);
        // The refusal is posted (once) off the loop: wait for it, then count.
        fake.wait_for_bot_message(GROUP, T, "the group's refusal", |m| {
            m.text == "This is a private bot."
        })
        .await;
        assert_eq!(refusals_to(&fake, GROUP), 1);
        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
    })
    .await
}

/// The shared voice fixtures and whisper model (beside the repository, as in CI).
fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

fn model_env() -> (String, String) {
    let model = std::env::var("WALKIE_MODEL").unwrap_or_else(|_| {
        shared()
            .join("models/ggml-tiny.en.bin")
            .display()
            .to_string()
    });
    ("WALKIE_MODEL".into(), model)
}

/// `copies` of an Ogg/Opus note one after the other, as one note (one logical stream:
/// the later copies' headers dropped, their granule positions moved on).
fn repeated_note(note: &[u8], copies: usize) -> Vec<u8> {
    use ogg::writing::PacketWriteEndInfo;
    let mut out = Vec::new();
    let mut w = ogg::PacketWriter::new(&mut out);
    let mut offset = 0u64;
    for copy in 0..copies {
        let mut r = ogg::PacketReader::new(std::io::Cursor::new(note));
        let mut end = 0;
        let mut n = 0;
        while let Some(p) = r.read_packet().expect("fixture ogg") {
            n += 1;
            if copy > 0 && n <= 2 {
                continue; // OpusHead, OpusTags
            }
            let info = if p.last_in_stream() && copy + 1 == copies {
                PacketWriteEndInfo::EndStream
            } else if p.last_in_page() || p.last_in_stream() {
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            let gp = if n <= 2 { 0 } else { p.absgp_page() + offset };
            end = end.max(p.absgp_page());
            w.write_packet(p.data.clone(), p.stream_serial(), info, gp)
                .expect("write ogg");
        }
        offset += end;
    }
    drop(w);
    out
}

/// Point 4: a note of almost six minutes, whose transcript is far over 4,096 characters,
/// gets a card (shortened, saying so), and Send types the whole transcript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_note_too_long_for_one_message_gets_a_card_and_send_types_all_of_it() {
    bounded(Duration::from_secs(400), async {
        let fake = FakeTelegram::start().await;
        let (k, v) = model_env();
        let rig = start(
            &fake,
            &[(&k, &v)],
            Some("[transcription]\nmax_duration_s = 400\n"),
        )
        .await;
        let out = rig.host.dir.path().join("typed.txt");
        // Not a line discipline with its 4 KiB line limit: the text goes whole to the file.
        let command = format!("sh -c 'stty -icanon -echo; cat > {}'", out.display());
        new_session(&fake, OPERATOR, "long", &command).await;

        let note = std::fs::read(shared().join("fixtures/voice/long_status_update.ogg"))
            .expect("voice fixture");
        fake.send_voice(OPERATOR, repeated_note(&note, 6), 344);
        let card = fake
            .wait_for_bot_message(OPERATOR, Duration::from_secs(300), "the card", |m| {
                m.text.starts_with("🎙 → long:")
            })
            .await;
        assert!(
            card.text
                .contains("characters not shown here; Send types them all"),
            "{}",
            card.text
        );
        assert!(card.text.contains("Good morning team") && card.text.contains("great afternoon"));
        assert!(fake.with(|s| s.calls.iter().all(|c| c.description() != Some(TOO_LONG))));

        let send = card
            .buttons()
            .into_iter()
            .find(|(t, _)| t == "Send")
            .map(|(_, d)| d)
            .expect("Send button");
        fake.press_button(OPERATOR, OPERATOR, card.message_id, &send);
        let card_id = card.message_id;
        // Typing 6,000 characters and then the edit run behind this file's flood tests
        // on a loaded 2-core machine: a wider (still bounded) window than T.
        fake.wait_until(4 * T, "the card to say sent", |s| {
            s.message(OPERATOR, card_id)
                .filter(|m| m.text.contains("sent") && m.reply_markup.is_none())
                .map(|_| ())
        })
        .await;
        let audit = rig.audit().await;
        let sent: Vec<&AuditRecord> = audit.iter().filter(|a| a.action == "dispatch").collect();
        assert_eq!(sent.len(), 1, "{sent:?}");
        let text = sent[0].text.clone().expect("dispatched text");
        assert!(
            text.chars().count() > 4096,
            "{} characters",
            text.chars().count()
        );
        let deadline = Instant::now() + T;
        loop {
            let got = std::fs::read_to_string(&out).unwrap_or_default();
            if got.trim_end() == text {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the session got {} of {} characters",
                got.len(),
                text.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// Point 4: a card Telegram refuses is said in the chat, not silently dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_card_that_cannot_be_shown_is_said_in_the_chat() {
    bounded(Duration::from_secs(120), async {
        let fake = FakeTelegram::start().await;
        let (k, v) = model_env();
        let _rig = start(&fake, &[(&k, &v)], None).await;
        new_session(&fake, OPERATOR, "v1", "sh").await;
        let refused = fake.fault(
            Select::method_where("sendMessage", |p| {
                p["text"].as_str().is_some_and(|t| t.starts_with("🎙"))
            }),
            When::Nth(1),
            Fault::Api(400, TOO_LONG.into()),
        );
        let note = std::fs::read(shared().join("fixtures/voice/approve.ogg")).expect("fixture");
        fake.send_voice(OPERATOR, note, 2);
        let said = fake
            .wait_for_bot_message(
                OPERATOR,
                Duration::from_secs(60),
                "word of the lost card",
                |m| m.text.starts_with("⚠️ Could not show the card"),
            )
            .await;
        assert!(said.text.contains("message is too long"), "{}", said.text);
        assert!(said.text.contains("nothing was sent"), "{}", said.text);
        assert_eq!(fake.fault_hits(refused), 1);
    })
    .await
}

/// Point 8: the bot's state dir fills up. `walkie up` keeps running, says so once, holds
/// the messages, and when space returns handles each of them once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_said_once_and_the_bot_carries_on_when_space_returns() {
    let Some(disk) = SmallDisk::mount_or_skip("a_full_disk_is_said_once", 4096) else {
        return;
    };
    bounded(Duration::from_secs(150), async {
        let fake = FakeTelegram::start().await;
        let state = disk.join("state");
        let state_s = state.display().to_string();
        let mut rig = start(&fake, &[("WALKIE_STATE_DIR", &state_s)], None).await;
        new_session(&fake, OPERATOR, "d1", "sh").await;
        fake.send_text(OPERATOR, "echo first-$((1+1))");
        live_showing(&fake, OPERATOR, "d1", "first-2").await;

        disk.fill().expect("fill the disk");
        fake.send_text(OPERATOR, "/help");
        fake.send_text(OPERATOR, "echo held-$((3*4))");
        let notice = "walkie cannot write its state (disk full?)";
        fake.wait_for_bot_message(OPERATOR, T, "the disk-full notice", |m| {
            m.text.contains(notice)
        })
        .await;
        // It goes on trying (a bounded wait on its log), and says it no more than once.
        let deadline = Instant::now() + T;
        while rig.bot_log().matches("cannot claim an update").count() < 4 {
            assert!(Instant::now() < deadline, "no retries:\n{}", rig.bot_log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let count = |fake: &FakeTelegram, pred: &dyn Fn(&str) -> bool| {
            fake.with(|s| {
                s.bot_messages(OPERATOR)
                    .iter()
                    .filter(|m| pred(&m.text))
                    .count()
            })
        };
        assert_eq!(count(&fake, &|t| t.contains(notice)), 1);
        assert!(
            rig.bot
                .as_mut()
                .expect("bot")
                .try_wait()
                .expect("try_wait")
                .is_none(),
            "walkie up exited:\n{}",
            rig.bot_log()
        );

        disk.free().expect("free the disk");
        fake.wait_for_bot_message(OPERATOR, T, "the held /help's answer", |m| {
            m.text.contains("/new")
        })
        .await;
        live_showing(&fake, OPERATOR, "d1", "held-12").await;
        fake.wait_for_bot_message(OPERATOR, T, "word that it writes again", |m| {
            m.text.contains("can write its state again")
        })
        .await;
        fake.send_text(OPERATOR, "echo after-$((5+5))");
        live_showing(&fake, OPERATOR, "d1", "after-10").await;
        assert_eq!(
            count(&fake, &|t| t.contains("/new")),
            1,
            "help answered once"
        );
        assert_eq!(count(&fake, &|t| t.contains(notice)), 1);

        let store = Store::open(&state.join(DB_FILE))
            .await
            .expect("the store opens");
        let dispatched: Vec<String> = store
            .audit_tail(100)
            .await
            .expect("audit")
            .into_iter()
            .filter(|a| a.action == "dispatch")
            .filter_map(|a| a.text)
            .collect();
        assert_eq!(
            dispatched,
            [
                "echo first-$((1+1))",
                "echo held-$((3*4))",
                "echo after-$((5+5))"
            ]
        );
        assert!(store
            .unfinished_updates()
            .await
            .expect("updates")
            .is_empty());
        store.close().await;
        rig.kill_bot().await;
    })
    .await
}

/// Point 9: the host is SIGKILLed under two live screens. The chat is told, in one
/// message, which sessions were lost, with a Revive button each; the live screens say
/// "lost"; after the host is back, Revive starts the session again and its screen runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_crash_is_told_with_revive_buttons_and_marks_the_live_screens() {
    bounded(Duration::from_secs(150), async {
        let fake = FakeTelegram::start().await;
        let mut rig = BotRig::start(&fake, &[("SHELL", "/bin/sh")], &[], None).await;
        // No host may be started by the bot: the test restarts its own.
        rig.wait_started(&fake, 1, T).await;
        rig.kill_bot().await;
        let mut c = rig.bot_command();
        c.arg("--no-spawn")
            .stderr(std::fs::File::create(rig.host.dir.path().join("bot.log")).expect("bot.log"));
        rig.bot = Some(c.spawn().expect("walkie up"));
        rig.wait_started(&fake, 2, T).await;

        new_session(&fake, OPERATOR, "c1", "sh").await;
        fake.send_text(OPERATOR, "echo one-$((0+1))");
        let c1 = live_showing(&fake, OPERATOR, "c1", "one-1").await;
        new_session(&fake, OPERATOR, "c2", "sh").await;
        fake.send_text(OPERATOR, "echo two-$((1+1))");
        let c2 = live_showing(&fake, OPERATOR, "c2", "two-2").await;

        rig.host.crash();
        let notice = fake
            .wait_for_bot_message(OPERATOR, T, "the lost sessions' notice", |m| {
                m.text.contains("lost") && m.button_data().len() == 2
            })
            .await;
        assert!(
            notice.text.contains("c1") && notice.text.contains("c2"),
            "{}",
            notice.text
        );
        let mut data = notice.button_data();
        data.sort();
        assert_eq!(data, ["revive:c1", "revive:c2"]);
        for live in [&c1, &c2] {
            let id = live.message_id;
            let marked = fake
                .wait_until(T, "the live screen to say lost", |s| {
                    s.message(OPERATOR, id)
                        .filter(|m| m.text.lines().next().is_some_and(|l| l.contains("lost")))
                        .cloned()
                })
                .await;
            assert!(!marked.text.lines().next().unwrap_or("").contains("running"));
        }
        assert_eq!(
            fake.with(|s| s
                .bot_messages(OPERATOR)
                .iter()
                .filter(|m| m.button_data().iter().any(|d| d.starts_with("revive:")))
                .count()),
            1,
            "one message for both"
        );

        rig.host.spawn_host();
        let q = fake.press_button(OPERATOR, OPERATOR, notice.message_id, "revive:c1");
        let answer = fake
            .wait_until(T, "the Revive press to be answered", |s| {
                s.callback_answers.get(&q).cloned()
            })
            .await;
        assert_eq!(answer["text"], "Revived c1");
        let id = c1.message_id;
        fake.wait_until(T, "c1's live screen to run again", |s| {
            s.message(OPERATOR, id)
                .filter(|m| m.raw.starts_with("<b>c1</b> · running"))
                .map(|_| ())
        })
        .await;
        let list = Client::connect(&rig.socket())
            .await
            .expect("host")
            .list()
            .await
            .expect("list");
        let state = |name: &str| {
            list.iter()
                .find(|s| s.name == name)
                .map(|s| s.state.clone())
                .unwrap_or_else(|| panic!("no {name} in {list:?}"))
        };
        assert!(state("c1").is_live(), "{list:?}");
        assert!(!state("c2").is_live(), "{list:?}");
    })
    .await
}
