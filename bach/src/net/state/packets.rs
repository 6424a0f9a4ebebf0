//! Packets in flight: one cache line each, stored in chunks by key, with
//! the flags of each copy and the arrival batches that share a queue entry.

use super::*;

/// [`Socket::process`] of a socket that is no process's port.
pub(super) const NO_PROCESS: u32 = u32::MAX;

/// Packet keys use the low bits of `Packet::link`, flags the high ones.
pub(super) const KEY_BITS: u32 = 28;
/// No batch list (and one more than the largest key).
pub(super) const NONE: u32 = (1 << KEY_BITS) - 1;
/// This copy is an extra one made by duplication.
pub(super) const DUPLICATE: u32 = 1 << KEY_BITS;
/// This copy's payload was corrupted.
pub(super) const CORRUPTED: u32 = 1 << (KEY_BITS + 1);
/// A monitor made this copy.
pub(super) const MONITOR_COPY: u32 = 1 << (KEY_BITS + 2);
/// The receive monitors already saw this copy.
pub(super) const RECEIVED: u32 = 1 << (KEY_BITS + 3);

/// A packet copy, from the moment it is sent until it is received or
/// dropped: first in flight (in an arrival batch), then, once delivered,
/// queued in its socket's receive buffer by key. It never moves in between.
///
/// Exactly one cache line: with a million packets at once, each arrival
/// and each receive costs one memory access, not two.
#[repr(align(64))]
pub(super) struct Packet {
    pub(super) payload: Payload,
    pub(super) id: u64,
    /// Delay added by monitors, for the capture comment.
    pub(super) delayed: u64,
    /// When the copy leaves its sender (after bandwidth queueing): a crash
    /// of the sender before then discards it.
    pub(super) departs: u64,
    pub(super) from: NodeId,
    pub(super) to: NodeId,
    pub(super) src_port: u16,
    pub(super) dst_port: u16,
    /// In the low `KEY_BITS` bits, for the head of an arrival batch: the
    /// batch's key list (`NONE` for a batch of one, see [`Batch`]); flags
    /// above.
    pub(super) link: u32,
}

// The slot of a packet (`Option<Packet>`, using the payload's niche) is one
// cache line.
const _: () = assert!(std::mem::size_of::<Option<Packet>>() == 64);

impl Packet {
    /// A copy of the datagram `head` describes, leaving its sender at
    /// `departs`, delayed by monitors by `delayed`, with copy `flags`
    /// (see [`flags`]): every packet is made here.
    #[inline(always)]
    pub(super) fn new(
        head: &Head,
        payload: Payload,
        departs: u64,
        delayed: u64,
        flags: u32,
    ) -> Packet {
        let ((from, src_port), (to, dst_port)) = head.ends;
        Packet {
            payload,
            id: head.id,
            delayed,
            departs,
            from,
            to,
            src_port,
            dst_port,
            link: NONE | flags,
        }
    }

    #[inline]
    pub(super) fn batch_list(&self) -> u32 {
        self.link & NONE
    }

    #[inline]
    pub(super) fn set_batch_list(&mut self, list: u32) {
        self.link = (self.link & !NONE) | list;
    }

    #[inline]
    pub(super) fn has(&self, flag: u32) -> bool {
        self.link & flag != 0
    }

    #[inline]
    pub(super) fn set(&mut self, flag: u32) {
        self.link |= flag;
    }
}

/// The flags of a copy, as `Packet::link` bits.
#[inline]
pub(super) fn flags(duplicate: bool, corrupted: bool, monitor_copy: bool, received: bool) -> u32 {
    (u32::from(duplicate) * DUPLICATE)
        | (u32::from(corrupted) * CORRUPTED)
        | (u32::from(monitor_copy) * MONITOR_COPY)
        | (u32::from(received) * RECEIVED)
}

/// Packets arriving at the same instant, scheduled back to back: one
/// timer-queue entry (`TimerEvent::Deliver(head)`). A packet joins the
/// newest batch only if it arrives at the same instant and nothing else was
/// put on the queue since, which is exactly when a separate entry would have
/// fired right after the batch: batching changes no order, it only saves a
/// queue entry per packet.
///
/// A batch of one packet is just its head (its `Packet::batch_list` is
/// `NONE`). A larger batch keeps its keys, head first, in a list of
/// [`State::batch_lists`] whose index is the head's `batch_list`. A list
/// rather than a chain through the packets: delivering a million packets
/// then reads the keys ahead and prefetches the packets, instead of
/// chasing one cache miss after another.
#[derive(Clone, Copy)]
pub(super) struct Batch {
    pub(super) head: u32,
    /// The batch's key list, `NONE` while the batch is only its head.
    pub(super) list: u32,
    pub(super) at: u64,
    /// `Inner::timer_inserts` when the batch was scheduled.
    pub(super) inserts: u64,
}

/// Packet storage: a slab with a LIFO free list, so keys stay dense and
/// recently freed (cache-warm) slots are reused first.
///
/// Slots live in fixed-size chunks that never move: growing never copies
/// (a cache-line-aligned `Vec` would be reallocated by copying, a million
/// packets at a time) and a packet's address is stable.
#[derive(Default)]
pub(super) struct Packets {
    /// Each chunk is allocated with room for `CHUNK` slots and filled as
    /// fresh keys are handed out (never reallocated, never zeroed ahead).
    pub(super) chunks: Vec<Vec<Option<Packet>>>,
    /// Keys handed out so far from fresh chunk space.
    pub(super) fresh: u32,
    pub(super) free: Vec<u32>,
    /// Packets scheduled and not yet arrived.
    pub(super) in_flight: usize,
}

/// Slots per chunk (64 KiB).
pub(super) const CHUNK_BITS: u32 = 10;
pub(super) const CHUNK: usize = 1 << CHUNK_BITS;

thread_local! {
    /// An emptied first chunk of a dropped simulation's packet storage, for
    /// the next simulation on this thread: allocating and freeing 64 KiB for
    /// every short simulation (a model checker runs one per execution) costs
    /// more than its packets.
    static SPARE_CHUNK: std::cell::Cell<Vec<Option<Packet>>> = const { std::cell::Cell::new(Vec::new()) };
}

// Copied for model-checking checkpoints; `clone_from` reuses the
// destination's chunks and payload buffers.
impl Clone for Packet {
    fn clone(&self) -> Self {
        Self {
            payload: self.payload.clone(),
            id: self.id,
            delayed: self.delayed,
            departs: self.departs,
            from: self.from,
            to: self.to,
            src_port: self.src_port,
            dst_port: self.dst_port,
            link: self.link,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.payload.clone_from(&source.payload);
        self.id = source.id;
        self.delayed = source.delayed;
        self.departs = source.departs;
        self.from = source.from;
        self.to = source.to;
        self.src_port = source.src_port;
        self.dst_port = source.dst_port;
        self.link = source.link;
    }
}

impl Clone for Packets {
    fn clone(&self) -> Self {
        let mut copy = Packets::default();
        copy.clone_from(self);
        copy
    }

    fn clone_from(&mut self, source: &Self) {
        self.chunks.truncate(source.chunks.len());
        for (index, chunk) in source.chunks.iter().enumerate() {
            match self.chunks.get_mut(index) {
                Some(mine) => mine.clone_from(chunk),
                None => {
                    let mut mine = Vec::with_capacity(CHUNK);
                    mine.extend(chunk.iter().cloned());
                    self.chunks.push(mine);
                }
            }
        }
        self.fresh = source.fresh;
        self.free.clone_from(&source.free);
        self.in_flight = source.in_flight;
    }
}

impl Packets {
    #[inline(always)]
    pub(super) fn slot(&mut self, key: u32) -> &mut Option<Packet> {
        &mut self.chunks[(key >> CHUNK_BITS) as usize][key as usize & (CHUNK - 1)]
    }

    #[inline(always)]
    pub(super) fn insert(&mut self, packet: Packet) -> u32 {
        let Some(key) = self.free.pop() else {
            return self.insert_fresh(packet);
        };
        // A free slot holds nothing to drop.
        std::mem::forget(self.slot(key).replace(packet));
        // Freed slots are scattered (packets are received in another
        // order than sent): request the next one early.
        if let Some(&next) = self.free.last() {
            self.prefetch(next);
        }
        key
    }

    /// [`Packets::insert`] when no freed slot is left: the next fresh key,
    /// starting a chunk when the last one is full.
    #[cold]
    #[inline(never)]
    pub(super) fn insert_fresh(&mut self, packet: Packet) -> u32 {
        let key = self.fresh;
        assert!(key < NONE, "fewer than 2^28 - 1 packets at once");
        if key as usize & (CHUNK - 1) == 0 {
            let chunk = match key {
                0 => SPARE_CHUNK
                    .try_with(|spare| spare.take())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            self.chunks.push(if chunk.capacity() == CHUNK {
                chunk
            } else {
                Vec::with_capacity(CHUNK)
            });
        }
        self.fresh += 1;
        self.chunks
            .last_mut()
            .expect("a chunk for the fresh key")
            .push(Some(packet));
        key
    }

    #[inline]
    pub(super) fn get(&self, key: u32) -> &Packet {
        self.chunks[(key >> CHUNK_BITS) as usize][key as usize & (CHUNK - 1)]
            .as_ref()
            .expect("a packet key refers to a live packet")
    }

    #[inline]
    pub(super) fn get_mut(&mut self, key: u32) -> &mut Packet {
        self.slot(key)
            .as_mut()
            .expect("a packet key refers to a live packet")
    }

    /// Frees a packet that is no longer needed, its payload buffer (if it
    /// has one) going back to `pool`. Unlike [`Packets::remove`] the packet
    /// is not moved out: a receive only reads the payload, then frees it.
    #[inline(always)]
    pub(super) fn discard(&mut self, key: u32, pool: &mut Pool) {
        let slot = self.slot(key);
        let packet = slot.as_mut().expect("a packet key refers to a live packet");
        if let Payload::Heap(buffer) = &mut packet.payload {
            pool.recycle(Payload::Heap(std::mem::take(buffer)));
        }
        *slot = None;
        self.free.push(key);
    }

    /// Frees a packet, moving out only its payload.
    #[inline(always)]
    pub(super) fn take_payload(&mut self, key: u32) -> Payload {
        let slot = self.slot(key);
        let packet = slot.as_mut().expect("a packet key refers to a live packet");
        let payload = std::mem::replace(&mut packet.payload, Payload::EMPTY);
        *slot = None;
        self.free.push(key);
        payload
    }

    #[inline]
    pub(super) fn remove(&mut self, key: u32) -> Packet {
        let packet = self
            .slot(key)
            .take()
            .expect("a packet key refers to a live packet");
        self.free.push(key);
        packet
    }

    /// Drops every packet (their heap payloads go back to `pool`); the
    /// first chunk is kept for the thread's next simulation.
    pub(super) fn clear(&mut self, pool: &mut Pool) {
        for chunk in &mut self.chunks {
            for packet in chunk.drain(..).flatten() {
                pool.recycle(packet.payload);
            }
        }
        if !self.chunks.is_empty() {
            let first = self.chunks.swap_remove(0);
            let _ = SPARE_CHUNK.try_with(|spare| {
                let kept = spare.take();
                spare.set(if kept.capacity() == CHUNK {
                    kept
                } else {
                    first
                });
            });
        }
        self.chunks.clear();
        self.fresh = 0;
        self.free.clear();
        self.in_flight = 0;
    }

    /// Hints the CPU to load a packet that will be read soon.
    ///
    /// A receive buffer holds packets from many senders, scattered through
    /// the slab in send order; with a million packets at once each read is a
    /// cache miss unless it was requested a few datagrams earlier.
    #[inline]
    pub(super) fn prefetch(&self, key: u32) {
        #[cfg(target_arch = "x86_64")]
        if let Some(chunk) = self.chunks.get((key >> CHUNK_BITS) as usize) {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // The slot's address, unchecked: a prefetch never faults.
            let slot = chunk.as_ptr().wrapping_add(key as usize & (CHUNK - 1));
            // SAFETY: prefetching has no memory-safety preconditions.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(slot.cast());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }
}
