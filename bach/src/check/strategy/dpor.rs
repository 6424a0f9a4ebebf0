//! Depth-first search with dynamic partial-order reduction
//! ([`Strategy::Dfs`](crate::check::Strategy::Dfs) when exploring
//! interleavings with reduction on): one execution per class of
//! equivalent schedules instead of one per order of ready tasks.
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
//!   explored, that task sleeps in the state's later branches until a step
//!   dependent on what it did there runs; a sleeping task is never
//!   scheduled, and an execution in which every ready task sleeps is
//!   equivalent to one already explored and stops at once (reported as
//!   redundant).
//!
//! Happens-before between steps is tracked with vector clocks: a task's
//! steps are ordered, a step follows every earlier dependent step at the
//! same instant and the step that spawned its task, and every step follows
//! every step of an earlier instant (the clock only moves when no task is
//! ready, so no schedule can reorder steps across it). The search runs on
//! the unreduced tree: at each scheduling point every ready task is an
//! option, so its replay tokens are plain choices, replayed like any other
//! (`reduction` off in the token).

use super::{Scheduler, StepObserver};
use crate::{
    check::footprint::{self, Footprint, Key},
    executor::TaskId,
};

/// A point of the search tree.
enum Node {
    /// A choice that is not a task order: every option is explored.
    Choice { chosen: u64, options: u64 },
    /// Which ready task runs next.
    Schedule(Box<Schedule>),
}

struct Schedule {
    /// The ready tasks, oldest first (the options).
    ready: Vec<TaskId>,
    /// The branch the current execution takes.
    chosen: TaskId,
    /// What the chosen task's step touched (`ALL` until it ran).
    footprint: Footprint,
    /// Tasks to run from here: the first one, and initials of races found
    /// below.
    backtrack: Vec<TaskId>,
    /// Branches already explored, with what their step touched: they
    /// sleep in the later branches.
    done: Vec<(TaskId, Footprint)>,
    /// The sleep set when the search first reached this state.
    sleep: Vec<(TaskId, Footprint)>,
}

impl Schedule {
    /// Whether exploring `task` here is already planned, done, or covered
    /// by a sleeping branch.
    fn covers(&self, task: TaskId) -> bool {
        self.chosen == task
            || self.backtrack.contains(&task)
            || self.done.iter().any(|(done, _)| *done == task)
            || self.sleep.iter().any(|(asleep, _)| *asleep == task)
    }
}

/// One step (poll) of the current execution.
struct Step {
    task: TaskId,
    /// The task's dense index in this execution.
    dense: usize,
    /// The step's number among its task's steps, from 1.
    seq: u32,
    time: u64,
    footprint: Footprint,
    /// The scheduling point that chose this step, if there was a choice.
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

/// The latest steps touching one resource, by dense task index
/// (`usize::MAX`: none).
#[derive(Default)]
struct Touches {
    any: Vec<usize>,
    exclusive: Vec<usize>,
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
    /// Each task's latest step dependent with the step being recorded.
    latest: Vec<usize>,
    candidates: Vec<usize>,
}

/// Depth-first search with source sets and sleep sets; see the module
/// docs. Random words come from one fixed seed, as in [`super::Dfs`].
pub(crate) struct Dpor {
    seed: u64,
    stack: Vec<Node>,
    cursor: usize,
    /// Nodes replayed from earlier executions (the last one is the branch
    /// this execution takes).
    prefix: usize,
    started: bool,
    steps: Vec<Step>,
    tasks: Vec<Task>,
    /// Dense index of each task id seen (`u32::MAX`: none yet).
    dense_of: Vec<u32>,
    clocks: Clocks,
    /// Tasks spawned but not yet polled, by id, with the spawning step.
    spawned: Vec<(u64, usize)>,
    /// Per resource, each task's latest step touching it (`any`) and
    /// latest touching it exclusively, and each task's latest step that
    /// touched everything: where a step finds the steps it depends on.
    touches: Vec<(Key, Touches)>,
    touched_all: Vec<usize>,
    sleep: Vec<(TaskId, Footprint)>,
    scratch: Scratch,
    /// The node the last schedule decision made, for the step it chose.
    pending: Option<(usize, TaskId)>,
    polling: Option<Polling>,
}

impl Dpor {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            stack: Vec::new(),
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
            sleep: Vec::new(),
            scratch: Scratch::default(),
            pending: None,
            polling: None,
        }
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

    /// Whether step `later` happens after step `earlier` (`earlier < later`).
    fn after(&self, earlier: usize, later: usize) -> bool {
        let (e, l) = (&self.steps[earlier], &self.steps[later]);
        e.time < l.time || self.clocks.step(later)[e.dense] >= e.seq
    }

    /// Records step `j` of task `dense` (its footprint and time already
    /// in `self.steps[j]`): its clock, and the races it ends.
    ///
    /// Per other task, only its latest step dependent with `j` matters
    /// (found in the per-resource tables): an earlier dependent step of
    /// that task happens before its latest one, so it adds nothing to
    /// `j`'s clock and cannot race with `j`. Such a step
    /// `i` races with `j` unless the clock built so far (`j`'s task's
    /// history, joined with the later such steps) already covers it; if
    /// not, its clock is joined. `races` off (a step of a replayed prefix,
    /// whose races an earlier execution found) only builds the clock.
    fn record(&mut self, j: usize, dense: usize, races: bool) {
        let stride = self.clocks.stride;
        let mut scratch = std::mem::take(&mut self.scratch);
        // The step's clock, from the task's clock before it.
        scratch.clock.clear();
        scratch.clock.extend_from_slice(self.clocks.task(dense));
        scratch.races.clear();
        let (time, footprint) = (self.steps[j].time, self.steps[j].footprint);
        self.dependencies(j, dense, &mut scratch);
        for &i in &scratch.candidates {
            let step = &self.steps[i];
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
            for (mine, theirs) in scratch.clock.iter_mut().zip(self.clocks.step(i)) {
                *mine = (*mine).max(*theirs);
            }
        }
        self.note_touches(j, dense, &footprint);
        let seq = self.tasks[dense].steps + 1;
        scratch.clock[dense] = seq;
        self.steps[j].seq = seq;
        self.tasks[dense].steps = seq;
        self.clocks.steps.extend_from_slice(&scratch.clock);
        self.clocks.tasks[dense * stride..(dense + 1) * stride].copy_from_slice(&scratch.clock);
        let races = std::mem::take(&mut scratch.races);
        self.scratch = scratch;
        for &(node, i) in &races {
            self.plan_reversal(node, i, j);
        }
        self.scratch.races = races;
    }

    /// Fills `scratch.candidates` with each other task's latest step
    /// dependent with step `j`, latest first (from the per-resource
    /// tables; a footprint of every resource scans back instead).
    fn dependencies(&self, j: usize, dense: usize, scratch: &mut Scratch) {
        let tasks = self.tasks.len();
        scratch.latest.clear();
        scratch.latest.resize(tasks, NONE);
        let take = |latest: &mut Vec<usize>, task: usize, step: usize| {
            if task != dense && step != NONE && (latest[task] == NONE || latest[task] < step) {
                latest[task] = step;
            }
        };
        let footprint = self.steps[j].footprint;
        if footprint.is_all() {
            // Every earlier step that touched anything.
            for i in (0..j).rev() {
                let step = &self.steps[i];
                if !step.footprint.is_empty() {
                    take(&mut scratch.latest, step.dense, i);
                }
            }
        } else {
            for &key in footprint.keys() {
                let resource = footprint::resource(key);
                let shared = footprint::is_shared(key);
                if let Some((_, touches)) = self.touches.iter().find(|(k, _)| *k == resource) {
                    let table = if shared {
                        &touches.exclusive
                    } else {
                        &touches.any
                    };
                    for (task, &step) in table.iter().enumerate() {
                        take(&mut scratch.latest, task, step);
                    }
                }
            }
            for (task, &step) in self.touched_all.iter().enumerate() {
                take(&mut scratch.latest, task, step);
            }
        }
        scratch.candidates.clear();
        scratch
            .candidates
            .extend(scratch.latest.iter().copied().filter(|step| *step != NONE));
        scratch.candidates.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// Records what step `j` of task `dense` touched, for later steps.
    fn note_touches(&mut self, j: usize, dense: usize, footprint: &Footprint) {
        let tasks = self.tasks.len();
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
                    self.touches.push((resource, Touches::default()));
                    self.touches.len() - 1
                }
            };
            let touches = &mut self.touches[at].1;
            if touches.any.len() < tasks {
                touches.any.resize(tasks, NONE);
                touches.exclusive.resize(tasks, NONE);
            }
            touches.any[dense] = j;
            if !footprint::is_shared(key) {
                touches.exclusive[dense] = j;
            }
        }
    }

    /// Race `i` → `j`: makes sure the state before `i` (node `node`) will
    /// try a task that can start an order with `j` before `i`: an initial
    /// of the steps after `i` that do not follow it, then `j`.
    fn plan_reversal(&mut self, node: usize, i: usize, j: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.rest.clear();
        scratch.rest.extend(
            (i + 1..j)
                .filter(|&k| !self.after(i, k))
                .chain(std::iter::once(j)),
        );
        // Initials: steps that follow none of the steps before them in
        // `rest` (by clock: the first `rest` step of each task so far).
        scratch.initials.clear();
        scratch.first.clear();
        scratch.first.resize(self.tasks.len(), u32::MAX);
        for &k in &scratch.rest {
            let step = &self.steps[k];
            let clock = self.clocks.step(k);
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
        let Node::Schedule(schedule) = &mut self.stack[node] else {
            unreachable!("a step chosen at a scheduling point")
        };
        if !scratch.initials.iter().any(|task| schedule.covers(*task)) {
            match scratch
                .initials
                .iter()
                .find(|task| schedule.ready.contains(task))
            {
                Some(task) => schedule.backtrack.push(*task),
                None => {
                    // No initial was ready there (it was enabled by
                    // something the search does not see): try every ready
                    // task.
                    for at in 0..schedule.ready.len() {
                        let task = schedule.ready[at];
                        if !schedule.covers(task) {
                            schedule.backtrack.push(task);
                        }
                    }
                }
            }
        }
        self.scratch = scratch;
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
        self.sleep.clear();
        self.pending = None;
        self.polling = None;
        if !self.started {
            self.started = true;
            self.prefix = 0;
            return true;
        }
        while let Some(node) = self.stack.last_mut() {
            match node {
                Node::Choice { chosen, options } => {
                    if *chosen + 1 < *options {
                        *chosen += 1;
                        self.prefix = self.stack.len();
                        return true;
                    }
                }
                Node::Schedule(schedule) => {
                    schedule.done.push((schedule.chosen, schedule.footprint));
                    let next = schedule.backtrack.iter().copied().find(|task| {
                        !schedule.done.iter().any(|(done, _)| done == task)
                            && !schedule.sleep.iter().any(|(asleep, _)| asleep == task)
                    });
                    if let Some(task) = next {
                        schedule.chosen = task;
                        schedule.footprint = Footprint::ALL;
                        self.prefix = self.stack.len();
                        return true;
                    }
                }
            }
            self.stack.pop();
        }
        false
    }

    fn choose(&mut self, options: usize) -> usize {
        if let Some(polling) = &mut self.polling {
            polling.chose = true;
        }
        let options = options as u64;
        let at = self.cursor;
        self.cursor += 1;
        match self.stack.get(at) {
            Some(Node::Choice {
                chosen,
                options: recorded,
            }) => {
                assert_eq!(
                    *recorded, options,
                    "depth-first exploration replayed a prefix and reached a choice among {options} \
                     where the earlier execution had {recorded} options: the body is nondeterministic \
                     (see Simulation::check_determinism)"
                );
                *chosen as usize
            }
            Some(Node::Schedule(_)) => panic!(
                "depth-first exploration replayed a prefix and reached a choice among {options} \
                 where the earlier execution scheduled a task: the body is nondeterministic \
                 (see Simulation::check_determinism)"
            ),
            None => {
                self.stack.push(Node::Choice { chosen: 0, options });
                0
            }
        }
    }

    fn schedule(&mut self, tasks: &[TaskId]) -> usize {
        let at = self.cursor;
        self.cursor += 1;
        let chosen = match self.stack.get(at) {
            Some(Node::Schedule(schedule)) => {
                assert_eq!(
                    schedule.ready, tasks,
                    "depth-first exploration replayed a prefix and reached other ready tasks \
                     than the earlier execution: the body is nondeterministic \
                     (see Simulation::check_determinism)"
                );
                if at + 1 == self.prefix {
                    // The branch: earlier branches sleep here.
                    self.sleep.clone_from(&schedule.sleep);
                    self.sleep.extend(schedule.done.iter().copied());
                }
                schedule.chosen
            }
            Some(Node::Choice { options, .. }) => panic!(
                "depth-first exploration replayed a prefix and reached a choice of the next task \
                 where the earlier execution chose among {options} options: the body is \
                 nondeterministic (see Simulation::check_determinism)"
            ),
            None => {
                let awake = tasks
                    .iter()
                    .copied()
                    .find(|task| !self.sleep.iter().any(|(asleep, _)| asleep == task));
                let Some(task) = awake else {
                    // Every ready task sleeps: `polling` stops the execution.
                    return 0;
                };
                self.stack.push(Node::Schedule(Box::new(Schedule {
                    ready: tasks.to_vec(),
                    chosen: task,
                    footprint: Footprint::ALL,
                    backtrack: vec![task],
                    done: Vec::new(),
                    sleep: self.sleep.clone(),
                })));
                task
            }
        };
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
        let dense = self.dense(task);
        self.steps.push(Step {
            task,
            dense,
            seq: 0,
            time: polling.time,
            footprint: *touched,
            node: polling.node,
        });
        let j = self.steps.len() - 1;
        // Steps of the replayed prefix raced with each other in the
        // execution that first ran them.
        let fresh = self.cursor >= self.prefix;
        self.record(j, dense, fresh);
        // Tasks spawned by this step start after it.
        for child in polling.first_spawn..next_task {
            self.spawned.push((child, j));
        }
        // What sleeps: a branch explored elsewhere wakes once a step it
        // depends on runs.
        let footprint = *touched;
        self.sleep
            .retain(|(asleep, what)| *asleep != task && !what.intersects(&footprint));
        if let Some(node) = polling.node {
            if let Node::Schedule(schedule) = &mut self.stack[node] {
                schedule.footprint = if polling.chose {
                    Footprint::ALL
                } else {
                    footprint
                };
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

    /// Runs a toy program: `programs[t]` is the list of footprints of task
    /// t's steps, all ready at once; returns the orders explored.
    fn explore(programs: &[Vec<Footprint>]) -> (Vec<Vec<usize>>, u64) {
        let mut dpor = Dpor::new(0);
        let mut orders = Vec::new();
        let mut redundant = 0;
        while dpor.next_execution() {
            let mut next = vec![0usize; programs.len()];
            let mut order = Vec::new();
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
                if !dpor.polling(task, 0, programs.len() as u64) {
                    stopped = true;
                    break;
                }
                dpor.polled(task, &programs[t][next[t]], programs.len() as u64);
                next[t] += 1;
                order.push(t);
            }
            if stopped {
                redundant += 1;
            } else {
                orders.push(order);
            }
        }
        (orders, redundant)
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
