//! Datagram payloads in flight and in receive buffers, without allocating.
//!
//! A send copies the caller's bytes once, into a [`Payload`]: small payloads
//! (up to [`INLINE`] bytes, which covers pings, acks and most benchmark
//! traffic) live inline in the value itself; larger ones in a `Vec` taken
//! from a [`Pool`] of buffers that earlier datagrams left behind when they
//! were received or dropped. In steady state no datagram allocates. The pool
//! keeps a bounded number of modest buffers, so a burst of huge datagrams
//! does not pin memory. A message between processes travels as the message
//! itself (an [`Envelope`]) and becomes bytes only if something reads them.
//! This module knows nothing about addresses or time.

use crate::process::message::Envelope;

/// Payloads up to this many bytes are stored inline.
pub(crate) const INLINE: usize = 15;
/// At most this many spare buffers are kept.
const MAX_POOLED: usize = 1024;
/// Buffers larger than this are freed rather than kept.
const MAX_POOLED_CAPACITY: usize = 2048;

/// The bytes of one datagram copy (32 bytes whichever the kind).
pub(crate) enum Payload {
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Vec<u8>),
    /// A message between processes, not yet written out as bytes: its
    /// sender moved it in, its receiving process moves it out. Whatever
    /// needs the bytes first calls [`Pool::materialize`], which turns it
    /// into the datagram it stands for.
    Envelope(Box<Envelope>),
}

// Copied for model-checking checkpoints; `clone_from` reuses a heap
// buffer.
impl Clone for Payload {
    fn clone(&self) -> Self {
        match self {
            Payload::Inline { len, bytes } => Payload::Inline {
                len: *len,
                bytes: *bytes,
            },
            Payload::Heap(bytes) => Payload::Heap(bytes.clone()),
            Payload::Envelope(envelope) => Payload::Envelope(envelope.clone()),
        }
    }

    fn clone_from(&mut self, source: &Self) {
        match (&mut *self, source) {
            (Payload::Heap(mine), Payload::Heap(theirs)) => mine.clone_from(theirs),
            _ => *self = source.clone(),
        }
    }
}

impl Payload {
    /// No bytes.
    pub(crate) const EMPTY: Payload = Payload::Inline {
        len: 0,
        bytes: [0; INLINE],
    };

    /// The bytes; an envelope must have been materialized first.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Inline { len, bytes } => &bytes[..*len as usize],
            Payload::Heap(bytes) => bytes,
            Payload::Envelope(_) => unmaterialized(),
        }
    }

    /// The bytes, to alter; an envelope must have been materialized first.
    #[inline]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            Payload::Inline { len, bytes } => &mut bytes[..*len as usize],
            Payload::Heap(bytes) => bytes,
            Payload::Envelope(_) => unmaterialized(),
        }
    }

    /// Feeds the bytes to `hasher` (an envelope's are written out into a
    /// scratch buffer, so it hashes exactly like the datagram).
    pub(crate) fn hash_bytes(&self, hasher: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        match self {
            Payload::Envelope(envelope) => envelope.with_datagram(|bytes| bytes.hash(hasher)),
            bytes => bytes.as_slice().hash(hasher),
        }
    }

    /// Copies `data` into an inline payload made by [`Pool::payload_for`]
    /// (heap payloads already hold it).
    #[inline]
    pub(crate) fn fill(&mut self, data: &[u8]) {
        if let Payload::Inline { len, bytes } = self {
            bytes[..*len as usize].copy_from_slice(data);
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Payload::Inline { len, .. } => *len as usize,
            Payload::Heap(bytes) => bytes.len(),
            Payload::Envelope(envelope) => envelope.wire_len(),
        }
    }
}

#[cold]
#[inline(never)]
fn unmaterialized() -> ! {
    unreachable!("a process message's bytes were read before it was materialized")
}

/// Spare heap buffers for payloads larger than [`INLINE`].
#[derive(Default)]
pub(crate) struct Pool {
    free: Vec<Vec<u8>>,
}

/// Buffers kept per thread from dropped simulations' pools.
const SPARE_KEPT: usize = 64;

thread_local! {
    /// Payload buffers of dropped simulations, for the next simulation on
    /// this thread: a model checker builds a simulation per execution, and
    /// each would otherwise allocate a buffer for every datagram it sends
    /// before its own pool fills.
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for Pool {
    fn drop(&mut self) {
        if self.free.is_empty() {
            return;
        }
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                let room = SPARE_KEPT.saturating_sub(spare.len());
                let keep = self.free.len().min(room);
                spare.extend(self.free.drain(..keep));
            }
        });
    }
}

/// A buffer from this thread's spares, or a new one.
#[cold]
fn spare_buffer() -> Vec<u8> {
    SPARE
        .try_with(|spare| spare.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten()
        .unwrap_or_default()
}

impl Pool {
    /// A payload holding a copy of `data`.
    #[inline]
    pub(crate) fn payload(&mut self, data: &[u8]) -> Payload {
        if data.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..data.len()].copy_from_slice(data);
            return Payload::Inline {
                len: data.len() as u8,
                bytes,
            };
        }
        let mut buffer = self.free.pop().unwrap_or_else(spare_buffer);
        buffer.clear();
        buffer.extend_from_slice(data);
        Payload::Heap(buffer)
    }

    /// A payload for `data` whose bytes, if inline, are still zeros: call
    /// [`Payload::fill`] once it sits in its final place. Copying bytes into
    /// a value that is moved right after makes the CPU reload them before
    /// the narrow stores retire (a store-forwarding stall that cost a
    /// quarter of a send); filling in place avoids the reload.
    #[inline]
    pub(crate) fn payload_for(&mut self, data: &[u8]) -> Payload {
        if data.len() <= INLINE {
            return Payload::Inline {
                len: data.len() as u8,
                bytes: [0; INLINE],
            };
        }
        self.payload(data)
    }

    /// Turns an envelope into the datagram it stands for (other payloads
    /// are bytes already).
    #[inline]
    pub(crate) fn materialize(&mut self, payload: &mut Payload) {
        if let Payload::Envelope(envelope) = payload {
            let mut buffer = self.free.pop().unwrap_or_else(spare_buffer);
            envelope.encode(&mut buffer);
            *payload = Payload::Heap(buffer);
        }
    }

    /// Takes back a payload that is no longer needed.
    #[inline]
    pub(crate) fn recycle(&mut self, payload: Payload) {
        if let Payload::Heap(buffer) = payload {
            if self.free.len() < MAX_POOLED && buffer.capacity() <= MAX_POOLED_CAPACITY {
                self.free.push(buffer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::Message;

    #[test]
    fn an_envelope_becomes_exactly_its_datagram() {
        let envelope = Envelope {
            from: "client".into(),
            to: "server".into(),
            msg: Message::new("PING", r#"{"value":"Hello!"}"#),
        };
        let mut datagram = Vec::new();
        envelope.encode(&mut datagram);
        assert_eq!(envelope.wire_len(), datagram.len());

        let mut pool = Pool::default();
        let mut payload = Payload::Envelope(Box::new(envelope));
        assert_eq!(
            payload.len(),
            datagram.len(),
            "its length before it is bytes"
        );
        let hash = |payload: &Payload| {
            use std::hash::Hasher;
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            payload.hash_bytes(&mut hasher);
            hasher.finish()
        };
        let before = hash(&payload);
        pool.materialize(&mut payload);
        assert!(matches!(payload, Payload::Heap(_)));
        assert_eq!(payload.as_slice(), datagram);
        assert_eq!(before, hash(&payload), "hashed like the datagram");
        let bytes = pool.payload(&datagram);
        assert_eq!(hash(&bytes), before);
    }

    #[test]
    fn small_payloads_are_inline_and_large_ones_reuse_buffers() {
        let mut pool = Pool::default();
        let small = pool.payload(b"ping");
        assert!(matches!(small, Payload::Inline { .. }));
        assert_eq!(small.as_slice(), b"ping");
        let edge = pool.payload(&[7; INLINE]);
        assert!(matches!(edge, Payload::Inline { .. }));
        for len in 0..=INLINE {
            let data: Vec<u8> = (1..=len as u8).collect();
            let mut payload = pool.payload(&data);
            assert_eq!(payload.as_slice(), data, "{len} bytes");
            assert_eq!(payload.len(), len);
            if len > 0 {
                payload.as_mut_slice()[len - 1] = 0xFF;
                assert_eq!(payload.as_slice()[len - 1], 0xFF);
            }
        }

        let big = pool.payload(&[1; 100]);
        let Payload::Heap(buffer) = &big else {
            panic!("100 bytes are not inline")
        };
        let address = buffer.as_ptr();
        pool.recycle(big);
        let mut again = pool.payload(&[2; 50]);
        let Payload::Heap(buffer) = &again else {
            panic!("50 bytes are not inline")
        };
        assert_eq!(buffer.as_ptr(), address, "the buffer was reused");
        again.as_mut_slice()[0] = 9;
        let mut later = pool.payload_for(b"filled in place");
        assert_eq!(later.as_slice(), [0; 15]);
        later.fill(b"filled in place");
        assert_eq!(later.as_slice(), b"filled in place");
        assert_eq!(again.as_slice()[..2], [9, 2]);
        assert_eq!(again.len(), 50);
    }
}
