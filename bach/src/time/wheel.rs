//! A hierarchical timer wheel with O(1) insert and cancel.
//!
//! Time is a `u64` count of nanoseconds. The wheel has [`LEVELS`] levels of
//! 64 slots each; a slot at level `l` spans `64^l` ticks, so level 0 has one
//! tick per slot and level 10 covers the rest of the `u64` range.
//!
//! An entry with deadline `t` is filed relative to `elapsed` (the wheel's
//! notion of now) at the level of the highest bit in which `t` and `elapsed`
//! differ (in groups of six bits), in slot `(t >> 6*l) & 63`. Two facts
//! follow and make the wheel correct:
//!
//! * every entry at level `l` shares all bits above level `l` with `elapsed`,
//!   so entries at lower levels always expire before entries at higher ones;
//! * the earliest expiration is found by scanning levels from 0 upwards for
//!   the first occupied slot at or after `elapsed`'s slot, using one `u64`
//!   occupancy bitmap per level (`rotate_right` + `trailing_zeros`).
//!
//! When `elapsed` reaches an occupied slot at level `l > 0`, the slot's
//! entries cascade: each is filed again relative to the new `elapsed`,
//! landing at a lower level. Advancing jumps `elapsed` to the slot's earliest
//! deadline (not just the slot's start), so that entry reaches level 0 in one
//! cascade; an entry cascades at most once per level.
//! Level-0 slots hold entries that expire exactly at the slot's tick; they
//! are popped one by one in insertion order (entries with equal deadlines
//! fire first-in, first-out, because a later insertion is always filed at a
//! level no higher than an earlier one with the same deadline).
//!
//! Entries live in a `slab`; each slot is a vector of entry keys in
//! insertion order, and each entry remembers its position. Insert appends,
//! cancel leaves a tombstone (compacted once tombstones outnumber live keys,
//! so cancel is amortised O(1)), and expiring advances a cursor. Vectors keep
//! their capacity and move between slots through a spare pool as slots
//! empty and fill, so steady-state use allocates nothing: a vector is only
//! allocated when more slots are occupied at once than ever before (and
//! creating a wheel allocates none, which keeps new simulations cheap). Vectors rather than
//! intrusive lists matter at scale: cascading walks a contiguous array of
//! keys, so the cache misses on the entries overlap instead of forming a
//! chain of dependent loads.
//!
//! An entry is owned by whoever inserted it: expiring it only unlinks it and
//! hands out its value; the owner frees it with [`Wheel::remove`], which also
//! works on entries that have not expired (cancellation).

const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
/// Number of levels: `ceil(64 / 6)` covers every `u64` deadline.
pub(crate) const LEVELS: usize = 11;
/// A cancelled position in a slot's key vector.
const TOMBSTONE: u32 = u32::MAX;

/// A handle to one entry of a [`Wheel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key(u32);

#[derive(Clone, Copy, Debug)]
struct Location {
    level: u8,
    slot: u8,
    position: u32,
}

#[derive(Clone, Debug)]
struct Entry<T> {
    deadline: u64,
    value: Option<T>,
    /// Where the entry is filed; `None` once expired.
    location: Option<Location>,
}

#[derive(Default)]
struct Slot {
    /// Entry keys in insertion order; cancelled ones are tombstones.
    keys: Vec<u32>,
    /// Keys before this index were already expired (level 0) or moved.
    head: u32,
    /// Keys that are not tombstones, from `head` on.
    live: u32,
    /// A lower bound of the slot's deadlines: exact until an entry is
    /// cancelled, never above the true minimum. It tells where to jump
    /// without reading the entries.
    min: u64,
}

struct Level {
    occupied: u64,
    slots: [Slot; SLOTS],
}

/// The wheel. `T` is what an expired entry hands back (a waker, an event).
pub(crate) struct Wheel<T> {
    elapsed: u64,
    entries: slab::Slab<Entry<T>>,
    levels: Box<[Level]>,
    /// Bit `l` is set when level `l` has an occupied slot, so finding the
    /// lowest occupied level is one `trailing_zeros`, not a scan.
    occupied_levels: u16,
    linked: usize,
    /// Emptied key vectors, kept for the next slot that fills.
    spare: Vec<Vec<u32>>,
}

thread_local! {
    /// Emptied level arrays (704 slots, about 28 KiB each) of dropped
    /// wheels, with their spare key vectors, for the next wheel on this
    /// thread: a model checker builds a simulation, hence a wheel, for
    /// every execution, and building and dropping the levels (and growing
    /// the slots' vectors again) cost more than a short execution's events.
    static SPARE_LEVELS: std::cell::RefCell<Vec<PooledLevels>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A wheel's contents, saved by [`Wheel::save`].
pub(crate) struct Saved<T> {
    elapsed: u64,
    entries: slab::Slab<Entry<T>>,
    slots: Vec<SavedSlot>,
    linked: usize,
}

/// One occupied slot, saved.
struct SavedSlot {
    level: u8,
    slot: u8,
    keys: Vec<u32>,
    head: u32,
    live: u32,
    min: u64,
}

/// A dropped wheel's emptied levels and spare key vectors.
type PooledLevels = (Box<[Level]>, Vec<Vec<u32>>);

/// Level arrays kept per thread (enough for a few live simulations).
const SPARE_LEVELS_KEPT: usize = 4;

/// Spare key vectors kept with each pooled level array.
const SPARE_KEYS_KEPT: usize = 64;

impl<T> Drop for Wheel<T> {
    fn drop(&mut self) {
        // Emptied, the levels are exactly as `new` builds them: every slot
        // unoccupied, with no keys, head 0, live 0 and min `u64::MAX`.
        self.clear();
        let levels = std::mem::take(&mut self.levels);
        if levels.len() != LEVELS {
            return;
        }
        let mut spare = std::mem::take(&mut self.spare);
        spare.truncate(SPARE_KEYS_KEPT);
        let _ = SPARE_LEVELS.try_with(|pool| {
            if let Ok(mut pool) = pool.try_borrow_mut() {
                if pool.len() < SPARE_LEVELS_KEPT {
                    pool.push((levels, spare));
                }
            }
        });
    }
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Wheel<T> {
    pub(crate) fn new() -> Self {
        let (levels, spare) = SPARE_LEVELS
            .try_with(|pool| pool.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                let levels = (0..LEVELS)
                    .map(|_| Level {
                        occupied: 0,
                        slots: std::array::from_fn(|_| Slot {
                            min: u64::MAX,
                            ..Slot::default()
                        }),
                    })
                    .collect();
                (levels, Vec::new())
            });
        Self {
            elapsed: 0,
            entries: slab::Slab::new(),
            levels,
            occupied_levels: 0,
            linked: 0,
            spare,
        }
    }

    /// The wheel's current time.
    #[cfg(test)]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of entries that have not expired yet.
    #[inline]
    pub(crate) fn pending(&self) -> usize {
        self.linked
    }

    /// Inserts an entry expiring at `deadline` (clamped to `elapsed`).
    #[inline]
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> Key {
        let deadline = deadline.max(self.elapsed);
        let index = self.entries.insert(Entry {
            deadline,
            value: Some(value),
            location: None,
        });
        assert!(index < TOMBSTONE as usize, "too many timers");
        self.link(index as u32);
        Key(index as u32)
    }

    /// The value of a not-yet-expired entry, to update it in place.
    #[inline]
    pub(crate) fn value_mut(&mut self, key: Key) -> Option<&mut T> {
        self.entries.get_mut(key.0 as usize)?.value.as_mut()
    }

    /// Whether the entry has expired (or was never valid).
    #[cfg(test)]
    pub(crate) fn is_expired(&self, key: Key) -> bool {
        self.entries
            .get(key.0 as usize)
            .is_none_or(|e| e.location.is_none())
    }

    /// Frees an entry, cancelling it if it has not expired. Returns its value
    /// if it had not been handed out.
    #[inline]
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let index = key.0 as usize;
        let location = self.entries.get(index)?.location;
        if let Some(location) = location {
            self.unlink(location);
        }
        self.entries.remove(index).value
    }

    /// Every entry not yet expired, as `(key, deadline)`, ordered by
    /// deadline then key, into a reused vector (cleared first): for model
    /// checking, which fires entries in any order; not for hot paths.
    pub(crate) fn pending_entries_into(&self, pending: &mut Vec<(Key, u64)>) {
        pending.clear();
        pending.extend(
            self.entries
                .iter()
                .filter(|(_, entry)| entry.location.is_some() && entry.value.is_some())
                .map(|(key, entry)| (Key(key as u32), entry.deadline)),
        );
        pending.sort_unstable_by_key(|&(key, deadline)| (deadline, key.0));
    }

    /// The value of a pending entry, to inspect it.
    pub(crate) fn value(&self, key: Key) -> Option<&T> {
        self.entries.get(key.0 as usize)?.value.as_ref()
    }

    /// Expires one pending entry now, out of deadline order (model
    /// checking): unlinks it and hands out its value, leaving the entry to
    /// be freed by its owner as if it had fired.
    pub(crate) fn take(&mut self, key: Key) -> Option<T> {
        let location = self.entries.get(key.0 as usize)?.location?;
        self.unlink(location);
        let entry = &mut self.entries[key.0 as usize];
        entry.location = None;
        entry.value.take()
    }

    /// The exact earliest deadline, without changing the wheel.
    pub(crate) fn peek(&self) -> Option<u64> {
        let (level, slot, _) = self.next_expiration()?;
        let slot = &self.levels[level].slots[slot];
        slot.keys[slot.head as usize..]
            .iter()
            .filter(|key| **key != TOMBSTONE)
            .map(|key| self.entries[*key as usize].deadline)
            .min()
    }

    /// A copy of the wheel's contents (entries, their slots and keys), for
    /// [`Wheel::restore`]: restoring gives every entry back its key, so
    /// handles held elsewhere stay valid and ties break as before.
    pub(crate) fn save(&self) -> Saved<T>
    where
        T: Clone,
    {
        let mut slots = Vec::new();
        for (level, lvl) in self.levels.iter().enumerate() {
            let mut occupied = lvl.occupied;
            while occupied != 0 {
                let slot = occupied.trailing_zeros() as usize;
                occupied &= occupied - 1;
                let s = &lvl.slots[slot];
                slots.push(SavedSlot {
                    level: level as u8,
                    slot: slot as u8,
                    keys: s.keys.clone(),
                    head: s.head,
                    live: s.live,
                    min: s.min,
                });
            }
        }
        Saved {
            elapsed: self.elapsed,
            entries: self.entries.clone(),
            slots,
            linked: self.linked,
        }
    }

    /// Puts the wheel back as [`Wheel::save`] found it.
    pub(crate) fn restore(&mut self, saved: &Saved<T>)
    where
        T: Clone,
    {
        self.reset_occupied_slots();
        for saved_slot in &saved.slots {
            let s = self.occupy(saved_slot.level as usize, saved_slot.slot as usize);
            s.keys.clear();
            s.keys.extend_from_slice(&saved_slot.keys);
            s.head = saved_slot.head;
            s.live = saved_slot.live;
            s.min = saved_slot.min;
        }
        self.entries.clone_from(&saved.entries);
        self.elapsed = saved.elapsed;
        self.linked = saved.linked;
    }

    /// Moves `elapsed` forward to the earliest deadline, if it is `<= limit`,
    /// cascading higher-level slots on the way, and returns that deadline.
    ///
    /// When it returns `None`, `elapsed` may still have moved forward (to a
    /// slot start `<= limit`); the caller's clock must then move to `limit`
    /// (see [`Wheel::advance_to`]) before more entries are inserted.
    pub(crate) fn next_expiring(&mut self, limit: u64) -> Option<u64> {
        loop {
            let (level, slot, start) = self.next_expiration()?;
            if start > limit {
                return None;
            }
            if level == 0 {
                self.elapsed = start;
                return Some(start);
            }
            // Jump straight to the slot's earliest deadline when it is within
            // reach: every entry of the slot refiles relative to it, so the
            // earliest lands at level 0 after a single cascade instead of one
            // cascade per level. Nothing else expires before it (lower levels
            // are empty, other slots start later).
            let earliest = self.levels[level].slots[slot].min.max(start);
            self.elapsed = if earliest <= limit { earliest } else { start };
            self.cascade(level, slot);
            if self.has_expired_at_elapsed() {
                return Some(self.elapsed);
            }
        }
    }

    /// Pops one entry expiring exactly at `elapsed`, in insertion order.
    #[inline]
    pub(crate) fn pop_expired(&mut self) -> Option<(Key, T)> {
        let slot_index = (self.elapsed & (SLOTS as u64 - 1)) as usize;
        let slot = &mut self.levels[0].slots[slot_index];
        while slot.live > 0 {
            let key = slot.keys[slot.head as usize];
            slot.head += 1;
            if key == TOMBSTONE {
                continue;
            }
            slot.live -= 1;
            if slot.live == 0 {
                self.reset_slot(0, slot_index);
            }
            self.linked -= 1;
            let entry = &mut self.entries[key as usize];
            debug_assert_eq!(entry.deadline, self.elapsed);
            entry.location = None;
            let value = entry.value.take()?;
            return Some((Key(key), value));
        }
        None
    }

    /// Moves `elapsed` to `now`, which must not pass an unexpired deadline.
    pub(crate) fn advance_to(&mut self, now: u64) {
        debug_assert!(now >= self.elapsed);
        // Cascade every slot whose range starts at or before `now`.
        while self.next_expiring(now).is_some() {
            if self.elapsed == now || self.has_expired_at_elapsed() {
                break;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    fn has_expired_at_elapsed(&self) -> bool {
        let slot = (self.elapsed & (SLOTS as u64 - 1)) as usize;
        self.levels[0].slots[slot].live > 0
    }

    /// Drops every entry.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.reset_occupied_slots();
        self.linked = 0;
    }

    /// Empties every occupied slot (only occupied slots hold keys: a slot
    /// is reset when it empties).
    fn reset_occupied_slots(&mut self) {
        for level in 0..LEVELS {
            let mut occupied = self.levels[level].occupied;
            while occupied != 0 {
                let slot = occupied.trailing_zeros() as usize;
                occupied &= occupied - 1;
                self.reset_slot(level, slot);
            }
        }
    }

    /// Level, slot and slot start of the earliest occupied slot.
    #[inline]
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        if self.linked == 0 || self.occupied_levels == 0 {
            return None;
        }
        let level = self.occupied_levels.trailing_zeros() as usize;
        let lvl = &self.levels[level];
        debug_assert_ne!(lvl.occupied, 0);
        let shift = LEVEL_BITS * level as u32;
        let now_slot = ((self.elapsed >> shift) & (SLOTS as u64 - 1)) as u32;
        let slot =
            (lvl.occupied.rotate_right(now_slot).trailing_zeros() + now_slot) as usize % SLOTS;
        // Bits above this level come from `elapsed`; the top level has none.
        let above = shift + LEVEL_BITS;
        let high = if above >= 64 {
            0
        } else {
            self.elapsed >> above << above
        };
        let mut start = high | ((slot as u64) << shift);
        if (slot as u32) < now_slot {
            // Wrapped into the next rotation of this level (cannot happen
            // while entries share `elapsed`'s higher bits; kept for safety).
            start = start.saturating_add(1u64.checked_shl(above).unwrap_or(u64::MAX));
        }
        Some((level, slot, start.max(self.elapsed)))
    }

    fn cascade(&mut self, level: usize, slot: usize) {
        let mut keys = std::mem::take(&mut self.levels[level].slots[slot].keys);
        let head = self.levels[level].slots[slot].head as usize;
        self.linked -= self.levels[level].slots[slot].live as usize;
        self.reset_slot(level, slot);
        for &key in &keys[head..] {
            if key != TOMBSTONE {
                self.link(key);
            }
        }
        keys.clear();
        self.spare.push(keys);
    }

    /// Empties a slot. Level-0 slots keep their vector (all 64 are reused
    /// every 64 ns of simulated time); higher levels, whose slots recur only
    /// after a whole rotation, hand theirs to the spare pool.
    fn reset_slot(&mut self, level: usize, slot: usize) {
        let lvl = &mut self.levels[level];
        lvl.occupied &= !(1u64 << slot);
        if lvl.occupied == 0 {
            self.occupied_levels &= !(1 << level);
        }
        let s = &mut lvl.slots[slot];
        s.head = 0;
        s.live = 0;
        s.min = u64::MAX;
        if level == 0 {
            s.keys.clear();
        } else if s.keys.capacity() > 0 {
            let mut keys = std::mem::take(&mut s.keys);
            keys.clear();
            self.spare.push(keys);
        }
    }

    #[inline]
    fn level_for(&self, deadline: u64) -> usize {
        let masked = (self.elapsed ^ deadline) | (SLOTS as u64 - 1);
        let significant = 63 - masked.leading_zeros();
        (significant / LEVEL_BITS) as usize
    }

    #[inline]
    fn link(&mut self, index: u32) {
        let deadline = self.entries[index as usize].deadline;
        let level = self.level_for(deadline);
        let slot = ((deadline >> (LEVEL_BITS * level as u32)) & (SLOTS as u64 - 1)) as usize;
        let s = self.occupy(level, slot);
        let position = s.keys.len() as u32;
        s.keys.push(index);
        s.live += 1;
        s.min = s.min.min(deadline);
        self.entries[index as usize].location = Some(Location {
            level: level as u8,
            slot: slot as u8,
            position,
        });
        self.linked += 1;
    }

    /// Marks a slot occupied and returns it, with a key vector from the
    /// spare pool if it has none.
    #[inline]
    fn occupy(&mut self, level: usize, slot: usize) -> &mut Slot {
        let lvl = &mut self.levels[level];
        lvl.occupied |= 1u64 << slot;
        self.occupied_levels |= 1 << level;
        let s = &mut lvl.slots[slot];
        if s.keys.capacity() == 0 {
            if let Some(keys) = self.spare.pop() {
                s.keys = keys;
            }
        }
        s
    }

    #[inline]
    fn unlink(&mut self, location: Location) {
        let (level, slot) = (location.level as usize, location.slot as usize);
        let s = &mut self.levels[level].slots[slot];
        s.keys[location.position as usize] = TOMBSTONE;
        s.live -= 1;
        self.linked -= 1;
        if s.live == 0 {
            self.reset_slot(level, slot);
        } else if s.keys.len() > 2 * s.live as usize + 32 {
            self.compact(level, slot);
        }
    }

    /// Drops a slot's tombstones, keeping order, and renumbers positions.
    #[cold]
    fn compact(&mut self, level: usize, slot: usize) {
        let s = &mut self.levels[level].slots[slot];
        let head = s.head as usize;
        let mut write = 0;
        for read in head..s.keys.len() {
            let key = s.keys[read];
            if key == TOMBSTONE {
                continue;
            }
            s.keys[write] = key;
            if let Some(location) = self.entries[key as usize].location.as_mut() {
                location.position = write as u32;
            }
            write += 1;
        }
        s.keys.truncate(write);
        s.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Operations a user of the wheel performs.
    #[derive(Clone, Debug, bolero::TypeGenerator)]
    enum Op {
        Insert {
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

    /// The wheel against a `BTreeMap` of `(deadline, insertion seq)`.
    fn check(ops: &[Op]) {
        let mut wheel = Wheel::<u64>::new();
        let mut model: BTreeMap<(u64, u64), Key> = BTreeMap::new();
        let mut live: Vec<(u64, u64, Key)> = Vec::new();
        let mut seq = 0u64;
        let mut now = 0u64;
        for op in ops {
            match *op {
                Op::Insert { delay, scale } => {
                    let deadline = now.saturating_add(scaled(delay, scale));
                    let key = wheel.insert(deadline, seq);
                    model.insert((deadline, seq), key);
                    live.push((deadline, seq, key));
                    seq += 1;
                }
                Op::Cancel { which } => {
                    if live.is_empty() {
                        continue;
                    }
                    let (deadline, s, key) = live.swap_remove(which as usize % live.len());
                    assert_eq!(wheel.remove(key), Some(s));
                    model.remove(&(deadline, s));
                }
                Op::Next => {
                    let expected = model.keys().next().map(|(d, _)| *d);
                    assert_eq!(wheel.peek(), expected);
                    let Some(deadline) = wheel.next_expiring(u64::MAX) else {
                        assert!(model.is_empty());
                        continue;
                    };
                    assert_eq!(Some(deadline), expected);
                    now = deadline;
                    while let Some((key, value)) = wheel.pop_expired() {
                        let (&(d, s), &k) = model.iter().next().expect("model has the entry");
                        assert_eq!(
                            (d, s, k),
                            (deadline, value, key),
                            "fires in (deadline, seq) order"
                        );
                        model.remove(&(d, s));
                        live.retain(|(_, ls, _)| *ls != s);
                        assert!(wheel.is_expired(key));
                        assert_eq!(wheel.remove(key), None);
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
                    wheel.advance_to(target);
                    now = target;
                    assert_eq!(wheel.elapsed(), now);
                }
            }
            assert_eq!(wheel.pending(), model.len());
        }
    }

    #[test]
    fn matches_btreemap_model() {
        bolero::check!()
            .with_type::<Vec<Op>>()
            .for_each(|ops| check(ops));
    }

    #[test]
    fn fires_same_deadline_fifo_across_levels() {
        let mut wheel = Wheel::new();
        let a = wheel.insert(100, 'a');
        wheel.advance_to(90);
        let b = wheel.insert(100, 'b');
        assert_eq!(wheel.next_expiring(u64::MAX), Some(100));
        assert_eq!(wheel.pop_expired(), Some((a, 'a')));
        assert_eq!(wheel.pop_expired(), Some((b, 'b')));
        assert_eq!(wheel.pop_expired(), None);
    }

    #[test]
    fn far_deadlines_cascade_down() {
        let mut wheel = Wheel::new();
        let far = u64::MAX - 5;
        wheel.insert(far, 1);
        wheel.insert(3_600_000_000_000, 2);
        assert_eq!(wheel.next_expiring(u64::MAX), Some(3_600_000_000_000));
        assert_eq!(wheel.pop_expired().map(|(_, v)| v), Some(2));
        assert_eq!(wheel.next_expiring(u64::MAX), Some(far));
        assert_eq!(wheel.pop_expired().map(|(_, v)| v), Some(1));
        assert_eq!(wheel.next_expiring(u64::MAX), None);
    }

    #[test]
    fn restore_brings_back_entries_keys_and_order() {
        let mut wheel = Wheel::new();
        let a = wheel.insert(1_000, 'a');
        let b = wheel.insert(5_000_000, 'b');
        let c = wheel.insert(1_000, 'c');
        wheel.advance_to(500);
        let saved = wheel.save();
        // Diverge: fire everything, insert others, cancel.
        assert_eq!(wheel.next_expiring(u64::MAX), Some(1_000));
        while wheel.pop_expired().is_some() {}
        wheel.remove(b);
        wheel.insert(2_000, 'd');
        wheel.insert(3_000, 'e');
        wheel.restore(&saved);
        assert_eq!(wheel.pending(), 3, "entries made after the save are gone");
        assert_eq!(wheel.value(b), Some(&'b'));
        assert_eq!(wheel.next_expiring(u64::MAX), Some(1_000));
        assert_eq!(wheel.pop_expired(), Some((a, 'a')));
        assert_eq!(wheel.pop_expired(), Some((c, 'c')));
        assert_eq!(wheel.next_expiring(u64::MAX), Some(5_000_000));
        assert_eq!(wheel.pop_expired(), Some((b, 'b')));
        assert_eq!(wheel.next_expiring(u64::MAX), None);
    }

    #[test]
    fn limit_stops_before_later_deadlines() {
        let mut wheel = Wheel::new();
        wheel.insert(1_000, ());
        assert_eq!(wheel.next_expiring(999), None);
        wheel.advance_to(999);
        assert_eq!(wheel.next_expiring(1_000), Some(1_000));
    }
}
