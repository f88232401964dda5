//! `/schedule`: the jobs with their next fire in the chat's zone (Pause/Resume, Run now,
//! Delete), `/schedule add <schedule> <target>: <text>` (options `--overlap`, `--grace`,
//! `--kill-after` as in the terminal) as a confirmation card (the schedule in words, the
//! next three fire times, the policies, overlap buttons, Create / Cancel; the card is
//! edited in place by every press), `/schedule zone [NAME]`, and the presses of those
//! buttons. A chat's first job asks its zone once ("Times in Europe/Paris?") before the
//! card. A voice note that starts like a schedule comes here as a proposed job ([`spoken`]).

use walkie_schedule::{Draft, Job, Zone};

use super::{Console, Result, View};
use crate::front::{ChatId, Frontend, MessageRef, UserId};
use crate::host::Host;
use crate::schedule::clock;
use crate::schedule::store::{DraftSource, StoredDraft};

/// The overlap policies, as the card's buttons name them.
pub use walkie_schedule::Overlap;

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
        op: DraftOp,
    },
    /// The zone question's button: use the offered zone, or say how to pick another.
    ZoneChoice {
        draft: i64,
        use_offered: bool,
    },
    /// A job's button in the list.
    Job {
        job: u64,
        op: JobOp,
    },
}

/// A confirmation card's buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftOp {
    Create,
    Cancel,
    /// Change the job's overlap policy before Create.
    Overlap(Overlap),
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
    /// The job's overlap policy (the card's buttons mark it).
    pub overlap: Overlap,
    /// The policies in words: overlap, catch-up.
    pub policies: Vec<String>,
}

/// The zone question before a chat's first job: use `zone` (the configured or the
/// machine's), or another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneQuestion {
    pub draft: i64,
    pub zone: String,
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
            let source = DraftSource {
                line: &line,
                spoken: false,
            };
            let (zone, asked) = match chat_zone(c, chat).await? {
                ZoneOf::Chosen(z) => (z, false),
                ZoneOf::Default(z) => (z, true),
                ZoneOf::None(why) => return c.say(chat, why).await,
            };
            match Draft::parse(&line, &zone, clock::now()) {
                Ok(d) => propose(c, user, chat, d, &zone, source, asked).await,
                Err(e) => c.say(chat, format!("Not a job: {e}.")).await,
            }
        }
        ScheduleRequest::Zone { name: None } => match chat_zone(c, chat).await? {
            ZoneOf::Chosen(z) => {
                c.say(
                    chat,
                    format!(
                        "Jobs here run in {}; /schedule zone NAME changes it (an IANA name).",
                        z.name()
                    ),
                )
                .await
            }
            ZoneOf::Default(z) => {
                c.say(
                    chat,
                    format!(
                        "No zone chosen here yet: jobs would run in {} (this machine's). /schedule zone NAME picks one (e.g. Europe/Berlin, America/New_York).",
                        z.name()
                    ),
                )
                .await
            }
            ZoneOf::None(why) => c.say(chat, why).await,
        },
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
                .await?;
                // A job that waited for this answer ("Other…") gets its card now, its line
                // read again in the zone picked.
                if let Some(d) = c.store.take_zone_draft(chat).await? {
                    return reproposed(c, chat, d, &z).await;
                }
                Ok(())
            }
            Err(e) => c.say(chat, format!("{e}.")).await,
        },
        ScheduleRequest::ZoneChoice { draft, use_offered } => {
            on_zone_choice(c, chat, draft, use_offered).await
        }
        ScheduleRequest::Draft { draft, op } => on_draft(c, chat, draft, op).await,
        ScheduleRequest::Job { job, op } => on_job(c, chat, job, op).await,
    }
}

/// A chat's zone for its jobs.
pub enum ZoneOf {
    /// The chat picked it (or was asked once and took the default).
    Chosen(Zone),
    /// Not asked yet: the configured or the machine's zone, to offer.
    Default(Zone),
    /// No zone to offer: what to set.
    None(String),
}

/// The chat's zone, or the default to offer it (never a silent UTC).
pub async fn chat_zone<F: Frontend, H: Host>(c: &Console<F, H>, chat: ChatId) -> Result<ZoneOf> {
    if let Some(name) = c.store.chat_zone(chat).await? {
        if let Ok(z) = Zone::named(&name) {
            return Ok(ZoneOf::Chosen(z));
        }
    }
    Ok(match clock::default_zone(&c.cfg) {
        Ok(z) => ZoneOf::Default(z),
        Err(e) => ZoneOf::None(e.to_string()),
    })
}

/// A voice note's transcript that starts like a schedule ("every weekday at 9:30, backend,
/// triage new issues") becomes a proposed job's card; false (nothing done) otherwise, and
/// the note goes to a session as usual. The session after the schedule is heard as a
/// note's leading name is ("back end," is `backend`), among the sessions that exist.
pub async fn spoken<F: Frontend, H: Host>(
    c: &Console<F, H>,
    user: UserId,
    chat: ChatId,
    heard: &str,
) -> Result<bool> {
    let (zone, asked) = match chat_zone(c, chat).await? {
        ZoneOf::Chosen(z) => (z, false),
        ZoneOf::Default(z) => (z, true),
        ZoneOf::None(_) => return Ok(false),
    };
    // Most notes are not schedules: those cost no look at the host's sessions.
    if Draft::from_speech(heard, &zone, clock::now()).is_none() {
        return Ok(false);
    }
    let names = session_names(c).await;
    let Some(draft) = speech_draft(heard, &zone, &names) else {
        return Ok(false);
    };
    let source = DraftSource {
        line: heard,
        spoken: true,
    };
    propose(c, user, chat, draft, &zone, source, asked).await?;
    Ok(true)
}

async fn session_names<F: Frontend, H: Host>(c: &Console<F, H>) -> Vec<String> {
    match c.host.list().await {
        Ok(s) => s.into_iter().map(|s| s.name).collect(),
        Err(_) => Vec::new(),
    }
}

/// A spoken schedule, its target heard by the transcription's name matcher.
fn speech_draft(heard: &str, zone: &Zone, names: &[String]) -> Option<Draft> {
    Draft::from_speech_routed(heard, zone, clock::now(), |rest| {
        walkie_transcription::names::address(rest, names).map(|a| (a.session, a.rest))
    })
}

/// A confirmation card for `draft` (from `/schedule add` or a voice note); with `ask_zone`
/// (the chat has no zone yet) the zone question comes first, and the card after it.
pub async fn propose<F: Frontend, H: Host>(
    c: &Console<F, H>,
    user: UserId,
    chat: ChatId,
    draft: Draft,
    zone: &Zone,
    source: DraftSource<'_>,
    ask_zone: bool,
) -> Result<()> {
    let job = Job::new(0, draft, zone.clone(), clock::now());
    let id = c
        .store
        .add_schedule_draft(chat, user, &job, source, ask_zone)
        .await?;
    let view = if ask_zone {
        View::ScheduleZone(ZoneQuestion {
            draft: id,
            zone: zone.name().to_string(),
        })
    } else {
        View::ScheduleDraft(card(id, &job))
    };
    let m = c.front.show(chat, &view).await?;
    c.store.set_draft_message(id, m).await?;
    Ok(())
}

/// The card of draft `id`.
fn card(id: i64, job: &Job) -> DraftCard {
    let zone = &job.zone;
    let next = job
        .schedule
        .upcoming(zone, clock::now(), 3)
        .into_iter()
        .map(|t| zone.show(t))
        .collect();
    DraftCard {
        draft: id,
        schedule: job.schedule.describe(zone),
        target: job.target.describe(),
        text: job.text.clone(),
        zone: zone.name().to_string(),
        next,
        overlap: job.overlap,
        policies: vec![job.overlap.describe().to_string(), job.catch_up.describe()],
    }
}

/// Shows `view` in place of the draft's message, or as a new one if it has none.
async fn show_in<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    message: Option<MessageRef>,
    view: View,
) -> Result<()> {
    match message {
        Some(m) => Ok(c.front.edit_view(chat, m, &view).await?),
        None => c.reply(chat, view).await,
    }
}

/// A draft that waited for the zone: its line read again in `zone`, its card shown.
async fn reproposed<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    d: StoredDraft,
    zone: &Zone,
) -> Result<()> {
    let line = d.line.clone().unwrap_or_default();
    let draft = if d.spoken {
        let names = session_names(c).await;
        speech_draft(&line, zone, &names).ok_or_else(|| "it no longer reads as a job".to_string())
    } else {
        Draft::parse(&line, zone, clock::now()).map_err(|e| e.to_string())
    };
    let draft = match draft {
        Ok(draft) => draft,
        Err(e) => {
            c.store.take_schedule_draft(d.id, "cancelled").await?;
            return show_in(c, chat, d.message, View::Text(format!("Not a job: {e}."))).await;
        }
    };
    let job = Job::new(0, draft, zone.clone(), clock::now());
    c.store.set_draft_job(d.id, &job).await?;
    // The question's message becomes the card.
    show_in(c, chat, d.message, View::ScheduleDraft(card(d.id, &job))).await
}

async fn on_zone_choice<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    draft: i64,
    use_offered: bool,
) -> Result<()> {
    if !use_offered {
        let Some(d) = c
            .store
            .schedule_draft(draft)
            .await?
            .filter(|d| d.state == "zone")
        else {
            return c.say(chat, "That question was already answered.").await;
        };
        let text = "Send /schedule zone Area/City (an IANA name, e.g. Europe/Paris, America/New_York, Asia/Tokyo); the job's card follows.";
        return show_in(c, chat, d.message, View::Text(text.into())).await;
    }
    let Some(d) = c
        .store
        .move_schedule_draft(draft, "zone", "pending")
        .await?
    else {
        return c.say(chat, "That question was already answered.").await;
    };
    let zone = d.job.zone.clone();
    c.store.set_chat_zone(chat, zone.name()).await?;
    show_in(c, chat, d.message, View::ScheduleDraft(card(d.id, &d.job))).await
}

async fn list<F: Frontend, H: Host>(c: &Console<F, H>, chat: ChatId) -> Result<()> {
    let zone = match chat_zone(c, chat).await? {
        ZoneOf::Chosen(z) | ZoneOf::Default(z) => z,
        ZoneOf::None(why) => return c.say(chat, why).await,
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
    op: DraftOp,
) -> Result<()> {
    let used = || c.say(chat, "That card was already used.");
    let state = match op {
        DraftOp::Overlap(overlap) => {
            let Some(mut d) = c
                .store
                .schedule_draft(draft)
                .await?
                .filter(|d| d.state == "pending")
            else {
                return used().await;
            };
            d.job.overlap = overlap;
            if !c.store.set_draft_job(draft, &d.job).await? {
                return used().await;
            }
            return show_in(c, chat, d.message, View::ScheduleDraft(card(draft, &d.job))).await;
        }
        DraftOp::Create => "created",
        DraftOp::Cancel => "cancelled",
    };
    let Some(d) = c.store.take_schedule_draft(draft, state).await? else {
        return used().await;
    };
    if op == DraftOp::Cancel {
        return show_in(
            c,
            chat,
            d.message,
            View::Text("Cancelled; no job was made.".into()),
        )
        .await;
    }
    let now = clock::now();
    let mut job = d.job;
    // Nothing before the Create press is due (a card left for an hour does not fire at once).
    job.settled = now;
    let Some(next) = job.next_fire(now) else {
        let text = "Its time has passed; send /schedule add again.";
        return show_in(c, chat, d.message, View::Text(text.into())).await;
    };
    let job = c.store.add_job(Some(d.chat), job).await?;
    c.schedules.wake();
    let text = format!(
        "✅ Created job {}: {} → {} — next {}.",
        job.id,
        job.schedule.describe(&job.zone),
        job.target.describe(),
        job.zone.show(next)
    );
    show_in(c, chat, d.message, View::Text(text)).await
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
