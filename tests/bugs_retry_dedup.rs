//! Missing de-duplication of retried requests over a lossy network.
//!
//! A wallet service debits payments: a shop sends `PAY <id> <amount>` over
//! UDP and waits for `OK <id> <balance>`, sending the request again when no
//! answer comes within 10 ms. Links lose packets. When the request arrives but
//! the answer is lost, the retry reaches the wallet a second time, and the
//! buggy wallet debits the payment again: the invariant "every payment is
//! debited at most once" breaks. The fixed wallet remembers the ids it
//! applied and answers a repeated request without debiting.
//!
//! Link loss is a sampled value outside model checking: the seed sweep,
//! the random searches and bolero vary it from execution to execution,
//! the systematic explorer searches keep the seed's draws (they never
//! choose a loss), and the model checker makes every loss a choice within
//! its drop budget.

mod bug_corpus;

use bach::{
    check::{self, Explorer},
    ext::*,
    net::{self, UdpSocket},
    time::timeout,
    Simulation,
};
use bug_corpus::{Corpus, Search, Version};
use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    rc::Rc,
};

const PORT: u16 = 4000;
const ATTEMPTS: u32 = 4;

/// How often each payment was debited, for the invariant.
type Debits = Rc<RefCell<BTreeMap<u64, u32>>>;

/// Debits `PAY <id> <amount>` and answers `OK <id> <balance>`; the fixed
/// wallet debits each id once.
async fn wallet(deduplicate: bool, debits: Debits) {
    let socket = UdpSocket::bind(("0.0.0.0", PORT)).await.expect("bind");
    let mut applied = BTreeSet::new();
    let mut balance = 1_000_000u64;
    let mut buf = [0u8; 64];
    loop {
        let (len, shop) = socket.recv_from(&mut buf).await.expect("receive");
        let request = String::from_utf8_lossy(&buf[..len]).to_string();
        let mut words = request.split(' ').skip(1).map(|w| w.parse::<u64>());
        let (Some(Ok(id)), Some(Ok(amount))) = (words.next(), words.next()) else {
            continue;
        };
        // The fix: a payment already applied is only acknowledged again.
        if !deduplicate || applied.insert(id) {
            balance -= amount;
            *debits.borrow_mut().entry(id).or_default() += 1;
        }
        let answer = format!("OK {id} {balance}");
        socket
            .send_to(answer.as_bytes(), shop)
            .await
            .expect("answer");
    }
}

/// Pays `amount` under `id`, retrying on silence; whether it was
/// acknowledged.
async fn pay(socket: &UdpSocket, id: u64, amount: u64) -> bool {
    let request = format!("PAY {id} {amount}");
    let expected = format!("OK {id} ");
    let mut buf = [0u8; 64];
    for _ in 0..ATTEMPTS {
        socket
            .send_to(request.as_bytes(), ("wallet", PORT))
            .await
            .expect("send");
        // Answers to earlier payments' retries may still arrive: skip them.
        while let Ok(received) = timeout(10.ms(), socket.recv_from(&mut buf)).await {
            let (len, _) = received.expect("receive");
            if buf[..len].starts_with(expected.as_bytes()) {
                return true;
            }
        }
    }
    false
}

/// Two shops make two payments each over links that lose 1% of packets.
fn payments(deduplicate: bool) {
    net::set_default_link(net::default_link().loss_probability(0.01)).expect("a link");
    let debits = Debits::default();
    let seen = debits.clone();
    check::invariant("every payment is debited at most once", move || {
        seen.borrow().values().all(|&times| times <= 1)
    });
    async move { wallet(deduplicate, debits).await }
        .group("wallet")
        .spawn();
    for shop in 0..2u64 {
        async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await.expect("bind");
            for payment in 0..2 {
                pay(&socket, shop * 10 + payment, 5).await;
            }
        }
        .group(format!("shop-{shop}"))
        .primary()
        .spawn();
    }
}

fn buggy(sim: &mut Simulation) {
    sim.enter(|| payments(false));
}

fn fixed(sim: &mut Simulation) {
    sim.enter(|| payments(true));
}

#[test]
fn retried_payment_debited_twice_is_found_and_the_fix_passes() {
    let corpus = Corpus::new(
        "bugs_retry_dedup",
        "retried request applied twice (lossy UDP)",
    )
    .model_checking("depth first, 1 drop, depth 12", || {
        Explorer::model_checking().max_drops(1).max_depth(12)
    })
    .note(
        &[Search::Random, Search::Pct2, Search::Pct3],
        "Random and PCT derive each execution's sampled values (here the fault) from the \
         same per-execution seeds, so the same execution finds it under both",
    )
    .note(
        &[
            Search::Dfs,
            Search::DelayBounded,
            Search::PreemptionBounded,
            Search::Bfs,
        ],
        "Link loss is a sampled value outside model checking: the systematic explorer \
         searches keep the seed's loss decisions and never choose a loss (their reports \
         say they are not complete, counting the values left to the seed); model checking \
         makes each loss a choice",
    );
    corpus.search(Version::Buggy, buggy).assert_found_by(
        &[
            Search::Sweep,
            Search::Random,
            Search::Pct2,
            Search::ModelChecking,
            Search::Bolero,
        ],
        "debited at most once",
    );
    corpus.search(Version::Fixed, fixed).assert_none_failed();
}
