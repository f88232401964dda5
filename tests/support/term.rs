//! Test support: a real terminal (a PTY with a vt100 emulator on our side) running a
//! `walkie` command, so that `walkie attach` is driven as a person at a terminal would.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

use super::host::wait_for;

pub struct Term {
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
}

impl Term {
    /// Runs `cmd` (program, args and env taken from a std Command) in a `cols`x`rows` terminal.
    pub fn spawn(cmd: &Command, cols: u16, rows: u16) -> Term {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut b = CommandBuilder::new(cmd.get_program());
        b.args(cmd.get_args());
        b.env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                b.env(k, v);
            }
        }
        b.env("TERM", "xterm-256color");
        if let Some(d) = cmd.get_current_dir() {
            b.cwd(d);
        }
        let child = pair.slave.spawn_command(b).expect("spawn in pty");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = pair.master.take_writer().expect("writer");
        let nz = |v: u16| NonZeroU16::new(v).expect("nonzero");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(nz(rows), nz(cols), 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (p, r) = (parser.clone(), raw.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
                r.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Term {
            master: pair.master,
            writer,
            child,
            parser,
            raw,
        }
    }

    /// The program's pid.
    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("the program's pid")
    }

    pub fn type_bytes(&mut self, b: &[u8]) {
        self.writer.write_all(b).expect("write to pty");
        self.writer.flush().expect("flush");
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    pub fn raw_output(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned()
    }

    pub fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(what, Duration::from_secs(20), || {
                last = self.screen();
                pred(&last).then(|| last.clone())
            })
        }));
        r.unwrap_or_else(|_| panic!("timed out waiting for {what}; terminal showed:\n{last}"))
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize");
        let nz = |v: u16| NonZeroU16::new(v).expect("nonzero");
        self.parser
            .lock()
            .unwrap()
            .screen_mut()
            .set_size(nz(rows), nz(cols));
    }

    /// Waits for the program to exit; returns its exit code.
    pub fn wait_exit(&mut self) -> u32 {
        let child = &mut self.child;
        wait_for(
            "the attached client to exit",
            Duration::from_secs(20),
            || child.try_wait().ok().flatten(),
        )
        .exit_code()
    }

    /// Whether the terminal is back in cooked mode (echo and canonical input on).
    pub fn is_cooked(&self) -> bool {
        self.master
            .get_termios()
            .map(|t| {
                let want = libc::ICANON | libc::ECHO;
                t.local_flags.bits() & want == want
            })
            .unwrap_or(false)
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
