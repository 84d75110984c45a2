//! The PROXY protocol (HAProxy's specification, versions 1 and 2): the header a proxy sends
//! before a connection's first byte to say whom it is relaying.
//!
//! Sans-IO: [`parse`] looks at the bytes received so far and says whether they hold a whole
//! header (and how long it is), need more, or cannot be one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest header accepted, version 2 with its TLVs included (a v1 header is at most 107
/// bytes). Longer ones are refused: the proxies we serve behind send a few dozen bytes.
pub const MAX_HEADER: usize = 1024;

/// The twelve bytes that open a version 2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

const V1_PREFIX: &[u8] = b"PROXY ";
const V1_MAX: usize = 107;

/// What a whole header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The proxy relays a connection from `source` (the client) to `destination`.
    Proxied {
        /// The client's address.
        source: SocketAddr,
        /// The address the client connected to.
        destination: SocketAddr,
    },
    /// The connection is the proxy's own (v2 `LOCAL`, a health check), or its addresses are not
    /// IP (v1 `UNKNOWN`, v2 `UNSPEC` or Unix): the peer's own address stands.
    Local,
}

/// The outcome of [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header of `len` bytes: the connection's own bytes start after it.
    Complete {
        /// What it says.
        header: Header,
        /// Its length, to consume.
        len: usize,
    },
    /// A header has begun; more bytes are needed.
    Incomplete,
    /// These bytes are not a PROXY header (or one longer than [`MAX_HEADER`]).
    Invalid(&'static str),
}

/// Parses the start of a connection.
#[must_use]
pub fn parse(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    if buf[0] == V2_SIGNATURE[0] {
        return parse_v2(buf);
    }
    parse_v1(buf)
}

fn parse_v1(buf: &[u8]) -> Parsed {
    let n = buf.len().min(V1_PREFIX.len());
    if buf[..n] != V1_PREFIX[..n] {
        return Parsed::Invalid("no PROXY header");
    }
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Parsed::Invalid("PROXY v1 line longer than 107 bytes")
        } else {
            Parsed::Incomplete
        };
    };
    let Ok(line) = std::str::from_utf8(&buf[V1_PREFIX.len()..end]) else {
        return Parsed::Invalid("PROXY v1 line is not text");
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let header = match fields.as_slice() {
        ["UNKNOWN", ..] => Header::Local,
        [family @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let (Ok(src), Ok(dst)) = (src.parse::<IpAddr>(), dst.parse::<IpAddr>()) else {
                return Parsed::Invalid("PROXY v1 address is not an IP address");
            };
            let (Some(sport), Some(dport)) = (port(sport), port(dport)) else {
                return Parsed::Invalid("PROXY v1 port is not a number");
            };
            let v4 = *family == "TCP4";
            if src.is_ipv4() != v4 || dst.is_ipv4() != v4 {
                return Parsed::Invalid("PROXY v1 address does not match its family");
            }
            Header::Proxied {
                source: SocketAddr::new(src, sport),
                destination: SocketAddr::new(dst, dport),
            }
        }
        _ => return Parsed::Invalid("PROXY v1 line is malformed"),
    };
    Parsed::Complete {
        header,
        len: end + 2,
    }
}

/// A port in decimal without a sign or leading zeros (as the specification writes them).
fn port(s: &str) -> Option<u16> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

fn parse_v2(buf: &[u8]) -> Parsed {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] != V2_SIGNATURE[..n] {
        return Parsed::Invalid("no PROXY header");
    }
    if buf.len() < 16 {
        return Parsed::Incomplete;
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 {
        return Parsed::Invalid("PROXY v2 header of an unknown version");
    }
    let family = buf[13];
    let len = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > MAX_HEADER {
        return Parsed::Invalid("PROXY v2 header too long");
    }
    if buf.len() < len {
        return Parsed::Incomplete;
    }
    let body = &buf[16..len];
    let header = match command {
        0 => Header::Local,
        1 => match family {
            // TCP over IPv4 and IPv6 (also UDP, which we never see on a stream).
            0x11 | 0x12 => {
                let Some(a) = body.get(..12) else {
                    return Parsed::Invalid("PROXY v2 IPv4 addresses cut short");
                };
                let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]));
                Header::Proxied {
                    source: SocketAddr::new(ip(0), u16::from_be_bytes([a[8], a[9]])),
                    destination: SocketAddr::new(ip(4), u16::from_be_bytes([a[10], a[11]])),
                }
            }
            0x21 | 0x22 => {
                let Some(a) = body.get(..36) else {
                    return Parsed::Invalid("PROXY v2 IPv6 addresses cut short");
                };
                let ip = |o: usize| {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(&a[o..o + 16]);
                    IpAddr::V6(Ipv6Addr::from(octets))
                };
                Header::Proxied {
                    source: SocketAddr::new(ip(0), u16::from_be_bytes([a[32], a[33]])),
                    destination: SocketAddr::new(ip(16), u16::from_be_bytes([a[34], a[35]])),
                }
            }
            0x00 | 0x31 | 0x32 => Header::Local,
            _ => return Parsed::Invalid("PROXY v2 header of an unknown address family"),
        },
        _ => return Parsed::Invalid("PROXY v2 header with an unknown command"),
    };
    Parsed::Complete { header, len }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut b = V2_SIGNATURE.to_vec();
        b.push(0x20 | command);
        b.push(family);
        b.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn version_1_lines() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(line),
            Parsed::Complete {
                header: Header::Proxied {
                    source: addr("192.0.2.1:56324"),
                    destination: addr("198.51.100.2:443"),
                },
                len: 45,
            }
        );
        let six = b"PROXY TCP6 2001:db8::1 ::1 4000 80\r\n";
        assert!(matches!(
            parse(six),
            Parsed::Complete { header: Header::Proxied { source, .. }, len: 36 }
                if source == addr("[2001:db8::1]:4000")
        ));
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Complete {
                header: Header::Local,
                len: 15
            }
        );
        for cut in [&b"PRO"[..], b"PROXY TCP4 192.0.2.1 1"] {
            assert_eq!(parse(cut), Parsed::Incomplete, "{cut:?}");
        }
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP4 192.0.2.1 ::1 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n",
            b"PROXY TCP4 192.0.2.1 192.0.2.2 70000 2\r\n",
            b"PROXY TCP4 192.0.2.1\r\n",
            b"PROXY TCP5 a b 1 2\r\n",
            b"PROXY  TCP4 192.0.2.1 192.0.2.2 1 2\r\n",
        ] {
            assert!(matches!(parse(bad), Parsed::Invalid(_)), "{bad:?}");
        }
        let long = [b'P', b'R', b'O', b'X', b'Y', b' ']
            .into_iter()
            .chain(std::iter::repeat_n(b'x', 200))
            .collect::<Vec<u8>>();
        assert!(matches!(parse(&long), Parsed::Invalid(_)));
    }

    #[test]
    fn version_2_headers() {
        let mut four = vec![192, 0, 2, 1, 198, 51, 100, 2];
        four.extend_from_slice(&56324u16.to_be_bytes());
        four.extend_from_slice(&443u16.to_be_bytes());
        let mut with_tlv = four.clone();
        with_tlv.extend_from_slice(&[0x04, 0x00, 0x02, b'h', b'i']); // a NOOP TLV, skipped
        let header = v2(1, 0x11, &with_tlv);
        assert_eq!(
            parse(&[header.as_slice(), b"GET"].concat()),
            Parsed::Complete {
                header: Header::Proxied {
                    source: addr("192.0.2.1:56324"),
                    destination: addr("198.51.100.2:443"),
                },
                len: 16 + 17,
            }
        );
        for cut in 0..header.len() {
            assert_eq!(parse(&header[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        let mut six = Vec::new();
        six.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        six.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        six.extend_from_slice(&[0x1f, 0x90, 0x00, 0x50]);
        assert!(matches!(
            parse(&v2(1, 0x21, &six)),
            Parsed::Complete { header: Header::Proxied { source, .. }, len: 52 }
                if source == addr("[2001:db8::7]:8080")
        ));
        assert_eq!(
            parse(&v2(0, 0x00, &[])),
            Parsed::Complete {
                header: Header::Local,
                len: 16
            }
        );
        assert_eq!(
            parse(&v2(1, 0x31, &[0; 216])),
            Parsed::Complete {
                header: Header::Local,
                len: 232
            }
        );
        let mut wrong_version = v2(1, 0x11, &four);
        wrong_version[12] = 0x11;
        for bad in [
            wrong_version,
            v2(2, 0x11, &four),
            v2(1, 0x41, &four),
            v2(1, 0x11, &four[..6]),
            v2(1, 0x21, &four),
            v2(1, 0x11, &vec![0; MAX_HEADER]),
            b"\r\n\r\nX".to_vec(),
        ] {
            assert!(matches!(parse(&bad), Parsed::Invalid(_)), "{bad:?}");
        }
    }
}
