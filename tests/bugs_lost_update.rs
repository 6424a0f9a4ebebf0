//! A lost update under a partition: two replicas of a shopping cart that
//! both accept writes and reconcile by last writer wins.
//!
//! Each replica adds items to its copy and acknowledges at once, and every
//! 10 ms sends its copy, stamped with the time of its last write, to the
//! other. The buggy replica reconciles by last writer wins: a newer copy
//! replaces its own. While a partition separates the replicas, each
//! acknowledges an item the other never sees; after the heal the newer
//! copy overwrites the older, and an acknowledged item is gone from both
//! replicas. The fixed replica merges copies (a grow-only set: the union
//! of both), so nothing acknowledged is ever lost.
//!
//! Whether the partition happens is `bach::rand::gen_bool(0.2)` (a choice
//! for the systematic searches, with `Explorer::enumerate_values`) and
//! when is `bach::rand::choose`. The model checker needs no partition: its
//! network may hold a copy in flight until after the other replica's
//! write.

mod bug_corpus;

use bach::{
    check::{self, Explorer},
    ext::*,
    net::{self, UdpSocket},
    time::{timeout, Instant},
    Simulation,
};
use bug_corpus::{Corpus, Search, Version};
use std::{cell::RefCell, collections::BTreeSet, rc::Rc};

const PORT: u16 = 6000;
const GOSSIP_ROUNDS: u32 = 15;

/// One replica's copy of the cart.
#[derive(Default)]
struct Cart {
    items: BTreeSet<String>,
    /// When the copy was last written (nanoseconds of simulated time).
    stamp: u64,
}

impl Cart {
    /// Reconciles with a copy received from the other replica.
    fn reconcile(&mut self, items: BTreeSet<String>, stamp: u64, merge: bool) {
        if merge {
            self.items.extend(items);
            self.stamp = self.stamp.max(stamp);
        } else if stamp > self.stamp {
            // The bug: the newer copy wins, whatever the older one held.
            self.items = items;
            self.stamp = stamp;
        }
    }

    fn encode(&self) -> String {
        let items: Vec<&str> = self.items.iter().map(String::as_str).collect();
        format!("STATE {} {}", self.stamp, items.join(","))
    }
}

fn now_nanos() -> u64 {
    Instant::now().as_nanos()
}

/// A replica: answers `ADD <item>` with `ADDED <item>`, reconciles the
/// copies the other replica sends, and sends its own every 10 ms.
async fn replica(peer: &'static str, cart: Rc<RefCell<Cart>>, merge: bool) {
    let socket = Rc::new(UdpSocket::bind(("0.0.0.0", PORT)).await.expect("bind"));
    let gossip = socket.clone();
    let mine = cart.clone();
    async move {
        for _ in 0..GOSSIP_ROUNDS {
            10.ms().sleep().await;
            let copy = mine.borrow().encode();
            gossip
                .send_to(copy.as_bytes(), (peer, PORT))
                .await
                .expect("gossip");
        }
    }
    .spawn_named("gossip");
    let mut buf = [0u8; 256];
    loop {
        let (len, from) = socket.recv_from(&mut buf).await.expect("receive");
        let message = String::from_utf8_lossy(&buf[..len]).to_string();
        let mut words = message.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("ADD"), Some(item), None) => {
                {
                    let mut cart = cart.borrow_mut();
                    cart.items.insert(item.to_string());
                    cart.stamp = now_nanos();
                }
                let ack = format!("ADDED {item}");
                socket.send_to(ack.as_bytes(), from).await.expect("ack");
            }
            (Some("STATE"), Some(stamp), items) => {
                let items = items.unwrap_or_default().split(',');
                let items = items.filter(|i| !i.is_empty()).map(str::to_string);
                let stamp = stamp.parse().expect("a stamp");
                cart.borrow_mut().reconcile(items.collect(), stamp, merge);
            }
            _ => {}
        }
    }
}

/// Adds `item` at `replica` after `delay`; whether it was acknowledged.
async fn shopper(replica: &'static str, item: &'static str, delay: u64) -> bool {
    delay.ms().sleep().await;
    let socket = UdpSocket::bind("0.0.0.0:0").await.expect("bind");
    let request = format!("ADD {item}");
    socket
        .send_to(request.as_bytes(), (replica, PORT))
        .await
        .expect("send");
    let mut buf = [0u8; 64];
    matches!(
        timeout(20.ms(), socket.recv_from(&mut buf)).await,
        Ok(Ok((len, _))) if buf[..len] == *format!("ADDED {item}").as_bytes()
    )
}

/// Two shoppers add an item each, 35 ms apart, at different replicas; a
/// fault script may separate the replicas for 60 ms first.
fn carts(merge: bool) {
    let replicas = [("cart-a", "cart-b"), ("cart-b", "cart-a")].map(|(name, peer)| {
        let cart = Rc::new(RefCell::new(Cart::default()));
        let copy = cart.clone();
        async move { replica(peer, copy, merge).await }
            .group(name)
            .spawn();
        cart
    });
    let acknowledged = Rc::new(RefCell::new(BTreeSet::<&str>::new()));
    let seen = acknowledged.clone();
    check::invariant("acknowledged items are never lost", move || {
        seen.borrow().iter().all(|item| {
            replicas
                .iter()
                .any(|cart| cart.borrow().items.contains(*item))
        })
    });
    for (shopper_node, replica, item, delay) in [
        ("shopper-1", "cart-a", "apple", 5),
        ("shopper-2", "cart-b", "pear", 40),
    ] {
        let acknowledged = acknowledged.clone();
        async move {
            if shopper(replica, item, delay).await {
                acknowledged.borrow_mut().insert(item);
            }
        }
        .group(shopper_node)
        .primary()
        .spawn();
    }
    async {
        if bach::rand::gen_bool(0.2) {
            (bach::rand::choose(3) as u64 * 5).ms().sleep().await;
            net::partition(&["cart-a"], &["cart-b"]);
            60.ms().sleep().await;
            net::heal();
        }
    }
    .spawn_named("fault-script");
    // Watch until the replicas have exchanged copies after any heal.
    async { 120.ms().sleep().await }
        .primary()
        .spawn_named("observer");
}

fn buggy(sim: &mut Simulation) {
    sim.enter(|| carts(false));
}

fn fixed(sim: &mut Simulation) {
    sim.enter(|| carts(true));
}

#[test]
fn lost_update_under_partition_is_found_and_the_fix_passes() {
    let corpus = Corpus::new(
        "bugs_lost_update",
        "lost update: last writer wins under a partition",
    )
    .enumerate_values()
    .model_checking("depth first, depth 10", || {
        Explorer::model_checking().max_depth(10)
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
        "acknowledged items are never lost",
    );
    corpus.search(Version::Fixed, fixed).assert_none_failed();
}
