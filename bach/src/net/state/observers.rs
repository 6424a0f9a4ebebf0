//! The observers of packets: monitors, the capture and the packet log
//! (and the trace, which the packet log feeds), with the one flag that
//! says whether any is on; what a monitor is shown and how it is asked.

use super::*;

impl State {
    /// Starts (or stops) recording the packet log.
    pub(crate) fn record_packets(&mut self, on: bool) {
        match (on, self.log.is_some()) {
            (true, false) => self.log = Some(Vec::new()),
            (false, true) => self.log = None,
            _ => {}
        }
        self.observers_changed();
    }

    /// Installs a network monitor, after those already installed.
    pub(crate) fn add_monitor(&mut self, monitor: Box<dyn Monitor>) {
        self.monitors.push(monitor);
        self.observers_changed();
    }

    /// Removes every network monitor.
    pub(crate) fn clear_monitors(&mut self) {
        self.monitors.clear();
        self.observers_changed();
    }

    /// Captures to `dir` from now on (`None`: stops capturing).
    pub(crate) fn set_capture_dir(&mut self, dir: Option<std::path::PathBuf>) {
        self.capture.set_dir(dir);
        self.observers_changed();
    }

    pub(super) fn observers_changed(&mut self) {
        self.observed = !self.monitors.is_empty() || self.capture.is_on() || self.log.is_some();
    }

    /// Whether nothing watches packets go by: no monitor, no capture, no
    /// packet log, no trace. Then a packet's only effects are its counters
    /// and its arrival.
    #[inline(always)]
    pub(super) fn unwatched(&self) -> bool {
        debug_assert_eq!(
            self.observed,
            !self.monitors.is_empty() || self.capture.is_on() || self.log.is_some(),
            "`observed` is kept up to date by every change to monitors, capture and log"
        );
        !self.observed && !self.trace.enabled()
    }

    /// Whether a packet arriving now needs none of [`arrive`]'s
    /// checks before it reaches its socket: nothing watches packets (see
    /// [`State::unwatched`]), the network is quiet (so no node is
    /// disconnected) and no node ever crashed (so none is down and no
    /// sender crashed before its packet left).
    #[inline(always)]
    pub(super) fn unwatched_arrivals(&self) -> bool {
        self.unwatched() && self.network.is_quiet() && self.crashes.is_empty()
    }

    /// Expands one compact packet record.
    pub(crate) fn expand(&self, inner: &Kernel, event: &RawEvent) -> crate::net::log::PacketEvent {
        let nodes = self.network.nodes();
        event.expand(
            inner,
            |node| self.group_of(NodeId::from_u32(node)),
            |node| nodes.addr(NodeId::from_u32(node)),
        )
    }

    /// The packet log recorded so far.
    pub(crate) fn packet_log(&self, inner: &Kernel) -> Vec<crate::net::log::PacketEvent> {
        let Some(log) = &self.log else {
            return Vec::new();
        };
        let nodes = self.network.nodes();
        log.iter()
            .map(|event| {
                event.expand(
                    inner,
                    |node| self.group_of(NodeId::from_u32(node)),
                    |node| nodes.addr(NodeId::from_u32(node)),
                )
            })
            .collect()
    }

    /// Records an event in the packet log, if it is on.
    #[inline]
    pub(super) fn log(&mut self, event: impl FnOnce() -> RawEvent) {
        let tracing = self.trace.enabled();
        if self.log.is_none() && !tracing {
            return;
        }
        let event = event();
        if tracing {
            self.trace.record_packet(event);
        }
        if let Some(log) = &mut self.log {
            log.push(event);
        }
    }

    /// Writes a capture record (capture is on).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn capture_record(
        &mut self,
        at: u64,
        direction: Direction,
        (from, src_port): (NodeId, u16),
        (to, dst_port): (NodeId, u16),
        id: u64,
        payload: &[u8],
        note: Note,
    ) {
        let record = Record {
            node: match direction {
                Direction::Egress => from,
                Direction::Ingress => to,
            },
            at,
            direction,
            src: self.addr(from, src_port),
            dst: self.addr(to, dst_port),
            id,
            payload,
            note,
        };
        self.capture.record(self.network.nodes(), &record);
    }

    /// What a monitor sees of a packet at `now`: leaving its socket
    /// (`head` and the datagram's bytes) or arriving (a stored packet).
    pub(super) fn view<'a>(&'a self, now: u64, packet: Viewed<'a>) -> PacketView<'a> {
        let (id, ((from, src_port), (to, dst_port)), payload, duplicate) = match packet {
            Viewed::Leaving(head, payload) => (head.id, head.ends, payload, false),
            Viewed::Arriving(key) => {
                let packet = self.packets.get(key);
                (
                    packet.id,
                    ((packet.from, packet.src_port), (packet.to, packet.dst_port)),
                    packet.payload.as_slice(),
                    packet.has(DUPLICATE),
                )
            }
        };
        let nodes = self.network.nodes();
        PacketView {
            time: Instant::from_nanos(now),
            id,
            from: nodes.name(from),
            to: nodes.name(to),
            src: self.addr(from, src_port),
            dst: self.addr(to, dst_port),
            payload,
            duplicate,
        }
    }

    /// Asks every monitor, in install order, about `packet` (leaving or
    /// arriving) at `now`, and puts the monitors back even if one panics:
    /// the caller then fails the run ([`monitor_panicked`]), the same way
    /// for both directions.
    pub(super) fn consult_monitors(
        &mut self,
        now: u64,
        packet: Viewed<'_>,
    ) -> std::thread::Result<Combined> {
        let receive = matches!(packet, Viewed::Arriving(_));
        let mut monitors = std::mem::take(&mut self.monitors);
        let verdict = {
            let view = self.view(now, packet);
            catch_unwind(AssertUnwindSafe(|| {
                observer::consult(&mut monitors, &view, receive)
            }))
        };
        self.monitors = monitors;
        verdict
    }
}
