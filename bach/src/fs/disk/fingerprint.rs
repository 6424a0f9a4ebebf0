//! The disk's hash, for model checking's fingerprints: everything a crash
//! or a call could observe, and nothing else.
//!
//! It covers the configuration, both views of every directory and file,
//! every file's unsynced changes (what a crash may keep), the open handles
//! (mode, cursor, path) and the renames a non-atomic crash may undo. Inode
//! numbers are not observable, and two runs that create and delete files
//! in a different order number them differently; so inodes are hashed by
//! the order in which a fixed walk meets them: the root, then breadth first
//! through each directory's volatile and then durable entries in name
//! order, then the handles in order, then the pending renames. The
//! counters that only name future inodes and handles are left out.

use super::{Disk, Ino, Kind, ROOT};
use std::{
    collections::{BTreeMap, VecDeque},
    hash::{Hash, Hasher},
};

impl Hash for Disk {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.config.hash(state);
        let mut walk = Walk::default();
        walk.number(ROOT);
        walk.drain(self, state);
        state.write_usize(self.handles.len());
        for (handle, open) in &self.handles {
            handle.hash(state);
            walk.number(open.ino).hash(state);
            (open.read, open.write, open.append, open.cursor).hash(state);
            open.path.hash(state);
        }
        walk.drain(self, state);
        state.write_usize(self.renames.len());
        for rename in &self.renames {
            for ino in [
                rename.from_dir,
                rename.to_dir,
                rename.moved,
                rename.replaced,
            ] {
                walk.number(ino).hash(state);
            }
            rename.from.hash(state);
            rename.to.hash(state);
        }
        walk.drain(self, state);
    }
}

/// Inodes numbered in the order they are met, and those met but not yet
/// hashed.
#[derive(Default)]
struct Walk {
    numbers: BTreeMap<Ino, u64>,
    unhashed: VecDeque<Ino>,
}

impl Walk {
    fn number(&mut self, ino: Ino) -> u64 {
        let next = self.numbers.len() as u64;
        *self.numbers.entry(ino).or_insert_with(|| {
            self.unhashed.push_back(ino);
            next
        })
    }

    /// Hashes every inode met and not hashed yet, and those they lead to.
    fn drain<H: Hasher>(&mut self, disk: &Disk, state: &mut H) {
        while let Some(ino) = self.unhashed.pop_front() {
            // An inode a pending rename names may be gone.
            let Some(inode) = disk.inodes.get(&ino) else {
                state.write_u8(0);
                continue;
            };
            match &inode.kind {
                Kind::File(file) => {
                    state.write_u8(1);
                    file.hash(state);
                }
                Kind::Dir(dir) => {
                    state.write_u8(2);
                    for entries in [&dir.entries, &dir.durable] {
                        state.write_usize(entries.len());
                        for (name, &child) in entries {
                            name.hash(state);
                            self.number(child).hash(state);
                        }
                    }
                }
            }
        }
    }
}
