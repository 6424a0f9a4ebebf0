//! What a check concludes: [`CheckResult`], and for a history that is not
//! linearizable the [`Witness`] that shows why.
//!
//! Reports are plain data with the model's descriptions of operations and
//! states already rendered, so they can be printed, compared and kept after
//! the history is gone. Their `Display` is meant for a test failure.

use std::fmt;

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// There is an order of the operations, consistent with their times, in
    /// which every output is legal (operations that never returned may be
    /// left out).
    Linearizable,
    /// At least one partition has no such order.
    NotLinearizable(Witness),
    /// No partition was found to fail, but the time limit ran out before
    /// some were decided: the history may be linearizable or not.
    Unknown {
        /// The partitions left undecided, by position in the model's
        /// partition, in increasing order.
        unfinished: Vec<usize>,
        /// How many partitions the history has.
        partitions: usize,
    },
}

impl CheckResult {
    /// Whether the history is linearizable (`false` for `Unknown` too).
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Self::Linearizable)
    }

    /// The witness, if the history is not linearizable.
    pub fn witness(&self) -> Option<&Witness> {
        match self {
            Self::NotLinearizable(witness) => Some(witness),
            _ => None,
        }
    }

    /// Panics, printing the witness (or the unfinished partitions), unless
    /// the history is linearizable.
    #[track_caller]
    pub fn assert_linearizable(&self) {
        assert!(self.is_linearizable(), "{self}");
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Linearizable => write!(f, "the history is linearizable"),
            Self::NotLinearizable(witness) => write!(f, "{witness}"),
            Self::Unknown {
                unfinished,
                partitions,
            } => write!(
                f,
                "linearizability unknown: the time limit ran out before {} of {partitions} \
                 partition(s) were decided (partitions {}); none of the others failed",
                unfinished.len(),
                list(unfinished),
            ),
        }
    }
}

/// Why a history is not linearizable: for each failing partition, how far
/// a linearization gets and what it cannot place next.
///
/// With [`Options::stop_at_first_failure`](super::Options::stop_at_first_failure)
/// (the default) it holds the failing partition with the lowest position,
/// whatever the number of threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// How many partitions the history has.
    pub partitions: usize,
    /// The failing partitions, in increasing order of position.
    pub failures: Vec<PartitionFailure>,
}

/// One partition that has no linearization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionFailure {
    /// Its position in the model's partition.
    pub partition: usize,
    /// How many operations it has.
    pub operations: usize,
    /// The model's initial state, described.
    pub initial_state: String,
    /// The longest linearizable prefix the search found: operations in
    /// linearization order, each with the state after it.
    pub prefix: Vec<Placed>,
    /// The operations that could come next in time after the prefix, none
    /// of which leads to a linearization of the rest.
    pub unplaceable: Vec<Unplaceable>,
}

/// An operation of a linearizable prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The operation.
    pub operation: OperationRecord,
    /// The state after it, described.
    pub state: String,
}

/// An operation that cannot be placed after a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unplaceable {
    /// The operation.
    pub operation: OperationRecord,
    /// `None`: the model rejects its output in the state after the prefix.
    /// `Some(state)`: the model accepts it, reaching `state`, but the rest of
    /// the partition cannot be linearized after it.
    pub accepted: Option<String>,
}

/// An operation of the history, as a report names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationRecord {
    /// The event id (for histories of events) or the position in the slice
    /// (for histories of operations).
    pub id: u64,
    /// The client that called it.
    pub client: u64,
    /// When it was called.
    pub call: u64,
    /// When it returned; `None` if it never did.
    pub ret: Option<u64>,
    /// The model's description of the operation.
    pub description: String,
}

impl fmt::Display for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the history is not linearizable")?;
        for failure in &self.failures {
            write!(f, "\n{}", Shown(failure, self.partitions))?;
        }
        Ok(())
    }
}

/// A failure with the partition count, for display.
struct Shown<'a>(&'a PartitionFailure, usize);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Shown(failure, partitions) = *self;
        writeln!(
            f,
            "partition {} of {partitions} ({} operation(s)) has no linearization",
            failure.partition, failure.operations
        )?;
        writeln!(f, "  initial state: {}", failure.initial_state)?;
        if failure.prefix.is_empty() {
            writeln!(f, "  no operation can be linearized first")?;
        } else {
            writeln!(
                f,
                "  longest linearizable prefix ({} of {} operation(s)), in linearization order:",
                failure.prefix.len(),
                failure.operations
            )?;
            for (n, placed) in failure.prefix.iter().enumerate() {
                writeln!(f, "    {:>3}. {}", n + 1, placed.operation)?;
                writeln!(f, "         state after: {}", placed.state)?;
            }
        }
        write!(f, "  none of these can come next:")?;
        for stuck in &failure.unplaceable {
            write!(f, "\n    - {}", stuck.operation)?;
            match &stuck.accepted {
                None => write!(f, "\n      rejected by the model in that state")?,
                Some(state) => write!(
                    f,
                    "\n      accepted (state after: {state}), but the rest cannot be \
                     linearized after it"
                )?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for OperationRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {}, called at {}, ", self.client, self.call)?;
        match self.ret {
            Some(ret) => write!(f, "returned at {ret}")?,
            None => write!(f, "never returned")?,
        }
        write!(f, ": {}", self.description)
    }
}

/// How many partitions an `Unknown` names before "and N more".
const SHOWN: usize = 20;

/// `1, 4, 7`, or `1, 2, …, 20 and 31 more`.
fn list(positions: &[usize]) -> String {
    let shown: Vec<String> = positions.iter().take(SHOWN).map(usize::to_string).collect();
    match positions.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{} and {more} more", shown.join(", ")),
        _ => shown.join(", "),
    }
}
