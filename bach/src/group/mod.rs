//! Groups: the nodes of a simulation.
//!
//! `.group("server")` places a future, and everything it spawns, on node
//! `server`. Names are interned per simulation into dense [`Group`] ids (no
//! state leaks between simulations); the network assigns each group an
//! address, so a group's name resolves like a host name from the moment the
//! group exists. Code outside any group runs on the node `main`.

use crate::runtime::{context, Inner};
use pin_project_lite::pin_project;
use std::{
    collections::HashMap,
    fmt,
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

/// Dense id of a group inside one simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct GroupId(pub(crate) u32);

impl GroupId {
    /// The node of code that is not inside any group.
    pub(crate) const MAIN: GroupId = GroupId(0);
}

/// The interned names of one simulation's groups, in creation order.
pub(crate) struct GroupTable {
    names: Vec<Rc<str>>,
    // Only looked up, never iterated, so its order cannot affect behaviour.
    ids: HashMap<Rc<str>, GroupId>,
}

impl Default for GroupTable {
    fn default() -> Self {
        let mut table = Self {
            names: Vec::new(),
            ids: HashMap::new(),
        };
        table.intern(MAIN_NAME);
        table
    }
}

const MAIN_NAME: &str = "main";

impl GroupTable {
    pub(crate) fn intern(&mut self, name: &str) -> GroupId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = GroupId(u32::try_from(self.names.len()).expect("fewer than 2^32 groups"));
        let name: Rc<str> = Rc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<GroupId> {
        self.ids.get(name).copied()
    }

    pub(crate) fn name(&self, id: GroupId) -> Rc<str> {
        self.names[id.0 as usize].clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

/// A node of the simulation.
#[derive(Clone)]
pub struct Group {
    id: GroupId,
    name: Rc<str>,
}

impl Group {
    /// The group called `name`, created if it does not exist yet.
    /// Panics outside a simulation.
    #[track_caller]
    pub fn new(name: &str) -> Group {
        context::with("bach::group::Group::new", |inner| {
            let id = inner.groups.borrow_mut().intern(name);
            Group::from_id(inner, id)
        })
    }

    /// The existing group called `name`, if any. Panics outside a simulation.
    #[track_caller]
    pub fn lookup(name: &str) -> Option<Group> {
        context::with("bach::group::Group::lookup", |inner| {
            let id = inner.groups.borrow().lookup(name)?;
            Some(Group::from_id(inner, id))
        })
    }

    pub(crate) fn from_id(inner: &Inner, id: GroupId) -> Group {
        Group {
            id,
            name: inner.groups.borrow().name(id),
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Dense index of the group within its simulation (`main` is 0), in
    /// creation order.
    pub fn index(&self) -> u32 {
        self.id.0
    }

    pub(crate) fn id(&self) -> GroupId {
        self.id
    }
}

impl PartialEq for Group {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Group {}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Group").field(&&*self.name).finish()
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The group (node) the calling code runs on. Panics outside a simulation.
#[track_caller]
pub fn current() -> Group {
    context::with("bach::group::current", |inner| {
        Group::from_id(inner, inner.current_group.get())
    })
}

/// Names of every group of the current simulation, in creation order.
#[track_caller]
pub fn list() -> Vec<Group> {
    context::with("bach::group::list", |inner| {
        let count = inner.groups.borrow().len();
        (0..count)
            .map(|i| Group::from_id(inner, GroupId(i as u32)))
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
            if crate::task::root::take::<Self>(
                rt,
                this_addr,
                inner_addr,
                std::any::type_name::<F>(),
            ) {
                // This future is the whole task: the task lives on the node.
                if rt.nodes.borrow().is_crashed(group) {
                    crate::task::crashed_spawn(rt, group);
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
