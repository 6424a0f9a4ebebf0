//! Receiving: sockets take queued datagrams (bytes, or a process message
//! as it was sent).

use super::*;

/// What a receive call wants.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// Remove the datagram.
    Pop,
    /// Leave it queued.
    Peek,
    /// Only wait until one is queued.
    Ready,
}

/// Copies the oldest queued datagram into `buf` (truncating it, as UDP
/// does). With `cx`, registers the task to be woken when none is queued;
/// without, fails with `WouldBlock`.
#[inline(always)]
pub(crate) fn poll_recv(
    inner: &impl NetWorld,
    handle: Handle,
    cx: Option<&mut Context<'_>>,
    buf: &mut [u8],
    take: Take,
) -> Poll<io::Result<(usize, SocketAddr)>> {
    let mut state = borrow_existing(inner);
    let st = &mut *state;
    let socket = match socket_in(&mut st.sockets, handle) {
        Ok(socket) => socket,
        Err(error) => return Poll::Ready(Err(error)),
    };
    let key = match front_or_wait(socket, cx) {
        Ok(key) => key,
        Err(poll) => return poll,
    };
    let packet = st.packets.get_mut(key);
    // A process message read as bytes becomes its datagram.
    st.pool.materialize(&mut packet.payload);
    let packet = &*packet;
    let (from, port) = (packet.from, packet.src_port);
    let bytes = packet.payload.as_slice();
    let n = bytes.len().min(buf.len());
    if take != Take::Ready {
        buf[..n].copy_from_slice(&bytes[..n]);
    }
    if take == Take::Pop {
        socket.queue.pop_front();
        socket.queued_bytes -= bytes.len();
        if let Some(&ahead) = socket.queue.get(PREFETCH_AHEAD - 1) {
            st.packets.prefetch(ahead);
        }
        st.packets.discard(key, &mut st.pool);
    }
    let src = SocketAddr::new(st.network.nodes().addr(from), port);
    Poll::Ready(Ok((n, src)))
}

/// The key of the oldest datagram queued on `socket`; if there is none,
/// registers the task behind `cx` and returns `Pending` (without `cx`,
/// fails with `WouldBlock`).
#[inline(always)]
pub(super) fn front_or_wait<T>(
    socket: &mut Socket,
    cx: Option<&mut Context<'_>>,
) -> Result<u32, Poll<io::Result<T>>> {
    if let Some(&key) = socket.queue.front() {
        return Ok(key);
    }
    Err(match cx {
        Some(cx) => {
            if !socket.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                socket.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        }
        None => Poll::Ready(Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "no datagram is queued on this socket",
        ))),
    })
}

/// What a process's socket received.
pub(crate) enum Received {
    /// A message from another process, as sent.
    Envelope(Box<Envelope>),
    /// Any other datagram (or a corrupted message) is next: still queued,
    /// for [`poll_recv`] to copy out.
    Datagram,
}

/// [`poll_recv`] (popping) for a process's socket: a process message comes
/// out as it was sent, without being written out as bytes; anything else
/// is left for [`poll_recv`].
#[inline(always)]
pub(crate) fn poll_recv_envelope(
    inner: &impl NetWorld,
    handle: Handle,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Received>> {
    let mut state = borrow_existing(inner);
    let st = &mut *state;
    let socket = match socket_in(&mut st.sockets, handle) {
        Ok(socket) => socket,
        Err(error) => return Poll::Ready(Err(error)),
    };
    let key = match front_or_wait(socket, Some(cx)) {
        Ok(key) => key,
        Err(poll) => return poll,
    };
    if let Payload::Envelope(envelope) = &st.packets.get(key).payload {
        socket.queue.pop_front();
        socket.queued_bytes -= envelope.wire_len();
        let Payload::Envelope(envelope) = st.packets.remove(key).payload else {
            unreachable!("the payload was just matched")
        };
        return Poll::Ready(Ok(Received::Envelope(envelope)));
    }
    Poll::Ready(Ok(Received::Datagram))
}
