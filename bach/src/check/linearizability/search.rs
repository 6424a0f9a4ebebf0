//! The search for a linearization of one partition: Wing and Gong's
//! backtracking search with Lowe's memoisation, as in Horn and Kroening's
//! checker and Porcupine.
//!
//! **The timeline.** The calls and returns of the operations that returned
//! are sorted by time, equal times ordered as [`Ties`] says, and threaded on
//! a doubly linked list (arrays of indices, not pointers). The calls of the
//! operations that never returned, whose returns would sit at infinity,
//! are threaded on a second list in the same order. An operation can be
//! placed next exactly when its call comes before the first return still on
//! the first list: every operation that returned earlier is placed already.
//!
//! **The search.** Walk the first list from its head. At a call, ask the
//! model to step the current state with that operation; if it can, and the
//! configuration (set of placed operations, new state) is new, *lift* the
//! operation (unlink its endpoints), push it with the new state and where
//! the walk was, and restart from the head. At the first return, try the
//! operations that never returned, in call order, among those called before
//! it: they come last because they are optional, so a history where they
//! do not matter never pays for them. When no candidate is left, the
//! operation that return closes cannot be placed in time: pop the last
//! placed operation, *unlift* it (relink its endpoints in reverse order,
//! which restores the lists exactly) and resume the walk after it, so the
//! next candidate is tried. An empty first list means every operation that
//! returned is placed: linearizable (those that never returned may never
//! have taken effect). Nothing left to pop means no order exists. An
//! operation that never returned and leaves the state as it was is never
//! placed: a linearization with it is one without it.
//!
//! **The memo** ([`Memo`]). Two paths that placed the same set of
//! operations and reached equal states have the same futures, so the
//! second is cut: the search visits each configuration at most once. This
//! bounds the exponential search by the number of distinct configurations,
//! which is what makes it fast in practice, at the cost of their memory.
//!
//! **The witness.** The search remembers the longest stack of placed
//! operations it built (kept up to date incrementally: only the part that
//! changed since the last record is copied). On failure that prefix is
//! replayed through the model for its states, and the operations that could
//! come next in time are listed with the model's verdict on each.

use super::{
    history::{Op, Ties},
    memo::{Memo, PlacedSet},
    model::Model,
    report::{OperationRecord, PartitionFailure, Placed, Unplaceable},
};

/// How a partition's search ended.
pub(super) enum Outcome {
    /// Every returned operation was placed.
    Linearizable,
    /// No order exists.
    Violation(PartitionFailure),
    /// `stop` said to stop before the search ended.
    Stopped,
}

/// How many steps of the search run between two calls of `stop`.
const STEPS_PER_POLL: u32 = 256;

/// Where the search looks for the next operation to place.
#[derive(Clone, Copy)]
enum Cursor {
    /// At a node of the returned operations' list.
    Returned(usize),
    /// At a node of the pending list; only calls before node `before`, the
    /// first return on the other list, may be placed.
    Pending { node: usize, before: usize },
}

/// Searches for a linearization of `ops`, the operations of partition
/// `partition`; `stop` is polled every few hundred steps.
pub(super) fn check_partition<M: Model + ?Sized>(
    model: &M,
    ops: &[Op<'_, M::Input, M::Output>],
    partition: usize,
    ties: Ties,
    stop: &dyn Fn() -> bool,
) -> Outcome {
    let mut timeline = Timeline::new(ops, ties);
    let initial = model.init();
    let mut placed = PlacedSet::new(ops.len());
    // The placed operations in order, each with the state after it and
    // where to look next if nothing linearizes after it.
    let mut stack: Vec<(usize, M::State, Cursor)> = Vec::with_capacity(ops.len());
    let mut memo = Memo::new(ops.len());
    let mut longest = Longest::default();
    let mut cursor = Cursor::Returned(timeline.next[RETURNED]);
    let mut until_poll = STEPS_PER_POLL;
    loop {
        until_poll -= 1;
        if until_poll == 0 {
            if stop() {
                return Outcome::Stopped;
            }
            until_poll = STEPS_PER_POLL;
        }
        let (node, after) = match cursor {
            // Every returned operation is placed; the pending ones may never
            // have taken effect.
            Cursor::Returned(END) => return Outcome::Linearizable,
            // The first return: its operation is not placed yet. Operations
            // that never returned come last, then backtrack.
            Cursor::Returned(node) if timeline.endpoint[node].is_return => {
                cursor = Cursor::Pending {
                    node: timeline.next[PENDING],
                    before: node,
                };
                continue;
            }
            Cursor::Returned(node) => (node, Cursor::Returned(timeline.next[node])),
            Cursor::Pending { node, before } if node < before => {
                let after = Cursor::Pending {
                    node: timeline.next[node],
                    before,
                };
                (node, after)
            }
            Cursor::Pending { .. } => {
                let Some((last, _, resume)) = stack.pop() else {
                    return Outcome::Violation(witness(
                        model,
                        ops,
                        partition,
                        &timeline,
                        &longest.ops,
                    ));
                };
                longest.popped(stack.len(), ops[last].ret.is_some());
                placed.remove(last);
                timeline.unlift(last);
                cursor = resume;
                continue;
            }
        };
        cursor = after;
        let op = timeline.endpoint[node].op;
        let state = stack.last().map_or(&initial, |(_, state, _)| state);
        let candidate = &ops[op];
        let Some(next) = model.step(state, candidate.input, candidate.output) else {
            continue;
        };
        // A pending operation that changes nothing explains nothing: a
        // linearization that places it is one without it.
        if candidate.ret.is_none() && next == *state {
            continue;
        }
        placed.insert(op);
        if !memo.insert(&placed, &next) {
            placed.remove(op);
            continue;
        }
        stack.push((op, next, after));
        longest.pushed(&stack, candidate.ret.is_some());
        timeline.lift(op);
        cursor = Cursor::Returned(timeline.next[RETURNED]);
    }
}

/// Describes why `ops` cannot be linearized, from the longest prefix found.
fn witness<M: Model + ?Sized>(
    model: &M,
    ops: &[Op<'_, M::Input, M::Output>],
    partition: usize,
    timeline: &Timeline,
    longest: &[usize],
) -> PartitionFailure {
    let record = |op: usize| {
        let op = &ops[op];
        OperationRecord {
            id: op.id,
            client: op.client,
            call: op.call,
            ret: op.ret,
            description: model.describe_operation(op.input, op.output),
        }
    };
    let mut state = model.init();
    let initial_state = model.describe_state(&state);
    let mut done = vec![false; ops.len()];
    let mut prefix = Vec::with_capacity(longest.len());
    for &op in longest {
        // The search stepped these already; a model whose `step` is not a
        // function of its arguments may refuse now: the prefix ends there.
        let Some(next) = model.step(&state, ops[op].input, ops[op].output) else {
            break;
        };
        state = next;
        done[op] = true;
        prefix.push(Placed {
            operation: record(op),
            state: model.describe_state(&state),
        });
    }
    // The operations that could come next: calls before the first return
    // of an operation not placed, in time order.
    let unplaceable = timeline.endpoint[FIRST..]
        .iter()
        .filter(|endpoint| !done[endpoint.op])
        .take_while(|endpoint| !endpoint.is_return)
        .map(|endpoint| {
            let op = &ops[endpoint.op];
            Unplaceable {
                operation: record(endpoint.op),
                accepted: model
                    .step(&state, op.input, op.output)
                    .map(|after| model.describe_state(&after)),
            }
        })
        .collect();
    PartitionFailure {
        partition,
        operations: ops.len(),
        initial_state,
        prefix,
        unplaceable,
    }
}

/// The head of the list of returned operations' endpoints.
const RETURNED: usize = 0;
/// The head of the list of the calls of operations that never returned.
const PENDING: usize = 1;
/// The first endpoint's node.
const FIRST: usize = 2;
/// The end of a list.
const END: usize = usize::MAX;

/// One end of an operation.
#[derive(Clone, Copy)]
struct Endpoint {
    op: usize,
    is_return: bool,
}

/// The endpoints in time order, as two doubly linked lists that operations
/// are lifted out of and put back into: the calls and returns of the
/// operations that returned, and the calls of those that did not (whose
/// returns, at infinity, are left out).
struct Timeline {
    /// Node `FIRST + k` is the `k`-th endpoint in time order, so nodes
    /// compare as their times do; the heads' endpoints are unused.
    endpoint: Vec<Endpoint>,
    next: Vec<usize>,
    prev: Vec<usize>,
    /// Each operation's call node.
    call_node: Vec<usize>,
    /// Each returned operation's return node (`END` for the others).
    return_node: Vec<usize>,
}

impl Timeline {
    fn new<I, O>(ops: &[Op<'_, I, O>], ties: Ties) -> Self {
        // Sort key, packed: time, rank among equal times, operation, call
        // before return.
        let key = |time: u64, rank: u8, op: usize, is_return: bool| {
            (u128::from(time) << 64)
                | (u128::from(rank) << 62)
                | ((op as u128) << 1)
                | u128::from(is_return)
        };
        let mut keyed: Vec<(u128, Endpoint)> = Vec::with_capacity(2 * ops.len());
        for (op, o) in ops.iter().enumerate() {
            let instantaneous = o.ret == Some(o.call);
            let call = key(o.call, ties.rank(false, instantaneous), op, false);
            keyed.push((
                call,
                Endpoint {
                    op,
                    is_return: false,
                },
            ));
            if let Some(ret) = o.ret {
                let ret = key(ret, ties.rank(true, instantaneous), op, true);
                keyed.push((
                    ret,
                    Endpoint {
                        op,
                        is_return: true,
                    },
                ));
            }
        }
        keyed.sort_unstable_by_key(|(key, _)| *key);

        let nodes = FIRST + keyed.len();
        let unused = Endpoint {
            op: usize::MAX,
            is_return: false,
        };
        let mut timeline = Timeline {
            endpoint: vec![unused; FIRST],
            next: vec![END; nodes],
            prev: vec![END; nodes],
            call_node: vec![END; ops.len()],
            return_node: vec![END; ops.len()],
        };
        // Append each endpoint to the tail of its list.
        let mut tails = [RETURNED, PENDING];
        for (node, (_, end)) in (FIRST..).zip(keyed) {
            if end.is_return {
                timeline.return_node[end.op] = node;
            } else {
                timeline.call_node[end.op] = node;
            }
            let list = usize::from(ops[end.op].ret.is_none());
            timeline.next[tails[list]] = node;
            timeline.prev[node] = tails[list];
            tails[list] = node;
            timeline.endpoint.push(end);
        }
        timeline
    }

    /// Takes `op`'s endpoints off their list.
    fn lift(&mut self, op: usize) {
        self.unlink(self.call_node[op]);
        if self.return_node[op] != END {
            self.unlink(self.return_node[op]);
        }
    }

    /// Puts back the endpoints of `op`, the operation lifted last.
    fn unlift(&mut self, op: usize) {
        if self.return_node[op] != END {
            self.relink(self.return_node[op]);
        }
        self.relink(self.call_node[op]);
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        if next != END {
            self.prev[next] = prev;
        }
    }

    /// Undoes `unlink(node)`: `node` still holds its neighbours.
    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        if next != END {
            self.prev[next] = node;
        }
    }
}

/// The longest stack of placed operations seen so far, by the number of
/// returned operations in it (placing an operation that never returned
/// makes no progress), copied from the stack only where it differs.
#[derive(Default)]
struct Longest {
    ops: Vec<usize>,
    /// How many returned operations `ops` has.
    returned: usize,
    /// How many returned operations the stack has.
    stack_returned: usize,
    /// How many first elements of `ops` the stack still shares.
    shared: usize,
}

impl Longest {
    /// After a push of a returned operation or not.
    fn pushed<S, C>(&mut self, stack: &[(usize, S, C)], returned: bool) {
        self.stack_returned += usize::from(returned);
        if self.stack_returned > self.returned {
            self.ops.truncate(self.shared);
            self.ops
                .extend(stack[self.shared..].iter().map(|(op, _, _)| *op));
            self.shared = stack.len();
            self.returned = self.stack_returned;
        }
    }

    /// After a pop, to `len` elements, of a returned operation or not.
    fn popped(&mut self, len: usize, returned: bool) {
        self.stack_returned -= usize::from(returned);
        self.shared = self.shared.min(len);
    }
}
