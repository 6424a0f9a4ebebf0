//! The node table: each node's lifecycle (crashed, restarts, the software
//! it boots) and wall clock, by group. World state, copied whole by
//! model-checking checkpoints; the user-facing calls are in `node`.

use super::clock::Clock;
use crate::group::table::GroupId;
use std::{future::Future, pin::Pin, rc::Rc};

pub(crate) type Boot = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

/// Code run inside the simulation each time a node restarts, after its
/// software boots (`node::on_restart`).
pub(crate) type OnRestart = Rc<dyn Fn()>;

/// Per-node state, indexed by group id.
#[derive(Clone, Default)]
pub(crate) struct NodeState {
    pub(crate) crashed: bool,
    pub(crate) boot: Option<Boot>,
    pub(crate) on_restart: Vec<OnRestart>,
    pub(crate) clock: Clock,
    pub(crate) restarts: u32,
}

/// All nodes' states, grown on demand.
#[derive(Clone, Default)]
pub(crate) struct Nodes {
    states: Vec<NodeState>,
}

impl Nodes {
    pub(crate) fn get(&self, group: GroupId) -> Option<&NodeState> {
        self.states.get(group.0 as usize)
    }

    pub(crate) fn get_mut(&mut self, group: GroupId) -> &mut NodeState {
        let index = group.0 as usize;
        if self.states.len() <= index {
            self.states.resize_with(index + 1, NodeState::default);
        }
        &mut self.states[index]
    }

    #[inline]
    pub(crate) fn is_crashed(&self, group: GroupId) -> bool {
        self.get(group).is_some_and(|s| s.crashed)
    }
}
