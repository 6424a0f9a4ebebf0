//! Group interning: the dense ids of a simulation's nodes and their names.
//!
//! A leaf: it knows nothing of tasks, the network or the running
//! simulation; the runtime keeps one table per simulation.

use std::{collections::HashMap, fmt, rc::Rc};

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

    /// The handle of group `id`.
    pub(crate) fn group(&self, id: GroupId) -> Group {
        Group {
            id,
            name: self.name(id),
        }
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
