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
use crate::{check::footprint::Footprint, executor::TaskId};

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
    /// Steps (by dense task index, then seq) that happen before this one,
    /// itself included.
    clock: Vec<u32>,
    /// The scheduling point that chose this step, if there was a choice.
    node: Option<usize>,
}

impl Step {
    /// Whether this step happens after `earlier` (an earlier step).
    fn after(&self, earlier: &Step) -> bool {
        earlier.time < self.time
            || self.clock.get(earlier.dense).copied().unwrap_or(0) >= earlier.seq
    }
}

/// A task of the current execution.
struct Task {
    id: TaskId,
    /// The clock of its latest step (or of the step that spawned it).
    clock: Vec<u32>,
    steps: u32,
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
    /// Clocks of tasks spawned but not yet polled, by id.
    spawned: Vec<(u64, Vec<u32>)>,
    sleep: Vec<(TaskId, Footprint)>,
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
            spawned: Vec::new(),
            sleep: Vec::new(),
            pending: None,
            polling: None,
        }
    }

    fn dense(&mut self, id: TaskId) -> usize {
        if let Some(at) = self.tasks.iter().position(|task| task.id == id) {
            return at;
        }
        let clock = match self
            .spawned
            .iter()
            .position(|(child, _)| *child == id.as_u64())
        {
            Some(at) => self.spawned.swap_remove(at).1,
            None => Vec::new(),
        };
        self.tasks.push(Task {
            id,
            clock,
            steps: 0,
        });
        self.tasks.len() - 1
    }

    /// Looks for races of the last step `j` with earlier steps at the same
    /// instant, and plans their reversal.
    fn races(&mut self, j: usize) {
        let mut found = Vec::new();
        let last = &self.steps[j];
        let previous = &self.tasks[last.dense].clock;
        for i in (0..j).rev() {
            let earlier = &self.steps[i];
            if earlier.time < last.time {
                break;
            }
            if earlier.task == last.task || !earlier.footprint.intersects(&last.footprint) {
                continue;
            }
            // Ordered through the later task's own history: not a race.
            if previous.get(earlier.dense).copied().unwrap_or(0) >= earlier.seq {
                continue;
            }
            // Ordered through a step in between that the later step depends on.
            let between = (i + 1..j).any(|k| {
                let step = &self.steps[k];
                step.footprint.intersects(&last.footprint) && step.after(earlier)
            });
            if between {
                continue;
            }
            if let Some(node) = earlier.node {
                found.push((node, i));
            }
        }
        for (node, i) in found {
            self.plan_reversal(node, i, j);
        }
    }

    /// Race `i` → `j`: makes sure the state before `i` (node `node`) will
    /// try a task that can start the order with `j` before `i`.
    fn plan_reversal(&mut self, node: usize, i: usize, j: usize) {
        // The steps after `i` that do not depend on it, then `j`.
        let earlier = &self.steps[i];
        let rest: Vec<usize> = (i + 1..j)
            .filter(|&k| !self.steps[k].after(earlier))
            .chain(std::iter::once(j))
            .collect();
        // Initials: tasks whose first step there follows none of the others.
        let mut initials: Vec<TaskId> = Vec::new();
        for (at, &k) in rest.iter().enumerate() {
            let step = &self.steps[k];
            if initials.contains(&step.task) {
                continue;
            }
            let follows = rest[..at]
                .iter()
                .any(|&before| before != j && step.after(&self.steps[before]));
            let first_of_task = !rest[..at]
                .iter()
                .any(|&before| self.steps[before].task == step.task);
            if !follows && first_of_task {
                initials.push(step.task);
            }
        }
        let Node::Schedule(schedule) = &mut self.stack[node] else {
            unreachable!("a step chosen at a scheduling point")
        };
        if initials.iter().any(|task| schedule.covers(*task)) {
            return;
        }
        match initials.iter().find(|task| schedule.ready.contains(task)) {
            Some(task) => schedule.backtrack.push(*task),
            None => {
                // No initial was ready there (it was enabled by something
                // the search does not see): try every ready task.
                let ready = schedule.ready.clone();
                for task in ready {
                    if !schedule.covers(task) {
                        schedule.backtrack.push(task);
                    }
                }
            }
        }
    }
}

impl Scheduler for Dpor {
    fn next_execution(&mut self) -> bool {
        self.cursor = 0;
        self.steps.clear();
        self.tasks.clear();
        self.spawned.clear();
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
        let mut clock = self.tasks[dense].clock.clone();
        // Every earlier dependent step at this instant happens before.
        for step in self.steps.iter().rev() {
            if step.time < polling.time {
                break;
            }
            if step.footprint.intersects(touched) {
                if clock.len() < step.clock.len() {
                    clock.resize(step.clock.len(), 0);
                }
                for (mine, theirs) in clock.iter_mut().zip(&step.clock) {
                    *mine = (*mine).max(*theirs);
                }
            }
        }
        let seq = self.tasks[dense].steps + 1;
        if clock.len() <= dense {
            clock.resize(dense + 1, 0);
        }
        clock[dense] = seq;
        // Tasks spawned by this step start after it.
        for child in polling.first_spawn..next_task {
            self.spawned.push((child, clock.clone()));
        }
        self.steps.push(Step {
            task,
            dense,
            seq,
            time: polling.time,
            footprint: *touched,
            clock,
            node: polling.node,
        });
        let j = self.steps.len() - 1;
        self.races(j);
        let step = &self.steps[j];
        self.tasks[dense].clock.clone_from(&step.clock);
        self.tasks[dense].steps = seq;
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
