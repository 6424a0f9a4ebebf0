//! The search's memory of the configurations it has visited: pairs of (set
//! of operations placed, state), Lowe's memoisation.
//!
//! Every configuration the search enters is recorded once, and entering it
//! again is refused: two paths that placed the same operations and reached
//! equal states have the same futures. The table is the search's main
//! cost in time and memory, so it is built for that use:
//!
//! * the set of placed operations ([`PlacedSet`]) carries a hash kept up to
//!   date as operations are placed and taken back (the XOR of one random
//!   word per operation), so hashing a configuration costs one word plus
//!   the state, however many operations the partition has;
//! * the recorded sets are copied into one flat array of words, and states
//!   into one vector: recording a configuration allocates nothing but the
//!   state's own clone (amortised growth aside);
//! * a map from a configuration's hash to the last configuration recorded
//!   with that hash, and a chain through the others, finds candidates;
//!   sets and states are compared in full, so a hash collision costs time,
//!   never a wrong answer.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hash, Hasher},
};

/// A set of operations of a partition, by position, with its hash.
pub(super) struct PlacedSet {
    words: Vec<u64>,
    hash: u64,
}

impl PlacedSet {
    /// The empty set of a partition of `len` operations.
    pub(super) fn new(len: usize) -> Self {
        PlacedSet {
            words: vec![0; len.div_ceil(64)],
            hash: 0,
        }
    }

    /// Adds `op`, which is not in the set.
    pub(super) fn insert(&mut self, op: usize) {
        self.words[op / 64] |= 1 << (op % 64);
        self.hash ^= token(op);
    }

    /// Removes `op`, which is in the set.
    pub(super) fn remove(&mut self, op: usize) {
        self.words[op / 64] &= !(1 << (op % 64));
        self.hash ^= token(op);
    }
}

/// The configurations visited: for each, its set of placed operations and
/// its state.
pub(super) struct Memo<S> {
    /// Configuration hash -> the last configuration recorded with it.
    last: HashMap<u64, usize, BuildHasherDefault<Identity>>,
    /// For each configuration, the one recorded before it with the same
    /// hash (`NONE` if none).
    earlier: Vec<usize>,
    /// Configuration `k`'s set is `words[k * width..(k + 1) * width]`.
    words: Vec<u64>,
    width: usize,
    states: Vec<S>,
}

/// No configuration.
const NONE: usize = usize::MAX;

impl<S: Clone + Eq + Hash> Memo<S> {
    /// An empty memo for sets of `len` operations.
    pub(super) fn new(len: usize) -> Self {
        // A linearizable partition visits about one configuration per
        // operation; start there.
        let width = len.div_ceil(64);
        Memo {
            last: HashMap::with_capacity_and_hasher(len, BuildHasherDefault::default()),
            earlier: Vec::with_capacity(len),
            words: Vec::with_capacity(len * width),
            width,
            states: Vec::with_capacity(len),
        }
    }

    /// Records the configuration (`placed`, `state`); `false` if it was
    /// recorded before.
    pub(super) fn insert(&mut self, placed: &PlacedSet, state: &S) -> bool {
        let mut hasher = FxHasher { hash: placed.hash };
        state.hash(&mut hasher);
        let hash = hasher.finish();
        let first = self.last.get(&hash).copied().unwrap_or(NONE);
        let mut k = first;
        while k != NONE {
            if self.words[k * self.width..(k + 1) * self.width] == placed.words[..]
                && self.states[k] == *state
            {
                return false;
            }
            k = self.earlier[k];
        }
        self.last.insert(hash, self.states.len());
        self.earlier.push(first);
        self.words.extend_from_slice(&placed.words);
        self.states.push(state.clone());
        true
    }
}

/// Operation `op`'s random word (splitmix64 of its position): the hash of
/// a set is the XOR of its members' words.
fn token(op: usize) -> u64 {
    let mut z = (op as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hash of states: a multiply-rotate hash of words (the Fx hash of the
/// Rust compiler), seeded with the set's hash. Keys are never chosen by an
/// adversary, so a fast hash is the right trade.
struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const MULTIPLIER: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::MULTIPLIER);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(
                chunk.try_into().expect("chunks_exact yields 8 bytes"),
            ));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut tail = [0u8; 8];
            tail[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(tail));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The multiplication leaves the low bits, which pick the bucket,
        // the weakest: rotate high bits down.
        self.hash.rotate_left(26)
    }
}

/// The hash of the memo's map, whose keys are hashes already.
#[derive(Default)]
struct Identity {
    hash: u64,
}

impl Hasher for Identity {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.hash = self.hash.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.hash = n;
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}
