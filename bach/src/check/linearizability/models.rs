//! Models of common objects, ready to check histories against: a register,
//! a key-value map, a FIFO queue, a set and a lock.
//!
//! Each is generic over its values (and keys), which need `Clone + Eq +
//! Hash + Debug` and, to be shared by the checker's threads, `Sync`. Inputs
//! and outputs are enums whose variants pair up by name: the output of
//! `RegisterInput::Write(3)` is `RegisterOutput::Write`. An output of
//! another operation's variant is illegal.
//!
//! The map and the set are partitioned (by key, by element): each key is
//! checked on its own, with one key's value as the state, which keeps large
//! histories cheap. The register, the queue and the lock are one object
//! each; record several registers or locks as a map, or as separate
//! histories.

use super::model::Model;
use std::{
    collections::{HashMap, VecDeque},
    fmt::Debug,
    hash::Hash,
    marker::PhantomData,
};

/// What the shipped models' values and keys need.
pub trait Value: Clone + Eq + Hash + Debug + Sync {}

impl<T: Clone + Eq + Hash + Debug + Sync> Value for T {}

/// A read/write register with compare-and-swap, holding a `V`.
#[derive(Clone, Debug)]
pub struct Register<V> {
    initial: V,
}

impl<V> Register<V> {
    /// A register that holds `initial` before the first write.
    pub fn new(initial: V) -> Self {
        Self { initial }
    }
}

/// An operation on a [`Register`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterInput<V> {
    /// Reads the value.
    Read,
    /// Writes a value.
    Write(V),
    /// Writes `new` if the register holds `expected`.
    Cas {
        /// The value the register must hold.
        expected: V,
        /// The value written if it does.
        new: V,
    },
}

/// What an operation on a [`Register`] returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOutput<V> {
    /// The value read.
    Read(V),
    /// The write is done.
    Write,
    /// Whether the compare-and-swap wrote.
    Cas(bool),
}

impl<V: Value> Model for Register<V> {
    type State = V;
    type Input = RegisterInput<V>;
    type Output = RegisterOutput<V>;

    fn init(&self) -> V {
        self.initial.clone()
    }

    fn step(&self, state: &V, input: &Self::Input, output: Option<&Self::Output>) -> Option<V> {
        let (next, result) = match input {
            RegisterInput::Read => (state.clone(), RegisterOutput::Read(state.clone())),
            RegisterInput::Write(value) => (value.clone(), RegisterOutput::Write),
            RegisterInput::Cas { expected, new } if expected == state => {
                (new.clone(), RegisterOutput::Cas(true))
            }
            RegisterInput::Cas { .. } => (state.clone(), RegisterOutput::Cas(false)),
        };
        legal(next, &result, output)
    }

    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        let call = match input {
            RegisterInput::Read => "read()".to_string(),
            RegisterInput::Write(value) => format!("write({value:?})"),
            RegisterInput::Cas { expected, new } => format!("cas({expected:?}, {new:?})"),
        };
        let result = output.map(|output| match output {
            RegisterOutput::Read(value) => format!("{value:?}"),
            RegisterOutput::Write => "ok".to_string(),
            RegisterOutput::Cas(swapped) => swapped.to_string(),
        });
        describe(call, result)
    }
}

/// A map from keys `K` to values `V` with get, put and compare-and-swap,
/// partitioned by key. A key holds no value until the first write to it.
///
/// Each key is its own partition, so the state is one key's value
/// (`Option<V>`, `None` while absent).
#[derive(Clone, Debug)]
pub struct KeyValue<K, V> {
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> KeyValue<K, V> {
    /// A map where every key starts absent.
    pub fn new() -> Self {
        Self { types: PhantomData }
    }
}

impl<K, V> Default for KeyValue<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// An operation on a [`KeyValue`] map.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput<K, V> {
    /// Reads a key's value.
    Get(K),
    /// Writes a key's value.
    Put(K, V),
    /// Writes `new` under `key` if the key holds `expected` (`None`: if the
    /// key is absent).
    Cas {
        /// The key.
        key: K,
        /// The value the key must hold, or `None` for absent.
        expected: Option<V>,
        /// The value written if it does.
        new: V,
    },
}

impl<K, V> KvInput<K, V> {
    /// The key the operation acts on.
    pub fn key(&self) -> &K {
        match self {
            KvInput::Get(key) | KvInput::Put(key, _) | KvInput::Cas { key, .. } => key,
        }
    }
}

/// What an operation on a [`KeyValue`] map returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput<V> {
    /// The value read, `None` if the key was absent.
    Get(Option<V>),
    /// The write is done.
    Put,
    /// Whether the compare-and-swap wrote.
    Cas(bool),
}

impl<K: Value, V: Value> Model for KeyValue<K, V> {
    type State = Option<V>;
    type Input = KvInput<K, V>;
    type Output = KvOutput<V>;

    fn init(&self) -> Option<V> {
        None
    }

    fn step(
        &self,
        state: &Option<V>,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Option<V>> {
        let (next, result) = match input {
            KvInput::Get(_) => (state.clone(), KvOutput::Get(state.clone())),
            KvInput::Put(_, value) => (Some(value.clone()), KvOutput::Put),
            KvInput::Cas { expected, new, .. } if expected == state => {
                (Some(new.clone()), KvOutput::Cas(true))
            }
            KvInput::Cas { .. } => (state.clone(), KvOutput::Cas(false)),
        };
        legal(next, &result, output)
    }

    fn partition(&self, inputs: &[&Self::Input]) -> Vec<Vec<usize>> {
        group_by(inputs, KvInput::key)
    }

    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        let call = match input {
            KvInput::Get(key) => format!("get({key:?})"),
            KvInput::Put(key, value) => format!("put({key:?}, {value:?})"),
            KvInput::Cas { key, expected, new } => {
                format!("cas({key:?}, {expected:?}, {new:?})")
            }
        };
        let result = output.map(|output| match output {
            KvOutput::Get(value) => format!("{value:?}"),
            KvOutput::Put => "ok".to_string(),
            KvOutput::Cas(swapped) => swapped.to_string(),
        });
        describe(call, result)
    }
}

/// A first-in first-out queue of `V`. A dequeue from an empty queue
/// returns `None` (it does not block).
#[derive(Clone, Debug)]
pub struct Queue<V> {
    types: PhantomData<fn() -> V>,
}

impl<V> Queue<V> {
    /// A queue that starts empty.
    pub fn new() -> Self {
        Self { types: PhantomData }
    }
}

impl<V> Default for Queue<V> {
    fn default() -> Self {
        Self::new()
    }
}

/// An operation on a [`Queue`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueInput<V> {
    /// Adds a value at the back.
    Enqueue(V),
    /// Takes the value at the front.
    Dequeue,
}

/// What an operation on a [`Queue`] returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueOutput<V> {
    /// The value is queued.
    Enqueue,
    /// The value taken, `None` if the queue was empty.
    Dequeue(Option<V>),
}

impl<V: Value> Model for Queue<V> {
    type State = VecDeque<V>;
    type Input = QueueInput<V>;
    type Output = QueueOutput<V>;

    fn init(&self) -> VecDeque<V> {
        VecDeque::new()
    }

    fn step(
        &self,
        state: &VecDeque<V>,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<VecDeque<V>> {
        match (input, output) {
            (QueueInput::Enqueue(value), None | Some(QueueOutput::Enqueue)) => {
                let mut next = state.clone();
                next.push_back(value.clone());
                Some(next)
            }
            (QueueInput::Dequeue, None) => {
                let mut next = state.clone();
                next.pop_front();
                Some(next)
            }
            (QueueInput::Dequeue, Some(QueueOutput::Dequeue(value))) => {
                if value.as_ref() != state.front() {
                    return None;
                }
                let mut next = state.clone();
                next.pop_front();
                Some(next)
            }
            _ => None,
        }
    }

    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        let call = match input {
            QueueInput::Enqueue(value) => format!("enqueue({value:?})"),
            QueueInput::Dequeue => "dequeue()".to_string(),
        };
        let result = output.map(|output| match output {
            QueueOutput::Enqueue => "ok".to_string(),
            QueueOutput::Dequeue(value) => format!("{value:?}"),
        });
        describe(call, result)
    }
}

/// A set of `V` with add, remove and contains, partitioned by element.
///
/// Each element is its own partition, so the state is whether that element
/// is in the set. (An operation that reads the whole set would tie all
/// elements together; this model has none.)
#[derive(Clone, Debug)]
pub struct Set<V> {
    types: PhantomData<fn() -> V>,
}

impl<V> Set<V> {
    /// A set that starts empty.
    pub fn new() -> Self {
        Self { types: PhantomData }
    }
}

impl<V> Default for Set<V> {
    fn default() -> Self {
        Self::new()
    }
}

/// An operation on a [`Set`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetInput<V> {
    /// Adds an element.
    Add(V),
    /// Removes an element.
    Remove(V),
    /// Asks whether an element is in the set.
    Contains(V),
}

impl<V> SetInput<V> {
    /// The element the operation acts on.
    pub fn element(&self) -> &V {
        match self {
            SetInput::Add(element) | SetInput::Remove(element) | SetInput::Contains(element) => {
                element
            }
        }
    }
}

/// What an operation on a [`Set`] returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetOutput {
    /// Whether the element was new (`false`: it was already there).
    Add(bool),
    /// Whether the element was there.
    Remove(bool),
    /// Whether the element is there.
    Contains(bool),
}

impl<V: Value> Model for Set<V> {
    type State = bool;
    type Input = SetInput<V>;
    type Output = SetOutput;

    fn init(&self) -> bool {
        false
    }

    fn step(
        &self,
        present: &bool,
        input: &Self::Input,
        output: Option<&SetOutput>,
    ) -> Option<bool> {
        let present = *present;
        let (next, result) = match input {
            SetInput::Add(_) => (true, SetOutput::Add(!present)),
            SetInput::Remove(_) => (false, SetOutput::Remove(present)),
            SetInput::Contains(_) => (present, SetOutput::Contains(present)),
        };
        legal(next, &result, output)
    }

    fn partition(&self, inputs: &[&Self::Input]) -> Vec<Vec<usize>> {
        group_by(inputs, SetInput::element)
    }

    fn describe_operation(&self, input: &Self::Input, output: Option<&SetOutput>) -> String {
        let call = match input {
            SetInput::Add(element) => format!("add({element:?})"),
            SetInput::Remove(element) => format!("remove({element:?})"),
            SetInput::Contains(element) => format!("contains({element:?})"),
        };
        let result = output.map(|output| match output {
            SetOutput::Add(done) | SetOutput::Remove(done) | SetOutput::Contains(done) => {
                done.to_string()
            }
        });
        describe(call, result)
    }
}

/// A lock (or a lease) held by at most one owner at a time. An acquire
/// fails, without waiting, while anyone holds it (its owner too: it is not
/// reentrant); a release by anyone but the holder fails and changes
/// nothing. A lease that expires is recorded as a release by its holder at
/// the expiry.
///
/// The state is the holder, if any.
#[derive(Clone, Debug, Default)]
pub struct Lock;

/// An operation on a [`Lock`]; the owner is usually the client's id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LockInput {
    /// Takes the lock for `owner` if it is free.
    Acquire {
        /// Who asks.
        owner: u64,
    },
    /// Frees the lock if `owner` holds it.
    Release {
        /// Who asks.
        owner: u64,
    },
}

/// What an operation on a [`Lock`] returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LockOutput {
    /// Whether the lock was taken.
    Acquire(bool),
    /// Whether the lock was freed.
    Release(bool),
}

impl Model for Lock {
    type State = Option<u64>;
    type Input = LockInput;
    type Output = LockOutput;

    fn init(&self) -> Option<u64> {
        None
    }

    fn step(
        &self,
        holder: &Option<u64>,
        input: &LockInput,
        output: Option<&LockOutput>,
    ) -> Option<Option<u64>> {
        let (next, result) = match (input, *holder) {
            (LockInput::Acquire { owner }, None) => (Some(*owner), LockOutput::Acquire(true)),
            (LockInput::Acquire { .. }, Some(_)) => (*holder, LockOutput::Acquire(false)),
            (LockInput::Release { owner }, Some(held)) if held == *owner => {
                (None, LockOutput::Release(true))
            }
            (LockInput::Release { .. }, _) => (*holder, LockOutput::Release(false)),
        };
        legal(next, &result, output)
    }

    fn describe_operation(&self, input: &LockInput, output: Option<&LockOutput>) -> String {
        let call = match input {
            LockInput::Acquire { owner } => format!("acquire(by {owner})"),
            LockInput::Release { owner } => format!("release(by {owner})"),
        };
        let result = output.map(|output| match output {
            LockOutput::Acquire(done) | LockOutput::Release(done) => done.to_string(),
        });
        describe(call, result)
    }

    fn describe_state(&self, holder: &Option<u64>) -> String {
        match holder {
            Some(owner) => format!("held by {owner}"),
            None => "free".to_string(),
        }
    }
}

/// `next` if the operation's `result` in this state is what it returned,
/// or if it never returned.
fn legal<S, O: PartialEq>(next: S, result: &O, output: Option<&O>) -> Option<S> {
    output.is_none_or(|output| output == result).then_some(next)
}

/// `call -> result`, or `call` marked as never returned.
fn describe(call: String, result: Option<String>) -> String {
    match result {
        Some(result) => format!("{call} -> {result}"),
        None => format!("{call} -> (no return)"),
    }
}

/// Positions of `inputs` grouped by `key`, groups in order of their first
/// member.
fn group_by<T, K: Hash + Eq>(inputs: &[&T], key: impl Fn(&T) -> &K) -> Vec<Vec<usize>> {
    let mut group_of: HashMap<&K, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (position, input) in inputs.iter().enumerate() {
        let group = *group_of.entry(key(input)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(position);
    }
    groups
}
