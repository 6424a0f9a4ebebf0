//! A replicated key-value store checked for linearizability: a stale read
//! under a partition, found by a seed sweep and by the explorer, with the
//! witness printed; then the fixed store passing the same searches.
//!
//! Two replicas over the simulated network: writes go to the primary,
//! which replicates them to the backup; reads go to the backup. The buggy
//! primary acknowledges a write as soon as it applied it and sent it on,
//! so when a partition between the replicas drops the replication, a
//! client that wrote `x = 1` and then reads `x` from the backup gets the
//! old value. The fixed primary resends the replication until the backup
//! acknowledges it (versioned, so a late copy never undoes a newer write)
//! and only then acknowledges the client.
//!
//! Every client call and return goes into a `check::History`, and
//! `check::linearizable` makes every run of every search end with the
//! check: a history no sequential order explains fails that run, printing
//! the witness (what could be linearized, and the read that cannot come
//! next) and how to rerun it.
//!
//! Run with `cargo run --release --example linearizable_kv`.

use bach::{
    check::{
        self,
        linearizability::models::{KeyValue, KvInput, KvOutput},
        Explorer, History, Sweep,
    },
    ext::*,
    net::{self, UdpSocket},
    time::timeout,
};
use std::collections::BTreeMap;

const PORT: u16 = 7000;
const CLIENTS: u64 = 2;

type Kv = History<KvInput<String, u64>, KvOutput<u64>>;

/// The primary: applies `PUT key value`, replicates it to the backup as
/// `REPL version key value`, acknowledges the client.
async fn primary(synchronous: bool) {
    let socket = UdpSocket::bind(("0.0.0.0", PORT)).await.expect("bind");
    let mut data = BTreeMap::new();
    let mut version = 0u64;
    let mut buf = [0u8; 256];
    loop {
        let (len, client) = socket.recv_from(&mut buf).await.expect("receive");
        let request = String::from_utf8_lossy(&buf[..len]).to_string();
        let mut words = request.split(' ');
        let (Some("PUT"), Some(key), Some(value)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        data.insert(key.to_string(), value.to_string());
        version += 1;
        let replicate = format!("REPL {version} {key} {value}");
        loop {
            socket
                .send_to(replicate.as_bytes(), ("backup", PORT))
                .await
                .expect("replicate");
            if !synchronous {
                break;
            }
            // Wait for the backup's acknowledgement, resending on silence.
            match timeout(5.ms(), socket.recv_from(&mut buf)).await {
                Ok(Ok((len, _))) if buf[..len] == *format!("OK {version}").as_bytes() => break,
                _ => continue,
            }
        }
        socket.send_to(b"ACK", client).await.expect("acknowledge");
    }
}

/// The backup: applies replications newer than what it has, answers
/// `GET key` with `VALUE value` (or `VALUE -`).
async fn backup() {
    let socket = UdpSocket::bind(("0.0.0.0", PORT)).await.expect("bind");
    let mut data: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut buf = [0u8; 256];
    loop {
        let (len, from) = socket.recv_from(&mut buf).await.expect("receive");
        let message = String::from_utf8_lossy(&buf[..len]).to_string();
        let words: Vec<&str> = message.split(' ').collect();
        let reply = match words.as_slice() {
            ["REPL", version, key, value] => {
                let version: u64 = version.parse().expect("a version");
                let entry = data.entry(key.to_string()).or_insert((0, String::new()));
                if version > entry.0 {
                    *entry = (version, value.to_string());
                }
                format!("OK {version}")
            }
            ["GET", key] => match data.get(*key) {
                Some((_, value)) => format!("VALUE {value}"),
                None => "VALUE -".to_string(),
            },
            _ => continue,
        };
        socket.send_to(reply.as_bytes(), from).await.expect("reply");
    }
}

/// A client: writes its number under `x` at the primary, then reads `x`
/// from the backup, recording both in `history` (a call that times out
/// stays unreturned: it may or may not have taken effect).
async fn client(id: u64, history: Kv) {
    let socket = UdpSocket::bind("0.0.0.0:0").await.expect("bind");
    let mut buf = [0u8; 256];
    bach::rand::gen_range(0..3u64).ms().sleep().await;
    let value = id + 1;
    let write = history.guard(id, KvInput::Put("x".into(), value));
    socket
        .send_to(format!("PUT x {value}").as_bytes(), ("primary", PORT))
        .await
        .expect("send");
    match timeout(100.ms(), socket.recv_from(&mut buf)).await {
        Ok(Ok((len, _))) if &buf[..len] == b"ACK" => write.ret(KvOutput::Put),
        // No acknowledgement: the write may or may not have happened.
        _ => return drop(write),
    }
    let read = history.guard(id, KvInput::Get("x".into()));
    socket
        .send_to(b"GET x", ("backup", PORT))
        .await
        .expect("send");
    if let Ok(Ok((len, _))) = timeout(100.ms(), socket.recv_from(&mut buf)).await {
        let reply = String::from_utf8_lossy(&buf[..len]).to_string();
        let seen = reply.strip_prefix("VALUE ").and_then(|v| v.parse().ok());
        read.ret(KvOutput::Get(seen));
    }
}

/// The store and its clients; a fault script may cut the replicas apart
/// for a while (`bach::rand::gen_bool`, a choice for the explorer).
fn scenario(synchronous: bool) {
    let history = Kv::new();
    check::linearizable(&history, KeyValue::new());
    net::set_default_link(net::default_link().latency(1.ms()).jitter(1.ms())).expect("a link");
    async move { primary(synchronous).await }
        .group("primary")
        .spawn();
    async { backup().await }.group("backup").spawn();
    for id in 0..CLIENTS {
        client(id, history.clone())
            .group(format!("client{id}"))
            .primary()
            .spawn();
    }
    async {
        if bach::rand::gen_bool(0.5) {
            bach::rand::gen_range(0..3u64).ms().sleep().await;
            net::partition(&["primary"], &["backup"]);
            bach::rand::gen_range(5..30u64).ms().sleep().await;
            net::heal();
        }
    }
    .spawn();
}

fn main() {
    println!("The store that acknowledges before its backup has the write:\n");
    let sweep = Sweep::new(0..1_000)
        .stop_at_first_failure(true)
        .progress(false)
        .run(|| scenario(false));
    assert!(!sweep.is_ok(), "a partition makes some seed read stale");
    println!("seed sweep: {sweep}\n");

    let explorer = Explorer::new()
        .enumerate_values(true)
        .max_executions(1_000)
        .progress(false);
    let found = explorer
        .try_run(|| scenario(false))
        .expect_err("the explorer takes the partition branch");
    println!(
        "explorer: found after {} execution{}: {}\n",
        found.execution(),
        if found.execution() == 1 { "" } else { "s" },
        found.message()
    );

    println!("The store that waits for its backup:\n");
    let sweep = Sweep::new(0..1_000).progress(false).run(|| scenario(true));
    sweep.assert_ok();
    println!("seed sweep: {sweep}");
    let report = explorer
        .try_run(|| scenario(true))
        .unwrap_or_else(|failure| panic!("the fixed store failed: {failure}"));
    println!("explorer (same budget): {report}");
}
