//! Footprints: the set of shared resources one step of a task touches (a
//! sync primitive, a queue, a socket endpoint), as the interleaving search
//! sees them. Two steps whose footprints do not intersect are independent:
//! running them in either order reaches the same state, so no search needs
//! to try both orders.
//!
//! A leaf: the kernel's scheduling points (`kernel::interleave`) fill
//! footprints, and the depth-first search with dynamic partial-order
//! reduction (`check::strategy::dpor`) compares them.

/// A resource as the reduction sees it: a primitive's number or its side
/// resource, a socket endpoint or the datagrams on their way to a node (top
/// bit set; a hash of the address). See
/// `kernel::interleave::{primitive, side, endpoint, arrivals}`.
pub(crate) type Key = u64;

/// Set in a key that only *shares* the resource (see [`shared`]). Endpoint
/// keys (top bit set) are always exclusive.
const SHARED: Key = 1 << 61;
const ENDPOINT: Key = 1 << 63;

/// `key` accessed in a way that commutes with other shared accesses of the
/// same resource (decrementing a count of handles that does not reach
/// zero): two shared accesses are independent, a shared and an exclusive
/// one are not. `key` must be a primitive's key.
pub(crate) fn shared(key: Key) -> Key {
    debug_assert!(key & ENDPOINT == 0, "endpoint keys are always exclusive");
    key | SHARED
}

/// Whether `key` only shares its resource (see [`shared`]).
pub(crate) fn is_shared(key: Key) -> bool {
    key & (ENDPOINT | SHARED) == SHARED
}

/// The resource a key names, whatever the access.
pub(crate) fn resource(key: Key) -> Key {
    if is_shared(key) {
        key & !SHARED
    } else {
        key
    }
}

/// Whether two accesses do not commute: the same resource, not both
/// shared.
fn conflict(a: Key, b: Key) -> bool {
    resource(a) == resource(b) && !(is_shared(a) && is_shared(b))
}

const INLINE: usize = 4;

/// A small set of keys; past [`INLINE`] keys it degrades to "everything".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Footprint {
    keys: [Key; INLINE],
    len: u8,
    all: bool,
}

impl Footprint {
    /// No resource.
    pub(crate) const EMPTY: Footprint = Footprint {
        keys: [0; INLINE],
        len: 0,
        all: false,
    };

    /// Every resource: what a step is taken to touch when what it did is
    /// not known exactly.
    pub(crate) const ALL: Footprint = Footprint {
        keys: [0; INLINE],
        len: 0,
        all: true,
    };

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0 && !self.all
    }

    /// The keys (empty when the footprint is every resource).
    pub(crate) fn keys(&self) -> &[Key] {
        &self.keys[..self.len as usize]
    }

    /// Whether the footprint is every resource.
    pub(crate) fn is_all(&self) -> bool {
        self.all
    }

    pub(crate) fn contains(&self, key: Key) -> bool {
        self.keys().contains(&key)
    }

    pub(crate) fn insert(&mut self, key: Key) {
        if self.all || self.contains(key) {
            return;
        }
        if is_shared(key) && self.contains(resource(key)) {
            // An exclusive access covers a shared one.
            return;
        }
        if !is_shared(key) && key & ENDPOINT == 0 {
            // An exclusive access replaces a shared one.
            self.remove(shared(key));
        }
        if (self.len as usize) < INLINE {
            self.keys[self.len as usize] = key;
            self.len += 1;
        } else {
            self.all = true;
        }
    }

    pub(crate) fn remove(&mut self, key: Key) -> bool {
        let len = self.len as usize;
        match self.keys[..len].iter().position(|k| *k == key) {
            Some(at) => {
                self.keys.copy_within(at + 1..len, at);
                self.len -= 1;
                true
            }
            None => false,
        }
    }

    pub(crate) fn union(&mut self, other: &Footprint) {
        if other.all {
            self.all = true;
        }
        for key in other.keys() {
            self.insert(*key);
        }
    }

    pub(crate) fn intersects(&self, other: &Footprint) -> bool {
        if self.is_empty() || other.is_empty() {
            return false;
        }
        if self.all || other.all {
            return true;
        }
        self.keys()
            .iter()
            .any(|key| other.keys().iter().any(|theirs| conflict(*key, *theirs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_accesses_commute_with_each_other_only() {
        let one = |key| {
            let mut footprint = Footprint::EMPTY;
            footprint.insert(key);
            footprint
        };
        assert!(!one(shared(5)).intersects(&one(shared(5))));
        assert!(one(shared(5)).intersects(&one(5)));
        assert!(one(5).intersects(&one(shared(5))));
        assert!(!one(shared(5)).intersects(&one(6)));
        // An exclusive access covers the shared one.
        let mut both = one(shared(5));
        both.insert(5);
        assert_eq!(both, one(5));
        both.insert(shared(5));
        assert_eq!(both, one(5));
    }

    #[test]
    fn footprints_intersect_on_shared_keys_only() {
        let mut a = Footprint::EMPTY;
        let mut b = Footprint::EMPTY;
        assert!(!a.intersects(&b));
        a.insert(1);
        b.insert(2);
        assert!(!a.intersects(&b));
        b.insert(1);
        assert!(a.intersects(&b));
        assert!(b.remove(1));
        assert!(!a.intersects(&b));
    }

    #[test]
    fn overflow_means_everything_but_empty_stays_independent() {
        let mut wide = Footprint::EMPTY;
        for key in 0..=INLINE as u64 {
            wide.insert(key + 100);
        }
        let mut other = Footprint::EMPTY;
        other.insert(7);
        assert!(wide.intersects(&other));
        assert!(!wide.intersects(&Footprint::EMPTY));
    }
}
