//! [`Message`]: what processes exchange — a type tag (`tip`) and a payload,
//! JSON by convention — and its compact wire form.
//!
//! On the wire a message to another node is one UDP datagram:
//!
//! ```text
//! header | data | header-reversed
//! header          = u16 len, from, 0, to, 0, tip, u32 checksum
//! ```
//!
//! Names, tip and data stay readable text in a Wireshark capture. The header
//! appears twice (at the start, and mirrored at the end) with a checksum, so
//! that the network's corruption fault — one flipped bit per corrupted copy —
//! can only ever alter the data: the receiver always recovers who sent the
//! message and its tip, and gets a still valid [`Message`] whose data differs
//! (invalid UTF-8 is replaced, like `String::from_utf8_lossy`).

use serde::{de::DeserializeOwned, Serialize};
use std::{borrow::Cow, fmt, rc::Rc};

/// The type of a message's tip: a string stored inline up to 24 bytes
/// (every usual tip), so that making and dropping a message allocates
/// nothing for it. It derefs to `str`, compares with `&str` and `String`,
/// and converts from both.
pub type Tip = compact_str::CompactString;

/// A message between processes, or between a process and the test (local
/// messages): a type tag and a payload (JSON text by convention).
///
/// ```
/// use bach::process::Message;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, PartialEq, Debug)]
/// struct Ping { value: String }
///
/// let msg = Message::json("PING", &Ping { value: "Hello!".into() });
/// assert_eq!(msg.tip(), "PING");
/// assert_eq!(msg.data(), r#"{"value":"Hello!"}"#);
/// assert_eq!(msg.parse::<Ping>().unwrap(), Ping { value: "Hello!".into() });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Message {
    /// The message type, e.g. `PING`: a [`Tip`] (a string kept inline up to
    /// 24 bytes; compares with `&str` and `String`, derefs to `str`).
    pub tip: Tip,
    /// The payload, JSON text by convention.
    pub data: String,
}

impl Message {
    /// A message with type `tip` and payload `data` (taken as is).
    pub fn new(tip: impl Into<Tip>, data: impl Into<String>) -> Self {
        Self {
            tip: tip.into(),
            data: data.into(),
        }
    }

    /// A message with type `tip` whose payload is `value` as JSON. Panics
    /// if `value` cannot be serialized (a map with non-string keys, or a
    /// `Serialize` impl that fails).
    #[track_caller]
    pub fn json(tip: impl Into<Tip>, value: &impl Serialize) -> Self {
        let tip = tip.into();
        let data = serde_json::to_string(value).unwrap_or_else(|error| {
            panic!("Message::json: cannot serialize the data of a `{tip}` message: {error}")
        });
        Self { tip, data }
    }

    /// The message type.
    pub fn tip(&self) -> &str {
        &self.tip
    }

    /// The payload.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// Parses the payload as JSON; fails if it is not a valid `T` (for
    /// instance after the network corrupted it).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.data)
    }

    /// Bytes of tip and data (what `Simulation::traffic` counts).
    pub fn size(&self) -> usize {
        self.tip.len() + self.data.len()
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.tip, self.data)
    }
}

fn checksum(bytes: &[u8]) -> u32 {
    // FNV-1a: any single flipped bit changes it.
    let mut hash = 0x811c_9dc5u32;
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Encodes a message from `from` to `to` into `out` (cleared first): the
/// header, the data, and the header mirrored.
pub(crate) fn encode(out: &mut Vec<u8>, from: &str, to: &str, msg: &Message) {
    out.clear();
    out.reserve(wire_len(from, to, msg));
    let header = 2 + from.len() + 1 + to.len() + 1 + msg.tip.len();
    let len = u16::try_from(header - 2).expect("process names and tip fit in 64 KiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(from.as_bytes());
    out.push(0);
    out.extend_from_slice(to.as_bytes());
    out.push(0);
    out.extend_from_slice(msg.tip.as_bytes());
    let sum = checksum(out);
    out.extend_from_slice(&sum.to_be_bytes());
    let header = header + 4;
    out.extend_from_slice(msg.data.as_bytes());
    // The mirrored copy: the header's bytes in reverse order.
    out.extend_from_within(..header);
    out[header + msg.data.len()..].reverse();
}

/// The length of the datagram [`encode`] writes.
#[inline]
pub(crate) fn wire_len(from: &str, to: &str, msg: &Message) -> usize {
    2 * (2 + from.len() + 1 + to.len() + 1 + msg.tip.len() + 4) + msg.data.len()
}

/// A message between processes on its way through the network, kept as it
/// is rather than as bytes: the datagram it stands for (see the module
/// docs) is written out only when something reads the bytes — a capture,
/// a network monitor, a corruption, model checking, a reader
/// that is not the receiving process. Its length, and so every decision the
/// network takes, is that of the datagram.
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub(crate) from: Rc<str>,
    pub(crate) to: Rc<str>,
    pub(crate) msg: Message,
}

impl Envelope {
    /// Readdresses a reused envelope from `from` to `to`. An envelope a
    /// reply reuses already names both, the other way round: swapping
    /// them costs no reference counting.
    #[inline(always)]
    pub(crate) fn address(&mut self, from: &Rc<str>, to: &Rc<str>) {
        if Rc::ptr_eq(&self.from, to) && Rc::ptr_eq(&self.to, from) {
            std::mem::swap(&mut self.from, &mut self.to);
            return;
        }
        if !Rc::ptr_eq(&self.from, from) {
            self.from = from.clone();
        }
        if !Rc::ptr_eq(&self.to, to) {
            self.to = to.clone();
        }
    }

    /// The length of the datagram.
    #[inline]
    pub(crate) fn wire_len(&self) -> usize {
        wire_len(&self.from, &self.to, &self.msg)
    }

    /// Writes the datagram into `out` (cleared first).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        encode(out, &self.from, &self.to, &self.msg);
    }

    /// Runs `f` on the datagram, written into a per-thread buffer that is
    /// reused (writing a message out allocates nothing in steady state).
    pub(crate) fn with_datagram<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut bytes = DATAGRAM
            .try_with(|buffer| buffer.take())
            .unwrap_or_default();
        self.encode(&mut bytes);
        let result = f(&bytes);
        let _ = DATAGRAM.try_with(|buffer| buffer.set(bytes));
        result
    }
}

thread_local! {
    /// The buffer [`Envelope::with_datagram`] writes into (a nested call
    /// finds it taken and uses a new one).
    static DATAGRAM: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A decoded datagram, borrowing from it where it can.
pub(crate) struct Decoded<'a> {
    pub(crate) from: Cow<'a, str>,
    pub(crate) to: Cow<'a, str>,
    pub(crate) tip: Cow<'a, str>,
    pub(crate) data: Cow<'a, str>,
}

impl<'a> Decoded<'a> {
    /// Sender, receiver and the message itself.
    pub(crate) fn split(self) -> (Cow<'a, str>, Cow<'a, str>, Message) {
        let msg = Message {
            tip: Tip::from(self.tip),
            data: self.data.into_owned(),
        };
        (self.from, self.to, msg)
    }
}

/// Checks a header copy laid out forwards; returns its fields' bytes
/// (`from, 0, to, 0, tip`) and the copy's length.
fn parse_header(copy: &[u8]) -> Option<(&[u8], usize)> {
    let len = usize::from(u16::from_be_bytes([*copy.first()?, *copy.get(1)?]));
    let total = 2 + len + 4;
    let body = copy.get(..2 + len)?;
    let sum = copy.get(2 + len..total)?;
    if checksum(body).to_be_bytes() != sum {
        return None;
    }
    Some((&body[2..], total))
}

/// Whether `tail` is `head` reversed (equal lengths), compared eight
/// bytes at a time: a forward little-endian word of `head` equals the
/// big-endian word read at the mirrored position of `tail`.
fn mirrors(head: &[u8], tail: &[u8]) -> bool {
    let n = head.len();
    if tail.len() != n {
        return false;
    }
    let mut i = 0;
    while i + 8 <= n {
        let forward = u64::from_le_bytes(head[i..i + 8].try_into().expect("8 bytes"));
        let mirrored = u64::from_be_bytes(tail[n - i - 8..n - i].try_into().expect("8 bytes"));
        if forward != mirrored {
            return false;
        }
        i += 8;
    }
    (i..n).all(|j| head[j] == tail[n - 1 - j])
}

/// `bytes` as text, if valid UTF-8. ASCII (process names, tips, most
/// JSON) is recognised a word at a time, several times faster on short
/// fields than the general validation, which the rest still gets.
fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

/// The three text fields of a header. The fields are validated as UTF-8
/// in one go (NUL separators are char boundaries, so the whole is valid
/// exactly when every field is).
fn fields(bytes: &[u8]) -> Option<[&str; 3]> {
    let text = text(bytes)?;
    let first = bytes.iter().position(|&b| b == 0)?;
    let second = first + 1 + bytes[first + 1..].iter().position(|&b| b == 0)?;
    Some([
        &text[..first],
        &text[first + 1..second],
        &text[second + 1..],
    ])
}

/// Decodes a datagram; `None` if it is not a process message at all.
///
/// A corrupted copy always yields altered data: when the flipped bit hit
/// one of the two header copies (which are then told apart), the lowest
/// bit of the data's first byte is flipped instead, so "a corrupted message
/// is a valid message with different data" holds for every bit position.
pub(crate) fn decode(wire: &[u8]) -> Option<Decoded<'_>> {
    let data_of = |header_len: usize, header_hit: bool| -> Option<Cow<'_, str>> {
        let data = wire.get(header_len..wire.len().checked_sub(header_len)?)?;
        if header_hit && !data.is_empty() {
            let mut altered = data.to_vec();
            altered[0] ^= 1;
            return Some(Cow::Owned(String::from_utf8_lossy(&altered).into_owned()));
        }
        // Valid UTF-8 (every uncorrupted message) takes the fast check;
        // only a corrupted payload pays for the lossy conversion.
        match text(data) {
            Some(text) => Some(Cow::Borrowed(text)),
            None => Some(String::from_utf8_lossy(data)),
        }
    };
    if let Some((header, len)) = parse_header(wire) {
        let [from, to, tip] = fields(header)?;
        let mirror_intact =
            wire.len() >= 2 * len && mirrors(&wire[..len], &wire[wire.len() - len..]);
        return Some(Decoded {
            from: Cow::Borrowed(from),
            to: Cow::Borrowed(to),
            tip: Cow::Borrowed(tip),
            data: data_of(len, !mirror_intact)?,
        });
    }
    // The first copy was hit: read the mirrored copy at the end.
    let n = wire.len();
    let len = usize::from(u16::from_be_bytes([
        *wire.get(n.checked_sub(1)?)?,
        *wire.get(n.checked_sub(2)?)?,
    ]));
    let total = 2 + len + 4;
    let tail: Vec<u8> = wire
        .get(n.checked_sub(total)?..)?
        .iter()
        .rev()
        .copied()
        .collect();
    let (header, len) = parse_header(&tail)?;
    let [from, to, tip] = fields(header)?;
    let owned = |text: &str| Cow::Owned(text.to_string());
    Some(Decoded {
        from: owned(from),
        to: owned(to),
        tip: owned(tip),
        data: data_of(len, true)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_bit_flip_leaves_names_and_tip_intact() {
        let msg = Message::new("PING", r#"{"value":"Hello!"}"#);
        let mut wire = Vec::new();
        encode(&mut wire, "client", "server", &msg);
        assert_eq!(wire.len(), wire_len("client", "server", &msg));
        let clean = decode(&wire).expect("decodes");
        assert_eq!((&*clean.from, &*clean.to), ("client", "server"));
        assert_eq!((&*clean.tip, &*clean.data), (msg.tip(), msg.data()));
        for bit in 0..wire.len() * 8 {
            let mut hit = wire.clone();
            hit[bit / 8] ^= 1 << (bit % 8);
            let got = decode(&hit).unwrap_or_else(|| panic!("bit {bit}: undecodable"));
            assert_eq!(got.from, "client", "bit {bit}");
            assert_eq!(got.to, "server", "bit {bit}");
            assert_eq!(got.tip, "PING", "bit {bit}");
            assert_ne!(got.data, msg.data(), "bit {bit}: the data must differ");
        }
    }
}
