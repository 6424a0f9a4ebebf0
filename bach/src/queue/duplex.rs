//! [`duplex`]: a bidirectional link between two tasks, one queue per
//! direction.

use super::{channel::SendError, Queue, QueueExt, Receiver, Sender};
use std::fmt;

/// One end of a [`duplex`] link: sends `S` to the other end, receives `R`.
pub struct Duplex<S, R = S> {
    /// Sends to the other end.
    pub sender: Sender<S>,
    /// Receives from the other end.
    pub receiver: Receiver<R>,
}

/// Links two ends: what `a` sends goes through `a_to_b` to `b`, and back
/// through `b_to_a`. Each direction keeps its own queue behaviour
/// (latency, loss, capacity, metrics).
///
/// ```
/// use bach::{ext::*, queue::{self, duplex}};
///
/// bach::sim(|| {
///     let (mut a, mut b) = duplex(
///         queue::fifo(8).latent(5.ms()),
///         queue::fifo(8).latent(5.ms()),
///     );
///     async move {
///         a.send("ping").await.unwrap();
///         assert_eq!(a.recv().await, Some("pong"));
///     }
///     .primary()
///     .spawn();
///     async move {
///         assert_eq!(b.recv().await, Some("ping"));
///         b.send("pong").await.unwrap();
///     }
///     .spawn();
/// });
/// ```
pub fn duplex<S, R, AtoB, BtoA>(a_to_b: AtoB, b_to_a: BtoA) -> (Duplex<S, R>, Duplex<R, S>)
where
    S: 'static,
    R: 'static,
    AtoB: Queue<S> + 'static,
    BtoA: Queue<R> + 'static,
{
    let (a_sender, b_receiver) = a_to_b.channel();
    let (b_sender, a_receiver) = b_to_a.channel();
    (
        Duplex {
            sender: a_sender,
            receiver: a_receiver,
        },
        Duplex {
            sender: b_sender,
            receiver: b_receiver,
        },
    )
}

impl<S, R> Duplex<S, R> {
    /// Sends to the other end; see [`Sender::send`].
    pub async fn send(&self, item: S) -> Result<(), SendError<S>> {
        self.sender.send(item).await
    }

    /// Receives from the other end; see [`Receiver::recv`].
    pub async fn recv(&mut self) -> Option<R> {
        self.receiver.recv().await
    }

    /// The two halves, to use from different tasks.
    pub fn split(self) -> (Sender<S>, Receiver<R>) {
        (self.sender, self.receiver)
    }
}

impl<S, R> fmt::Debug for Duplex<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Duplex")
            .field("sender", &self.sender)
            .field("receiver", &self.receiver)
            .finish()
    }
}
