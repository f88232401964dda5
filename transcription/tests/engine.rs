//! The warm transcriber and its queue, in process, with the shared tiny.en model
//! (`$WALKIE_MODEL`, else `../shared/models/ggml-tiny.en.bin` beside the repository).

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use walkie_transcription::model::{self, Verified};
use walkie_transcription::{
    audio, text, Input, Options, Queue, Settings, TranscribeError, Transcriber,
};

const LIMIT: Duration = Duration::from_secs(120);

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

fn fixture(name: &str) -> PathBuf {
    shared().join("fixtures/voice").join(name)
}

fn model_path() -> PathBuf {
    std::env::var_os("WALKIE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared().join("models/ggml-tiny.en.bin"))
}

/// One warm model for every test in this file.
fn transcriber() -> Arc<Transcriber> {
    static T: OnceLock<Arc<Transcriber>> = OnceLock::new();
    T.get_or_init(|| {
        Arc::new(
            Transcriber::load(&model_path(), Settings::default()).expect("loading the test model"),
        )
    })
    .clone()
}

fn words(s: &str) -> String {
    text::words(s).join(" ")
}

#[test]
fn queue_runs_jobs_in_order_one_at_a_time() {
    let q = Queue::new(transcriber(), 1);
    let (tx, rx) = mpsc::channel();
    let jobs = [("deny.ogg", 0), ("approve.ogg", 1), ("not_audio.ogg", 2)];
    for (name, expected_ahead) in jobs {
        let tx = tx.clone();
        let bytes = std::fs::read(fixture(name)).unwrap();
        let ahead = q.submit_with(Input::Bytes(bytes), Options::default(), move |r| {
            let _ = tx.send((name, r));
        });
        // The first job may already have been taken by the worker when the next is queued.
        assert!(ahead <= expected_ahead, "{name}: {ahead} ahead");
    }
    let order: Vec<_> = (0..3)
        .map(|_| rx.recv_timeout(LIMIT).expect("a job finished"))
        .collect();
    assert_eq!(
        order.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec!["deny.ogg", "approve.ogg", "not_audio.ogg"]
    );
    assert_eq!(words(&order[0].1.as_ref().unwrap().text), "deny");
    assert_eq!(words(&order[1].1.as_ref().unwrap().text), "approve");
    assert!(matches!(order[2].1, Err(TranscribeError::NotAudio { .. })));
    assert_eq!(q.waiting(), 0);
}

#[test]
fn two_workers_share_one_model() {
    let q = Queue::new(transcriber(), 2);
    let a = q.submit(Input::File(fixture("list_files.ogg")), Options::default());
    let b = q.submit(
        Input::File(fixture("deploy_staging.ogg")),
        Options::default(),
    );
    let a = a.wait_timeout(LIMIT).expect("job a finished").unwrap();
    let b = b.wait_timeout(LIMIT).expect("job b finished").unwrap();
    assert_eq!(words(&a.text), "list all files in the current directory");
    assert_eq!(words(&b.text), "deploy the staging branch");
}

#[test]
fn vocabulary_prompt_keeps_the_words_and_short_window_matches_full() {
    let t = transcriber();
    let opts = Options {
        vocabulary: vec![
            "pytest".into(),
            "cargo".into(),
            "PR".into(),
            "walkie".into(),
        ],
        ..Options::default()
    };
    // With beam search tiny.en hears "run the test" here without a prompt (as whisper.cpp's
    // CLI does) and "run the tests" with this one; either is within one word.
    let r = t.transcribe_file(&fixture("run_tests.ogg"), &opts).unwrap();
    let wer = text::word_error_rate("run the tests and fix any failures", &words(&r.text));
    assert!(wer <= 1.0 / 7.0, "{}", r.text);
    assert_eq!(r.audio_ctx, 1500, "a prompt uses the full window");
    // The short window is used for a 3 s note and gives the full window's words (a note
    // that tiny.en hears the same way at every window size, so CPU float differences
    // cannot tip it; tests/transcription.rs compares every fixture).
    let short = t
        .transcribe_file(&fixture("list_files.ogg"), &Options::default())
        .unwrap();
    assert!(short.audio_ctx < 1500 && !short.fallback, "{short:?}");
    let full = t
        .transcribe_file(
            &fixture("list_files.ogg"),
            &Options {
                full_window: true,
                ..Options::default()
            },
        )
        .unwrap();
    assert_eq!(full.audio_ctx, 1500);
    assert_eq!(words(&short.text), words(&full.text));
    assert_eq!(short.segments.len(), 1);
    assert!(short.transcribe_ms > 0.0 && short.audio_duration_s > 3.0);
}

/// Deterministic white noise.
fn noise(seconds: f32, amplitude: f32) -> audio::Audio {
    let mut x: u32 = 0x1234_5678;
    let samples = (0..(seconds * 16_000.0) as usize)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 * 2.0 - 1.0) * amplitude
        })
        .collect();
    audio::Audio { samples }
}

#[test]
fn silence_and_noise_give_empty_text() {
    let t = transcriber();
    let r = t
        .transcribe_file(&fixture("silence.ogg"), &Options::default())
        .unwrap();
    assert_eq!(r.text, "");
    for (secs, amp) in [(3.0, 0.0005), (3.0, 0.02), (5.0, 0.2)] {
        let r = t
            .transcribe_audio(&noise(secs, amp), &Options::default())
            .unwrap();
        assert_eq!(r.text, "", "white noise {secs} s at {amp}: {r:?}");
    }
}

#[test]
fn corrupt_models_never_reach_whisper() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read(model_path()).unwrap();
    // The model's own header and vocabulary, then junk, at the real file's size and name.
    let mut bad = real.clone();
    for b in bad[1_000_000..].iter_mut() {
        *b = 0x41;
    }
    let p = dir.path().join("ggml-tiny.en.bin");
    std::fs::write(&p, &bad).unwrap();
    match Transcriber::load(&p, Settings::default()) {
        Err(TranscribeError::ModelCorrupt { reason, .. }) => {
            assert!(reason.contains("tensor"), "{reason}")
        }
        other => panic!("expected ModelCorrupt, got {other:?}"),
    }
    // Cut short.
    std::fs::write(&p, &real[..real.len() - 1000]).unwrap();
    assert!(matches!(
        Transcriber::load(&p, Settings::default()),
        Err(TranscribeError::ModelCorrupt { .. })
    ));
    // Sound structure but not the published bytes (the q8_0 file under the f16 name): used,
    // as a structurally checked file, not as the known model.
    let q8 = shared().join("models/ggml-tiny.en-q8_0.bin");
    std::fs::copy(&q8, &p).unwrap();
    assert_eq!(model::verify(&p).unwrap(), Verified::Structure);
    assert_eq!(
        model::verify(&q8).unwrap(),
        Verified::Checksum("tiny.en-q8_0")
    );
}

#[test]
fn loops_are_cut_and_hallucinations_dropped() {
    let (t, cut) = text::cut_repetition(
        "Deploy the branch. Deploy the branch. Deploy the branch. Deploy the branch.",
    );
    assert!(cut);
    assert_eq!(t, "Deploy the branch.");
    assert_eq!(text::hallucination("Thank you for watching."), Some(true));
}
