//! The node table and addresses: groups become nodes in creation order,
//! names and addresses resolve to nodes, and nodes go down and up.

use super::*;

/// A short `"host:port"` text and the address it resolved to, stored
/// inline so that remembering a new one never allocates.
pub(super) struct LastText {
    pub(super) len: u8,
    pub(super) bytes: [u8; LastText::CAPACITY],
    pub(super) addr: SocketAddr,
}

impl LastText {
    const CAPACITY: usize = 62;

    pub(super) fn empty() -> Self {
        Self {
            len: 0,
            bytes: [0; Self::CAPACITY],
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    #[inline]
    pub(super) fn recall(&self, text: &str) -> Option<SocketAddr> {
        (self.len > 0 && self.bytes[..usize::from(self.len)] == *text.as_bytes())
            .then_some(self.addr)
    }

    pub(super) fn remember(&mut self, text: &str, addr: SocketAddr) {
        let Some(bytes) = self.bytes.get_mut(..text.len()) else {
            self.len = 0;
            return;
        };
        bytes.copy_from_slice(text.as_bytes());
        self.len = text.len() as u8;
        self.addr = addr;
    }
}

impl State {
    /// Adds the groups created since the last call as network nodes.
    #[inline]
    pub(crate) fn sync(&mut self, groups: &GroupTable) {
        if groups.len() != self.node_of_group.len() {
            self.add_groups(groups);
        }
    }

    #[cold]
    pub(super) fn add_groups(&mut self, groups: &GroupTable) {
        for index in self.node_of_group.len()..groups.len() {
            let group = GroupId(index as u32);
            match self.network.add_node(&groups.name(group)) {
                Ok(node) => {
                    debug_assert_eq!(node.index(), self.group_of_node.len());
                    self.node_of_group.push(node.as_u32());
                    self.group_of_node.push(group);
                    self.ports.push(Ports::default());
                }
                Err(error) => {
                    self.node_of_group.push(NO_NODE);
                    self.unavailable
                        .push((index as u32, error.kind(), error.to_string().into()));
                }
            }
        }
    }

    /// Replaces the address plan; only possible before any node exists.
    pub(crate) fn set_address_plan(&mut self, plan: bach_net::AddressPlan) -> Result<(), String> {
        if !self.network.nodes().is_empty() {
            return Err(format!(
                "the address plan cannot change to {plan}: nodes already have addresses from {}",
                self.network.nodes().plan()
            ));
        }
        let default = *self.network.default_link();
        self.network = Network::with_address_plan(plan);
        self.network
            .set_default_link(default)
            .expect("the default link was valid before");
        Ok(())
    }

    /// The node a group runs on.
    pub(crate) fn node_of(&self, group: GroupId) -> io::Result<NodeId> {
        match self.node_of_group.get(group.0 as usize) {
            Some(&node) if node != NO_NODE => Ok(NodeId::from_u32(node)),
            _ => {
                let (kind, why) = self
                    .unavailable
                    .iter()
                    .find(|(g, _, _)| *g == group.0)
                    .map(|(_, kind, why)| (*kind, &**why))
                    .unwrap_or((io::ErrorKind::AddrNotAvailable, "unknown group"));
                Err(io::Error::new(
                    kind,
                    format!("this node has no network address: {why}"),
                ))
            }
        }
    }

    /// The group of a node.
    #[inline]
    pub(crate) fn group_of(&self, node: NodeId) -> GroupId {
        self.group_of_node[node.index()]
    }

    /// The node called `name`; `NotFound` lists the known names.
    pub(crate) fn node_by_name(&self, name: &str) -> io::Result<NodeId> {
        self.network.nodes().lookup(name)
    }

    /// Resolves a target to an address; `localhost` is node `here`.
    pub(crate) fn resolve(
        &mut self,
        target: Target<'_>,
        here: Option<NodeId>,
    ) -> io::Result<SocketAddr> {
        match target {
            Target::Addr(addr) => Ok(addr),
            Target::Host(name, port) => {
                if let Some(node) = self.node_named(name) {
                    return Ok(SocketAddr::new(self.network.nodes().addr(node), port));
                }
                let nodes = self.network.nodes();
                if let (Some(here), true) = (here, name.eq_ignore_ascii_case("localhost")) {
                    return Ok(SocketAddr::new(nodes.addr(here), port));
                }
                let err = nodes.lookup(name).expect_err("not a node name");
                Err(io::Error::new(
                    err.kind(),
                    format!(
                        "{err}; a node exists once a task is spawned on it with \
                         `.group(\"{name}\")`"
                    ),
                ))
            }
        }
    }

    /// The node called `name`, if any (not `localhost`).
    #[inline]
    pub(super) fn node_named(&mut self, name: &str) -> Option<NodeId> {
        if let Some((last, node)) = &self.last_name {
            if **last == *name {
                return Some(*node);
            }
        }
        let node = self.network.nodes().node_by_name(name)?;
        self.last_name = Some((name.into(), node));
        Some(node)
    }

    /// Resolves a send's destination written as `"host:port"` text, like
    /// [`State::resolve`] with the node of socket `from` as `localhost`; a
    /// text naming a node is remembered, and the next call with the same
    /// text costs a comparison.
    #[inline]
    pub(crate) fn resolve_text(&mut self, text: &str, from: Handle) -> io::Result<SocketAddr> {
        if let Some(addr) = self.last_text.recall(text) {
            return Ok(addr);
        }
        self.resolve_text_slow(text, from)
    }

    #[cold]
    pub(super) fn resolve_text_slow(&mut self, text: &str, from: Handle) -> io::Result<SocketAddr> {
        let target = text.to_target()?;
        let here = self.socket_node(from);
        let addr = self.resolve(target, here)?;
        if let Target::Host(name, _) = target {
            if self.node_named(name).is_some() {
                self.last_text.remember(text, addr);
            }
        }
        Ok(addr)
    }

    /// The node that receives packets sent from `from` to `ip`.
    #[inline(always)]
    pub(super) fn route(&self, from: NodeId, ip: IpAddr) -> io::Result<NodeId> {
        match self.network.nodes().node_by_addr(ip) {
            Some(node) => Ok(node),
            None => self.route_special(from, ip),
        }
    }

    /// [`State::route`] for an address no node has: loopback and the
    /// unspecified address mean the sender's own node; anything else fails.
    #[cold]
    pub(super) fn route_special(&self, from: NodeId, ip: IpAddr) -> io::Result<NodeId> {
        if ip.is_loopback() || ip.is_unspecified() {
            return Ok(from);
        }
        Err(io::Error::new(
            io::ErrorKind::HostUnreachable,
            format!(
                "no node has address {ip} (nodes are numbered from {})",
                self.network.nodes().plan()
            ),
        ))
    }

    #[inline]
    pub(crate) fn addr(&self, node: NodeId, port: u16) -> SocketAddr {
        SocketAddr::new(self.network.nodes().addr(node), port)
    }

    #[inline]
    pub(super) fn is_down(&self, node: NodeId) -> bool {
        self.down.get(node.index()).copied().unwrap_or(false)
    }

    /// Marks `node` crashed (`true`) or booted again (`false`).
    pub(crate) fn set_down(&mut self, node: NodeId, now: u64, down: bool) {
        let index = node.index();
        if self.down.len() <= index {
            self.down.resize(index + 1, false);
            self.crashes.resize_with(index + 1, Vec::new);
        }
        self.down[index] = down;
        if down {
            self.crashes[index].push((now, self.next_packet_id));
        }
    }

    /// Whether the sender of a packet with this id and departure time had
    /// crashed before the packet left it.
    #[inline]
    pub(super) fn sender_crashed_first(&self, from: NodeId, id: u64, departs: u64) -> bool {
        let Some(crashes) = self.crashes.get(from.index()).filter(|c| !c.is_empty()) else {
            return false;
        };
        // The first crash after the packet was sent decides.
        let first = crashes.partition_point(|(_, next_id)| *next_id <= id);
        crashes.get(first).is_some_and(|(time, _)| *time < departs)
    }
}
