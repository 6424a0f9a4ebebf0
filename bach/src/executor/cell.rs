//! The typed home of one task: its future, then its output.
//!
//! The executor stores tasks as `Pin<Box<dyn ErasedTask>>`; the join handle,
//! which knows the output type, reads the output back through
//! [`ErasedTask::take_output`]. The future is dropped the moment it completes
//! or is cancelled, so its destructors run inside the simulation.

use super::join::JoinError;
use super::root::Root;
use std::{
    cell::Cell,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

pub(crate) trait ErasedTask {
    /// Polls the future; on completion stores the output and drops the future.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>, root: &Cell<Root>) -> Poll<()>;
    /// Drops the future (if still running) and records why.
    fn finish_with(self: Pin<&mut Self>, error: JoinError);
    /// Moves the output into `dst`, which must point to an
    /// `Option<Result<F::Output, JoinError>>` of this task's output type.
    ///
    /// # Safety
    /// `dst` must be a valid pointer to that exact type.
    unsafe fn take_output(self: Pin<&mut Self>, dst: *mut ());
}

pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

pub(crate) struct TaskCell<F: Future> {
    stage: Stage<F>,
    /// Whether the future was polled before: only the first poll publishes
    /// the root (wrappers adopt the task then, see `executor::root`).
    started: bool,
}

impl<F: Future> TaskCell<F> {
    pub(crate) fn new(future: F) -> Self {
        Self {
            stage: Stage::Running(future),
            started: false,
        }
    }

    fn first_poll(self: Pin<&mut Self>) -> bool {
        // SAFETY: `started` is not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        !std::mem::replace(&mut this.started, true)
    }

    fn stage(self: Pin<&mut Self>) -> Pin<&mut Stage<F>> {
        // SAFETY: structural pinning of the only field; `Stage` is never moved
        // out of while it holds the future (only replaced in place via `set`).
        unsafe { self.map_unchecked_mut(|cell| &mut cell.stage) }
    }
}

impl<F: Future> ErasedTask for TaskCell<F> {
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>, root: &Cell<Root>) -> Poll<()> {
        let first = self.as_mut().first_poll();
        let mut stage = self.stage();
        // SAFETY: the future is pinned inside the boxed cell and never moved;
        // it is dropped in place by `set` below.
        let future = match unsafe { stage.as_mut().get_unchecked_mut() } {
            Stage::Running(future) => unsafe { Pin::new_unchecked(future) },
            _ => return Poll::Ready(()),
        };
        if first {
            root.set(Root {
                addr: &*future as *const F as *const (),
                type_name: std::any::type_name::<F>(),
            });
        }
        match future.poll(cx) {
            Poll::Ready(output) => {
                stage.set(Stage::Finished(Ok(output)));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn finish_with(self: Pin<&mut Self>, error: JoinError) {
        let mut stage = self.stage();
        if matches!(&*stage, Stage::Running(_)) {
            stage.set(Stage::Finished(Err(error)));
        }
    }

    unsafe fn take_output(self: Pin<&mut Self>, dst: *mut ()) {
        // SAFETY: only called in the `Finished` stage, which holds no pinned
        // future, so moving the output out does not move pinned data.
        let stage = unsafe { self.stage().get_unchecked_mut() };
        if let Stage::Finished(_) = stage {
            if let Stage::Finished(output) = std::mem::replace(stage, Stage::Consumed) {
                let dst = dst as *mut Option<Result<F::Output, JoinError>>;
                // SAFETY: the caller guarantees `dst`'s type.
                unsafe { *dst = Some(output) };
            }
        }
    }
}
