//! Histories: what clients called, when, and what came back.
//!
//! A history is given in one of two forms. [`Operation`]s pair each call
//! with its return (the form a test writes by hand); [`Event`]s are the
//! calls and returns as they were recorded, matched by an id (the form a
//! recorder produces). Both are validated before a check: a malformed
//! history is an [`Err`] naming the offending id, never a panic and never a
//! verdict. [`operations_from_events`] and [`events_from_operations`]
//! convert between the forms.
//!
//! Times are plain `u64`s in any unit that orders the history: nanoseconds
//! since the simulation started, or a logical counter that a recorder bumps
//! at every call and return. Only their order matters, and [`Ties`] says
//! how equal times are read.

use std::{collections::HashMap, error::Error, fmt};

/// One operation of a history: a client's call and, if it returned, its
/// output and return time.
///
/// An operation that never returned (`output` and `ret` both `None`: a
/// timeout, a crash of the client) may have taken effect at any time after
/// its call, or never. Build operations with [`Operation::returned`] and
/// [`Operation::pending`], or fill the fields directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client that made the call. Only reports use it: the checker
    /// orders operations by their times alone.
    pub client: u64,
    /// What was called, with its arguments.
    pub input: I,
    /// When the call was made.
    pub call: u64,
    /// What the call returned; `None` if it never returned.
    pub output: Option<O>,
    /// When the call returned (at or after `call`); `None` if it never
    /// returned.
    pub ret: Option<u64>,
}

impl<I, O> Operation<I, O> {
    /// An operation that was called at `call` and returned `output` at `ret`.
    pub fn returned(client: u64, input: I, call: u64, output: O, ret: u64) -> Self {
        Self {
            client,
            input,
            call,
            output: Some(output),
            ret: Some(ret),
        }
    }

    /// An operation that was called at `call` and never returned.
    pub fn pending(client: u64, input: I, call: u64) -> Self {
        Self {
            client,
            input,
            call,
            output: None,
            ret: None,
        }
    }
}

/// One recorded event: a call or a return, matched by `id`.
///
/// A call without a return never returned (see [`Operation`]). A return
/// must follow its call in the list; otherwise the list's order does not
/// matter, the times do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<I, O> {
    /// A client called an operation.
    Call {
        /// The client that made the call.
        client: u64,
        /// Names this operation: its return carries the same id. Unique
        /// within a history.
        id: u64,
        /// What was called, with its arguments.
        input: I,
        /// When the call was made.
        time: u64,
    },
    /// The operation `id` returned.
    Return {
        /// The id of the call this returns from.
        id: u64,
        /// What the call returned.
        output: O,
        /// When the call returned: at or after the call's time.
        time: u64,
    },
}

/// How equal times of a return and a call are read.
///
/// The choice matters when times are coarse: two events that happened one
/// after the other but were stamped with the same time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ties {
    /// An operation that returned at `t` happened before every operation
    /// called at `t` (the default): intervals are half-open, and histories
    /// written by hand can chain operations with touching intervals. An
    /// operation that returned at the same time it was called sits after
    /// the other returns at that time and before the other calls. Use it
    /// when equal times mean "in this order", for example when the times are
    /// a counter bumped at every event.
    #[default]
    ReturnBeforeCall,
    /// Operations whose intervals touch are concurrent: intervals are
    /// closed. Use it when equal times may hide either order, for example
    /// for a clock that many events read at the same instant.
    Concurrent,
}

impl Ties {
    /// Where an endpoint sits among the endpoints at the same time: lower
    /// first. `instantaneous`: its operation returned when it was called.
    pub(super) fn rank(self, is_return: bool, instantaneous: bool) -> u8 {
        match (self, is_return, instantaneous) {
            (Ties::Concurrent, false, _) => 0,
            (Ties::Concurrent, true, _) => 1,
            (Ties::ReturnBeforeCall, true, false) => 0,
            (Ties::ReturnBeforeCall, false, true) => 1,
            (Ties::ReturnBeforeCall, true, true) => 2,
            (Ties::ReturnBeforeCall, false, false) => 3,
        }
    }
}

/// Why a history (or a model's partition of it) cannot be checked.
///
/// Ids are event ids for histories of [`Event`]s, and positions in the
/// slice for histories of [`Operation`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HistoryError {
    /// A return whose id no earlier call has.
    ReturnWithoutCall {
        /// The return's id.
        id: u64,
    },
    /// A return timed before its call.
    ReturnBeforeCall {
        /// The operation's id.
        id: u64,
        /// The call's time.
        call: u64,
        /// The return's time.
        ret: u64,
    },
    /// Two calls with the same id.
    DuplicateCall {
        /// The id.
        id: u64,
    },
    /// Two returns with the same id.
    DuplicateReturn {
        /// The id.
        id: u64,
    },
    /// An operation with an output but no return time, or a return time but
    /// no output.
    HalfReturned {
        /// The operation's position in the slice.
        id: u64,
    },
    /// The model's [`partition`](super::Model::partition) did not place
    /// every operation in exactly one partition.
    InvalidPartition {
        /// What is wrong, naming the operation.
        reason: String,
    },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReturnWithoutCall { id } => {
                write!(
                    f,
                    "malformed history: a return for id {id}, which no earlier call has"
                )
            }
            Self::ReturnBeforeCall { id, call, ret } => write!(
                f,
                "malformed history: operation {id} returns at {ret}, before its call at {call}"
            ),
            Self::DuplicateCall { id } => {
                write!(f, "malformed history: two calls with id {id}")
            }
            Self::DuplicateReturn { id } => {
                write!(f, "malformed history: two returns for id {id}")
            }
            Self::HalfReturned { id } => write!(
                f,
                "malformed history: operation {id} has an output without a return time, or a \
                 return time without an output"
            ),
            Self::InvalidPartition { reason } => {
                write!(f, "the model's partition is invalid: {reason}")
            }
        }
    }
}

impl Error for HistoryError {}

/// The operations of a history of events, in the order of their calls.
///
/// Fails on a return without an earlier call, a return timed before its
/// call, and two calls or two returns with the same id, naming the id.
pub fn operations_from_events<I, O>(
    events: impl IntoIterator<Item = Event<I, O>>,
) -> Result<Vec<Operation<I, O>>, HistoryError> {
    let mut events: Vec<Option<Event<I, O>>> = events.into_iter().map(Some).collect();
    let pairs = pair(
        events
            .iter()
            .map(|event| event.as_ref().expect("not taken yet")),
    )?;
    let operations = pairs
        .into_iter()
        .map(|(call, ret)| {
            let Some(Event::Call {
                client,
                input,
                time,
                ..
            }) = events[call].take()
            else {
                unreachable!("`pair` pairs calls with returns")
            };
            let mut operation = Operation::pending(client, input, time);
            if let Some(Event::Return { output, time, .. }) = ret.and_then(|ret| events[ret].take())
            {
                operation.output = Some(output);
                operation.ret = Some(time);
            }
            operation
        })
        .collect();
    Ok(operations)
}

/// The events of a history of operations: each operation's call, with its
/// position in `operations` as its id, and its return if it returned;
/// sorted by time, equal times in the order [`Ties::ReturnBeforeCall`]
/// reads them (a call always before its own return).
///
/// Fails on an operation with an output but no return time (or the other
/// way round) and on a return timed before its call, naming the position.
pub fn events_from_operations<I, O>(
    operations: impl IntoIterator<Item = Operation<I, O>>,
) -> Result<Vec<Event<I, O>>, HistoryError> {
    let mut keyed = Vec::new();
    for (id, operation) in (0u64..).zip(operations) {
        check_operation(
            id,
            operation.call,
            operation.output.is_some(),
            operation.ret,
        )?;
        let instantaneous = operation.ret == Some(operation.call);
        let rank = |is_return| Ties::ReturnBeforeCall.rank(is_return, instantaneous);
        keyed.push((
            (operation.call, rank(false)),
            Event::Call {
                client: operation.client,
                id,
                input: operation.input,
                time: operation.call,
            },
        ));
        if let (Some(output), Some(time)) = (operation.output, operation.ret) {
            keyed.push(((time, rank(true)), Event::Return { id, output, time }));
        }
    }
    keyed.sort_by_key(|(key, _)| *key);
    Ok(keyed.into_iter().map(|(_, event)| event).collect())
}

/// An operation as the checker sees it: borrowed from either form of a
/// history, with the id reports name it by.
pub(super) struct Op<'a, I, O> {
    pub(super) id: u64,
    pub(super) client: u64,
    pub(super) input: &'a I,
    pub(super) call: u64,
    pub(super) output: Option<&'a O>,
    pub(super) ret: Option<u64>,
}

// Manual impls: the derives would require `I: Clone` and `O: Clone`.
impl<I, O> Clone for Op<'_, I, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I, O> Copy for Op<'_, I, O> {}

/// The checker's view of a history of operations, validated.
pub(super) fn ops_of_operations<I, O>(
    operations: &[Operation<I, O>],
) -> Result<Vec<Op<'_, I, O>>, HistoryError> {
    (0u64..)
        .zip(operations)
        .map(|(id, operation)| {
            check_operation(
                id,
                operation.call,
                operation.output.is_some(),
                operation.ret,
            )?;
            Ok(Op {
                id,
                client: operation.client,
                input: &operation.input,
                call: operation.call,
                output: operation.output.as_ref(),
                ret: operation.ret,
            })
        })
        .collect()
}

/// The checker's view of a history of events, validated: one operation per
/// call, in the order of the calls.
pub(super) fn ops_of_events<I, O>(
    events: &[Event<I, O>],
) -> Result<Vec<Op<'_, I, O>>, HistoryError> {
    let ops = pair(events.iter())?
        .into_iter()
        .map(|(call, ret)| {
            let Event::Call {
                client,
                id,
                input,
                time,
            } = &events[call]
            else {
                unreachable!("`pair` pairs calls with returns")
            };
            let (output, ret) = match ret.map(|ret| &events[ret]) {
                Some(Event::Return { output, time, .. }) => (Some(output), Some(*time)),
                _ => (None, None),
            };
            Op {
                id: *id,
                client: *client,
                input,
                call: *time,
                output,
                ret,
            }
        })
        .collect();
    Ok(ops)
}

/// Matches the returns of `events` with their calls: for each call, in
/// order, its position and its return's position (`None` if it never
/// returned). Fails on a return without an earlier call, a return timed
/// before its call, and two calls or two returns with the same id.
fn pair<'a, I: 'a, O: 'a>(
    events: impl Iterator<Item = &'a Event<I, O>>,
) -> Result<Vec<(usize, Option<usize>)>, HistoryError> {
    // For each call: its position, time and return's position.
    let mut calls: Vec<(usize, u64, Option<usize>)> = Vec::new();
    let mut by_id = HashMap::new();
    for (at, event) in events.enumerate() {
        match *event {
            Event::Call { id, time, .. } => {
                if by_id.insert(id, calls.len()).is_some() {
                    return Err(HistoryError::DuplicateCall { id });
                }
                calls.push((at, time, None));
            }
            Event::Return { id, time, .. } => {
                let &call = by_id
                    .get(&id)
                    .ok_or(HistoryError::ReturnWithoutCall { id })?;
                let (_, call_time, ret) = &mut calls[call];
                if ret.is_some() {
                    return Err(HistoryError::DuplicateReturn { id });
                }
                if time < *call_time {
                    return Err(HistoryError::ReturnBeforeCall {
                        id,
                        call: *call_time,
                        ret: time,
                    });
                }
                *ret = Some(at);
            }
        }
    }
    Ok(calls
        .into_iter()
        .map(|(call, _, ret)| (call, ret))
        .collect())
}

/// Checks one operation's fields: an output exactly when a return time,
/// and the return not before the call.
fn check_operation(
    id: u64,
    call: u64,
    has_output: bool,
    ret: Option<u64>,
) -> Result<(), HistoryError> {
    match ret {
        _ if has_output != ret.is_some() => Err(HistoryError::HalfReturned { id }),
        Some(ret) if ret < call => Err(HistoryError::ReturnBeforeCall { id, call, ret }),
        _ => Ok(()),
    }
}
