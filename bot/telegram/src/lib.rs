//! walkie's Telegram front end (`walkie up`): long polling, updates to console requests,
//! commands, live screens, approval cards as HTML, pacing, Bot API calls.
//!
//! Updates are fetched with our own getUpdates loop rather than teloxide's dispatcher, so
//! that each update is claimed in SQLite *before* it is dispatched: a crash or restart
//! never dispatches a message twice, and as the offset only confirms claimed updates,
//! none is lost.
//!
//! # Layout
//! - [`app`]: handling of one update (gate, audit of commands, voice notes, buttons);
//!   requests go to the console ([`walkie_console::requests`]); `app::buttons`: the
//!   table from a button's callback prefix to its handler (and who may press it);
//!   `app::dirs`: the press of a directory button of `/new NAME PRESET`.
//! - [`card`]: approval cards as HTML and keyboards; their buttons' callback codes.
//! - [`context`]: the context the update handler and the front end share.
//! - [`front`]: Telegram as the console's [`walkie_console::front::Frontend`] (cards,
//!   presses, notices, views, live screens), and the desk and console it runs.
//! - [`commands`]: the command menu and argument parsing into console requests.
//! - [`live`]: live screens and notifications.
//! - [`dashboard`]: one message per chat for its busy background live screens (`dash:NAME`).
//! - [`pictures`]: live pictures (`/watch`): a PNG document edited as the screen changes.
//! - [`lost`]: sessions lost with their host: one notice per chat, Revive buttons.
//! - [`outage`]: the state cannot be written (disk full): the update waits, chats are told.
//! - [`pace`]: one request budget per chat shared by sends and edits; 429 handling;
//!   coalescing of live-screen states.
//! - [`raw`]: Bot API calls of our own for teloxide's requests (no 10 s sleep on a 5xx).
//! - [`refuse`]: strangers refused off the update loop, from bounded queues.
//! - [`render`]: a session's screen as a Telegram HTML message within 4096 characters.
//! - [`revived`]: the message after a host restart, its screen and kill buttons.
//! - [`tg`]: paced Telegram requests with token-free errors.
//! - [`views`]: the console's answers (`View`s) as text or HTML with keyboards.
//! - [`voice`]: transcript cards and their buttons.

mod app;
mod card;
mod commands;
mod context;
mod dashboard;
mod front;
mod live;
mod lost;
mod outage;
mod pace;
mod pictures;
mod raw;
mod refuse;
mod render;
mod revived;
mod tg;
mod views;
mod voice;

use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, UpdateKind};
use teloxide::utils::command::BotCommands;
use teloxide::{ApiError, RequestError};
use tokio_util::sync::CancellationToken;
use walkie_config::Config;

use walkie_console::fleet::Fleet;
use walkie_console::gate::Gate;
use walkie_console::host::{Host, HostLink};
use walkie_console::presets;
use walkie_console::store::{Claim, Store, StoreError};
use walkie_host_proto::client::{ClientError, SpawnHost};

use app::App;
use commands::Command;
use live::{LiveConfig, LiveScreens};
use pace::{PaceConfig, Pacer};
use tg::{redact, Tg};

/// Seconds a getUpdates long poll waits; below teloxide's 17 s HTTP timeout.
const POLL_TIMEOUT_S: u32 = 10;

/// The first wait after a failed getUpdates, doubled on each failure in a row.
const POLL_BACKOFF: Duration = Duration::from_millis(250);

/// The longest wait between two getUpdates after failures: the bot hears again within
/// this long of Telegram answering again, however long it was away.
const MAX_POLL_BACKOFF: Duration = Duration::from_secs(3);

/// Finished update ids are forgotten after this long (Telegram keeps updates 24 h).
const KEEP_UPDATES: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why the bot stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] walkie_config::ConfigError),
    #[error(transparent)]
    Preset(#[from] presets::PresetError),
    #[error("telegram.api_url {0:?} is not a URL")]
    ApiUrl(String),
    #[error("opening the bot's state: {0}")]
    Store(#[from] StoreError),
    #[error("connecting to the session host: {0}")]
    Host(ClientError),
    #[error("starting a link to a remote host: {0}")]
    Remote(walkie_console::remote::RemoteError),
    #[error("Telegram getMe failed (is TELEGRAM_BOT_TOKEN right?): {0}")]
    GetMe(String),
    #[error("Telegram refused the bot token; check TELEGRAM_BOT_TOKEN")]
    InvalidToken,
    #[error(transparent)]
    Zone(#[from] walkie_console::schedule::clock::ZoneConfigError),
}

/// Runs the bot until `shutdown`. `spawn`: how to start a session host when none runs
/// (`None` under systemd, where the host has its own unit, outside the bot's sandbox).
pub async fn run(
    cfg: Config,
    spawn: Option<SpawnHost>,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    cfg.validate_bot()?;
    presets::check_rules(&cfg)?;
    // A configured zone must be right; a machine that tells none is only an error for the
    // chats that make jobs (they are told what to set).
    if cfg.schedule.zone.is_some() {
        walkie_console::schedule::clock::default_zone(&cfg)?;
    }
    let token = cfg.telegram.token.expose().to_string();
    let api_url = cfg
        .telegram
        .api_url
        .parse()
        .map_err(|_| RunError::ApiUrl(cfg.telegram.api_url.clone()))?;
    let bot = Bot::new(&token).set_api_url(api_url);
    let tg = Tg::new(
        bot.clone(),
        Arc::new(Pacer::new(PaceConfig::default())),
        &token,
    );

    let state_dir = cfg.state_dir();
    let store = Store::open_in(&state_dir).await?;
    let host = Arc::new(
        Fleet::new(&cfg, HostLink::new(cfg.socket_path(), spawn)).map_err(RunError::Remote)?,
    );
    let host_pid = host.connect().await.map_err(RunError::Host)?;
    tracing::info!(host_pid, socket = %cfg.socket_path().display(), "session host ready");

    let me = bot
        .get_me()
        .await
        .map_err(|e| RunError::GetMe(redact(&e, &token)))?;
    let username = me.username().to_string();
    tracing::info!(bot = %username, "connected to Telegram");
    if let Err(e) = bot.set_my_commands(Command::bot_commands()).await {
        // The menu is a convenience; the bot works without it.
        tracing::warn!(error = %redact(&e, &token), "setMyCommands failed");
    }

    let live = LiveScreens::new(
        LiveConfig {
            activity: walkie_console::activity::ActivityConfig::from_config(&cfg.notify),
            buzz_by_default: cfg.notify.level() == walkie_config::NotifyLevel::All,
            ..LiveConfig::default()
        },
        tg.clone(),
        host.clone(),
        store.clone(),
    );
    let gate = Gate::from_config(&cfg.telegram);
    let ctx = Arc::new(context::Context {
        cfg: cfg.clone(),
        tg,
        store: store.clone(),
        gate,
        host,
        live,
    });
    let desk = Arc::new(front::TelegramDesk {
        cfg: cfg.clone(),
        store: store.clone(),
        gate: ctx.gate.clone(),
        host: ctx.host.clone(),
        front: front::TelegramFront {
            tg: ctx.tg.clone(),
            live: ctx.live.clone(),
            pictures: pictures::LivePictures::new(
                ctx.tg.clone(),
                ctx.host.clone(),
                store.clone(),
                std::time::Duration::from_secs(cfg.telegram.watch_s),
            ),
        },
        dialogs: Default::default(),
    });
    let console = Arc::new(walkie_console::requests::Console {
        cfg: cfg.clone(),
        store: store.clone(),
        host: ctx.host.clone(),
        front: desk.front.clone(),
        dialogs: desk.dialogs.clone(),
        schedules: Default::default(),
    });
    let app = Arc::new(App {
        ctx,
        desk: desk.clone(),
        console,
        voice: walkie_console::voice::Voice::new(cfg.clone()),
        bot_username: username,
    });
    report_unfinished(&app).await?;
    // Only housekeeping: a full disk must not keep the bot from starting.
    if let Err(e) = store
        .prune_updates(walkie_console::store::now_unix() - KEEP_UPDATES.as_secs() as i64)
        .await
    {
        tracing::warn!(error = %e, "cannot forget old updates");
    }

    resume_live_screens(&app).await;
    // `/watch` pictures running when the bot stopped go on in the same messages.
    desk.front.pictures.resume().await;
    let watcher = desk.clone().spawn(shutdown.clone());
    // Remote hosts: pings and status, and the chats told when one goes down or comes back.
    let pings = app.host.spawn(shutdown.clone());
    let operators = cfg
        .telegram
        .allowed_users
        .iter()
        .map(|u| {
            walkie_console::front::Frontend::private_chat(
                &desk.front,
                walkie_console::front::UserId(*u),
            )
        })
        .collect();
    // `walkie attach api@cloud` and `walkie hosts` at this machine go through the fleet.
    let relay = tokio::spawn(walkie_console::relay::serve(
        app.host.clone(),
        cfg.clone(),
        shutdown.clone(),
    ));
    let outbox = tokio::spawn(walkie_console::outbox::deliver(
        app.host.clone(),
        desk.front.clone(),
        store.clone(),
        shutdown.clone(),
    ));
    let announcer = tokio::spawn(walkie_console::fleet::announce(
        app.host.clone(),
        desk.front.clone(),
        store.clone(),
        operators,
        shutdown.clone(),
    ));
    let timer = walkie_console::schedule::timer::Scheduler::new(
        app.console.clone(),
        walkie_console::schedule::clock::from_env(),
    )
    .spawn(shutdown.clone());

    poll(&app, &bot, &token, &shutdown).await?;
    shutdown.cancel();
    let _ = watcher.await;
    let _ = announcer.await;
    let _ = outbox.await;
    let _ = relay.await;
    for p in pings {
        let _ = p.await;
    }
    let _ = timer.await;
    tracing::info!("shutting down");
    store.close().await;
    Ok(())
}

/// Live screens that were shown when the bot stopped go on, editing the same messages,
/// for the sessions still alive (an exited one was already announced).
async fn resume_live_screens(app: &App) {
    let alive: Vec<String> = match app.host.list().await {
        Ok(list) => list
            .into_iter()
            .filter(|s| s.state.is_live())
            .map(|s| s.name)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list sessions; live screens resume on next use");
            return;
        }
    };
    match app.store.live_messages().await {
        Ok(list) => {
            // Sessions of every host, by their addresses (`api`, `api@cloud`).
            for (chat, session, _) in list {
                let addr = session.to_string();
                if alive.contains(&addr) {
                    app.live.ensure(chat.0, &addr);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read live screens"),
    }
}

/// Updates claimed but not finished when the bot last died are not dispatched again (that
/// could type a command twice); their chats are told instead, so nothing is lost silently.
async fn report_unfinished(app: &App) -> Result<(), StoreError> {
    for (id, chat, summary) in app.store.unfinished_reports().await? {
        tracing::warn!(
            update = id,
            ?chat,
            "update claimed but not finished before the last stop"
        );
        if let Some(chat) = chat {
            let what = summary
                .map(|s| {
                    format!(
                        " \u{201c}{}\u{201d}",
                        s.chars().take(80).collect::<String>()
                    )
                })
                .unwrap_or_default();
            let text = format!(
                "⚠️ walkie restarted while handling your message{what}; it may not have been delivered. Check /screen and send it again if needed."
            );
            if let Err(e) = app.tg.send_text(chat, &text).await {
                tracing::warn!(update = id, error = %e, "could not report an unfinished update");
                continue;
            }
        }
        app.store.finish_update(id).await?;
    }
    Ok(())
}

/// The getUpdates loop: claim, handle, finish; until `shutdown`.
async fn poll(
    app: &Arc<App>,
    bot: &Bot,
    token: &str,
    shutdown: &CancellationToken,
) -> Result<(), RunError> {
    let mut offset = app.store.next_offset().await?;
    let refusals = refuse::Refusals::start(
        app.tg.clone(),
        app.store.clone(),
        app.gate.clone(),
        app.live.clone(),
        shutdown.clone(),
    );
    let mut outage = outage::Outage::default();
    // In-flight voice notes; ones cut off by shutdown stay unfinished and are reported at
    // the next start.
    let mut voice_tasks = tokio::task::JoinSet::new();
    let mut backoff = POLL_BACKOFF;
    loop {
        let mut req = bot
            .get_updates()
            .timeout(POLL_TIMEOUT_S)
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        if let Some(o) = offset {
            req = req.offset(i32::try_from(o).unwrap_or(i32::MAX));
        }
        // Our own call, not `req.send()`: teloxide would sleep 10 s in every 5xx answer.
        let updates = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = raw::call(bot, &req) => r,
        };
        let updates = match updates {
            Ok(u) => {
                backoff = POLL_BACKOFF;
                u
            }
            Err(raw::CallError {
                error: RequestError::Api(ApiError::InvalidToken),
                ..
            }) => return Err(RunError::InvalidToken),
            Err(raw::CallError {
                error: RequestError::RetryAfter(s),
                ..
            }) => {
                wait_or_shutdown(s.duration(), shutdown).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %redact(&e.error, token), server = e.server, retry_in = ?backoff, "getUpdates failed");
                wait_or_shutdown(backoff, shutdown).await;
                backoff = (backoff * 2).min(MAX_POLL_BACKOFF);
                continue;
            }
        };
        // Reap finished voice tasks so the set does not grow.
        while voice_tasks.try_join_next().is_some() {}
        outage.flush(app).await;
        for u in updates {
            let id = i64::from(u.id.0);
            if refusals.divert(&u) {
                offset = Some(offset.map_or(id + 1, |o| o.max(id + 1)));
                continue;
            }
            let described = describe(&u);
            let chat = described.as_ref().map(|d| d.0);
            let Some(claim) = outage.claim(app, id, chat, shutdown).await else {
                return Ok(());
            };
            offset = Some(offset.map_or(id + 1, |o| o.max(id + 1)));
            match claim {
                Claim::Seen => {
                    tracing::debug!(update = id, "already handled; skipped");
                    continue;
                }
                Claim::New => {}
            }
            if let Some((chat, summary)) = described {
                let r = app.store.describe_update(id, chat, &summary).await;
                outage.note(app, Some(chat), r).await;
            }
            // A voice note takes seconds to download and transcribe: handle it beside the
            // loop so that every other chat's messages and buttons are not held up meanwhile.
            if matches!(&u.kind, UpdateKind::Message(m) if m.voice().is_some()) {
                let app = app.clone();
                let token = token.to_string();
                voice_tasks.spawn(async move {
                    if let Err(e) = app.handle(u).await {
                        tracing::warn!(update = id, error = %redact(&e, &token), "handling a voice note failed");
                    }
                    if let Err(e) = app.store.finish_update(id).await {
                        tracing::warn!(update = id, error = %e, "cannot mark a voice note handled");
                    }
                });
                continue;
            }
            if let Err(e) = app.handle(u).await {
                tracing::warn!(update = id, error = %redact(&e, token), "handling an update failed");
                if let app::HandleError::Store(e) = e {
                    outage.note(app, chat, Err(e)).await;
                }
            }
            outage.finish(app, id, chat).await;
        }
    }
}

/// The chat of an update and a short summary of it, for [`report_unfinished`].
fn describe(u: &Update) -> Option<(i64, String)> {
    match &u.kind {
        UpdateKind::Message(m) => {
            let summary = if let Some(t) = m.text() {
                t.chars().take(200).collect()
            } else if m.voice().is_some() {
                "(voice note)".to_string()
            } else {
                "(message)".to_string()
            };
            Some((m.chat.id.0, summary))
        }
        UpdateKind::CallbackQuery(q) => q
            .message
            .as_ref()
            .map(|m| (m.chat().id.0, "(button press)".to_string())),
        _ => None,
    }
}

async fn wait_or_shutdown(d: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}
