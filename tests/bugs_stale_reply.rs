//! A stale reply: a client that retries a request and later takes the
//! answer to that retry for the answer to its next request.
//!
//! A configuration client reads keys one after another from a config
//! server over UDP (`GET <n> <key>`, answered by `VALUE <n> <value>`),
//! resending a read that gets no answer within 10 ms. The server now and
//! then pauses for 15 ms (a collection pause: one request in ten). The
//! answer to a read comes late, the retry is answered too, and the buggy
//! client, which sends every request under the same number and takes any
//! answer, reads the retry's answer as the value of the next key. The
//! fixed client numbers its requests and drops answers to anything but its
//! current one.
//!
//! The pause is `bach::rand::gen_bool(0.1)`, a choice for the systematic
//! searches (`Explorer::enumerate_values`); the model checker finds the
//! same bug without it, since its timers may fire before any delivery.

mod bug_corpus;

use bach::{check::Explorer, ext::*, net::UdpSocket, time::timeout, Simulation};
use bug_corpus::{Corpus, Search, Version};

const PORT: u16 = 5300;
const KEYS: [&str; 4] = ["region", "replicas", "timeout", "owner"];

/// The value the server holds for `key`.
fn value_of(key: &str) -> String {
    format!("{key}-value")
}

/// Answers `GET <n> <key>` with `VALUE <n> <value>`; one request in ten
/// waits for a pause first.
async fn config_server() {
    let socket = UdpSocket::bind(("0.0.0.0", PORT)).await.expect("bind");
    let mut buf = [0u8; 128];
    loop {
        let (len, client) = socket.recv_from(&mut buf).await.expect("receive");
        let request = String::from_utf8_lossy(&buf[..len]).to_string();
        let ["GET", number, key] = request.split(' ').collect::<Vec<_>>()[..] else {
            continue;
        };
        if bach::rand::gen_bool(0.1) {
            15.ms().sleep().await;
        }
        let answer = format!("VALUE {number} {}", value_of(key));
        socket
            .send_to(answer.as_bytes(), client)
            .await
            .expect("answer");
    }
}

/// Reads `key`, up to three attempts of 10 ms each. The buggy client sends
/// request number 0 every time and takes any answer; the fixed one numbers
/// its requests and takes only the answer to the current one.
async fn read(socket: &UdpSocket, key: &str, number: u64, match_answers: bool) -> Option<String> {
    let number = if match_answers { number } else { 0 };
    let request = format!("GET {number} {key}");
    let mut buf = [0u8; 128];
    for _ in 0..3 {
        socket
            .send_to(request.as_bytes(), ("config", PORT))
            .await
            .expect("send");
        while let Ok(received) = timeout(10.ms(), socket.recv_from(&mut buf)).await {
            let (len, _) = received.expect("receive");
            let answer = String::from_utf8_lossy(&buf[..len]).to_string();
            let ["VALUE", answered, value] = answer.split(' ').collect::<Vec<_>>()[..] else {
                continue;
            };
            if match_answers && answered != number.to_string() {
                continue; // the answer to an earlier request's retry
            }
            return Some(value.to_string());
        }
    }
    None
}

/// The config server, and one client reading every key in turn.
fn reads(match_answers: bool) {
    async { config_server().await }.group("config").spawn();
    async move {
        let socket = UdpSocket::bind("0.0.0.0:0").await.expect("bind");
        for (number, key) in (1..).zip(KEYS) {
            if let Some(value) = read(&socket, key, number, match_answers).await {
                assert_eq!(
                    value,
                    value_of(key),
                    "the read of `{key}` got a stale reply"
                );
            }
        }
    }
    .group("client")
    .primary()
    .spawn();
}

fn buggy(sim: &mut Simulation) {
    sim.enter(|| reads(false));
}

fn fixed(sim: &mut Simulation) {
    sim.enter(|| reads(true));
}

#[test]
fn stale_reply_is_found_and_the_fix_passes() {
    let corpus = Corpus::new("bugs_stale_reply", "stale reply accepted after a retry")
        .enumerate_values()
        .model_checking("depth first, depth 16", || {
            Explorer::model_checking().max_depth(16)
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
            Search::Dfs,
            Search::DelayBounded,
            Search::Bfs,
            Search::ModelChecking,
            Search::Bolero,
        ],
        "stale reply",
    );
    corpus.search(Version::Fixed, fixed).assert_none_failed();
}
