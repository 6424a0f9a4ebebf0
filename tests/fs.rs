//! Per-node disks (`bach::fs`): what survives a crash of the node after a
//! write, after `sync_data`, after a rename with and without a directory
//! sync; each fault kind; crash points as choices a search enumerates; and
//! the same bytes on every disk for the same seed.

use bach::{
    check::Explorer,
    ext::*,
    fs::{self, DiskConfig, DiskOptions, File, OpenOptions, UnsyncedWrites},
    node, trace, Simulation,
};
use std::{cell::RefCell, collections::BTreeSet, io, rc::Rc, time::Duration};

/// Runs `check` on node `db` after a restart of `db` (the restart crashes
/// every task of the node: the check is spawned after it).
fn check_after_restart<T: 'static>(
    check: impl std::future::Future<Output = T> + 'static,
    out: Rc<RefCell<Option<T>>>,
) {
    async move {
        1.s().sleep().await;
        node::restart("db");
        async move {
            *out.borrow_mut() = Some(check.await);
        }
        .group("db")
        .primary()
        .spawn();
    }
    .primary()
    .spawn();
}

/// Runs `setup` on node `db` at 0 s, crashes and restarts `db` at 1 s,
/// then returns what `check` read on `db`.
fn after_crash<T: 'static>(
    setup: impl std::future::Future<Output = ()> + 'static,
    check: impl std::future::Future<Output = T> + 'static,
) -> T {
    let seen = Rc::new(RefCell::new(None));
    let out = seen.clone();
    bach::sim(move || {
        setup.group("db").spawn();
        check_after_restart(check, out);
    });
    let value = seen.borrow_mut().take();
    value.expect("the check ran")
}

/// The simulation's trace as console lines.
fn console(sim: &Simulation) -> Vec<String> {
    sim.trace()
        .iter()
        .map(|event| {
            let mut line = Vec::new();
            trace::write_console(&mut line, event).unwrap();
            String::from_utf8(line).unwrap()
        })
        .collect()
}

async fn sync_dir(path: &str) {
    File::open(path).await.unwrap().sync_all().await.unwrap();
}

/// A durable `/log` holding `durable`, then `more` appended without a sync.
async fn durable_then_more(durable: &'static [u8], more: &'static [u8]) {
    let mut log = File::create("/log").await.unwrap();
    log.write_all(durable).await.unwrap();
    log.sync_data().await.unwrap();
    sync_dir("/").await;
    log.write_all(more).await.unwrap();
}

#[test]
fn an_unsynced_write_is_lost_and_a_synced_one_kept() {
    let read = after_crash(durable_then_more(b"one\n", b"two\n"), fs::read("/log"));
    assert_eq!(read.unwrap(), b"one\n");
}

#[test]
fn a_synced_file_whose_directory_was_not_synced_is_gone() {
    let setup = async {
        let mut log = File::create("/log").await.unwrap();
        log.write_all(b"acknowledged").await.unwrap();
        log.sync_data().await.unwrap();
    };
    let read = after_crash(setup, fs::read("/log"));
    let error = read.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    assert!(error.to_string().contains("/log"), "{error}");
}

#[test]
fn a_rename_needs_its_directory_synced() {
    let rename = |sync: bool| {
        let setup = async move {
            fs::write("/old", b"old").await.unwrap();
            fs::write("/new.tmp", b"new").await.unwrap();
            for path in ["/old", "/new.tmp"] {
                File::options()
                    .write(true)
                    .open(path)
                    .await
                    .unwrap()
                    .sync_all()
                    .await
                    .unwrap();
            }
            sync_dir("/").await;
            fs::rename("/new.tmp", "/old").await.unwrap();
            if sync {
                sync_dir("/").await;
            }
        };
        after_crash(setup, async {
            (
                fs::read("/old").await.unwrap(),
                fs::try_exists("/new.tmp").await.unwrap(),
            )
        })
    };
    assert_eq!(rename(false), (b"old".to_vec(), true));
    assert_eq!(rename(true), (b"new".to_vec(), false));
}

#[test]
fn a_removal_without_a_directory_sync_comes_back() {
    let setup = async {
        fs::create_dir_all("/data/logs").await.unwrap();
        fs::write("/data/logs/a", b"a").await.unwrap();
        File::options()
            .write(true)
            .open("/data/logs/a")
            .await
            .unwrap()
            .sync_data()
            .await
            .unwrap();
        for dir in ["/", "/data", "/data/logs"] {
            sync_dir(dir).await;
        }
        fs::remove_file("/data/logs/a").await.unwrap();
    };
    let names = after_crash(setup, async {
        let mut names = Vec::new();
        let mut entries = fs::read_dir("/data/logs").await.unwrap();
        while let Some(entry) = entries.next_entry().await.unwrap() {
            names.push((entry.path().to_string(), entry.metadata().len()));
        }
        names
    });
    assert_eq!(names, [("/data/logs/a".to_string(), 1)]);
}

#[test]
fn a_fault_model_lets_unsynced_writes_survive_as_the_choice_source_decides() {
    // In order, a prefix of the two unsynced appends survives: three
    // outcomes, each reached by some seed.
    let mut seen = BTreeSet::new();
    for seed in 0..64 {
        let read = Rc::new(RefCell::new(None));
        let out = read.clone();
        Simulation::new().seed(seed).run(move || {
            fs::set_disk(
                "db",
                DiskOptions {
                    model: DiskConfig {
                        unsynced_writes: UnsyncedWrites::InOrder,
                        ..DiskConfig::default()
                    },
                    ..DiskOptions::default()
                },
            )
            .unwrap();
            async {
                durable_then_more(b"a", b"b").await;
                let mut log = File::options().append(true).open("/log").await.unwrap();
                log.write_all(b"c").await.unwrap();
                node::crash("db");
            }
            .group("db")
            .spawn();
            check_after_restart(async { fs::read("/log").await.unwrap() }, out);
        });
        seen.insert(read.take().expect("read after the restart"));
    }
    let expected: BTreeSet<Vec<u8>> = [&b"a"[..], b"ab", b"abc"]
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn errors_are_the_ones_the_os_gives_and_name_the_path() {
    bach::sim(|| {
        async {
            let missing = File::open("/nope").await.unwrap_err();
            assert_eq!(missing.kind(), io::ErrorKind::NotFound);
            assert!(missing.to_string().contains("/nope"), "{missing}");
            fs::write("/f", b"x").await.unwrap();
            let exists = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open("/f")
                .await
                .unwrap_err();
            assert_eq!(exists.kind(), io::ErrorKind::AlreadyExists);
            let mut read_only = File::open("/f").await.unwrap();
            let denied = read_only.write(b"y").await.unwrap_err();
            assert_eq!(denied.kind(), io::ErrorKind::PermissionDenied);
            let mut short = [0u8; 4];
            let eof = read_only.read_exact(&mut short).await.unwrap_err();
            assert_eq!(eof.kind(), io::ErrorKind::UnexpectedEof);
            assert!(eof.to_string().contains("/f"), "{eof}");
        }
        .primary()
        .spawn();
    });
}

#[test]
fn injected_errors_latency_and_a_full_disk() {
    bach::sim(|| {
        fs::set_disk(
            "slow",
            DiskOptions {
                latency: Duration::from_millis(2),
                latency_per_byte: Duration::from_micros(1),
                model: DiskConfig {
                    capacity: Some(8192),
                    ..DiskConfig::default()
                },
                ..DiskOptions::default()
            },
        )
        .unwrap();
        fs::set_disk(
            "faulty",
            DiskOptions {
                error_probability: 1.0,
                ..DiskOptions::default()
            },
        )
        .unwrap();
        async {
            let started = bach::time::Instant::now();
            let mut file = File::create("/f").await.unwrap();
            assert_eq!(started.elapsed(), Duration::from_millis(2));
            file.write_all(&[7; 1000]).await.unwrap();
            assert_eq!(started.elapsed(), Duration::from_millis(5));
            // 8 KiB hold two 4 KiB sectors.
            let full = file.write_all(&[7; 8000]).await.unwrap_err();
            assert_eq!(full.kind(), io::ErrorKind::StorageFull);
            assert!(full.to_string().contains("/f"), "{full}");
            assert_eq!(fs::counters("slow").bytes_written, 1000);
            // Looking takes no time; reading a whole file is one read.
            let started = bach::time::Instant::now();
            assert_eq!(fs::metadata("/f").await.unwrap().len(), 1000);
            assert_eq!(started.elapsed(), Duration::ZERO);
            assert_eq!(fs::read("/f").await.unwrap(), [7; 1000]);
            assert_eq!(started.elapsed(), Duration::from_millis(3));
            assert_eq!(fs::counters("slow").bytes_read, 1000);
        }
        .group("slow")
        .primary()
        .spawn();
        async {
            let mut file = File::create("/f").await.unwrap();
            let error = file.write(b"x").await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::Other);
            assert!(error.to_string().contains("injected I/O error"), "{error}");
            assert_eq!(fs::counters("faulty").injected_errors, 1);
        }
        .group("faulty")
        .primary()
        .spawn();
    });
}

#[test]
fn a_stuck_sync_never_returns() {
    bach::sim(|| {
        fs::set_disk(
            "db",
            DiskOptions {
                stuck_sync_probability: 1.0,
                ..DiskOptions::default()
            },
        )
        .unwrap();
        async {
            let file = File::create("/f").await.unwrap();
            let sync = bach::time::timeout(10.s(), file.sync_data()).await;
            assert!(sync.is_err(), "the sync hangs");
            assert_eq!(fs::counters("db").stuck_syncs, 1);
        }
        .group("db")
        .primary()
        .spawn();
    });
}

#[test]
fn bit_rot_changes_what_a_sector_reads_until_it_is_rewritten() {
    bach::sim(|| {
        async {
            fs::write("/block", [0u8; 16]).await.unwrap();
            fs::rot("/block", 0).unwrap();
            assert_eq!(fs::counters("main").sectors_rotted, 1);
            let rotten = fs::read("/block").await.unwrap();
            assert_ne!(rotten, [0u8; 16], "a checksum would catch this");
            fs::write("/block", [0u8; 16]).await.unwrap();
            assert_eq!(fs::read("/block").await.unwrap(), [0u8; 16]);
        }
        .primary()
        .spawn();
    });
}

/// A store that appends three records, syncing each, may crash at any of
/// its crash points: after each write and each sync.
fn three_synced_records(seen: Rc<RefCell<BTreeSet<Vec<u8>>>>) -> impl Fn() {
    move || {
        fs::set_disk(
            "db",
            DiskOptions {
                crash_points: 1,
                ..DiskOptions::default()
            },
        )
        .unwrap();
        async {
            let log = File::create("/log").await.unwrap();
            log.sync_all().await.unwrap();
            sync_dir("/").await;
            let mut log = log;
            for record in [b"1", b"2", b"3"] {
                log.write_all(record).await.unwrap();
                log.sync_data().await.unwrap();
            }
        }
        .group("db")
        .spawn();
        let seen = seen.clone();
        async move {
            1.s().sleep().await;
            node::restart("db");
            async move {
                let log = fs::read("/log").await.unwrap_or_default();
                seen.borrow_mut().insert(log);
            }
            .group("db")
            .primary()
            .spawn();
        }
        .primary()
        .spawn();
    }
}

#[test]
fn a_search_that_enumerates_values_tries_every_crash_point() {
    let seen = Rc::new(RefCell::new(BTreeSet::new()));
    let report = Explorer::new()
        .enumerate_values(true)
        .progress(false)
        .run(three_synced_records(seen.clone()));
    assert!(report.complete(), "{report}");
    // No crash, or a crash after any write or sync: every durable prefix.
    let expected: BTreeSet<Vec<u8>> = [&b""[..], b"1", b"12", b"123"]
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(*seen.borrow(), expected);
    // Without enumeration the crash points are the seed's draws, and the
    // report says so.
    let sampled = Explorer::new()
        .progress(false)
        .run(three_synced_records(Rc::default()));
    assert!(!sampled.complete(), "{sampled}");
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_trace() {
    let run = |seed: u64| {
        let mut sim = Simulation::new().seed(seed).record_trace(true);
        let bytes = Rc::new(RefCell::new(None));
        let out = bytes.clone();
        sim.run(move || {
            fs::set_disk(
                "db",
                DiskOptions {
                    model: DiskConfig {
                        unsynced_writes: UnsyncedWrites::Reordered,
                        torn_writes: true,
                        sector_size: 4,
                        ..DiskConfig::default()
                    },
                    error_probability: 0.2,
                    crash_points: 1,
                    crash_probability: 0.2,
                    ..DiskOptions::default()
                },
            )
            .unwrap();
            async {
                let Ok(mut log) = File::create("/log").await else {
                    return;
                };
                if let Ok(root) = File::open("/").await {
                    let _ = root.sync_all().await;
                }
                for round in 0..8u8 {
                    let _ = log.write_all(&[round; 10]).await;
                    if round % 3 == 0 {
                        let _ = log.sync_data().await;
                    }
                }
                node::crash("db");
            }
            .group("db")
            .spawn();
            check_after_restart(async { fs::read("/log").await.unwrap_or_default() }, out);
        });
        let trace = console(&sim);
        (bytes.take().expect("read after the restart"), trace)
    };
    let mut outcomes = BTreeSet::new();
    let mut writes = 0;
    for seed in 0..20 {
        let first = run(seed);
        assert_eq!(first, run(seed), "seed {seed}");
        writes += first
            .1
            .iter()
            .filter(|line| line.contains("disk write `/log`"))
            .count();
        outcomes.insert(first.0);
    }
    assert!(writes > 20, "the trace shows each write");
    assert!(outcomes.len() > 3, "{outcomes:?}");
}

#[test]
fn a_crash_says_in_the_trace_what_the_disk_lost() {
    let mut sim = Simulation::new().record_trace(true);
    sim.run(|| {
        async {
            fs::write("/wal", b"unsynced").await.unwrap();
            node::crash("db");
        }
        .group("db")
        .primary()
        .spawn();
    });
    let lines = console(&sim);
    assert!(
        lines
            .iter()
            .any(|line| line.contains("disk lost in the crash") && line.contains("/wal")),
        "{lines:#?}"
    );
}

/// A process that keeps a counter on its node's disk: on `INC` it bumps
/// the counter and writes it (synced only if `durable`); on start it
/// reports what the disk holds.
struct DiskCounter {
    durable: bool,
}

impl bach::process::Process for DiskCounter {
    fn on_start(&mut self, ctx: &mut bach::process::Context) {
        let mut disk = ctx.disk();
        let stored = disk.read_to_string("/count");
        let text = match stored {
            Ok(text) => text,
            Err(error) => {
                assert_eq!(error.kind(), io::ErrorKind::NotFound);
                assert!(error.to_string().contains("/count"), "{error}");
                "none".into()
            }
        };
        ctx.send_local(bach::process::Message::new("BOOTED", text));
    }

    fn on_message(&mut self, _: bach::process::Message, _: &str, _: &mut bach::process::Context) {}

    fn on_local_message(&mut self, _: bach::process::Message, ctx: &mut bach::process::Context) {
        let mut disk = ctx.disk();
        let count: u32 = disk
            .read_to_string("/count")
            .map_or(0, |text| text.parse().unwrap());
        disk.write("/count", (count + 1).to_string().as_bytes())
            .unwrap();
        if self.durable {
            disk.sync_data("/count").unwrap();
            disk.sync_dir("/").unwrap();
        }
        assert!(disk.exists("/count"));
    }
}

#[test]
fn process_handlers_use_their_nodes_disk_with_the_same_durability() {
    for durable in [false, true] {
        let mut sim = Simulation::new();
        sim.add_process_factory("counter", "box", move || DiskCounter { durable });
        sim.send_local("counter", bach::process::Message::new("INC", ""));
        sim.send_local("counter", bach::process::Message::new("INC", ""));
        sim.run(|| {});
        let data = |messages: Vec<bach::process::Message>| -> Vec<String> {
            messages.iter().map(|msg| msg.data().to_string()).collect()
        };
        assert_eq!(data(sim.read_local_messages("counter")), ["none"]);
        sim.crash_node("box");
        sim.recover_node("box");
        sim.run(|| {});
        let expected = if durable { "2" } else { "none" };
        let booted = data(sim.read_local_messages("counter"));
        assert_eq!(booted, [expected], "durable: {durable}");
    }
}

#[test]
fn the_model_checker_crashes_the_node_at_every_crash_point_within_its_budget() {
    let seen = Rc::new(RefCell::new(BTreeSet::new()));
    let report = Explorer::model_checking()
        .max_crashes(1)
        .progress(false)
        .try_run(three_synced_records(seen.clone()));
    let report = match report {
        Ok(report) => report,
        Err(failure) => panic!("{failure}"),
    };
    assert!(report.complete(), "{report}");
    let expected: BTreeSet<Vec<u8>> = [&b""[..], b"1", b"12", b"123"]
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(*seen.borrow(), expected, "{report}");
}

#[test]
fn scripted_failures_and_sync_latency() {
    bach::sim(|| {
        fs::set_disk(
            "db",
            DiskOptions {
                sync_latency: Duration::from_millis(3),
                ..DiskOptions::default()
            },
        )
        .unwrap();
        fs::fail_next("db", fs::Faulty::Write, 2);
        fs::fail_next("db", fs::Faulty::Sync, 1);
        async {
            let mut file = File::create("/f").await.unwrap();
            for _ in 0..2 {
                let error = file.write(b"x").await.unwrap_err();
                assert!(
                    error.to_string().contains("injected I/O error: write `/f`"),
                    "{error}"
                );
            }
            assert_eq!(file.write(b"x").await.unwrap(), 1);
            assert!(file.sync_data().await.is_err());
            let started = bach::time::Instant::now();
            file.sync_data().await.unwrap();
            assert_eq!(started.elapsed(), Duration::from_millis(3));
            assert_eq!(fs::counters("db").injected_errors, 3);
        }
        .group("db")
        .primary()
        .spawn();
    });
}
