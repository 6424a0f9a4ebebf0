//! A check-then-act race in an async cache, found by exploration and
//! replayed from its token.
//!
//! `Cache::get` is meant to fetch each key from the backend once, however
//! many callers ask at the same time: the first caller marks the key
//! "in flight", the others wait for it. But it checks under one lock and
//! marks under another, so two callers can both see "absent" in between.
//! Ordinary runs never show it (a task that finds the lock free takes both
//! locks in one go); [`bach::check::Explorer`] makes every lock a
//! scheduling point and finds the interleaving, then `check::replay` runs
//! exactly that execution again.
//!
//! Run with `cargo run --example find_race`.

use bach::{
    check::{self, Explorer, Strategy, Sweep},
    ext::*,
    sync::{mpsc, oneshot, Mutex, Notify},
};
use std::{collections::BTreeMap, rc::Rc};

enum Entry {
    /// Someone is fetching it; wait for the notification.
    Fetching(Rc<Notify>),
    Ready(u64),
}

type Request = (&'static str, oneshot::Sender<u64>);

#[derive(Clone)]
struct Cache {
    entries: Rc<Mutex<BTreeMap<&'static str, Entry>>>,
    backend: mpsc::Sender<Request>,
}

impl Cache {
    async fn get(&self, key: &'static str) -> u64 {
        loop {
            // Check...
            let entries = self.entries.lock().await;
            match entries.get(key) {
                Some(Entry::Ready(value)) => return *value,
                Some(Entry::Fetching(done)) => {
                    // Wait for the fetcher (registered before unlocking, so
                    // its notification cannot be missed).
                    let done = done.clone();
                    let mut notified = std::pin::pin!(done.notified());
                    notified.as_mut().enable();
                    drop(entries);
                    notified.await;
                    continue;
                }
                None => drop(entries),
            }
            // ...then act, under a second lock: the bug. Another caller can
            // check between the two and fetch the same key again.
            let done = Rc::new(Notify::new());
            self.entries
                .lock()
                .await
                .insert(key, Entry::Fetching(done.clone()));
            let (reply, value) = oneshot::channel();
            self.backend.send((key, reply)).await.expect("backend runs");
            let value = value.await.expect("backend replies");
            self.entries.lock().await.insert(key, Entry::Ready(value));
            done.notify_waiters();
            return value;
        }
    }
}

/// Three clients ask for overlapping keys at the same instant; the backend
/// counts how often each key is fetched.
fn scenario() {
    let (backend, mut requests) = mpsc::channel::<Request>(16);
    let cache = Cache {
        entries: Rc::new(Mutex::new(BTreeMap::new())),
        backend,
    };
    async move {
        let mut fetches = BTreeMap::<&str, u32>::new();
        while let Some((key, reply)) = requests.recv().await {
            let count = fetches.entry(key).or_default();
            *count += 1;
            assert!(*count == 1, "`{key}` was fetched {count} times");
            10.ms().sleep().await;
            let _ = reply.send(key.len() as u64);
        }
    }
    .group("backend")
    .spawn();
    for (client, keys) in [("alice", ["config", "users"]), ("bob", ["users", "config"])]
        .into_iter()
        .chain([("carol", ["config", "config"])])
    {
        let cache = cache.clone();
        async move {
            for key in keys {
                cache.get(key).await;
            }
        }
        .group(client)
        .primary()
        .spawn();
    }
}

fn main() {
    // Keep panic output to the summaries printed below.
    std::panic::set_hook(Box::new(|_| {}));

    let plain = Sweep::new(0..1000).run(scenario);
    println!("plain runs:  {plain}");
    assert_eq!(
        plain.failures().len(),
        0,
        "ordinary runs never hit the race"
    );

    let failure = Explorer::new()
        .strategy(Strategy::Random(1000))
        .try_run(scenario)
        .expect_err("exploration finds the race");
    println!(
        "exploration: execution {} failed: {}",
        failure.execution(),
        failure.message().lines().next().unwrap_or_default()
    );
    println!("             BACH_REPLAY={}", failure.token());

    let dfs = Explorer::new()
        .try_run(scenario)
        .expect_err("and so does DFS");
    println!("depth-first: execution {} fails too", dfs.execution());

    let replayed = std::panic::catch_unwind(|| check::replay(failure.token(), scenario))
        .expect_err("the replay fails the same way");
    let message = replayed
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    println!(
        "replay:      {}",
        message.lines().next().unwrap_or_default()
    );
    assert!(message.contains("fetched 2 times"), "{message}");
}
