//! Nodes: their ids, names and addresses.
//!
//! The [`NodeTable`] owns the mapping between a node's [`NodeId`] (its creation
//! index), its unique name (the runtime's group name, resolvable like a host
//! name) and its address (assigned by the [`AddressPlan`]). Everything else in
//! the crate refers to nodes by `NodeId` and keeps per-node state in dense
//! vectors indexed by it. Name lookups happen when a socket resolves a host,
//! not per packet; address lookups are arithmetic. The table never removes or
//! renames a node: a crashed node keeps its id, name and address.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::IpAddr;

use crate::AddressPlan;

/// A node of the simulated network: its creation index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u32);

impl NodeId {
    /// The node with creation index `index`, e.g. to rebuild an id stored as
    /// a `u32`. Using an id that no node has makes network calls panic.
    #[inline]
    pub const fn from_u32(index: u32) -> Self {
        Self(index)
    }

    /// The creation index as a `usize`, for indexing dense per-node vectors.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The creation index.
    #[inline]
    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node#{}", self.0)
    }
}

/// How many known names an "unknown host" error lists before summarising.
const NAMES_LISTED_IN_ERRORS: usize = 8;

/// The names and addresses of all nodes, in creation order.
#[derive(Clone, Debug, Default)]
pub struct NodeTable {
    plan: AddressPlan,
    names: Vec<Box<str>>,
    addrs: Vec<IpAddr>,
    by_name: BTreeMap<Box<str>, NodeId>,
}

impl NodeTable {
    /// An empty table numbering nodes from `plan`.
    pub fn new(plan: AddressPlan) -> Self {
        Self {
            plan,
            ..Self::default()
        }
    }

    /// The address plan nodes are numbered from.
    pub fn plan(&self) -> &AddressPlan {
        &self.plan
    }

    /// Adds a node called `name`, or returns the existing node of that name.
    ///
    /// Fails with `InvalidInput` if the name is empty, contains `:` or a NUL
    /// byte, or parses as an IP address (it would be ambiguous when
    /// resolving), and with `AddrNotAvailable` when the address plan is
    /// exhausted.
    pub fn add_node(&mut self, name: &str) -> io::Result<NodeId> {
        if let Some(&id) = self.by_name.get(name) {
            return Ok(id);
        }
        validate_name(name)?;
        let index = u32::try_from(self.names.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("cannot add node `{name}`: too many nodes"),
            )
        })?;
        let addr = self
            .plan
            .address(index)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot add node `{name}`: {e}")))?;
        let id = NodeId(index);
        self.names.push(name.into());
        self.addrs.push(addr);
        self.by_name.insert(name.into(), id);
        Ok(id)
    }

    /// How many nodes exist.
    #[inline]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no node exists yet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether `id` names a node of this table.
    #[inline]
    pub fn contains(&self, id: NodeId) -> bool {
        id.index() < self.names.len()
    }

    /// All node ids in creation order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = NodeId> {
        (0..self.names.len() as u32).map(NodeId)
    }

    /// The node called `name`.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// The node that has address `addr`.
    #[inline]
    pub fn node_by_addr(&self, addr: IpAddr) -> Option<NodeId> {
        let index = self.plan.index_of(addr)?;
        ((index as usize) < self.names.len()).then_some(NodeId(index))
    }

    /// The node called `name`, or a `NotFound` error listing the known names.
    pub fn lookup(&self, name: &str) -> io::Result<NodeId> {
        self.node_by_name(name)
            .ok_or_else(|| self.unknown_host(name))
    }

    /// The name of node `id`.
    ///
    /// # Panics
    /// If `id` does not belong to this table (a `NodeId` from another network).
    #[inline]
    pub fn name(&self, id: NodeId) -> &str {
        &self.names[self.checked(id)]
    }

    /// The address of node `id`.
    ///
    /// # Panics
    /// If `id` does not belong to this table (a `NodeId` from another network).
    #[inline]
    pub fn addr(&self, id: NodeId) -> IpAddr {
        self.addrs[self.checked(id)]
    }

    /// Resolves `host`, a node name or an IP literal, to an address.
    ///
    /// An IP literal resolves to itself even if no node has it. Fails with
    /// `NotFound` for an unknown name; the message lists the known names,
    /// sorted, e.g. ``unknown host `servr` (known: client, server)``.
    pub fn resolve(&self, host: &str) -> io::Result<IpAddr> {
        if let Some(id) = self.node_by_name(host) {
            return Ok(self.addr(id));
        }
        host.parse::<IpAddr>().map_err(|_| self.unknown_host(host))
    }

    /// All node names in creation order.
    pub fn known_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.names.iter().map(|name| &**name)
    }

    /// The index of `id`, panicking with an explanation if it is foreign.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn checked(&self, id: NodeId) -> usize {
        if !self.contains(id) {
            self.foreign(id);
        }
        id.index()
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn foreign(&self, id: NodeId) -> ! {
        panic!(
            "{id} does not belong to this network ({} nodes)",
            self.len()
        )
    }

    fn unknown_host(&self, host: &str) -> io::Error {
        let message = if self.by_name.is_empty() {
            format!("unknown host `{host}` (no nodes exist yet)")
        } else {
            // BTreeMap keys are already sorted, which keeps messages stable.
            let listed: Vec<&str> = self
                .by_name
                .keys()
                .take(NAMES_LISTED_IN_ERRORS)
                .map(|name| &**name)
                .collect();
            let more = self.by_name.len() - listed.len();
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("unknown host `{host}` (known: {}{more})", listed.join(", "))
        };
        io::Error::new(io::ErrorKind::NotFound, message)
    }
}

fn validate_name(name: &str) -> io::Result<()> {
    let problem = if name.is_empty() {
        "it is empty"
    } else if name.contains(':') {
        "it contains `:` (which separates host and port)"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else if name.parse::<IpAddr>().is_ok() {
        "it is an IP address"
    } else {
        return Ok(());
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid node name `{name}`: {problem}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_addresses_follow_creation_order() {
        let mut nodes = NodeTable::default();
        let server = nodes.add_node("server").unwrap();
        let client = nodes.add_node("client").unwrap();
        assert_eq!(nodes.add_node("server").unwrap(), server, "idempotent");
        assert_eq!(nodes.len(), 2);
        assert_eq!((server.as_u32(), client.as_u32()), (0, 1));
        assert_eq!(nodes.name(client), "client");
        assert_eq!(nodes.addr(server).to_string(), "10.0.0.1");
        assert_eq!(nodes.addr(client).to_string(), "10.0.0.2");
        assert_eq!(nodes.node_by_name("client"), Some(client));
        assert_eq!(nodes.node_by_name("nobody"), None);
        assert_eq!(nodes.node_by_addr(nodes.addr(client)), Some(client));
        assert_eq!(nodes.node_by_addr("10.0.0.3".parse().unwrap()), None);
        assert_eq!(
            nodes.known_names().collect::<Vec<_>>(),
            ["server", "client"]
        );
        assert_eq!(nodes.ids().collect::<Vec<_>>(), [server, client]);
    }

    #[test]
    fn resolve_accepts_names_and_ip_literals() {
        let mut nodes = NodeTable::default();
        nodes.add_node("server").unwrap();
        assert_eq!(nodes.resolve("server").unwrap().to_string(), "10.0.0.1");
        assert_eq!(nodes.resolve("192.0.2.9").unwrap().to_string(), "192.0.2.9");
        assert_eq!(nodes.resolve("::1").unwrap().to_string(), "::1");
    }

    #[test]
    fn unknown_host_lists_known_names_sorted() {
        let mut nodes = NodeTable::default();
        let err = nodes.resolve("servr").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(err.to_string(), "unknown host `servr` (no nodes exist yet)");

        nodes.add_node("server").unwrap();
        nodes.add_node("client").unwrap();
        let err = nodes.resolve("servr").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "unknown host `servr` (known: client, server)"
        );
        assert_eq!(
            nodes.lookup("servr").unwrap_err().to_string(),
            err.to_string()
        );
    }

    #[test]
    fn unknown_host_truncates_long_name_lists() {
        let mut nodes = NodeTable::default();
        for i in 0..20 {
            nodes.add_node(&format!("n{i:02}")).unwrap();
        }
        let err = nodes.resolve("x").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown host `x` (known: n00, n01, n02, n03, n04, n05, n06, n07 and 12 more)"
        );
    }

    #[test]
    fn invalid_names_are_rejected() {
        let mut nodes = NodeTable::default();
        for (name, why) in [
            ("", "empty"),
            ("a:b", "`:`"),
            ("a\0b", "NUL"),
            ("10.0.0.1", "IP address"),
        ] {
            let err = nodes.add_node(name).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains(why), "{err}");
        }
        assert!(nodes.is_empty());
    }

    #[test]
    fn exhausted_plan_names_the_node() {
        let mut nodes = NodeTable::new("10.1.0.0/30".parse().unwrap());
        nodes.add_node("a").unwrap();
        nodes.add_node("b").unwrap();
        let err = nodes.add_node("c").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable);
        assert_eq!(
            err.to_string(),
            "cannot add node `c`: address plan 10.1.0.0/30 is exhausted: it has room for 2 nodes"
        );
        assert_eq!(nodes.len(), 2);
    }

    #[test]
    #[should_panic(expected = "node#5 does not belong to this network (1 nodes)")]
    fn foreign_ids_panic_with_explanation() {
        let mut nodes = NodeTable::default();
        nodes.add_node("a").unwrap();
        nodes.name(NodeId(5));
    }
}
