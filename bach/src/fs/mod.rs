//! Per-node simulated storage: each node has its own disk, with a page
//! cache that a crash of the node empties. tokio-shaped and async: a task
//! uses its node's disk through [`File`], [`OpenOptions`] and the free
//! functions ([`read`], [`write()`], [`rename`], [`create_dir_all`], …).
//!
//! ```
//! use bach::{ext::*, fs};
//!
//! bach::sim(|| {
//!     async {
//!         let mut wal = fs::File::create("/wal.log").await.unwrap();
//!         wal.write_all(b"put x 1\n").await.unwrap();
//!         wal.sync_data().await.unwrap(); // the bytes are durable...
//!         fs::File::open("/").await.unwrap().sync_all().await.unwrap(); // ...and the name
//!         wal.write_all(b"put y 2\n").await.unwrap(); // in the page cache only
//!         bach::node::crash("db");
//!     }
//!     .group("db")
//!     .spawn();
//!     async {
//!         1.s().sleep().await;
//!         bach::node::restart("db");
//!         async {
//!             assert_eq!(fs::read("/wal.log").await.unwrap(), b"put x 1\n");
//!         }
//!         .group("db")
//!         .primary()
//!         .spawn();
//!     }
//!     .spawn();
//! });
//! ```
//!
//! **What survives a crash.** Writes land in a volatile cache.
//! [`File::sync_data`] and [`File::sync_all`] make a file's bytes and
//! length durable. Creating, renaming and removing a name are durable only
//! once the directory holding it is synced (`File::open(dir)` then
//! `sync_all`). A crash of the node ([`node::crash`](crate::node::crash),
//! `Simulation::crash_node`, a crash point) discards everything not
//! durable; a restarted node sees its durable state. [`DiskConfig`]
//! widens what a crash may keep — unsynced writes in order or in any
//! order, torn writes, non-atomic renames — and each widening is a choice
//! of the simulation's choice source, so the explorer enumerates the
//! outcomes. The trace lists what a crash lost.
//!
//! **Faults and time** ([`DiskOptions`], per node with [`set_disk`]):
//! operations take simulated time (per operation, per sync, per byte,
//! plus a drawn jitter), fail with injected I/O errors (by probability,
//! or scripted with [`fail_next`]), syncs hang; a capacity makes writes fail with
//! `StorageFull`; [`rot`] flips a sector's bits (a checksum in the user's
//! format must catch it). **Crash points**: with `crash_points` set, the
//! node may crash right after any of its writes, length changes, syncs,
//! creations, renames and removals took effect — sampled from the seed in
//! plain runs and sweeps, both outcomes tried at every point by searches
//! that enumerate values
//! ([`Explorer::enumerate_values`](crate::check::Explorer::enumerate_values)).
//! Model checking fingerprints and checkpoints every disk.
//!
//! Errors are those Linux gives (`NotFound`, `AlreadyExists`,
//! `PermissionDenied` for a write through a read-only file,
//! `IsADirectory`, `StorageFull`, `Other` for injected I/O errors), each
//! naming the path. A simulation that never touches `bach::fs` creates no
//! disk and pays nothing.

pub(crate) mod disk;
mod handler;
pub(crate) mod state;

pub use disk::{DiskConfig, UnsyncedWrites};
pub use handler::HandlerDisk;
pub use state::{DiskCounters, DiskOptions, Faulty};

use crate::{group::table::GroupId, runtime::context, runtime::Inner};
use disk::Handle;
use std::{io, io::SeekFrom, rc::Rc};

/// What an operation is, for its faults, its counters and its trace line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Sync,
    /// Creating, renaming, removing a name; a length change.
    Change,
    /// Looking: metadata, listing, opening without creating.
    Look,
}

impl Op {
    /// Whether a crash point follows it.
    fn changes(self) -> bool {
        matches!(self, Op::Write | Op::Sync | Op::Change)
    }
}

/// The current node's group.
fn current_group(what: &'static str) -> GroupId {
    context::with(what, |inner| inner.current_group.get())
}

/// Runs one operation on `group`'s disk: its latency and injected faults,
/// then `apply`, its trace line, then a crash point if it changed the
/// disk. `path` names the file in errors and in the trace.
async fn operate<T, P: std::fmt::Display + ?Sized>(
    what: &'static str,
    group: GroupId,
    op: Op,
    bytes: usize,
    path: &P,
    apply: impl FnOnce(&mut disk::Disk) -> io::Result<T>,
) -> io::Result<T> {
    let fate = context::with(what, |inner| decide(inner, group, op, bytes));
    if fate.stuck {
        context::with(what, |inner| {
            inner.disks.borrow_mut().disk(group).counters.stuck_syncs += 1;
            note(
                inner,
                format_args!("disk {what} `{path}` hangs (stuck sync)"),
            );
        });
        return std::future::pending().await;
    }
    if !fate.delay.is_zero() {
        crate::time::sleep(fate.delay).await;
    }
    let result = context::with(what, |inner| {
        apply_now(inner, group, what, op, bytes, path, fate.inject, apply)
    });
    if result.is_ok() && op.changes() {
        crash_point(what, group).await;
    }
    result
}

/// What the disk's options make of one operation.
struct Fate {
    /// How long it takes.
    delay: std::time::Duration,
    /// It fails with an injected I/O error.
    inject: bool,
    /// A sync that never completes.
    stuck: bool,
}

/// Draws the fate of one operation on `group`'s disk from its options
/// (drawing nothing where a probability is 0).
fn decide(inner: &Inner, group: GroupId, op: Op, bytes: usize) -> Fate {
    let mut disks = inner.disks.borrow_mut();
    let node = disks.disk(group);
    let options = &node.options;
    let per_byte = options
        .latency_per_byte
        .saturating_mul(u32::try_from(bytes).unwrap_or(u32::MAX));
    let faulty = match op {
        Op::Read => Some(Faulty::Read),
        Op::Write => Some(Faulty::Write),
        Op::Sync => Some(Faulty::Sync),
        Op::Change | Op::Look => None,
    };
    // A scripted failure first, then the probability.
    let scripted = faulty.is_some_and(|kind| {
        let next = &mut node.fail_next[kind as usize];
        *next > 0 && {
            *next -= 1;
            true
        }
    });
    let inject = scripted
        || (faulty.is_some()
            && options.error_probability > 0.0
            && crate::kernel::rng::gen_bool(options.error_probability));
    let stuck = op == Op::Sync
        && !inject
        && options.stuck_sync_probability > 0.0
        && crate::kernel::rng::gen_bool(options.stuck_sync_probability);
    let sync = if op == Op::Sync {
        options.sync_latency
    } else {
        std::time::Duration::ZERO
    };
    // Looking (metadata, listings, opening an existing file, seeking)
    // takes no time.
    let delay = if op == Op::Look {
        std::time::Duration::ZERO
    } else {
        let jitter = if options.latency_jitter.is_zero() {
            std::time::Duration::ZERO
        } else {
            let nanos = u64::try_from(options.latency_jitter.as_nanos()).unwrap_or(u64::MAX);
            std::time::Duration::from_nanos(crate::kernel::rng::gen_range(
                "bach::fs latency_jitter",
                0..=nanos,
            ))
        };
        options
            .latency
            .saturating_add(sync)
            .saturating_add(per_byte)
            .saturating_add(jitter)
    };
    Fate {
        delay,
        inject,
        stuck,
    }
}

/// Applies one operation to `group`'s disk now (or fails it with an
/// injected error), counting and tracing it.
#[allow(clippy::too_many_arguments)]
fn apply_now<T, P: std::fmt::Display + ?Sized>(
    inner: &Inner,
    group: GroupId,
    what: &'static str,
    op: Op,
    bytes: usize,
    path: &P,
    inject: bool,
    apply: impl FnOnce(&mut disk::Disk) -> io::Result<T>,
) -> io::Result<T> {
    let mut disks = inner.disks.borrow_mut();
    let node = disks.disk(group);
    if inject {
        node.counters.injected_errors += 1;
        drop(disks);
        note(
            inner,
            format_args!("disk {what} `{path}`: injected I/O error"),
        );
        return Err(io::Error::other(format!(
            "injected I/O error: {what} `{path}`"
        )));
    }
    let result = apply(&mut node.disk);
    if result.is_ok() {
        match op {
            Op::Read => node.counters.bytes_read += bytes as u64,
            Op::Write => node.counters.bytes_written += bytes as u64,
            Op::Sync => node.counters.syncs += 1,
            Op::Change | Op::Look => {}
        }
    }
    drop(disks);
    if op != Op::Look {
        match &result {
            Ok(_) => note(
                inner,
                format_args!("disk {what} `{path}`{}", Detail(op, bytes)),
            ),
            Err(error) => note(inner, format_args!("disk {what} `{path}` failed: {error}")),
        }
    }
    result
}

/// How errors and the trace name a rename: `from` → `to` (formatted only
/// when used).
struct Renamed<'a>(&'a str, &'a str);

impl std::fmt::Display for Renamed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}` → `{}", self.0, self.1)
    }
}

/// The trace's words on what an operation did to durability. Formatted
/// only when the trace records: building the line's arguments allocates
/// nothing.
struct Detail(Op, usize);

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Detail(op, bytes) = *self;
        match op {
            Op::Write => write!(f, " {bytes} bytes (not durable)"),
            Op::Read => write!(f, " {bytes} bytes"),
            Op::Sync => f.write_str(" (durable)"),
            Op::Change => f.write_str(" (not durable until its directory is synced)"),
            Op::Look => Ok(()),
        }
    }
}

/// A trace note, when the trace records.
fn note(inner: &Inner, line: std::fmt::Arguments<'_>) {
    if inner.trace.enabled() {
        let line: Rc<str> = line.to_string().into();
        inner.trace_event(crate::trace::RawKind::Note(line));
    }
}

/// A point where a search may crash the node. Under model checking, a
/// choice of the checker while its crash budget lasts (spending it);
/// otherwise while the node's crash points last, with the disk's
/// probability (both outcomes when values are enumerated). A crash ends
/// the calling task with the node's others.
async fn crash_point(what: &'static str, group: GroupId) {
    use crate::net::state::NetWorld as _;
    let crash = context::with(what, |inner| {
        let crash = match inner.fault_budgets() {
            Some(budgets) => {
                budgets.crashes.get() > 0
                    && inner.rand.borrow_mut().choose(2) == 1
                    && crate::net::choices::Budgets::spend(&budgets.crashes)
            }
            None => {
                let mut disks = inner.disks.borrow_mut();
                let node = disks.disk(group);
                let probability = node.options.crash_probability;
                node.crash_points_left > 0
                    && probability > 0.0
                    && (probability >= 1.0 || crate::kernel::rng::gen_bool(probability))
            }
        };
        if crash {
            let mut disks = inner.disks.borrow_mut();
            let node = disks.disk(group);
            node.crash_points_left = node.crash_points_left.saturating_sub(1);
            node.counters.crash_points_taken += 1;
            drop(disks);
            note(
                inner,
                format_args!("crash point after {what}: the node crashes"),
            );
            crate::node::crash_in(inner, group);
        }
        crash
    });
    if crash {
        // The task is cancelled with the rest of its node when this poll
        // returns.
        std::future::pending::<()>().await;
    }
}

/// Sets the disk options of node `node` (created if it has no task yet).
/// Its disk's model ([`DiskOptions::model`]) must be set before the node
/// first touches its disk: changing it later is an `InvalidInput` error
/// naming the node. Panics outside a simulation.
#[track_caller]
pub fn set_disk(node: &str, options: DiskOptions) -> io::Result<()> {
    context::with("bach::fs::set_disk", |inner| {
        let group = inner.groups.borrow_mut().intern(node);
        inner.disks.borrow_mut().set_options(group, node, options)
    })
}

/// Scripts failures on node `node`'s disk: its next `count` operations of
/// kind `kind` fail with an injected I/O error (before any
/// `error_probability` is drawn), counted and traced as any injected
/// error. Panics outside a simulation.
#[track_caller]
pub fn fail_next(node: &str, kind: Faulty, count: u32) {
    context::with("bach::fs::fail_next", |inner| {
        let group = inner.groups.borrow_mut().intern(node);
        inner.disks.borrow_mut().disk(group).fail_next[kind as usize] += count;
    })
}

/// What node `node`'s disk operations did so far (zero for a node without
/// a disk). Panics outside a simulation.
#[track_caller]
pub fn counters(node: &str) -> DiskCounters {
    context::with("bach::fs::counters", |inner| {
        match inner.groups.borrow().lookup(node) {
            Some(group) => inner.disks.borrow().counters(group),
            None => DiskCounters::default(),
        }
    })
}

/// Bit rot on the current node's disk: sector `sector` of the file at
/// `path` reads back with bits flipped until it is written again.
#[track_caller]
pub fn rot(path: &str, sector: u64) -> io::Result<()> {
    let group = current_group("bach::fs::rot");
    context::with("bach::fs::rot", |inner| {
        let result = {
            let mut disks = inner.disks.borrow_mut();
            let node = disks.disk(group);
            let result = node.disk.rot(path, sector);
            node.counters.sectors_rotted += u64::from(result.is_ok());
            result
        };
        if result.is_ok() {
            note(
                inner,
                format_args!("disk bit rot in `{path}` sector {sector}"),
            );
        }
        result
    })
}

/// Metadata of a file or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    len: u64,
    is_dir: bool,
}

impl Metadata {
    fn from_disk(metadata: disk::Metadata) -> Self {
        Self {
            len: metadata.len,
            is_dir: metadata.is_dir,
        }
    }

    /// The file's length in bytes (0 for a directory).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the length is 0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.is_dir
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        !self.is_dir
    }
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    name: String,
    path: String,
    metadata: Metadata,
}

impl DirEntry {
    /// The entry's name in its directory.
    pub fn file_name(&self) -> &str {
        &self.name
    }

    /// The entry's full path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Its metadata when the directory was read.
    pub fn metadata(&self) -> Metadata {
        self.metadata
    }
}

/// A directory's entries, in name order ([`read_dir`]).
#[derive(Debug)]
pub struct ReadDir {
    entries: std::vec::IntoIter<DirEntry>,
}

impl ReadDir {
    /// The next entry, or `None` after the last.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        Ok(self.entries.next())
    }
}

/// Options to open a file with, as `tokio::fs::OpenOptions`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptions(disk::OpenOptions);

impl OpenOptions {
    /// Nothing allowed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads allowed.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.0.read = read;
        self
    }

    /// Writes allowed.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.0.write = write;
        self
    }

    /// Every write at the end of the file.
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.0.append = append;
        self
    }

    /// An existing file is emptied.
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.0.truncate = truncate;
        self
    }

    /// A missing file is created.
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.0.create = create;
        self
    }

    /// The file must not exist, and is created.
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.0.create_new = create_new;
        self
    }

    /// Opens `path` on the current node's disk.
    pub async fn open(&self, path: impl AsRef<str>) -> io::Result<File> {
        let path = path.as_ref();
        let group = current_group("bach::fs::OpenOptions::open");
        let options = self.0;
        let op = if options.create || options.create_new || options.truncate {
            Op::Change
        } else {
            Op::Look
        };
        let handle = operate("open", group, op, 0, path, |disk| disk.open(path, options)).await?;
        Ok(File {
            handle,
            group,
            path: path.into(),
        })
    }
}

/// An open file (or directory) on a node's disk, as `tokio::fs::File`.
/// Closed when dropped; a crash of its node closes it too (later calls
/// fail).
#[derive(Debug)]
pub struct File {
    handle: Handle,
    group: GroupId,
    path: Rc<str>,
}

impl File {
    /// Opens `path` for reading.
    pub async fn open(path: impl AsRef<str>) -> io::Result<File> {
        OpenOptions(disk::OpenOptions::read()).open(path).await
    }

    /// Creates `path` (or empties it) for writing.
    pub async fn create(path: impl AsRef<str>) -> io::Result<File> {
        OpenOptions(disk::OpenOptions::create()).open(path).await
    }

    /// Options to open a file with.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    async fn on_disk<T>(
        &self,
        what: &'static str,
        op: Op,
        bytes: usize,
        apply: impl FnOnce(&mut disk::Disk, Handle) -> io::Result<T>,
    ) -> io::Result<T> {
        let handle = self.handle;
        operate(what, self.group, op, bytes, &self.path, |disk| {
            apply(disk, handle)
        })
        .await
    }

    /// Reads into `buf` at the cursor; `Ok(0)` at the end.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.on_disk("read", Op::Read, len, |disk, handle| disk.read(handle, buf))
            .await
    }

    /// Reads exactly `buf.len()` bytes (`UnexpectedEof` if the file ends
    /// first).
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.read(&mut buf[filled..]).await? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "`{}` ended after {filled} of {} bytes",
                            self.path,
                            buf.len()
                        ),
                    ))
                }
                n => filled += n,
            }
        }
        Ok(())
    }

    /// Reads to the end of the file, appending to `buf`.
    ///
    /// One operation (one latency, one fault draw) for the whole rest of
    /// the file, as one large `read` is.
    pub async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        // Looking takes no time and draws no fault.
        let len = self.metadata().await?.len();
        let position = self.seek(SeekFrom::Current(0)).await?;
        let rest = usize::try_from(len.saturating_sub(position)).unwrap_or(usize::MAX);
        self.on_disk("read", Op::Read, rest, |disk, handle| {
            read_rest(disk, handle, buf, rest)
        })
        .await
    }

    /// Writes `buf` at the cursor (at the end in append mode), into the
    /// page cache: not durable until a sync.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.on_disk("write", Op::Write, buf.len(), |disk, handle| {
            disk.write(handle, buf)
        })
        .await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut written = 0;
        while written < buf.len() {
            written += self.write(&buf[written..]).await?;
        }
        Ok(())
    }

    /// Moves the cursor.
    pub async fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        self.on_disk("seek", Op::Look, 0, |disk, handle| {
            disk.seek(handle, position)
        })
        .await
    }

    /// Truncates or extends the file (not durable until a sync).
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        self.on_disk("set_len", Op::Change, 0, |disk, handle| {
            disk.set_len(handle, len)
        })
        .await
    }

    /// Makes the file's bytes and length durable (`fdatasync`); on a
    /// directory, its entries.
    pub async fn sync_data(&self) -> io::Result<()> {
        self.on_disk("sync_data", Op::Sync, 0, |disk, handle| {
            disk.sync_data(handle)
        })
        .await
    }

    /// Makes the file's bytes and metadata durable (`fsync`); on a
    /// directory, its entries.
    pub async fn sync_all(&self) -> io::Result<()> {
        self.on_disk("sync_all", Op::Sync, 0, |disk, handle| {
            disk.sync_all(handle)
        })
        .await
    }

    /// The open file's metadata.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.on_disk("metadata", Op::Look, 0, |disk, handle| {
            disk.handle_metadata(handle).map(Metadata::from_disk)
        })
        .await
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let (handle, group) = (self.handle, self.group);
        context::try_with(|inner| {
            if let Some(inner) = inner {
                if let Ok(mut disks) = inner.disks.try_borrow_mut() {
                    // Already closed by a crash: nothing to do.
                    let _ = disks.disk(group).disk.close(handle);
                }
            }
        });
    }
}

/// Appends up to `rest` bytes from `handle`'s cursor to `buf`; how many
/// it read (fewer at the end of the file).
fn read_rest(
    disk: &mut disk::Disk,
    handle: Handle,
    buf: &mut Vec<u8>,
    rest: usize,
) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + rest, 0);
    let mut filled = 0;
    while filled < rest {
        match disk.read(handle, &mut buf[start + filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) => {
                buf.truncate(start);
                return Err(error);
            }
        }
    }
    buf.truncate(start + filled);
    Ok(filled)
}

/// The whole contents of the file at `path`.
pub async fn read(path: impl AsRef<str>) -> io::Result<Vec<u8>> {
    let mut file = File::open(path).await?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await?;
    Ok(bytes)
}

/// The whole contents of the file at `path`, as UTF-8 (`InvalidData`
/// otherwise).
pub async fn read_to_string(path: impl AsRef<str>) -> io::Result<String> {
    let path = path.as_ref();
    String::from_utf8(read(path).await?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("`{path}` is not valid UTF-8"),
        )
    })
}

/// Creates (or empties) the file at `path` and writes `contents` (not
/// durable until synced).
pub async fn write(path: impl AsRef<str>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    File::create(path).await?.write_all(contents.as_ref()).await
}

/// Renames `from` to `to`, replacing a file at `to` (durable once the
/// directories are synced).
pub async fn rename(from: impl AsRef<str>, to: impl AsRef<str>) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    let group = current_group("bach::fs::rename");
    let label = Renamed(from, to);
    operate("rename", group, Op::Change, 0, &label, |disk| {
        disk.rename(from, to)
    })
    .await
}

/// Removes the file at `path` (durable once its directory is synced).
pub async fn remove_file(path: impl AsRef<str>) -> io::Result<()> {
    let path = path.as_ref();
    let group = current_group("bach::fs::remove_file");
    operate("remove_file", group, Op::Change, 0, path, |disk| {
        disk.remove_file(path)
    })
    .await
}

/// Creates the directory `path` (its parent must exist).
pub async fn create_dir(path: impl AsRef<str>) -> io::Result<()> {
    let path = path.as_ref();
    let group = current_group("bach::fs::create_dir");
    operate("create_dir", group, Op::Change, 0, path, |disk| {
        disk.create_dir(path)
    })
    .await
}

/// Creates the directory `path` and every missing parent.
pub async fn create_dir_all(path: impl AsRef<str>) -> io::Result<()> {
    let path = path.as_ref();
    let group = current_group("bach::fs::create_dir_all");
    operate("create_dir_all", group, Op::Change, 0, path, |disk| {
        disk.create_dir_all(path)
    })
    .await
}

/// Removes the empty directory `path`.
pub async fn remove_dir(path: impl AsRef<str>) -> io::Result<()> {
    let path = path.as_ref();
    let group = current_group("bach::fs::remove_dir");
    operate("remove_dir", group, Op::Change, 0, path, |disk| {
        disk.remove_dir(path)
    })
    .await
}

/// The entries of the directory `path`, in name order.
pub async fn read_dir(path: impl AsRef<str>) -> io::Result<ReadDir> {
    let path = path.as_ref();
    let group = current_group("bach::fs::read_dir");
    let listed = operate("read_dir", group, Op::Look, 0, path, |disk| {
        disk.read_dir(path)
    })
    .await?;
    Ok(ReadDir {
        entries: entries(path, listed).into_iter(),
    })
}

/// A directory's entries as the API shows them.
fn entries(path: &str, entries: Vec<disk::DirEntry>) -> Vec<DirEntry> {
    let base = path.trim_end_matches('/');
    entries
        .into_iter()
        .map(|entry| DirEntry {
            path: format!("{base}/{}", entry.name),
            name: entry.name,
            metadata: Metadata::from_disk(entry.metadata),
        })
        .collect()
}

/// Metadata of the file or directory at `path`.
pub async fn metadata(path: impl AsRef<str>) -> io::Result<Metadata> {
    let path = path.as_ref();
    let group = current_group("bach::fs::metadata");
    operate("metadata", group, Op::Look, 0, path, |disk| {
        disk.metadata(path).map(Metadata::from_disk)
    })
    .await
}

/// Whether something exists at `path` (`Ok(false)` for `NotFound`).
pub async fn try_exists(path: impl AsRef<str>) -> io::Result<bool> {
    match metadata(path).await {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}
