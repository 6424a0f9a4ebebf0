//! Monitors: user code that sees every packet and may interfere with it.
//!
//! A [`Monitor`] is consulted for each packet twice: [`on_send`] as it leaves
//! its socket (before the link model decides its fate) and [`on_receive`]
//! as a copy arrives at the destination node (before it reaches the
//! socket). It answers with a [`Verdict`]: let it [`Pass`](Verdict::Pass),
//! [`Drop`](Verdict::Drop) it, [`Delay`](Verdict::Delay) it,
//! [`Duplicate`](Verdict::Duplicate) it or [`Corrupt`](Verdict::Corrupt) it.
//! That is the whole fault-injection hook: a QUIC test can drop every third
//! handshake packet, a storage test can delay one replica's traffic.
//!
//! ```
//! use bach::{ext::*, net::{monitor::{self, Verdict}, UdpSocket}};
//!
//! bach::sim(|| {
//!     // Drop every packet whose payload starts with "secret".
//!     monitor::on_send(|packet| {
//!         if packet.payload().starts_with(b"secret") { Verdict::Drop } else { Verdict::Pass }
//!     });
//!     async {
//!         let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
//!         socket.send_to(b"secret plans", "sink:9").await.unwrap();
//!     }
//!     .group("source")
//!     .primary()
//!     .spawn();
//!     async {
//!         let socket = UdpSocket::bind("sink:9").await.unwrap();
//!         let mut buf = [0; 32];
//!         socket.recv_from(&mut buf).await.unwrap();
//!         unreachable!("the monitor dropped the only packet");
//!     }
//!     .group("sink")
//!     .spawn();
//! });
//! ```
//!
//! Monitors run in install order. Verdicts combine: the first `Drop` wins
//! (later monitors are not asked), delays add up, duplicate counts add up,
//! and any `Corrupt` corrupts. Extra copies made at send each go through the
//! link model on their own (as if the socket had sent them); copies made on
//! receive are delivered with the original. A packet a monitor delayed on
//! receive is not shown to the monitors again when it finally arrives.
//! Loopback packets (to the sender's own node) are monitored too.
//!
//! Monitors decide from what they are given: calling `bach::net` functions
//! from inside one panics (the network is busy with the packet). They may
//! use [`bach::rand`](crate::rand) and read the clock. With no monitor
//! installed, packets pay nothing for this hook.
//!
//! [`on_send`]: Monitor::on_send
//! [`on_receive`]: Monitor::on_receive

use crate::{runtime::context, time::Instant};
use std::{net::SocketAddr, time::Duration};

/// What a monitor wants done with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Leave the packet alone.
    Pass,
    /// Drop it (counted and traced as [`DropReason::Monitor`](super::DropReason::Monitor)).
    Drop,
    /// Hold it back this much longer.
    Delay(Duration),
    /// Deliver this many extra copies.
    Duplicate(u8),
    /// Flip one payload bit (chosen through the choice source).
    Corrupt,
}

/// A packet as a monitor sees it.
#[derive(Clone, Copy, Debug)]
pub struct PacketView<'a> {
    pub(crate) time: Instant,
    pub(crate) id: u64,
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    pub(crate) payload: &'a [u8],
    pub(crate) duplicate: bool,
}

impl<'a> PacketView<'a> {
    /// The current simulated time.
    pub fn time(&self) -> Instant {
        self.time
    }

    /// The packet's id, shared by all its copies and by its capture records
    /// (the IPv4 identification / IPv6 flow label holds its low bits).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The sending node's name.
    pub fn from(&self) -> &'a str {
        self.from
    }

    /// The destination node's name.
    pub fn to(&self) -> &'a str {
        self.to
    }

    /// Source address and port.
    pub fn src(&self) -> SocketAddr {
        self.src
    }

    /// Destination address and port.
    pub fn dst(&self) -> SocketAddr {
        self.dst
    }

    /// The UDP payload (on receive: as it arrived, possibly corrupted).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Whether this copy is an extra one made by duplication.
    pub fn is_duplicate(&self) -> bool {
        self.duplicate
    }
}

/// A packet hook; see the [module docs](self). Both methods default to
/// [`Verdict::Pass`], so implement only the ones you need.
pub trait Monitor: 'static {
    /// Called as a packet leaves its socket, before the link decides its fate.
    fn on_send(&mut self, packet: &PacketView<'_>) -> Verdict {
        let _ = packet;
        Verdict::Pass
    }

    /// Called as a copy arrives at its destination node, before the socket.
    fn on_receive(&mut self, packet: &PacketView<'_>) -> Verdict {
        let _ = packet;
        Verdict::Pass
    }
}

/// Installs `monitor` in the current simulation, after those already
/// installed. Panics outside a simulation.
#[track_caller]
pub fn install(monitor: impl Monitor) {
    context::with("bach::net::monitor::install", |inner| {
        super::state::borrow(inner).monitors.push(Box::new(monitor));
    })
}

/// Installs a closure as an [`on_send`](Monitor::on_send) monitor.
#[track_caller]
pub fn on_send(f: impl FnMut(&PacketView<'_>) -> Verdict + 'static) {
    install(OnSend(f));
}

/// Installs a closure as an [`on_receive`](Monitor::on_receive) monitor.
#[track_caller]
pub fn on_receive(f: impl FnMut(&PacketView<'_>) -> Verdict + 'static) {
    install(OnReceive(f));
}

/// Removes every monitor of the current simulation.
#[track_caller]
pub fn clear() {
    context::with("bach::net::monitor::clear", |inner| {
        super::state::borrow(inner).monitors.clear();
    })
}

struct OnSend<F>(F);

impl<F: FnMut(&PacketView<'_>) -> Verdict + 'static> Monitor for OnSend<F> {
    fn on_send(&mut self, packet: &PacketView<'_>) -> Verdict {
        (self.0)(packet)
    }
}

struct OnReceive<F>(F);

impl<F: FnMut(&PacketView<'_>) -> Verdict + 'static> Monitor for OnReceive<F> {
    fn on_receive(&mut self, packet: &PacketView<'_>) -> Verdict {
        (self.0)(packet)
    }
}

/// The verdicts of all monitors, combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Combined {
    pub(crate) drop: bool,
    pub(crate) delay: u64,
    pub(crate) extra: u32,
    pub(crate) corrupt: bool,
}

/// Asks every monitor, in install order, about `packet`.
pub(crate) fn consult(
    monitors: &mut [Box<dyn Monitor>],
    packet: &PacketView<'_>,
    receive: bool,
) -> Combined {
    let mut combined = Combined::default();
    for monitor in monitors {
        let verdict = if receive {
            monitor.on_receive(packet)
        } else {
            monitor.on_send(packet)
        };
        match verdict {
            Verdict::Pass => {}
            Verdict::Drop => {
                combined.drop = true;
                break;
            }
            Verdict::Delay(delay) => {
                combined.delay = combined.delay.saturating_add(crate::time::ticks(delay))
            }
            Verdict::Duplicate(n) => combined.extra += u32::from(n),
            Verdict::Corrupt => combined.corrupt = true,
        }
    }
    combined
}
