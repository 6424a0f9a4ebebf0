//! A key-value store with a write-ahead log, two classic durability bugs,
//! and the searches that find them.
//!
//! The store runs on node `db` (its disk is `db`'s) as restartable
//! software ([`node::host`]): on boot it replays `/wal.log`, then serves
//! `PUT`, `GET` and `SHUTDOWN` over UDP. Each put appends a line `put k v`
//! to the log; when the log holds [`COMPACT_AT`] entries the store
//! compacts it: the live entries go to `/wal.log.tmp`, which is synced and
//! renamed over `/wal.log`, and appends continue in the new log. A client
//! on node `client` writes [`PUTS`] values to [`KEYS`] keys, shuts the
//! store down cleanly (a clean shutdown syncs the log and the directory),
//! cuts the power of `db`, restarts it, and checks that **every
//! acknowledged write is readable after recovery**.
//!
//! Ordinary runs never lose anything. The disk's crash points
//! (`DiskOptions { crash_points: 1, .. }`) let the node crash right after
//! any write, sync, creation or rename, and two variants of the store
//! then lose acknowledged writes:
//!
//! 1. **Acknowledge before persist**: it acknowledges a put as soon as the
//!    entry is in the page cache and syncs the log every [`SYNC_EVERY`]
//!    puts. A crash right after a later write loses the acknowledged puts
//!    since the last sync.
//! 2. **Rename without a directory sync**: it syncs each put before
//!    acknowledging, and compaction syncs the new log, but it never syncs
//!    `/` after the rename. The rename is not durable: after a crash
//!    `/wal.log` names the old log again, and every put acknowledged into
//!    the new log is gone. This is the disk's default (strict) model:
//!    creating, renaming and removing a name is durable only once its
//!    directory is synced, as on Linux file systems; no fault option is
//!    needed.
//!
//! The fixed store syncs before acknowledging and syncs `/` after the
//! rename. Each store goes through the same two searches with the same
//! budgets: a seed sweep (each crash point taken with probability 0.05,
//! drawn from the seed) and the explorer with values enumerated (both
//! outcomes of every crash point: it crashes the node, or not).
//!
//! ```text
//! cargo run --release --example wal_kv
//! ```
//!
//! For each failure it prints the lost write and how to get it back: the
//! failing seed (rerun here with the same seed, failing the same way) or
//! the explorer's replay token (replayed here with `check::replay`;
//! `BACH_REPLAY=<token>` reruns it under `Explorer::run` of the same
//! body). `tests/fs_wal_kv.rs` asserts what this prints.

use bach::{
    check::{self, Explorer, Failure, Report, Sweep, SweepReport},
    ext::*,
    fs::{self, DiskOptions, File},
    net::UdpSocket,
    node,
    time::timeout,
    Simulation,
};
use std::{collections::BTreeMap, fmt::Write as _, net::SocketAddr, time::Duration};

/// The store's UDP port on `db`.
const PORT: u16 = 7000;
/// The write-ahead log.
const LOG: &str = "/wal.log";
/// Where compaction writes the new log before renaming it over [`LOG`].
const COMPACTED: &str = "/wal.log.tmp";
/// Puts the client makes, round robin over [`KEYS`] keys.
const PUTS: u32 = 10;
const KEYS: u32 = 3;
/// The naive store syncs the log after this many acknowledged puts.
const SYNC_EVERY: u32 = 4;
/// The store compacts its log when it holds this many entries.
const COMPACT_AT: usize = 6;
/// How long the client waits for a reply before it takes the store for
/// down.
const REPLY_TIMEOUT: Duration = Duration::from_millis(5);
/// Seeds each sweep runs, and executions each exploration may run.
pub const SEEDS: u64 = 300;
pub const EXECUTIONS: u64 = 300;

/// How a store handles durability.
#[derive(Clone, Copy, Debug)]
pub struct Durability {
    /// Acknowledge a put once the entry is written (in the page cache)
    /// and sync every [`SYNC_EVERY`] puts; otherwise sync, then
    /// acknowledge.
    pub ack_before_sync: bool,
    /// Sync `/` after compaction renamed the new log over the old one.
    pub sync_dir_after_rename: bool,
}

/// Bug 1: acknowledges before the entry is durable.
pub const ACK_BEFORE_SYNC: Durability = Durability {
    ack_before_sync: true,
    sync_dir_after_rename: true,
};
/// Bug 2: renames the compacted log without syncing the directory.
pub const RENAME_WITHOUT_DIR_SYNC: Durability = Durability {
    ack_before_sync: false,
    sync_dir_after_rename: false,
};
/// Both done right.
pub const FIXED: Durability = Durability {
    ack_before_sync: false,
    sync_dir_after_rename: true,
};

/// Makes the entries of directory `dir` durable.
async fn sync_dir(dir: &str) {
    let dir = File::open(dir).await.expect("open the directory");
    dir.sync_all().await.expect("sync the directory");
}

/// The log's contents as a map: complete `put k v` lines, in order (a
/// torn last line, without its newline, is ignored).
fn replay(log: &str) -> (BTreeMap<String, String>, usize) {
    let mut data = BTreeMap::new();
    let mut entries = 0;
    for line in log.split_inclusive('\n') {
        let words: Vec<&str> = line.trim_end_matches('\n').split(' ').collect();
        if let (true, ["put", key, value]) = (line.ends_with('\n'), words.as_slice()) {
            data.insert(key.to_string(), value.to_string());
            entries += 1;
        }
    }
    (data, entries)
}

/// Recovery on boot: replays the log into the map and opens it for
/// appending (reads only: nothing to crash on), or creates an empty one
/// durably on the first boot.
async fn recover() -> (BTreeMap<String, String>, usize, File) {
    if fs::try_exists(LOG).await.expect("look for the log") {
        let text = fs::read_to_string(LOG).await.expect("read the log");
        let (data, entries) = replay(&text);
        let log = File::options()
            .append(true)
            .open(LOG)
            .await
            .expect("open the log");
        (data, entries, log)
    } else {
        let log = File::create(LOG).await.expect("create the log");
        log.sync_all().await.expect("sync the log");
        sync_dir("/").await;
        (BTreeMap::new(), 0, log)
    }
}

/// Writes the live entries to a new log, syncs it and renames it over the
/// old one; returns the new log, open for appending.
async fn compact(data: &BTreeMap<String, String>, durability: Durability) -> File {
    let mut lines = String::new();
    for (key, value) in data {
        writeln!(lines, "put {key} {value}").expect("format an entry");
    }
    let mut log = File::create(COMPACTED).await.expect("create the new log");
    log.write_all(lines.as_bytes())
        .await
        .expect("write the new log");
    log.sync_data().await.expect("sync the new log");
    fs::rename(COMPACTED, LOG)
        .await
        .expect("rename the new log");
    if durability.sync_dir_after_rename {
        sync_dir("/").await;
    }
    log
}

/// Sends one reply.
async fn send(socket: &UdpSocket, to: SocketAddr, text: String) {
    socket
        .send_to(text.as_bytes(), to)
        .await
        .expect("send a reply");
}

/// The store: recovers, then serves `PUT id k v` → `OK id`, `GET id k` →
/// `VAL id v` (or `NONE id`), `SHUTDOWN id` → `BYE id` (after syncing the
/// log and `/`, then it stops).
async fn store(durability: Durability) {
    let (mut data, mut entries, mut log) = recover().await;
    let socket = UdpSocket::bind(("0.0.0.0", PORT))
        .await
        .expect("bind the store's port");
    let mut unsynced = 0;
    let mut buf = [0u8; 256];
    loop {
        let (len, from) = socket.recv_from(&mut buf).await.expect("receive");
        let request = String::from_utf8_lossy(&buf[..len]).into_owned();
        let words: Vec<&str> = request.split(' ').collect();
        let reply = |text: String| send(&socket, from, text);
        match words.as_slice() {
            ["PUT", id, key, value] => {
                let entry = format!("put {key} {value}\n");
                log.write_all(entry.as_bytes()).await.expect("append");
                data.insert(key.to_string(), value.to_string());
                entries += 1;
                if durability.ack_before_sync {
                    reply(format!("OK {id}")).await;
                    unsynced += 1;
                    if unsynced == SYNC_EVERY {
                        log.sync_data().await.expect("sync the log");
                        unsynced = 0;
                    }
                } else {
                    log.sync_data().await.expect("sync the log");
                    reply(format!("OK {id}")).await;
                }
                if entries >= COMPACT_AT {
                    log = compact(&data, durability).await;
                    entries = data.len();
                    unsynced = 0;
                }
            }
            ["GET", id, key] => {
                let answer = match data.get(*key) {
                    Some(value) => format!("VAL {id} {value}"),
                    None => format!("NONE {id}"),
                };
                reply(answer).await;
            }
            ["SHUTDOWN", id] => {
                log.sync_data().await.expect("sync the log");
                sync_dir("/").await;
                reply(format!("BYE {id}")).await;
                return;
            }
            _ => {}
        }
    }
}

/// The client's side of the protocol: numbered requests, one at a time.
struct Client {
    socket: UdpSocket,
    next_id: u64,
}

impl Client {
    /// Sends `request` (its verb, then an id, then the rest) and returns
    /// the reply's words (`VAL 7 v3`: the kind, the id, the rest), or
    /// `None` when no reply came within [`REPLY_TIMEOUT`].
    async fn call(&mut self, request: &str) -> Option<Vec<String>> {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let (verb, rest) = request.split_once(' ').unwrap_or((request, ""));
        let message = format!("{verb} {id} {rest}");
        self.socket
            .send_to(message.trim_end().as_bytes(), ("db", PORT))
            .await
            .expect("send a request");
        let mut buf = [0u8; 256];
        loop {
            let (len, _) = timeout(REPLY_TIMEOUT, self.socket.recv_from(&mut buf))
                .await
                .ok()?
                .expect("receive");
            let reply = String::from_utf8_lossy(&buf[..len]).into_owned();
            let words: Vec<String> = reply.split(' ').map(str::to_string).collect();
            if words.get(1) == Some(&id) {
                return Some(words);
            }
        }
    }
}

/// The workload and the check: puts until done or until the store stops
/// answering, a clean shutdown if it is up, a power cut and a restart of
/// `db`, then every acknowledged write must read back.
async fn client() {
    let socket = UdpSocket::bind("0.0.0.0:0").await.expect("bind the client");
    let mut client = Client { socket, next_id: 0 };
    let mut acknowledged = BTreeMap::new();
    // A put that got no answer: it may or may not have happened.
    let mut in_doubt = None;
    for put in 0..PUTS {
        let (key, value) = (format!("k{}", put % KEYS), format!("v{put}"));
        match client.call(&format!("PUT {key} {value}")).await {
            Some(_) => {
                acknowledged.insert(key, value);
            }
            None => {
                in_doubt = Some((key, value));
                break;
            }
        }
    }
    if in_doubt.is_none() {
        client.call("SHUTDOWN").await;
    }
    // Power off and on (the node may have crashed already): the store
    // boots again and replays its log.
    node::restart("db");
    for (key, value) in &acknowledged {
        let reply = client
            .call(&format!("GET {key}"))
            .await
            .expect("the recovered store answers");
        let read = reply.get(2).cloned().unwrap_or_else(|| "nothing".into());
        let allowed = read == *value || in_doubt.as_ref() == Some(&(key.clone(), read.clone()));
        assert!(
            allowed,
            "acknowledged write {key}={value} lost: after recovery {key} reads {read}"
        );
    }
}

/// One run: the store on `db`, whose disk may crash the node at
/// `crash_points` crash points, and the client on `client`.
pub fn scenario(durability: Durability, crash_points: u32) -> impl Fn() + Send + Sync {
    move || {
        fs::set_disk(
            "db",
            DiskOptions {
                crash_points,
                ..DiskOptions::default()
            },
        )
        .expect("configure db's disk");
        node::host("db", move || store(durability));
        client().group("client").primary().spawn_named("client");
    }
}

/// The seed sweep over [`SEEDS`] seeds, one crash point per run, stopped
/// at the first failure.
pub fn sweep(durability: Durability) -> SweepReport {
    Sweep::new(0..SEEDS)
        .progress(false)
        .run(scenario(durability, 1))
}

/// The explorer, values enumerated (both outcomes of every crash point),
/// within [`EXECUTIONS`] executions.
pub fn explore(durability: Durability) -> Result<Report, Failure> {
    Explorer::new()
        .enumerate_values(true)
        .max_executions(EXECUTIONS)
        .progress(false)
        .try_run(scenario(durability, 1))
}

/// What the client's assertion said, without bach's prefix (the task,
/// node, time and how to rerun): `acknowledged write k1=v4 lost: …`.
pub fn lost_write(message: &str) -> &str {
    let line = message.lines().next().unwrap_or_default();
    line.split_once("): ").map_or(line, |(_, said)| said)
}

/// What rerunning `run` panicked with, as [`lost_write`] reads it, or
/// `None` if it passed.
pub fn rerun(run: impl FnOnce()) -> Option<String> {
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).err()?;
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|said| said.to_string()))
        .unwrap_or_default();
    Some(lost_write(&message).to_string())
}

fn main() {
    // The searches catch the failing runs' panics; their reports say what
    // failed.
    std::panic::set_hook(Box::new(|_| {}));
    let stores = [
        (
            "bug 1: acknowledges a put before it is durable (syncs every 4 puts)",
            ACK_BEFORE_SYNC,
        ),
        (
            "bug 2: renames the compacted log without syncing `/` (default disk model: \
             a rename is durable once its directory is synced)",
            RENAME_WITHOUT_DIR_SYNC,
        ),
        (
            "fixed: syncs before acknowledging, syncs `/` after the rename",
            FIXED,
        ),
    ];
    for (name, durability) in stores {
        println!("== {name} ==");
        let body = scenario(durability, 1);
        let sweep = sweep(durability);
        match sweep.first_failure() {
            Some(failure) => {
                let lost = lost_write(&failure.message);
                println!(
                    "seed sweep: seed {} fails, after {} runs: {lost}",
                    failure.seed,
                    sweep.runs()
                );
                let again = rerun(|| Simulation::new().seed(failure.seed).run(&body));
                assert_eq!(again.as_deref(), Some(lost), "a seed reruns the same");
                println!("            the same seed again: the same failure");
            }
            None => println!(
                "seed sweep: all {} seeds pass ({:.0} runs/s)",
                sweep.runs(),
                sweep.runs_per_second()
            ),
        }
        match explore(durability) {
            Err(failure) => {
                let lost = lost_write(failure.message());
                println!(
                    "explorer:   execution {} fails: {lost}",
                    failure.execution()
                );
                let again = rerun(|| check::replay(failure.token(), &body));
                assert_eq!(again.as_deref(), Some(lost), "a token replays the same");
                println!(
                    "            BACH_REPLAY={} (replayed: the same failure)",
                    failure.token()
                );
            }
            Ok(report) => {
                assert!(report.complete(), "{report}");
                println!(
                    "explorer:   {} executions, every crash point tried: no acknowledged write \
                     lost ({:.0}/s)",
                    report.executions(),
                    report.executions_per_second()
                );
            }
        }
        println!();
    }
}
