//! Spawning tasks, primary tasks, task identity and cooperative yielding.
//!
//! A task is a future the simulation polls until it completes. It runs on
//! the node (group) current at spawn time. A *primary* future (see
//! [`PrimaryExt`](crate::ext::PrimaryExt)) keeps the simulation alive: `run`
//! returns once every primary future has completed, and background tasks are
//! then dropped.

pub use crate::executor::{
    join::{JoinError, JoinHandle},
    TaskId,
};
use crate::{
    group::table::Group,
    runtime::{context, Inner},
};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

/// Spawns a task on the current node. Panics outside a simulation.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    context::with("bach::spawn", |inner| spawn_in(inner, future, None))
}

/// Spawns a named task; the name appears in panics, deadlock reports and
/// traces. Panics outside a simulation.
#[track_caller]
pub fn spawn_named<F, N>(future: F, name: N) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
    N: fmt::Display,
{
    context::with("bach::task::spawn_named", |inner| {
        spawn_in(inner, future, Some(Rc::from(name.to_string())))
    })
}

pub(crate) fn spawn_in<F>(inner: &Inner, future: F, name: Option<Rc<str>>) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (index, id) = inner.spawn(future, name);
    JoinHandle::new(inner.rc(), index, id)
}

/// Yields to every other task that is ready at this instant, then resumes
/// (the clock does not move).
pub async fn yield_now() {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if std::mem::replace(&mut self.0, true) {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false).await
}

/// Identity of a running task.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    id: TaskId,
    name: Option<Rc<str>>,
    group: Group,
}

impl TaskInfo {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The name given with `spawn_named`, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The node the task belongs to.
    pub fn group(&self) -> &Group {
        &self.group
    }
}

/// The task being polled. Panics outside a task.
#[track_caller]
pub fn current() -> TaskInfo {
    try_current()
        .expect("`bach::task::current` called outside a task (e.g. in a `sim` setup closure)")
}

/// The task being polled, or `None` outside a task.
pub fn try_current() -> Option<TaskInfo> {
    context::try_with(|inner| {
        let inner = inner?;
        let label = inner.executor.label(inner.executor.current()?)?;
        Some(TaskInfo {
            id: label.id,
            name: label.name,
            group: inner.groups.borrow().group(label.group),
        })
    })
}

/// Creates a primary future: see [`PrimaryExt`](crate::ext::PrimaryExt).
/// Panics outside a simulation.
#[track_caller]
pub fn primary<F: Future>(future: F) -> Primary<F> {
    let sim = context::with("bach::ext::PrimaryExt::primary", |inner| {
        inner.executor.primary_created();
        inner.sim_id
    });
    Primary {
        inner: future,
        guard: PrimaryGuard {
            sim,
            done: false,
            marked: false,
        },
    }
}

pin_project! {
    /// A future that keeps the simulation running until it completes.
    #[must_use = "futures do nothing unless polled; spawn it with `.spawn()`"]
    pub struct Primary<F> {
        #[pin]
        inner: F,
        guard: PrimaryGuard,
    }
}

struct PrimaryGuard {
    sim: usize,
    done: bool,
    /// Whether the task awaiting this future was marked primary already.
    marked: bool,
}

impl PrimaryGuard {
    fn finish(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        context::with_sim_if_alive(self.sim, |inner| inner.executor.primary_finished());
    }
}

impl Drop for PrimaryGuard {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<F> Primary<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.inner
    }
}

impl<F: Future> Future for Primary<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this_addr = &*self as *const Self as *const ();
        let this = self.project();
        let inner_addr = &*this.inner as *const F as *const ();
        if !this.guard.marked {
            // First poll: mark the task (for deadlock reports) and pass
            // "being the whole task" through to the wrapped future.
            this.guard.marked = true;
            context::with("Primary::poll", |rt| {
                crate::executor::root::take::<Self>(
                    &rt.root,
                    this_addr,
                    inner_addr,
                    std::any::type_name::<F>(),
                );
                if let Some(index) = rt.executor.current() {
                    rt.executor.mark_primary(index);
                }
            });
        }
        let result = this.inner.poll(cx);
        if result.is_ready() {
            this.guard.finish();
        }
        result
    }
}
