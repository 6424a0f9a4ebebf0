//! Task storage, the ready queue and wakers.
//!
//! Tasks live in a `slab` as pinned, type-erased boxes (one allocation per
//! spawn, none per poll). The ready queue is a ring buffer of slab indices; a
//! task is queued at most once however often it is woken, so each wake causes
//! exactly one poll. Wakers are packed task indices (see [`waker`]).
//!
//! The executor never runs user code while it holds one of its own borrows:
//! futures are taken out of their slot to be polled, and boxes are dropped
//! after the borrow ends, so destructors and polls may spawn and wake freely.
//! It owns no policy: the run loop, panics and time live in `runtime`.

pub(crate) mod cell;
pub(crate) mod current;
pub(crate) mod join;
pub(crate) mod root;
pub(crate) mod waits;
pub(crate) mod waker;

use crate::group::table::GroupId;
use cell::ErasedTask;
use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    fmt,
    pin::Pin,
    rc::Rc,
    task::{Context, Waker},
};

/// Unique id of a task within its simulation, in spawn order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

pub(crate) type BoxedTask = Pin<Box<dyn ErasedTask>>;

const QUEUED: u8 = 1;
const FINISHED: u8 = 1 << 1;
const ABORTED: u8 = 1 << 2;
const DETACHED: u8 = 1 << 3;
const PRIMARY: u8 = 1 << 4;
/// Scratch mark while the ready queue is compacted (`next_ready_with`).
const SEEN: u8 = 1 << 5;

struct Slot {
    /// `None` while the task is being polled.
    task: Option<BoxedTask>,
    id: TaskId,
    name: Option<Rc<str>>,
    group: GroupId,
    join_waker: Option<Waker>,
    flags: u8,
}

/// What the run loop needs to poll one task.
pub(crate) struct Polling {
    pub index: usize,
    pub id: TaskId,
    pub group: GroupId,
    pub aborted: bool,
    pub task: BoxedTask,
}

/// A task as shown in diagnostics (deadlock and panic messages).
#[derive(Clone, Debug)]
pub(crate) struct TaskLabel {
    pub id: TaskId,
    pub name: Option<Rc<str>>,
    pub group: GroupId,
}

#[derive(Default)]
pub(crate) struct Executor {
    tasks: RefCell<slab::Slab<Slot>>,
    ready: RefCell<VecDeque<usize>>,
    /// A copy of the ready queue handed to an exploring scheduler.
    scratch: RefCell<Vec<usize>>,
    current: Cell<Option<usize>>,
    /// What each blocked task waits on (by slot), noted while a deadlock
    /// report polls them (`waits`).
    waiting: RefCell<Vec<Option<waits::WaitNote>>>,
    next_id: Cell<u64>,
    /// Tasks inserted and not finished: [`Executor::live_tasks`] without a
    /// scan (model checking asks at every step).
    live: Cell<usize>,
    live_primaries: Cell<usize>,
    primary_created: Cell<bool>,
}

impl Executor {
    /// Stores a new task and queues it for its first poll.
    pub(crate) fn insert(
        &self,
        task: BoxedTask,
        name: Option<Rc<str>>,
        group: GroupId,
    ) -> (usize, TaskId) {
        let id = TaskId(self.next_id.get());
        self.next_id.set(id.0 + 1);
        let index = {
            let mut tasks = self.tasks.borrow_mut();
            assert!(
                tasks.len() < waker::MAX_TASKS,
                "a simulation can hold at most {} live tasks",
                waker::MAX_TASKS
            );
            tasks.insert(Slot {
                task: Some(task),
                id,
                name,
                group,
                join_waker: None,
                flags: QUEUED,
            })
        };
        self.ready.borrow_mut().push_back(index);
        self.live.set(self.live.get() + 1);
        (index, id)
    }

    /// Queues task `index` unless it is already queued, finished or stale.
    #[inline]
    pub(crate) fn wake(&self, index: usize, generation: u32) {
        let mut tasks = self.tasks.borrow_mut();
        if let Some(slot) = tasks.get_mut(index) {
            if waker::generation(slot.id.0) == generation && slot.flags & (QUEUED | FINISHED) == 0 {
                slot.flags |= QUEUED;
                drop(tasks);
                self.ready.borrow_mut().push_back(index);
            }
        }
    }

    #[inline]
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }

    /// Takes task `index` out of its slot for one more poll if it is
    /// blocked (unfinished, not queued, not being polled).
    pub(crate) fn take_blocked(&self, index: usize) -> Option<Polling> {
        let mut tasks = self.tasks.borrow_mut();
        let slot = tasks.get_mut(index)?;
        if slot.flags & (QUEUED | FINISHED) != 0 {
            return None;
        }
        let task = slot.task.take()?;
        self.current.set(Some(index));
        Some(Polling {
            index,
            id: slot.id,
            group: slot.group,
            aborted: slot.flags & ABORTED != 0,
            task,
        })
    }

    /// Takes the next queued task out of its slot for polling.
    #[inline]
    pub(crate) fn next_ready(&self) -> Option<Polling> {
        loop {
            let index = self.ready.borrow_mut().pop_front()?;
            let mut tasks = self.tasks.borrow_mut();
            let Some(slot) = tasks.get_mut(index) else {
                continue;
            };
            slot.flags &= !QUEUED;
            if slot.flags & FINISHED != 0 {
                continue;
            }
            let Some(task) = slot.task.take() else {
                continue;
            };
            self.current.set(Some(index));
            return Some(Polling {
                index,
                id: slot.id,
                group: slot.group,
                aborted: slot.flags & ABORTED != 0,
                task,
            });
        }
    }

    /// Like [`Self::next_ready`], but `pick` chooses which ready task (a
    /// position in the FIFO-ordered, deduplicated list of ready slot
    /// indices it receives, always at least two) is polled next. Used when
    /// exploring interleavings; `pick` may use the executor (read-only).
    pub(crate) fn next_ready_with(&self, pick: impl FnOnce(&[usize]) -> usize) -> Option<Polling> {
        let mut scratch = std::mem::take(&mut *self.scratch.borrow_mut());
        scratch.clear();
        {
            let mut ready = self.ready.borrow_mut();
            let mut tasks = self.tasks.borrow_mut();
            // Drop stale and duplicate entries so `pick` sees real choices.
            ready.retain(|&index| match tasks.get_mut(index) {
                Some(slot)
                    if slot.flags & (QUEUED | FINISHED | SEEN) == QUEUED && slot.task.is_some() =>
                {
                    slot.flags |= SEEN;
                    true
                }
                _ => false,
            });
            for &index in ready.iter() {
                tasks[index].flags &= !SEEN;
            }
            if ready.len() >= 2 {
                scratch.extend(ready.iter().copied());
            }
        }
        if scratch.len() >= 2 {
            let position = pick(&scratch);
            let index = self
                .ready
                .borrow_mut()
                .remove(position)
                .expect("the scheduler picked a position in the ready list");
            self.ready.borrow_mut().push_front(index);
        }
        *self.scratch.borrow_mut() = scratch;
        self.next_ready()
    }

    /// The id the next spawned task gets.
    pub(crate) fn next_task_id(&self) -> u64 {
        self.next_id.get()
    }

    /// Notes that the task being polled waits on a primitive (see
    /// `waits::note`; only while a deadlock report polls the blocked tasks,
    /// after [`Executor::forget_waits`]).
    pub(crate) fn note_wait(
        &self,
        kind: &'static str,
        resource: u32,
        site: &'static std::panic::Location<'static>,
        holder: Option<&waits::Holder>,
    ) {
        let Some(index) = self.current.get() else {
            return;
        };
        let mut waiting = self.waiting.borrow_mut();
        if waiting.len() <= index {
            waiting.resize(index + 1, None);
        }
        waiting[index] = Some(waits::WaitNote {
            kind,
            resource,
            site,
            holder: holder.cloned(),
        });
    }

    /// Forgets every note (before the blocked tasks are polled for new ones).
    pub(crate) fn forget_waits(&self) {
        self.waiting.borrow_mut().clear();
    }

    /// What unfinished task `index` waits on, if a primitive said so.
    pub(crate) fn waiting_on(&self, index: usize) -> Option<waits::WaitNote> {
        let unfinished = self
            .tasks
            .borrow()
            .get(index)
            .is_some_and(|slot| slot.flags & FINISHED == 0);
        unfinished
            .then(|| self.waiting.borrow().get(index).cloned().flatten())
            .flatten()
    }

    /// Slots and labels of the unfinished tasks that are not ready.
    pub(crate) fn blocked_tasks(&self) -> Vec<(usize, TaskLabel)> {
        self.tasks
            .borrow()
            .iter()
            .filter(|(_, s)| s.flags & (FINISHED | QUEUED) == 0)
            .map(|(index, s)| {
                (
                    index,
                    TaskLabel {
                        id: s.id,
                        name: s.name.clone(),
                        group: s.group,
                    },
                )
            })
            .collect()
    }

    /// The groups with at least one unfinished task, in id order.
    pub(crate) fn groups_with_tasks(&self) -> Vec<GroupId> {
        let mut groups: Vec<GroupId> = self
            .tasks
            .borrow()
            .iter()
            .filter(|(_, s)| s.flags & FINISHED == 0)
            .map(|(_, s)| s.group)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    /// Whether the task in slot `index` carries a primary future.
    pub(crate) fn is_primary(&self, index: usize) -> bool {
        self.tasks
            .borrow()
            .get(index)
            .is_some_and(|slot| slot.flags & PRIMARY != 0)
    }

    /// The id of the task in slot `index`. Panics on an empty slot.
    pub(crate) fn task_id(&self, index: usize) -> TaskId {
        self.tasks.borrow()[index].id
    }

    /// Returns a task that is still pending to its slot.
    #[inline(always)]
    pub(crate) fn suspend(&self, index: usize, task: BoxedTask) {
        self.current.set(None);
        if let Some(slot) = self.tasks.borrow_mut().get_mut(index) {
            slot.task = Some(task);
        }
    }

    /// Marks a task finished (its cell holds the output or the error). The
    /// returned box, if any, must be dropped by the caller outside any borrow.
    #[inline]
    pub(crate) fn complete(&self, index: usize, task: BoxedTask) -> Option<BoxedTask> {
        self.current.set(None);
        let mut tasks = self.tasks.borrow_mut();
        let slot = &mut tasks[index];
        debug_assert!(slot.flags & FINISHED == 0, "a task finishes once");
        self.live.set(self.live.get() - 1);
        slot.flags |= FINISHED;
        slot.flags &= !QUEUED;
        if slot.flags & DETACHED != 0 {
            drop(tasks.remove(index).join_waker);
            return Some(task);
        }
        slot.task = Some(task);
        let waker = slot.join_waker.take();
        drop(tasks);
        if let Some(waker) = waker {
            waker.wake();
        }
        None
    }

    /// Requests cancellation; the run loop drops the future on its next turn.
    pub(crate) fn abort(&self, index: usize, id: TaskId) {
        let mut tasks = self.tasks.borrow_mut();
        let Some(slot) = tasks.get_mut(index).filter(|s| s.id == id) else {
            return;
        };
        if slot.flags & FINISHED != 0 {
            return;
        }
        slot.flags |= ABORTED;
        if slot.flags & QUEUED == 0 {
            slot.flags |= QUEUED;
            drop(tasks);
            self.ready.borrow_mut().push_back(index);
        }
    }

    pub(crate) fn is_finished(&self, index: usize, id: TaskId) -> bool {
        match self.tasks.borrow().get(index) {
            Some(slot) if slot.id == id => slot.flags & FINISHED != 0,
            _ => true,
        }
    }

    /// Reads a finished task's output into `dst`, or registers the waker.
    ///
    /// # Safety
    /// `dst` must point to `Option<Result<T, JoinError>>` for the task's `T`.
    pub(crate) unsafe fn poll_join(
        &self,
        index: usize,
        id: TaskId,
        cx: &mut Context<'_>,
        dst: *mut (),
    ) -> bool {
        let mut tasks = self.tasks.borrow_mut();
        let Some(slot) = tasks.get_mut(index).filter(|s| s.id == id) else {
            // The simulation was torn down: the task was dropped unfinished.
            return true;
        };
        if slot.flags & FINISHED == 0 {
            match &mut slot.join_waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                waker => *waker = Some(cx.waker().clone()),
            }
            return false;
        }
        if let Some(task) = slot.task.as_mut() {
            // SAFETY: forwarded from the caller.
            unsafe { task.as_mut().take_output(dst) };
        }
        true
    }

    /// The join handle went away: free a finished task, or let it run detached.
    pub(crate) fn detach(&self, index: usize, id: TaskId) {
        let mut tasks = self.tasks.borrow_mut();
        let Some(slot) = tasks.get_mut(index).filter(|s| s.id == id) else {
            return;
        };
        if slot.flags & FINISHED != 0 {
            let slot = tasks.remove(index);
            drop(tasks);
            drop(slot);
        } else {
            slot.flags |= DETACHED;
            slot.join_waker = None;
        }
    }

    /// Cancels every unfinished task on `group` (a node crash). Futures are
    /// dropped here, one by one and outside any borrow, so their destructors
    /// run inside the simulation; a task that is being polled (it crashed
    /// its own node) is cancelled as soon as its poll returns. Tasks are
    /// cancelled in slab order.
    ///
    /// `around(Some(id))` runs just before a task's future is dropped and
    /// `around(None)` just after, so the caller can set the context (trace,
    /// current node) in which its destructors run.
    pub(crate) fn cancel_group(
        &self,
        group: GroupId,
        cancel: impl Fn(TaskId) -> join::JoinError,
        around: impl Fn(Option<TaskId>),
    ) {
        let victims: Vec<(usize, TaskId)> = self
            .tasks
            .borrow()
            .iter()
            .filter(|(_, s)| s.group == group && s.flags & FINISHED == 0)
            .map(|(index, s)| (index, s.id))
            .collect();
        for (index, id) in victims {
            let task = {
                let mut tasks = self.tasks.borrow_mut();
                match tasks
                    .get_mut(index)
                    .filter(|s| s.id == id && s.flags & FINISHED == 0)
                {
                    Some(slot) => {
                        slot.flags |= ABORTED;
                        slot.task.take()
                    }
                    None => continue,
                }
            };
            // `None`: the task is being polled; the run loop cancels it when
            // the poll returns (the ABORTED flag is set).
            let Some(mut task) = task else {
                let mut tasks = self.tasks.borrow_mut();
                if let Some(slot) = tasks.get_mut(index) {
                    if slot.flags & QUEUED == 0 {
                        slot.flags |= QUEUED;
                        drop(tasks);
                        self.ready.borrow_mut().push_back(index);
                    }
                }
                continue;
            };
            around(Some(id));
            task.as_mut().finish_with(cancel(id));
            let previous = self.current.replace(None);
            drop(self.complete(index, task));
            self.current.set(previous);
            around(None);
        }
    }

    /// Index of the task being polled, if any.
    #[inline]
    pub(crate) fn current(&self) -> Option<usize> {
        self.current.get()
    }

    pub(crate) fn label(&self, index: usize) -> Option<TaskLabel> {
        self.tasks.borrow().get(index).map(|slot| TaskLabel {
            id: slot.id,
            name: slot.name.clone(),
            group: slot.group,
        })
    }

    /// Id and node of the task in slot `index` (no name: cheaper).
    #[inline]
    pub(crate) fn identity(&self, index: usize) -> Option<(TaskId, GroupId)> {
        self.tasks
            .borrow()
            .get(index)
            .map(|slot| (slot.id, slot.group))
    }

    /// The name of a live task, by id (a scan: for diagnostics only).
    pub(crate) fn name_of(&self, id: TaskId) -> Option<Rc<str>> {
        self.tasks
            .borrow()
            .iter()
            .find(|(_, slot)| slot.id == id)
            .and_then(|(_, slot)| slot.name.clone())
    }

    pub(crate) fn set_group(&self, index: usize, group: GroupId) {
        if let Some(slot) = self.tasks.borrow_mut().get_mut(index) {
            slot.group = group;
        }
    }

    pub(crate) fn primary_created(&self) {
        self.live_primaries.set(self.live_primaries.get() + 1);
        self.primary_created.set(true);
    }

    pub(crate) fn primary_finished(&self) {
        self.live_primaries
            .set(self.live_primaries.get().saturating_sub(1));
    }

    pub(crate) fn mark_primary(&self, index: usize) {
        if let Some(slot) = self.tasks.borrow_mut().get_mut(index) {
            slot.flags |= PRIMARY;
        }
    }

    /// Number of primary futures that have not completed or been dropped.
    pub(crate) fn live_primaries(&self) -> usize {
        self.live_primaries.get()
    }

    /// Whether any primary future was ever created in this simulation.
    pub(crate) fn any_primary(&self) -> bool {
        self.primary_created.get()
    }

    /// Unfinished tasks that carry a primary future, in slab order.
    pub(crate) fn blocked_primaries(&self) -> Vec<TaskLabel> {
        self.tasks
            .borrow()
            .iter()
            .filter(|(_, s)| s.flags & PRIMARY != 0 && s.flags & FINISHED == 0)
            .map(|(_, s)| TaskLabel {
                id: s.id,
                name: s.name.clone(),
                group: s.group,
            })
            .collect()
    }

    /// How many task slots are taken and the next task id: unchanged as
    /// long as no task was spawned or removed.
    pub(crate) fn shape(&self) -> (usize, u64) {
        (self.tasks.borrow().len(), self.next_id.get())
    }

    /// Number of live (unfinished) tasks.
    #[inline]
    pub(crate) fn live_tasks(&self) -> usize {
        debug_assert_eq!(
            self.live.get(),
            self.tasks
                .borrow()
                .iter()
                .filter(|(_, s)| s.flags & FINISHED == 0)
                .count(),
            "the live-task count matches the slots"
        );
        self.live.get()
    }

    /// Removes every task, dropping futures and outputs outside the borrow.
    /// Destructors may spawn more tasks; those are dropped too. `dropping`
    /// is told each task's node and id just before its future is dropped,
    /// so what its destructors do is attributed to it.
    pub(crate) fn clear(&self, dropping: impl Fn(GroupId, TaskId)) {
        loop {
            let drained: Vec<Slot> = self.tasks.borrow_mut().drain().collect();
            if drained.is_empty() {
                break;
            }
            for slot in drained {
                dropping(slot.group, slot.id);
                drop(slot);
            }
        }
        self.ready.borrow_mut().clear();
        self.current.set(None);
        self.live.set(0);
    }
}
