//! What a trusted proxy says about the client: `Forwarded` (RFC 7239), else `X-Forwarded-For`
//! and `X-Forwarded-Proto`.
//!
//! Each proxy on the way appends the address it received the request from, so the list reads
//! client first, nearest proxy last. Only the entries added by proxies we trust can be
//! believed: the client is the right-most entry that is not itself a trusted proxy (anything
//! left of it may have been written by the client). The scheme is the one of that same entry,
//! which the proxy facing the client wrote.

use std::net::{IpAddr, SocketAddr};

use super::TrustedProxies;

/// What the forwarding headers of a trusted peer say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarded {
    /// The client's address (port 0 when the proxy did not say it); `None` when the proxy hid
    /// it (`for=unknown`, an obfuscated `for=_node`, an entry that is not an address).
    pub client: Option<SocketAddr>,
    /// Whether the client spoke HTTPS to the proxy (`proto=https`, `X-Forwarded-Proto: https`);
    /// `None` when not said.
    pub https: Option<bool>,
}

/// Reads the forwarding headers among `headers` (name, value), when `peer` (`None`: a peer on a
/// Unix socket) is trusted; `None` when it is not, or when no forwarding header says anything
/// usable.
///
/// `Forwarded` wins over the `X-Forwarded-*` pair when both are present and well formed; a
/// malformed `Forwarded` is ignored as a whole.
pub fn resolve<'a>(
    trusted: &TrustedProxies,
    peer: Option<IpAddr>,
    headers: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> Option<Forwarded> {
    let peer_trusted = match peer {
        Some(ip) => trusted.contains(ip),
        None => trusted.trusts_unix(),
    };
    if !peer_trusted {
        return None;
    }
    let mut forwarded = Vec::new();
    let mut nodes = Vec::new();
    let mut xfp = Vec::new();
    for (name, value) in headers {
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        if name.eq_ignore_ascii_case("forwarded") {
            forwarded.push(value);
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            nodes.extend(list(value).map(Node::parse));
        } else if name.eq_ignore_ascii_case("x-forwarded-proto") {
            xfp.extend(list(value));
        }
    }
    if !forwarded.is_empty() {
        if let Some(elements) = parse_forwarded(&forwarded) {
            if let Some(found) = pick(trusted, &elements, |e| e.node) {
                return Some(Forwarded {
                    client: found.node.address(),
                    https: found.proto.and_then(is_https),
                });
            }
        }
    }
    let picked = nodes
        .iter()
        .rposition(|n| !n.is_trusted(trusted))
        .or(if nodes.is_empty() { None } else { Some(0) });
    let https = match (picked, xfp.len()) {
        (_, 0) => None,
        (Some(i), n) if n == nodes.len() => is_https(xfp[i]),
        _ => is_https(xfp[0]),
    };
    let client = picked.and_then(|i| nodes[i].address());
    if picked.is_none() && https.is_none() {
        return None;
    }
    Some(Forwarded { client, https })
}

/// The comma-separated items of a header value, trimmed, empty ones skipped.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn is_https(proto: &str) -> Option<bool> {
    if proto.eq_ignore_ascii_case("https") || proto.eq_ignore_ascii_case("wss") {
        Some(true)
    } else if proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("ws") {
        Some(false)
    } else {
        None
    }
}

/// The right-most element whose node is not a trusted proxy, else the left-most.
fn pick<'t, T>(
    trusted: &TrustedProxies,
    items: &'t [T],
    node: impl Fn(&T) -> Node,
) -> Option<&'t T> {
    items
        .iter()
        .rev()
        .find(|item| !node(item).is_trusted(trusted))
        .or_else(|| items.first())
}

/// A `for=` node, or an `X-Forwarded-For` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Address(SocketAddr),
    /// `unknown`, an obfuscated identifier, or text that is no address.
    Hidden,
    /// The element has no `for=`.
    Missing,
}

impl Node {
    fn parse(s: &str) -> Node {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Node::Address(SocketAddr::new(ip.to_canonical(), 0));
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Node::Address(SocketAddr::new(addr.ip().to_canonical(), addr.port()));
        }
        // `[2001:db8::1]` without a port, or with an obfuscated one (`[::1]:_port`).
        if let Some(rest) = s.strip_prefix('[') {
            if let Some((ip, _)) = rest.split_once(']') {
                if let Ok(ip) = ip.parse::<IpAddr>() {
                    return Node::Address(SocketAddr::new(ip.to_canonical(), 0));
                }
            }
        }
        // `192.0.2.1:_port`
        if let Some((ip, port)) = s.rsplit_once(':') {
            if port.starts_with('_') {
                if let Ok(ip) = ip.parse::<std::net::Ipv4Addr>() {
                    return Node::Address(SocketAddr::new(IpAddr::V4(ip), 0));
                }
            }
        }
        Node::Hidden
    }

    fn address(self) -> Option<SocketAddr> {
        match self {
            Node::Address(a) => Some(a),
            Node::Hidden | Node::Missing => None,
        }
    }

    fn is_trusted(self, trusted: &TrustedProxies) -> bool {
        matches!(self, Node::Address(a) if trusted.contains(a.ip()))
    }
}

/// One element of `Forwarded`: the parameters we use.
#[derive(Debug, Clone, Copy)]
struct Element<'a> {
    node: Node,
    proto: Option<&'a str>,
}

/// Parses the `Forwarded` field lines (in order) into elements; `None` when malformed.
fn parse_forwarded<'a>(lines: &[&'a str]) -> Option<Vec<Element<'a>>> {
    let mut elements = Vec::new();
    for line in lines {
        for element in split_outside_quotes(line, b',')? {
            if element.trim().is_empty() {
                continue;
            }
            let mut parsed = Element {
                node: Node::Missing,
                proto: None,
            };
            for pair in split_outside_quotes(element, b';')? {
                let pair = pair.trim();
                if pair.is_empty() {
                    continue;
                }
                let (name, value) = pair.split_once('=')?;
                let value = unquote(value.trim())?;
                match name.trim() {
                    n if n.eq_ignore_ascii_case("for") => parsed.node = Node::parse(value),
                    n if n.eq_ignore_ascii_case("proto") => parsed.proto = Some(value),
                    _ => {}
                }
            }
            elements.push(parsed);
        }
    }
    Some(elements)
}

/// Splits at `sep` where it is not inside a quoted string; `None` for an unclosed quote.
fn split_outside_quotes(s: &str, sep: u8) -> Option<Vec<&str>> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if quoted {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => quoted = false,
                _ => {}
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == sep {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    if quoted {
        return None;
    }
    parts.push(&s[start..]);
    Some(parts)
}

/// A token as is, or a quoted string without its quotes (node values never hold escapes worth
/// keeping; a value with a backslash is refused as not an address later).
fn unquote(v: &str) -> Option<&str> {
    match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None if v.is_empty() => None,
        None => Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedProxies {
        TrustedProxies::from_list(["127.0.0.1", "10.0.0.0/8"]).unwrap()
    }

    fn run(peer: &str, headers: &[(&str, &str)]) -> Option<Forwarded> {
        resolve(
            &trusted(),
            Some(peer.parse().unwrap()),
            headers.iter().map(|(n, v)| (*n, v.as_bytes())),
        )
    }

    fn client(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn untrusted_peers_change_nothing() {
        let spoof = [
            ("X-Forwarded-For", "1.2.3.4"),
            ("Forwarded", "for=1.2.3.4;proto=https"),
            ("X-Forwarded-Proto", "https"),
        ];
        assert_eq!(run("192.168.1.5", &spoof), None);
        let nobody = TrustedProxies::new();
        let h = spoof.iter().map(|(n, v)| (*n, v.as_bytes()));
        assert_eq!(resolve(&nobody, "127.0.0.1".parse().ok(), h), None);
    }

    /// Headers sent, then the client address and scheme expected.
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<SocketAddr>, Option<bool>);

    #[test]
    fn a_unix_socket_peer_is_trusted_only_when_unix_is_in_the_list() {
        let headers = [("X-Forwarded-For", "203.0.113.9")];
        let h = || headers.iter().map(|(n, v)| (*n, v.as_bytes()));
        assert_eq!(resolve(&trusted(), None, h()), None);
        let with_unix = TrustedProxies::from_list(["unix"]).unwrap();
        assert!(with_unix.trusts_unix() && !with_unix.is_empty());
        assert_eq!(
            resolve(&with_unix, None, h()).and_then(|f| f.client),
            client("203.0.113.9:0")
        );
        // Trusting Unix peers trusts no IP peer.
        assert_eq!(resolve(&with_unix, "127.0.0.1".parse().ok(), h()), None);
    }

    #[test]
    fn forwarded_gives_the_right_most_untrusted_node_and_its_proto() {
        let table: &[Case] = &[
            (
                &[("Forwarded", "for=203.0.113.7")],
                client("203.0.113.7:0"),
                None,
            ),
            (
                &[("Forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https")],
                client("[2001:db8:cafe::17]:4711"),
                Some(true),
            ),
            (
                // The client wrote the first element; the proxy at 10.0.0.2 the next ones.
                &[(
                    "forwarded",
                    "for=6.6.6.6;proto=https, for=203.0.113.7;proto=http, for=10.0.0.2;proto=https",
                )],
                client("203.0.113.7:0"),
                Some(false),
            ),
            (
                &[
                    ("Forwarded", "for=198.51.100.1"),
                    ("Forwarded", "for=10.1.1.1"),
                ],
                client("198.51.100.1:0"),
                None,
            ),
            (
                &[("Forwarded", "for=unknown;proto=https")],
                None,
                Some(true),
            ),
            (&[("Forwarded", "for=_hidden, for=10.0.0.3")], None, None),
            (
                &[("Forwarded", "For=\"192.0.2.1:_p\"")],
                client("192.0.2.1:0"),
                None,
            ),
            (
                &[("Forwarded", "for=10.0.0.9, for=10.0.0.8")],
                client("10.0.0.9:0"),
                None,
            ),
            (
                &[("Forwarded", "by=10.0.0.1;proto=https")],
                None,
                Some(true),
            ),
        ];
        for (headers, want_client, want_https) in table {
            let got = run("127.0.0.1", headers).unwrap();
            assert_eq!(got.client, *want_client, "{headers:?}");
            assert_eq!(got.https, *want_https, "{headers:?}");
        }
    }

    #[test]
    fn a_malformed_forwarded_is_ignored_for_x_forwarded_for() {
        for bad in ["for=\"1.2.3.4", "for", "for=;"] {
            let got = run(
                "127.0.0.1",
                &[("Forwarded", bad), ("X-Forwarded-For", "198.51.100.9")],
            );
            assert_eq!(got.unwrap().client, client("198.51.100.9:0"), "{bad}");
        }
    }

    #[test]
    fn x_forwarded_for_gives_the_right_most_untrusted_hop() {
        let got = run(
            "10.0.0.1",
            &[("X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.0.0.2")],
        )
        .unwrap();
        assert_eq!(got.client, client("203.0.113.7:0"));
        assert_eq!(got.https, None);
        let got = run(
            "127.0.0.1",
            &[
                ("X-Forwarded-For", "::ffff:198.51.100.2"),
                ("X-Forwarded-Proto", "https"),
            ],
        )
        .unwrap();
        assert_eq!(got.client, client("198.51.100.2:0"));
        assert_eq!(got.https, Some(true));
        let got = run(
            "127.0.0.1",
            &[
                ("X-Forwarded-For", "203.0.113.7, 10.0.0.2"),
                ("X-Forwarded-Proto", "http, https"),
            ],
        )
        .unwrap();
        assert_eq!(got.https, Some(false), "the proto of the chosen hop");
        let only_proto = run("127.0.0.1", &[("X-Forwarded-Proto", "https")]).unwrap();
        assert_eq!((only_proto.client, only_proto.https), (None, Some(true)));
        assert_eq!(run("127.0.0.1", &[("Accept", "*/*")]), None);
        let hidden = run("127.0.0.1", &[("X-Forwarded-For", "garbage")]).unwrap();
        assert_eq!(hidden.client, None);
    }
}
