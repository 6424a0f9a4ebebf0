//! The simulation's timer queue: a 4-ary min-heap of `(deadline, seq)`.
//!
//! (Over 600 lines on purpose: the heap, the keyless lane and the entry
//! slab are one data structure whose firing order spans all three, and its
//! model test sits with it.)
//!
//! Time is a `u64` count of nanoseconds. Entries live in a `slab` (their
//! [`TimerKey`] is the slab index, stable while the entry lives); the heap holds
//! `(deadline, seq, key)` items, where `seq` counts insertions, so entries
//! with equal deadlines fire first-in, first-out and the order is total:
//! the same operations always fire entries in the same order.
//!
//! Why a heap and not a hierarchical wheel: a simulation's timers are
//! sparse in time (a packet's arrival, a pacing sleep, a retransmission
//! timeout), and with a few dozen pending entries a heap inserts and pops in
//! a handful of comparisons, where a wheel files an entry at a high level
//! and cascades it down before it fires. At 200k concurrent timers the heap
//! is still cheaper than cascading (four children share a cache line or two,
//! nine levels deep).
//!
//! Cancelling is lazy: the entry leaves the slab (or is marked expired) and
//! its heap item stays, recognised as stale by its `seq` when it surfaces.
//! The top item is always live (stale tops are discarded as they appear),
//! so [`TimerQueue::peek`] is exact, and the heap is rebuilt without its
//! stale items once they outnumber live ones, so cancellation is amortised
//! O(1) and memory stays proportional to pending entries.
//!
//! An entry is owned by whoever inserted it: expiring it only hands out its
//! value; the owner frees it with [`TimerQueue::remove`], which also works
//! on entries that have not expired (cancellation).
//!
//! Keyless entries ([`TimerQueue::insert_keyless`]) are for events nobody
//! cancels or looks up (a packet's arrival). While their deadlines come in
//! order, as they do when every packet takes the same time to arrive, they
//! wait in a FIFO lane beside the heap: no slab entry, no sifting. Popping
//! takes the earlier of the heap's top and the lane's front by
//! `(deadline, seq)`, so the order is the one a single heap would give.

/// Children per heap node.
const ARITY: usize = 4;

/// A handle to one entry of a [`TimerQueue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerKey(u32);

impl TimerKey {
    /// A key that names no entry (an event that is not a timer).
    pub(crate) const UNUSED: TimerKey = TimerKey(u32::MAX);
}

#[derive(Clone, Debug)]
struct Entry<T> {
    deadline: u64,
    /// The insertion number of the entry's heap item.
    seq: u64,
    value: Option<T>,
    /// Whether the entry waits in the heap (false once expired).
    queued: bool,
}

/// The entries by key: a slab whose vacant slots form a free list, the
/// most recently freed reused first. Written here rather than taken from
/// the `slab` crate so that an insert and a removal inline into the run
/// loop (every packet's arrival is one of each).
#[derive(Debug)]
struct Entries<T> {
    slots: Vec<Slot<T>>,
    /// The first vacant slot; `slots.len()` if there is none.
    next_free: u32,
}

#[derive(Clone, Debug)]
enum Slot<T> {
    Vacant { next: u32 },
    Occupied(Entry<T>),
}

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            next_free: 0,
        }
    }
}

impl<T> Entries<T> {
    #[inline(always)]
    fn insert(&mut self, entry: Entry<T>) -> u32 {
        let key = self.next_free;
        match self.slots.get_mut(key as usize) {
            Some(slot) => {
                let Slot::Vacant { next } = *slot else {
                    unreachable!("the free list holds vacant slots only")
                };
                self.next_free = next;
                *slot = Slot::Occupied(entry);
            }
            None => {
                assert!(key < u32::MAX, "fewer than 2^32 - 1 timers at once");
                self.slots.push(Slot::Occupied(entry));
                self.next_free = key + 1;
            }
        }
        key
    }

    #[inline(always)]
    fn get(&self, key: u32) -> Option<&Entry<T>> {
        match self.slots.get(key as usize)? {
            Slot::Occupied(entry) => Some(entry),
            Slot::Vacant { .. } => None,
        }
    }

    #[inline(always)]
    fn get_mut(&mut self, key: u32) -> Option<&mut Entry<T>> {
        match self.slots.get_mut(key as usize)? {
            Slot::Occupied(entry) => Some(entry),
            Slot::Vacant { .. } => None,
        }
    }

    /// Frees the entry at `key`, if there is one.
    #[inline(always)]
    fn remove(&mut self, key: u32) -> Option<Entry<T>> {
        let slot = self.slots.get_mut(key as usize)?;
        if let Slot::Vacant { .. } = slot {
            return None;
        }
        let vacant = Slot::Vacant {
            next: self.next_free,
        };
        self.next_free = key;
        match std::mem::replace(slot, vacant) {
            Slot::Occupied(entry) => Some(entry),
            Slot::Vacant { .. } => unreachable!("checked above"),
        }
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &Entry<T>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(key, slot)| match slot {
                Slot::Occupied(entry) => Some((key as u32, entry)),
                Slot::Vacant { .. } => None,
            })
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.next_free = 0;
    }
}

// Checkpoints copy the entries; `clone_from` reuses the slots' storage.
impl<T: Clone> Clone for Entries<T> {
    fn clone(&self) -> Self {
        Self {
            slots: self.slots.clone(),
            next_free: self.next_free,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.slots.clone_from(&source.slots);
        self.next_free = source.next_free;
    }
}

/// One heap item; ordered by `(deadline, seq)`.
#[derive(Clone, Copy, Debug)]
struct Item {
    deadline: u64,
    seq: u64,
    key: u32,
}

impl Item {
    #[inline]
    fn before(&self, other: &Item) -> bool {
        (self.deadline, self.seq) < (other.deadline, other.seq)
    }
}

/// A keyless entry in the lane (`value` is `None` once popped).
#[derive(Clone, Debug)]
struct Laned<T> {
    deadline: u64,
    seq: u64,
    value: Option<T>,
}

/// The queue. `T` is what an expired entry hands back (a waker, an event).
pub(crate) struct TimerQueue<T> {
    /// The queue's notion of now: no entry expires before it.
    elapsed: u64,
    entries: Entries<T>,
    heap: Vec<Item>,
    next_seq: u64,
    /// Keyed entries queued and not expired (the heap's live items).
    queued: usize,
    /// Keyless entries, in `(deadline, seq)` order, at
    /// `lane_head..lane_tail`; the slots around them are consumed (`None`)
    /// and reused: once the lane empties, it starts over at slot 0, so a
    /// steady flow of arrivals writes slots in place and never grows it.
    lane: Vec<Laned<T>>,
    lane_head: usize,
    lane_tail: usize,
}

/// A queue's contents, saved by [`TimerQueue::save`].
pub(crate) struct SavedTimers<T> {
    elapsed: u64,
    entries: Entries<T>,
    heap: Vec<Item>,
    next_seq: u64,
    queued: usize,
    lane: Vec<Laned<T>>,
}

/// Consumed lane slots tolerated before the lane is compacted (and only
/// once they are half of it).
const LANE_COMPACT: usize = 64;

/// Stale items tolerated beyond the live ones before the heap is rebuilt.
const STALE_SLACK: usize = 64;

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerQueue<T> {
    pub(crate) fn new() -> Self {
        Self {
            elapsed: 0,
            entries: Entries::default(),
            heap: Vec::new(),
            next_seq: 0,
            queued: 0,
            lane: Vec::new(),
            lane_head: 0,
            lane_tail: 0,
        }
    }

    /// The queue's current time.
    #[cfg(test)]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of entries that have not expired yet.
    #[inline]
    pub(crate) fn pending(&self) -> usize {
        self.queued + self.lane_tail - self.lane_head
    }

    /// The lane's live entries.
    fn lane_entries(&self) -> &[Laned<T>] {
        &self.lane[self.lane_head..self.lane_tail]
    }

    /// The lane's first entry.
    #[inline(always)]
    fn lane_front(&self) -> Option<&Laned<T>> {
        match self.lane_head < self.lane_tail {
            true => self.lane.get(self.lane_head),
            false => None,
        }
    }

    /// The lane's last entry.
    #[inline(always)]
    fn lane_back(&self) -> Option<&Laned<T>> {
        match self.lane_head < self.lane_tail {
            true => self.lane.get(self.lane_tail - 1),
            false => None,
        }
    }

    /// Appends an entry to the lane.
    #[inline(always)]
    fn lane_push(&mut self, entry: Laned<T>) {
        match self.lane.get_mut(self.lane_tail) {
            Some(slot) => *slot = entry,
            None => self.lane.push(entry),
        }
        self.lane_tail += 1;
    }

    /// Removes the lane's first entry.
    #[inline(always)]
    fn lane_pop(&mut self) -> Option<T> {
        let value = self.lane[self.lane_head..self.lane_tail]
            .first_mut()?
            .value
            .take();
        self.lane_head += 1;
        if self.lane_head == self.lane_tail {
            self.lane_head = 0;
            self.lane_tail = 0;
        } else if self.lane_head >= LANE_COMPACT && 2 * self.lane_head >= self.lane_tail {
            self.compact_lane();
        }
        value
    }

    /// Moves the lane's live entries to its start (amortised: only once
    /// the consumed slots before them are as many).
    #[cold]
    fn compact_lane(&mut self) {
        self.lane[..self.lane_tail].rotate_left(self.lane_head);
        self.lane_tail -= self.lane_head;
        self.lane_head = 0;
    }

    /// Inserts an entry expiring at `deadline` (clamped to `elapsed`).
    #[inline(always)]
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let deadline = deadline.max(self.elapsed);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.enqueue(deadline, seq, value)
    }

    /// Files a keyed entry with its insertion number `seq`.
    #[inline(always)]
    fn enqueue(&mut self, deadline: u64, seq: u64, value: T) -> TimerKey {
        let key = self.entries.insert(Entry {
            deadline,
            seq,
            value: Some(value),
            queued: true,
        });
        self.queued += 1;
        self.push(Item { deadline, seq, key });
        TimerKey(key)
    }

    /// Inserts an entry that nobody will cancel, look up or free: it
    /// expires at `deadline` (clamped to `elapsed`) in order with every
    /// other entry, and popping it frees it. Kept in the lane while
    /// deadlines come in order, else keyed like any other.
    #[inline(always)]
    pub(crate) fn insert_keyless(&mut self, deadline: u64, value: T) {
        let deadline = deadline.max(self.elapsed);
        if self
            .lane_back()
            .is_some_and(|last| last.deadline > deadline)
        {
            self.insert(deadline, value);
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.lane_push(Laned {
            deadline,
            seq,
            value: Some(value),
        });
    }

    /// Gives every keyless entry a key (in place, same order), for a user
    /// that enumerates pending entries by key from now on.
    pub(crate) fn key_all(&mut self) {
        while let Some(&Laned { deadline, seq, .. }) = self.lane_front() {
            let value = self.lane_pop().expect("the lane has a front");
            self.enqueue(deadline, seq, value);
        }
    }

    /// The value of a not-yet-expired entry, to update it in place.
    #[inline]
    pub(crate) fn value_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        self.entries.get_mut(key.0)?.value.as_mut()
    }

    /// Whether the entry has expired (or was never valid).
    #[cfg(test)]
    pub(crate) fn is_expired(&self, key: TimerKey) -> bool {
        self.entries.get(key.0).is_none_or(|e| !e.queued)
    }

    /// Frees an entry, cancelling it if it has not expired. Returns its value
    /// if it had not been handed out.
    #[inline]
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        let entry = self.entries.remove(key.0)?;
        if entry.queued {
            self.dequeued(key.0, entry.seq);
        }
        entry.value
    }

    /// Every entry not yet expired, as `(key, deadline)`, ordered by
    /// deadline then key, into a reused vector (cleared first): for model
    /// checking, which fires entries in any order; not for hot paths.
    /// Keyless entries must have been keyed ([`TimerQueue::key_all`]).
    pub(crate) fn pending_entries_into(&self, pending: &mut Vec<(TimerKey, u64)>) {
        debug_assert!(self.lane_front().is_none(), "keyless entries have no key");
        pending.clear();
        pending.extend(
            self.entries
                .iter()
                .filter(|(_, entry)| entry.queued && entry.value.is_some())
                .map(|(key, entry)| (TimerKey(key), entry.deadline)),
        );
        pending.sort_unstable_by_key(|&(key, deadline)| (deadline, key.0));
    }

    /// The value of a pending entry, to inspect it.
    pub(crate) fn value(&self, key: TimerKey) -> Option<&T> {
        self.entries.get(key.0)?.value.as_ref()
    }

    /// Expires one pending entry now, out of deadline order (model
    /// checking): hands out its value, leaving the entry to be freed by its
    /// owner as if it had fired.
    pub(crate) fn take(&mut self, key: TimerKey) -> Option<T> {
        let entry = self.entries.get_mut(key.0)?;
        if !entry.queued {
            return None;
        }
        entry.queued = false;
        let (seq, value) = (entry.seq, entry.value.take());
        self.dequeued(key.0, seq);
        value
    }

    /// The exact earliest deadline, without changing the queue.
    #[inline]
    pub(crate) fn peek(&self) -> Option<u64> {
        match (self.heap.first(), self.lane_front()) {
            (Some(top), Some(front)) => Some(top.deadline.min(front.deadline)),
            (Some(top), None) => Some(top.deadline),
            (None, front) => front.map(|front| front.deadline),
        }
    }

    /// A copy of the queue's contents, for [`TimerQueue::restore`]:
    /// restoring gives every entry back its key, so handles held elsewhere
    /// stay valid and ties break as before.
    pub(crate) fn save(&self) -> SavedTimers<T>
    where
        T: Clone,
    {
        SavedTimers {
            elapsed: self.elapsed,
            entries: self.entries.clone(),
            heap: self.heap.clone(),
            next_seq: self.next_seq,
            queued: self.queued,
            lane: self.lane_entries().to_vec(),
        }
    }

    /// Puts the queue back as [`TimerQueue::save`] found it.
    pub(crate) fn restore(&mut self, saved: &SavedTimers<T>)
    where
        T: Clone,
    {
        self.elapsed = saved.elapsed;
        self.entries.clone_from(&saved.entries);
        self.heap.clone_from(&saved.heap);
        self.next_seq = saved.next_seq;
        self.queued = saved.queued;
        self.lane.clone_from(&saved.lane);
        self.lane_head = 0;
        self.lane_tail = saved.lane.len();
    }

    /// Moves `elapsed` to the earliest deadline, if it is `<= limit`, and
    /// returns that deadline; [`TimerQueue::pop_expired`] then hands out
    /// the entries due.
    #[inline]
    pub(crate) fn next_expiring(&mut self, limit: u64) -> Option<u64> {
        let deadline = self.peek().filter(|deadline| *deadline <= limit)?;
        self.elapsed = deadline;
        Some(deadline)
    }

    /// Pops one entry expiring exactly at `elapsed`, in insertion order:
    /// its key (`None` for a keyless entry, freed already) and value.
    #[cfg(test)]
    pub(crate) fn pop_expired(&mut self) -> Option<(Option<TimerKey>, T)> {
        self.pop_expired_freeing(|_| false)
    }

    /// [`TimerQueue::pop_expired`], also freeing a keyed entry if `free`
    /// says so of its value (nobody keeps its key to free it later).
    #[inline(always)]
    pub(crate) fn pop_expired_freeing(
        &mut self,
        free: impl FnOnce(&T) -> bool,
    ) -> Option<(Option<TimerKey>, T)> {
        let elapsed = self.elapsed;
        let top = self
            .heap
            .first()
            .copied()
            .filter(|top| top.deadline == elapsed);
        let front = self.lane_front().filter(|front| front.deadline == elapsed);
        let top = match (top, front.map(|front| front.seq)) {
            (None, None) => return None,
            (Some(top), Some(front)) if top.seq < front => top,
            (Some(top), None) => top,
            (_, Some(_)) => {
                let value = self.lane_pop().expect("the lane has a front");
                return Some((None, value));
            }
        };
        let value = self.pop_heap_top(top, free)?;
        Some((Some(TimerKey(top.key)), value))
    }

    /// Expires the heap's top item `top` (live), freeing its entry if
    /// `free` says so of its value.
    #[inline(always)]
    fn pop_heap_top(&mut self, top: Item, free: impl FnOnce(&T) -> bool) -> Option<T> {
        self.pop_top();
        self.queued -= 1;
        let entry = self
            .entries
            .get_mut(top.key)
            .expect("a live heap item has its entry");
        entry.queued = false;
        let value = entry.value.take();
        if value.as_ref().is_some_and(free) {
            self.entries.remove(top.key);
        }
        self.discard_stale_top();
        value
    }

    /// Moves `elapsed` to the earliest deadline, if it is `<= limit`, and
    /// pops the first entry due then (as [`TimerQueue::next_expiring`] and
    /// [`TimerQueue::pop_expired_freeing`] would, in one look at the queue):
    /// its deadline and value.
    #[inline(always)]
    pub(crate) fn pop_next_freeing(
        &mut self,
        limit: u64,
        free: impl FnOnce(&T) -> bool,
    ) -> Option<(u64, T)> {
        let top = self.heap.first().copied();
        let front = self.lane_front().map(|front| (front.deadline, front.seq));
        // The heap's top, unless the lane's front comes first.
        let top = match (top, front) {
            (None, None) => return None,
            (Some(top), Some(front)) if (top.deadline, top.seq) < front => Some(top),
            (Some(top), None) => Some(top),
            (_, Some(_)) => None,
        };
        let next = match (top, front) {
            (Some(top), _) => top.deadline,
            (None, front) => front.expect("the lane has a front").0,
        };
        if next > limit {
            return None;
        }
        self.elapsed = next;
        let value = match top {
            Some(top) => self.pop_heap_top(top, free),
            None => self.lane_pop(),
        };
        Some((next, value.expect("the earliest entry is pending")))
    }

    /// Moves `elapsed` to `now`, which must not pass an unexpired deadline.
    pub(crate) fn advance_to(&mut self, now: u64) {
        debug_assert!(self.peek().is_none_or(|next| next >= now));
        self.elapsed = self.elapsed.max(now);
    }

    /// Drops every entry.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.heap.clear();
        self.queued = 0;
        self.clear_lane();
    }

    /// Drops the lane's entries.
    fn clear_lane(&mut self) {
        self.lane.clear();
        self.lane_head = 0;
        self.lane_tail = 0;
    }

    /// Bookkeeping after a queued entry left the queue other than by
    /// popping: its item is stale now. Keeps the top live and the stale
    /// items bounded.
    #[inline]
    fn dequeued(&mut self, key: u32, seq: u64) {
        self.queued -= 1;
        if self.heap[0].key == key && self.heap[0].seq == seq {
            self.pop_top();
            self.discard_stale_top();
        } else if self.heap.len() > 2 * self.queued + STALE_SLACK {
            self.rebuild();
        }
    }

    /// Whether a heap item stands for a queued entry.
    #[inline]
    fn is_live(&self, item: &Item) -> bool {
        self.entries
            .get(item.key)
            .is_some_and(|entry| entry.queued && entry.seq == item.seq)
    }

    #[inline]
    fn discard_stale_top(&mut self) {
        while let Some(top) = self.heap.first() {
            if self.is_live(top) {
                return;
            }
            self.pop_top();
        }
    }

    /// Drops every stale item and restores the heap order.
    #[cold]
    fn rebuild(&mut self) {
        let mut heap = std::mem::take(&mut self.heap);
        heap.retain(|item| self.is_live(item));
        self.heap = heap;
        let len = self.heap.len();
        if len > 1 {
            for index in (0..=(len - 2) / ARITY).rev() {
                self.sift_down(index);
            }
        }
    }

    #[inline(always)]
    fn push(&mut self, item: Item) {
        let mut index = self.heap.len();
        self.heap.push(item);
        while index > 0 {
            let parent = (index - 1) / ARITY;
            if !item.before(&self.heap[parent]) {
                break;
            }
            self.heap[index] = self.heap[parent];
            index = parent;
        }
        self.heap[index] = item;
    }

    /// Removes the top item.
    #[inline]
    fn pop_top(&mut self) {
        let last = self.heap.pop().expect("the heap has a top");
        if !self.heap.is_empty() {
            self.heap[0] = last;
            self.sift_down(0);
        }
    }

    #[inline]
    fn sift_down(&mut self, mut index: usize) {
        let len = self.heap.len();
        let item = self.heap[index];
        loop {
            let first = index * ARITY + 1;
            if first >= len {
                break;
            }
            let mut best = first;
            for child in first + 1..(first + ARITY).min(len) {
                if self.heap[child].before(&self.heap[best]) {
                    best = child;
                }
            }
            if !self.heap[best].before(&item) {
                break;
            }
            self.heap[index] = self.heap[best];
            index = best;
        }
        self.heap[index] = item;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Operations a user of the queue performs.
    #[derive(Clone, Debug, bolero::TypeGenerator)]
    enum Op {
        Insert {
            delay: u64,
            scale: u8,
        },
        /// An entry no one cancels (an arrival).
        InsertKeyless {
            delay: u64,
            scale: u8,
        },
        Cancel {
            which: u16,
        },
        /// Expire everything up to the next deadline.
        Next,
        /// Move time forward without skipping a deadline.
        Advance {
            by: u64,
            scale: u8,
        },
    }

    fn scaled(value: u64, scale: u8) -> u64 {
        // Cover every level: small, medium and huge delays.
        match scale % 5 {
            0 => value % 64,
            1 => value % 5_000,
            2 => value % 10_000_000,
            3 => value % (1 << 40),
            _ => value >> 2,
        }
    }

    /// The queue against a `BTreeMap` of `(deadline, insertion seq)`.
    fn check(ops: &[Op]) {
        let mut queue = TimerQueue::<u64>::new();
        // Keyless entries have no key.
        let mut model: BTreeMap<(u64, u64), Option<TimerKey>> = BTreeMap::new();
        let mut live: Vec<(u64, u64, TimerKey)> = Vec::new();
        let mut seq = 0u64;
        let mut now = 0u64;
        for op in ops {
            match *op {
                Op::Insert { delay, scale } => {
                    let deadline = now.saturating_add(scaled(delay, scale));
                    let key = queue.insert(deadline, seq);
                    model.insert((deadline, seq), Some(key));
                    live.push((deadline, seq, key));
                    seq += 1;
                }
                Op::InsertKeyless { delay, scale } => {
                    let deadline = now.saturating_add(scaled(delay, scale));
                    queue.insert_keyless(deadline, seq);
                    model.insert((deadline, seq), None);
                    seq += 1;
                }
                Op::Cancel { which } => {
                    if live.is_empty() {
                        continue;
                    }
                    let (deadline, s, key) = live.swap_remove(which as usize % live.len());
                    assert_eq!(queue.remove(key), Some(s));
                    model.remove(&(deadline, s));
                }
                Op::Next => {
                    let expected = model.keys().next().map(|(d, _)| *d);
                    assert_eq!(queue.peek(), expected);
                    let Some(deadline) = queue.next_expiring(u64::MAX) else {
                        assert!(model.is_empty());
                        continue;
                    };
                    assert_eq!(Some(deadline), expected);
                    now = deadline;
                    while let Some((key, value)) = queue.pop_expired() {
                        let (&(d, s), &k) = model.iter().next().expect("model has the entry");
                        assert_eq!((d, s), (deadline, value), "fires in (deadline, seq) order");
                        model.remove(&(d, s));
                        match k {
                            Some(k) => {
                                assert_eq!(key, Some(k));
                                live.retain(|(_, ls, _)| *ls != s);
                                assert!(queue.is_expired(k));
                                assert_eq!(queue.remove(k), None);
                            }
                            // An out-of-order keyless entry waits keyed in
                            // the heap; either way nobody frees it later.
                            None => {
                                if let Some(key) = key {
                                    assert_eq!(queue.remove(key), None);
                                }
                            }
                        }
                    }
                    assert!(model.keys().next().is_none_or(|(d, _)| *d > now));
                }
                Op::Advance { by, scale } => {
                    let mut target = now.saturating_add(scaled(by, scale));
                    // Never jump over a deadline: stop just before it.
                    if let Some(&(deadline, _)) = model.keys().next() {
                        if deadline <= target {
                            target = deadline.saturating_sub(1).max(now);
                        }
                    }
                    queue.advance_to(target);
                    now = target;
                    assert_eq!(queue.elapsed(), now);
                }
            }
            assert_eq!(queue.pending(), model.len());
        }
    }

    #[test]
    fn matches_btreemap_model() {
        bolero::check!()
            .with_type::<Vec<Op>>()
            .for_each(|ops| check(ops));
    }

    #[test]
    fn fires_same_deadline_fifo() {
        let mut queue = TimerQueue::new();
        let a = queue.insert(100, 'a');
        queue.advance_to(90);
        let b = queue.insert(100, 'b');
        assert_eq!(queue.next_expiring(u64::MAX), Some(100));
        assert_eq!(queue.pop_expired(), Some((Some(a), 'a')));
        assert_eq!(queue.pop_expired(), Some((Some(b), 'b')));
        assert_eq!(queue.pop_expired(), None);
    }

    #[test]
    fn far_deadlines_fire_in_order() {
        let mut queue = TimerQueue::new();
        let far = u64::MAX - 5;
        queue.insert(far, 1);
        queue.insert(3_600_000_000_000, 2);
        assert_eq!(queue.next_expiring(u64::MAX), Some(3_600_000_000_000));
        assert_eq!(queue.pop_expired().map(|(_, v)| v), Some(2));
        assert_eq!(queue.next_expiring(u64::MAX), Some(far));
        assert_eq!(queue.pop_expired().map(|(_, v)| v), Some(1));
        assert_eq!(queue.next_expiring(u64::MAX), None);
    }

    #[test]
    fn cancelled_items_are_dropped_and_order_kept() {
        let mut queue = TimerQueue::new();
        let keys: Vec<_> = (0..1000u64)
            .map(|i| (i, queue.insert(1_000 + (i * 7919) % 1000, i)))
            .collect();
        // Cancel all but every tenth entry, the earliest among them too.
        for &(i, key) in &keys {
            if i % 10 != 0 {
                assert_eq!(queue.remove(key), Some(i));
            }
        }
        assert_eq!(queue.pending(), 100);
        assert!(
            queue.heap.len() <= 2 * 100 + STALE_SLACK,
            "stale items are bounded: {}",
            queue.heap.len()
        );
        let mut fired = Vec::new();
        while let Some(deadline) = queue.next_expiring(u64::MAX) {
            while let Some((key, value)) = queue.pop_expired() {
                fired.push((deadline, value));
                let key = key.expect("every entry is keyed");
                assert_eq!(queue.remove(key), None, "already handed out");
            }
        }
        let mut expected: Vec<_> = (0..1000u64)
            .filter(|i| i % 10 == 0)
            .map(|i| (1_000 + (i * 7919) % 1000, i))
            .collect();
        expected.sort_unstable();
        assert_eq!(fired, expected);
        assert!(queue.heap.is_empty());
    }

    #[test]
    fn taking_an_entry_expires_it_out_of_order() {
        let mut queue = TimerQueue::new();
        let a = queue.insert(10, 'a');
        let b = queue.insert(20, 'b');
        let c = queue.insert(30, 'c');
        assert_eq!(queue.take(b), Some('b'));
        assert_eq!(queue.take(b), None, "taken once");
        assert_eq!(queue.pending(), 2);
        assert_eq!(queue.take(a), Some('a'));
        assert_eq!(queue.peek(), Some(30), "the top stays exact");
        assert_eq!(queue.remove(a), None);
        assert_eq!(queue.remove(b), None);
        assert_eq!(queue.next_expiring(u64::MAX), Some(30));
        assert_eq!(queue.pop_expired(), Some((Some(c), 'c')));
        assert_eq!(queue.next_expiring(u64::MAX), None);
    }

    #[test]
    fn restore_brings_back_entries_keys_and_order() {
        let mut queue = TimerQueue::new();
        let a = queue.insert(1_000, 'a');
        let b = queue.insert(5_000_000, 'b');
        let c = queue.insert(1_000, 'c');
        queue.advance_to(500);
        let saved = queue.save();
        // Diverge: fire everything, insert others, cancel.
        assert_eq!(queue.next_expiring(u64::MAX), Some(1_000));
        while queue.pop_expired().is_some() {}
        queue.remove(b);
        queue.insert(2_000, 'd');
        queue.insert(3_000, 'e');
        queue.restore(&saved);
        assert_eq!(queue.pending(), 3, "entries made after the save are gone");
        assert_eq!(queue.value(b), Some(&'b'));
        assert_eq!(queue.next_expiring(u64::MAX), Some(1_000));
        assert_eq!(queue.pop_expired(), Some((Some(a), 'a')));
        assert_eq!(queue.pop_expired(), Some((Some(c), 'c')));
        assert_eq!(queue.next_expiring(u64::MAX), Some(5_000_000));
        assert_eq!(queue.pop_expired(), Some((Some(b), 'b')));
        assert_eq!(queue.next_expiring(u64::MAX), None);
    }

    /// Pops everything due, in order, as `(deadline, value)`.
    fn drain<T>(queue: &mut TimerQueue<T>) -> Vec<(u64, T)> {
        let mut fired = Vec::new();
        while let Some(deadline) = queue.next_expiring(u64::MAX) {
            while let Some((_, value)) = queue.pop_expired() {
                fired.push((deadline, value));
            }
        }
        fired
    }

    #[test]
    fn keyless_entries_fire_in_order_with_keyed_ones() {
        let mut queue = TimerQueue::new();
        queue.insert_keyless(10, "lane 10");
        queue.insert(10, "heap 10");
        queue.insert_keyless(10, "lane 10 again");
        queue.insert(5, "heap 5");
        queue.insert_keyless(20, "lane 20");
        // Earlier than the lane's last: waits in the heap, still in order.
        queue.insert_keyless(15, "out of order 15");
        assert_eq!(queue.pending(), 6);
        assert_eq!(
            drain(&mut queue),
            [
                (5, "heap 5"),
                (10, "lane 10"),
                (10, "heap 10"),
                (10, "lane 10 again"),
                (15, "out of order 15"),
                (20, "lane 20"),
            ]
        );
        assert_eq!(queue.pending(), 0);
    }

    #[test]
    fn a_steady_lane_reuses_its_slots() {
        let mut queue = TimerQueue::new();
        // Always a few in flight: the lane never empties, so it compacts.
        let mut fired = Vec::new();
        for i in 0..10_000u64 {
            queue.insert_keyless(i + 3, i);
            if queue.next_expiring(i) == Some(i) {
                while let Some((key, value)) = queue.pop_expired() {
                    assert_eq!(key, None);
                    fired.push(value);
                }
            }
        }
        fired.extend(drain(&mut queue).into_iter().map(|(_, value)| value));
        assert_eq!(fired, (0..10_000).collect::<Vec<_>>());
        assert!(queue.lane.len() <= 2 * LANE_COMPACT, "{}", queue.lane.len());
    }

    #[test]
    fn keying_the_lane_keeps_order_and_makes_entries_pending_by_key() {
        let mut queue = TimerQueue::new();
        queue.insert_keyless(30, 'c');
        queue.insert(20, 'b');
        queue.insert_keyless(40, 'd');
        queue.key_all();
        let mut pending = Vec::new();
        queue.pending_entries_into(&mut pending);
        let deadlines: Vec<u64> = pending.iter().map(|&(_, deadline)| deadline).collect();
        assert_eq!(deadlines, [20, 30, 40]);
        let (c, _) = pending[1];
        assert_eq!(queue.take(c), Some('c'));
        assert_eq!(drain(&mut queue), [(20, 'b'), (40, 'd')]);
    }

    #[test]
    fn restore_brings_back_the_lane() {
        let mut queue = TimerQueue::new();
        queue.insert_keyless(10, 'a');
        queue.insert_keyless(20, 'b');
        let saved = queue.save();
        assert_eq!(queue.next_expiring(u64::MAX), Some(10));
        assert_eq!(queue.pop_expired(), Some((None, 'a')));
        queue.insert_keyless(30, 'c');
        queue.restore(&saved);
        assert_eq!(queue.pending(), 2);
        assert_eq!(drain(&mut queue), [(10, 'a'), (20, 'b')]);
    }

    #[test]
    fn limit_stops_before_later_deadlines() {
        let mut queue = TimerQueue::new();
        queue.insert(1_000, ());
        assert_eq!(queue.next_expiring(999), None);
        queue.advance_to(999);
        assert_eq!(queue.next_expiring(1_000), Some(1_000));
    }
}
