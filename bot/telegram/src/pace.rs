//! Pacing of everything the bot sends, so that Telegram never has to refuse it.
//!
//! Telegram allows about one message per second per chat (with short bursts) and about
//! thirty per second overall, and it counts edits too. teloxide's `Throttle` adaptor
//! paces sends only, so the bot does its own pacing here:
//!
//! - [`Pacer`]: one token bucket per chat shared by sends, edits and deletes, plus one
//!   global bucket; a 429 `retry_after` blocks that chat (or every chat, for the global
//!   limit) for the full time Telegram asked for.
//! - [`run_coalesced`]: drives one live message from a `watch` channel. Intermediate
//!   states that arrive while it waits for budget are dropped; it always ends on the
//!   latest state: a failed attempt is tried again after a short backoff.
//!
//! All time is `tokio::time`, so the tests run on paused time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Rates for [`Pacer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PaceConfig {
    /// Requests a chat may make at once after being quiet.
    pub(crate) chat_burst: f64,
    /// Sustained requests per second per chat.
    pub(crate) chat_per_sec: f64,
    /// Requests the whole bot may make at once.
    pub(crate) global_burst: f64,
    /// Sustained requests per second for the whole bot.
    pub(crate) global_per_sec: f64,
}

impl Default for PaceConfig {
    /// A little under Telegram's published limits, so that clock skew between us and
    /// Telegram never tips a request over.
    fn default() -> Self {
        PaceConfig {
            chat_burst: 3.0,
            chat_per_sec: 1.0,
            global_burst: 20.0,
            global_per_sec: 25.0,
        }
    }
}

/// Which requests a 429 applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Chat(i64),
    Global,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    cap: f64,
    rate: f64,
    last: Instant,
}

impl Bucket {
    fn new(cap: f64, rate: f64, now: Instant) -> Self {
        Bucket {
            tokens: cap,
            cap,
            rate,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        // `last` may lie in the future: after a 429 nothing accrues until the wait ends.
        if now > self.last {
            let dt = (now - self.last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.cap);
            self.last = now;
        }
    }

    /// How long until one token is available (zero if it is now).
    fn wait(&self) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

#[derive(Debug)]
struct State {
    chats: HashMap<i64, Bucket>,
    global: Bucket,
    /// Chats Telegram told to wait, and until when.
    blocked: HashMap<i64, Instant>,
    global_blocked: Option<Instant>,
}

/// What a request waiting for a chat's budget is, for its place in the chat's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// A message or any other request (an answer, a card, a notice): before every live
    /// screen's edit, in arrival order among themselves.
    Message,
    /// A live screen's edit of a state unshown `since` then; `focused`: the session the chat
    /// last wrote to or looked at.
    Live { focused: bool, since: Instant },
}

/// How much longer than the focused live screen another one must have waited to go first:
/// the focus is what the user looks at, but the others must not starve under a flood.
pub(crate) const FOCUS_LEAD: Duration = Duration::from_secs(10);

impl Want {
    /// Lower goes first: class, then the time the request counts as waiting since.
    fn rank(self, now: Instant) -> (u8, Instant) {
        match self {
            Want::Message => (0, now),
            Want::Live { focused, since } => {
                let since = if focused {
                    since.checked_sub(FOCUS_LEAD).unwrap_or(since)
                } else {
                    since
                };
                (1, since)
            }
        }
    }
}

/// The requests waiting for one chat's budget, served best [`Want`] first.
#[derive(Debug, Default)]
struct Queue {
    waiting: Mutex<Vec<((u8, Instant), u64)>>,
    /// Woken when the head leaves (served or cancelled).
    moved: tokio::sync::Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<((u8, Instant), u64)>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn first(&self) -> Option<u64> {
        self.lock().iter().min().map(|(_, id)| *id)
    }
}

/// A place in a [`Queue`], given up when dropped (served, or the waiter was cancelled).
struct Place<'a> {
    queue: &'a Queue,
    id: u64,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.queue.lock().retain(|(_, id)| *id != self.id);
        self.queue.moved.notify_waiters();
    }
}

/// Shared request budget of the bot (see the module docs).
#[derive(Debug)]
pub(crate) struct Pacer {
    cfg: PaceConfig,
    state: Mutex<State>,
    /// One queue per chat: the waiters of a chat are served by [`Want`] (messages first,
    /// then live screens by how long their state has waited, the focused one
    /// [`FOCUS_LEAD`] ahead), so that ten live screens in one chat take turns instead of
    /// one starving the others, and the one the user looks at stays fresh.
    queues: Mutex<HashMap<Option<i64>, Arc<Queue>>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Pacer {
    pub(crate) fn new(cfg: PaceConfig) -> Self {
        let now = Instant::now();
        Pacer {
            cfg,
            state: Mutex::new(State {
                chats: HashMap::new(),
                global: Bucket::new(cfg.global_burst, cfg.global_per_sec, now),
                blocked: HashMap::new(),
                global_blocked: None,
            }),
            queues: Mutex::new(HashMap::new()),
            next_id: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a handful of numbers that every critical section leaves
        // consistent, so a panic elsewhere does not make it unusable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one request from `chat`'s budget (or only the global one, for `None`),
    /// waiting as long as needed, as a [`Want::Message`].
    pub(crate) async fn acquire(&self, chat: Option<i64>) {
        self.acquire_as(chat, Want::Message).await
    }

    /// Takes one request from `chat`'s budget when it is the best waiter of the chat.
    pub(crate) async fn acquire_as(&self, chat: Option<i64>, want: Want) {
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            if queues.len() > 1024 {
                // Forget chats nobody is waiting in.
                queues.retain(|_, q| Arc::strong_count(q) > 1);
            }
            queues.entry(chat).or_default().clone()
        };
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        queue.lock().push((want.rank(Instant::now()), id));
        let _place = Place { queue: &queue, id };
        loop {
            let moved = queue.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if queue.first() != Some(id) {
                moved.await;
                continue;
            }
            let wait = self.try_acquire(chat, Instant::now());
            if wait.is_zero() {
                return;
            }
            // A better waiter may arrive meanwhile: it is woken with the others, and the
            // head is looked at again.
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = moved => {}
            }
        }
    }

    /// Takes a token if one is available now; otherwise says how long to wait.
    fn try_acquire(&self, chat: Option<i64>, now: Instant) -> Duration {
        let cfg = self.cfg;
        let mut st = self.lock();
        let mut wait = Duration::ZERO;
        if let Some(until) = st.global_blocked {
            if until > now {
                wait = wait.max(until - now);
            } else {
                st.global_blocked = None;
            }
        }
        if let Some(c) = chat {
            if let Some(&until) = st.blocked.get(&c) {
                if until > now {
                    wait = wait.max(until - now);
                } else {
                    st.blocked.remove(&c);
                }
            }
        }
        st.global.refill(now);
        wait = wait.max(st.global.wait());
        if let Some(c) = chat {
            let b = st
                .chats
                .entry(c)
                .or_insert_with(|| Bucket::new(cfg.chat_burst, cfg.chat_per_sec, now));
            b.refill(now);
            wait = wait.max(b.wait());
        }
        if !wait.is_zero() {
            return wait;
        }
        st.global.tokens -= 1.0;
        if let Some(c) = chat {
            if let Some(b) = st.chats.get_mut(&c) {
                b.tokens -= 1.0;
            }
        }
        // Forget buckets that are full again, so the map does not grow with every chat
        // ever seen.
        if st.chats.len() > 1024 {
            st.chats.retain(|_, b| {
                b.refill(now);
                b.tokens < b.cap
            });
        }
        Duration::ZERO
    }

    /// Records a 429: nothing more goes to `scope` until `retry_after` has passed. After
    /// the wait its budget holds one request, so requests resume at the sustained rate
    /// rather than in a burst. Two chats refused at overlapping times mean the
    /// global limit was hit, so then every chat waits.
    pub(crate) fn retry_after(&self, scope: Scope, retry_after: Duration) {
        let now = Instant::now();
        let until = now + retry_after;
        let mut st = self.lock();
        match scope {
            Scope::Global => {
                st.global_blocked = Some(st.global_blocked.map_or(until, |u| u.max(until)));
                st.global.tokens = 1.0;
                st.global.last = until;
            }
            Scope::Chat(c) => {
                let other_blocked = st.blocked.iter().any(|(&o, &u)| o != c && u > now);
                let entry = st.blocked.entry(c).or_insert(until);
                *entry = (*entry).max(until);
                let cfg = self.cfg;
                let b = st
                    .chats
                    .entry(c)
                    .or_insert_with(|| Bucket::new(cfg.chat_burst, cfg.chat_per_sec, now));
                // One request right when the wait ends, then the sustained rate.
                b.tokens = 1.0;
                b.last = until;
                if other_blocked {
                    st.global_blocked = Some(st.global_blocked.map_or(until, |u| u.max(until)));
                }
            }
        }
    }
}

/// What happened to one attempt at showing a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Shown (or already identical on Telegram's side).
    Done,
    /// Telegram said 429: wait this long, then show the latest state.
    RetryAfter(Duration),
    /// Failed for another reason: tried again after a short backoff (or a newer state
    /// is), up to [`MAX_FAILED`] times in a row.
    Failed,
}

/// The first wait before showing a state again after a failed attempt, doubled after
/// each failure in a row.
const FAILED_BACKOFF: Duration = Duration::from_millis(500);

/// Failed attempts in a row after which a state is given up (the message is gone or
/// Telegram refuses it for good): about 15 s of trying.
const MAX_FAILED: u32 = 5;

/// Shows the states of one live message in `chat`, paced by `pacer`: waits for a new
/// state, takes budget, then calls `show` with the *latest* state (states that arrived
/// meanwhile are skipped). Unchanged states are never shown twice. Returns when the
/// sender is dropped and its last state has been shown.
#[cfg(test)]
pub(crate) async fn run_coalesced<S, F, Fut>(
    pacer: &Pacer,
    chat: i64,
    rx: watch::Receiver<S>,
    show: F,
) where
    S: Clone + PartialEq,
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Outcome>,
{
    run_coalesced_as(pacer, chat, rx, || false, show).await
}

/// [`run_coalesced`] for a live screen: it waits for budget as a [`Want::Live`] whose state
/// is unshown since it first changed, `focused()` saying (at each wait) whether it is the
/// chat's focus.
pub(crate) async fn run_coalesced_as<S, F, Fut>(
    pacer: &Pacer,
    chat: i64,
    mut rx: watch::Receiver<S>,
    focused: impl Fn() -> bool,
    mut show: F,
) where
    S: Clone + PartialEq,
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut shown: Option<S> = None;
    let mut failed = 0u32;
    // When the state on screen first differed from the latest one.
    let mut since: Option<Instant> = None;
    loop {
        let pending = shown.as_ref() != Some(&*rx.borrow());
        if !pending {
            since = None;
            if rx.changed().await.is_err() {
                return;
            }
            continue;
        }
        let want = Want::Live {
            focused: focused(),
            since: *since.get_or_insert_with(Instant::now),
        };
        pacer.acquire_as(Some(chat), want).await;
        let latest = rx.borrow_and_update().clone();
        if shown.as_ref() == Some(&latest) {
            continue;
        }
        match show(latest.clone()).await {
            Outcome::Done => {
                shown = Some(latest);
                failed = 0;
            }
            Outcome::Failed if failed + 1 >= MAX_FAILED => {
                // Given up: the next new state is tried afresh.
                shown = Some(latest);
                failed = 0;
            }
            Outcome::Failed => {
                // Not shown: the latest state is tried again after a pause, or sooner
                // when a newer one arrives.
                let gap = FAILED_BACKOFF * 2u32.pow(failed);
                failed += 1;
                tokio::select! {
                    _ = tokio::time::sleep(gap) => {}
                    r = rx.changed() => {
                        if r.is_err() {
                            // No newer state will come: the last one still has to land.
                            tokio::time::sleep(gap).await;
                        }
                    }
                }
            }
            Outcome::RetryAfter(d) => pacer.retry_after(Scope::Chat(chat), d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant) -> f64 {
        (Instant::now() - start).as_secs_f64()
    }

    #[tokio::test(start_paused = true)]
    async fn one_chat_gets_a_burst_then_one_per_second() {
        let pacer = Pacer::new(PaceConfig::default());
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..6 {
            pacer.acquire(Some(1)).await;
            times.push(at(start));
        }
        assert_eq!(&times[..3], &[0.0, 0.0, 0.0]);
        for (i, t) in times[3..].iter().enumerate() {
            assert!((t - (i as f64 + 1.0)).abs() < 0.01, "{times:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn chats_have_separate_budgets_under_a_global_one() {
        let cfg = PaceConfig {
            global_burst: 4.0,
            global_per_sec: 2.0,
            ..PaceConfig::default()
        };
        let pacer = Pacer::new(cfg);
        let start = Instant::now();
        for chat in 0..4 {
            pacer.acquire(Some(chat)).await;
        }
        assert_eq!(at(start), 0.0);
        // Chat 4 has its own full budget, but the global bucket is empty.
        pacer.acquire(Some(4)).await;
        assert!((at(start) - 0.5).abs() < 0.01, "{}", at(start));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_blocks_the_chat_for_the_full_time() {
        let pacer = Pacer::new(PaceConfig::default());
        let start = Instant::now();
        pacer.retry_after(Scope::Chat(7), Duration::from_secs(5));
        pacer.acquire(Some(8)).await; // another chat is not held up
        assert_eq!(at(start), 0.0);
        pacer.acquire(Some(7)).await;
        assert!((at(start) - 5.0).abs() < 0.01, "{}", at(start));
        // After the wait, no burst: the next request is a second later.
        pacer.acquire(Some(7)).await;
        assert!((at(start) - 6.0).abs() < 0.01, "{}", at(start));
    }

    #[tokio::test(start_paused = true)]
    async fn global_retry_after_blocks_every_chat() {
        let pacer = Pacer::new(PaceConfig::default());
        let start = Instant::now();
        pacer.retry_after(Scope::Global, Duration::from_secs(3));
        pacer.acquire(Some(1)).await;
        assert!(at(start) >= 3.0);
        let start = Instant::now();
        // Two chats refused at once: that is the global limit.
        pacer.retry_after(Scope::Chat(1), Duration::from_secs(2));
        pacer.retry_after(Scope::Chat(2), Duration::from_secs(2));
        pacer.acquire(Some(3)).await;
        assert!(at(start) >= 2.0, "{}", at(start));
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_in_one_chat_take_turns() {
        let pacer = Arc::new(Pacer::new(PaceConfig::default()));
        let counts = Arc::new(Mutex::new([0u32; 5]));
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let (pacer, counts) = (pacer.clone(), counts.clone());
                tokio::spawn(async move {
                    loop {
                        pacer.acquire(Some(1)).await;
                        counts.lock().unwrap()[i] += 1;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(50)).await;
        for t in tasks {
            t.abort();
        }
        let c = *counts.lock().unwrap();
        // 3 + 50 requests shared by 5 waiters: each gets about 10, none starves (the
        // first may take the initial burst before the others queue up).
        assert!(c.iter().all(|&n| (9..=13).contains(&n)), "{c:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_goes_before_waiting_live_screens() {
        let pacer = Arc::new(Pacer::new(PaceConfig::default()));
        for _ in 0..3 {
            pacer.acquire(Some(1)).await; // the burst
        }
        let order = Arc::new(Mutex::new(Vec::new()));
        let waiter = |want: Want, tag: &'static str| {
            let (pacer, order) = (pacer.clone(), order.clone());
            tokio::spawn(async move {
                pacer.acquire_as(Some(1), want).await;
                order.lock().unwrap().push(tag);
            })
        };
        let now = Instant::now();
        let live = waiter(
            Want::Live {
                focused: true,
                since: now,
            },
            "live",
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        let msg = waiter(Want::Message, "message");
        let _ = tokio::join!(live, msg);
        assert_eq!(*order.lock().unwrap(), ["message", "live"]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_focus_goes_first_unless_another_screen_waited_far_longer() {
        let pacer = Arc::new(Pacer::new(PaceConfig::default()));
        for _ in 0..3 {
            pacer.acquire(Some(1)).await;
        }
        let run = |wants: Vec<(Want, &'static str)>| {
            let pacer = pacer.clone();
            async move {
                let order = Arc::new(Mutex::new(Vec::new()));
                let tasks: Vec<_> = wants
                    .into_iter()
                    .map(|(want, tag)| {
                        let (pacer, order) = (pacer.clone(), order.clone());
                        tokio::spawn(async move {
                            pacer.acquire_as(Some(1), want).await;
                            order.lock().unwrap().push(tag);
                        })
                    })
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
                let o = order.lock().unwrap().clone();
                o
            }
        };
        let t0 = Instant::now();
        let live = |focused: bool, since: Instant| Want::Live { focused, since };
        // Changed a second after the background one, the focus still goes first.
        let order = run(vec![
            (live(false, t0), "background"),
            (live(true, t0 + Duration::from_secs(1)), "focus"),
        ])
        .await;
        assert_eq!(order, ["focus", "background"]);
        // A background screen unshown for more than FOCUS_LEAD longer goes first.
        let t1 = Instant::now();
        let order = run(vec![
            (live(true, t1), "focus"),
            (
                live(
                    false,
                    t1.checked_sub(FOCUS_LEAD + Duration::from_secs(1)).unwrap(),
                ),
                "background",
            ),
        ])
        .await;
        assert_eq!(order, ["background", "focus"]);
    }

    /// Ten live screens in one chat, every one changing ten times a second, one edit a second:
    /// the focused one is at most about 3 s stale at p95 and the others at most 15 s (FIFO
    /// turns gave every screen about 9.5 s), and each ends on its final state. The 2 s of
    /// issue 18 for the focus cannot be had with ten separate messages: an edit every 2 s
    /// for it leaves nine others one every 18 s; that takes one dashboard message for them.
    #[tokio::test(start_paused = true)]
    async fn under_a_flood_the_focus_stays_fresh_and_no_screen_starves() {
        let pacer = Arc::new(Pacer::new(PaceConfig::default()));
        let start = Instant::now();
        // Per screen: (time of each state, time it was first shown).
        type Shows = Vec<(f64, f64)>;
        let log: Arc<Mutex<Vec<Shows>>> = Arc::new(Mutex::new(vec![Vec::new(); 10]));
        let mut senders = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..10usize {
            let (tx, rx) = watch::channel((0u32, 0.0f64));
            senders.push(tx);
            let (pacer, log) = (pacer.clone(), log.clone());
            tasks.push(tokio::spawn(async move {
                run_coalesced_as(
                    &pacer,
                    1,
                    rx,
                    move || i == 0,
                    |(_, made): (u32, f64)| {
                        let log = log.clone();
                        async move {
                            log.lock().unwrap()[i].push((made, at(start)));
                            Outcome::Done
                        }
                    },
                )
                .await
            }));
        }
        for step in 1..=1200u32 {
            for tx in &senders {
                tx.send_replace((step, at(start)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let end = at(start);
        drop(senders);
        for t in tasks {
            let _ = t.await;
        }
        let log = log.lock().unwrap();
        // Staleness at a moment: how old the newest state then was when its screen showed an
        // older one, sampled each 100 ms over the last 100 s (after the first minute's start).
        let stale = |shows: &Shows| -> Vec<f64> {
            let mut out = Vec::new();
            let mut t = 20.0;
            while t < end {
                let shown = shows
                    .iter()
                    .filter(|(_, at)| *at <= t)
                    .map(|(made, _)| *made)
                    .fold(0.0f64, f64::max);
                out.push(t - shown);
                t += 0.1;
            }
            out.sort_by(|a, b| a.total_cmp(b));
            out
        };
        let p95 = |v: &Vec<f64>| v[v.len() * 95 / 100];
        let focus = p95(&stale(&log[0]));
        let others = (1..10).map(|i| p95(&stale(&log[i]))).fold(0.0f64, f64::max);
        eprintln!("focus p95 {focus:.1} s, others p95 at most {others:.1} s");
        assert!(focus <= 3.5, "focus p95 {focus:.1} s");
        assert!(others <= 15.0, "others p95 {others:.1} s");
        // Every screen ends on its final state.
        for (i, shows) in log.iter().enumerate() {
            let last = shows.last().map(|(made, _)| *made).unwrap_or(0.0);
            assert!(
                end - last < 0.2,
                "screen {i} ended on a state of {last:.1} s"
            );
        }
    }

    /// A fake "edit message" that records what it was asked to show and when.
    #[derive(Default)]
    struct Recorder {
        shown: Mutex<Vec<(f64, String)>>,
    }

    #[tokio::test(start_paused = true)]
    async fn coalesces_to_the_final_state() {
        let pacer = Arc::new(Pacer::new(PaceConfig::default()));
        let rec = Arc::new(Recorder::default());
        let (tx, rx) = watch::channel(String::from("s0"));
        let start = Instant::now();
        let task = {
            let (pacer, rec) = (pacer.clone(), rec.clone());
            tokio::spawn(async move {
                run_coalesced(&pacer, 1, rx, |s: String| {
                    let rec = rec.clone();
                    async move {
                        rec.shown.lock().unwrap().push((at(start), s));
                        Outcome::Done
                    }
                })
                .await
            })
        };
        // 100 states over 10 seconds: far more than one per second.
        for i in 1..=100 {
            tx.send_replace(format!("s{i}"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(tx);
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
        let shown = rec.shown.lock().unwrap().clone();
        assert_eq!(
            shown.last().map(|s| s.1.as_str()),
            Some("s100"),
            "{shown:?}"
        );
        // Burst of 3, then about one per second: about 13 edits for 10 s, not 100.
        assert!(shown.len() <= 14, "{} edits: {shown:?}", shown.len());
        // Never more than the budget allows in any window: 3 + t seconds.
        for (i, (t, _)) in shown.iter().enumerate() {
            assert!(
                i as f64 + 1.0 <= 3.0 + t + 0.01,
                "edit {i} at {t}: {shown:?}"
            );
        }
        // No state is shown twice.
        let mut names: Vec<_> = shown.iter().map(|s| &s.1).collect();
        names.dedup();
        assert_eq!(names.len(), shown.len());
    }

    #[tokio::test(start_paused = true)]
    async fn honours_429_and_still_ends_on_the_final_state() {
        let pacer = Arc::new(Pacer::new(PaceConfig::default()));
        let rec = Arc::new(Recorder::default());
        let (tx, rx) = watch::channel(String::from("a"));
        let start = Instant::now();
        let refused = Arc::new(Mutex::new(false));
        let task = {
            let (pacer, rec, refused) = (pacer.clone(), rec.clone(), refused.clone());
            tokio::spawn(async move {
                run_coalesced(&pacer, 1, rx, |s: String| {
                    let (rec, refused) = (rec.clone(), refused.clone());
                    async move {
                        let mut r = refused.lock().unwrap();
                        if s == "b" && !*r {
                            // Telegram refuses the first attempt at "b".
                            *r = true;
                            return Outcome::RetryAfter(Duration::from_secs(7));
                        }
                        rec.shown.lock().unwrap().push((at(start), s));
                        Outcome::Done
                    }
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        tx.send_replace("b".into());
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Arrives during the wait: "b" is never shown, "c" is, after the full 7 s.
        tx.send_replace("c".into());
        drop(tx);
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
        let shown = rec.shown.lock().unwrap().clone();
        assert_eq!(
            shown.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
            vec!["a", "c"]
        );
        assert!(shown[1].0 >= 7.0, "{shown:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_last_state_is_shown_again_after_a_backoff() {
        let pacer = Arc::new(Pacer::new(PaceConfig::default()));
        let rec = Arc::new(Recorder::default());
        let (tx, rx) = watch::channel(String::from("step 1"));
        let start = Instant::now();
        let fails = Arc::new(Mutex::new(2u32));
        let task = {
            let (pacer, rec, fails) = (pacer.clone(), rec.clone(), fails.clone());
            tokio::spawn(async move {
                run_coalesced(&pacer, 1, rx, |s: String| {
                    let (rec, fails) = (rec.clone(), fails.clone());
                    async move {
                        let mut f = fails.lock().unwrap();
                        if s == "done" && *f > 0 {
                            // The edit carrying the last state fails twice (no answer).
                            *f -= 1;
                            return Outcome::Failed;
                        }
                        rec.shown.lock().unwrap().push((at(start), s));
                        Outcome::Done
                    }
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        tx.send_replace("done".into());
        // No newer state comes: the sender is gone, and "done" must still land.
        drop(tx);
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
        let shown = rec.shown.lock().unwrap().clone();
        assert_eq!(
            shown.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
            vec!["step 1", "done"]
        );
        // After 0.5 s and 1 s of backoff, not at once and not much later.
        assert!((1.4..3.0).contains(&shown[1].0), "{shown:?}");
        assert_eq!(*fails.lock().unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_state_that_always_fails_is_given_up() {
        let pacer = Pacer::new(PaceConfig::default());
        let tries = Mutex::new(0);
        let (tx, rx) = watch::channel(1u32);
        drop(tx);
        let fut = run_coalesced(&pacer, 1, rx, |_| {
            *tries.lock().unwrap() += 1;
            async { Outcome::Failed }
        });
        tokio::time::timeout(Duration::from_secs(60), fut)
            .await
            .unwrap();
        assert_eq!(*tries.lock().unwrap(), MAX_FAILED);
    }

    #[tokio::test(start_paused = true)]
    async fn unchanged_state_is_not_shown_again() {
        let pacer = Pacer::new(PaceConfig::default());
        let count = Mutex::new(0);
        let (tx, rx) = watch::channel(1u32);
        tx.send_replace(1);
        tx.send_replace(1);
        drop(tx);
        let fut = run_coalesced(&pacer, 1, rx, |_| {
            *count.lock().unwrap() += 1;
            async { Outcome::Done }
        });
        tokio::time::timeout(Duration::from_secs(5), fut)
            .await
            .unwrap();
        assert_eq!(*count.lock().unwrap(), 1);
    }
}
