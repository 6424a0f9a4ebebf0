//! The hasher of model-checking state fingerprints.
//!
//! A fingerprint is computed at every step boundary of every path, over a
//! few hundred bytes (process states, timers, packets in flight), so the
//! hasher's speed shows directly in states per second; SipHash, the
//! standard library's default, cost more than the rest of the lookup.
//! Fingerprints need no protection against chosen collisions (the input
//! is the model's own state), only good mixing and determinism.
//!
//! [`FingerprintHasher`] folds 64-bit words with a 128-bit multiply
//! (the "folded multiply" of foldhash and wyhash). Everything is computed
//! in `u64`/`u128` arithmetic from little-endian bytes, and `usize` values
//! (slice lengths) are widened to `u64`, so a fingerprint is the same on
//! every run and every platform.

use std::hash::Hasher;

/// Odd constants with well-spread bits (from the digits of pi, as in
/// foldhash).
const MULTIPLIER: u64 = 0x243f_6a88_85a3_08d3;
const SEED: u64 = 0x1319_8a2e_0370_7344;
const FINISH: u64 = 0xa409_3822_299f_31d0;

/// The low and high halves of a full 64 × 64-bit product, xored.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// A fast, deterministic, platform-independent [`Hasher`] for state
/// fingerprints (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FingerprintHasher {
    state: u64,
}

impl Default for FingerprintHasher {
    fn default() -> Self {
        Self { state: SEED }
    }
}

impl FingerprintHasher {
    #[inline(always)]
    fn word(&mut self, word: u64) {
        self.state = folded_multiply(self.state ^ word, MULTIPLIER);
    }
}

impl Hasher for FingerprintHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.word(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(last));
        }
        // The length tells "ab" + "" from "a" + "b" in the same word.
        self.word(bytes.len() as u64);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.word(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.word(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.word(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.word(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.word(i as u64);
        self.word((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.word(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.state, FINISH)
    }
}

/// The fingerprint hash of one value.
pub(crate) fn hash_one(value: &impl std::hash::Hash) -> u64 {
    let mut hasher = FingerprintHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_same_on_every_run() {
        // A fixed value: fingerprints depend on nothing but the input.
        assert_eq!(hash_one(&("client", 7u32, [1u8, 2, 3])), {
            let mut h = FingerprintHasher::default();
            h.write(b"client");
            h.write_u8(0xff);
            h.write_u32(7);
            h.write_usize(3);
            h.write(&[1, 2, 3]);
            h.finish()
        });
    }

    #[test]
    fn nearby_inputs_do_not_collide() {
        let mut seen = HashSet::new();
        for a in 0u64..256 {
            for b in 0u8..64 {
                assert!(seen.insert(hash_one(&(a, b))), "collision at {a} {b}");
            }
        }
        let mut seen = HashSet::new();
        for n in 0..64usize {
            let bytes = vec![0u8; n];
            assert!(
                seen.insert(hash_one(&bytes.as_slice())),
                "collision at length {n}"
            );
            assert!(seen.insert(hash_one(&(n as u8))), "collision at byte {n}");
        }
        assert_ne!(hash_one(&("ab", "")), hash_one(&("a", "b")));
    }
}
