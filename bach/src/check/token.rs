//! Replay tokens: a compact, printable record of one execution's choices.
//!
//! A [`Recording`] holds what a rerun needs: whether interleavings were
//! explored (and with which reduction), where raw random words came from
//! (a seed, or each word itself when a fuzzer produced them) and every
//! discrete choice in order, each with its number of options so a replay
//! can tell when the code no longer makes the same choices.
//!
//! The token is that record as a stream of LEB128 varints in URL-safe
//! base64 without padding: `[version, flags, seed?, entries…]`, an entry
//! being `options, chosen` for a choice (`options >= 2`) or `0, word` for a
//! raw word. It names no addresses, pointers or symbols, so it survives a
//! recompile of unchanged code; choices among one option are not recorded.

use crate::rand::source::ChoiceSource;
use rand::{Rng as _, SeedableRng as _};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::{fmt, io};

const VERSION: u64 = 1;
const INTERLEAVINGS: u64 = 1;
const NO_REDUCTION: u64 = 1 << 1;
const SEEDED_WORDS: u64 = 1 << 2;
const MODEL: u64 = 1 << 3;
const MESSAGES_FIRST: u64 = 1 << 4;
const STAGE: u64 = 1 << 5;
const ENUMERATE_VALUES: u64 = 1 << 6;
/// Model checking with crash or restart budgets (two more numbers).
const CRASHES: u64 = 1 << 7;

/// One recorded decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `chosen` among `options` alternatives (`options >= 2`).
    Choice { options: u64, chosen: u64 },
    /// A raw random word that did not come from a seed.
    Word(u64),
}

/// Everything needed to rerun one execution exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Recording {
    pub(crate) interleavings: bool,
    pub(crate) reduction: bool,
    /// Raw words come from `Xoshiro256PlusPlus::seed_from_u64(seed)`;
    /// `None`: each word is an [`Entry::Word`].
    pub(crate) words_seed: Option<u64>,
    /// Model checking: `[drops, duplicates, corruptions, crashes,
    /// restarts]` budgets and
    /// whether messages go first.
    pub(crate) model: Option<([u32; 5], bool)>,
    /// A path continued from a collected state: the stimulus was applied
    /// after this many events.
    pub(crate) stage: Option<u32>,
    /// `bach::rand::gen_bool` was a choice (`Explorer::enumerate_values`).
    pub(crate) enumerate_values: bool,
    pub(crate) entries: Vec<Entry>,
}

impl Recording {
    /// The printable token.
    pub(crate) fn token(&self) -> String {
        let mut bytes = Vec::with_capacity(8 + self.entries.len() * 2);
        let mut flags = 0;
        if self.interleavings {
            flags |= INTERLEAVINGS;
        }
        if !self.reduction {
            flags |= NO_REDUCTION;
        }
        if self.words_seed.is_some() {
            flags |= SEEDED_WORDS;
        }
        if let Some((budgets, messages_first)) = self.model {
            flags |= MODEL;
            if messages_first {
                flags |= MESSAGES_FIRST;
            }
            if budgets[3] > 0 || budgets[4] > 0 {
                flags |= CRASHES;
            }
        }
        if self.stage.is_some() {
            flags |= STAGE;
        }
        if self.enumerate_values {
            flags |= ENUMERATE_VALUES;
        }
        put(&mut bytes, VERSION);
        put(&mut bytes, flags);
        if let Some(seed) = self.words_seed {
            put(&mut bytes, seed);
        }
        if let Some((budgets, _)) = self.model {
            let counted = if flags & CRASHES != 0 { 5 } else { 3 };
            for budget in &budgets[..counted] {
                put(&mut bytes, u64::from(*budget));
            }
        }
        if let Some(stage) = self.stage {
            put(&mut bytes, u64::from(stage));
        }
        for entry in &self.entries {
            match *entry {
                Entry::Choice { options, chosen } => {
                    put(&mut bytes, options);
                    put(&mut bytes, chosen);
                }
                Entry::Word(word) => {
                    put(&mut bytes, 0);
                    put(&mut bytes, word);
                }
            }
        }
        base64(&bytes)
    }

    /// Parses a token (surrounding whitespace and a leading `BACH_REPLAY=`
    /// are ignored).
    pub(crate) fn parse(token: &str) -> io::Result<Recording> {
        let trimmed = token.trim();
        let text = trimmed.strip_prefix("BACH_REPLAY=").unwrap_or(trimmed);
        let invalid = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` is not a bach replay token: {why}", shorten(token)),
            )
        };
        let bytes = unbase64(text).ok_or_else(|| invalid("not URL-safe base64"))?;
        let mut reader = Reader {
            bytes: &bytes,
            at: 0,
        };
        let mut next = |what: &str| reader.next().ok_or_else(|| invalid(what));
        let version = next("empty")?;
        if version != VERSION {
            return Err(invalid(&format!(
                "version {version}, this bach reads version {VERSION}"
            )));
        }
        let flags = next("no flags")?;
        let known = INTERLEAVINGS
            | NO_REDUCTION
            | SEEDED_WORDS
            | MODEL
            | MESSAGES_FIRST
            | STAGE
            | ENUMERATE_VALUES
            | CRASHES;
        if flags & !known != 0 {
            return Err(invalid("unknown flags"));
        }
        let words_seed = if flags & SEEDED_WORDS != 0 {
            Some(next("no seed")?)
        } else {
            None
        };
        let model = if flags & MODEL != 0 {
            let mut budgets = [0u32; 5];
            let counted = if flags & CRASHES != 0 { 5 } else { 3 };
            for budget in &mut budgets[..counted] {
                *budget =
                    u32::try_from(next("no budgets")?).map_err(|_| invalid("budget too large"))?;
            }
            Some((budgets, flags & MESSAGES_FIRST != 0))
        } else {
            None
        };
        let stage = if flags & STAGE != 0 {
            Some(u32::try_from(next("no stage")?).map_err(|_| invalid("stage too large"))?)
        } else {
            None
        };
        let mut entries = Vec::new();
        while reader.at < reader.bytes.len() {
            let tag = reader.next().ok_or_else(|| invalid("truncated"))?;
            let value = reader.next().ok_or_else(|| invalid("truncated"))?;
            entries.push(match tag {
                0 => Entry::Word(value),
                1 => return Err(invalid("a choice among one option")),
                options if value < options => Entry::Choice {
                    options,
                    chosen: value,
                },
                _ => return Err(invalid("a choice out of range")),
            });
        }
        Ok(Recording {
            interleavings: flags & INTERLEAVINGS != 0,
            reduction: flags & NO_REDUCTION == 0,
            words_seed,
            model,
            stage,
            enumerate_values: flags & ENUMERATE_VALUES != 0,
            entries,
        })
    }
}

fn shorten(token: &str) -> String {
    let mut short: String = token.chars().take(40).collect();
    if short.len() < token.len() {
        short.push('…');
    }
    short
}

fn put(bytes: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(low);
            return;
        }
        bytes.push(low | 0x80);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn next(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

fn unbase64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let digits: Option<Vec<u32>> = text
        .bytes()
        .map(|c| ALPHABET.iter().position(|a| *a == c).map(|p| p as u32))
        .collect();
    for chunk in digits?.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | d << (18 - 6 * i));
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

impl fmt::Display for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.token())
    }
}

/// A choice source that replays a [`Recording`] exactly, and panics with a
/// clear message the moment the code asks for something else.
pub(crate) struct Replay {
    recording: Recording,
    at: usize,
    words: Option<Xoshiro256PlusPlus>,
    token: String,
}

impl Replay {
    pub(crate) fn new(recording: Recording) -> Self {
        Self {
            words: recording.words_seed.map(Xoshiro256PlusPlus::seed_from_u64),
            token: recording.token(),
            recording,
            at: 0,
        }
    }

    #[cold]
    #[track_caller]
    fn diverged(&self, asked: String) -> ! {
        let expected = match self.recording.entries.get(self.at) {
            Some(Entry::Choice { options, .. }) => format!("a choice among {options}"),
            Some(Entry::Word(_)) => "a random word".to_string(),
            None => "nothing more (the recorded run had ended)".to_string(),
        };
        panic!(
            "replay diverged at recorded decision #{}: the code asked for {asked}, the token \
             expects {expected}. The code (or its inputs) changed since the token was made, or it \
             is nondeterministic (see Simulation::check_determinism).",
            self.at
        )
    }
}

impl ChoiceSource for Replay {
    fn choose(&mut self, options: usize) -> usize {
        if options <= 1 {
            return 0;
        }
        match self.recording.entries.get(self.at) {
            Some(&Entry::Choice {
                options: recorded,
                chosen,
            }) if recorded == options as u64 => {
                self.at += 1;
                chosen as usize
            }
            _ => self.diverged(format!("a choice among {options}")),
        }
    }

    fn next_u64(&mut self) -> u64 {
        if let Some(words) = &mut self.words {
            return words.next_u64();
        }
        match self.recording.entries.get(self.at) {
            Some(&Entry::Word(word)) => {
                self.at += 1;
                word
            }
            _ => self.diverged("a random word".to_string()),
        }
    }

    fn reproduce(&self) -> String {
        format!("replaying BACH_REPLAY={}", self.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Recording {
        Recording {
            interleavings: true,
            reduction: true,
            words_seed: Some(u64::MAX - 3),
            model: Some(([1, 0, 7, 2, 1], true)),
            stage: Some(3),
            enumerate_values: true,
            entries: vec![
                Entry::Choice {
                    options: 2,
                    chosen: 1,
                },
                Entry::Choice {
                    options: 300,
                    chosen: 299,
                },
                Entry::Word(0),
                Entry::Word(u64::MAX),
            ],
        }
    }

    #[test]
    fn tokens_round_trip() {
        for recording in [Recording::default(), sample()] {
            let token = recording.token();
            assert!(token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(Recording::parse(&token).unwrap(), recording);
            let prefixed = format!("  BACH_REPLAY={token}\n");
            assert_eq!(Recording::parse(&prefixed).unwrap(), recording);
        }
    }

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..20u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(97)).collect();
            assert_eq!(unbase64(&base64(&bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn bad_tokens_are_invalid_input_naming_the_token() {
        for bad in ["", "!!", "A", "Ag", "AQAD", "AgAA"] {
            let error = Recording::parse(bad).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(error.to_string().contains(&format!("`{bad}`")), "{error}");
        }
    }

    #[test]
    fn replay_serves_choices_and_detects_divergence() {
        let mut replay = Replay::new(sample());
        assert_eq!(replay.choose(1), 0);
        assert_eq!(replay.choose(2), 1);
        assert_eq!(replay.choose(300), 299);
        let diverged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| replay.choose(3)));
        let message = *diverged.unwrap_err().downcast::<String>().unwrap();
        assert!(
            message.contains("diverged at recorded decision #2"),
            "{message}"
        );
    }
}
