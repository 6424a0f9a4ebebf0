//! Socket addresses as users write them: `"server:8080"`, `"0.0.0.0:0"`,
//! `"[fd00::1]:53"`, `SocketAddr`, `("server", 8080)`.
//!
//! [`ToSocketAddrs`] turns any of those into a [`Target`] without touching
//! the simulation; the network state then resolves a target's host against
//! the node table (node names, IP literals, `localhost`). Parsing never
//! allocates.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
};

/// A host and port before resolution (an implementation detail of
/// [`ToSocketAddrs`]; not nameable outside bach).
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// An address that needs no lookup.
    Addr(SocketAddr),
    /// A host name and a port.
    Host(&'a str, u16),
}

/// Values that name one socket address in the simulated network: a
/// [`SocketAddr`] (or its parts), `"host:port"` strings where `host` is a
/// node name, an IP literal or `localhost`, and `(host, port)` pairs.
///
/// This trait is sealed: bach resolves names against its own node table,
/// never through the operating system.
pub trait ToSocketAddrs: sealed::Sealed {
    /// The address or host and port this value names.
    #[doc(hidden)]
    fn to_target(&self) -> io::Result<Target<'_>>;

    /// The value as written, when it is a `"host:port"` string: a socket
    /// sending to the same string again reuses the last resolution.
    #[doc(hidden)]
    fn as_text(&self) -> Option<&str> {
        None
    }
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! addr_impl {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl ToSocketAddrs for $ty {
            fn to_target(&self) -> io::Result<Target<'_>> {
                Ok(Target::Addr(SocketAddr::from(*self)))
            }
        }
    )*};
}

addr_impl!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl sealed::Sealed for str {}
impl ToSocketAddrs for str {
    fn to_target(&self) -> io::Result<Target<'_>> {
        parse(self)
    }

    fn as_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl sealed::Sealed for String {}
impl ToSocketAddrs for String {
    fn to_target(&self) -> io::Result<Target<'_>> {
        parse(self)
    }

    fn as_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl sealed::Sealed for (&str, u16) {}
impl ToSocketAddrs for (&str, u16) {
    fn to_target(&self) -> io::Result<Target<'_>> {
        host(self.0, self.1)
    }
}

impl sealed::Sealed for (String, u16) {}
impl ToSocketAddrs for (String, u16) {
    fn to_target(&self) -> io::Result<Target<'_>> {
        host(&self.0, self.1)
    }
}

impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_target(&self) -> io::Result<Target<'_>> {
        (**self).to_target()
    }

    fn as_text(&self) -> Option<&str> {
        (**self).as_text()
    }
}

/// Whether `s` may start an IP literal: node names never parse as IPs, so
/// names that start otherwise skip the (comparatively slow) IP parsers.
#[inline]
fn may_be_ip(s: &str) -> bool {
    matches!(s.as_bytes().first(), Some(b'0'..=b'9' | b'[' | b':'))
        || s.as_bytes()
            .get(..4)
            .is_some_and(|p| p.iter().all(u8::is_ascii_hexdigit))
}

/// Parses `host:port`, `ip:port` or `[ipv6]:port`.
#[inline]
fn parse(s: &str) -> io::Result<Target<'_>> {
    if may_be_ip(s) {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Target::Addr(addr));
        }
    } else if let Some(target) = parse_name_port(s) {
        return Ok(target);
    }
    let Some((name, port)) = s.rsplit_once(':') else {
        return Err(invalid(s, "expected host:port, e.g. server:8080"));
    };
    let Ok(port) = port.parse::<u16>() else {
        return Err(invalid(s, "the port is not a number in 0..=65535"));
    };
    host(name, port)
}

/// The common case of [`parse`], in one pass from the end: a name that
/// cannot start an IP literal (the caller checked), without `:`, then `:`
/// and one to five decimal digits up to 65535. `None` leaves anything else
/// (errors included) to the general path, which accepts the same inputs.
#[inline]
fn parse_name_port(s: &str) -> Option<Target<'_>> {
    let bytes = s.as_bytes();
    let mut port = 0u32;
    let mut scale = 1u32;
    let mut colon = bytes.len();
    loop {
        colon = colon.checked_sub(1)?;
        match bytes[colon] {
            b':' => break,
            digit @ b'0'..=b'9' if scale <= 10_000 => {
                port += u32::from(digit - b'0') * scale;
                scale *= 10;
            }
            _ => return None,
        }
    }
    let port = u16::try_from(port).ok().filter(|_| scale > 1)?;
    let name = &s[..colon];
    if name.is_empty() || name.bytes().any(|byte| byte == b':') {
        return None;
    }
    Some(Target::Host(name, port))
}

#[inline]
fn host(name: &str, port: u16) -> io::Result<Target<'_>> {
    if may_be_ip(name) {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(Target::Addr(SocketAddr::new(ip, port)));
        }
    }
    if name.is_empty() || name.contains(':') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid host `{name}` (expected a node name or an IP address)"),
        ));
    }
    Ok(Target::Host(name, port))
}

fn invalid(s: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid socket address `{s}`: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<T: ToSocketAddrs + ?Sized>(t: &T) -> String {
        match t.to_target() {
            Ok(Target::Addr(addr)) => format!("addr {addr}"),
            Ok(Target::Host(host, port)) => format!("host {host} {port}"),
            Err(e) => format!("{:?}: {e}", e.kind()),
        }
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(target("server:8080"), "host server 8080");
        assert_eq!(target("0.0.0.0:0"), "addr 0.0.0.0:0");
        assert_eq!(target("[fd00::1]:53"), "addr [fd00::1]:53");
        assert_eq!(target(&("server", 1)), "host server 1");
        assert_eq!(target(&("10.0.0.1", 1)), "addr 10.0.0.1:1");
        assert_eq!(target(&(Ipv4Addr::LOCALHOST, 9)), "addr 127.0.0.1:9");
        assert_eq!(target(&String::from("a:2")), "host a 2");
        assert_eq!(
            target("fd00::1"),
            "InvalidInput: invalid host `fd00:` (expected a node name or an IP address)"
        );
        assert_eq!(target("beef:1"), "host beef 1");
        assert_eq!(
            target("abcd::1%x:1").split(':').next(),
            Some("InvalidInput")
        );
        assert_eq!(
            target("server"),
            "InvalidInput: invalid socket address `server`: expected host:port, e.g. server:8080"
        );
        assert_eq!(
            target("server:99999"),
            "InvalidInput: invalid socket address `server:99999`: the port is not a number in 0..=65535"
        );
        assert_eq!(
            target(":80"),
            "InvalidInput: invalid host `` (expected a node name or an IP address)"
        );
    }

    /// The one-pass path answers exactly as the general one, or defers.
    #[test]
    fn fast_path_agrees_with_the_general_one() {
        for s in [
            "server:1337",
            "n1:0",
            "n1:65535",
            "n1:65536",
            "n1:000080",
            "n1:+80",
            "n1:",
            "n1",
            ":80",
            "a:b:80",
            "x:08",
            "node-7:12345",
            "zz:123456",
        ] {
            let general = s
                .rsplit_once(':')
                .and_then(|(name, port)| Some((name, port.parse::<u16>().ok()?)))
                .and_then(|(name, port)| host(name, port).ok());
            let general = general.map(|t| format!("{t:?}"));
            if let Some(fast) = parse_name_port(s) {
                assert_eq!(Some(format!("{fast:?}")), general, "{s}");
            }
        }
        assert!(parse_name_port("server:1337").is_some());
    }
}
