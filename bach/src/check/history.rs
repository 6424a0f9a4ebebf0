//! Recording what simulated clients saw, and checking it for
//! linearizability in every run of every search.
//!
//! A [`History`] is a log that tasks and processes write around each
//! operation they run against the system under test: [`History::call`]
//! when the call starts, [`History::ret`] with the output when it returns
//! (or [`History::guard`], whose [`Call`] records a call that never
//! returned — a timeout — when dropped without [`Call::ret`]). Every call
//! and return is stamped with the simulated time and with its position in
//! the run, so the order of events at one instant is known exactly.
//!
//! [`linearizable`] registers a model for a history with the current
//! simulation: when the run ends — a plain run, each seed of a sweep, each
//! execution of the explorer or of bolero, each model-checking path — the
//! history is checked ([`linearizability`](super::linearizability)) and a
//! history no sequential order explains fails that run, with a report
//! listing the operations of the witness with their clients and simulated
//! times, and (under a search) the replay token. The history stays
//! readable by the body after the run, and by invariants during it.

use super::linearizability::{
    check_operations, CheckResult, Model, Operation, OperationRecord, Options, Ties,
};
use crate::runtime::context;
use std::{cell::RefCell, fmt::Write as _, rc::Rc, time::Duration};

/// A log of operations, shared by the tasks that record into it (cloning
/// it shares the log): tasks and processes call [`History::call`] when a
/// call to the system under test starts and [`History::ret`] with the
/// output when it returns, or take a [`History::guard`], whose [`Call`]
/// records a call that never returned (a timeout) when dropped without
/// [`Call::ret`]. Calls and returns are stamped with the simulated time and
/// their position in the run, so events at one instant keep their order.
/// [`linearizable`] checks the history at the end of every run; the body
/// can read it after the run ([`History::operations`],
/// [`History::check`]) and invariants during it.
///
/// ```
/// use bach::check::{self, linearizability::models::{Register, RegisterInput, RegisterOutput}};
/// use bach::ext::*;
///
/// let history = check::History::new();
/// let h = history.clone();
/// bach::sim(move || {
///     check::linearizable(&h, Register::new(0u32));
///     let value = std::rc::Rc::new(std::cell::Cell::new(0u32));
///     for client in 0..2u64 {
///         let (h, value) = (h.clone(), value.clone());
///         async move {
///             let op = h.call(client, RegisterInput::Write(client as u32 + 1));
///             1.ms().sleep().await;
///             value.set(client as u32 + 1);
///             h.ret(op, RegisterOutput::Write);
///             let op = h.call(client, RegisterInput::Read);
///             h.ret(op, RegisterOutput::Read(value.get()));
///         }
///         .primary()
///         .spawn();
///     }
/// });
/// assert_eq!(history.len(), 4);
/// ```
pub struct History<I, O> {
    log: Rc<RefCell<Log<I, O>>>,
}

struct Log<I, O> {
    operations: Vec<Recorded<I, O>>,
    /// Calls and returns so far: the next event's position.
    events: u64,
}

struct Recorded<I, O> {
    client: u64,
    input: I,
    /// Position among the run's events, and simulated time (nanoseconds).
    call: (u64, u64),
    returned: Option<(O, u64, u64)>,
}

/// A call recorded with [`History::call`], to hand to [`History::ret`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "record the return with History::ret"]
pub struct CallId(usize);

/// A call in progress, from [`History::guard`]: [`Call::ret`] records its
/// return; dropped without it, the call stays one that never returned (it
/// may or may not have taken effect).
#[must_use = "dropping the guard records a call that never returned"]
pub struct Call<I, O> {
    history: History<I, O>,
    id: CallId,
}

impl<I, O> Call<I, O> {
    /// Records the return of the call with `output`.
    pub fn ret(self, output: O) {
        self.history.ret(self.id, output);
    }
}

impl<I, O> Clone for History<I, O> {
    fn clone(&self) -> Self {
        Self {
            log: self.log.clone(),
        }
    }
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I, O> std::fmt::Debug for History<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("operations", &self.len())
            .finish()
    }
}

/// A new, empty history (the same as [`History::new`]).
pub fn history<I, O>() -> History<I, O> {
    History::new()
}

/// The current simulated time, or 0 outside a simulation.
fn now() -> u64 {
    context::try_with(|inner| inner.map_or(0, |inner| inner.now()))
}

impl<I, O> History<I, O> {
    /// An empty history.
    pub fn new() -> Self {
        Self {
            log: Rc::new(RefCell::new(Log {
                operations: Vec::new(),
                events: 0,
            })),
        }
    }

    /// Records that `client` calls the system with `input`, now.
    pub fn call(&self, client: u64, input: I) -> CallId {
        let mut log = self.log.borrow_mut();
        let position = log.events;
        log.events += 1;
        log.operations.push(Recorded {
            client,
            input,
            call: (position, now()),
            returned: None,
        });
        CallId(log.operations.len() - 1)
    }

    /// Records that call `id` returned `output`, now. Panics if it already
    /// returned.
    #[track_caller]
    pub fn ret(&self, id: CallId, output: O) {
        let mut log = self.log.borrow_mut();
        let position = log.events;
        log.events += 1;
        let Some(operation) = log.operations.get_mut(id.0) else {
            panic!("History::ret: call {} is not in this history", id.0);
        };
        assert!(
            operation.returned.is_none(),
            "History::ret: call {} (client {}) already returned",
            id.0,
            operation.client
        );
        operation.returned = Some((output, position, now()));
    }

    /// [`History::call`] returning a guard: [`Call::ret`] records the
    /// return; dropping it without leaves the call unreturned (a timeout).
    pub fn guard(&self, client: u64, input: I) -> Call<I, O> {
        Call {
            history: self.clone(),
            id: self.call(client, input),
        }
    }

    /// How many calls were recorded.
    pub fn len(&self) -> usize {
        self.log.borrow().operations.len()
    }

    /// Whether no call was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every operation (a history reused across runs).
    pub fn clear(&self) {
        let mut log = self.log.borrow_mut();
        log.operations.clear();
        log.events = 0;
    }

    /// The operations, in call order, with their simulated call and return
    /// times (nanoseconds; `ret` is `None` for a call that never
    /// returned). Events at one instant are concurrent in this form; the
    /// checks of this module use the exact order of events instead.
    pub fn operations(&self) -> Vec<Operation<I, O>>
    where
        I: Clone,
        O: Clone,
    {
        self.with_times(|(_, time)| time)
    }

    fn with_times(&self, stamp: impl Fn((u64, u64)) -> u64) -> Vec<Operation<I, O>>
    where
        I: Clone,
        O: Clone,
    {
        self.log
            .borrow()
            .operations
            .iter()
            .map(|op| Operation {
                client: op.client,
                input: op.input.clone(),
                call: stamp(op.call),
                output: op.returned.as_ref().map(|(output, ..)| output.clone()),
                ret: op
                    .returned
                    .as_ref()
                    .map(|(_, position, time)| stamp((*position, *time))),
            })
            .collect()
    }

    /// Checks the history against `model`, ordering events exactly as they
    /// happened (one instant may hold calls and returns in a known order).
    pub fn check<M>(&self, model: &M) -> CheckResult
    where
        M: Model<Input = I, Output = O> + ?Sized,
        I: Clone,
        O: Clone,
    {
        self.check_with(model, Options::default())
    }

    fn check_with<M>(&self, model: &M, options: Options) -> CheckResult
    where
        M: Model<Input = I, Output = O> + ?Sized,
        I: Clone,
        O: Clone,
    {
        let ordered = self.with_times(|(position, _)| position);
        check_operations(model, &ordered, options.ties(Ties::ReturnBeforeCall))
            .expect("a recorded history is well formed: every return follows its call")
    }

    /// A report of a failed check: the witness's operations with their
    /// clients and simulated times.
    fn report(&self, result: &CheckResult) -> String {
        let log = self.log.borrow();
        let at = |record: &OperationRecord| -> String {
            let op = &log.operations[record.id as usize];
            let call = Duration::from_nanos(op.call.1);
            match &op.returned {
                Some((_, _, ret)) => format!(
                    "client {} {} [{:?} .. {:?}]",
                    record.client,
                    record.description,
                    call,
                    Duration::from_nanos(*ret)
                ),
                None => format!(
                    "client {} {} [{:?} .. never returned]",
                    record.client, record.description, call
                ),
            }
        };
        match result {
            CheckResult::NotLinearizable(witness) => {
                let mut text = String::from("the history is not linearizable");
                for failure in &witness.failures {
                    let _ = write!(
                        text,
                        "\n  partition {} of {} ({} operations), from state {}:",
                        failure.partition,
                        witness.partitions,
                        failure.operations,
                        failure.initial_state
                    );
                    for placed in &failure.prefix {
                        let _ = write!(
                            text,
                            "\n    linearized: {} -> {}",
                            at(&placed.operation),
                            placed.state
                        );
                    }
                    for stuck in &failure.unplaceable {
                        let why = match &stuck.accepted {
                            None => "illegal here".to_string(),
                            Some(state) => format!("legal (-> {state}) but the rest cannot follow"),
                        };
                        let _ = write!(
                            text,
                            "\n    cannot come next: {} ({why})",
                            at(&stuck.operation)
                        );
                    }
                }
                text
            }
            CheckResult::Unknown { unfinished, .. } => {
                format!("the linearizability check ran out of time on partitions {unfinished:?}")
            }
            CheckResult::Linearizable => String::new(),
        }
    }
}

/// Registers a linearizability check of `history` against `model` with the
/// current simulation: when the run ends (a plain run, each seed of a
/// sweep, each execution of the explorer or bolero, each model-checking
/// path), the history must be linearizable, or the run fails with the
/// witness (its operations, clients and simulated times). Nothing is
/// checked, and nothing costs, in simulations that register none. Panics
/// outside a simulation.
///
/// The history is checked as recorded so far: a model-checking path cut
/// short (depth limit, a visited state) is checked too, its unreturned
/// calls free to take effect or not. The check has no time limit by
/// default; a history that defeats it (many operations in flight on one
/// partition) makes the run long, not wrong — see
/// [`linearizable_within`] to bound it.
#[track_caller]
pub fn linearizable<M>(history: &History<M::Input, M::Output>, model: M)
where
    M: Model + 'static,
    M::Input: Clone + 'static,
    M::Output: Clone + 'static,
{
    register(history, model, None)
}

/// [`linearizable`] with a time limit per check: a check that runs out of
/// it fails the run as undecided (a search must not call "passed" what it
/// did not check).
#[track_caller]
pub fn linearizable_within<M>(history: &History<M::Input, M::Output>, model: M, limit: Duration)
where
    M: Model + 'static,
    M::Input: Clone + 'static,
    M::Output: Clone + 'static,
{
    register(history, model, Some(limit))
}

#[track_caller]
fn register<M>(history: &History<M::Input, M::Output>, model: M, limit: Option<Duration>)
where
    M: Model + 'static,
    M::Input: Clone + 'static,
    M::Output: Clone + 'static,
{
    let history = history.clone();
    context::with("bach::check::linearizable", |inner| {
        inner
            .properties
            .borrow_mut()
            .add_final("linearizable", move || {
                let mut options = Options::default();
                if let Some(limit) = limit {
                    options = options.time_limit(limit);
                }
                let result = history.check_with(&model, options);
                match result {
                    CheckResult::Linearizable => Ok(()),
                    _ => Err(history.report(&result)),
                }
            })
    })
}
