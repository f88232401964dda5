//! The timer: sleeps until the next fire time (or a change of the jobs), then fires what is
//! due through the one dispatch path (`requests::text::deliver`: audited as done by
//! `schedule JOB`, live screen, turn-end notification), reports missed fires once, and
//! applies each job's overlap policy against the target's busy/idle state.
//!
//! Busy or idle is the session's own activity as the host reports it (`idle_ms`: time since
//! it last printed) against the same `notify.quiet_after_s` that makes a live screen say
//! "went quiet": a session that printed within it is still working.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use walkie_config::NotifyLevel;
use walkie_host_proto::protocol::{NewSession, SessionInfo};
use walkie_schedule::{due, next_wake, Clock, Delivery, Target, TargetState};

use super::store::{Outcome, StoredJob};
use crate::desk::notify_level;
use crate::front::{ChatId, Frontend, UserId};
use crate::host::Host;
use crate::presets::{self, Launch};
use crate::requests::text::{deliver, By, Delivered};
use crate::requests::{host_answer, Console};
use crate::session::LOCAL_HOST;
use crate::workdir::{self, Place, WorkdirError};

/// While asleep, the timer reads the jobs' change counter this often (one integer), so a
/// job added or changed by `walkie schedule` is seen within this long.
pub const CHANGE_CHECK: Duration = Duration::from_secs(2);

/// How often a queued run, or a job session to end after its turn, looks at its target.
const TURN_POLL: Duration = Duration::from_secs(1);

/// While a job waits for its host to come back, the timer looks this often.
const HELD_POLL: Duration = Duration::from_secs(2);

/// The timer and what it keeps between fires: the jobs whose due fire waits for their
/// host to be reachable again (by host name; not settled, so that the catch-up policy
/// decides when it is back). Queued runs (overlap `queue`) are in the store, so that a
/// restart resumes their wait.
pub struct Scheduler<F, H> {
    c: Arc<Console<F, H>>,
    clock: Arc<dyn Clock>,
    held: Mutex<HashMap<u64, String>>,
    /// Ends the waits of queued runs (with the timer, or [`Scheduler::stop`] in tests).
    stop: CancellationToken,
}

/// The target's state for the overlap policy: busy while it printed within `quiet_after`.
pub fn target_state(
    info: Option<&SessionInfo>,
    quiet_after: Duration,
    queued: bool,
) -> TargetState {
    let busy = info.is_some_and(|i| {
        i.state.is_live()
            && i.idle_ms
                .is_some_and(|ms| Duration::from_millis(ms) < quiet_after)
    });
    match (busy, queued) {
        (false, _) => TargetState::Idle,
        (true, false) => TargetState::Busy,
        (true, true) => TargetState::BusyWithQueued,
    }
}

impl<F: Frontend, H: Host> Scheduler<F, H> {
    pub fn new(c: Arc<Console<F, H>>, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Scheduler {
            c,
            clock,
            held: Mutex::new(HashMap::new()),
            stop: CancellationToken::new(),
        })
    }

    /// Ends the waits of this scheduler's queued runs (they stay in the store).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Resumes the wait of every run queued in the store (by an earlier run of the bot):
    /// each is delivered once when its target is idle.
    pub async fn resume_queued(self: &Arc<Self>) -> crate::store::Result<usize> {
        let runs = self.c.store.queued_runs().await?;
        for r in &runs {
            self.wait_and_deliver(r.job, r.session.clone(), r.fired_at);
        }
        Ok(runs.len())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs the timer until `shutdown`.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.run(shutdown).await })
    }

    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let stop = self.stop.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            stop.cancel();
        });
        let shutdown = self.stop.clone();
        match self.resume_queued().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(runs = n, "resumed the wait of queued scheduled runs"),
            Err(e) => tracing::warn!(error = %e, "cannot read the queued scheduled runs"),
        }
        loop {
            let generation = self.c.store.schedule_generation().await.unwrap_or(-1);
            let wake = match self.tick().await {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "the schedule timer cannot read its jobs");
                    None
                }
            };
            // Sleep until the next fire; look at the change counter meanwhile.
            loop {
                let now = self.clock.now();
                let until = wake.map(|w| {
                    let secs = w.as_millisecond() - now.as_millisecond();
                    Duration::from_millis(u64::try_from(secs).unwrap_or(0))
                });
                if until == Some(Duration::ZERO) {
                    break;
                }
                let nap = until.map_or(CHANGE_CHECK, |u| u.min(CHANGE_CHECK));
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.c.schedules.woken() => break,
                    _ = tokio::time::sleep(nap) => {}
                }
                let moved = self.c.store.schedule_generation().await.unwrap_or(-1) != generation;
                // A test clock can jump: compare with the clock, not the nap.
                if moved || wake.is_some_and(|w| self.clock.now() >= w) {
                    break;
                }
            }
        }
    }

    /// One pass: run-now asks, then every due job (settled first, so that a crash loses a
    /// run rather than doubling it), missed fires reported once. Returns the next wake.
    pub async fn tick(self: &Arc<Self>) -> crate::store::Result<Option<Timestamp>> {
        let now = self.clock.now();
        let jobs = self.c.store.jobs().await?;
        for (_, id) in self.c.store.take_run_now().await? {
            match jobs.iter().find(|j| j.job.id == id) {
                Some(j) => self.fire(j, now, true).await,
                None => tracing::warn!(job = id, "run now: no such job"),
            }
        }
        let plain: Vec<_> = jobs.iter().map(|j| j.job.clone()).collect();
        let mut gone = HashSet::new();
        let mut still_held = HashSet::new();
        for a in due(&plain, now) {
            let Some(j) = jobs.iter().find(|j| j.job.id == a.job) else {
                continue;
            };
            // Its host is unreachable: not a failed run but a catch-up case. The job stays
            // unsettled, so that when the host is back its catch-up policy decides (within
            // the grace window: run once; else one "missed ... while HOST was down").
            if let Some(host) = self.host_down(&j.job) {
                still_held.insert(a.job);
                let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
                if held.insert(a.job, host.clone()).is_none() {
                    tracing::info!(job = a.job, host, "a scheduled run waits for its host");
                }
                continue;
            }
            let held_for = self
                .held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&a.job);
            self.c
                .store
                .settle_job(a.job, a.settled, a.run, a.finished)
                .await?;
            if a.finished {
                gone.insert(a.job);
            }
            if let Some(m) = a.missed {
                let down = held_for.as_deref().unwrap_or("walkie");
                let what = format!("{} while {down} was down", m.describe(&j.job.zone));
                self.c
                    .store
                    .record_run(
                        a.job,
                        m.first,
                        &j.job.target.describe(),
                        Outcome::Missed,
                        Some(&what),
                    )
                    .await?;
                self.note(j, &format!("⏰ job {}: {what}", a.job), true)
                    .await;
            }
            if let Some(at) = a.run {
                self.fire(j, at, false).await;
            }
        }
        let left: Vec<_> = self
            .c
            .store
            .jobs()
            .await?
            .into_iter()
            .map(|j| j.job)
            .filter(|j| !gone.contains(&j.id))
            .collect();
        let now = self.clock.now();
        let wake = next_wake(&left, now);
        // A held job that was paused or deleted meanwhile waits no more.
        let held = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.retain(|id, _| still_held.contains(id));
            !held.is_empty()
        };
        // A job waiting for its host: look again soon (the host may be back).
        let soon = now
            .checked_add(jiff::SignedDuration::try_from(HELD_POLL).unwrap_or_default())
            .ok()
            .filter(|_| held);
        Ok(match (wake, soon) {
            (Some(w), Some(s)) => Some(w.min(s)),
            (w, s) => w.or(s),
        })
    }

    /// The remote host of `job`'s target when it is unreachable now (the fleet's status).
    fn host_down(&self, job: &walkie_schedule::Job) -> Option<String> {
        let Target::Session {
            name,
            host: Some(host),
        } = &job.target
        else {
            return None;
        };
        if host == LOCAL_HOST {
            return None;
        }
        self.c
            .host
            .queue_for(&format!("{name}@{host}"))
            .map(|_| host.clone())
    }

    /// The chats a job's runs are posted to: its own, else the operators' private chats.
    fn chats(&self, j: &StoredJob) -> Vec<ChatId> {
        match j.chat {
            Some(c) => vec![c],
            None => self
                .c
                .cfg
                .telegram
                .allowed_users
                .iter()
                .map(|u| self.c.front.private_chat(UserId(*u)))
                .collect(),
        }
    }

    /// A short message about a run in each of the job's chats; `quiet`: always silent,
    /// else it buzzes as the chat's `/notify` level says (only `all` buzzes). Posted by a
    /// task of its own: delivery retries for minutes when Telegram is away, and the timer
    /// must not wait on that (its next fires would come late).
    async fn note(&self, j: &StoredJob, text: &str, quiet: bool) {
        for chat in self.chats(j) {
            let (c, text, job) = (self.c.clone(), text.to_string(), j.job.id);
            tokio::spawn(async move {
                let silent =
                    quiet || notify_level(&c.store, &c.cfg, chat).await != NotifyLevel::All;
                if let Err(e) = c.front.note(chat, &text, silent).await {
                    tracing::warn!(chat = chat.0, job, error = %e, "cannot post a schedule note");
                }
            });
        }
    }

    async fn record(&self, j: &StoredJob, at: Timestamp, outcome: Outcome, detail: Option<&str>) {
        let target = j.job.target.describe();
        if let Err(e) = self
            .c
            .store
            .record_run(j.job.id, at, &target, outcome, detail)
            .await
        {
            tracing::error!(job = j.job.id, error = %e, "cannot record a scheduled run");
        }
    }

    async fn failed(&self, j: &StoredJob, at: Timestamp, why: &str) {
        tracing::warn!(job = j.job.id, why, "scheduled run failed");
        self.record(j, at, Outcome::Failed, Some(why)).await;
        self.note(j, &format!("⚠️ job {} failed: {why}", j.job.id), false)
            .await;
    }

    /// One fire of job `j` (for fire time `at`; `manual`: Run now).
    async fn fire(self: &Arc<Self>, j: &StoredJob, at: Timestamp, manual: bool) {
        let job = &j.job;
        let quiet_after = Duration::from_secs(self.c.cfg.notify.quiet_after_s);
        let (session, info) = match &job.target {
            Target::Session { name, host } => {
                // `name@host` for a remote session: the fleet routes every call by address.
                let name = match host.as_deref() {
                    Some(h) if h != LOCAL_HOST => format!("{name}@{h}"),
                    _ => name.clone(),
                };
                match self.c.host.info(&name).await {
                    Ok(Some(i)) if i.state.is_live() => (name, Some(i)),
                    Ok(_) => {
                        let why = format!("no session {name} (it is gone or never started)");
                        return self.failed(j, at, &why).await;
                    }
                    Err(e) => return self.failed(j, at, &host_answer(&e, Some(&name))).await,
                }
            }
            Target::NewSession { preset, dir, .. } => {
                let name = job.session_name();
                match self.c.host.info(&name).await {
                    Ok(Some(i)) if i.state.is_live() => (name, Some(i)),
                    Ok(_) => match self.start(&name, preset, dir).await {
                        Ok(()) => (name, None),
                        Err(why) => return self.failed(j, at, &why).await,
                    },
                    Err(e) => return self.failed(j, at, &host_answer(&e, Some(&name))).await,
                }
            }
        };
        let queued = match self.c.store.is_run_queued(job.id).await {
            Ok(q) => q,
            Err(e) => return self.failed(j, at, &e.to_string()).await,
        };
        let state = target_state(info.as_ref(), quiet_after, queued);
        let delivery = if manual {
            Delivery::Send
        } else {
            job.overlap.delivery(state)
        };
        match delivery {
            Delivery::Send => self.deliver(j, &session, at).await,
            Delivery::Skip => {
                let why = format!("{session} was still busy");
                self.record(j, at, Outcome::Skipped, Some(&why)).await;
                self.note(
                    j,
                    &format!(
                        "⏭ job {} skipped: {session} is still busy with its last run",
                        job.id
                    ),
                    true,
                )
                .await;
            }
            Delivery::Queue => {
                match self.c.store.queue_run(j, &session, at).await {
                    Ok(true) => {}
                    // One is held already (another process queued it meanwhile).
                    Ok(false) => {
                        let why = format!("{session} was still busy; a run is queued already");
                        return self.record(j, at, Outcome::Skipped, Some(&why)).await;
                    }
                    Err(e) => return self.failed(j, at, &e.to_string()).await,
                }
                self.record(
                    j,
                    at,
                    Outcome::Queued,
                    Some("waiting for the session to be idle"),
                )
                .await;
                self.wait_and_deliver(job.id, session, at);
            }
        }
    }

    /// Waits (in a task) until `session` is idle, then takes job `id`'s queued run from
    /// the store and delivers it: taken exactly once, so neither a restart nor a second
    /// waiter delivers it twice. A stopped scheduler leaves the run in the store.
    fn wait_and_deliver(self: &Arc<Self>, id: u64, session: String, at: Timestamp) {
        let me = self.clone();
        tokio::spawn(async move {
            let quiet_after = Duration::from_secs(me.c.cfg.notify.quiet_after_s);
            tokio::select! {
                _ = me.stop.cancelled() => return,
                _ = me.wait_idle(&session, quiet_after) => {}
            }
            let taken = match me.c.store.take_queued_run(id).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(job = id, error = %e, "cannot take a queued run");
                    return;
                }
            };
            let Some(run) = taken else { return };
            // The job as it is now; a one-shot is gone once fired and its run goes as it
            // fired; a repeating job deleted meanwhile is not run.
            let j = match me.c.store.job(id).await {
                Ok(Some(j)) => Some(j),
                Ok(None) => run.fired.filter(|f| f.job.schedule.is_one_shot()),
                Err(e) => {
                    tracing::warn!(job = id, error = %e, "cannot read a queued run's job");
                    None
                }
            };
            match j {
                Some(j) => me.deliver(&j, &run.session, at).await,
                None => tracing::info!(job = id, "a queued run's job was deleted; not sent"),
            }
        });
    }

    /// Waits until `session` is idle (or gone), at most `notify.idle_stop_s`.
    async fn wait_idle(&self, session: &str, quiet_after: Duration) {
        let limit =
            tokio::time::Instant::now() + Duration::from_secs(self.c.cfg.notify.idle_stop_s);
        while tokio::time::Instant::now() < limit {
            let info = self.c.host.info(session).await.ok().flatten();
            if target_state(info.as_ref(), quiet_after, false) == TargetState::Idle {
                return;
            }
            tokio::time::sleep(TURN_POLL).await;
        }
    }

    /// Types the job's text into `session` through the one dispatch path, posts the run's
    /// message, records the outcome, and ends a `once:` session after its turn.
    async fn deliver(self: &Arc<Self>, j: &StoredJob, session: &str, at: Timestamp) {
        let job = &j.job;
        let chats = self.chats(j);
        let Some(first) = chats.first().copied() else {
            return self
                .failed(j, at, "no chat to run it from (no allowed_users)")
                .await;
        };
        let by = By {
            user: None,
            who: format!("schedule {}", job.id),
            source: format!("schedule {}", job.id),
            detail: Some(format!(
                "done by schedule {} (fire time {})",
                job.id,
                job.zone.show(at)
            )),
        };
        match deliver(&self.c, &by, first, session, &job.text).await {
            Delivered::Typed | Delivered::Held(_) => {
                for other in &chats[1..] {
                    self.c.front.watch(*other, session);
                }
                self.record(j, at, Outcome::Delivered, None).await;
                let text = format!("⏰ job {} → {session}: {}", job.id, cut(&job.text, 200));
                self.note(j, &text, false).await;
                if let Target::NewSession {
                    kill_after_turn: true,
                    ..
                } = &job.target
                {
                    let me = self.clone();
                    let session = session.to_string();
                    tokio::spawn(async move { me.end_after_turn(&session).await });
                }
            }
            Delivered::Failed(why) => self.failed(j, at, &why).await,
        }
    }

    /// Ends a `once:` job's session when its turn is over: it printed, then was quiet for
    /// `notify.quiet_after_s`.
    async fn end_after_turn(&self, session: &str) {
        let quiet_after = Duration::from_secs(self.c.cfg.notify.quiet_after_s);
        // Let the typed text show first, so the quiet is the quiet after the turn.
        tokio::time::sleep(TURN_POLL * 2).await;
        self.wait_idle(session, quiet_after).await;
        match self.c.host.kill(session).await {
            Ok(_) => tracing::info!(session, "job session ended after its turn"),
            Err(e) => tracing::warn!(session, error = %e, "cannot end a job session"),
        }
    }

    /// Starts a job's session from `preset` in `dir` (as `/new NAME PRESET DIR` does).
    async fn start(&self, name: &str, preset: &str, dir: &str) -> Result<(), String> {
        let c = &self.c;
        if crate::session::SessionRef::address(name).host != crate::session::LOCAL_HOST {
            // Another box's session: its preset and DIR are that box's, expanded there.
            let spec = NewSession {
                name: name.to_string(),
                command: Vec::new(),
                cwd: Some(dir.into()),
                env: workdir::phone_env(&c.cfg).map_err(|e| e.to_string())?,
                size: None,
                record: true,
                preset: Some(preset.to_string()),
                resume: None,
                sandbox: None,
                network: None,
                expand: true,
            };
            return c
                .host
                .new_session(spec)
                .await
                .map(|_| ())
                .map_err(|e| host_answer(&e, Some(name)));
        }
        let launch = presets::expand(&c.cfg, preset, name).map_err(|e| e.to_string())?;
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(std::path::PathBuf::from);
        let cwd = match workdir::place(&c.cfg, &c.store, Some(preset), Some(dir), home.as_deref())
            .await
        {
            Ok(Place::Dir(d)) => Some(d),
            Ok(Place::Home) => None,
            Ok(Place::Choose(_)) => return Err(format!("{dir} is not a directory walkie can use")),
            Err(WorkdirError::Refused(why)) => return Err(why),
            Err(WorkdirError::Store(e)) => return Err(e.to_string()),
        };
        let mut env = workdir::phone_env(&c.cfg).map_err(|e| e.to_string())?;
        let Launch {
            command,
            env: preset_env,
            preset: launched_preset,
            resume,
            sandbox,
            network,
            ..
        } = launch;
        env.extend(preset_env);
        // A job's session gets its preset's boundary, as from /new.
        let spec = NewSession {
            name: name.to_string(),
            command,
            cwd,
            env,
            size: None,
            record: true,
            preset: launched_preset,
            resume,
            sandbox,
            network,
            expand: false,
        };
        c.host
            .new_session(spec)
            .await
            .map(|_| ())
            .map_err(|e| host_answer(&e, Some(name)))
    }
}

/// The start of `text`, at most `n` characters.
fn cut(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
