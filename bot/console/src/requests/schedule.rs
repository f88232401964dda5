//! `/schedule`: the jobs with their next fire in the chat's zone (Pause/Resume, Run now,
//! Delete), `/schedule add <schedule> <target>: <text>` as a confirmation card (the schedule
//! in words, the next three fire times, Create / Cancel), `/schedule zone [NAME]`, and the
//! presses of those buttons. A voice note that starts like a schedule comes here as a
//! proposed job ([`propose`]).

use walkie_schedule::{Draft, Job, Zone};

use super::{Console, Result, View};
use crate::front::{ChatId, Frontend, UserId};
use crate::host::Host;
use crate::schedule::clock;

/// What `/schedule` asks, and its buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleRequest {
    List,
    Add {
        line: String,
    },
    /// `None`: show the chat's zone.
    Zone {
        name: Option<String>,
    },
    /// A confirmation card's button.
    Draft {
        draft: i64,
        create: bool,
    },
    /// A job's button in the list.
    Job {
        job: u64,
        op: JobOp,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOp {
    Pause,
    Resume,
    RunNow,
    Delete,
}

/// One job as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLine {
    pub id: u64,
    /// The schedule in words.
    pub schedule: String,
    pub target: String,
    pub text: String,
    /// The next fire in the chat's zone; `None`: paused or never again.
    pub next: Option<String>,
    pub paused: bool,
}

/// A proposed job, for its confirmation card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftCard {
    pub draft: i64,
    pub schedule: String,
    pub target: String,
    pub text: String,
    pub zone: String,
    /// The next three fire times in the zone.
    pub next: Vec<String>,
}

impl ScheduleRequest {
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            ScheduleRequest::List | ScheduleRequest::Zone { name: None }
        )
    }
}

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    user: UserId,
    chat: ChatId,
    req: ScheduleRequest,
) -> Result<()> {
    match req {
        ScheduleRequest::List => list(c, chat).await,
        ScheduleRequest::Add { line } => {
            let Some(zone) = chat_zone(c, chat).await? else {
                return Ok(());
            };
            let now = clock::now();
            match Draft::parse(&line, &zone, now) {
                Ok(d) => propose(c, user, chat, d, &zone).await,
                Err(e) => c.say(chat, format!("Not a job: {e}.")).await,
            }
        }
        ScheduleRequest::Zone { name: None } => {
            let Some(zone) = chat_zone(c, chat).await? else {
                return Ok(());
            };
            c.say(
                chat,
                format!(
                    "Jobs here run in {}; /schedule zone NAME changes it (an IANA name).",
                    zone.name()
                ),
            )
            .await
        }
        ScheduleRequest::Zone { name: Some(name) } => match Zone::named(&name) {
            Ok(z) => {
                c.store.set_chat_zone(chat, z.name()).await?;
                c.say(
                    chat,
                    format!(
                        "New jobs here run in {} (existing ones keep theirs).",
                        z.name()
                    ),
                )
                .await
            }
            Err(e) => c.say(chat, format!("{e}.")).await,
        },
        ScheduleRequest::Draft { draft, create } => on_draft(c, chat, draft, create).await,
        ScheduleRequest::Job { job, op } => on_job(c, chat, job, op).await,
    }
}

/// The chat's zone; the first time, the default is stored and the chat told how to change
/// it (asked once). `None`: no default could be found, and the chat was told what to set.
pub async fn chat_zone<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
) -> Result<Option<Zone>> {
    if let Some(name) = c.store.chat_zone(chat).await? {
        if let Ok(z) = Zone::named(&name) {
            return Ok(Some(z));
        }
    }
    match clock::default_zone(&c.cfg) {
        Ok(z) => {
            c.store.set_chat_zone(chat, z.name()).await?;
            c.say(
                chat,
                format!(
                    "🕘 Jobs in this chat run in {}. If that is not your zone, send /schedule zone NAME (e.g. Europe/Berlin, America/New_York).",
                    z.name()
                ),
            )
            .await?;
            Ok(Some(z))
        }
        Err(e) => {
            c.say(chat, e.to_string()).await?;
            Ok(None)
        }
    }
}

/// A voice note's transcript that starts like a schedule ("every weekday at 9:30, backend,
/// triage new issues") becomes a proposed job's card; false (nothing done) otherwise, and
/// the note goes to a session as usual.
pub async fn spoken<F: Frontend, H: Host>(
    c: &Console<F, H>,
    user: UserId,
    chat: ChatId,
    heard: &str,
) -> Result<bool> {
    // Parsed in the chat's zone, or the default one before the chat has one.
    let zone = match c.store.chat_zone(chat).await? {
        Some(z) => Zone::named(&z).ok(),
        None => None,
    }
    .or_else(|| clock::default_zone(&c.cfg).ok());
    let Some(zone) = zone else {
        return Ok(false);
    };
    let Some(draft) = Draft::from_speech(heard, &zone, clock::now()) else {
        return Ok(false);
    };
    // Asked once: a chat's first job says which zone it runs in.
    let zone = chat_zone(c, chat).await?.unwrap_or(zone);
    propose(c, user, chat, draft, &zone).await?;
    Ok(true)
}

/// A confirmation card for `draft` (from `/schedule add` or a voice note).
pub async fn propose<F: Frontend, H: Host>(
    c: &Console<F, H>,
    user: UserId,
    chat: ChatId,
    draft: Draft,
    zone: &Zone,
) -> Result<()> {
    let now = clock::now();
    let job = Job::new(0, draft, zone.clone(), now);
    let next: Vec<String> = job
        .schedule
        .upcoming(zone, now, 3)
        .into_iter()
        .map(|t| zone.show(t))
        .collect();
    let id = c.store.add_schedule_draft(chat, user, &job).await?;
    let card = DraftCard {
        draft: id,
        schedule: job.schedule.describe(zone),
        target: job.target.describe(),
        text: job.text.clone(),
        zone: zone.name().to_string(),
        next,
    };
    c.reply(chat, View::ScheduleDraft(card)).await
}

async fn list<F: Frontend, H: Host>(c: &Console<F, H>, chat: ChatId) -> Result<()> {
    let Some(zone) = chat_zone(c, chat).await? else {
        return Ok(());
    };
    let now = clock::now();
    let jobs = c
        .store
        .jobs()
        .await?
        .into_iter()
        .map(|s| {
            let j = s.job;
            JobLine {
                id: j.id,
                schedule: j.schedule.describe(&j.zone),
                target: j.target.describe(),
                text: j.text.clone(),
                next: (!j.paused)
                    .then(|| j.next_fire(now))
                    .flatten()
                    .map(|t| zone.show(t)),
                paused: j.paused,
            }
        })
        .collect();
    c.reply(
        chat,
        View::Schedules {
            zone: zone.name().to_string(),
            jobs,
        },
    )
    .await
}

async fn on_draft<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    draft: i64,
    create: bool,
) -> Result<()> {
    let state = if create { "created" } else { "cancelled" };
    let Some(d) = c.store.take_schedule_draft(draft, state).await? else {
        return c.say(chat, "That card was already answered.").await;
    };
    if !create {
        return c.say(chat, "Cancelled; no job was made.").await;
    }
    let now = clock::now();
    let mut job = d.job;
    // Nothing before the Create press is due (a card left for an hour does not fire at once).
    job.settled = now;
    let Some(next) = job.next_fire(now) else {
        return c
            .say(chat, "Its time has passed; send /schedule add again.")
            .await;
    };
    let job = c.store.add_job(Some(d.chat), job).await?;
    c.schedules.wake();
    c.say(
        chat,
        format!(
            "✅ Job {} created: {} → {}. Next: {}.",
            job.id,
            job.schedule.describe(&job.zone),
            job.target.describe(),
            job.zone.show(next)
        ),
    )
    .await
}

async fn on_job<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    id: u64,
    op: JobOp,
) -> Result<()> {
    let now = clock::now();
    let found = match op {
        JobOp::Pause => c.store.set_job_paused(id, true, now).await?,
        JobOp::Resume => c.store.set_job_paused(id, false, now).await?,
        JobOp::Delete => c.store.delete_job(id).await?,
        JobOp::RunNow => match c.store.job(id).await? {
            Some(_) => {
                c.store.ask_run_now(id).await?;
                true
            }
            None => false,
        },
    };
    if !found {
        return c
            .say(chat, format!("No job {id}; /schedule lists them."))
            .await;
    }
    c.schedules.wake();
    let done = match op {
        JobOp::Pause => format!("⏸ Job {id} paused."),
        JobOp::Resume => format!("▶️ Job {id} resumed."),
        JobOp::Delete => format!("🗑 Job {id} deleted."),
        JobOp::RunNow => format!("▶️ Running job {id} now."),
    };
    c.say(chat, done).await
}
