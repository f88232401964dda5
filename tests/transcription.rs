//! Integration tests of transcription: the real `walkie transcribe` and `walkie model`
//! commands on the shared voice-note fixtures and model, and a model host on 127.0.0.1.
//!
//! The model is `$WALKIE_MODEL`, else `../shared/models/ggml-tiny.en.bin` beside the
//! repository. No test needs the network.
//!
//! Word error rate bounds (words lower-cased, punctuation removed, numbers as words):
//! - short notes (the 7 commands and the noisy one), together: at most 15 %, and at least
//!   5 of the 8 exact. walkie decodes as whisper.cpp's CLI does by default (beam search 5)
//!   and gets the CLI's words on every note (docs/PERFORMANCE.md); with this model the CLI
//!   itself hears "can't solve" for "cancel" and "test" for "tests": 3 word errors in 39
//!   (7.7 %). The bound leaves room for about two more words lost to float differences
//!   between CPUs (other SIMD paths) while a broken pipeline lands far above it.
//! - the 57 s note: at most 10 %. whisper.cpp's result is 1.2 % with beam search and 3.7 %
//!   greedy (pronunciation artefacts of the synthetic voice: "stating" for staging); 10 %
//!   leaves room for CPU float differences, not for wrong resampling, an untrimmed
//!   pre-skip or lost packets.
//! - the short encoder window must give the full window's words on the short notes: that
//!   is what makes the speed-up free (the CLI always runs the full window). Identical on
//!   all 8 on the development machine (AVX-512) and with an AVX2-only build of whisper.cpp
//!   (`GGML_NATIVE=OFF GGML_AVX512=OFF`); one note may still tip on another CPU.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use walkie_transcription::{audio, model, text, Options, Settings, Transcriber};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

fn fixtures() -> PathBuf {
    shared().join("fixtures/voice")
}

fn model_path() -> PathBuf {
    std::env::var_os("WALKIE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared().join("models/ggml-tiny.en.bin"))
}

/// A `walkie` command with an isolated environment: its own data dir, no config file, no
/// model from the caller's environment.
fn walkie(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_walkie"));
    c.current_dir(home)
        .env_remove("WALKIE_MODEL")
        .env_remove("WALKIE_CONFIG")
        .env_remove("WALKIE_THREADS")
        .env_remove("WALKIE_MODEL_BASE_URL")
        .env_remove("RUST_LOG")
        .env("WALKIE_DATA_DIR", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs a command, killing it if it takes longer than `limit`.
fn run(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd.spawn().expect("spawning walkie");
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("waiting for walkie"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("walkie did not finish within {limit:?}: {cmd:?}");
        }
    }
}

fn code(out: &Output) -> i32 {
    // A signal (whisper.cpp's abort is SIGABRT) has no code: report it as -1.
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Words for comparison: [`text::words`] with numbers as digits (whisper writes "2" or
/// "two" depending on context).
fn norm(s: &str) -> String {
    text::words(&s.replace('-', " "))
        .into_iter()
        .map(|w| match walkie_words::number(&w) {
            Some(n) => n.to_string(),
            None => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

struct Row {
    file: String,
    duration_s: f64,
    expected: String,
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(fixtures().join("manifest.tsv")).expect("manifest.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            Row {
                file: f.next().unwrap().to_string(),
                duration_s: f.next().unwrap().parse().unwrap(),
                expected: f.next().unwrap_or("").to_string(),
            }
        })
        .collect()
}

#[test]
fn every_fixture_in_the_manifest() {
    let home = tempfile::tempdir().unwrap();
    let rows = manifest();
    assert!(rows.len() >= 11, "manifest has {} rows", rows.len());
    let mut cmd = walkie(home.path());
    cmd.arg("transcribe")
        .arg("--json")
        .arg("--model")
        .arg(model_path());
    for r in &rows {
        cmd.arg(fixtures().join(&r.file));
    }
    let out = run(cmd, Duration::from_secs(300));
    // not_audio.ogg is in the manifest, so the run exits 5 after transcribing the rest.
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), rows.len(), "{}", stdout(&out));
    let (mut short_errors, mut short_words, mut short_exact) = (0.0, 0, 0);
    // Short notes as heard with the short window: file, words, encoder context.
    let mut short: Vec<(String, String, u64)> = Vec::new();
    for (r, v) in rows.iter().zip(&lines) {
        assert!(v["file"].as_str().unwrap().ends_with(&r.file), "{v}");
        if r.expected == "ERROR" {
            assert_eq!(v["error"]["kind"], "not_audio", "{}: {v}", r.file);
            continue;
        }
        let got = v["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: {v}", r.file));
        let dur = v["audio_duration_s"].as_f64().unwrap();
        assert!(
            (dur - r.duration_s).abs() < 0.1,
            "{}: decoded {dur} s, manifest {} s",
            r.file,
            r.duration_s
        );
        assert_eq!(v["language"], "en");
        if r.expected.is_empty() {
            assert_eq!(got, "", "{}: silence must give empty text", r.file);
            assert!(v["segments"].as_array().unwrap().is_empty());
            continue;
        }
        let wer = text::word_error_rate(&norm(&r.expected), &norm(got));
        if r.duration_s > 30.0 {
            assert!(wer <= 0.10, "{}: WER {wer:.3}: {got:?}", r.file);
        } else {
            let n = norm(&r.expected).split_whitespace().count();
            short_errors += wer * n as f64;
            short_words += n;
            short.push((r.file.clone(), norm(got), v["audio_ctx"].as_u64().unwrap()));
            if wer == 0.0 {
                short_exact += 1;
            }
            eprintln!("{}: WER {wer:.3}: {got:?}", r.file);
        }
        // Segments: ordered, inside the audio.
        let segs = v["segments"].as_array().unwrap();
        assert!(!segs.is_empty());
        let mut last = 0.0;
        for s in segs {
            let (a, b) = (s["start_s"].as_f64().unwrap(), s["end_s"].as_f64().unwrap());
            assert!(
                a >= last - 0.01 && b >= a && b <= dur + 0.001,
                "{}: segment {s}",
                r.file
            );
            last = a;
        }
        assert!(v["transcribe_ms"].as_f64().unwrap() > 0.0);
        assert!(v["decode_ms"].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(short.len(), 8);
    let short_wer = short_errors / short_words as f64;
    assert!(
        short_wer <= 0.15 && short_exact >= 5,
        "short notes: WER {short_wer:.3}, {short_exact} of 8 exact"
    );

    // The short window must give the full window's words.
    let mut cmd = walkie(home.path());
    cmd.args(["transcribe", "--json", "--full-window", "--model"])
        .arg(model_path());
    for (file, _, _) in &short {
        cmd.arg(fixtures().join(file));
    }
    let out = run(cmd, Duration::from_secs(300));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let full: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(full.len(), short.len(), "{}", stdout(&out));
    let (mut differing, mut word_diffs) = (Vec::new(), 0.0);
    for ((file, a, ctx), v) in short.iter().zip(&full) {
        let b = norm(v["text"].as_str().unwrap());
        let full_ctx = v["audio_ctx"].as_u64().unwrap();
        assert!(
            *ctx < 1500 && full_ctx == 1500,
            "{file}: {ctx} / {full_ctx}"
        );
        if *a != b {
            eprintln!("{file}: short window {a:?}, full window {b:?}");
            differing.push(file.clone());
            word_diffs += text::word_error_rate(&b, a) * b.split_whitespace().count() as f64;
        }
    }
    // Identical on all 8 here; one note may tip on another CPU (its SIMD path rounds
    // differently, and tiny.en hesitates between two readings of `cancel` and `run_tests`),
    // never more than one note or two words.
    assert!(
        differing.len() <= 1 && word_diffs <= 2.0,
        "short window changed the words of {differing:?} ({word_diffs} words)"
    );
}

/// The notes of tests/fixtures/voice (README.md there): a session named at the start, or a
/// name that must not route.
fn name_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/voice")
}

/// Without a prompt (the short encoder window) the matcher routes each name note as its
/// manifest says: "Back end, ..." and "Front end, ..." to `backend` and `frontend`, and
/// "Test the API ..." nowhere although `test` and `api` are sessions.
#[test]
fn spoken_session_names_route_without_a_prompt() {
    let text = std::fs::read_to_string(name_fixtures().join("manifest.tsv")).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    assert!(rows.len() >= 7, "{} name fixtures", rows.len());
    let (tx, rx) = mpsc::channel();
    // whisper runs in-process; a thread keeps the test bounded in time.
    thread::spawn(move || {
        let t = Transcriber::load(&model_path(), Settings::default()).unwrap();
        let opts = Options {
            names: ["backend", "frontend", "api", "test", "web2"]
                .map(String::from)
                .to_vec(),
            ..Options::default()
        };
        let heard: Vec<_> = rows
            .into_iter()
            .map(|r| {
                let got = t.transcribe_file(&name_fixtures().join(&r[0]), &opts);
                (r, got)
            })
            .collect();
        let _ = tx.send(heard);
    });
    let heard = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("the name fixtures were not transcribed within 300 s");
    let mut routed = 0;
    for (row, got) in heard {
        let (file, routes) = (&row[0], row.get(4).map(String::as_str).unwrap_or(""));
        let got = got.unwrap_or_else(|e| panic!("{file}: {e}"));
        eprintln!("{file}: {:?} -> {:?}", got.heard, got.session);
        assert!(
            got.audio_ctx < 1500,
            "{file}: full window ({})",
            got.audio_ctx
        );
        assert_eq!(
            got.session.as_deref().unwrap_or(""),
            routes,
            "{file}: heard {:?}",
            got.heard
        );
        match &got.session {
            Some(s) => {
                routed += 1;
                let rest = got.text.strip_prefix(&format!("{s}: ")).unwrap();
                assert!(!rest.is_empty() && got.heard.ends_with(rest), "{got:?}");
            }
            None => assert_eq!(got.text, got.heard),
        }
    }
    assert!(routed >= 4, "{routed} notes routed");
}

fn write_wav(path: &Path, rate: u32, samples: &[f32]) {
    std::fs::write(path, audio::wav_bytes(rate, 1, samples)).unwrap();
}

#[test]
fn spoken_48k_wav_round_trips_and_transcribes() {
    let home = tempfile::tempdir().unwrap();
    // A spoken 48 kHz WAV: the run_tests note decoded, upsampled to 48 kHz, 16-bit.
    let note = audio::decode_file(&fixtures().join("run_tests.ogg"), 300).unwrap();
    let up = audio::resample(&note.samples, 16_000, 48_000);
    assert_eq!(up.len(), note.samples.len() * 3);
    let wav = home.path().join("note48k.wav");
    write_wav(&wav, 48_000, &up);
    let back = audio::decode_file(&wav, 300).unwrap();
    assert_eq!(
        back.samples.len(),
        note.samples.len(),
        "48 kHz -> 16 kHz sample count"
    );
    // The round trip keeps the signal: the mean error is far below the signal level.
    let err: f32 = back
        .samples
        .iter()
        .zip(&note.samples)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / back.samples.len() as f32;
    let level: f32 = note.samples.iter().map(|s| s.abs()).sum::<f32>() / note.samples.len() as f32;
    assert!(err < level * 0.1, "round-trip error {err} vs level {level}");

    let mut cmd = walkie(home.path());
    cmd.arg("transcribe")
        .arg("--model")
        .arg(model_path())
        .arg(&wav);
    let out = run(cmd, Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // One word may change: the round trip removes the 7.2-8 kHz band, and on this clip
    // tiny.en then hears "test" for "tests" with the full 30 s window too.
    let wer = text::word_error_rate("run the tests and fix any failures", &norm(&stdout(&out)));
    assert!(wer <= 1.0 / 7.0, "{}", stdout(&out));
}

#[test]
fn transcribe_exit_codes_and_messages() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let note = fixtures().join("run_tests.ogg");
    let t = Duration::from_secs(120);

    // No model anywhere: 3, and the message names the command that fixes it.
    let mut c = walkie(h);
    c.arg("transcribe").arg(&note);
    let out = run(c, t);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("walkie model download tiny.en"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    // --model that does not exist: 3.
    let mut c = walkie(h);
    c.arg("transcribe")
        .arg("--model")
        .arg(h.join("nope.bin"))
        .arg(&note);
    let out = run(c, t);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("nope.bin"));

    // WALKIE_MODEL pointing nowhere: 3, naming it.
    let mut c = walkie(h);
    c.env("WALKIE_MODEL", h.join("gone.bin"))
        .arg("transcribe")
        .arg(&note);
    let out = run(c, t);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("gone.bin"));

    // A corrupt model in the data dir (a real header, junk after it): 4, never an abort.
    let models = h.join("data/models");
    std::fs::create_dir_all(&models).unwrap();
    let mut bytes = vec![0u8; 300_000];
    std::fs::File::open(model_path())
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    bytes.extend(std::iter::repeat_n(0x5a, 2_000_000));
    std::fs::write(models.join("ggml-tiny.en.bin"), &bytes).unwrap();
    let mut c = walkie(h);
    c.arg("transcribe").arg(&note);
    let out = run(c, t);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("corrupt"), "{}", stderr(&out));
    std::fs::remove_file(models.join("ggml-tiny.en.bin")).unwrap();

    // Input errors, with a good model.
    let with_model = |args: &[&Path]| {
        let mut c = walkie(h);
        c.arg("transcribe").arg("--model").arg(model_path());
        for a in args {
            c.arg(a);
        }
        run(c, t)
    };
    let out = with_model(&[&fixtures().join("not_audio.ogg")]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not an audio file"),
        "{}",
        stderr(&out)
    );

    let empty = h.join("empty.ogg");
    std::fs::write(&empty, b"").unwrap();
    let out = with_model(&[&empty]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));

    let truncated = h.join("truncated.ogg");
    let full = std::fs::read(&note).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let out = with_model(&[&truncated]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));

    let no_samples = h.join("no_samples.wav");
    write_wav(&no_samples, 48_000, &[]);
    let out = with_model(&[&no_samples]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));

    let out = with_model(&[&h.join("missing.ogg")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.ogg"), "{}", stderr(&out));

    // Too long for the configured maximum (2 s here): 7, for a note and for a huge file.
    let cfg = h.join("short.toml");
    std::fs::write(&cfg, "[transcription]\nmax_duration_s = 2\n").unwrap();
    let huge = h.join("huge.wav");
    let mut f = std::fs::File::create(&huge).unwrap();
    f.write_all(b"RIFF\xff\xff\xff\xffWAVE").unwrap();
    f.set_len(audio::max_file_bytes(2) + 1).unwrap();
    drop(f);
    for (file, needle) in [(note.clone(), "too long"), (huge, "too large")] {
        let mut c = walkie(h);
        c.arg("--config")
            .arg(&cfg)
            .arg("transcribe")
            .arg("--model")
            .arg(model_path())
            .arg(&file);
        let out = run(c, t);
        assert_eq!(code(&out), 7, "{}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{}", stderr(&out));
    }

    // Several files: all are tried, the first failure's code wins.
    let out = with_model(&[
        &fixtures().join("silence.ogg"),
        &fixtures().join("not_audio.ogg"),
        &no_samples,
    ]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stdout(&out).contains("silence.ogg: \n"), "{}", stdout(&out));
}

/// A model host on 127.0.0.1 serving the shared tiny.en model under three prefixes:
/// `/ok/` as is, `/corrupt/` with one byte changed, `/cut/` closing the connection halfway
/// through (after promising the full length).
fn model_server() -> String {
    let model =
        Arc::new(std::fs::read(shared().join("models/ggml-tiny.en.bin")).expect("shared model"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let model = Arc::clone(&model);
            thread::spawn(move || serve(conn, &model));
        }
    });
    format!("http://{addr}")
}

fn serve(mut conn: TcpStream, model: &[u8]) {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let head = |len: usize| {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
    };
    let _ = match path.as_str() {
        "/ok/ggml-tiny.en.bin" => conn
            .write_all(head(model.len()).as_bytes())
            .and_then(|_| conn.write_all(model)),
        "/corrupt/ggml-tiny.en.bin" => {
            let mut bad = model.to_vec();
            let mid = bad.len() / 2;
            bad[mid] ^= 0xff;
            conn.write_all(head(bad.len()).as_bytes())
                .and_then(|_| conn.write_all(&bad))
        }
        "/cut/ggml-tiny.en.bin" => conn
            .write_all(head(model.len()).as_bytes())
            .and_then(|_| conn.write_all(&model[..model.len() / 2])),
        _ => conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
    let _ = conn.flush();
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn model_download_list_and_use() {
    let base = model_server();
    let t = Duration::from_secs(180);
    let download = |home: &Path, prefix: &str, name: &str| {
        let mut c = walkie(home);
        c.args(["model", "download", name, "--base-url"])
            .arg(format!("{base}/{prefix}"));
        run(c, t)
    };

    // Success: progress on stderr, checksum verified, the file in <data_dir>/models.
    let good = tempfile::tempdir().unwrap();
    let out = download(good.path(), "ok", "tiny.en");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("downloaded 0%")
            && err.contains("downloaded 50%")
            && err.contains("downloaded 100%"),
        "{err}"
    );
    assert!(err.contains("checksum verified"), "{err}");
    let models = good.path().join("data/models");
    assert_eq!(dir_names(&models), vec!["ggml-tiny.en.bin"]);
    let installed = models.join("ggml-tiny.en.bin");
    assert_eq!(stdout(&out).trim(), installed.display().to_string());
    let d = model::digest_file(&installed).unwrap();
    assert!(d.matches(model::known_model("tiny.en").unwrap()));

    // A second download finds it in place.
    let out = download(good.path(), "ok", "tiny.en");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already installed"),
        "{}",
        stderr(&out)
    );

    // `model list` shows it, and `transcribe` finds it without --model.
    let mut c = walkie(good.path());
    c.args(["model", "list"]);
    let out = run(c, t);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("ggml-tiny.en.bin") && stdout(&out).contains("known model tiny.en"),
        "{}",
        stdout(&out)
    );
    let mut c = walkie(good.path());
    c.arg("transcribe")
        .arg(fixtures().join("deploy_staging.ogg"));
    let out = run(c, t);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(norm(&stdout(&out)), "deploy the staging branch");

    // A corrupted download is rejected and leaves nothing behind.
    let bad = tempfile::tempdir().unwrap();
    let out = download(bad.path(), "corrupt", "tiny.en");
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("checksum"), "{}", stderr(&out));
    assert_eq!(
        dir_names(&bad.path().join("data/models")),
        Vec::<String>::new()
    );

    // A temp file left by a killed download (no destructor ran) is removed by the next one
    // once it is 10 minutes old; a fresh one (a download in progress) is left alone.
    let killed = tempfile::tempdir().unwrap();
    let kmodels = killed.path().join("data/models");
    std::fs::create_dir_all(&kmodels).unwrap();
    let old_part = std::fs::File::create(kmodels.join(".download-old.part")).unwrap();
    old_part
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(old_part);
    std::fs::write(kmodels.join(".download-busy.part"), b"x").unwrap();
    let out = download(killed.path(), "missing", "tiny.en");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(dir_names(&kmodels), vec![".download-busy.part"]);

    // A connection cut halfway: an error, and no half file under any name.
    let cut = tempfile::tempdir().unwrap();
    let out = download(cut.path(), "cut", "tiny.en");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("stopped after"), "{}", stderr(&out));
    assert_eq!(
        dir_names(&cut.path().join("data/models")),
        Vec::<String>::new()
    );

    // Missing on the server, and an unknown name.
    let out = download(cut.path(), "missing", "tiny.en");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 404"), "{}", stderr(&out));
    let out = download(cut.path(), "ok", "enormous");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("base.en"), "{}", stderr(&out));
}
