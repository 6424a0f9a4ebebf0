//! The storage engine: each node's disk ([`super::disk::Disk`]), created
//! the first time the node touches it, with the node's [`DiskOptions`] and
//! what its operations did (counted, for the report and the trace).
//!
//! The world owns one [`Disks`]. The user-facing calls (`fs`) reach it
//! through the world; a crash (`node::crash_in`) hands it the kernel, whose
//! choice source decides what the disk's fault model leaves
//! ([`node_crashed`]). A simulation that never touches `bach::fs` never
//! creates a disk, and a crash of a node without one costs a map look-up.

use super::disk::{CrashReport, Disk, DiskConfig};
use crate::{group::table::GroupId, kernel::Kernel, trace::recorder::RawKind};
use std::{cell::RefCell, collections::BTreeMap, rc::Rc, time::Duration};

/// How one node's disk behaves: what a crash keeps ([`DiskConfig`]), how
/// long its operations take, which of them fail, and where a search may
/// crash the node. The defaults: the strict crash model, instant
/// operations, no faults.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskOptions {
    /// The disk model: sector size, capacity, and which unsynced changes a
    /// crash may keep. Default [`DiskConfig::default`].
    pub model: DiskConfig,
    /// Simulated time every read, write, sync and change (of a name or a
    /// length) takes; looking (metadata, listings, opening an existing
    /// file, seeking) takes none. Default zero (no timer).
    pub latency: Duration,
    /// Extra simulated time per sync (on top of `latency`): flushing to
    /// the medium is the slow part. Default zero.
    pub sync_latency: Duration,
    /// Extra simulated time per byte read or written. Default zero.
    pub latency_per_byte: Duration,
    /// Up to this much more simulated time per operation, uniformly
    /// drawn from the choice source. Default zero (nothing drawn).
    pub latency_jitter: Duration,
    /// Probability that a read, a write or a sync fails with an I/O error
    /// (`io::ErrorKind::Other`, "injected I/O error"). Default 0.
    pub error_probability: f64,
    /// A sync that never completes (a stuck `fsync`): the probability that
    /// a sync hangs until the node crashes. Default 0.
    pub stuck_sync_probability: f64,
    /// How many times one run may crash the node at a crash point: right
    /// after one of its writes, length changes, syncs, creations, renames
    /// or removals took effect. Default 0 (no crash points). Under model
    /// checking every such point is a choice of the checker instead,
    /// spending [`Explorer::max_crashes`](crate::check::Explorer::max_crashes)
    /// (whatever this count).
    pub crash_points: u32,
    /// The probability that a crash point crashes the node, per point,
    /// while `crash_points` lasts. Searches that enumerate values
    /// ([`Explorer::enumerate_values`](crate::check::Explorer::enumerate_values))
    /// try both outcomes at every point instead. Default 0.05.
    pub crash_probability: f64,
}

impl Default for DiskOptions {
    fn default() -> Self {
        Self {
            model: DiskConfig::default(),
            latency: Duration::ZERO,
            sync_latency: Duration::ZERO,
            latency_per_byte: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            error_probability: 0.0,
            stuck_sync_probability: 0.0,
            crash_points: 0,
            crash_probability: 0.05,
        }
    }
}

/// What one node's disk operations did since the simulation started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DiskCounters {
    /// Bytes written (to the page cache).
    pub bytes_written: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Syncs of files and directories that completed.
    pub syncs: u64,
    /// Operations failed by an injected I/O error.
    pub injected_errors: u64,
    /// Syncs that hung.
    pub stuck_syncs: u64,
    /// Sectors rotted ([`rot`](crate::fs::rot)).
    pub sectors_rotted: u64,
    /// Crashes of the node taken at a crash point.
    pub crash_points_taken: u64,
    /// Crashes of the node while it had a disk.
    pub crashes: u64,
    /// Bytes of file data the disk holds now, in whole sectors.
    pub bytes_used: u64,
    /// Bytes of unsynced writes crashes discarded.
    pub bytes_lost: u64,
}

/// One node's disk and its settings.
#[derive(Clone)]
pub(crate) struct NodeDisk {
    pub(crate) disk: Disk,
    pub(crate) options: DiskOptions,
    pub(crate) counters: DiskCounters,
    /// Crash points this run may still take.
    pub(crate) crash_points_left: u32,
    /// Scripted failures still to come: the next this many reads, writes
    /// and syncs fail ([`Faulty`] order).
    pub(crate) fail_next: [u32; 3],
}

/// The operations a script can fail ([`fail_next`](crate::fs::fail_next)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Faulty {
    /// Reads of file bytes.
    Read,
    /// Writes of file bytes.
    Write,
    /// Syncs of files and directories.
    Sync,
}

impl NodeDisk {
    fn new(options: DiskOptions) -> Self {
        Self {
            disk: Disk::new(options.model.clone()),
            counters: DiskCounters::default(),
            crash_points_left: options.crash_points,
            fail_next: [0; 3],
            options,
        }
    }
}

/// Every node's disk, created when the node first touches it or sets its
/// options.
#[derive(Clone, Default)]
pub(crate) struct Disks {
    disks: BTreeMap<GroupId, NodeDisk>,
}

impl Disks {
    /// Sets the options of `group`'s disk (created with them if it does
    /// not exist). The model of a disk that exists already cannot change
    /// (its contents were laid out with it): an error naming `node` says
    /// so.
    pub(crate) fn set_options(
        &mut self,
        group: GroupId,
        node: &str,
        options: DiskOptions,
    ) -> std::io::Result<()> {
        match self.disks.get_mut(&group) {
            Some(disk) if *disk.disk.config() != options.model => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the disk of node `{node}` exists already: its model (sector size, \
                     capacity, crash faults) cannot change; set it before the node first \
                     touches its disk"
                ),
            )),
            Some(disk) => {
                disk.crash_points_left = options.crash_points;
                disk.options = options;
                Ok(())
            }
            None => {
                self.disks.insert(group, NodeDisk::new(options));
                Ok(())
            }
        }
    }

    /// `group`'s disk, created empty with the default options the first
    /// time.
    pub(crate) fn disk(&mut self, group: GroupId) -> &mut NodeDisk {
        self.disks
            .entry(group)
            .or_insert_with(|| NodeDisk::new(DiskOptions::default()))
    }

    /// `group`'s counters (zero if it has no disk).
    pub(crate) fn counters(&self, group: GroupId) -> DiskCounters {
        self.disks
            .get(&group)
            .map(|node| DiskCounters {
                bytes_used: node.disk.used(),
                ..node.counters
            })
            .unwrap_or_default()
    }

    /// Hashes every disk, in node order (for model checking's
    /// fingerprints).
    pub(crate) fn hash_into(&self, hasher: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        for (group, node) in &self.disks {
            group.hash(hasher);
            node.disk.hash(hasher);
            node.crash_points_left.hash(hasher);
            node.fail_next.hash(hasher);
        }
    }
}

/// Node `group` crashed: its disk keeps what was durable and what its
/// fault model, asked through the kernel's choice source, lets survive.
/// The trace says what was lost.
pub(crate) fn node_crashed(kernel: &Kernel, disks: &RefCell<Disks>, group: GroupId) {
    let report: CrashReport = {
        let mut disks = disks.borrow_mut();
        let Some(node) = disks.disks.get_mut(&group) else {
            return;
        };
        let report = node
            .disk
            .crash(&mut |options| kernel.rand.borrow_mut().choose(options));
        node.counters.crashes += 1;
        node.counters.bytes_lost += report.data.iter().map(|lost| lost.bytes).sum::<u64>();
        report
    };
    if kernel.trace.enabled() && !report.is_empty() {
        let line: Rc<str> = format!("disk lost in the crash: {report}").into();
        kernel.trace_event(RawKind::Note(line));
    }
}
