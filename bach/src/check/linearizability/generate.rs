//! Deterministic histories of real linearizable objects, for the unit tests
//! and for `benches/linearizability.rs` (which includes this file).
//!
//! Clients run operations one after another, thinking between two for as
//! long as an operation takes on average, so about half of the clients
//! have an operation in flight at any time; each operation takes effect
//! at one instant strictly inside its interval, and the outputs are what a
//! real object applying the effects in that order returns, so the history
//! is linearizable by construction. About one operation in two hundred
//! times out: it never returns, and takes effect or not with even odds.
//! Values written are unique, so a read names the write it saw.

use super::{
    models::{KvInput, KvOutput, RegisterInput, RegisterOutput},
    Operation,
};
use std::collections::HashMap;

/// A history of a [`KeyValue`](super::models::KeyValue) map of `u64`s.
pub type KvHistory = Vec<Operation<KvInput<u64, u64>, KvOutput<u64>>>;

/// A history of a [`Register`](super::models::Register) of `u64`s that
/// starts at 0.
pub type RegisterHistory = Vec<Operation<RegisterInput<u64>, RegisterOutput<u64>>>;

/// A key-value history of `operations` operations by `clients` clients on
/// `keys` keys: half gets, 40% puts, 10% compare-and-swaps.
pub fn kv(seed: u64, operations: usize, keys: u64, clients: u64) -> KvHistory {
    let mut rng = Rng(seed);
    let mut last_written: HashMap<u64, u64> = HashMap::new();
    let inputs: Vec<KvInput<u64, u64>> = (1..=operations as u64)
        .map(|fresh| {
            let key = rng.below(keys);
            match rng.below(10) {
                0..=4 => KvInput::Get(key),
                5..=8 => {
                    last_written.insert(key, fresh);
                    KvInput::Put(key, fresh)
                }
                _ => KvInput::Cas {
                    key,
                    expected: last_written.get(&key).copied(),
                    new: fresh,
                },
            }
        })
        .collect();
    let mut values: HashMap<u64, u64> = HashMap::new();
    run(&mut rng, inputs, clients, |input| match input {
        KvInput::Get(key) => KvOutput::Get(values.get(key).copied()),
        KvInput::Put(key, value) => {
            values.insert(*key, *value);
            KvOutput::Put
        }
        KvInput::Cas { key, expected, new } => {
            let swapped = values.get(key) == expected.as_ref();
            if swapped {
                values.insert(*key, *new);
            }
            KvOutput::Cas(swapped)
        }
    })
}

/// A register history of `operations` operations by `clients` clients:
/// half reads, 40% writes, 10% compare-and-swaps.
pub fn register(seed: u64, operations: usize, clients: u64) -> RegisterHistory {
    let mut rng = Rng(seed);
    let mut last_written = 0;
    let inputs: Vec<RegisterInput<u64>> = (1..=operations as u64)
        .map(|fresh| match rng.below(10) {
            0..=4 => RegisterInput::Read,
            5..=8 => {
                last_written = fresh;
                RegisterInput::Write(fresh)
            }
            _ => RegisterInput::Cas {
                expected: last_written,
                new: fresh,
            },
        })
        .collect();
    let mut value = 0;
    run(&mut rng, inputs, clients, |input| match input {
        RegisterInput::Read => RegisterOutput::Read(value),
        RegisterInput::Write(new) => {
            value = *new;
            RegisterOutput::Write
        }
        RegisterInput::Cas { expected, new } => {
            let swapped = value == *expected;
            if swapped {
                value = *new;
            }
            RegisterOutput::Cas(swapped)
        }
    })
}

/// Makes one get in the second half of `history` return the value its key
/// held before a write that completed before the get was called, itself
/// after that value's write completed: a stale read that no order explains.
/// Returns the get's position, or `None` if the history has no such get.
pub fn inject_stale_read(history: &mut KvHistory) -> Option<usize> {
    // The operation that wrote each value (values are unique).
    let writer: HashMap<u64, usize> = history
        .iter()
        .enumerate()
        .filter_map(|(at, op)| match op.input {
            KvInput::Put(_, value) => Some((value, at)),
            KvInput::Cas { new, .. } if op.output == Some(KvOutput::Cas(true)) => Some((new, at)),
            _ => None,
        })
        .collect();
    for at in history.len() / 2..history.len() {
        let (KvInput::Get(key), Some(KvOutput::Get(Some(seen)))) =
            (&history[at].input, &history[at].output)
        else {
            continue;
        };
        // The write it saw, which must have returned before the get was
        // called (a compare-and-swap that never returned is not in `writer`:
        // skip the get).
        let Some(later) = writer.get(seen).map(|&w| &history[w]) else {
            continue;
        };
        if later.ret.is_none_or(|ret| ret >= history[at].call) {
            continue;
        }
        // An earlier completed write to the same key, done before `later`
        // was called.
        let earlier = history.iter().find_map(|op| match (&op.input, op.ret) {
            (KvInput::Put(k, value), Some(ret))
                if k == key && ret < later.call && value != seen =>
            {
                Some(*value)
            }
            _ => None,
        });
        if let Some(stale) = earlier {
            history[at].output = Some(KvOutput::Get(Some(stale)));
            return Some(at);
        }
    }
    None
}

/// Schedules `inputs` on `clients` clients and computes their outputs by
/// applying them, in the order they take effect, with `apply`.
fn run<I, O>(
    rng: &mut Rng,
    inputs: Vec<I>,
    clients: u64,
    mut apply: impl FnMut(&I) -> O,
) -> Vec<Operation<I, O>> {
    struct Slot {
        client: u64,
        call: u64,
        effect: Option<u64>,
        ret: Option<u64>,
    }
    let mut free_at = vec![0u64; clients as usize];
    let slots: Vec<Slot> = (0..inputs.len())
        .map(|n| {
            let client = n as u64 % clients;
            let call = free_at[client as usize] + rng.below(100);
            let effect = call + 1 + rng.below(50);
            let ret = effect + 1 + rng.below(50);
            if rng.below(200) == 0 {
                // A timeout: the client gives up and moves on.
                free_at[client as usize] = ret + 100;
                let took_effect = rng.below(2) == 0;
                return Slot {
                    client,
                    call,
                    effect: took_effect.then_some(effect),
                    ret: None,
                };
            }
            free_at[client as usize] = ret;
            Slot {
                client,
                call,
                effect: Some(effect),
                ret: Some(ret),
            }
        })
        .collect();
    let mut by_effect: Vec<usize> = (0..slots.len())
        .filter(|&n| slots[n].effect.is_some())
        .collect();
    by_effect.sort_by_key(|&n| (slots[n].effect, n));
    let mut outputs: Vec<Option<O>> = (0..slots.len()).map(|_| None).collect();
    for n in by_effect {
        outputs[n] = Some(apply(&inputs[n]));
    }
    inputs
        .into_iter()
        .zip(slots)
        .zip(outputs)
        .map(|((input, slot), output)| Operation {
            client: slot.client,
            input,
            call: slot.call,
            output: output.filter(|_| slot.ret.is_some()),
            ret: slot.ret,
        })
        .collect()
}

/// splitmix64: a small deterministic generator for test data.
pub struct Rng(pub u64);

impl Rng {
    /// The next word.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` for test data.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
