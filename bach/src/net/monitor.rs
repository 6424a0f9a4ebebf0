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

pub use super::observer::{Monitor, PacketView, Verdict};

use crate::runtime::context;

/// Installs `monitor` in the current simulation, after those already
/// installed. Panics outside a simulation.
#[track_caller]
pub fn install(monitor: impl Monitor) {
    context::with("bach::net::monitor::install", |inner| {
        super::state::borrow(inner).add_monitor(Box::new(monitor));
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
        super::state::borrow(inner).clear_monitors();
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
