//! Search with dynamic partial-order reduction
//! ([`Strategy::Dfs`](crate::check::Strategy::Dfs),
//! [`Strategy::DelayBounded`](crate::check::Strategy::DelayBounded) and
//! [`Strategy::PreemptionBounded`](crate::check::Strategy::PreemptionBounded)
//! when exploring interleavings with reduction on): one execution per
//! class of equivalent schedules instead of one per order of ready tasks.
//!
//! Two schedules are equivalent when one becomes the other by swapping
//! adjacent independent steps (steps of different tasks whose footprints
//! share no resource). The search keeps the classic two ingredients:
//!
//! * **Source sets** (Abdulla, Aronis, Jonsson, Sagonas, POPL 2014,
//!   building on Flanagan and Godefroid, POPL 2005): after each step the
//!   search looks for *races*, an earlier step of another task that
//!   touched the same resource with nothing ordering the two in between.
//!   Reversing a race may reach a new class, so the state before the
//!   earlier step gets a task to try there — one that can start the
//!   reversed order (an *initial*), unless one is already planned.
//!   Choices that are not task orders (`rand::choose`, `pick`, …) are
//!   enumerated in full.
//! * **Sleep sets** (Godefroid): once a task's branch at a state is
//!   started, that task sleeps in the state's later branches until a step
//!   dependent on what it did there runs; a sleeping task is never
//!   scheduled, and an execution in which every ready task sleeps is
//!   equivalent to one already explored and stops at once (reported as
//!   redundant).
//!
//! **The tree and its order.** The search keeps the states it reached
//! as a tree (a node per choice point, with its planned branches, the
//! branches started and its sleep set) and a *frontier* of planned
//! branches not yet started. Each execution replays the path to one
//! frontier branch, takes it, and continues with each new choice point's
//! first option, planning the others (every option of a plain choice;
//! race reversals at scheduling points). Which branch runs next is the
//! order's only decision:
//!
//! * depth first: the deepest planned branch, earliest planned first —
//!   the classic recursive search, whose frontier lies on one path;
//! * bounded: fewest deviations from the default schedule first, as
//!   [`Strategy::DelayBounded`](crate::check::Strategy::DelayBounded) and
//!   [`Strategy::PreemptionBounded`](crate::check::Strategy::PreemptionBounded)
//!   define them (a delay per ready task skipped or option passed over; a
//!   preemption per switch away from a task that could go on), then the
//!   shallowest first. A fault or a value at the root is tried right after
//!   the default execution, not after the whole reduced tree below it.
//!
//! Either way every planned branch runs exactly once, so the two orders
//! explore the same kind of reduced tree and end complete when the
//! frontier is empty. In the bounded order a branch planned at a state
//! whose earlier branches are not yet fully explored still sleeps them:
//! what they cover is explored by the end. Bounding a reduced search is a
//! heuristic of order, not a guarantee of cover: a class whose cheapest
//! schedule has `k` deviations may first be reached through a dearer
//! branch (Coons, Musuvathi, McKinley, OOPSLA 2013), so a search stopped
//! early reports the deviations it reached, not a class count. Finished
//! subtrees are released as soon as nothing below them is planned.
//!
//! Happens-before between steps is tracked with vector clocks: a task's
//! steps are ordered, a step follows every earlier dependent step at the
//! same instant and the step that spawned its task, and every step follows
//! every step of an earlier instant (the clock only moves when no task is
//! ready, so no schedule can reorder steps across it). The search runs on
//! the unreduced tree: at each scheduling point every ready task is an
//! option, so its replay tokens are plain choices, replayed like any other
//! (`reduction` off in the token).

use super::{Cost, Scheduler, StepObserver};
use crate::{
    check::footprint::{self, Footprint, Key},
    executor::TaskId,
};
use slab::Slab;
use std::{cmp::Reverse, collections::BinaryHeap};

/// Which planned branch runs next; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// The deepest, earliest planned first.
    DepthFirst,
    /// Fewest deviations first, then depth first.
    Bounded(Cost),
}

impl Order {
    /// What taking `branch` at `node` deviates from the default.
    fn cost(self, node: &Node, branch: u64) -> u32 {
        let Order::Bounded(cost) = self else {
            return 0;
        };
        match &node.kind {
            Kind::Choice { .. } => match cost {
                Cost::Delays => branch as u32,
                Cost::Preemptions => u32::from(branch != 0),
            },
            Kind::Schedule(schedule) => {
                if TaskId(branch) == schedule.default {
                    return 0;
                }
                match cost {
                    Cost::Preemptions => 1,
                    // Each ready task passed over is a delay.
                    Cost::Delays => schedule
                        .ready
                        .iter()
                        .position(|task| task.as_u64() == branch)
                        .map_or(1, |at| at.max(1) as u32),
                }
            }
        }
    }
}

/// A choice point of the search tree.
struct Node {
    /// The node before this one on every path through it.
    parent: Option<usize>,
    /// The parent's branch leading here (an option, or a task id).
    via: u64,
    /// Choice points before this one on a path through it.
    depth: u32,
    /// Deviations from the default on the way here.
    cost: u32,
    /// The sleep set when the search first reached this state.
    sleep: Vec<(TaskId, Footprint)>,
    /// Planned branches not yet started.
    pending: u32,
    /// Child nodes still in the tree.
    children: u32,
    kind: Kind,
}

enum Kind {
    /// A choice that is not a task order: every option is explored.
    Choice { options: u64 },
    /// Which ready task runs next.
    Schedule(Box<Schedule>),
}

struct Schedule {
    /// The ready tasks, oldest first (the options).
    ready: Vec<TaskId>,
    /// The branch that costs nothing (the first one taken here).
    default: TaskId,
    /// Every branch planned here: the first one, and initials of races
    /// found below.
    backtrack: Vec<TaskId>,
    /// Branches started, with what their step touched (`ALL` until it
    /// ran): they sleep in the later branches.
    done: Vec<(TaskId, Footprint)>,
}

impl Node {
    /// Whether exploring `task` here is already planned, or covered by a
    /// sleeping branch.
    fn covers(&self, task: TaskId) -> bool {
        let Kind::Schedule(schedule) = &self.kind else {
            unreachable!("a race is reversed at a scheduling point")
        };
        schedule.backtrack.contains(&task) || self.sleep.iter().any(|(asleep, _)| *asleep == task)
    }
}

/// A planned branch not yet started: node `node`'s branch `branch`.
/// Ordered by cost, then by depth (the deepest first depth first, the
/// shallowest first bounded: a cheap fault at the root before cheap
/// reorders deep down), then earliest planned first.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Planned {
    cost: u32,
    depth: u32,
    order: u64,
    node: usize,
    branch: u64,
}

/// One step (poll) of the current execution.
struct Step {
    task: TaskId,
    /// The task's dense index in this execution.
    dense: usize,
    /// The step's number among its task's steps, from 1.
    seq: u32,
    time: u64,
    /// The path position of the scheduling point that chose this step, if
    /// there was a choice.
    node: Option<usize>,
}

/// A task of the current execution: how many steps it took.
struct Task {
    steps: u32,
}

/// Vector clocks, one per step and one per task (its latest step's, or
/// the spawning step's), stored flat with one stride: `stride` entries,
/// by dense task index, per clock. Entry `d` of a clock is how many steps
/// of task `d` happen before (or are) the clock's step.
#[derive(Default)]
struct Clocks {
    stride: usize,
    steps: Vec<u32>,
    tasks: Vec<u32>,
}

impl Clocks {
    fn step(&self, step: usize) -> &[u32] {
        &self.steps[step * self.stride..(step + 1) * self.stride]
    }

    fn task(&self, dense: usize) -> &[u32] {
        &self.tasks[dense * self.stride..(dense + 1) * self.stride]
    }

    /// Makes room for `tasks` tasks per clock (re-laid out when it grows).
    fn fit(&mut self, tasks: usize) {
        if tasks <= self.stride {
            return;
        }
        let stride = tasks.next_power_of_two().max(8);
        let relayout = |flat: &mut Vec<u32>, old: usize| {
            let count = flat.len().checked_div(old).unwrap_or(0);
            let mut grown = vec![0; count * stride];
            for at in 0..count {
                grown[at * stride..at * stride + old]
                    .copy_from_slice(&flat[at * old..(at + 1) * old]);
            }
            *flat = grown;
        };
        let old = self.stride;
        relayout(&mut self.steps, old);
        relayout(&mut self.tasks, old);
        self.stride = stride;
    }

    fn clear(&mut self) {
        self.steps.clear();
        self.tasks.clear();
    }
}

/// The step being polled.
struct Polling {
    task: TaskId,
    time: u64,
    node: Option<usize>,
    /// A non-schedule choice was made during the step: its footprint may
    /// differ between the choice's branches.
    chose: bool,
    /// The id the first task spawned by the step gets.
    first_spawn: u64,
}

/// The steps a new access to one resource may depend on directly. The
/// exclusive accesses of a resource are ordered one after the other, and
/// every shared access after the exclusive one before it, so a new
/// exclusive access need only look at the latest exclusive one and the
/// shared ones since; a new shared access at the latest exclusive one.
/// Earlier accesses happen before those.
struct Touches {
    /// The latest step that touched the resource exclusively (`NONE`: no
    /// step yet).
    exclusive: usize,
    /// The steps that shared it since, the latest of each task.
    shared: Vec<usize>,
}

const NONE: usize = usize::MAX;

/// Buffers reused from step to step.
#[derive(Default)]
struct Scratch {
    /// The clock of the step being recorded.
    clock: Vec<u32>,
    /// Races found for one step: (node before the earlier step, its index).
    races: Vec<(usize, usize)>,
    /// A reversal's steps, their initials, and each task's first `rest`
    /// step (its `seq`).
    rest: Vec<usize>,
    initials: Vec<TaskId>,
    first: Vec<u32>,
    candidates: Vec<usize>,
}

/// The search with source sets and sleep sets; see the module docs.
/// Random words come from one fixed seed, as in [`super::Dfs`].
pub(crate) struct Dpor {
    seed: u64,
    order: Order,
    tree: Slab<Node>,
    frontier: BinaryHeap<Reverse<Planned>>,
    planned: u64,
    /// The current execution's nodes, by position (the first `prefix`
    /// replayed: the last of those takes the execution's branch).
    path: Vec<usize>,
    /// The branch the current execution takes at each node of `path`.
    taken: Vec<u64>,
    /// The branch this execution takes at `path[prefix - 1]`.
    branch: u64,
    /// Deviations on the path so far.
    cost: u32,
    /// The task polled last (preemption bounding's default).
    last: Option<TaskId>,
    /// The largest cost of a branch started so far.
    reached: u32,
    cursor: usize,
    prefix: usize,
    started: bool,
    steps: Vec<Step>,
    tasks: Vec<Task>,
    /// Dense index of each task id seen (`u32::MAX`: none yet).
    dense_of: Vec<u32>,
    clocks: Clocks,
    /// Tasks spawned but not yet polled, by id, with the spawning step.
    spawned: Vec<(u64, usize)>,
    /// Per resource, the steps a new access depends on directly, and each
    /// task's latest step that touched everything: where a step finds the
    /// steps it depends on.
    touches: Vec<(Key, Touches)>,
    touched_all: Vec<usize>,
    /// Each task's latest step that touched anything.
    touched_any: Vec<usize>,
    sleep: Vec<(TaskId, Footprint)>,
    scratch: Scratch,
    /// The path position of the last schedule decision, and the task it
    /// chose, for the step it chose.
    pending: Option<(usize, TaskId)>,
    polling: Option<Polling>,
}
impl Dpor {
    pub(crate) fn new(seed: u64, order: Order) -> Self {
        Self {
            seed,
            order,
            tree: Slab::new(),
            frontier: BinaryHeap::new(),
            planned: 0,
            path: Vec::new(),
            taken: Vec::new(),
            branch: 0,
            cost: 0,
            last: None,
            reached: 0,
            cursor: 0,
            prefix: 0,
            started: false,
            steps: Vec::new(),
            tasks: Vec::new(),
            dense_of: Vec::new(),
            clocks: Clocks::default(),
            spawned: Vec::new(),
            touches: Vec::new(),
            touched_all: Vec::new(),
            touched_any: Vec::new(),
            sleep: Vec::new(),
            scratch: Scratch::default(),
            pending: None,
            polling: None,
        }
    }

    /// Plans `node`'s branch `branch` on the frontier.
    fn plan(&mut self, node: usize, branch: u64) {
        let cost = {
            let at = &self.tree[node];
            at.cost + self.order.cost(at, branch)
        };
        let at = &mut self.tree[node];
        at.pending += 1;
        self.planned += 1;
        let depth = match self.order {
            Order::DepthFirst => u32::MAX - at.depth,
            Order::Bounded(_) => at.depth,
        };
        self.frontier.push(Reverse(Planned {
            cost,
            depth,
            order: self.planned,
            node,
            branch,
        }));
    }

    /// Adds a node reached fresh by the current execution at the end of
    /// its path.
    fn grow(&mut self, kind: Kind) -> usize {
        let parent = self.path.last().copied();
        let node = self.tree.insert(Node {
            parent,
            via: self.taken.last().copied().unwrap_or(0),
            depth: self.path.len() as u32,
            cost: self.cost,
            sleep: self.sleep.clone(),
            pending: 0,
            children: 0,
            kind,
        });
        if let Some(parent) = parent {
            self.tree[parent].children += 1;
        }
        self.path.push(node);
        node
    }

    /// Takes `branch` at the node at the end of the path.
    fn take(&mut self, branch: u64) {
        let node = *self.path.last().expect("a node to branch at");
        self.cost += self.order.cost(&self.tree[node], branch);
        self.taken.push(branch);
    }

    /// Releases the nodes of the finished path that nothing planned is
    /// below, deepest first.
    fn release(&mut self) {
        while let Some(&node) = self.path.last() {
            let at = &self.tree[node];
            if at.pending > 0 || at.children > 0 {
                break;
            }
            let parent = at.parent;
            self.tree.remove(node);
            self.path.pop();
            if let Some(parent) = parent {
                self.tree[parent].children -= 1;
            }
        }
        // A path through planned branches stays; its nodes are found from
        // the next branch's parents.
        self.path.clear();
    }

    fn dense(&mut self, id: TaskId) -> usize {
        let key = id.as_u64() as usize;
        if let Some(&dense) = self.dense_of.get(key).filter(|d| **d != u32::MAX) {
            return dense as usize;
        }
        if self.dense_of.len() <= key {
            self.dense_of.resize(key + 1, u32::MAX);
        }
        let dense = self.tasks.len();
        self.dense_of[key] = dense as u32;
        self.tasks.push(Task { steps: 0 });
        self.touched_any.push(NONE);
        self.clocks.fit(dense + 1);
        let stride = self.clocks.stride;
        self.clocks.tasks.resize((dense + 1) * stride, 0);
        // A spawned task starts after the step that spawned it.
        if let Some(at) = self
            .spawned
            .iter()
            .position(|(child, _)| *child == id.as_u64())
        {
            let (_, step) = self.spawned.swap_remove(at);
            let (steps, tasks) = (&self.clocks.steps, &mut self.clocks.tasks);
            tasks[dense * stride..(dense + 1) * stride]
                .copy_from_slice(&steps[step * stride..(step + 1) * stride]);
        }
        dense
    }

    /// Records step `j` of task `dense` (its time already in
    /// `self.steps[j]`), which touched `footprint`: its clock, and the
    /// races it ends.
    ///
    /// Only the steps `j` depends on directly matter (found in the
    /// per-resource tables, see [`Touches`]): an earlier dependent step
    /// happens before one of them, so it adds nothing to `j`'s clock and
    /// cannot race with `j`. Such a step `i` races with `j` unless the clock built so far (`j`'s task's
    /// history, joined with the later such steps) already covers it; if
    /// not, its clock is joined. `races` off (a step of a replayed prefix,
    /// whose races an earlier execution found) only builds the clock.
    fn record(&mut self, j: usize, dense: usize, footprint: &Footprint, races: bool) {
        let Self {
            steps,
            tasks,
            clocks,
            touches,
            touched_any,
            touched_all,
            scratch,
            ..
        } = self;
        let stride = clocks.stride;
        // The step's clock, from the task's clock before it.
        scratch.clock.clear();
        scratch.clock.extend_from_slice(clocks.task(dense));
        scratch.races.clear();
        let time = steps[j].time;
        // Steps of the task itself are in its clock already.
        let touched = |step: &&usize| **step != NONE;
        scratch.candidates.clear();
        if footprint.is_all() {
            // Every task's latest step that touched anything.
            scratch
                .candidates
                .extend(touched_any.iter().filter(touched));
        } else {
            dependencies(footprint, touches, &mut scratch.candidates);
            scratch
                .candidates
                .extend(touched_all.iter().filter(touched));
        }
        // Latest first: a later candidate's clock may order an earlier one.
        scratch.candidates.sort_unstable_by(|a, b| b.cmp(a));
        scratch.candidates.dedup();
        for &i in &scratch.candidates {
            let step = &steps[i];
            if step.time < time {
                continue;
            }
            // Already ordered before `j` — through `j`'s task's history or
            // a later candidate — it adds nothing and races with nothing.
            if scratch.clock[step.dense] >= step.seq {
                continue;
            }
            if let (Some(node), true) = (step.node, races) {
                scratch.races.push((node, i));
            }
            for (mine, theirs) in scratch.clock.iter_mut().zip(clocks.step(i)) {
                *mine = (*mine).max(*theirs);
            }
        }
        let seq = tasks[dense].steps + 1;
        scratch.clock[dense] = seq;
        steps[j].seq = seq;
        tasks[dense].steps = seq;
        clocks.steps.extend_from_slice(&scratch.clock);
        clocks.tasks[dense * stride..(dense + 1) * stride].copy_from_slice(&scratch.clock);
        self.note_touches(j, dense, footprint);
        for at in 0..self.scratch.races.len() {
            let (node, i) = self.scratch.races[at];
            self.plan_reversal(node, i, j);
        }
    }

    /// Records what step `j` of task `dense` touched, for later steps.
    fn note_touches(&mut self, j: usize, dense: usize, footprint: &Footprint) {
        let tasks = self.tasks.len();
        if !footprint.is_empty() {
            self.touched_any[dense] = j;
        }
        if footprint.is_all() {
            if self.touched_all.len() < tasks {
                self.touched_all.resize(tasks, NONE);
            }
            self.touched_all[dense] = j;
            return;
        }
        for &key in footprint.keys() {
            let resource = footprint::resource(key);
            let at = match self.touches.iter().position(|(k, _)| *k == resource) {
                Some(at) => at,
                None => {
                    self.touches.push((
                        resource,
                        Touches {
                            exclusive: NONE,
                            shared: Vec::new(),
                        },
                    ));
                    self.touches.len() - 1
                }
            };
            let touches = &mut self.touches[at].1;
            if footprint::is_shared(key) {
                let steps = &self.steps;
                touches.shared.retain(|step| steps[*step].dense != dense);
                touches.shared.push(j);
            } else {
                touches.exclusive = j;
                touches.shared.clear();
            }
        }
    }

    /// Race `i` → `j`: makes sure the state before `i` (path position
    /// `node`) will try a task that can start an order with `j` before
    /// `i`: an initial of the steps after `i` that do not follow it, then
    /// `j`.
    fn plan_reversal(&mut self, node: usize, i: usize, j: usize) {
        let key = self.path[node];
        let at = &self.tree[key];
        let Kind::Schedule(schedule) = &at.kind else {
            unreachable!("a step chosen at a scheduling point")
        };
        if schedule.ready.iter().all(|task| at.covers(*task)) {
            // Every ready task is planned or asleep there already.
            return;
        }
        let scratch = &mut self.scratch;
        let (steps, clocks, order) = (&self.steps, &self.clocks, self.order);
        // Whether step `later` happens after step `earlier` (`earlier <
        // later`).
        let after = |earlier: usize, later: usize| {
            let (e, l) = (&steps[earlier], &steps[later]);
            e.time < l.time || clocks.step(later)[e.dense] >= e.seq
        };
        scratch.rest.clear();
        scratch.rest.extend(
            (i + 1..j)
                .filter(|&k| !after(i, k))
                .chain(std::iter::once(j)),
        );
        // Initials: steps that follow none of the steps before them in
        // `rest` (by clock: the first `rest` step of each task so far).
        scratch.initials.clear();
        scratch.first.clear();
        scratch.first.resize(self.tasks.len(), u32::MAX);
        for &k in &scratch.rest {
            let step = &steps[k];
            let clock = clocks.step(k);
            let follows = scratch
                .first
                .iter()
                .enumerate()
                .any(|(task, &first)| first != u32::MAX && clock[task] >= first);
            if !follows {
                scratch.initials.push(step.task);
            }
            if scratch.first[step.dense] == u32::MAX {
                scratch.first[step.dense] = step.seq;
            }
        }
        if scratch.initials.iter().any(|task| at.covers(*task)) {
            return;
        }
        // The cheapest initial ready there (the first, depth first).
        let ready = scratch
            .initials
            .iter()
            .filter(|task| schedule.ready.contains(task))
            .min_by_key(|task| order.cost(at, task.as_u64()));
        let plan: Vec<TaskId> = match ready {
            Some(task) => vec![*task],
            // No initial was ready there (it was enabled by something the
            // search does not see): try every ready task.
            None => schedule
                .ready
                .iter()
                .copied()
                .filter(|task| !at.covers(*task))
                .collect(),
        };
        for task in plan {
            let Kind::Schedule(schedule) = &mut self.tree[key].kind else {
                unreachable!("checked above")
            };
            schedule.backtrack.push(task);
            self.plan(key, task.as_u64());
        }
    }
}

/// Adds to `candidates` the steps a step that touched `footprint` (of
/// no resource "every resource") depends on directly, as the resources'
/// tables have them.
fn dependencies(footprint: &Footprint, touches: &[(Key, Touches)], candidates: &mut Vec<usize>) {
    for &key in footprint.keys() {
        let resource = footprint::resource(key);
        let Some((_, touches)) = touches.iter().find(|(k, _)| *k == resource) else {
            continue;
        };
        if touches.exclusive != NONE {
            candidates.push(touches.exclusive);
        }
        if !footprint::is_shared(key) {
            candidates.extend_from_slice(&touches.shared);
        }
    }
}

impl Scheduler for Dpor {
    fn next_execution(&mut self) -> bool {
        self.cursor = 0;
        self.steps.clear();
        self.tasks.clear();
        self.dense_of.clear();
        self.clocks.clear();
        self.spawned.clear();
        self.touches.clear();
        self.touched_all.clear();
        self.touched_any.clear();
        self.sleep.clear();
        self.pending = None;
        self.polling = None;
        self.last = None;
        self.taken.clear();
        self.cost = 0;
        if !self.started {
            self.started = true;
            self.prefix = 0;
            return true;
        }
        self.release();
        let Some(Reverse(next)) = self.frontier.pop() else {
            return false;
        };
        self.reached = self.reached.max(next.cost);
        // The path to the branch's node, root first.
        let mut node = Some(next.node);
        while let Some(at) = node {
            self.path.push(at);
            node = self.tree[at].parent;
        }
        self.path.reverse();
        self.tree[next.node].pending -= 1;
        self.branch = next.branch;
        self.prefix = self.path.len();
        true
    }

    fn choose(&mut self, options: usize) -> usize {
        if let Some(polling) = &mut self.polling {
            polling.chose = true;
        }
        let options = options as u64;
        let at = self.cursor;
        self.cursor += 1;
        let chosen = if at < self.prefix {
            let node = &self.tree[self.path[at]];
            let Kind::Choice { options: recorded } = node.kind else {
                panic!(
                    "exploration replayed a prefix and reached a choice among {options} where the \
                     earlier execution scheduled a task: the body is nondeterministic \
                     (see Simulation::check_determinism)"
                )
            };
            assert_eq!(
                recorded, options,
                "exploration replayed a prefix and reached a choice among {options} where the \
                 earlier execution had {recorded} options: the body is nondeterministic \
                 (see Simulation::check_determinism)"
            );
            if at + 1 == self.prefix {
                // The branch: it starts with the sleep set of the state.
                self.sleep.clone_from(&node.sleep);
                self.branch
            } else {
                self.tree[self.path[at + 1]].via
            }
        } else {
            let node = self.grow(Kind::Choice { options });
            for option in 1..options {
                self.plan(node, option);
            }
            0
        };
        self.take(chosen);
        chosen as usize
    }

    fn schedule(&mut self, tasks: &[TaskId]) -> usize {
        let at = self.cursor;
        self.cursor += 1;
        let chosen = if at < self.prefix {
            let key = self.path[at];
            let branch = if at + 1 == self.prefix {
                self.branch
            } else {
                self.tree[self.path[at + 1]].via
            };
            let node = &mut self.tree[key];
            let Kind::Schedule(schedule) = &mut node.kind else {
                panic!(
                    "exploration replayed a prefix and reached a choice of the next task where \
                     the earlier execution made another choice: the body is nondeterministic \
                     (see Simulation::check_determinism)"
                )
            };
            assert_eq!(
                schedule.ready, tasks,
                "exploration replayed a prefix and reached other ready tasks than the earlier \
                 execution: the body is nondeterministic (see Simulation::check_determinism)"
            );
            if at + 1 == self.prefix {
                // The branch: branches started earlier sleep here.
                self.sleep.clone_from(&node.sleep);
                self.sleep.extend(schedule.done.iter().copied());
                schedule.done.push((TaskId(branch), Footprint::ALL));
            }
            TaskId(branch)
        } else {
            let awake = |task: &TaskId| !self.sleep.iter().any(|(asleep, _)| asleep == task);
            // Preemption bounding keeps the task that ran last.
            let default = match self.order {
                Order::Bounded(Cost::Preemptions) => self
                    .last
                    .filter(|last| tasks.contains(last) && awake(last))
                    .or_else(|| tasks.iter().copied().find(awake)),
                _ => tasks.iter().copied().find(awake),
            };
            let Some(task) = default else {
                // Every ready task sleeps: `polling` stops the execution.
                return 0;
            };
            self.grow(Kind::Schedule(Box::new(Schedule {
                ready: tasks.to_vec(),
                default: task,
                backtrack: vec![task],
                done: vec![(task, Footprint::ALL)],
            })));
            task
        };
        self.take(chosen.as_u64());
        self.pending = Some((at, chosen));
        tasks
            .iter()
            .position(|task| *task == chosen)
            .expect("the chosen task is ready")
    }

    fn next_u64(&mut self) -> u64 {
        unreachable!("Dpor draws its words from words_seed")
    }

    fn words_seed(&self) -> Option<u64> {
        Some(self.seed)
    }

    fn replaying(&self) -> bool {
        self.cursor < self.prefix
    }

    fn covered(&self) -> Option<String> {
        let Order::Bounded(cost) = self.order else {
            return None;
        };
        // Branches start in order of cost: all cheaper ones have started.
        let below = self.reached.checked_sub(1)?;
        let unit = match (cost, below) {
            (Cost::Delays, 1) => "delay",
            (Cost::Delays, _) => "delays",
            (Cost::Preemptions, 1) => "preemption",
            (Cost::Preemptions, _) => "preemptions",
        };
        Some(format!(
            "every branch the reduction planned within {below} {unit} explored"
        ))
    }
}

impl StepObserver for Dpor {
    fn polling(&mut self, task: TaskId, now: u64, next_task: u64) -> bool {
        if self.sleep.iter().any(|(asleep, _)| *asleep == task) {
            return false;
        }
        let node = match self.pending.take() {
            Some((node, chosen)) if chosen == task => Some(node),
            _ => None,
        };
        self.polling = Some(Polling {
            task,
            time: now,
            node,
            chose: false,
            first_spawn: next_task,
        });
        true
    }

    fn polled(&mut self, task: TaskId, touched: &Footprint, next_task: u64) {
        let Some(polling) = self.polling.take().filter(|polling| polling.task == task) else {
            return;
        };
        self.last = Some(task);
        let dense = self.dense(task);
        self.steps.push(Step {
            task,
            dense,
            seq: 0,
            time: polling.time,
            node: polling.node,
        });
        let j = self.steps.len() - 1;
        // Steps of the replayed prefix raced with each other in the
        // execution that first ran them.
        let fresh = self.cursor >= self.prefix;
        self.record(j, dense, touched, fresh);
        // Tasks spawned by this step start after it.
        for child in polling.first_spawn..next_task {
            self.spawned.push((child, j));
        }
        // What sleeps: a branch explored elsewhere wakes once a step it
        // depends on runs.
        let footprint = *touched;
        self.sleep
            .retain(|(asleep, what)| *asleep != task && !what.intersects(&footprint));
        if let Some(at) = polling.node {
            if let Kind::Schedule(schedule) = &mut self.tree[self.path[at]].kind {
                let step = if polling.chose {
                    Footprint::ALL
                } else {
                    footprint
                };
                if let Some(done) = schedule.done.iter_mut().find(|(done, _)| *done == task) {
                    done.1 = step;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(keys: &[u64]) -> Footprint {
        let mut footprint = Footprint::EMPTY;
        for key in keys {
            footprint.insert(*key);
        }
        footprint
    }

    /// One step of a toy task: the footprints it may have; with more than
    /// one, the step chooses which (a value choice inside the step).
    type Toy = Vec<Vec<Footprint>>;

    /// An execution of a toy program: the tasks in the order they ran and
    /// the options the choosing steps took, in order.
    type Run = (Vec<usize>, Vec<usize>);

    /// Runs a toy program under `order`: `programs[t]` is task t's steps,
    /// all ready at once; returns the executions that ran to the end and
    /// the number stopped as redundant.
    fn explore_toys(order: Order, programs: &[Toy]) -> (Vec<Run>, u64) {
        let mut dpor = Dpor::new(0, order);
        let mut runs = Vec::new();
        let mut redundant = 0;
        let tasks = programs.len() as u64;
        while dpor.next_execution() {
            let mut next = vec![0usize; programs.len()];
            let (mut ran, mut chose) = (Vec::new(), Vec::new());
            let mut stopped = false;
            loop {
                let ready: Vec<TaskId> = (0..programs.len())
                    .filter(|&t| next[t] < programs[t].len())
                    .map(|t| TaskId(t as u64))
                    .collect();
                if ready.is_empty() {
                    break;
                }
                let pick = if ready.len() > 1 {
                    dpor.schedule(&ready)
                } else {
                    0
                };
                let task = ready[pick];
                let t = task.as_u64() as usize;
                if !dpor.polling(task, 0, tasks) {
                    stopped = true;
                    break;
                }
                let options = &programs[t][next[t]];
                let option = if options.len() > 1 {
                    let option = dpor.choose(options.len());
                    chose.push(option);
                    option
                } else {
                    0
                };
                dpor.polled(task, &options[option], tasks);
                next[t] += 1;
                ran.push(t);
            }
            if stopped {
                redundant += 1;
            } else {
                runs.push((ran, chose));
            }
        }
        (runs, redundant)
    }

    /// Runs a toy program without value choices depth first; returns the
    /// orders explored.
    fn explore(programs: &[Vec<Footprint>]) -> (Vec<Vec<usize>>, u64) {
        let toys: Vec<Toy> = programs
            .iter()
            .map(|steps| steps.iter().map(|step| vec![*step]).collect())
            .collect();
        let (runs, redundant) = explore_toys(Order::DepthFirst, &toys);
        (
            runs.into_iter().map(|(order, _)| order).collect(),
            redundant,
        )
    }

    /// The class of an execution: the options chosen by each step, and
    /// the order of every pair of dependent steps of different tasks.
    fn class(programs: &[Toy], (order, chose): &Run) -> Vec<(usize, usize, usize, usize)> {
        let mut seq = vec![0usize; programs.len()];
        let mut chosen = chose.iter();
        let mut steps = Vec::new();
        for &t in order {
            let options = &programs[t][seq[t]];
            let option = if options.len() > 1 {
                *chosen.next().expect("a recorded choice")
            } else {
                0
            };
            steps.push((t, seq[t], option, options[option]));
            seq[t] += 1;
        }
        let mut class: Vec<_> = steps
            .iter()
            .map(|&(t, s, option, _)| (t, s, option, usize::MAX))
            .collect();
        for (i, a) in steps.iter().enumerate() {
            for b in &steps[i + 1..] {
                if a.0 != b.0 && a.3.intersects(&b.3) {
                    class.push((a.0, a.1, b.0, b.1));
                }
            }
        }
        class.sort_unstable();
        class
    }

    /// Every execution of a toy program, by brute force.
    fn every_run(programs: &[Toy]) -> Vec<Run> {
        fn go(programs: &[Toy], next: &mut Vec<usize>, run: &mut Run, out: &mut Vec<Run>) {
            let mut any = false;
            for t in 0..programs.len() {
                if next[t] == programs[t].len() {
                    continue;
                }
                any = true;
                let options = programs[t][next[t]].len();
                for option in 0..options {
                    run.0.push(t);
                    if options > 1 {
                        run.1.push(option);
                    }
                    next[t] += 1;
                    go(programs, next, run, out);
                    next[t] -= 1;
                    run.0.pop();
                    if options > 1 {
                        run.1.pop();
                    }
                }
            }
            if !any {
                out.push(run.clone());
            }
        }
        let mut out = Vec::new();
        go(
            programs,
            &mut vec![0; programs.len()],
            &mut (Vec::new(), Vec::new()),
            &mut out,
        );
        out
    }

    /// Random toy programs: 2–3 tasks of 1–3 steps, each touching one or
    /// two of three resources (or nothing), exclusively or shared, some
    /// choosing between two footprints.
    fn toys(seed: u64) -> Vec<Toy> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let footprint = |next: &mut dyn FnMut(u64) -> u64| match next(8) {
            0 => fp(&[]),
            1 => fp(&[1 + next(3), 1 + next(3)]),
            2 | 3 => fp(&[footprint::shared(1 + next(3))]),
            4 => fp(&[footprint::shared(1 + next(3)), 1 + next(3)]),
            _ => fp(&[1 + next(3)]),
        };
        let tasks = 2 + next(2) as usize;
        (0..tasks)
            .map(|_| {
                let steps = 1 + next(3) as usize;
                (0..steps)
                    .map(|_| {
                        let options = if next(5) == 0 { 2 } else { 1 };
                        (0..options).map(|_| footprint(&mut next)).collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_order_reaches_every_class_of_random_programs() {
        use std::collections::BTreeSet;
        for seed in 0..400 {
            let programs = toys(seed);
            let every = every_run(&programs);
            let classes: BTreeSet<_> = every.iter().map(|run| class(&programs, run)).collect();
            for order in [
                Order::DepthFirst,
                Order::Bounded(Cost::Delays),
                Order::Bounded(Cost::Preemptions),
            ] {
                let (runs, redundant) = explore_toys(order, &programs);
                let seen: BTreeSet<_> = runs.iter().map(|run| class(&programs, run)).collect();
                assert_eq!(seen, classes, "seed {seed}, {order:?}: {programs:?}");
                assert!(
                    runs.len() as u64 + redundant <= every.len() as u64,
                    "seed {seed}, {order:?}: {} executions, {} orders",
                    runs.len() as u64 + redundant,
                    every.len()
                );
            }
        }
    }

    #[test]
    fn bounded_order_runs_a_root_choice_early() {
        // Task 0 chooses first; three tasks race on one resource below.
        let programs: Vec<Toy> = vec![
            vec![vec![fp(&[7]), fp(&[8])], vec![fp(&[1])], vec![fp(&[1])]],
            vec![vec![fp(&[1])], vec![fp(&[1])], vec![fp(&[1])]],
            vec![vec![fp(&[1])], vec![fp(&[1])], vec![fp(&[1])]],
        ];
        let first_other = |order| {
            let (runs, _) = explore_toys(order, &programs);
            let at = runs.iter().position(|(_, chose)| chose[0] == 1);
            (at.expect("the other option runs"), runs.len())
        };
        let (depth_first, total) = first_other(Order::DepthFirst);
        let (bounded, _) = first_other(Order::Bounded(Cost::Preemptions));
        assert!(depth_first * 2 >= total, "{depth_first} of {total}");
        assert!(bounded <= 2, "{bounded}");
    }

    #[test]
    fn independent_tasks_run_once() {
        let (orders, redundant) =
            explore(&[vec![fp(&[1]); 2], vec![fp(&[2]); 2], vec![fp(&[3]); 2]]);
        assert_eq!(orders.len(), 1, "{orders:?}");
        assert_eq!(redundant, 0);
    }

    #[test]
    fn two_dependent_steps_run_in_both_orders() {
        let (orders, _) = explore(&[vec![fp(&[1])], vec![fp(&[1])]]);
        assert_eq!(orders, vec![vec![0, 1], vec![1, 0]]);
    }

    #[test]
    fn one_execution_per_order_of_dependent_steps() {
        // Three tasks, two steps each on one resource: 6!/(2!2!2!) orders.
        let (orders, redundant) =
            explore(&[vec![fp(&[1]); 2], vec![fp(&[1]); 2], vec![fp(&[1]); 2]]);
        let distinct: std::collections::BTreeSet<_> = orders.iter().collect();
        assert_eq!(distinct.len(), 90);
        assert_eq!(orders.len(), 90);
        assert_eq!(redundant, 0);
    }

    #[test]
    fn independent_prefixes_do_not_multiply_dependent_orders() {
        // Task 0 and 1 race on resource 1 after a private step each; task 2
        // is independent of both.
        let (orders, _) = explore(&[
            vec![fp(&[10]), fp(&[1])],
            vec![fp(&[11]), fp(&[1])],
            vec![fp(&[12]), fp(&[12])],
        ]);
        let classes: std::collections::BTreeSet<Vec<usize>> = orders
            .iter()
            .map(|order| {
                // The order of the two steps on resource 1.
                let mut seen = [0; 3];
                order
                    .iter()
                    .filter_map(|&t| {
                        seen[t] += 1;
                        (t < 2 && seen[t] == 2).then_some(t)
                    })
                    .collect()
            })
            .collect();
        assert_eq!(classes.len(), 2);
        assert_eq!(orders.len(), 2, "{orders:?}");
    }
}
