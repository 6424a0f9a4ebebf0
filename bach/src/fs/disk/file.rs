//! One regular file's bytes: what reads see, what is durable, and the
//! unsynced changes between the two.
//!
//! The page cache (`data`) is the durable bytes (`durable`) with every
//! unsynced change applied, in issue order. The changes are logged
//! (`pending`): writes as ranges, and length changes (`set_len`, a
//! truncating open). A sync replays the log onto the durable copy, copying
//! each logged range from the page cache (whose bytes are the final ones),
//! so it costs the bytes changed, not the file's size. A crash replays the
//! changes the fault model keeps onto the durable copy and makes the result
//! both views; for that it needs each write's bytes as issued, so they are
//! kept in one buffer (`pending_bytes`) unless the model keeps nothing
//! unsynced (then consecutive overlapping or adjacent writes share one log
//! range: appends and rewrites of one page keep the log one entry long).
//!
//! Both buffers and the log are cleared, never dropped, by a sync: a loop
//! of writes and syncs over the same bytes allocates nothing once they have
//! reached their working size.

use super::{DiskConfig, UnsyncedWrites};

/// A regular file's contents (see the [module docs](self)).
#[derive(Clone, Debug, Default, Hash)]
pub(super) struct FileData {
    /// What reads see: the durable bytes with every pending change applied.
    data: Vec<u8>,
    /// What survives a crash for certain: the bytes as of the last sync.
    durable: Vec<u8>,
    /// The unsynced changes, in issue order.
    pending: Vec<Pending>,
    /// The bytes of the pending writes, when the crash model may keep some
    /// (empty under [`UnsyncedWrites::Lost`]).
    pending_bytes: Vec<u8>,
    /// Writes and length changes since the last sync (the log may hold
    /// fewer entries: merged ranges).
    unsynced_changes: usize,
    /// Bytes written since the last sync.
    unsynced_bytes: u64,
}

/// One unsynced change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Pending {
    /// `len` bytes written at `offset`; with kept bytes, they are
    /// `pending_bytes[start..start + len]`.
    Write {
        offset: usize,
        len: usize,
        start: usize,
    },
    /// The length set to `len` (zero-filling when it grows).
    SetLen { len: usize },
}

/// What a crash did to one file's unsynced changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Settled {
    /// Unsynced writes and length changes at the crash.
    pub(super) changes: usize,
    /// How many of them did not persist at all.
    pub(super) lost: usize,
    /// How many writes persisted only their leading sectors.
    pub(super) torn: usize,
    /// Unsynced bytes that did not persist.
    pub(super) bytes: u64,
}

impl Settled {
    /// Whether the crash lost anything of the file's unsynced changes.
    pub(super) fn lost_anything(&self) -> bool {
        self.lost > 0 || self.torn > 0 || self.bytes > 0
    }
}

impl FileData {
    /// The length reads see.
    pub(super) fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Copies the bytes at `offset` into `buf`; how many (0 at or past the
    /// end).
    pub(super) fn read(&self, offset: u64, buf: &mut [u8]) -> usize {
        let Ok(offset) = usize::try_from(offset) else {
            return 0;
        };
        let Some(rest) = self.data.get(offset..) else {
            return 0;
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        n
    }

    /// Writes `bytes` at `offset` into the page cache (zero-filling a gap
    /// past the end) and logs the write; `keep_bytes` keeps a copy of the
    /// bytes for a crash to replay.
    pub(super) fn write(&mut self, offset: usize, bytes: &[u8], keep_bytes: bool) {
        if bytes.is_empty() {
            return;
        }
        let end = offset + bytes.len();
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[offset..end].copy_from_slice(bytes);
        self.unsynced_changes += 1;
        self.unsynced_bytes += bytes.len() as u64;
        if keep_bytes {
            let start = self.pending_bytes.len();
            self.pending_bytes.extend_from_slice(bytes);
            self.pending.push(Pending::Write {
                offset,
                len: bytes.len(),
                start,
            });
            return;
        }
        // Without kept bytes a logged range only says "copy this from the
        // page cache at the next sync": overlapping or adjacent ranges merge.
        if let Some(Pending::Write {
            offset: last,
            len: last_len,
            ..
        }) = self.pending.last_mut()
        {
            if offset <= *last + *last_len && *last <= end {
                let start = (*last).min(offset);
                *last_len = (*last + *last_len).max(end) - start;
                *last = start;
                return;
            }
        }
        self.pending.push(Pending::Write {
            offset,
            len: bytes.len(),
            start: 0,
        });
    }

    /// Sets the length (cutting, or zero-filling when it grows) and logs
    /// the change; a length that does not change is no change.
    pub(super) fn set_len(&mut self, len: usize) {
        if len == self.data.len() {
            return;
        }
        self.data.resize(len, 0);
        self.unsynced_changes += 1;
        self.pending.push(Pending::SetLen { len });
    }

    /// Whether everything reads see is durable.
    #[cfg(test)]
    pub(super) fn is_synced(&self) -> bool {
        self.unsynced_changes == 0
    }

    /// The unsynced writes and length changes, and the bytes written,
    /// since the last sync.
    pub(super) fn unsynced(&self) -> (usize, u64) {
        (self.unsynced_changes, self.unsynced_bytes)
    }

    /// Makes the page cache durable: replays the log onto the durable
    /// copy, each write's range copied from the page cache.
    ///
    /// Why this equals copying the whole file: replaying the changes in
    /// order keeps the durable copy's length equal to the page cache's
    /// length at that point of the history, so every zero-filled gap and
    /// every cut lands where it did in the page cache; a byte last set by a
    /// write gets its final value from the page cache, a byte last set by a
    /// cut and a regrowth is zero in both, and a byte no change touched was
    /// already equal.
    pub(super) fn sync(&mut self) {
        for change in &self.pending {
            match *change {
                Pending::SetLen { len } => self.durable.resize(len, 0),
                Pending::Write { offset, len, .. } => {
                    let end = offset + len;
                    if self.durable.len() < end {
                        self.durable.resize(end, 0);
                    }
                    // A later cut may have shortened the page cache; that
                    // cut is replayed after this.
                    let copied = end.min(self.data.len());
                    if offset < copied {
                        self.durable[offset..copied].copy_from_slice(&self.data[offset..copied]);
                    }
                }
            }
        }
        debug_assert_eq!(self.durable.len(), self.data.len());
        self.pending.clear();
        self.pending_bytes.clear();
        self.unsynced_changes = 0;
        self.unsynced_bytes = 0;
    }

    /// A crash: the durable bytes with the unsynced changes the fault model
    /// keeps (as `choose` decides) applied in issue order become both
    /// views. See the [`Disk::crash`](super::Disk::crash) docs for the
    /// choices asked.
    pub(super) fn settle(
        &mut self,
        config: &DiskConfig,
        choose: &mut dyn FnMut(usize) -> usize,
    ) -> Settled {
        let mut settled = Settled {
            changes: self.unsynced_changes,
            lost: self.unsynced_changes,
            torn: 0,
            bytes: self.unsynced_bytes,
        };
        let pending = std::mem::take(&mut self.pending);
        match config.unsynced_writes {
            UnsyncedWrites::Lost => {}
            UnsyncedWrites::InOrder => {
                let kept = if pending.is_empty() {
                    0
                } else {
                    choose(pending.len() + 1)
                };
                for (i, change) in pending[..kept].iter().enumerate() {
                    // Only the write the crash interrupted can be torn.
                    let may_tear = config.torn_writes && i + 1 == kept;
                    self.persist(*change, may_tear, config.sector_size, choose, &mut settled);
                }
            }
            UnsyncedWrites::Reordered => {
                for change in &pending {
                    if choose(2) == 1 {
                        self.persist(
                            *change,
                            config.torn_writes,
                            config.sector_size,
                            choose,
                            &mut settled,
                        );
                    }
                }
            }
        }
        self.pending = pending;
        self.pending.clear();
        self.pending_bytes.clear();
        self.data.clone_from(&self.durable);
        self.unsynced_changes = 0;
        self.unsynced_bytes = 0;
        settled
    }

    /// Applies one unsynced change to the durable copy; a write spanning
    /// several sectors, when `may_tear`, keeps only as many leading
    /// sectors as `choose` leaves (choice `c` of `k` cuts the last `c`).
    fn persist(
        &mut self,
        change: Pending,
        may_tear: bool,
        sector_size: u64,
        choose: &mut dyn FnMut(usize) -> usize,
        settled: &mut Settled,
    ) {
        settled.lost -= 1;
        match change {
            Pending::SetLen { len } => self.durable.resize(len, 0),
            Pending::Write { offset, len, start } => {
                let sectors = sectors_spanned(offset, len, sector_size);
                let cut = if may_tear && sectors > 1 {
                    choose(sectors)
                } else {
                    0
                };
                let kept = if cut == 0 {
                    len
                } else {
                    settled.torn += 1;
                    let first = offset as u64 / sector_size;
                    let kept_end = (first + (sectors - cut) as u64) * sector_size;
                    (kept_end - offset as u64) as usize
                };
                let end = offset + kept;
                if self.durable.len() < end {
                    self.durable.resize(end, 0);
                }
                self.durable[offset..end].copy_from_slice(&self.pending_bytes[start..start + kept]);
                settled.bytes -= kept as u64;
            }
        }
    }

    /// Flips a fixed bit of every byte of sector `sector` (bit `p % 8` of
    /// the byte at file offset `p`) in every copy of those bytes: the page
    /// cache, the durable copy and the kept bytes of pending writes, so
    /// reads, syncs and crashes all see the rot until the bytes are
    /// written again. False when the sector is past the end of both views.
    pub(super) fn rot(&mut self, sector: u64, sector_size: u64) -> bool {
        let Some(start) = sector
            .checked_mul(sector_size)
            .and_then(|start| usize::try_from(start).ok())
        else {
            return false;
        };
        if start >= self.data.len() && start >= self.durable.len() {
            return false;
        }
        let end = start.saturating_add(sector_size as usize);
        flip(&mut self.data, 0, start, end);
        flip(&mut self.durable, 0, start, end);
        for change in &self.pending {
            if let Pending::Write {
                offset,
                len,
                start: at,
            } = *change
            {
                if at + len <= self.pending_bytes.len() && offset < end && start < offset + len {
                    flip(&mut self.pending_bytes[at..at + len], offset, start, end);
                }
            }
        }
        true
    }

    /// The heap buffers' addresses and capacities, for tests that check a
    /// steady state reuses them.
    #[cfg(test)]
    pub(super) fn buffers(&self) -> [(usize, usize); 4] {
        [
            (self.data.as_ptr() as usize, self.data.capacity()),
            (self.durable.as_ptr() as usize, self.durable.capacity()),
            (self.pending.as_ptr() as usize, self.pending.capacity()),
            (
                self.pending_bytes.as_ptr() as usize,
                self.pending_bytes.capacity(),
            ),
        ]
    }

    /// The durable bytes, for tests.
    #[cfg(test)]
    pub(super) fn durable(&self) -> &[u8] {
        &self.durable
    }
}

/// How many sectors of `sector_size` bytes the `len` bytes at `offset`
/// touch (at least 1).
fn sectors_spanned(offset: usize, len: usize, sector_size: u64) -> usize {
    let first = offset as u64 / sector_size;
    let last = (offset + len.max(1) - 1) as u64 / sector_size;
    (last - first + 1) as usize
}

/// The rot pattern over the file offsets `start..end` of `bytes`, which
/// hold the file's bytes from offset `base` on.
fn flip(bytes: &mut [u8], base: usize, start: usize, end: usize) {
    let from = start.max(base);
    let to = end.min(base + bytes.len());
    for offset in from..to {
        bytes[offset - base] ^= 1 << (offset % 8);
    }
}
