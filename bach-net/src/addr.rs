//! Node addresses: which IP address the n-th node gets.
//!
//! An [`AddressPlan`] is a subnet plus a fixed rule that numbers its usable host
//! addresses `0, 1, 2, …`. The [node table](crate::NodeTable) gives the n-th
//! created node the n-th address, so addresses depend only on creation order.
//! The rule is a pure function both ways ([`AddressPlan::address`] and
//! [`AddressPlan::index_of`]), which is how an incoming destination address
//! maps back to a node without any lookup table. This module never allocates
//! and holds no per-node state.
//!
//! Numbering rules:
//! * IPv4 (default `10.0.0.0/8`, so the first node is `10.0.0.1`): hosts in
//!   subnet order, skipping every address whose last octet is `0` or `255`, so
//!   no node ever gets an address that looks like a network or broadcast
//!   address. Prefixes up to `/30` are accepted.
//! * IPv6 (for example `fd00::/64`): hosts in subnet order starting at
//!   network + 1. Prefixes up to `/127` are accepted.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A subnet from which nodes get their addresses, in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressPlan {
    subnet: Subnet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Subnet {
    V4 { network: u32, prefix_len: u8 },
    V6 { network: u128, prefix_len: u8 },
}

/// Usable hosts per IPv4 /24 block once `.0` and `.255` are skipped.
const HOSTS_PER_V4_BLOCK: u64 = 254;

impl Default for AddressPlan {
    /// `10.0.0.0/8`: the first node is `10.0.0.1`.
    fn default() -> Self {
        Self {
            subnet: Subnet::V4 {
                network: u32::from(Ipv4Addr::new(10, 0, 0, 0)),
                prefix_len: 8,
            },
        }
    }
}

impl AddressPlan {
    /// An IPv4 plan over `network/prefix_len`.
    ///
    /// Fails with `InvalidInput` if `prefix_len > 30` (no room for hosts) or
    /// if `network` has host bits set.
    pub fn ipv4(network: Ipv4Addr, prefix_len: u8) -> io::Result<Self> {
        if prefix_len > 30 {
            return Err(invalid(format!(
                "IPv4 prefix length /{prefix_len} leaves no room for nodes (at most /30)"
            )));
        }
        let bits = u32::from(network);
        let mask = u32::MAX
            .checked_shl(32 - u32::from(prefix_len))
            .unwrap_or(0);
        if bits & !mask != 0 {
            let fixed = Ipv4Addr::from(bits & mask);
            return Err(invalid(format!(
                "subnet {network}/{prefix_len} has host bits set (did you mean {fixed}/{prefix_len}?)"
            )));
        }
        Ok(Self {
            subnet: Subnet::V4 {
                network: bits,
                prefix_len,
            },
        })
    }

    /// An IPv6 plan over `network/prefix_len`, for example `fd00::/64`.
    ///
    /// Fails with `InvalidInput` if `prefix_len > 127` or if `network` has
    /// host bits set.
    pub fn ipv6(network: Ipv6Addr, prefix_len: u8) -> io::Result<Self> {
        if prefix_len > 127 {
            return Err(invalid(format!(
                "IPv6 prefix length /{prefix_len} leaves no room for nodes (at most /127)"
            )));
        }
        let bits = u128::from(network);
        let mask = u128::MAX
            .checked_shl(128 - u32::from(prefix_len))
            .unwrap_or(0);
        if bits & !mask != 0 {
            let fixed = Ipv6Addr::from(bits & mask);
            return Err(invalid(format!(
                "subnet {network}/{prefix_len} has host bits set (did you mean {fixed}/{prefix_len}?)"
            )));
        }
        Ok(Self {
            subnet: Subnet::V6 {
                network: bits,
                prefix_len,
            },
        })
    }

    /// The subnet's network address.
    pub fn network(&self) -> IpAddr {
        match self.subnet {
            Subnet::V4 { network, .. } => IpAddr::V4(network.into()),
            Subnet::V6 { network, .. } => IpAddr::V6(network.into()),
        }
    }

    /// The subnet's prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        match self.subnet {
            Subnet::V4 { prefix_len, .. } | Subnet::V6 { prefix_len, .. } => prefix_len,
        }
    }

    /// How many nodes this plan can number (saturating at `u32::MAX + 1`,
    /// since node ids are `u32`).
    pub fn capacity(&self) -> u64 {
        let capacity = match self.subnet {
            Subnet::V4 { prefix_len, .. } => v4_capacity(prefix_len),
            Subnet::V6 { prefix_len, .. } => {
                let host_bits = 128 - u32::from(prefix_len);
                if host_bits >= 33 {
                    u64::MAX
                } else {
                    (1u64 << host_bits) - 1
                }
            }
        };
        capacity.min(u64::from(u32::MAX) + 1)
    }

    /// The address of the node with creation index `index`.
    ///
    /// Fails with `AddrNotAvailable` once the subnet is exhausted.
    pub fn address(&self, index: u32) -> io::Result<IpAddr> {
        if u64::from(index) >= self.capacity() {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "address plan {self} is exhausted: it has room for {} nodes",
                    self.capacity()
                ),
            ));
        }
        let index = u64::from(index);
        Ok(match self.subnet {
            Subnet::V4 {
                network,
                prefix_len,
            } => {
                let offset = if prefix_len <= 24 {
                    // Whole /24 blocks: skip `.0` and `.255` in each.
                    (index / HOSTS_PER_V4_BLOCK) * 256 + 1 + index % HOSTS_PER_V4_BLOCK
                } else {
                    index + 1
                };
                IpAddr::V4(Ipv4Addr::from(network + offset as u32))
            }
            Subnet::V6 { network, .. } => {
                IpAddr::V6(Ipv6Addr::from(network + 1 + u128::from(index)))
            }
        })
    }

    /// The creation index whose address is `ip`, if `ip` is one this plan
    /// hands out (whether or not a node has it yet).
    #[inline]
    pub fn index_of(&self, ip: IpAddr) -> Option<u32> {
        let index = match (self.subnet, ip) {
            (
                Subnet::V4 {
                    network,
                    prefix_len,
                },
                IpAddr::V4(ip),
            ) => {
                let offset = u64::from(u32::from(ip).wrapping_sub(network));
                let size = 1u64 << (32 - u32::from(prefix_len));
                if offset >= size {
                    return None;
                }
                if prefix_len <= 24 {
                    let low = offset % 256;
                    if low == 0 || low == 255 {
                        return None;
                    }
                    (offset / 256) * HOSTS_PER_V4_BLOCK + low - 1
                } else {
                    if offset == 0 || offset == size - 1 {
                        return None;
                    }
                    offset - 1
                }
            }
            (
                Subnet::V6 {
                    network,
                    prefix_len,
                },
                IpAddr::V6(ip),
            ) => {
                let offset = u128::from(ip).wrapping_sub(network);
                let host_bits = 128 - u32::from(prefix_len);
                let inside = host_bits == 128 || offset < (1u128 << host_bits);
                if !inside || offset == 0 {
                    return None;
                }
                u64::try_from(offset - 1).ok()?
            }
            _ => return None,
        };
        u32::try_from(index).ok()
    }
}

fn v4_capacity(prefix_len: u8) -> u64 {
    if prefix_len <= 24 {
        (1u64 << (24 - u32::from(prefix_len))) * HOSTS_PER_V4_BLOCK
    } else {
        // Network and broadcast addresses are the only ones excluded.
        (1u64 << (32 - u32::from(prefix_len))) - 2
    }
}

impl fmt::Display for AddressPlan {
    /// `network/prefix_len`, e.g. `10.0.0.0/8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix_len())
    }
}

impl FromStr for AddressPlan {
    type Err = io::Error;

    /// Parses `network/prefix_len`, e.g. `10.0.0.0/8` or `fd00::/64`.
    fn from_str(s: &str) -> io::Result<Self> {
        let parsed = s.split_once('/').and_then(|(network, prefix)| {
            Some((network.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?))
        });
        match parsed {
            Some((IpAddr::V4(network), prefix_len)) => Self::ipv4(network, prefix_len),
            Some((IpAddr::V6(network), prefix_len)) => Self::ipv6(network, prefix_len),
            None => Err(invalid(format!(
                "invalid subnet `{s}` (expected network/prefix, e.g. 10.0.0.0/8 or fd00::/64)"
            ))),
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().expect("test literal")
    }

    #[test]
    fn default_plan_starts_at_10_0_0_1_and_skips_dot_0_and_dot_255() {
        let plan = AddressPlan::default();
        assert_eq!(plan.to_string(), "10.0.0.0/8");
        assert_eq!(plan.address(0).unwrap(), v4("10.0.0.1"));
        assert_eq!(plan.address(1).unwrap(), v4("10.0.0.2"));
        assert_eq!(plan.address(253).unwrap(), v4("10.0.0.254"));
        assert_eq!(plan.address(254).unwrap(), v4("10.0.1.1"));
        assert_eq!(plan.index_of(v4("10.0.1.1")), Some(254));
        assert_eq!(plan.index_of(v4("10.0.0.255")), None);
        assert_eq!(plan.index_of(v4("10.0.1.0")), None);
        assert_eq!(plan.index_of(v4("11.0.0.1")), None);
        assert_eq!(plan.index_of(v4("9.255.255.254")), None);
        assert_eq!(plan.capacity(), 65_536 * 254);
        let last = plan.address((65_536 * 254 - 1) as u32).unwrap();
        assert_eq!(last, v4("10.255.255.254"));
    }

    #[test]
    fn small_ipv4_subnet_exhausts_with_clear_error() {
        let plan: AddressPlan = "192.168.7.4/30".parse().unwrap();
        assert_eq!(plan.capacity(), 2);
        assert_eq!(plan.address(0).unwrap(), v4("192.168.7.5"));
        assert_eq!(plan.address(1).unwrap(), v4("192.168.7.6"));
        let err = plan.address(2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable);
        assert_eq!(
            err.to_string(),
            "address plan 192.168.7.4/30 is exhausted: it has room for 2 nodes"
        );
        assert_eq!(plan.index_of(v4("192.168.7.4")), None);
        assert_eq!(plan.index_of(v4("192.168.7.7")), None);
        assert_eq!(plan.index_of(v4("192.168.7.6")), Some(1));
    }

    #[test]
    fn invalid_prefixes_are_rejected_naming_the_value() {
        let err = AddressPlan::ipv4(Ipv4Addr::new(10, 0, 0, 0), 31).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("/31"), "{err}");

        let err = AddressPlan::ipv4(Ipv4Addr::new(10, 1, 2, 3), 8).unwrap_err();
        assert!(err.to_string().contains("did you mean 10.0.0.0/8"), "{err}");

        let err = "fd00::1/64".parse::<AddressPlan>().unwrap_err();
        assert!(err.to_string().contains("did you mean fd00::/64"), "{err}");

        let err = "10.0.0.0".parse::<AddressPlan>().unwrap_err();
        assert!(err.to_string().contains("`10.0.0.0`"), "{err}");

        assert!("fd00::/128".parse::<AddressPlan>().is_err());
    }

    #[test]
    fn ipv6_plan_numbers_from_network_plus_one() {
        let plan: AddressPlan = "fd00::/64".parse().unwrap();
        assert_eq!(
            plan.address(0).unwrap(),
            "fd00::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            plan.address(9).unwrap(),
            "fd00::a".parse::<IpAddr>().unwrap()
        );
        assert_eq!(plan.index_of("fd00::a".parse().unwrap()), Some(9));
        assert_eq!(plan.index_of("fd00::".parse().unwrap()), None);
        assert_eq!(plan.index_of("fd01::1".parse().unwrap()), None);
        assert_eq!(plan.index_of(v4("10.0.0.1")), None);

        let tiny: AddressPlan = "fd00::/126".parse().unwrap();
        assert_eq!(tiny.capacity(), 3);
        assert_eq!(
            tiny.address(3).unwrap_err().kind(),
            io::ErrorKind::AddrNotAvailable
        );
    }

    #[test]
    fn index_of_inverts_address() {
        bolero::check!()
            .with_type::<(bool, u8, u32)>()
            .for_each(|&(v6, prefix, index)| {
                let plan = if v6 {
                    AddressPlan::ipv6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0), prefix % 8 + 8)
                } else {
                    AddressPlan::ipv4(Ipv4Addr::new(10, 0, 0, 0), prefix % 23 + 8)
                }
                .unwrap();
                match plan.address(index) {
                    Ok(ip) => assert_eq!(plan.index_of(ip), Some(index), "{plan} {ip}"),
                    Err(_) => assert!(u64::from(index) >= plan.capacity()),
                }
            });
    }
}
