//! `walkie schedule add|ls|rm|pause|resume|run|history`: the bot's jobs from a terminal.
//!
//! The CLI writes the bot's own SQLite store (WAL, so a running bot is never blocked);
//! every change bumps the store's schedule generation, which the running bot's timer reads
//! while it sleeps, so it picks changes up within seconds. `run` asks the running bot to
//! fire the job (a row it takes exactly once) and waits for the run's outcome; when no bot
//! takes it in time the ask is withdrawn, so the job fires once or not at all.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use walkie_config::Config;
use walkie_console::front::ChatId;
use walkie_console::schedule::clock;
use walkie_console::schedule::store::StoredJob;
use walkie_console::store::{AuditAction, AuditEntry, Store};
use walkie_schedule::{parse_grace, Draft, Job, Options, Overlap, Zone};

#[derive(Debug, Args)]
pub(crate) struct ScheduleArgs {
    #[command(subcommand)]
    command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// Add a job: "<schedule> <target>: <text>", e.g. "0 9 * * 1-5 backend: triage new
    /// issues", "every 2h api: governance review", "in 20m once:claude:~/src/app: check the
    /// deploy".
    Add {
        line: String,
        /// Time zone (IANA name); default `[schedule] zone`, else the system's.
        #[arg(long)]
        zone: Option<String>,
        /// Chat its runs are posted to (default: the operators' private chats).
        #[arg(long)]
        chat: Option<i64>,
        /// When the target is still busy with the last run (default skip).
        #[arg(long, value_enum)]
        overlap: Option<OverlapArg>,
        /// Run a fire missed while walkie (or its host) was down if no later than this: a
        /// duration (`10m`, `1h30m`) or seconds (`600`). Default: missed fires are only
        /// reported.
        #[arg(long)]
        grace: Option<String>,
        /// End a new session from a preset (`new:PRESET:DIR`) after its turn, as `once:`.
        #[arg(long)]
        kill_after: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the jobs with their next fire time.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Delete a job (its history stays).
    Rm { job: u64 },
    /// Pause a job.
    Pause { job: u64 },
    /// Resume a paused job (fires that passed while paused are not made up).
    Resume { job: u64 },
    /// Fire a job now, through the running bot; waits for the outcome.
    Run {
        job: u64,
        /// Seconds to wait for the bot.
        #[arg(long, default_value_t = 20)]
        wait: u64,
        #[arg(long)]
        json: bool,
    },
    /// A job's runs: delivered, queued, skipped (busy), missed, failed (with why).
    History {
        job: u64,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OverlapArg {
    Skip,
    Queue,
    Send,
}

pub(crate) fn run_schedule(cfg: &Config, args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let store = Store::open_in(&cfg.state_dir())
            .await
            .context("opening the bot's store")?;
        let r = command(cfg, &store, args.command).await;
        store.close().await;
        r
    })
}

fn job_json(j: &StoredJob, now: jiff::Timestamp) -> serde_json::Value {
    let job = &j.job;
    let next = (!job.paused).then(|| job.next_fire(now)).flatten();
    json!({
        "id": job.id,
        "schedule": job.schedule,
        "describe": job.schedule.describe(&job.zone),
        "zone": job.zone.name(),
        "target": job.target,
        "target_describe": job.target.describe(),
        "text": job.text,
        "overlap": job.overlap,
        "catch_up": job.catch_up,
        "paused": job.paused,
        "chat": j.chat.map(|c| c.0),
        "next": next.map(|t| t.to_string()),
        "next_local": next.map(|t| job.zone.show(t)),
        "last_fired": j.last_fired,
    })
}

fn job_line(j: &StoredJob, now: jiff::Timestamp) -> String {
    let job = &j.job;
    let next = if job.paused {
        "paused".to_string()
    } else {
        match job.next_fire(now) {
            Some(t) => format!("next {}", job.zone.show(t)),
            None => "no more runs".to_string(),
        }
    };
    format!(
        "{:>4}  {}  →  {}: {}  ({next})",
        job.id,
        job.schedule.describe(&job.zone),
        job.target.describe(),
        job.text
    )
}

/// Every change made from the terminal is in the audit log, as the phone's commands are.
async fn audit(store: &Store, what: String) -> anyhow::Result<()> {
    store
        .audit(&AuditEntry {
            action: AuditAction::Command,
            source: Some("cli".into()),
            text: Some(what),
            ..AuditEntry::default()
        })
        .await
        .context("writing the audit log")?;
    Ok(())
}

async fn found(store: &Store, job: u64) -> anyhow::Result<StoredJob> {
    store
        .job(job)
        .await?
        .with_context(|| format!("no job {job}; `walkie schedule ls` lists them"))
}

async fn command(cfg: &Config, store: &Store, c: ScheduleCommand) -> anyhow::Result<ExitCode> {
    let now = clock::now();
    match c {
        ScheduleCommand::Add {
            line,
            zone,
            chat,
            overlap,
            grace,
            kill_after,
            json,
        } => {
            let zone = match zone {
                Some(z) => Zone::named(&z)?,
                None => clock::default_zone(cfg)?,
            };
            // The flags are the options a line may carry too (`--overlap queue` in the
            // line, as on the phone); given here, they win.
            let mut draft = Draft::parse(&line, &zone, now).map_err(|e| anyhow::anyhow!("{e}"))?;
            let grace_s = grace
                .as_deref()
                .map(parse_grace)
                .transpose()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let opts = Options {
                overlap: overlap.map(|o| match o {
                    OverlapArg::Skip => Overlap::Skip,
                    OverlapArg::Queue => Overlap::Queue,
                    OverlapArg::Send => Overlap::Send,
                }),
                grace_s,
                kill_after,
            };
            draft.apply(opts).map_err(|e| anyhow::anyhow!("{e}"))?;
            let job = Job::new(0, draft, zone, now);
            if job.next_fire(now).is_none() {
                bail!("`{line}` never fires again");
            }
            let job = store.add_job(chat.map(ChatId), job).await?;
            audit(
                store,
                format!("walkie schedule add {line} (job {})", job.id),
            )
            .await?;
            let stored = found(store, job.id).await?;
            if json {
                println!("{}", job_json(&stored, now));
            } else {
                println!("added job {}", job_line(&stored, now).trim_start());
            }
        }
        ScheduleCommand::Ls { json } => {
            let jobs = store.jobs().await?;
            if json {
                let all: Vec<_> = jobs.iter().map(|j| job_json(j, now)).collect();
                println!("{}", serde_json::Value::Array(all));
            } else if jobs.is_empty() {
                println!("no jobs");
            } else {
                for j in &jobs {
                    println!("{}", job_line(j, now));
                }
            }
        }
        ScheduleCommand::Rm { job } => {
            if !store.delete_job(job).await? {
                bail!("no job {job}; `walkie schedule ls` lists them");
            }
            audit(store, format!("walkie schedule rm {job}")).await?;
            println!("deleted job {job}");
        }
        ScheduleCommand::Pause { job } | ScheduleCommand::Resume { job } => {
            let pause = matches!(c, ScheduleCommand::Pause { .. });
            if !store.set_job_paused(job, pause, now).await? {
                bail!("no job {job}; `walkie schedule ls` lists them");
            }
            let word = if pause { "pause" } else { "resume" };
            audit(store, format!("walkie schedule {word} {job}")).await?;
            println!("{word}d job {job}");
        }
        ScheduleCommand::Run { job, wait, json } => return run_now(store, job, wait, json).await,
        ScheduleCommand::History { job, limit, json } => {
            let runs = store.runs(job, limit).await?;
            let zone = store.job(job).await?.map(|j| j.job.zone);
            if json {
                println!("{}", serde_json::to_string(&runs)?);
            } else if runs.is_empty() {
                println!("no runs of job {job}");
            } else {
                for r in &runs {
                    let at = jiff::Timestamp::from_second(r.fired_at).unwrap_or_default();
                    let when = match &zone {
                        Some(z) => z.show(at),
                        None => at.to_string(),
                    };
                    let why = r
                        .detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default();
                    println!("{when}  {}  {}{why}", r.target, r.outcome);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks the running bot to fire `job`, and waits for the run it records.
async fn run_now(store: &Store, job: u64, wait: u64, json: bool) -> anyhow::Result<ExitCode> {
    found(store, job).await?;
    let before = store.runs(job, 1).await?.last().map_or(0, |r| r.id);
    let ask = store.ask_run_now(job).await?;
    audit(store, format!("walkie schedule run {job}")).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut taken = false;
    while tokio::time::Instant::now() < deadline {
        if !taken {
            taken = store.run_now_taken(ask).await?;
        }
        if taken {
            if let Some(r) = store
                .runs(job, 1)
                .await?
                .into_iter()
                .find(|r| r.id > before)
            {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    let why = r
                        .detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default();
                    println!("job {job}: {}{why}", r.outcome);
                }
                let ok = matches!(r.outcome.as_str(), "delivered" | "queued");
                return Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !taken && !store.withdraw_run_now(ask).await? {
        bail!("no running bot took it within {wait} s (is `walkie up` running?); nothing was run");
    }
    bail!("the bot took job {job} but recorded no outcome within {wait} s; see `walkie schedule history {job}`")
}
