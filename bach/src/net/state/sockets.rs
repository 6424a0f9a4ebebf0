//! Sockets and their ports: binding, closing, connecting, receive
//! buffers, and finding a socket by handle.

use super::*;

/// The sockets bound on one node.
#[derive(Clone, Default)]
pub(super) struct Ports {
    /// `(port, socket key)`, sorted by port.
    pub(super) bound: Vec<(u16, u32)>,
    /// Where the search for the next ephemeral port starts.
    pub(super) next_ephemeral: u16,
}

impl Ports {
    #[inline]
    pub(super) fn get(&self, port: u16) -> Option<u32> {
        let index = self.bound.binary_search_by_key(&port, |(p, _)| *p).ok()?;
        Some(self.bound[index].1)
    }

    pub(super) fn insert(&mut self, port: u16, key: u32) {
        let index = self
            .bound
            .binary_search_by_key(&port, |(p, _)| *p)
            .expect_err("the port is free");
        self.bound.insert(index, (port, key));
    }

    pub(super) fn remove(&mut self, port: u16) {
        if let Ok(index) = self.bound.binary_search_by_key(&port, |(p, _)| *p) {
            self.bound.remove(index);
        }
    }

    /// The next free port of the dynamic range, round-robin from the last one.
    pub(super) fn ephemeral(&mut self) -> Option<u16> {
        let span = u32::from(u16::MAX - EPHEMERAL_START) + 1;
        let start = self.next_ephemeral.max(EPHEMERAL_START);
        for offset in 0..span {
            let port =
                EPHEMERAL_START + ((u32::from(start - EPHEMERAL_START) + offset) % span) as u16;
            if self.get(port).is_none() {
                self.next_ephemeral = port.checked_add(1).unwrap_or(EPHEMERAL_START);
                return Some(port);
            }
        }
        None
    }
}

/// One bound socket.
#[derive(Clone)]
pub(super) struct Socket {
    /// Unique in the process, so a handle never reaches another socket
    /// that reused the slot (or another simulation's).
    pub(super) serial: u64,
    pub(super) node: NodeId,
    pub(super) port: u16,
    /// The connected peer: its node, port and the address it was given as.
    pub(super) peer: Option<(NodeId, u16, SocketAddr)>,
    /// Keys of the queued packets, oldest first.
    pub(super) queue: VecDeque<u32>,
    pub(super) queued_bytes: usize,
    pub(super) capacity_bytes: usize,
    /// Tasks waiting for a datagram; all are woken on arrival.
    pub(super) waiters: Vec<Waker>,
    /// The registry slot of the process this socket is the port of
    /// (`NO_PROCESS` for any other socket): a datagram arriving while nothing
    /// is queued goes to the process's handler at once (see [`arrive`]).
    pub(super) process: u32,
}

impl State {
    /// Binds a socket on the node of `group` to `target` (resolved there:
    /// `0.0.0.0:0`, the node's own name or address, `localhost`…).
    pub(crate) fn bind(
        &mut self,
        group: GroupId,
        target: Target<'_>,
    ) -> io::Result<(Handle, SocketAddr)> {
        let here = self.node_of(group)?;
        let addr = self.resolve(target, Some(here))?;
        if self.is_down(here) {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!(
                    "cannot bind {addr} on node `{}`: the node is crashed",
                    self.network.nodes().name(here)
                ),
            ));
        }
        let nodes = self.network.nodes();
        let own = nodes.addr(here);
        let ip = addr.ip();
        if !(ip.is_unspecified() || ip.is_loopback() || ip == own) {
            let (owner, hint) = match nodes.node_by_addr(ip) {
                Some(node) => {
                    let name = nodes.name(node);
                    (
                        format!("it belongs to node `{name}`"),
                        format!(
                            " (to run this task on `{name}`, spawn it with `.group(\"{name}\")`)"
                        ),
                    )
                }
                None => ("no node has it".to_string(), String::new()),
            };
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "cannot bind {addr} on node `{}` ({own}): {owner}; a socket binds its own \
                     node's address, 0.0.0.0 or 127.0.0.1{hint}",
                    nodes.name(here)
                ),
            ));
        }
        let ports = &mut self.ports[here.index()];
        let port = match addr.port() {
            0 => ports.ephemeral().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "no free ephemeral port on node `{}`: all of {EPHEMERAL_START}..=65535 are bound",
                        nodes.name(here)
                    ),
                )
            })?,
            port if ports.get(port).is_some() => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "address {} is already in use on node `{}`",
                        SocketAddr::new(own, port),
                        nodes.name(here)
                    ),
                ))
            }
            port => port,
        };
        let serial = NEXT_SERIAL.with(|next| {
            let serial = next.get();
            next.set(serial + 1);
            serial
        });
        let key = self.sockets.insert(Socket {
            serial,
            node: here,
            port,
            peer: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            capacity_bytes: DEFAULT_RECV_BUFFER,
            waiters: Vec::new(),
            process: NO_PROCESS,
        });
        let key = u32::try_from(key).expect("fewer than 2^32 sockets");
        ports.insert(port, key);
        Ok((Handle { key, serial }, SocketAddr::new(own, port)))
    }

    #[inline]
    pub(super) fn socket(&mut self, handle: Handle) -> io::Result<&mut Socket> {
        socket_in(&mut self.sockets, handle)
    }

    /// The node a socket is bound on.
    pub(crate) fn socket_node(&self, handle: Handle) -> Option<NodeId> {
        self.sockets
            .get(handle.key as usize)
            .filter(|socket| socket.serial == handle.serial)
            .map(|socket| socket.node)
    }

    /// Unbinds and frees a socket; its queued datagrams are discarded.
    pub(crate) fn close(&mut self, handle: Handle) {
        if self.socket(handle).is_err() {
            return;
        }
        let socket = self.sockets.remove(handle.key as usize);
        self.ports[socket.node.index()].remove(socket.port);
        for key in socket.queue {
            self.packets.discard(key, &mut self.pool);
        }
    }

    /// Connects a socket to `peer` (resolved by the caller).
    pub(crate) fn connect(&mut self, handle: Handle, peer: SocketAddr) -> io::Result<()> {
        let from = self.socket(handle)?.node;
        let node = self.route(from, peer.ip())?;
        let peer_addr = SocketAddr::new(self.network.nodes().addr(node), peer.port());
        self.socket(handle)?.peer = Some((node, peer.port(), peer_addr));
        Ok(())
    }

    /// The connected peer of a socket.
    pub(crate) fn peer(&mut self, handle: Handle) -> io::Result<Option<SocketAddr>> {
        Ok(self.socket(handle)?.peer.map(|(_, _, addr)| addr))
    }

    /// Sets the receive buffer size of a socket, in payload bytes.
    pub(crate) fn set_recv_buffer(&mut self, handle: Handle, bytes: usize) -> io::Result<()> {
        self.socket(handle)?.capacity_bytes = bytes;
        Ok(())
    }

    /// The receive buffer size of a socket, in payload bytes.
    pub(crate) fn recv_buffer(&mut self, handle: Handle) -> io::Result<usize> {
        Ok(self.socket(handle)?.capacity_bytes)
    }

    /// Forgets a waiter that no longer waits (its future was dropped).
    pub(crate) fn forget_waiter(&mut self, handle: Handle, waker: &Waker) {
        if let Ok(socket) = self.socket(handle) {
            socket.waiters.retain(|w| !w.will_wake(waker));
        }
    }

    /// The address the socket behind `handle` is bound to.
    pub(crate) fn local_addr(&self, handle: Handle) -> io::Result<SocketAddr> {
        match self.sockets.get(handle.key as usize) {
            Some(socket) if socket.serial == handle.serial => {
                Ok(self.addr(socket.node, socket.port))
            }
            _ => Err(closed()),
        }
    }
}

#[inline]
pub(super) fn socket_in(
    sockets: &mut slab::Slab<Socket>,
    handle: Handle,
) -> io::Result<&mut Socket> {
    match sockets.get_mut(handle.key as usize) {
        Some(socket) if socket.serial == handle.serial => Ok(socket),
        _ => Err(closed()),
    }
}

pub(super) fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the socket's simulation has ended (its sockets were closed)",
    )
}
