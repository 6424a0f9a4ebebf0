//! Wire formats for capture: the IPv4 or IPv6 header and the UDP header that
//! a real stack would have put in front of a datagram's payload, with valid
//! checksums.
//!
//! Only the [capture writer](crate::pcap) uses this: simulated packets carry
//! just their payload, and headers exist only so Wireshark sees real traffic.
//! The encoder appends to a caller-owned buffer and never allocates once that
//! buffer has grown to the largest packet.

use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::MAX_UDP_PAYLOAD;

const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
const UDP_HEADER_LEN: usize = 8;
const PROTOCOL_UDP: u8 = 17;
/// The usual initial TTL / hop limit of Linux and macOS.
const TTL: u8 = 64;
/// IPv4 "don't fragment": simulated datagrams are never fragmented.
const DONT_FRAGMENT: u16 = 0x4000;

/// Appends an IP + UDP datagram carrying `payload` from `src` to `dst`.
///
/// `packet_id` fills the IPv4 identification (low 16 bits) or the IPv6 flow
/// label (low 20 bits), so the egress and ingress records of one packet
/// match. Fails with `InvalidInput` if the addresses are of different IP
/// families or the payload exceeds [`MAX_UDP_PAYLOAD`].
pub(crate) fn write_datagram(
    out: &mut Vec<u8>,
    src: SocketAddr,
    dst: SocketAddr,
    packet_id: u64,
    payload: &[u8],
) -> io::Result<()> {
    if payload.len() > MAX_UDP_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot capture a {}-byte payload: the most a UDP datagram carries is {MAX_UDP_PAYLOAD}",
                payload.len()
            ),
        ));
    }
    let udp_len = (UDP_HEADER_LEN + payload.len()) as u16;
    // The UDP checksum covers a pseudo-header of the IP addresses; start the
    // sum with it, then add the UDP header and payload below.
    let pseudo_sum = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut header = [0u8; IPV4_HEADER_LEN];
            header[0] = 0x45; // version 4, 5 words of header
            header[2..4].copy_from_slice(&(IPV4_HEADER_LEN as u16 + udp_len).to_be_bytes());
            header[4..6].copy_from_slice(&(packet_id as u16).to_be_bytes());
            header[6..8].copy_from_slice(&DONT_FRAGMENT.to_be_bytes());
            header[8] = TTL;
            header[9] = PROTOCOL_UDP;
            header[12..16].copy_from_slice(&s.octets());
            header[16..20].copy_from_slice(&d.octets());
            let checksum = finish(sum(0, &header));
            header[10..12].copy_from_slice(&checksum.to_be_bytes());
            out.extend_from_slice(&header);
            let addresses = sum(sum(0, &s.octets()), &d.octets());
            sum_words(addresses, &[u16::from(PROTOCOL_UDP), udp_len])
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut header = [0u8; IPV6_HEADER_LEN];
            let first_word = 6 << 28 | (packet_id as u32 & 0xF_FFFF);
            header[0..4].copy_from_slice(&first_word.to_be_bytes());
            header[4..6].copy_from_slice(&udp_len.to_be_bytes());
            header[6] = PROTOCOL_UDP;
            header[7] = TTL;
            header[8..24].copy_from_slice(&s.octets());
            header[24..40].copy_from_slice(&d.octets());
            out.extend_from_slice(&header);
            let addresses = sum(sum(0, &s.octets()), &d.octets());
            // Upper-layer length is 32 bits in the IPv6 pseudo-header.
            sum_words(addresses, &[0, udp_len, 0, u16::from(PROTOCOL_UDP)])
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot capture a packet from {src} to {dst}: the addresses are of different IP families"),
            ))
        }
    };
    let mut udp = [0u8; UDP_HEADER_LEN];
    udp[0..2].copy_from_slice(&src.port().to_be_bytes());
    udp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    let checksum = match finish(sum(sum(pseudo_sum, &udp), payload)) {
        // 0 means "no checksum" in UDP, so a computed 0 is sent as all ones.
        0 => 0xFFFF,
        checksum => checksum,
    };
    udp[6..8].copy_from_slice(&checksum.to_be_bytes());
    out.extend_from_slice(&udp);
    out.extend_from_slice(payload);
    Ok(())
}

/// Adds `bytes` as big-endian 16-bit words (odd length padded with a zero
/// byte) to a one's-complement running sum.
///
/// Summing 32-bit words into a 64-bit accumulator and folding at the end
/// gives the same result as 16-bit words (the sum is end-around-carry
/// associative), at twice the speed.
fn sum(mut acc: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(4);
    for word in &mut words {
        acc += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    let mut rest = words.remainder().chunks(2);
    for pair in &mut rest {
        let low = pair.get(1).copied().unwrap_or(0);
        acc += u64::from(u16::from_be_bytes([pair[0], low]));
    }
    acc
}

fn sum_words(acc: u64, words: &[u16]) -> u64 {
    acc + words.iter().map(|&w| u64::from(w)).sum::<u64>()
}

/// Folds a running sum to 16 bits and complements it: the Internet checksum.
fn finish(mut acc: u64) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc_1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum(0, &bytes)), !0xddf2);
        // An odd trailing byte is padded with zero.
        assert_eq!(finish(sum(0, &[0x12])), !0x1200);
        assert_eq!(finish(sum(0, &[0x12, 0x34, 0x56])), !(0x1234 + 0x5600));
    }

    #[test]
    fn mixed_families_and_oversized_payloads_are_refused() {
        let mut out = Vec::new();
        let v4: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let v6: SocketAddr = "[fd00::1]:2".parse().unwrap();
        let err = write_datagram(&mut out, v4, v6, 0, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("different IP families"), "{err}");
        let big = vec![0; MAX_UDP_PAYLOAD + 1];
        assert!(write_datagram(&mut out, v4, v4, 0, &big).is_err());
        assert!(out.is_empty());
    }
}
