//! Packet capture: writes what the simulated network carried as a pcapng
//! file that Wireshark and `tshark` open like a real capture.
//!
//! The runtime owns one [`CaptureWriter`] per simulation run and records each
//! packet at egress (on the sender's interface, at send time) and at ingress
//! (on the receiver's interface, at arrival time), with a comment whenever the
//! fate was not a plain delivery ("dropped: loss", "duplicate", "corrupted").
//! The file has one section; each node becomes an interface (raw IP link type,
//! named after the node, nanosecond timestamps) the first time it appears,
//! and every node that exists by then is announced in a name resolution block,
//! so addresses show up as node names. Headers are real IPv4/IPv6 + UDP
//! headers with valid checksums (see the private `wire` module).
//!
//! Section, interface and name blocks go through `pcap_file`'s typed writer.
//! Packet blocks are encoded into a reused scratch buffer and written as raw
//! blocks, because the typed packet block owns a `Vec` of options and would
//! allocate per packet. The file is little-endian whatever the host, so
//! captures are byte-identical across machines. This module never decides a
//! packet's fate and never reads a clock: timestamps are the simulated times
//! it is given.

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::name_resolution::{
    Ipv4Record, Ipv6Record, NameResolutionBlock, Record,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::blocks::ENHANCED_PACKET_BLOCK;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness, PcapError};

use crate::{wire, NodeId, NodeTable};

/// Which way a packet crossed the node's interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Leaving the node (recorded at send time).
    Egress,
    /// Arriving at the node (recorded at delivery time).
    Ingress,
}

impl Direction {
    /// The `epb_flags` direction bits: 0b01 inbound, 0b10 outbound.
    const fn epb_flags(self) -> u32 {
        match self {
            Direction::Ingress => 0b01,
            Direction::Egress => 0b10,
        }
    }
}

/// One packet record: what to write for one packet on one node's interface.
#[derive(Clone, Copy, Debug)]
pub struct CapturedPacket<'a> {
    /// The node whose interface saw the packet (the sender at egress, the
    /// receiver at ingress).
    pub node: NodeId,
    /// Simulated time since the start of the run.
    pub at: Duration,
    /// Egress or ingress.
    pub direction: Direction,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port (same IP family as `src`).
    pub dst: SocketAddr,
    /// An id shared by the egress and ingress records of one packet; written
    /// as the IPv4 identification (low 16 bits) or IPv6 flow label (low 20 bits).
    pub packet_id: u64,
    /// The UDP payload, as delivered (already corrupted for corrupted copies).
    pub payload: &'a [u8],
    /// A note on the packet's fate, for anything but a plain delivery, e.g.
    /// [`DropReason::capture_comment`](crate::DropReason::capture_comment).
    pub comment: Option<&'a str>,
}

/// The snapshot length announced per interface: Wireshark's standard maximum,
/// above any simulated packet.
const SNAPLEN: u32 = 262_144;
/// `if_tsresol` 9: timestamps count nanoseconds.
const NANOSECOND_RESOLUTION: u8 = 9;
/// pcapng option codes used in packet blocks.
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const OPT_EPB_FLAGS: u16 = 2;
/// Size of an enhanced packet block's fixed fields, before the packet data.
const EPB_FIXED_LEN: usize = 20;

/// Writes a pcapng capture of simulated traffic to `W`.
///
/// Call [`flush`](Self::flush) (or drop a `BufWriter` cleanly) at the end of
/// the run; the writer itself buffers nothing but the packet being encoded.
pub struct CaptureWriter<W: Write> {
    writer: PcapNgWriter<W>,
    /// Interface id of each node, indexed by node id; `None` until it appears.
    interface_of: Vec<Option<u32>>,
    interfaces: u32,
    /// How many nodes (in creation order) a name resolution block announced.
    named: usize,
    /// The packet block being encoded; reused so steady state never allocates.
    scratch: Vec<u8>,
}

impl<W: Write> CaptureWriter<W> {
    /// Starts a capture on `writer` by writing the section header.
    pub fn new(writer: W) -> io::Result<Self> {
        let section = SectionHeaderBlock {
            endianness: Endianness::Little,
            options: vec![SectionHeaderOption::UserApplication(Cow::Borrowed("bach"))],
            ..SectionHeaderBlock::default()
        };
        let writer = PcapNgWriter::with_section_header(writer, section).map_err(to_io)?;
        Ok(Self {
            writer,
            interface_of: Vec::new(),
            interfaces: 0,
            named: 0,
            scratch: Vec::new(),
        })
    }

    /// Records `packet` on its node's interface, first announcing any new
    /// node names and the node's interface if they were not written yet.
    ///
    /// Fails with `InvalidInput` if the node is not in `nodes`, the addresses
    /// are of different families or the payload exceeds
    /// [`MAX_UDP_PAYLOAD`](crate::MAX_UDP_PAYLOAD), and with the writer's
    /// error if writing fails.
    pub fn write_packet(
        &mut self,
        nodes: &NodeTable,
        packet: &CapturedPacket<'_>,
    ) -> io::Result<()> {
        if !nodes.contains(packet.node) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot capture on {}: not in the node table", packet.node),
            ));
        }
        self.encode_packet(packet)?;
        self.announce_names(nodes)?;
        let interface = self.interface(nodes, packet.node)?;
        self.scratch[0..4].copy_from_slice(&interface.to_le_bytes());
        // The block straight to the writer, as `PcapNgWriter::write_raw_block`
        // lays it out in a little-endian section (type, length, body,
        // length), without its per-call dispatch: a packet block is written
        // for every packet, twice.
        let block_len = (self.scratch.len() + 12) as u32;
        let mut header = [0; 8];
        header[..4].copy_from_slice(&ENHANCED_PACKET_BLOCK.to_le_bytes());
        header[4..].copy_from_slice(&block_len.to_le_bytes());
        let out = self.writer.get_mut();
        out.write_all(&header)?;
        out.write_all(&self.scratch)?;
        out.write_all(&block_len.to_le_bytes())?;
        Ok(())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.get_mut().flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        self.writer.get_ref()
    }

    /// Returns the underlying writer (without flushing it).
    pub fn into_inner(self) -> W {
        self.writer.into_inner()
    }

    /// Encodes the body of an enhanced packet block into `scratch`, leaving
    /// the interface id (the first word) to be filled in.
    fn encode_packet(&mut self, packet: &CapturedPacket<'_>) -> io::Result<()> {
        let out = &mut self.scratch;
        out.clear();
        out.resize(EPB_FIXED_LEN, 0);
        wire::write_datagram(
            out,
            packet.src,
            packet.dst,
            packet.packet_id,
            packet.payload,
        )?;
        let captured_len = (out.len() - EPB_FIXED_LEN) as u32;
        let nanos = u64::try_from(packet.at.as_nanos()).unwrap_or(u64::MAX);
        out[4..8].copy_from_slice(&((nanos >> 32) as u32).to_le_bytes());
        out[8..12].copy_from_slice(&(nanos as u32).to_le_bytes());
        out[12..16].copy_from_slice(&captured_len.to_le_bytes());
        out[16..20].copy_from_slice(&captured_len.to_le_bytes());
        pad(out);

        // The flags option (code, length 4, value) in one piece: it is on
        // every packet block.
        let mut flags = [0; 8];
        flags[..2].copy_from_slice(&OPT_EPB_FLAGS.to_le_bytes());
        flags[2..4].copy_from_slice(&4u16.to_le_bytes());
        flags[4..].copy_from_slice(&packet.direction.epb_flags().to_le_bytes());
        out.extend_from_slice(&flags);
        if let Some(comment) = packet.comment {
            push_option(
                out,
                OPT_COMMENT,
                truncate(comment, u16::MAX as usize).as_bytes(),
            );
        }
        let mut end = [0; 4];
        end[..2].copy_from_slice(&OPT_END.to_le_bytes()); // length 0
        out.extend_from_slice(&end);
        Ok(())
    }

    /// Writes one name resolution block for the nodes created since the last.
    fn announce_names(&mut self, nodes: &NodeTable) -> io::Result<()> {
        if nodes.len() <= self.named {
            return Ok(());
        }
        let records = nodes
            .ids()
            .skip(self.named)
            .map(|id| {
                let names = vec![Cow::Borrowed(nodes.name(id))];
                match nodes.addr(id) {
                    IpAddr::V4(ip) => Record::Ipv4(Ipv4Record {
                        ip_addr: Cow::Owned(ip.octets().to_vec()),
                        names,
                    }),
                    IpAddr::V6(ip) => Record::Ipv6(Ipv6Record {
                        ip_addr: Cow::Owned(ip.octets().to_vec()),
                        names,
                    }),
                }
            })
            .collect();
        let block = NameResolutionBlock {
            records,
            options: Vec::new(),
        };
        self.writer.write_pcapng_block(block).map_err(to_io)?;
        self.named = nodes.len();
        Ok(())
    }

    /// The interface id of `node`, writing its description block first if
    /// this is its first packet.
    fn interface(&mut self, nodes: &NodeTable, node: NodeId) -> io::Result<u32> {
        if let Some(Some(id)) = self.interface_of.get(node.index()) {
            return Ok(*id);
        }
        let block = InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: SNAPLEN,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed(nodes.name(node))),
                InterfaceDescriptionOption::IfTsResol(NANOSECOND_RESOLUTION),
            ],
        };
        self.writer.write_pcapng_block(block).map_err(to_io)?;
        if self.interface_of.len() <= node.index() {
            self.interface_of.resize(node.index() + 1, None);
        }
        let id = self.interfaces;
        self.interface_of[node.index()] = Some(id);
        self.interfaces += 1;
        Ok(id)
    }
}

/// Appends a pcapng option (code, length, value, padding to 32 bits).
fn push_option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    pad(out);
}

/// Pads `out` with zeros to a multiple of four bytes, as pcapng requires.
fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn to_io(error: PcapError) -> io::Error {
    match error {
        PcapError::IoError(error) => error,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AddressPlan;
    use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
    use pcap_file::pcapng::{Block, PcapNgReader};

    /// Verifies an Internet checksum independently of the encoder: the
    /// one's-complement sum of 16-bit words, checksum included, is 0xFFFF.
    fn checksum_ok(chunks: &[&[u8]]) -> bool {
        let bytes: Vec<u8> = chunks.concat();
        let mut acc: u32 = 0;
        for pair in bytes.chunks(2) {
            let word = (u32::from(pair[0]) << 8) | u32::from(*pair.get(1).unwrap_or(&0));
            acc += word;
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        acc == 0xFFFF
    }

    /// All blocks after the section header (which the reader consumes and
    /// which is checked here).
    fn read_blocks(bytes: &[u8]) -> Vec<Block<'static>> {
        let mut reader = PcapNgReader::new(bytes).unwrap();
        assert_eq!(reader.section().endianness, Endianness::Little);
        assert_eq!(
            reader.section().options,
            [SectionHeaderOption::UserApplication("bach".into())]
        );
        let mut blocks = Vec::new();
        while let Some(block) = reader.next_block() {
            blocks.push(block.unwrap().into_owned());
        }
        blocks
    }

    fn packets(blocks: &[Block<'static>]) -> Vec<EnhancedPacketBlock<'static>> {
        blocks
            .iter()
            .filter_map(|b| match b {
                Block::EnhancedPacket(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    fn options(packet: &EnhancedPacketBlock<'_>) -> (Option<u32>, Option<String>) {
        let mut flags = None;
        let mut comment = None;
        for option in &packet.options {
            match option {
                EnhancedPacketOption::Flags(f) => flags = Some(*f),
                EnhancedPacketOption::Comment(c) => comment = Some(c.to_string()),
                _ => {}
            }
        }
        (flags, comment)
    }

    #[test]
    fn ipv4_capture_round_trips_with_valid_headers() {
        let mut nodes = NodeTable::default();
        let client = nodes.add_node("client").unwrap();
        let server = nodes.add_node("server").unwrap();
        let src = SocketAddr::new(nodes.addr(client), 40000);
        let dst = SocketAddr::new(nodes.addr(server), 8080);
        let mut capture = CaptureWriter::new(Vec::new()).unwrap();
        let base = CapturedPacket {
            node: client,
            at: Duration::new(1, 5),
            direction: Direction::Egress,
            src,
            dst,
            packet_id: 0x1_2345,
            payload: b"hello",
            comment: None,
        };
        capture.write_packet(&nodes, &base).unwrap();
        let arrival = CapturedPacket {
            node: server,
            at: Duration::new(1, 1_000_005),
            direction: Direction::Ingress,
            comment: Some("duplicate"),
            ..base
        };
        capture.write_packet(&nodes, &arrival).unwrap();
        let dropped = CapturedPacket {
            payload: b"odd",
            comment: Some("dropped: loss"),
            at: Duration::from_secs(2),
            ..base
        };
        capture.write_packet(&nodes, &dropped).unwrap();
        capture.flush().unwrap();
        let bytes = capture.into_inner();
        assert_eq!(bytes.len() % 4, 0);

        let blocks = read_blocks(&bytes);
        // Names first, then each interface right before its first packet.
        let kinds: Vec<&str> = blocks
            .iter()
            .map(|b| match b {
                Block::NameResolution(_) => "nrb",
                Block::InterfaceDescription(_) => "idb",
                Block::EnhancedPacket(_) => "epb",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["nrb", "idb", "epb", "idb", "epb", "epb"]);

        let Block::NameResolution(nrb) = &blocks[0] else {
            unreachable!()
        };
        let announced: Vec<(Vec<u8>, String)> = nrb
            .records
            .iter()
            .map(|r| match r {
                Record::Ipv4(r) => (r.ip_addr.to_vec(), r.names[0].to_string()),
                other => panic!("unexpected record {other:?}"),
            })
            .collect();
        assert_eq!(
            announced,
            [
                (vec![10, 0, 0, 1], "client".into()),
                (vec![10, 0, 0, 2], "server".into())
            ]
        );

        let Block::InterfaceDescription(idb) = &blocks[1] else {
            unreachable!()
        };
        assert_eq!(idb.linktype, DataLink::RAW);
        assert!(idb
            .options
            .contains(&InterfaceDescriptionOption::IfName("client".into())));
        assert!(idb
            .options
            .contains(&InterfaceDescriptionOption::IfTsResol(9)));
        let Block::InterfaceDescription(idb) = &blocks[3] else {
            unreachable!()
        };
        assert!(idb
            .options
            .contains(&InterfaceDescriptionOption::IfName("server".into())));

        let packets = packets(&blocks);
        let ids: Vec<u32> = packets.iter().map(|p| p.interface_id).collect();
        assert_eq!(ids, [0, 1, 0]);
        let times: Vec<Duration> = packets.iter().map(|p| p.timestamp).collect();
        assert_eq!(times, [base.at, arrival.at, dropped.at]);
        assert_eq!(options(&packets[0]), (Some(0b10), None));
        assert_eq!(options(&packets[1]), (Some(0b01), Some("duplicate".into())));
        assert_eq!(
            options(&packets[2]),
            (Some(0b10), Some("dropped: loss".into()))
        );

        for (packet, payload) in packets.iter().zip([&b"hello"[..], b"hello", b"odd"]) {
            let data = &packet.data;
            assert_eq!(data.len(), 28 + payload.len());
            assert_eq!(packet.original_len as usize, data.len());
            let (ip, udp) = data.split_at(20);
            assert_eq!(ip[0], 0x45, "IPv4, 20-byte header");
            assert_eq!(u16::from_be_bytes([ip[2], ip[3]]) as usize, data.len());
            assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), 0x2345, "identification");
            assert_eq!(ip[8], 64, "ttl");
            assert_eq!(ip[9], 17, "udp");
            assert_eq!(&ip[12..16], &[10, 0, 0, 1]);
            assert_eq!(&ip[16..20], &[10, 0, 0, 2]);
            assert!(checksum_ok(&[ip]), "IPv4 header checksum");

            assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), 40000);
            assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 8080);
            let udp_len = (8 + payload.len()) as u16;
            assert_eq!(u16::from_be_bytes([udp[4], udp[5]]), udp_len);
            assert_ne!(&udp[6..8], &[0, 0], "checksum present");
            assert_eq!(&udp[8..], payload);
            let pseudo = [&ip[12..20], &[0, 17], &udp_len.to_be_bytes()[..]].concat();
            assert!(checksum_ok(&[&pseudo, udp]), "UDP checksum");
        }
    }

    #[test]
    fn ipv6_capture_has_valid_headers_and_v6_names() {
        let mut nodes = NodeTable::new(AddressPlan::ipv6("fd00::".parse().unwrap(), 64).unwrap());
        let a = nodes.add_node("a").unwrap();
        let b = nodes.add_node("b").unwrap();
        let mut capture = CaptureWriter::new(Vec::new()).unwrap();
        let packet = CapturedPacket {
            node: b,
            at: Duration::from_millis(3),
            direction: Direction::Ingress,
            src: SocketAddr::new(nodes.addr(a), 1),
            dst: SocketAddr::new(nodes.addr(b), 2),
            packet_id: 0xABC_DEF12,
            payload: &[0xFF; 7],
            comment: Some("corrupted"),
        };
        capture.write_packet(&nodes, &packet).unwrap();
        let blocks = read_blocks(&capture.into_inner());
        let Block::NameResolution(nrb) = &blocks[0] else {
            panic!("{blocks:?}")
        };
        assert!(matches!(&nrb.records[1], Record::Ipv6(r) if r.names[0] == "b"));

        let packets = packets(&blocks);
        let data = &packets[0].data;
        let (ip, udp) = data.split_at(40);
        assert_eq!(ip[0] >> 4, 6);
        let flow = u32::from_be_bytes([ip[0], ip[1], ip[2], ip[3]]) & 0xF_FFFF;
        assert_eq!(flow, 0xDEF12);
        assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), 15, "payload length");
        assert_eq!((ip[6], ip[7]), (17, 64));
        let pseudo = [&ip[8..40], &[0, 0, 0, 15, 0, 0, 0, 17][..]].concat();
        assert!(checksum_ok(&[&pseudo, udp]), "UDP checksum");
    }

    #[test]
    fn names_of_later_nodes_are_announced_before_their_packets() {
        let mut nodes = NodeTable::default();
        let a = nodes.add_node("a").unwrap();
        let mut capture = CaptureWriter::new(Vec::new()).unwrap();
        let packet = CapturedPacket {
            node: a,
            at: Duration::ZERO,
            direction: Direction::Egress,
            src: SocketAddr::new(nodes.addr(a), 1),
            dst: SocketAddr::new(nodes.addr(a), 1),
            packet_id: 0,
            payload: b"",
            comment: None,
        };
        capture.write_packet(&nodes, &packet).unwrap();
        capture.write_packet(&nodes, &packet).unwrap();
        let late = nodes.add_node("late").unwrap();
        capture
            .write_packet(
                &nodes,
                &CapturedPacket {
                    node: late,
                    ..packet
                },
            )
            .unwrap();
        let blocks = read_blocks(&capture.into_inner());
        let nrbs: Vec<usize> = blocks
            .iter()
            .filter_map(|b| match b {
                Block::NameResolution(nrb) => Some(nrb.records.len()),
                _ => None,
            })
            .collect();
        assert_eq!(nrbs, [1, 1], "one block per batch of new nodes");
        assert_eq!(packets(&blocks).len(), 3);
    }

    #[test]
    fn foreign_nodes_and_mixed_families_are_errors() {
        let nodes = NodeTable::default();
        let mut capture = CaptureWriter::new(Vec::new()).unwrap();
        let packet = CapturedPacket {
            node: NodeId::from_u32(3),
            at: Duration::ZERO,
            direction: Direction::Egress,
            src: "10.0.0.1:1".parse().unwrap(),
            dst: "[::1]:1".parse().unwrap(),
            packet_id: 0,
            payload: b"",
            comment: None,
        };
        let err = capture.write_packet(&nodes, &packet).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("node#3"), "{err}");
    }

    #[test]
    fn same_packets_give_byte_identical_files() {
        let write = || {
            let mut nodes = NodeTable::default();
            let a = nodes.add_node("a").unwrap();
            let mut capture = CaptureWriter::new(Vec::new()).unwrap();
            for i in 0..10u8 {
                let packet = CapturedPacket {
                    node: a,
                    at: Duration::from_micros(u64::from(i)),
                    direction: Direction::Egress,
                    src: SocketAddr::new(nodes.addr(a), 9),
                    dst: SocketAddr::new(nodes.addr(a), 9),
                    packet_id: u64::from(i),
                    payload: &[i; 3],
                    comment: None,
                };
                capture.write_packet(&nodes, &packet).unwrap();
            }
            capture.into_inner()
        };
        assert_eq!(write(), write());
    }
}
