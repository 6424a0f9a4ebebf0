//! [`UdpSocket`]: tokio's UDP socket API over the simulated network.
//!
//! (Over 600 lines on purpose: tokio's `UdpSocket` surface — send,
//! receive and peek in their async, `poll_*` and `try_*` forms — is one
//! adapter over the network engine.)
//!
//! A socket is bound on the node (group) of the task that binds it and
//! keeps that node for life, whichever task later uses it. Sending never
//! waits (the link model queues or drops instead); receiving waits for a
//! datagram in the socket's bounded receive buffer. All work happens in the
//! network state (`state`); this module only adapts it to futures and
//! `poll_*` functions. Sockets are closed (their port freed, their queued
//! datagrams discarded) when dropped.
//!
//! Under interleaving exploration a socket operation touches *endpoints*
//! (`check::interleave::endpoint`): a send touches the sending socket's
//! address and the arrivals at the destination node
//! (`check::interleave::arrivals`), a receive the socket's own address. Async
//! operations (`send_to`, `send`, `recv_from`, `recv`, `peek_from`,
//! `readable` and their `poll_*` forms) are scheduling points, taken in
//! exactly one place each (`poll_send_to` and the private `poll`); `try_*`
//! operations record a touch.

use super::{
    addr::{Target, ToSocketAddrs},
    state::{self, send_endpoints, Destination, Handle, Source, Take},
};
use crate::{
    check::interleave,
    runtime::{context, Inner},
};
use std::{
    fmt,
    future::{poll_fn, Future},
    io,
    net::SocketAddr,
    pin::Pin,
    task::{ready, Context, Poll, Waker},
};

/// A UDP socket on a simulated node.
///
/// ```
/// use bach::{ext::*, net::UdpSocket};
///
/// bach::sim(|| {
///     async {
///         let socket = UdpSocket::bind("echo:7").await.unwrap();
///         let mut buf = [0; 64];
///         loop {
///             let (len, from) = socket.recv_from(&mut buf).await.unwrap();
///             socket.send_to(&buf[..len], from).await.unwrap();
///         }
///     }
///     .group("echo")
///     .spawn();
///
///     async {
///         let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
///         socket.connect("echo:7").await.unwrap();
///         socket.send(b"hello").await.unwrap();
///         let mut buf = [0; 64];
///         let len = socket.recv(&mut buf).await.unwrap();
///         assert_eq!(&buf[..len], b"hello");
///         // 1 ms there, 1 ms back with the default link.
///         assert_eq!(bach::time::Instant::now().elapsed_since_start(), 2.ms());
///     }
///     .group("client")
///     .primary()
///     .spawn();
/// });
/// ```
pub struct UdpSocket {
    sim: usize,
    handle: Handle,
    local: SocketAddr,
}

impl UdpSocket {
    /// Binds a socket on the current node.
    ///
    /// `addr` may be `"0.0.0.0:0"` (any port: an ephemeral one, distinct
    /// from every other bound port of the node, counting up from 49152),
    /// the node's own name or address with a port (`"server:8080"`),
    /// `127.0.0.1`/`localhost` (which mean the node's own address), or any
    /// [`ToSocketAddrs`] value.
    ///
    /// Fails with `NotFound` for an unknown host name (listing the known
    /// ones), `AddrNotAvailable` for another node's address, `AddrInUse` if
    /// the port is taken, and `InvalidInput` for a malformed address. Panics
    /// outside a simulation.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        context::with("bach::net::UdpSocket::bind", |inner| {
            let target = addr.to_target()?;
            let (handle, local) = state::borrow(inner).bind(inner.current_group.get(), target)?;
            Ok(UdpSocket {
                sim: inner.sim_id,
                handle,
                local,
            })
        })
    }

    /// Connects the socket to `addr`: [`send`](Self::send) goes there and
    /// only datagrams from there are received (others are dropped on
    /// arrival as `NoSocket`, as a real stack does). Datagrams already
    /// queued stay. Fails like name resolution, or with `HostUnreachable`
    /// if no node has the address.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        with_sim(self.sim, |inner| {
            let target = addr.to_target()?;
            let mut st = state::borrow(inner);
            let here = st.socket_node(self.handle);
            let peer = st.resolve(target, here)?;
            st.connect(self.handle, peer)
        })
    }

    /// The address the socket is bound to (the node's address and port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// The connected peer; `NotConnected` if [`connect`](Self::connect)
    /// was never called.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        with_sim(self.sim, |inner| {
            state::borrow(inner)
                .peer(self.handle)?
                .ok_or_else(|| self.not_connected())
        })
    }

    /// Sends `buf` to `target`; returns `buf.len()`. Completes at once: a
    /// datagram the network cannot carry is dropped (and counted), not
    /// delayed. Fails with `InvalidInput` if `buf` exceeds the link's MTU,
    /// `HostUnreachable` if no node has the address, or as name resolution
    /// fails (`NotFound`).
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        // Without exploration there is no scheduling point: resolve and send
        // in one visit to the simulation.
        let sent = with_sim(self.sim, |inner| {
            let dst = self.resolve(inner, target)?;
            if inner.interleave.enabled() {
                return Ok(Err(dst));
            }
            self.send_bytes(inner, buf, dst).map(Ok)
        })?;
        match sent {
            Ok(len) => Ok(len),
            Err(dst) => poll_fn(|cx| self.poll_send_to(cx, buf, dst)).await,
        }
    }

    /// [`send_to`](Self::send_to) without `async`.
    pub fn try_send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        with_sim(self.sim, |inner| {
            let dst = self.resolve(inner, target)?;
            match self.send_resolved(inner, None, buf, dst) {
                Poll::Ready(result) => result,
                Poll::Pending => unreachable!("sending without a context never waits"),
            }
        })
    }

    /// [`send_to`](Self::send_to) as a poll function. Ready at once, except
    /// when the simulation explores interleavings: then its first poll is a
    /// scheduling point.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        with_sim(self.sim, |inner| {
            self.send_resolved(inner, Some(cx), buf, target)
        })
    }

    /// Sends `buf` to the connected peer; `NotConnected` without one.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        // As `send_to`: without exploration, find the peer and send in one
        // visit to the simulation.
        let sent = with_sim(self.sim, |inner| {
            let peer = state::borrow(inner)
                .peer(self.handle)?
                .ok_or_else(|| self.not_connected())?;
            if inner.interleave.enabled() {
                return Ok(Err(peer));
            }
            self.send_bytes(inner, buf, peer).map(Ok)
        })?;
        match sent {
            Ok(len) => Ok(len),
            Err(peer) => poll_fn(|cx| self.poll_send_to(cx, buf, peer)).await,
        }
    }

    /// [`send`](Self::send) without `async`.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        let peer = self.peer_addr()?;
        self.try_send_to(buf, peer)
    }

    /// [`send`](Self::send) as a poll function; see
    /// [`poll_send_to`](Self::poll_send_to).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let peer = self.peer_addr()?;
        self.poll_send_to(cx, buf, peer)
    }

    /// Waits until the socket can send, which is always.
    pub async fn writable(&self) -> io::Result<()> {
        Ok(())
    }

    /// [`writable`](Self::writable) as a poll function; always ready.
    pub fn poll_send_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Receives the oldest queued datagram into `buf`, waiting for one;
    /// returns its length and source. A datagram longer than `buf` is
    /// truncated (the rest is discarded), as with real UDP.
    ///
    /// (A plain function returning the receive future rather than an
    /// `async fn`, which would wrap it in a second state machine.)
    pub fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + 'a {
        Recv::new(self, buf, Take::Pop)
    }

    /// [`recv_from`](Self::recv_from) without waiting: `WouldBlock` if
    /// nothing is queued.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.poll_now(buf, Take::Pop)
    }

    /// [`recv_from`](Self::recv_from) as a poll function.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.poll(cx, buf, Take::Pop)
    }

    /// Like [`recv_from`](Self::recv_from), returning only the length.
    pub fn recv<'a>(&'a self, buf: &'a mut [u8]) -> impl Future<Output = io::Result<usize>> + 'a {
        RecvLen(Recv::new(self, buf, Take::Pop))
    }

    /// [`recv`](Self::recv) without waiting: `WouldBlock` if nothing is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_recv_from(buf).map(|(len, _)| len)
    }

    /// [`recv`](Self::recv) as a poll function.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll(cx, buf, Take::Pop)
            .map(|result| result.map(|(len, _)| len))
    }

    /// Like [`recv_from`](Self::recv_from), but leaves the datagram queued.
    pub fn peek_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + 'a {
        Recv::new(self, buf, Take::Peek)
    }

    /// [`peek_from`](Self::peek_from) without waiting.
    pub fn try_peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.poll_now(buf, Take::Peek)
    }

    /// [`peek_from`](Self::peek_from) as a poll function.
    pub fn poll_peek_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.poll(cx, buf, Take::Peek)
    }

    /// Waits until a datagram is queued.
    pub async fn readable(&self) -> io::Result<()> {
        Recv::new(self, &mut [], Take::Ready).await.map(|_| ())
    }

    /// [`readable`](Self::readable) as a poll function.
    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll(cx, &mut [], Take::Ready)
            .map(|result| result.map(|_| ()))
    }

    /// Sets the receive buffer size, in payload bytes (default 256 KiB). A
    /// datagram arriving when the queued payload plus its own would exceed
    /// it is dropped as `ReceiveBufferFull` (and counted); an empty buffer
    /// always accepts one datagram.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        with_sim(self.sim, |inner| {
            state::borrow(inner).set_recv_buffer(self.handle, bytes)
        })
    }

    /// The receive buffer size, in payload bytes.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        with_sim(self.sim, |inner| {
            state::borrow(inner).recv_buffer(self.handle)
        })
    }

    /// Resolves a send's destination (a host name through the node table).
    fn resolve<A: ToSocketAddrs>(&self, inner: &Inner, target: A) -> io::Result<SocketAddr> {
        if let Some(text) = target.as_text() {
            return state::borrow(inner).resolve_text(text, self.handle);
        }
        Ok(match target.to_target()? {
            Target::Addr(addr) => addr,
            host => {
                let mut st = state::borrow(inner);
                let here = st.socket_node(self.handle);
                st.resolve(host, here)?
            }
        })
    }

    /// Sends to a resolved destination: after the scheduling point when
    /// `cx` is given (an async send), recording a touch when not (`try_*`).
    #[inline]
    fn send_resolved(
        &self,
        inner: &Inner,
        cx: Option<&Context<'_>>,
        buf: &[u8],
        dst: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        if inner.interleave.enabled() {
            let keys = send_endpoints(self.local, dst);
            match cx {
                Some(cx) => ready!(interleave::point_endpoints(cx, &keys)),
                None => keys.into_iter().for_each(interleave::touch_endpoint),
            }
        }
        Poll::Ready(self.send_bytes(inner, buf, dst))
    }

    /// Sends `buf` to `dst` now (see `net::state::send`).
    #[inline(always)]
    fn send_bytes(&self, inner: &Inner, buf: &[u8], dst: SocketAddr) -> io::Result<usize> {
        state::send(
            inner,
            self.handle,
            &mut Source::Bytes(buf),
            Destination::Addr(dst),
        )
    }

    /// Receives into `buf` (`take`: remove the datagram or peek at it),
    /// waiting for one: the receive path of every socket.
    #[inline(always)]
    fn poll(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        take: Take,
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        with_sim(self.sim, |inner| {
            if inner.interleave.enabled() {
                let key = interleave::endpoint(self.local);
                ready!(interleave::point_endpoints(cx, &[key]));
            }
            state::poll_recv(inner, self.handle, Some(cx), buf, take)
        })
    }

    fn poll_now(&self, buf: &mut [u8], take: Take) -> io::Result<(usize, SocketAddr)> {
        match with_sim(self.sim, |inner| {
            if inner.interleave.enabled() {
                interleave::touch_endpoint(interleave::endpoint(self.local));
            }
            state::poll_recv(inner, self.handle, None, buf, take)
        }) {
            Poll::Ready(result) => result,
            Poll::Pending => unreachable!("polling without a context never waits"),
        }
    }

    fn not_connected(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotConnected,
            format!(
                "socket {} is not connected: call connect first, or use send_to",
                self.local
            ),
        )
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        try_with_sim(self.sim, |inner| {
            if let Ok(mut st) = inner.net.try_borrow_mut() {
                st.close(self.handle);
            }
        });
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local)
            .finish()
    }
}

/// A pending receive; forgets its waker if dropped before completing.
struct Recv<'a> {
    socket: &'a UdpSocket,
    buf: &'a mut [u8],
    take: Take,
    waiting: Option<Waker>,
}

impl<'a> Recv<'a> {
    fn new(socket: &'a UdpSocket, buf: &'a mut [u8], take: Take) -> Self {
        Self {
            socket,
            buf,
            take,
            waiting: None,
        }
    }
}

impl Future for Recv<'_> {
    type Output = io::Result<(usize, SocketAddr)>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let result = this.socket.poll(cx, this.buf, this.take);
        this.waiting = match result {
            Poll::Pending => Some(cx.waker().clone()),
            Poll::Ready(_) => None,
        };
        result
    }
}

/// A [`Recv`] that yields only the datagram's length.
struct RecvLen<'a>(Recv<'a>);

impl Future for RecvLen<'_> {
    type Output = io::Result<usize>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().0)
            .poll(cx)
            .map(|result| result.map(|(len, _)| len))
    }
}

impl Drop for Recv<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(waker) = self.waiting.take() {
            self.forget(waker);
        }
    }
}

impl Recv<'_> {
    /// A receive dropped while waiting: its socket forgets the waker.
    #[inline(never)]
    fn forget(&self, waker: Waker) {
        let handle = self.socket.handle;
        try_with_sim(self.socket.sim, |inner| {
            if let Ok(mut st) = inner.net.try_borrow_mut() {
                st.forget_waiter(handle, &waker);
            }
        });
    }
}

/// Runs `f` with simulation `sim`: the current one (fast path), or the one
/// registered on this thread (socket used from test code between steps).
/// Panics with an explanation if neither exists.
#[inline]
#[track_caller]
pub(crate) fn with_sim<R>(sim: usize, f: impl FnOnce(&Inner) -> R) -> R {
    let mut f = Some(f);
    let result = context::try_with(|inner| match inner {
        Some(inner) if inner.sim_id == sim => Some((f.take().expect("called once"))(inner)),
        _ => None,
    });
    match result {
        Some(result) => result,
        None => with_sim_slow(sim, f.take().expect("not called yet")),
    }
}

#[cold]
#[track_caller]
fn with_sim_slow<R>(sim: usize, f: impl FnOnce(&Inner) -> R) -> R {
    match context::lookup(sim) {
        Some(inner) => {
            let _entered = context::Entered::new(&inner);
            f(&inner)
        }
        None => panic!(
            "a bach::net object was used outside its simulation: the simulation has ended, or this \
             is another OS thread. Use sockets inside `bach::sim(|| ...)`, a task, or \
             `Simulation::enter`"
        ),
    }
}

/// Like [`with_sim`], but does nothing if the simulation is gone.
fn try_with_sim(sim: usize, f: impl FnOnce(&Inner)) {
    context::with_sim_if_alive(sim, f)
}
