//! Check-then-act: a read-through profile cache that checks for a key
//! under one acquisition of its mutex and marks it "loading" under another.
//!
//! `Profiles::get` should load each profile from the store once, however
//! many page renders ask for it at the same time: the first caller marks
//! the key as loading and the others wait on a `watch` channel for the
//! value. The buggy cache checks and marks under two separate lock
//! acquisitions, so a second caller that takes the lock in between also
//! finds the key absent and loads it again; the store asserts it never
//! loads a profile twice. The fixed cache checks and marks under one
//! guard.
//!
//! Ordinary runs never interleave there (a task that finds the mutex free
//! takes it without yielding), so a seed sweep cannot find it: only the
//! searches that reorder tasks at the mutex can.

mod bug_corpus;

use bach::{
    check::Explorer,
    ext::*,
    sync::{mpsc, oneshot, watch, Mutex},
    Simulation,
};
use bug_corpus::{Corpus, Search, Version};
use std::{collections::BTreeMap, rc::Rc};

type Profile = u64;
type Load = (&'static str, oneshot::Sender<Profile>);

enum Slot {
    /// A caller is loading it; its value arrives on the channel.
    Loading(watch::Receiver<Option<Profile>>),
    Ready(Profile),
}

#[derive(Clone)]
struct Profiles {
    slots: Rc<Mutex<BTreeMap<&'static str, Slot>>>,
    store: mpsc::Sender<Load>,
    /// The fix: check and mark under one guard.
    mark_under_the_same_guard: bool,
}

impl Profiles {
    async fn get(&self, user: &'static str) -> Profile {
        let mut slots = self.slots.lock().await;
        let loading = match slots.get(user) {
            Some(Slot::Ready(profile)) => return *profile,
            Some(Slot::Loading(loaded)) => Some(loaded.clone()),
            None => None,
        };
        if let Some(mut loaded) = loading {
            drop(slots);
            let profile = loaded.wait_for(Option::is_some).await.expect("loader runs");
            return profile.expect("loaded");
        }
        let (loaded, loading) = watch::channel(None);
        if self.mark_under_the_same_guard {
            slots.insert(user, Slot::Loading(loading));
            drop(slots);
        } else {
            // The bug: the key is absent *now*, but another caller may take
            // the lock before this one marks it.
            drop(slots);
            self.slots.lock().await.insert(user, Slot::Loading(loading));
        }
        let (reply, profile) = oneshot::channel();
        self.store.send((user, reply)).await.expect("store runs");
        let profile = profile.await.expect("store replies");
        self.slots.lock().await.insert(user, Slot::Ready(profile));
        loaded.send_replace(Some(profile));
        profile
    }
}

/// Three page renders ask for overlapping profiles at the same instant;
/// the store counts how often it loads each one.
fn renders(mark_under_the_same_guard: bool) {
    let (store, mut loads) = mpsc::channel::<Load>(8);
    async move {
        let mut loaded = BTreeMap::<&str, u32>::new();
        while let Some((user, reply)) = loads.recv().await {
            let times = loaded.entry(user).or_default();
            *times += 1;
            assert_eq!(*times, 1, "profile `{user}` loaded twice");
            2.ms().sleep().await;
            let _ = reply.send(user.len() as Profile);
        }
    }
    .spawn_named("store");
    let profiles = Profiles {
        slots: Rc::new(Mutex::new(BTreeMap::new())),
        store,
        mark_under_the_same_guard,
    };
    let pages = [
        ("home", ["alice", "bob"]),
        ("feed", ["bob", "carol"]),
        ("team", ["alice", "carol"]),
    ];
    for (page, users) in pages {
        let profiles = profiles.clone();
        async move {
            for user in users {
                assert_eq!(profiles.get(user).await, user.len() as Profile);
            }
        }
        .primary()
        .spawn_named(page);
    }
}

fn buggy(sim: &mut Simulation) {
    sim.enter(|| renders(false));
}

fn fixed(sim: &mut Simulation) {
    sim.enter(|| renders(true));
}

#[test]
fn cache_check_then_act_is_found_and_the_fix_passes() {
    let corpus = Corpus::new("bugs_check_then_act", "check-then-act: a cache loads twice")
        .model_checking("depth first", Explorer::model_checking)
        .note(
            &[Search::Sweep],
            "A plain run never yields at a free mutex, so no seed lets a second caller \
             check between the first one's check and mark",
        );
    corpus.search(Version::Buggy, buggy).assert_found_by(
        &[
            Search::Random,
            Search::Pct2,
            Search::Dfs,
            Search::DelayBounded,
            Search::Bolero,
        ],
        "loaded twice",
    );
    corpus.search(Version::Fixed, fixed).assert_none_failed();
}
