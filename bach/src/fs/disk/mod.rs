//! A node's disk: directories and files over a page cache, and what a
//! power cut leaves of them.
//!
//! Pure data, like `bach-net`'s link model: it never reads a clock, never
//! draws randomness and knows nothing of a running simulation. A crash asks
//! its caller's decision source (the simulation's choice source, the
//! explorer, the model checker) which of the outcomes the fault model
//! allows happens.
//!
//! # Two views
//!
//! Everything on the disk exists twice. The *volatile* view is what calls
//! see: file bytes in the page cache, directory entries in memory. The
//! *durable* view is what survives a crash. Calls change the volatile view;
//! syncs copy parts of it into the durable one, and nothing else does:
//!
//! * [`Disk::sync_data`] and [`Disk::sync_all`] on a file make its bytes
//!   and its length durable (the model has no other metadata, so the two
//!   do the same);
//! * [`Disk::sync_dir`], or `sync_data`/`sync_all` through a handle on the
//!   directory (the `File::open(dir)?.sync_all()` idiom), makes the
//!   directory's entries durable. Creating, renaming and removing a name is
//!   durable only once the directory holding the name is synced; a new
//!   directory's own name needs its parent synced. A file whose bytes were
//!   synced but whose name never was is lost at a crash.
//!
//! Files are inodes: a handle keeps reading and writing its file after the
//! name is removed or renamed.
//!
//! # A crash
//!
//! [`Disk::crash`] closes every handle and makes the durable view the whole
//! disk:
//!
//! 1. every directory's entries revert to its durable entries, and what the
//!    root no longer reaches through them is gone (a directory reached
//!    through two durable names, which a rename across directories with
//!    only the target synced leaves, keeps the first in depth-first name
//!    order; a file may keep both, as hard links);
//! 2. every remaining file's bytes revert to its durable bytes plus the
//!    unsynced changes (writes, length changes) the fault model keeps,
//!    applied in the order they were issued.
//!
//! By default nothing unsynced survives. [`DiskConfig`] widens that; each
//! widening is a choice asked of the decision source `choose(n)`, which
//! returns one of `0..n`:
//!
//! * [`UnsyncedWrites::InOrder`]: per file with unsynced changes, one
//!   choice among `changes + 1`: how many of them, from the first, persist.
//! * [`UnsyncedWrites::Reordered`]: per unsynced change, in issue order,
//!   one choice of 2: `1` persists it. Any subset can survive.
//! * `torn_writes`: per persisting write that spans `k > 1` sectors, one
//!   choice among `k`: choice `c` keeps its first `k - c` sectors. Under
//!   `InOrder` only the last persisting write can be torn (the crash
//!   interrupted it).
//! * `non_atomic_rename`: per rename over an existing name whose target
//!   directory was not synced since and whose two names still have their
//!   durable entries of before the rename, one choice of 2: `1` loses the
//!   target name (the source name stays; the replaced file is gone).
//!
//! Choice `0` is always what the disk does with the option off, so a source
//! answering `0` gives the strict outcome, and a choice is asked only when
//! there are at least two options. The order is fixed: renames in issue
//! order, then files in inode (creation) order, each file's changes in
//! issue order. The [`CrashReport`] says what was lost; its `Display` is
//! one trace line: `/wal.log 4096 bytes unsynced; /data/new.log name not
//! durable`.
//!
//! # Other faults
//!
//! [`Disk::rot`] flips bits of one sector until it is written again, and a
//! `capacity` makes writes past it fail with `StorageFull`. Errors are
//! those Linux gives (`ENOENT` is `NotFound`, `EISDIR` `IsADirectory`, and
//! so on), each message naming the path.
//!
//! # Checkpoints
//!
//! A `Disk` is `Clone` (a model checker saves and restores it) and `Hash`:
//! the hash covers both views and the unsynced changes, walks the namespace
//! in name order and numbers inodes in the order it meets them, so two
//! disks that differ only in inode numbers hash equal.
//!
//! ```text
//! let mut disk = Disk::new(DiskConfig::default());
//! let wal = disk.open("/wal.log", OpenOptions::create())?;
//! disk.write_at(wal, 0, b"entry")?;
//! disk.sync_data(wal)?;   // bytes durable, name not yet
//! disk.sync_dir("/")?;    // name durable
//! let lost = disk.crash(&mut |_| 0);
//! assert!(lost.is_empty());
//! ```

mod crash;
mod file;
mod fingerprint;
mod handle;
mod namespace;
mod path;
#[cfg(test)]
mod tests;

pub(crate) use crash::CrashReport;
#[cfg(test)]
use crash::{FileName, LostData, LostName};

use file::FileData;
use std::{
    collections::BTreeMap,
    fmt,
    io::{self, ErrorKind},
};

/// Which unsynced writes may survive a crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UnsyncedWrites {
    /// None: every file reverts to its last synced bytes and length. The
    /// strict model, and the default.
    #[default]
    Lost,
    /// A prefix of each file's unsynced changes, in issue order, as if the
    /// disk wrote each file's changes in order and the crash came in the
    /// middle. Files are independent: no order holds across files.
    InOrder,
    /// Any subset of the unsynced changes, as if the disk wrote them back
    /// in any order.
    Reordered,
}

/// The disk's geometry and its crash fault model. The defaults: 4 KiB
/// sectors, no capacity limit, no faults (nothing unsynced survives a
/// crash, a rename is atomic).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DiskConfig {
    /// Bytes per sector: the unit of torn writes, of bit rot and of space
    /// accounting. Default 4096; must be positive.
    pub sector_size: u64,
    /// Bytes of file data the disk holds, each file counted in whole
    /// sectors (directories take none); a write or `set_len` past it fails
    /// with `StorageFull`. Default `None`: unlimited.
    pub capacity: Option<u64>,
    /// Which unsynced writes and length changes may survive a crash.
    /// Default [`UnsyncedWrites::Lost`]: none.
    pub unsynced_writes: UnsyncedWrites,
    /// A surviving unsynced write that spans several sectors may keep only
    /// its leading sectors. Default off; no effect when no unsynced write
    /// survives ([`UnsyncedWrites::Lost`]).
    pub torn_writes: bool,
    /// An unsynced rename over an existing name may, at a crash, leave the
    /// target name missing while the source name remains. Default off.
    pub non_atomic_rename: bool,
}

impl Default for DiskConfig {
    fn default() -> Self {
        Self {
            sector_size: 4096,
            capacity: None,
            unsynced_writes: UnsyncedWrites::Lost,
            torn_writes: false,
            non_atomic_rename: false,
        }
    }
}

/// An inode number: a file or directory, whatever its names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Ino(u64);

impl fmt::Display for Ino {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "inode {}", self.0)
    }
}

/// An open file (or directory): an inode, an access mode and a cursor, as a
/// file description. Never reused, so a handle closed (or lost in a crash)
/// stays invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Handle(u64);

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handle {}", self.0)
    }
}

/// How [`Disk::open`] opens, with `std::fs::OpenOptions`' meaning and
/// checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OpenOptions {
    /// Reads allowed.
    pub(crate) read: bool,
    /// Writes allowed.
    pub(crate) write: bool,
    /// Writes allowed, each at the end of the file (also `write_at`'s, as
    /// Linux's `pwrite` on an `O_APPEND` file).
    pub(crate) append: bool,
    /// A missing file is created.
    pub(crate) create: bool,
    /// The file must not exist; it is created (`create` and `truncate` are
    /// then moot).
    pub(crate) create_new: bool,
    /// An existing file is cut to length 0 (an unsynced length change).
    pub(crate) truncate: bool,
}

impl OpenOptions {
    /// Read only: `File::open`.
    pub(crate) fn read() -> Self {
        Self {
            read: true,
            ..Self::default()
        }
    }

    /// Write, create, truncate: `File::create`.
    pub(crate) fn create() -> Self {
        Self {
            write: true,
            create: true,
            truncate: true,
            ..Self::default()
        }
    }

    /// Fails with `InvalidInput` on the combinations `std` refuses.
    fn check(&self, path: &str) -> io::Result<()> {
        let writes = self.write || self.append;
        if !self.read && !writes {
            return Err(invalid(format!(
                "opening `{path}` for neither reading nor writing"
            )));
        }
        if !writes && (self.truncate || self.create || self.create_new) {
            return Err(invalid(format!(
                "creating or truncating `{path}` needs write or append access"
            )));
        }
        if self.append && self.truncate && !self.create_new {
            return Err(invalid(format!(
                "opening `{path}` to append and truncate at once"
            )));
        }
        Ok(())
    }
}

/// What [`Disk::metadata`] tells of a file or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Metadata {
    /// The inode.
    pub(crate) ino: Ino,
    /// The length reads see, in bytes (0 for a directory).
    pub(crate) len: u64,
    /// Whether it is a directory (otherwise a regular file).
    pub(crate) is_dir: bool,
}

impl Metadata {
    /// Whether it is a regular file.
    #[cfg(test)]
    pub(crate) fn is_file(&self) -> bool {
        !self.is_dir
    }
}

/// One entry of [`Disk::read_dir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DirEntry {
    /// The entry's name in its directory.
    pub(crate) name: String,
    /// What it names.
    pub(crate) metadata: Metadata,
}

/// The root directory: it exists from the start and is durable.
const ROOT: Ino = Ino(0);

/// An inode and what refers to it. It lives while a volatile name, a
/// durable name or a handle does; its space counts while a volatile name or
/// a handle does (a crash can bring back a durable name).
#[derive(Clone, Debug)]
struct Inode {
    /// Names in the volatile view.
    links: u32,
    /// Names in the durable view.
    durable_links: u32,
    /// Open handles.
    handles: u32,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    File(FileData),
    Dir(Directory),
}

/// A directory's entries in both views.
#[derive(Clone, Debug, Default)]
struct Directory {
    entries: BTreeMap<String, Ino>,
    /// The entries as of the directory's last sync.
    durable: BTreeMap<String, Ino>,
}

/// What a handle is.
#[derive(Clone, Debug)]
struct OpenFile {
    ino: Ino,
    /// The path it was opened with, for messages.
    path: String,
    read: bool,
    write: bool,
    append: bool,
    cursor: u64,
}

/// A rename over an existing name whose target directory was not synced
/// since: what a non-atomic rename can undo at a crash.
#[derive(Clone, Debug)]
struct PendingRename {
    from_dir: Ino,
    from: String,
    to_dir: Ino,
    to: String,
    moved: Ino,
    replaced: Ino,
}

/// A simulated disk (see the [module docs](self)).
#[derive(Clone, Debug)]
pub(crate) struct Disk {
    config: DiskConfig,
    inodes: BTreeMap<Ino, Inode>,
    next_ino: u64,
    handles: BTreeMap<Handle, OpenFile>,
    next_handle: u64,
    /// Bytes of space in use: every file a volatile name or a handle
    /// reaches, in whole sectors.
    used: u64,
    /// Only with `non_atomic_rename`.
    renames: Vec<PendingRename>,
}

impl Default for Disk {
    fn default() -> Self {
        Self::new(DiskConfig::default())
    }
}

impl Disk {
    /// An empty disk: the root directory, durable.
    ///
    /// Panics when `config.sector_size` is 0.
    pub(crate) fn new(config: DiskConfig) -> Self {
        assert!(
            config.sector_size > 0,
            "DiskConfig::sector_size must be positive"
        );
        let mut inodes = BTreeMap::new();
        inodes.insert(
            ROOT,
            Inode {
                links: 1,
                durable_links: 1,
                handles: 0,
                kind: Kind::Dir(Directory::default()),
            },
        );
        Self {
            config,
            inodes,
            next_ino: 1,
            handles: BTreeMap::new(),
            next_handle: 0,
            used: 0,
            renames: Vec::new(),
        }
    }

    /// The geometry and fault model.
    pub(crate) fn config(&self) -> &DiskConfig {
        &self.config
    }

    /// Bytes of space in use (files in whole sectors).
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    fn inode(&self, ino: Ino) -> &Inode {
        self.inodes.get(&ino).expect("a live inode")
    }

    fn inode_mut(&mut self, ino: Ino) -> &mut Inode {
        self.inodes.get_mut(&ino).expect("a live inode")
    }

    fn dir_mut(&mut self, ino: Ino) -> &mut Directory {
        match &mut self.inode_mut(ino).kind {
            Kind::Dir(dir) => dir,
            Kind::File(_) => panic!("{ino} is not a directory"),
        }
    }

    fn file(&self, ino: Ino) -> &FileData {
        match &self.inode(ino).kind {
            Kind::File(file) => file,
            Kind::Dir(_) => panic!("{ino} is not a file"),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> &mut FileData {
        match &mut self.inode_mut(ino).kind {
            Kind::File(file) => file,
            Kind::Dir(_) => panic!("{ino} is not a file"),
        }
    }

    fn metadata_of(&self, ino: Ino) -> Metadata {
        match &self.inode(ino).kind {
            Kind::File(file) => Metadata {
                ino,
                len: file.len(),
                is_dir: false,
            },
            Kind::Dir(_) => Metadata {
                ino,
                len: 0,
                is_dir: true,
            },
        }
    }
}

/// The space `len` bytes of file take: whole sectors.
fn usage(len: u64, sector_size: u64) -> u64 {
    len.div_ceil(sector_size) * sector_size
}

fn invalid(message: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidInput, message)
}

fn not_found(path: &str) -> io::Error {
    io::Error::new(
        ErrorKind::NotFound,
        format!("no such file or directory: `{path}`"),
    )
}

fn already_exists(path: &str) -> io::Error {
    io::Error::new(
        ErrorKind::AlreadyExists,
        format!("already exists: `{path}`"),
    )
}

fn is_a_directory(path: &str) -> io::Error {
    io::Error::new(ErrorKind::IsADirectory, format!("is a directory: `{path}`"))
}

fn not_a_directory(path: &str) -> io::Error {
    io::Error::new(
        ErrorKind::NotADirectory,
        format!("not a directory: `{path}`"),
    )
}

/// `ENOTDIR` for a component of `path` (`above`) that is a file.
fn not_a_directory_within(path: &str, above: &[&str]) -> io::Error {
    io::Error::new(
        ErrorKind::NotADirectory,
        format!("not a directory: `{}` (in `{path}`)", path::join(above)),
    )
}

fn too_large(path: &str, end: u64) -> io::Error {
    io::Error::new(
        ErrorKind::FileTooLarge,
        format!("`{path}` cannot grow to {end} bytes on this platform"),
    )
}
