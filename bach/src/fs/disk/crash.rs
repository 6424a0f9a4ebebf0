//! A crash, and the report of what it lost.
//!
//! [`Disk::crash`] works in the order its decisions are asked (the
//! [module docs](super) give the semantics): handles close, non-atomic
//! renames are decided, every directory reverts to its durable entries,
//! what the root no longer reaches goes, and every remaining file settles
//! on its durable bytes plus the unsynced changes the fault model keeps.
//! The report compares each directory's entries before and after (a name
//! that vanished and one that came back naming the same inode are one
//! rename) and collects each file's lost changes.

use super::{path, Disk, Ino, Kind, ROOT};
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

/// What a crash lost; `Display` is one line for a trace, `nothing` when
/// empty: `/wal.log 4096 bytes unsynced; /data/new.log name not durable`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CrashReport {
    /// Files whose unsynced changes did not all survive, in inode order.
    pub(crate) data: Vec<LostData>,
    /// Names whose creation, removal or rename did not survive.
    pub(crate) names: Vec<LostName>,
}

impl CrashReport {
    /// Whether the crash lost nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty() && self.names.is_empty()
    }
}

/// A file as a report names it: the path it still has after the crash,
/// else the one it had before, else its inode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FileName {
    /// A path.
    Path(String),
    /// A file that had no name before the crash and has none after.
    Inode(Ino),
}

/// The unsynced changes of one file that a crash lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LostData {
    /// The file.
    pub(crate) file: FileName,
    /// Unsynced bytes that did not persist.
    pub(crate) bytes: u64,
    /// Unsynced writes and length changes at the crash.
    pub(crate) changes: usize,
    /// How many of them did not persist at all.
    pub(crate) lost: usize,
    /// How many writes persisted only their leading sectors.
    pub(crate) torn: usize,
}

/// A change to the namespace that a crash undid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LostName {
    /// A name created since its directory's last sync is gone (with what
    /// it named, unless another name keeps it).
    Created {
        /// The name's path before the crash.
        path: String,
    },
    /// A name removed since its directory's last sync is back.
    Removed {
        /// The name's path after the crash.
        path: String,
    },
    /// A rename not made durable: the file is back at `from` (and what
    /// `to` named before is back at `to`).
    Renamed {
        /// Where it is after the crash.
        from: String,
        /// Where it was before.
        to: String,
    },
    /// A non-atomic rename over `path` lost the name `path` itself: what
    /// it named before the rename is gone, the renamed file stays at
    /// `from`.
    RenameTarget {
        /// The target name.
        path: String,
        /// The source name.
        from: String,
    },
    /// A directory reached through two durable names (a rename across
    /// directories with only the target synced) keeps one: `path` is gone.
    Dropped {
        /// The name dropped.
        path: String,
        /// Where the directory stays.
        kept: String,
    },
}

impl Disk {
    /// Crashes the disk: every handle closes and the durable view becomes
    /// the whole disk, with the unsynced changes and rename outcomes the
    /// fault model allows as `choose(n)` decides (it returns one of `0..n`,
    /// and is asked only when `n >= 2`; `0` is always the strict outcome;
    /// the [module docs](super) list every choice and their order). Returns
    /// what was lost.
    ///
    /// Panics when `choose` returns a value out of range.
    pub(crate) fn crash(&mut self, choose: &mut dyn FnMut(usize) -> usize) -> CrashReport {
        let choose = &mut |options: usize| {
            debug_assert!(options >= 2, "a choice among {options} is no choice");
            let choice = choose(options);
            assert!(
                choice < options,
                "the decision source chose {choice} among {options} options"
            );
            choice
        };
        let before = self.paths();
        for open in std::mem::take(&mut self.handles).into_values() {
            self.inode_mut(open.ino).handles -= 1;
        }

        // Non-atomic renames: the target's durable entry may go.
        let mut torn_renames = Vec::new();
        for rename in std::mem::take(&mut self.renames) {
            let untouched = self.durable_entry(rename.to_dir, &rename.to) == Some(rename.replaced)
                && self.durable_entry(rename.from_dir, &rename.from) == Some(rename.moved);
            if untouched && choose(2) == 1 {
                self.dir_mut(rename.to_dir).durable.remove(&rename.to);
                torn_renames.push(LostName::RenameTarget {
                    path: entry_path(&before, rename.to_dir, &rename.to),
                    from: entry_path(&before, rename.from_dir, &rename.from),
                });
            }
        }

        // Every directory reverts to its durable entries.
        let mut diffs = Vec::new();
        for (&ino, inode) in &mut self.inodes {
            if let Kind::Dir(dir) = &mut inode.kind {
                if dir.entries != dir.durable {
                    let vanished = differing(&dir.entries, &dir.durable);
                    let returned = differing(&dir.durable, &dir.entries);
                    diffs.push((ino, vanished, returned));
                    dir.entries = dir.durable.clone();
                }
            }
        }

        // What the root reaches stays, each directory through one name.
        let mut reachable = BTreeSet::from([ROOT]);
        let mut duplicates = Vec::new();
        let mut walk = self.walk_from_root();
        while let Some((dir, name, child)) = walk.next() {
            let is_dir = matches!(self.inode(child).kind, Kind::Dir(_));
            if reachable.insert(child) {
                if is_dir {
                    walk.enter(self, child);
                }
            } else if is_dir {
                duplicates.push((dir, name, child));
            }
        }
        for (dir, name, _) in &duplicates {
            let dir = self.dir_mut(*dir);
            dir.entries.remove(name);
            dir.durable.remove(name);
        }

        let mut report = CrashReport::default();
        let mut lost_data = BTreeMap::new();
        let gone: Vec<Ino> = self
            .inodes
            .keys()
            .copied()
            .filter(|ino| !reachable.contains(ino))
            .collect();
        for ino in gone {
            let inode = self.inodes.remove(&ino).expect("a live inode");
            if let Kind::File(file) = &inode.kind {
                let (changes, bytes) = file.unsynced();
                if changes > 0 {
                    let file = file_name(&before, &BTreeMap::new(), ino); // gone: no path after
                    lost_data.insert(
                        ino,
                        LostData {
                            file,
                            bytes,
                            changes,
                            lost: changes,
                            torn: 0,
                        },
                    );
                }
            }
        }

        // Links count the one view left.
        let mut links: BTreeMap<Ino, u32> = BTreeMap::new();
        for inode in self.inodes.values() {
            if let Kind::Dir(dir) = &inode.kind {
                for &child in dir.entries.values() {
                    *links.entry(child).or_default() += 1;
                }
            }
        }
        for (&ino, inode) in &mut self.inodes {
            let count = if ino == ROOT {
                1
            } else {
                links.get(&ino).copied().unwrap_or(0)
            };
            inode.links = count;
            inode.durable_links = count;
        }
        let after = self.paths();

        // Every file settles.
        let config = self.config.clone();
        self.used = 0;
        for (&ino, inode) in &mut self.inodes {
            if let Kind::File(file) = &mut inode.kind {
                let settled = file.settle(&config, choose);
                if settled.lost_anything() {
                    lost_data.insert(
                        ino,
                        LostData {
                            file: file_name(&before, &after, ino),
                            bytes: settled.bytes,
                            changes: settled.changes,
                            lost: settled.lost,
                            torn: settled.torn,
                        },
                    );
                }
                self.used += super::usage(file.len(), config.sector_size);
            }
        }
        report.data = lost_data.into_values().collect();

        // Names: a vanished and a returned entry of one inode are a rename.
        let mut vanished = Vec::new();
        let mut returned = Vec::new();
        for (dir, gone, back) in diffs {
            let (Some(dir_before), Some(dir_after)) = (before.get(&dir), after.get(&dir)) else {
                continue; // reported at the ancestor that vanished or returned
            };
            for (name, ino) in gone {
                vanished.push((path::child(dir_before, &name), ino));
            }
            for (name, ino) in back {
                returned.push((path::child(dir_after, &name), ino));
            }
        }
        let mut renamed_over = BTreeSet::new();
        for (to, ino) in vanished {
            match returned.iter().position(|(_, back)| *back == ino) {
                Some(at) => {
                    let (from, _) = returned.remove(at);
                    renamed_over.insert(to.clone());
                    report.names.push(LostName::Renamed { from, to });
                }
                None => report.names.push(LostName::Created { path: to }),
            }
        }
        for (path, _) in returned {
            if !renamed_over.contains(&path) {
                report.names.push(LostName::Removed { path });
            }
        }
        report.names.extend(torn_renames);
        for (dir, name, child) in duplicates {
            report.names.push(LostName::Dropped {
                path: entry_path(&after, dir, &name),
                kept: after
                    .get(&child)
                    .cloned()
                    .unwrap_or_else(|| child.to_string()),
            });
        }
        report
    }

    /// The first path of every inode the root reaches through the volatile
    /// entries, depth first in name order.
    fn paths(&self) -> BTreeMap<Ino, String> {
        let mut paths = BTreeMap::from([(ROOT, "/".to_string())]);
        let mut walk = self.walk_from_root();
        while let Some((dir, name, child)) = walk.next() {
            if paths.contains_key(&child) {
                continue;
            }
            paths.insert(child, path::child(&paths[&dir], &name));
            if let Kind::Dir(_) = self.inode(child).kind {
                walk.enter(self, child);
            }
        }
        paths
    }

    fn walk_from_root(&self) -> Walk {
        let mut walk = Walk { stack: Vec::new() };
        walk.enter(self, ROOT);
        walk
    }

    fn durable_entry(&self, dir: Ino, name: &str) -> Option<Ino> {
        match &self.inodes.get(&dir)?.kind {
            Kind::Dir(dir) => dir.durable.get(name).copied(),
            Kind::File(_) => None,
        }
    }
}

/// A depth-first walk of the volatile entries in name order: the caller
/// enters the directories it wants to descend into.
struct Walk {
    /// Entries still to visit, the next on top: (directory, name, inode).
    stack: Vec<(Ino, String, Ino)>,
}

impl Walk {
    fn next(&mut self) -> Option<(Ino, String, Ino)> {
        self.stack.pop()
    }

    /// Visits the entries of `dir` next, in name order.
    fn enter(&mut self, disk: &Disk, dir: Ino) {
        if let Kind::Dir(entries) = &disk.inode(dir).kind {
            for (name, &child) in entries.entries.iter().rev() {
                self.stack.push((dir, name.clone(), child));
            }
        }
    }
}

/// The entries of `a` that `b` lacks or maps elsewhere.
fn differing(a: &BTreeMap<String, Ino>, b: &BTreeMap<String, Ino>) -> Vec<(String, Ino)> {
    a.iter()
        .filter(|(name, ino)| b.get(*name) != Some(ino))
        .map(|(name, &ino)| (name.clone(), ino))
        .collect()
}

/// The path of `name` in `dir`, or `inode N/name` when `dir` has none.
fn entry_path(paths: &BTreeMap<Ino, String>, dir: Ino, name: &str) -> String {
    match paths.get(&dir) {
        Some(dir) => path::child(dir, name),
        None => format!("{dir}/{name}"),
    }
}

fn file_name(before: &BTreeMap<Ino, String>, after: &BTreeMap<Ino, String>, ino: Ino) -> FileName {
    match after.get(&ino).or_else(|| before.get(&ino)) {
        Some(path) => FileName::Path(path.clone()),
        None => FileName::Inode(ino),
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileName::Path(path) => f.write_str(path),
            FileName::Inode(ino) => write!(f, "{ino}"),
        }
    }
}

impl fmt::Display for LostData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only length changes lost have no bytes.
        if self.bytes == 0 {
            write!(f, "{} length unsynced", self.file)?;
        } else {
            write!(f, "{} {} bytes unsynced", self.file, self.bytes)?;
        }
        if self.lost != self.changes || self.torn > 0 {
            write!(f, " ({} of {} writes lost", self.lost, self.changes)?;
            if self.torn > 0 {
                write!(f, ", {} torn", self.torn)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for LostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostName::Created { path } => write!(f, "{path} name not durable"),
            LostName::Removed { path } => write!(f, "{path} removal not durable"),
            LostName::Renamed { from, to } => write!(f, "rename {from} -> {to} not durable"),
            LostName::RenameTarget { path, from } => {
                write!(f, "{path} lost by a non-atomic rename from {from}")
            }
            LostName::Dropped { path, kept } => {
                write!(f, "{path} dropped (the directory stays at {kept})")
            }
        }
    }
}

impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing");
        }
        let items = self
            .data
            .iter()
            .map(|data| data as &dyn fmt::Display)
            .chain(self.names.iter().map(|name| name as &dyn fmt::Display));
        for (i, item) in items.enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}
