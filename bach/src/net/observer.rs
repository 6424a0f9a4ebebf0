//! What the network consults about each packet: the [`Monitor`] trait, the
//! [`PacketView`] a monitor sees and its [`Verdict`], and how the verdicts
//! of all installed monitors combine ([`consult`]). The user-facing side
//! (installing and clearing monitors, and the guide) is `net::monitor`.

use crate::time::instant::Instant;
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

/// A packet hook; see the [module docs](crate::net::monitor). Both methods default to
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
                combined.delay = combined
                    .delay
                    .saturating_add(crate::time::instant::ticks(delay))
            }
            Verdict::Duplicate(n) => combined.extra += u32::from(n),
            Verdict::Corrupt => combined.corrupt = true,
        }
    }
    combined
}
