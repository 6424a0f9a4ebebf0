//! Split brain: a leader elected by a lease keeps acting after a partition
//! cut it off from the lock service, and the store it writes to has no
//! fencing.
//!
//! Two workers take turns at a lock service for a 30 ms lease, renewing it
//! every 10 ms; the holder writes to a store each round. A worker treats a
//! renewal that gets no answer as a passing glitch and keeps writing with
//! the lease it had. When a partition separates the leader from the lock
//! service, its lease runs out, the lock service grants the other worker a
//! new one, and both write: the buggy store applies the deposed leader's
//! writes after its successor's, breaking "a deposed leader never writes
//! after its successor". The fixed store fences: every lease carries a
//! token that grows with each grant, and the store refuses a write whose
//! token is below the highest it has seen.
//!
//! Whether the partition happens is `bach::rand::gen_bool(0.2)` (a choice
//! for the systematic searches, with `Explorer::enumerate_values`) and
//! when is `bach::rand::choose`. The model checker takes the same choices,
//! and fires timers of different tasks in any order: its shortest
//! counterexample lets the lease run out before the leader's next renewal
//! is even sent.

mod bug_corpus;

use bach::{
    check::{self, Explorer, Ordering, Strategy},
    ext::*,
    net::{self, UdpSocket},
    time::{timeout, Instant},
    Simulation,
};
use bug_corpus::{Corpus, Search, Version};
use std::{cell::RefCell, rc::Rc, time::Duration};

const PORT: u16 = 2379;
const LEASE: Duration = Duration::from_millis(30);
const ROUNDS: u32 = 10;

/// Grants `ACQUIRE <worker>` with `GRANT <token>` if the lease is free,
/// expired or the worker's own (a renewal), else answers `BUSY`.
async fn lock_service() {
    let socket = UdpSocket::bind(("0.0.0.0", PORT)).await.expect("bind");
    let mut holder: Option<(String, Instant)> = None;
    let mut token = 0u64;
    let mut buf = [0u8; 64];
    loop {
        let (len, from) = socket.recv_from(&mut buf).await.expect("receive");
        let request = String::from_utf8_lossy(&buf[..len]).to_string();
        let Some(worker) = request.strip_prefix("ACQUIRE ") else {
            continue;
        };
        let now = Instant::now();
        let answer = match &holder {
            Some((owner, expiry)) if owner != worker && now < *expiry => "BUSY".to_string(),
            current => {
                let renewal =
                    matches!(current, Some((owner, expiry)) if owner == worker && now < *expiry);
                if !renewal {
                    token += 1;
                }
                holder = Some((worker.to_string(), now + LEASE));
                format!("GRANT {token}")
            }
        };
        socket
            .send_to(answer.as_bytes(), from)
            .await
            .expect("answer");
    }
}

/// Applies `WRITE <token> <worker> <round>`; the fixed store refuses tokens
/// below the highest it has seen. `applied` lists the tokens of the writes
/// it applied, for the invariant.
async fn store(fencing: bool, applied: Rc<RefCell<Vec<u64>>>) {
    let socket = UdpSocket::bind(("0.0.0.0", PORT)).await.expect("bind");
    let mut highest = 0;
    let mut buf = [0u8; 64];
    loop {
        let (len, _) = socket.recv_from(&mut buf).await.expect("receive");
        let write = String::from_utf8_lossy(&buf[..len]).to_string();
        let Some(Ok(token)) = write.split(' ').nth(1).map(str::parse::<u64>) else {
            continue;
        };
        if fencing && token < highest {
            continue; // a deposed leader's write
        }
        highest = highest.max(token);
        applied.borrow_mut().push(token);
    }
}

/// Every 10 ms: renews (or asks for) the lease, and writes while it
/// believes it holds one.
async fn worker(name: &'static str) {
    let socket = UdpSocket::bind("0.0.0.0:0").await.expect("bind");
    let mut lease: Option<u64> = None;
    let mut buf = [0u8; 64];
    for round in 0..ROUNDS {
        let request = format!("ACQUIRE {name}");
        socket
            .send_to(request.as_bytes(), ("lock", PORT))
            .await
            .expect("send");
        // No answer is taken for a glitch: the lease is assumed to hold.
        if let Ok(Ok((len, _))) = timeout(5.ms(), socket.recv_from(&mut buf)).await {
            let answer = String::from_utf8_lossy(&buf[..len]).to_string();
            lease = answer
                .strip_prefix("GRANT ")
                .map(|token| token.parse().expect("a token"));
        }
        if let Some(token) = lease {
            let write = format!("WRITE {token} {name} {round}");
            socket
                .send_to(write.as_bytes(), ("store", PORT))
                .await
                .expect("write");
        }
        10.ms().sleep().await;
    }
}

fn leases(fencing: bool) {
    let applied = Rc::new(RefCell::new(Vec::new()));
    let seen = applied.clone();
    check::invariant(
        "a deposed leader never writes after its successor",
        move || seen.borrow().windows(2).all(|pair| pair[0] <= pair[1]),
    );
    async { lock_service().await }.group("lock").spawn();
    async move { store(fencing, applied).await }
        .group("store")
        .spawn();
    async { worker("w1").await }.group("w1").primary().spawn();
    async {
        3.ms().sleep().await;
        worker("w2").await
    }
    .group("w2")
    .primary()
    .spawn();
    async {
        if bach::rand::gen_bool(0.2) {
            (10 + bach::rand::choose(3) as u64 * 10).ms().sleep().await;
            net::partition(&["w1"], &["lock"]);
            50.ms().sleep().await;
            net::heal();
        }
    }
    .spawn_named("fault-script");
}

fn buggy(sim: &mut Simulation) {
    sim.enter(|| leases(false));
}

fn fixed(sim: &mut Simulation) {
    sim.enter(|| leases(true));
}

#[test]
fn split_brain_without_fencing_is_found_and_the_fix_passes() {
    let corpus = Corpus::new("bugs_split_brain", "split brain: a lease without fencing")
        .enumerate_values()
        .model_checking("breadth first, messages first, depth 60", || {
            Explorer::model_checking()
                .strategy(Strategy::Bfs)
                .ordering(Ordering::MessagesFirst)
                .max_depth(60)
        })
        .note(
            &[Search::Random, Search::Pct2, Search::Pct3],
            "Random and PCT derive each execution's sampled values (here the fault) from the \
             same per-execution seeds, so the same execution finds it under both",
        );
    corpus.search(Version::Buggy, buggy).assert_found_by(
        &[
            Search::Sweep,
            Search::Random,
            Search::DelayBounded,
            Search::Bolero,
        ],
        "never writes after its successor",
    );
    corpus.search(Version::Fixed, fixed).assert_none_failed();
}
