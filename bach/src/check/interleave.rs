//! The scheduling hooks of the user-facing primitives: the points where a
//! task may be preempted while interleavings are explored (an async
//! operation on a sync primitive, a queue or a socket), and the operations
//! that tell the reduction what a task touched or woke. They find the
//! running simulation's kernel (`kernel::interleave` explains the
//! reduction) and cost one bit test on a resource created outside an
//! exploring simulation.

pub(crate) use crate::kernel::interleave::{endpoint, primitive, side, Key, ResourceId};
use crate::runtime::context;
use std::task::{Context, Poll, Waker};

/// A scheduling point before an async operation on `resource`: returns
/// `Pending` (after waking the task) the first time, so the run loop can
/// choose who goes first among contending tasks, and `Ready` when the
/// operation may take effect. Free when the resource was created outside an
/// exploring simulation (one bit test).
#[inline]
pub(crate) fn point(cx: &Context<'_>, resource: ResourceId) -> Poll<()> {
    if !resource.explored() {
        return Poll::Ready(());
    }
    point_slow(cx, &[primitive(resource)])
}

/// [`point`] for socket operations on `keys` (endpoints).
#[inline]
pub(crate) fn point_endpoints(cx: &Context<'_>, keys: &[Key]) -> Poll<()> {
    context::try_with(|inner| match inner {
        Some(inner) if inner.interleave.enabled() => inner.interleave.point_keys(inner, cx, keys),
        _ => Poll::Ready(()),
    })
}

#[cold]
fn point_slow(cx: &Context<'_>, keys: &[Key]) -> Poll<()> {
    point_endpoints(cx, keys)
}

/// Records a synchronous operation on `resource` by the running task (a
/// `try_*` operation, an unlock, a notification), so the task's next
/// footprint includes it.
#[inline]
pub(crate) fn touch(resource: ResourceId) {
    if resource.explored() {
        touch_slow(primitive(resource));
    }
}

/// Records a synchronous operation on `resource`'s side resource (see
/// `kernel::interleave::side`): `shared` when it commutes with the other
/// shared operations on it (adding or dropping a channel's sender that is
/// not the last one; reading a `Notify`'s count of `notify_waiters`
/// calls), not when it conflicts with them (reading the count of senders;
/// `notify_waiters` itself). Neither conflicts with the resource's data.
#[inline]
pub(crate) fn touch_side(resource: ResourceId, shared: bool) {
    if resource.explored() {
        let key = side(resource);
        touch_slow(if shared {
            crate::check::footprint::shared(key)
        } else {
            key
        });
    }
}

/// [`touch`] for a socket endpoint.
#[inline]
pub(crate) fn touch_endpoint(key: Key) {
    context::try_with(|inner| {
        if let Some(inner) = inner.filter(|inner| inner.interleave.enabled()) {
            inner.interleave.touch_key(key);
        }
    })
}

#[cold]
fn touch_slow(key: Key) {
    touch_endpoint(key)
}

/// A primitive on `resource` is waking `waker`: its task's next poll will
/// touch the resource (and the waking task touched it now).
#[inline]
pub(crate) fn woke(resource: ResourceId, waker: &Waker) {
    if resource.explored() {
        woke_slow(primitive(resource), waker);
    }
}

#[cold]
fn woke_slow(key: Key, waker: &Waker) {
    context::try_with(|inner| {
        if let Some(inner) = inner.filter(|inner| inner.interleave.enabled()) {
            inner.interleave.touch_key(key);
            inner.interleave.predict(inner, waker, key);
        }
    })
}
