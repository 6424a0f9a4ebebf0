//! The sequential specification a history is checked against.
//!
//! A [`Model`] says what one operation does to the state of the object, and
//! which outputs are legal, when operations run one at a time. The checker
//! looks for an order of the history's operations, consistent with their
//! times, in which every output is legal. It never mutates a state: `step`
//! returns the next one, so states are values that the search clones,
//! hashes and compares (the memo of visited configurations is keyed by
//! them).

use std::{fmt::Debug, hash::Hash};

/// A sequential specification: the initial state, what each operation does,
/// and how the history splits into independent parts.
///
/// Models are shared by the threads that check partitions in parallel, so
/// they are `Sync`, and so are inputs and outputs; states stay on the
/// thread that made them. A model can be used as a trait object
/// (`&dyn Model<State = S, Input = I, Output = O>`).
pub trait Model: Sync {
    /// The state of the object between two operations. Equal states must
    /// behave the same in every future: the search visits each (set of
    /// operations done, state) pair once.
    type State: Clone + Eq + Hash + Debug;
    /// An operation with its arguments.
    type Input: Debug + Sync;
    /// What an operation returned.
    type Output: Debug + Sync;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `input` takes effect in `state`, if it can.
    ///
    /// With `Some(output)`, returns `None` if `output` is not a legal result
    /// of `input` in `state`. With `None`, the operation never returned (its
    /// output is unknown): return the state after it took effect, whatever
    /// it would have returned, or `None` if it cannot take effect in `state`
    /// (a blocking call on an empty queue, say). The checker may also leave
    /// such an operation out entirely, as if it never took effect.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Splits a history into parts that are checked independently, given
    /// the inputs of its operations: each inner list holds positions in
    /// `inputs`, and every position must be in exactly one list (a
    /// [`HistoryError::InvalidPartition`](super::HistoryError::InvalidPartition)
    /// otherwise). The default is one part holding everything.
    ///
    /// A history is linearizable if and only if every part is, when the
    /// parts are independent objects: the keys of a map, the elements of a
    /// set. Each part starts from [`init`](Model::init), so a model that
    /// partitions by key can keep one key's value as its state. Splitting
    /// is what makes large histories cheap: the search is exponential in
    /// the number of concurrent operations of a part, not of the history.
    /// Return the parts in an order that depends on the history alone:
    /// reports name parts by their position in this list.
    fn partition(&self, inputs: &[&Self::Input]) -> Vec<Vec<usize>> {
        vec![(0..inputs.len()).collect()]
    }

    /// An operation as reports show it, `output` `None` if it never
    /// returned. The default prints both with `Debug`: `Write(3) -> Write`.
    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        match output {
            Some(output) => format!("{input:?} -> {output:?}"),
            None => format!("{input:?} -> (no return)"),
        }
    }

    /// A state as reports show it. The default prints it with `Debug`.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}
