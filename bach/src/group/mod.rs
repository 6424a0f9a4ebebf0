//! Groups: the nodes of a simulation.
//!
//! `.group("server")` places a future, and everything it spawns, on node
//! `server`. Names are interned per simulation into dense [`Group`] ids (no
//! state leaks between simulations); the network assigns each group an
//! address, so a group's name resolves like a host name from the moment the
//! group exists. Code outside any group runs on the node `main`.

pub(crate) mod table;

pub use table::Group;
pub(crate) use table::GroupId;

use crate::runtime::{context, Inner};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

impl Group {
    /// The group called `name`, created if it does not exist yet.
    /// Panics outside a simulation.
    #[track_caller]
    pub fn new(name: &str) -> Group {
        context::with("bach::group::Group::new", |inner| {
            let id = inner.groups.borrow_mut().intern(name);
            inner.groups.borrow().group(id)
        })
    }

    /// The existing group called `name`, if any. Panics outside a simulation.
    #[track_caller]
    pub fn lookup(name: &str) -> Option<Group> {
        context::with("bach::group::Group::lookup", |inner| {
            let id = inner.groups.borrow().lookup(name)?;
            Some(inner.groups.borrow().group(id))
        })
    }
}

/// The group (node) the calling code runs on. Panics outside a simulation.
#[track_caller]
pub fn current() -> Group {
    context::with("bach::group::current", |inner| {
        inner.groups.borrow().group(inner.current_group.get())
    })
}

/// Names of every group of the current simulation, in creation order.
#[track_caller]
pub fn list() -> Vec<Group> {
    context::with("bach::group::list", |inner| {
        let groups = inner.groups.borrow();
        (0..groups.len())
            .map(|i| groups.group(GroupId(i as u32)))
            .collect()
    })
}

/// Places futures on a node: `future.group("server")`.
pub trait GroupExt: Sized {
    /// Runs this future, and every task it spawns, on node `name`. Spawned
    /// directly (`.group("a").spawn()`), the task itself belongs to `a`.
    /// Panics outside a simulation (the name is interned at this call, so
    /// the node exists, and resolves, from here on).
    #[track_caller]
    fn group<N: AsRef<str>>(self, name: N) -> Grouped<Self>;
}

impl<F: Future> GroupExt for F {
    fn group<N: AsRef<str>>(self, name: N) -> Grouped<Self> {
        Grouped {
            inner: self,
            group: Group::new(name.as_ref()).id(),
        }
    }
}

pin_project! {
    /// A future running on a node; see [`GroupExt::group`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Grouped<F> {
        #[pin]
        inner: F,
        group: GroupId,
    }
}

impl<F> Grouped<F>
where
    F: Future + 'static,
    F::Output: 'static,
{
    /// Spawns this future as a task that belongs to the node from the start
    /// (what `.group("a").spawn()` resolves to). Panics outside a simulation
    /// or if the node is crashed.
    #[track_caller]
    pub fn spawn(self) -> crate::task::JoinHandle<F::Output> {
        context::with("bach::spawn", |inner| self.spawn_on(inner, None))
    }

    /// Like [`Grouped::spawn`], naming the task.
    #[track_caller]
    pub fn spawn_named<N: fmt::Display>(self, name: N) -> crate::task::JoinHandle<F::Output> {
        context::with("bach::task::spawn_named", |inner| {
            self.spawn_on(inner, Some(Rc::from(name.to_string())))
        })
    }

    #[track_caller]
    fn spawn_on(self, inner: &Inner, name: Option<Rc<str>>) -> crate::task::JoinHandle<F::Output> {
        let group = self.group;
        spawn_grouped(inner, group, self, name)
    }
}

impl<F> crate::task::Primary<Grouped<F>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    /// Spawns this primary future as a task that belongs to the node from
    /// the start (what `.group("a").primary().spawn()` resolves to).
    #[track_caller]
    pub fn spawn(self) -> crate::task::JoinHandle<F::Output> {
        let group = self.get_ref().group;
        context::with("bach::spawn", |inner| {
            spawn_grouped(inner, group, self, None)
        })
    }

    /// Like [`spawn`](Self::spawn), naming the task.
    #[track_caller]
    pub fn spawn_named<N: fmt::Display>(self, name: N) -> crate::task::JoinHandle<F::Output> {
        let group = self.get_ref().group;
        context::with("bach::task::spawn_named", |inner| {
            spawn_grouped(inner, group, self, Some(Rc::from(name.to_string())))
        })
    }
}

/// Spawns `future` with `group` as the current node.
#[track_caller]
fn spawn_grouped<T: Future + 'static>(
    inner: &Inner,
    group: GroupId,
    future: T,
    name: Option<Rc<str>>,
) -> crate::task::JoinHandle<T::Output>
where
    T::Output: 'static,
{
    struct Restore<'a>(&'a Inner, GroupId);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            self.0.current_group.set(self.1);
        }
    }
    let _restore = Restore(inner, inner.current_group.replace(group));
    crate::task::spawn_in(inner, future, name)
}

impl<F: Future> Future for Grouped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this_addr = &*self as *const Self as *const ();
        let this = self.project();
        let group = *this.group;
        let inner_addr = &*this.inner as *const F as *const ();
        context::with("Grouped::poll", |rt| {
            if crate::executor::root::take::<Self>(
                &rt.root,
                this_addr,
                inner_addr,
                std::any::type_name::<F>(),
            ) {
                // This future is the whole task: the task lives on the node.
                if rt.nodes.borrow().is_crashed(group) {
                    rt.crashed_spawn(group);
                }
                if let Some(index) = rt.executor.current() {
                    rt.executor.set_group(index, group);
                }
            }
            let previous = rt.current_group.replace(group);
            let result = this.inner.poll(cx);
            rt.current_group.set(previous);
            result
        })
    }
}
