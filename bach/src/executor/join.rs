//! Join handles and join errors.

use super::{current::Owner, TaskId};
use std::{
    any::Any,
    fmt,
    future::Future,
    marker::PhantomData,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

/// An owned permission to await, abort or inspect a spawned task.
///
/// Awaiting it yields the task's output, or a [`JoinError`] if the task was
/// cancelled ([`JoinHandle::abort`], node crash) or panicked (only when the
/// simulation is configured with `abort_on_panic(false)`; by default a panic
/// ends the whole simulation). Dropping the handle detaches the task: it keeps
/// running.
pub struct JoinHandle<T> {
    owner: Rc<dyn Owner>,
    index: usize,
    id: TaskId,
    taken: bool,
    _output: PhantomData<Rc<T>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(owner: Rc<dyn Owner>, index: usize, id: TaskId) -> Self {
        Self {
            owner,
            index,
            id,
            taken: false,
            _output: PhantomData,
        }
    }

    /// Cancels the task. Its future is dropped (inside the simulation) before
    /// it is polled again and awaiting the handle yields a cancelled
    /// [`JoinError`]. Aborting a finished task does nothing.
    pub fn abort(&self) {
        if !self.taken {
            self.owner.executor().abort(self.index, self.id);
        }
    }

    /// Whether the task has completed, been cancelled or panicked.
    pub fn is_finished(&self) -> bool {
        self.taken || self.owner.executor().is_finished(self.index, self.id)
    }

    /// The id of the task.
    pub fn id(&self) -> TaskId {
        self.id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.taken, "JoinHandle polled after it completed");
        let mut output: Option<Result<T, JoinError>> = None;
        // SAFETY: `output` has the exact type the task cell was created with:
        // the handle's `T` is the spawned future's output type.
        let ready = unsafe {
            self.owner.executor().poll_join(
                self.index,
                self.id,
                cx,
                &mut output as *mut Option<Result<T, JoinError>> as *mut (),
            )
        };
        if !ready {
            return Poll::Pending;
        }
        self.taken = true;
        match output {
            Some(output) => Poll::Ready(output),
            None => Poll::Ready(Err(JoinError::cancelled(self.id))),
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.owner.executor().detach(self.index, self.id);
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id).finish()
    }
}

/// Why a task did not produce its output.
pub struct JoinError {
    id: TaskId,
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    pub(crate) fn cancelled(id: TaskId) -> Self {
        Self {
            id,
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(id: TaskId, payload: Box<dyn Any + Send + 'static>) -> Self {
        Self {
            id,
            repr: Repr::Panic(payload),
        }
    }

    /// The task was aborted, or its node crashed, before it completed.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked (possible only with `abort_on_panic(false)`).
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload; panics if the task was cancelled instead.
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("`JoinError::into_panic` called on a cancelled task's error")
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(payload) => Ok(payload),
            Repr::Cancelled => Err(self),
        }
    }

    /// The id of the task that failed.
    pub fn id(&self) -> TaskId {
        self.id
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "task {} was cancelled", self.id),
            Repr::Panic(payload) => write!(
                f,
                "task {} panicked: {}",
                self.id,
                panic_message(payload.as_ref())
            ),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({})", self.id),
            Repr::Panic(payload) => write!(
                f,
                "JoinError::Panic({}, {:?})",
                self.id,
                panic_message(payload.as_ref())
            ),
        }
    }
}

impl std::error::Error for JoinError {}

/// Turns a panic payload into a readable message.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a panic with a non-string payload)".to_string()
    }
}
