//! A process's port: a socket of the network engine bound for a process
//! (`process::engine`), which uses it without the user-facing `UdpSocket`.
//! The process's task binds it and closes it when the task goes; the
//! registry slot keeps a copy to send through. Under interleaving
//! exploration its operations touch the same endpoints as a `UdpSocket`'s.

use super::*;
use crate::net::addr::ToSocketAddrs;
use crate::{group::table::GroupId, kernel::interleave};
use std::{
    io,
    net::SocketAddr,
    task::{ready, Context, Poll, Waker},
};

/// A socket bound for a process (see the module docs).
#[derive(Clone, Copy)]
pub(crate) struct ProcessPort {
    handle: Handle,
}

/// What a datagram from `local` to `dst` touches, for exploring
/// interleavings: the sending socket's endpoint and the arrivals at the
/// destination node (`kernel::interleave::arrivals`; a loopback
/// destination is the sender's own node).
pub(crate) fn send_endpoints(local: SocketAddr, dst: SocketAddr) -> [interleave::Key; 2] {
    let node = if dst.ip().is_loopback() {
        local.ip()
    } else {
        dst.ip()
    };
    [interleave::endpoint(local), interleave::arrivals(node)]
}

impl ProcessPort {
    /// Binds `port` on the node of `group` for process `process` (slot of
    /// the process registry): arrivals for it are returned to the run loop
    /// as process arrivals (see `deliver`).
    pub(crate) fn bind(
        inner: &impl NetWorld,
        group: GroupId,
        port: u16,
        process: usize,
    ) -> io::Result<ProcessPort> {
        let (handle, _) = borrow(inner).bind(group, ("0.0.0.0", port).to_target()?)?;
        serve_process(inner, handle, process);
        Ok(ProcessPort { handle })
    }

    /// Sends a process message to `port` on `node` like `try_send_to` its
    /// datagram (see [`send`]); a failed send gives it back.
    #[inline(always)]
    pub(crate) fn send_envelope(
        self,
        inner: &impl NetWorld,
        envelope: Box<Envelope>,
        (node, port): (NodeId, u16),
    ) -> Result<usize, (io::Error, Box<Envelope>)> {
        if inner.interleave.enabled() {
            let st = borrow(inner);
            // A closed socket touches nothing: the send fails below.
            if let Ok(local) = st.local_addr(self.handle) {
                let dst = st.addr(node, port);
                drop(st);
                for key in send_endpoints(local, dst) {
                    inner.interleave.touch_key(key);
                }
            }
        }
        let mut source = Source::Envelope(Some(envelope));
        send(
            inner,
            self.handle,
            &mut source,
            Destination::Node(node, port),
        )
        .map_err(|error| (error, source.into_envelope()))
    }

    /// Receives what the network queued for the process: a process message
    /// as sent, or word that a datagram is queued (see
    /// [`poll_recv_envelope`]). A scheduling point under interleaving
    /// exploration, as a socket's receive is.
    #[inline]
    pub(crate) fn poll_recv_envelope(
        self,
        inner: &impl NetWorld,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Received>> {
        ready!(self.point(inner, cx));
        poll_recv_envelope(inner, self.handle, cx)
    }

    /// Receives a queued datagram into `buf`, as a socket's `poll_recv_from`.
    pub(crate) fn poll_recv_from(
        self,
        inner: &impl NetWorld,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        ready!(self.point(inner, cx));
        poll_recv(inner, self.handle, Some(cx), buf, Take::Pop)
    }

    /// Under interleaving exploration, records that the running step put a
    /// message in the process's inbox of same-node messages or took one out
    /// of it, and that `woken` (the process's task, woken by a message put
    /// there) will take it: the inbox is keyed as the port's endpoint,
    /// which the process's task touches whenever it receives.
    #[inline]
    pub(crate) fn touch_inbox(self, inner: &impl NetWorld, woken: Option<&Waker>) {
        if inner.interleave.enabled() {
            self.touch_inbox_exploring(inner, woken);
        }
    }

    #[cold]
    #[inline(never)]
    fn touch_inbox_exploring(self, inner: &impl NetWorld, woken: Option<&Waker>) {
        let local = borrow(inner).local_addr(self.handle);
        if let Ok(local) = local {
            let key = interleave::endpoint(local);
            match woken {
                Some(waker) => inner.interleave.woke_key(inner, key, waker),
                None => inner.interleave.touch_key(key),
            }
        }
    }

    /// Closes the port (the process's task is gone); queued datagrams go.
    pub(crate) fn close(self, inner: &impl NetWorld) {
        if let Ok(mut st) = inner.net().try_borrow_mut() {
            st.close(self.handle);
        }
    }

    fn point(self, inner: &impl NetWorld, cx: &mut Context<'_>) -> Poll<()> {
        if inner.interleave.enabled() {
            // A closed port is no scheduling point: the receive fails.
            let local = borrow(inner).local_addr(self.handle);
            if let Ok(local) = local {
                let key = interleave::endpoint(local);
                ready!(inner.interleave.point_keys(inner, cx, &[key]));
            }
        }
        Poll::Ready(())
    }
}
