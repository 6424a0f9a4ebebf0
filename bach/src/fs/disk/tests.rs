//! What a storage engineer checks of a disk model: what survives a crash
//! under each fault model (every outcome the decision source can reach, and
//! nothing else), the errors Linux gives, bit rot, capacity, fingerprints,
//! determinism and the cost of the write-and-sync loop.

use super::*;
use std::{
    collections::{BTreeMap, BTreeSet},
    hash::{DefaultHasher, Hash, Hasher},
    io::SeekFrom,
};

// ---- helpers -----------------------------------------------------------

/// The decision source of the strict model: asking is a bug.
fn no_choice(options: usize) -> usize {
    panic!("the strict model asked for a choice among {options}")
}

fn config(edit: impl FnOnce(&mut DiskConfig)) -> DiskConfig {
    let mut config = DiskConfig::default();
    edit(&mut config);
    config
}

/// A file at `path` holding `bytes`, its bytes and its name durable (the
/// directory holding it synced), closed.
fn durable_file(disk: &mut Disk, path: &str, bytes: &[u8]) {
    let file = disk.open(path, OpenOptions::create()).unwrap();
    disk.write_at(file, 0, bytes).unwrap();
    disk.sync_data(file).unwrap();
    disk.close(file).unwrap();
    let parent = &path[..path.rfind('/').unwrap().max(1)];
    disk.sync_dir(parent).unwrap();
}

fn read_write() -> OpenOptions {
    OpenOptions {
        read: true,
        write: true,
        ..OpenOptions::default()
    }
}

/// The bytes of the file at `path`, `None` when it does not exist.
fn contents(disk: &mut Disk, path: &str) -> Option<Vec<u8>> {
    let file = match disk.open(path, OpenOptions::read()) {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::NotFound => return None,
        Err(error) => panic!("{error}"),
    };
    let mut bytes = vec![0; disk.handle_metadata(file).unwrap().len as usize];
    assert_eq!(disk.read_at(file, 0, &mut bytes).unwrap(), bytes.len());
    disk.close(file).unwrap();
    Some(bytes)
}

/// Every file and directory (with a trailing `/`) and the files' bytes.
fn snapshot(disk: &mut Disk) -> BTreeMap<String, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut dirs = vec!["/".to_string()];
    while let Some(dir) = dirs.pop() {
        for entry in disk.read_dir(&dir).unwrap() {
            let path = path::child(&dir, &entry.name);
            if entry.metadata.is_dir {
                all.insert(format!("{path}/"), Vec::new());
                dirs.push(path);
            } else {
                let bytes = contents(disk, &path).unwrap();
                all.insert(path, bytes);
            }
        }
    }
    all
}

fn files(entries: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(path, bytes)| (path.to_string(), bytes.to_vec()))
        .collect()
}

/// Every outcome of `run` over every sequence of decisions: a depth-first
/// search that reruns `run` with each alternative of each decision after
/// a prefix it already took.
fn outcomes<T: Ord>(mut run: impl FnMut(&mut dyn FnMut(usize) -> usize) -> T) -> BTreeSet<T> {
    let mut seen = BTreeSet::new();
    let mut prefixes = vec![Vec::new()];
    while let Some(prefix) = prefixes.pop() {
        let mut asked: Vec<(usize, usize)> = Vec::new();
        let outcome = run(&mut |options| {
            assert!(options >= 2, "a choice among {options} is no choice");
            let choice = prefix.get(asked.len()).copied().unwrap_or(0);
            asked.push((choice, options));
            choice
        });
        seen.insert(outcome);
        for at in prefix.len()..asked.len() {
            for alternative in 1..asked[at].1 {
                let mut next: Vec<usize> = asked[..at].iter().map(|(choice, _)| *choice).collect();
                next.push(alternative);
                prefixes.push(next);
            }
        }
    }
    seen
}

/// Every disk content a crash of `disk` can leave.
fn crash_outcomes(disk: &Disk) -> BTreeSet<BTreeMap<String, Vec<u8>>> {
    outcomes(|choose| {
        let mut disk = disk.clone();
        disk.crash(choose);
        snapshot(&mut disk)
    })
}

#[track_caller]
fn fails<T: std::fmt::Debug>(result: io::Result<T>, kind: ErrorKind, names: &str) {
    let error = result.expect_err("the call fails");
    assert_eq!(error.kind(), kind, "{error}");
    assert!(
        error.to_string().contains(names),
        "`{error}` does not name `{names}`"
    );
}

fn hash(disk: &Disk) -> u64 {
    let mut hasher = DefaultHasher::new();
    disk.hash(&mut hasher);
    hasher.finish()
}

// ---- what a crash keeps ------------------------------------------------

#[test]
fn an_unsynced_write_is_lost_at_a_crash() {
    let mut disk = Disk::default();
    durable_file(&mut disk, "/wal.log", b"");
    let wal = disk.open("/wal.log", read_write()).unwrap();
    disk.write_at(wal, 0, &[7; 4096]).unwrap();
    assert_eq!(contents(&mut disk, "/wal.log").unwrap(), [7; 4096]);

    let lost: CrashReport = disk.crash(&mut no_choice);
    assert_eq!(contents(&mut disk, "/wal.log").unwrap(), b"");
    assert_eq!(
        lost.data,
        [LostData {
            file: FileName::Path("/wal.log".to_string()),
            bytes: 4096,
            changes: 1,
            lost: 1,
            torn: 0,
        }]
    );
    assert_eq!(lost.to_string(), "/wal.log 4096 bytes unsynced");
}

#[test]
fn the_defaults_are_the_strict_model_with_4_kib_sectors() {
    assert_eq!(
        Disk::default().config(),
        &DiskConfig {
            sector_size: 4096,
            capacity: None,
            unsynced_writes: UnsyncedWrites::Lost,
            torn_writes: false,
            non_atomic_rename: false,
        }
    );
}

#[test]
fn the_crash_report_reads_as_one_trace_line() {
    let mut disk = Disk::default();
    disk.create_dir("/data").unwrap();
    durable_file(&mut disk, "/wal.log", b"");
    let wal = disk.open("/wal.log", read_write()).unwrap();
    disk.write_at(wal, 0, &[1; 4096]).unwrap();
    let new = disk.open("/data/new.log", OpenOptions::create()).unwrap();
    disk.sync_data(new).unwrap();
    let lost = disk.crash(&mut no_choice);
    assert_eq!(
        format!("crash lost: {lost}"),
        "crash lost: /wal.log 4096 bytes unsynced; /data/new.log name not durable"
    );
    assert_eq!(disk.crash(&mut no_choice).to_string(), "nothing");
}

#[test]
fn a_file_without_any_name_is_reported_by_inode() {
    let mut disk = Disk::default();
    let file = disk.open("/scratch", OpenOptions::create()).unwrap();
    disk.remove_file("/scratch").unwrap();
    disk.write_at(file, 0, b"temp").unwrap();
    let ino = disk.handle_inode(file).unwrap();
    let lost = disk.crash(&mut no_choice);
    assert_eq!(lost.data[0].file, FileName::Inode(ino));
    assert_eq!(lost.to_string(), format!("{ino} 4 bytes unsynced"));
}

#[test]
fn a_synced_write_survives_a_crash() {
    let mut disk = Disk::default();
    durable_file(&mut disk, "/wal.log", b"");
    let wal = disk.open("/wal.log", read_write()).unwrap();
    disk.write_at(wal, 0, b"entry 1").unwrap();
    disk.sync_data(wal).unwrap();
    disk.write_at(wal, 7, b", entry 2").unwrap();

    let lost = disk.crash(&mut no_choice);
    assert_eq!(contents(&mut disk, "/wal.log").unwrap(), b"entry 1");
    assert_eq!(lost.to_string(), "/wal.log 9 bytes unsynced");
}

#[test]
fn a_synced_file_whose_directory_was_not_synced_is_lost() {
    let mut disk = Disk::default();
    disk.create_dir("/data").unwrap();
    disk.sync_dir("/").unwrap();
    let file = disk.open("/data/new.log", OpenOptions::create()).unwrap();
    disk.write_at(file, 0, b"committed").unwrap();
    disk.sync_data(file).unwrap();
    assert!(disk.is_synced(file).unwrap());

    let lost = disk.crash(&mut no_choice);
    assert_eq!(contents(&mut disk, "/data/new.log"), None);
    assert!(disk.metadata("/data").unwrap().is_dir);
    assert_eq!(lost.to_string(), "/data/new.log name not durable");
}

#[test]
fn syncing_the_directory_makes_a_new_file_durable() {
    let mut disk = Disk::default();
    disk.create_dir("/data").unwrap();
    disk.sync_dir("/").unwrap();
    let file = disk.open("/data/new.log", OpenOptions::create()).unwrap();
    disk.write_at(file, 0, b"committed").unwrap();
    disk.sync_data(file).unwrap();
    disk.sync_dir("/data").unwrap();

    assert!(disk.crash(&mut no_choice).is_empty());
    assert_eq!(contents(&mut disk, "/data/new.log").unwrap(), b"committed");
}

#[test]
fn syncing_a_directory_through_a_handle_syncs_its_entries() {
    // `File::open(dir)?.sync_all()`, the idiom Rust code uses.
    let mut disk = Disk::default();
    durable_file(&mut disk, "/a", b"x");
    let dir = disk.open("/", OpenOptions::read()).unwrap();
    disk.sync_all(dir).unwrap();
    assert!(disk.crash(&mut no_choice).is_empty());
    assert_eq!(contents(&mut disk, "/a").unwrap(), b"x");
}

#[test]
fn a_new_directory_needs_its_parent_synced() {
    let mut disk = Disk::default();
    disk.create_dir_all("/a/b").unwrap();
    durable_file(&mut disk, "/a/b/f", b"data"); // syncs /a/b only
    let mut unsynced_parents = disk.clone();
    let lost = unsynced_parents.crash(&mut no_choice);
    assert_eq!(snapshot(&mut unsynced_parents), BTreeMap::new());
    assert_eq!(lost.to_string(), "/a name not durable");

    disk.sync_dir("/a").unwrap();
    let mut root_unsynced = disk.clone();
    root_unsynced.crash(&mut no_choice);
    assert_eq!(snapshot(&mut root_unsynced), BTreeMap::new());

    disk.sync_dir("/").unwrap();
    disk.crash(&mut no_choice);
    assert_eq!(
        snapshot(&mut disk),
        files(&[("/a/", b""), ("/a/b/", b""), ("/a/b/f", b"data")])
    );
}

#[test]
fn a_rename_without_a_directory_sync_brings_the_old_name_back() {
    let mut disk = Disk::default();
    durable_file(&mut disk, "/old", b"v1");
    disk.rename("/old", "/new").unwrap();
    assert_eq!(contents(&mut disk, "/new").unwrap(), b"v1");

    let mut unsynced = disk.clone();
    let lost = unsynced.crash(&mut no_choice);
    assert_eq!(snapshot(&mut unsynced), files(&[("/old", b"v1")]));
    assert_eq!(
        lost.names,
        [LostName::Renamed {
            from: "/old".to_string(),
            to: "/new".to_string()
        }]
    );
    assert_eq!(lost.to_string(), "rename /old -> /new not durable");

    disk.sync_dir("/").unwrap();
    assert!(disk.crash(&mut no_choice).is_empty());
    assert_eq!(snapshot(&mut disk), files(&[("/new", b"v1")]));
}

#[test]
fn a_rename_over_a_file_is_atomic_by_default() {
    let mut disk = Disk::default();
    durable_file(&mut disk, "/db", b"old");
    durable_file(&mut disk, "/db.tmp", b"new");
    disk.rename("/db.tmp", "/db").unwrap();
    assert_eq!(
        crash_outcomes(&disk),
        BTreeSet::from([files(&[("/db", b"old"), ("/db.tmp", b"new")])])
    );
    disk.sync_dir("/").unwrap();
    assert_eq!(
        crash_outcomes(&disk),
        BTreeSet::from([files(&[("/db", b"new")])])
    );
}

#[test]
fn a_non_atomic_rename_can_lose_the_target_name() {
    let mut disk = Disk::new(config(|c| c.non_atomic_rename = true));
    durable_file(&mut disk, "/db", b"old");
    durable_file(&mut disk, "/db.tmp", b"new");
    disk.rename("/db.tmp", "/db").unwrap();
    assert_eq!(
        crash_outcomes(&disk),
        BTreeSet::from([
            files(&[("/db", b"old"), ("/db.tmp", b"new")]),
            files(&[("/db.tmp", b"new")]),
        ])
    );
    let lost = disk.clone().crash(&mut |_| 1);
    assert_eq!(
        lost.to_string(),
        "rename /db.tmp -> /db not durable; /db lost by a non-atomic rename from /db.tmp"
    );

    // Synced, the rename is durable and nothing is left to choose.
    disk.sync_dir("/").unwrap();
    assert_eq!(
        crash_outcomes(&disk),
        BTreeSet::from([files(&[("/db", b"new")])])
    );
}

#[test]
fn a_removal_without_a_directory_sync_brings_the_file_back() {
    let mut disk = Disk::default();
    durable_file(&mut disk, "/segment.1", b"old segment");
    disk.remove_file("/segment.1").unwrap();
    fails(
        disk.metadata("/segment.1"),
        ErrorKind::NotFound,
        "/segment.1",
    );

    let mut unsynced = disk.clone();
    let lost = unsynced.crash(&mut no_choice);
    assert_eq!(
        contents(&mut unsynced, "/segment.1").unwrap(),
        b"old segment"
    );
    assert_eq!(lost.to_string(), "/segment.1 removal not durable");

    disk.sync_dir("/").unwrap();
    disk.crash(&mut no_choice);
    assert_eq!(snapshot(&mut disk), BTreeMap::new());
}

#[test]
fn a_file_moved_between_directories_needs_both_synced() {
    let mut disk = Disk::default();
    disk.create_dir("/a").unwrap();
    disk.create_dir("/b").unwrap();
    disk.sync_dir("/").unwrap();
    durable_file(&mut disk, "/a/f", b"data");
    disk.rename("/a/f", "/b/f").unwrap();

    // Only the source synced: no durable name is left.
    let mut source_only = disk.clone();
    source_only.sync_dir("/a").unwrap();
    let lost = source_only.crash(&mut no_choice);
    assert_eq!(
        snapshot(&mut source_only),
        files(&[("/a/", b""), ("/b/", b"")])
    );
    assert_eq!(lost.to_string(), "/b/f name not durable");

    // Only the target synced: both names, of one file (hard links).
    let mut target_only = disk.clone();
    target_only.sync_dir("/b").unwrap();
    target_only.crash(&mut no_choice);
    let a = target_only.metadata("/a/f").unwrap();
    assert_eq!(a, target_only.metadata("/b/f").unwrap());
    let file = target_only.open("/a/f", read_write()).unwrap();
    target_only.write_at(file, 0, b"DATA").unwrap();
    assert_eq!(contents(&mut target_only, "/b/f").unwrap(), b"DATA");

    disk.sync_dir("/a").unwrap();
    disk.sync_dir("/b").unwrap();
    assert!(disk.crash(&mut no_choice).is_empty());
    assert_eq!(
        snapshot(&mut disk),
        files(&[("/a/", b""), ("/b/", b""), ("/b/f", b"data")])
    );
}

#[test]
fn a_directory_reached_through_two_durable_names_keeps_the_first() {
    let mut disk = Disk::default();
    disk.create_dir_all("/a/d").unwrap();
    disk.create_dir("/b").unwrap();
    disk.sync_dir("/").unwrap();
    disk.sync_dir("/a").unwrap();
    disk.rename("/a/d", "/b/d").unwrap();
    disk.sync_dir("/b").unwrap();

    let lost = disk.crash(&mut no_choice);
    assert_eq!(
        snapshot(&mut disk),
        files(&[("/a/", b""), ("/a/d/", b""), ("/b/", b"")])
    );
    assert_eq!(
        lost.to_string(),
        "/a/d removal not durable; /b/d dropped (the directory stays at /a/d)"
    );
}

#[test]
fn a_truncation_is_an_unsynced_change_like_a_write() {
    let mut disk = Disk::default();
    durable_file(&mut disk, "/f", b"0123456789");
    let file = disk.open("/f", OpenOptions::create()).unwrap(); // truncates
    assert_eq!(disk.handle_metadata(file).unwrap().len, 0);
    disk.set_len(file, 4).unwrap();
    assert_eq!(contents(&mut disk, "/f").unwrap(), [0; 4]);

    let mut unsynced = disk.clone();
    let lost = unsynced.crash(&mut no_choice);
    assert_eq!(contents(&mut unsynced, "/f").unwrap(), b"0123456789");
    assert_eq!(lost.to_string(), "/f length unsynced");

    disk.sync_all(file).unwrap();
    disk.crash(&mut no_choice);
    assert_eq!(contents(&mut disk, "/f").unwrap(), [0; 4]);
}

#[test]
fn the_strict_model_asks_nothing_and_choice_zero_is_strict() {
    let ops = |disk: &mut Disk| {
        durable_file(disk, "/keep", b"kept");
        durable_file(disk, "/target", b"old");
        durable_file(disk, "/source", b"new");
        let file = disk.open("/keep", read_write()).unwrap();
        disk.write_at(file, 2, &[9; 9000]).unwrap();
        disk.set_len(file, 100).unwrap();
        disk.rename("/source", "/target").unwrap();
        disk.remove_file("/keep").unwrap();
        let new = disk.open("/fresh", OpenOptions::create()).unwrap();
        disk.write_at(new, 0, b"fresh").unwrap();
    };
    let mut strict = Disk::default();
    ops(&mut strict);
    let strict_report = strict.crash(&mut no_choice);

    let mut faulty = Disk::new(config(|c| {
        c.unsynced_writes = UnsyncedWrites::Reordered;
        c.torn_writes = true;
        c.non_atomic_rename = true;
    }));
    ops(&mut faulty);
    let faulty_report = faulty.crash(&mut |_| 0);
    assert_eq!(snapshot(&mut strict), snapshot(&mut faulty));
    assert_eq!(strict_report, faulty_report);
    assert_eq!(
        snapshot(&mut strict),
        files(&[("/keep", b"kept"), ("/source", b"new"), ("/target", b"old")])
    );
}

// ---- fault models ------------------------------------------------------

/// A disk with 4-byte sectors and `model`, and the file `/f` durable with
/// `durable`, open for writing.
fn small_sectors(model: UnsyncedWrites, torn: bool, durable: &[u8]) -> (Disk, Handle) {
    let mut disk = Disk::new(config(|c| {
        c.sector_size = 4;
        c.unsynced_writes = model;
        c.torn_writes = torn;
    }));
    durable_file(&mut disk, "/f", durable);
    let file = disk.open("/f", read_write()).unwrap();
    (disk, file)
}

fn outcomes_of_f(disk: &Disk) -> BTreeSet<Vec<u8>> {
    crash_outcomes(disk)
        .into_iter()
        .map(|mut files| files.remove("/f").unwrap())
        .collect()
}

fn set(outcomes: &[&[u8]]) -> BTreeSet<Vec<u8>> {
    outcomes.iter().map(|bytes| bytes.to_vec()).collect()
}

#[test]
fn in_order_writes_persist_as_a_prefix() {
    let (mut disk, file) = small_sectors(UnsyncedWrites::InOrder, false, b"...");
    for (at, byte) in [b'A', b'B', b'C'].into_iter().enumerate() {
        disk.write_at(file, at as u64, &[byte]).unwrap();
    }
    assert_eq!(outcomes_of_f(&disk), set(&[b"...", b"A..", b"AB.", b"ABC"]));
    let lost = disk.clone().crash(&mut |options| {
        assert_eq!(options, 4, "one choice per file: how many of its 3 writes");
        1
    });
    assert_eq!(lost.to_string(), "/f 2 bytes unsynced (2 of 3 writes lost)");
}

#[test]
fn reordered_writes_reach_every_subset() {
    let (mut disk, file) = small_sectors(UnsyncedWrites::Reordered, false, b"...");
    for (at, byte) in [b'A', b'B', b'C'].into_iter().enumerate() {
        disk.write_at(file, at as u64, &[byte]).unwrap();
    }
    assert_eq!(
        outcomes_of_f(&disk),
        set(&[b"...", b"A..", b".B.", b"..C", b"AB.", b"A.C", b".BC", b"ABC"])
    );

    // Overlapping writes: where both persist, the later one's bytes win.
    let (mut disk, file) = small_sectors(UnsyncedWrites::Reordered, false, b"..");
    disk.write_at(file, 0, b"AA").unwrap();
    disk.write_at(file, 1, b"B").unwrap();
    assert_eq!(outcomes_of_f(&disk), set(&[b"..", b"AA", b".B", b"AB"]));
}

#[test]
fn unsynced_length_changes_persist_or_not_like_writes() {
    let (mut disk, file) = small_sectors(UnsyncedWrites::Reordered, false, b"abcd");
    disk.set_len(file, 2).unwrap();
    disk.write_at(file, 3, b"Z").unwrap(); // zero-fills the gap
    assert_eq!(contents(&mut disk, "/f").unwrap(), b"ab\0Z");
    assert_eq!(
        outcomes_of_f(&disk),
        set(&[b"abcd", b"ab", b"abcZ", b"ab\0Z"])
    );
}

#[test]
fn a_torn_write_keeps_every_leading_sector_prefix_and_nothing_else() {
    // Bytes 1..11 span sectors 0, 1 and 2 (4-byte sectors).
    let expected = set(&[
        b"............", // not persisted
        b".ABC........", // first sector
        b".ABCDEFG....", // first two sectors
        b".ABCDEFGHIJ.", // whole
    ]);
    for model in [UnsyncedWrites::InOrder, UnsyncedWrites::Reordered] {
        let (mut disk, file) = small_sectors(model, true, b"............");
        disk.write_at(file, 1, b"ABCDEFGHIJ").unwrap();
        assert_eq!(outcomes_of_f(&disk), expected, "{model:?}");
        let lost = disk.clone().crash(&mut |options| options - 1);
        assert_eq!(
            lost.to_string(),
            "/f 7 bytes unsynced (0 of 1 writes lost, 1 torn)",
            "{model:?}"
        );
    }
    // Without torn writes, a write persists whole or not at all.
    let (mut disk, file) = small_sectors(UnsyncedWrites::Reordered, false, b"............");
    disk.write_at(file, 1, b"ABCDEFGHIJ").unwrap();
    assert_eq!(
        outcomes_of_f(&disk),
        set(&[b"............", b".ABCDEFGHIJ."])
    );
}

#[test]
fn only_the_last_persisting_write_tears_when_writes_stay_in_order() {
    let two_writes = |model| {
        let (mut disk, file) = small_sectors(model, true, b"");
        disk.write_at(file, 0, b"aaaaaaaa").unwrap();
        disk.write_at(file, 8, b"bbbbbbbb").unwrap();
        outcomes_of_f(&disk)
    };
    assert_eq!(
        two_writes(UnsyncedWrites::InOrder),
        set(&[
            b"",
            b"aaaa",
            b"aaaaaaaa",
            b"aaaaaaaabbbb",
            b"aaaaaaaabbbbbbbb",
        ])
    );
    // Each write: lost, its first sector, or whole; the gap a lost or cut
    // first write leaves before the second reads as zeros.
    assert_eq!(
        two_writes(UnsyncedWrites::Reordered),
        set(&[
            b"",
            b"aaaa",
            b"aaaaaaaa",
            b"\0\0\0\0\0\0\0\0bbbb",
            b"\0\0\0\0\0\0\0\0bbbbbbbb",
            b"aaaa\0\0\0\0bbbb",
            b"aaaa\0\0\0\0bbbbbbbb",
            b"aaaaaaaabbbb",
            b"aaaaaaaabbbbbbbb",
        ])
    );
}

#[test]
fn the_same_decisions_give_the_same_disk() {
    let mut disk = Disk::new(config(|c| {
        c.sector_size = 8;
        c.unsynced_writes = UnsyncedWrites::Reordered;
        c.torn_writes = true;
        c.non_atomic_rename = true;
    }));
    for name in ["/a", "/b", "/c"] {
        durable_file(&mut disk, name, b"0123456789abcdef");
    }
    for (i, name) in ["/a", "/b", "/c"].into_iter().enumerate() {
        let file = disk.open(name, read_write()).unwrap();
        for k in 0..5u64 {
            disk.write_at(file, k * 5 + i as u64, b"XXXXXXXXXXX")
                .unwrap();
        }
    }
    disk.rename("/a", "/b").unwrap();
    let scripted = |seed: u64| {
        let mut disk = disk.clone();
        let mut n = seed;
        let report = disk.crash(&mut |options| {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (n >> 33) as usize % options
        });
        let hash = hash(&disk);
        (snapshot(&mut disk), report.to_string(), hash)
    };
    assert_eq!(scripted(1), scripted(1));
    assert_eq!(scripted(2), scripted(2));
    assert_ne!(scripted(1).0, scripted(2).0);
}

// ---- bit rot and capacity ----------------------------------------------

#[test]
fn bit_rot_changes_reads_until_the_sector_is_rewritten() {
    let mut disk = Disk::default();
    durable_file(&mut disk, "/f", &[0xAA; 8192]);
    disk.rot("/f", 1).unwrap();
    let rotten = contents(&mut disk, "/f").unwrap();
    assert_eq!(rotten[..4096], [0xAA; 4096]);
    assert!(rotten[4096..].iter().all(|&byte| byte != 0xAA));

    // The durable copy rotted too: a crash keeps the rot.
    disk.crash(&mut no_choice);
    assert_eq!(contents(&mut disk, "/f").unwrap(), rotten);

    // A rewrite mends what it covers, the rest of the sector stays rotten.
    let file = disk.open("/f", read_write()).unwrap();
    disk.write_at(file, 4096, &[0xAA; 10]).unwrap();
    let partly = contents(&mut disk, "/f").unwrap();
    assert_eq!(partly[..4106], [0xAA; 4106]);
    assert_eq!(partly[4106..], rotten[4106..]);
    disk.write_at(file, 4096, &[0xAA; 4096]).unwrap();
    assert_eq!(contents(&mut disk, "/f").unwrap(), [0xAA; 8192]);
    // Unsynced, the mended bytes are lost at a crash: the rot is back.
    disk.crash(&mut no_choice);
    assert_eq!(contents(&mut disk, "/f").unwrap(), rotten);

    fails(disk.rot("/f", 2), ErrorKind::InvalidInput, "/f");
    fails(disk.rot("/nothing", 0), ErrorKind::NotFound, "/nothing");
    fails(disk.rot("/", 0), ErrorKind::IsADirectory, "/");
    // Rotting a rotten sector again restores it (the pattern is a flip).
    disk.rot("/f", 1).unwrap();
    assert_eq!(contents(&mut disk, "/f").unwrap(), [0xAA; 8192]);
}

#[test]
fn bit_rot_reaches_unsynced_writes_that_a_crash_may_keep() {
    let (mut disk, file) = small_sectors(UnsyncedWrites::Reordered, false, b"aaaaaaaa");
    disk.write_at(file, 4, b"bbbb").unwrap();
    disk.rot("/f", 1).unwrap();
    let rotten = contents(&mut disk, "/f").unwrap();
    assert_ne!(&rotten[4..], b"bbbb");
    let mut durable_rotten = b"aaaaaaaa".to_vec();
    for (offset, byte) in durable_rotten.iter_mut().enumerate().skip(4) {
        *byte ^= 1 << (offset % 8);
    }
    // Whether the write persists or not, what comes back is rotten.
    assert_eq!(
        outcomes_of_f(&disk),
        BTreeSet::from([rotten, durable_rotten])
    );
}

#[test]
fn rot_by_inode_reaches_a_file_without_a_name() {
    let mut disk = Disk::default();
    let options = OpenOptions {
        read: true,
        ..OpenOptions::create()
    };
    let file = disk.open("/tmp", options).unwrap();
    disk.write_at(file, 0, &[0; 10]).unwrap();
    disk.remove_file("/tmp").unwrap();
    let ino = disk.handle_inode(file).unwrap();
    disk.rot_inode(ino, 0).unwrap();
    let mut bytes = [0; 10];
    assert_eq!(disk.read_at(file, 0, &mut bytes).unwrap(), 10);
    assert!(bytes.iter().all(|&byte| byte != 0));
    disk.close(file).unwrap(); // the last reference: the inode goes
    fails(
        disk.rot_inode(ino, 0),
        ErrorKind::NotFound,
        &ino.to_string(),
    );
}

#[test]
fn a_write_past_the_capacity_fails_with_storage_full_naming_the_path() {
    let mut disk = Disk::new(config(|c| c.capacity = Some(8192)));
    durable_file(&mut disk, "/a", &[1; 4096]);
    durable_file(&mut disk, "/b", &[2]); // one byte takes a sector
    assert_eq!(disk.used(), 8192);
    let c = disk.open("/c", OpenOptions::create()).unwrap();
    fails(disk.write_at(c, 0, b"x"), ErrorKind::StorageFull, "/c");
    assert_eq!(contents(&mut disk, "/c").unwrap(), b"", "nothing written");
    fails(disk.set_len(c, 1), ErrorKind::StorageFull, "/c");
    // Within its sector, /b grows for free.
    let b = disk.open("/b", read_write()).unwrap();
    disk.write_at(b, 1, &[2; 4095]).unwrap();
    fails(disk.write_at(b, 4096, b"x"), ErrorKind::StorageFull, "/b");

    // A removed name frees its space at once (durable or not).
    disk.remove_file("/a").unwrap();
    disk.write_at(c, 0, &[3; 4096]).unwrap();
    assert_eq!(disk.used(), 8192);
    // An open handle keeps a removed file's space.
    disk.remove_file("/b").unwrap();
    fails(disk.write_at(c, 4096, b"x"), ErrorKind::StorageFull, "/c");
    disk.close(b).unwrap();
    disk.write_at(c, 4096, b"x").unwrap();

    // A crash brings back durable files, and their space counts again.
    disk.crash(&mut no_choice);
    assert_eq!(disk.used(), 8192);
}

// ---- handles and errors ------------------------------------------------

#[test]
fn a_read_only_handle_refuses_writes() {
    let mut disk = Disk::default();
    durable_file(&mut disk, "/ro", b"data");
    let file = disk.open("/ro", OpenOptions::read()).unwrap();
    fails(
        disk.write_at(file, 0, b"x"),
        ErrorKind::PermissionDenied,
        "/ro",
    );
    fails(disk.write(file, b"x"), ErrorKind::PermissionDenied, "/ro");
    fails(disk.set_len(file, 0), ErrorKind::PermissionDenied, "/ro");
    assert_eq!(contents(&mut disk, "/ro").unwrap(), b"data");
    disk.sync_all(file).unwrap(); // fsync needs no write access

    let write_only = disk
        .open(
            "/ro",
            OpenOptions {
                write: true,
                ..OpenOptions::default()
            },
        )
        .unwrap();
    fails(
        disk.read_at(write_only, 0, &mut [0; 4]),
        ErrorKind::PermissionDenied,
        "/ro",
    );
}

#[test]
fn errors_have_the_kind_linux_gives_and_name_the_path() {
    let mut disk = Disk::default();
    disk.create_dir_all("/dir/sub").unwrap();
    durable_file(&mut disk, "/dir/file", b"x");

    fails(disk.metadata("/missing"), ErrorKind::NotFound, "/missing");
    fails(
        disk.open("/nope/f", OpenOptions::create()),
        ErrorKind::NotFound,
        "/nope/f",
    );
    fails(
        disk.open("/missing", OpenOptions::read()),
        ErrorKind::NotFound,
        "/missing",
    );
    fails(disk.create_dir("/dir"), ErrorKind::AlreadyExists, "/dir");
    fails(disk.create_dir("/"), ErrorKind::AlreadyExists, "/");
    fails(
        disk.create_dir_all("/dir/file"),
        ErrorKind::AlreadyExists,
        "/dir/file",
    );
    fails(
        disk.create_dir_all("/dir/file/x"),
        ErrorKind::NotADirectory,
        "/dir/file/x",
    );
    fails(
        disk.open("/dir/file/x", OpenOptions::read()),
        ErrorKind::NotADirectory,
        "/dir/file",
    );
    let create_new = OpenOptions {
        write: true,
        create_new: true,
        ..OpenOptions::default()
    };
    fails(
        disk.open("/dir/file", create_new),
        ErrorKind::AlreadyExists,
        "/dir/file",
    );
    fails(
        disk.open("/dir", create_new),
        ErrorKind::AlreadyExists,
        "/dir",
    );
    fails(
        disk.open("/dir", OpenOptions::create()),
        ErrorKind::IsADirectory,
        "/dir",
    );
    fails(disk.remove_file("/dir"), ErrorKind::IsADirectory, "/dir");
    fails(disk.remove_file("/"), ErrorKind::IsADirectory, "/");
    fails(
        disk.remove_dir("/dir/file"),
        ErrorKind::NotADirectory,
        "/dir/file",
    );
    fails(
        disk.remove_dir("/dir"),
        ErrorKind::DirectoryNotEmpty,
        "/dir",
    );
    fails(disk.remove_dir("/"), ErrorKind::ResourceBusy, "/");
    fails(disk.remove_dir("/gone"), ErrorKind::NotFound, "/gone");
    fails(
        disk.read_dir("/dir/file"),
        ErrorKind::NotADirectory,
        "/dir/file",
    );
    fails(
        disk.sync_dir("/dir/file"),
        ErrorKind::NotADirectory,
        "/dir/file",
    );
    let dir = disk.open("/dir", OpenOptions::read()).unwrap();
    fails(
        disk.read_at(dir, 0, &mut [0; 1]),
        ErrorKind::IsADirectory,
        "/dir",
    );

    // rename, as rename(2)
    fails(
        disk.rename("/dir/file", "/dir/sub"),
        ErrorKind::IsADirectory,
        "/dir/sub",
    );
    fails(
        disk.rename("/dir/sub", "/dir/file"),
        ErrorKind::NotADirectory,
        "/dir/file",
    );
    fails(
        disk.rename("/dir/sub", "/dir/sub/in"),
        ErrorKind::InvalidInput,
        "/dir/sub/in",
    );
    fails(
        disk.rename("/missing", "/x"),
        ErrorKind::NotFound,
        "/missing",
    );
    fails(
        disk.rename("/dir/file", "/no/x"),
        ErrorKind::NotFound,
        "/no/x",
    );
    fails(disk.rename("/", "/x"), ErrorKind::ResourceBusy, "/x");
    disk.create_dir("/full").unwrap();
    disk.create_dir("/full/x").unwrap();
    fails(
        disk.rename("/dir/sub", "/full"),
        ErrorKind::DirectoryNotEmpty,
        "/full",
    );
    disk.create_dir("/empty").unwrap();
    disk.rename("/dir/sub", "/empty").unwrap(); // over an empty directory
    disk.rename("/dir/file", "/dir/file").unwrap(); // onto itself: nothing
    assert_eq!(
        disk.read_dir("/")
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["dir", "empty", "full"]
    );

    // Past what memory can address.
    let file = disk.open("/dir/file", read_write()).unwrap();
    fails(
        disk.write_at(file, u64::MAX - 1, b"xy"),
        ErrorKind::FileTooLarge,
        "/dir/file",
    );
    fails(
        disk.set_len(file, u64::MAX),
        ErrorKind::FileTooLarge,
        "/dir/file",
    );
    assert_eq!(contents(&mut disk, "/dir/file").unwrap(), b"x");

    // Closed handles.
    disk.close(dir).unwrap();
    fails(disk.close(dir), ErrorKind::InvalidInput, &dir.to_string());
}

#[test]
fn open_options_are_checked_as_std_checks_them() {
    let mut disk = Disk::default();
    for (options, what) in [
        (OpenOptions::default(), "neither reading nor writing"),
        (
            OpenOptions {
                read: true,
                create: true,
                ..OpenOptions::default()
            },
            "needs write",
        ),
        (
            OpenOptions {
                read: true,
                truncate: true,
                ..OpenOptions::default()
            },
            "needs write",
        ),
        (
            OpenOptions {
                append: true,
                truncate: true,
                ..OpenOptions::default()
            },
            "append and truncate",
        ),
    ] {
        fails(disk.open("/f", options), ErrorKind::InvalidInput, "/f");
        fails(disk.open("/f", options), ErrorKind::InvalidInput, what);
    }
}

#[test]
fn paths_are_absolute_and_normalised() {
    let mut disk = Disk::default();
    disk.create_dir_all("//a/./b/").unwrap();
    durable_file(&mut disk, "/a/b/f", b"x");
    for same in [
        "/a/b/f",
        "//a//b//f",
        "/a/./b/f",
        "/a/b/../b/f",
        "/a/x/../b/f",
    ] {
        assert_eq!(contents(&mut disk, same).unwrap(), b"x", "{same}");
    }
    fails(disk.metadata("a/b/f"), ErrorKind::InvalidInput, "a/b/f");
    fails(disk.metadata(""), ErrorKind::InvalidInput, "relative");
    fails(
        disk.metadata("/a/../../etc"),
        ErrorKind::InvalidInput,
        "/a/../../etc",
    );
    fails(disk.metadata("/a\0b"), ErrorKind::InvalidInput, "NUL");
    assert!(disk.metadata("/..").is_err());
    assert!(disk.metadata("/a/..").unwrap().is_dir);
}

#[test]
fn read_dir_lists_names_in_order_with_metadata() {
    let mut disk = Disk::default();
    for name in ["/zeta", "/alpha", "/Beta"] {
        durable_file(&mut disk, name, b"12345");
    }
    disk.create_dir("/middle").unwrap();
    let entries = disk.read_dir("/").unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Beta", "alpha", "middle", "zeta"]);
    assert!(entries[0].metadata.is_file());
    assert_eq!(entries[0].metadata.len, 5);
    assert!(entries[2].metadata.is_dir);
}

#[test]
fn an_open_handle_outlives_its_name() {
    let mut disk = Disk::default();
    durable_file(&mut disk, "/f", b"before");
    let file = disk.open("/f", read_write()).unwrap();
    disk.rename("/f", "/g").unwrap();
    disk.write_at(file, 0, b"BEFORE").unwrap();
    assert_eq!(contents(&mut disk, "/g").unwrap(), b"BEFORE");

    disk.remove_file("/g").unwrap();
    assert_eq!(snapshot(&mut disk), BTreeMap::new());
    disk.write_at(file, 6, b", after").unwrap();
    let mut bytes = [0; 13];
    assert_eq!(disk.read_at(file, 0, &mut bytes).unwrap(), 13);
    assert_eq!(&bytes, b"BEFORE, after");
    disk.sync_data(file).unwrap();

    // The durable name `/f` (the rename and removal were never synced)
    // brings back the file with its synced bytes.
    let lost = disk.crash(&mut no_choice);
    assert_eq!(contents(&mut disk, "/f").unwrap(), b"BEFORE, after");
    assert_eq!(lost.to_string(), "/f removal not durable");
}

#[test]
fn a_crash_closes_every_handle() {
    let mut disk = Disk::default();
    durable_file(&mut disk, "/f", b"x");
    let file = disk.open("/f", OpenOptions::read()).unwrap();
    disk.crash(&mut no_choice);
    fails(
        disk.read_at(file, 0, &mut [0; 1]),
        ErrorKind::InvalidInput,
        "lost in a crash",
    );
    let again = disk.open("/f", OpenOptions::read()).unwrap();
    assert_ne!(again, file, "handles are never reused");
}

#[test]
fn the_cursor_reads_writes_seeks_and_appends_as_a_file_does() {
    let mut disk = Disk::default();
    let file = disk
        .open(
            "/log",
            OpenOptions {
                read: true,
                write: true,
                create: true,
                ..OpenOptions::default()
            },
        )
        .unwrap();
    disk.write(file, b"hello").unwrap();
    disk.write(file, b" world").unwrap();
    assert_eq!(disk.seek(file, SeekFrom::Start(6)).unwrap(), 6);
    let mut word = [0; 5];
    assert_eq!(disk.read(file, &mut word).unwrap(), 5);
    assert_eq!(&word, b"world");
    assert_eq!(disk.read(file, &mut word).unwrap(), 0, "at the end");
    assert_eq!(disk.seek(file, SeekFrom::End(-5)).unwrap(), 6);
    assert_eq!(disk.seek(file, SeekFrom::Current(-6)).unwrap(), 0);
    fails(
        disk.seek(file, SeekFrom::Current(-1)),
        ErrorKind::InvalidInput,
        "/log",
    );
    // Past the end: a write there zero-fills the gap.
    disk.seek(file, SeekFrom::End(2)).unwrap();
    disk.write(file, b"!").unwrap();
    assert_eq!(contents(&mut disk, "/log").unwrap(), b"hello world\0\0!");

    // Append mode writes at the end, whatever the cursor or the offset.
    let append = disk
        .open(
            "/log",
            OpenOptions {
                append: true,
                ..OpenOptions::default()
            },
        )
        .unwrap();
    disk.write_at(append, 0, b"A").unwrap();
    disk.write(append, b"B").unwrap();
    assert_eq!(contents(&mut disk, "/log").unwrap(), b"hello world\0\0!AB");
    assert_eq!(disk.handle_metadata(append).unwrap().len, 16);
}

// ---- checkpoints and cost ------------------------------------------------

#[test]
fn clones_restore_and_hashes_cover_both_views() {
    let build = |detour: bool| {
        let mut disk = Disk::default();
        if detour {
            // Inodes numbered differently, same observable state.
            durable_file(&mut disk, "/tmp", b"scratch");
            disk.remove_file("/tmp").unwrap();
            disk.sync_dir("/").unwrap();
        }
        disk.create_dir("/data").unwrap();
        durable_file(&mut disk, "/data/x", b"hello");
        durable_file(&mut disk, "/y", b"world");
        disk
    };
    let plain = build(false);
    let detoured = build(true);
    assert_ne!(plain.lookup("/y").unwrap(), detoured.lookup("/y").unwrap());
    assert_eq!(hash(&plain), hash(&detoured));

    // A volatile change changes the hash; so does a durable-only one.
    let mut unsynced = plain.clone();
    let file = unsynced.open("/y", read_write()).unwrap();
    let with_handle = hash(&unsynced);
    assert_ne!(with_handle, hash(&plain), "an open handle is state");
    unsynced.write_at(file, 0, b"W").unwrap();
    assert_ne!(hash(&unsynced), with_handle);
    let mut synced = unsynced.clone();
    synced.sync_data(file).unwrap();
    assert_eq!(snapshot(&mut synced), snapshot(&mut unsynced.clone()));
    assert_ne!(hash(&synced), hash(&unsynced), "durable bytes differ");
    let mut renamed = plain.clone();
    renamed.rename("/y", "/z").unwrap();
    let mut renamed_synced = renamed.clone();
    renamed_synced.sync_dir("/").unwrap();
    assert_ne!(
        hash(&renamed),
        hash(&renamed_synced),
        "durable names differ"
    );

    // A clone is a checkpoint: restoring it restores state and hash.
    let checkpoint = unsynced.clone();
    unsynced.crash(&mut no_choice);
    assert_ne!(hash(&unsynced), hash(&checkpoint));
    unsynced = checkpoint.clone();
    assert_eq!(hash(&unsynced), hash(&checkpoint));
    assert_eq!(contents(&mut unsynced, "/y").unwrap(), b"World");
}

#[test]
fn a_write_and_sync_loop_reuses_its_buffers() {
    // The allocation counter (`bach_workspace::alloc_counter`) lives in the
    // workspace crate, which depends on this one, so a unit test cannot
    // install it; what it would count here is the file's buffers growing,
    // which this test watches directly. (The other allocations a call could
    // make, a temporary, are absent by construction: `write_at` and
    // `sync_data` look up B-trees and copy bytes.)
    for model in [
        UnsyncedWrites::Lost,
        UnsyncedWrites::InOrder,
        UnsyncedWrites::Reordered,
    ] {
        let mut disk = Disk::new(config(|c| c.unsynced_writes = model));
        let file = disk.open("/wal", OpenOptions::create()).unwrap();
        let ino = disk.handle_inode(file).unwrap();
        let page = [0x5A; 4096];
        let step = |disk: &mut Disk, i: u64| {
            disk.write_at(file, (i % 16) * 4096, &page).unwrap();
            disk.sync_data(file).unwrap();
        };
        for i in 0..64 {
            step(&mut disk, i);
        }
        let warm = disk.file(ino).buffers();
        let used = disk.used();
        for i in 64..2064 {
            step(&mut disk, i);
        }
        assert_eq!(disk.file(ino).buffers(), warm, "{model:?}");
        assert_eq!(disk.used(), used);
        assert_eq!(disk.file(ino).durable(), &[0x5A; 16 * 4096][..]);
    }
}

#[test]
fn without_kept_bytes_appends_share_one_log_entry() {
    let mut disk = Disk::default();
    let file = disk.open("/wal", OpenOptions::create()).unwrap();
    let ino = disk.handle_inode(file).unwrap();
    for _ in 0..1000 {
        disk.write(file, b"record\n").unwrap();
    }
    let [_, _, (_, log_capacity), (_, bytes_capacity)] = disk.file(ino).buffers();
    assert!(log_capacity <= 4, "the log grew to {log_capacity} entries");
    assert_eq!(bytes_capacity, 0);
    assert_eq!(disk.file(ino).unsynced(), (1000, 7000));
}
