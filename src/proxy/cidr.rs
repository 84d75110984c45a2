//! CIDR blocks and the list of trusted proxies made of them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One block of addresses, `10.0.0.0/8` or `fd00::/8`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a text is not a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an address or a CIDR block (like 10.0.0.0/8 or ::1/128)",
            self.0
        )
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// The block of `network` with the first `prefix` bits significant (bits after them are
    /// ignored).
    ///
    /// # Errors
    ///
    /// A prefix longer than the address (32 bits for IPv4, 128 for IPv6).
    pub fn new(network: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let bits = if network.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(CidrError(format!("{network}/{prefix}")));
        }
        Ok(Cidr { network, prefix })
    }

    /// Returns whether `ip` is in the block; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as
    /// a dual-stack listener reports IPv4 peers) counts as its IPv4 address.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    if net[..full] != ip[..full] {
        return false;
    }
    let rest = prefix % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (net[full] & mask) == (ip[full] & mask)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let fail = || CidrError(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| fail())?)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| fail())?;
        let network = network.to_canonical();
        let prefix = prefix.unwrap_or(if network.is_ipv4() { 32 } else { 128 });
        Cidr::new(network, prefix).map_err(|_| fail())
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The peers whose forwarding headers (`Forwarded`, `X-Forwarded-For`, `X-Forwarded-Proto`) and
/// PROXY protocol headers are believed. Empty by default: then no such header changes anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Vec<Cidr>,
    /// Whether peers on Unix sockets (a proxy on this host) are trusted.
    unix: bool,
}

impl TrustedProxies {
    /// An empty list: no peer is trusted.
    #[must_use]
    pub fn new() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Adds a block.
    pub fn add(&mut self, block: Cidr) -> &mut Self {
        self.blocks.push(block);
        self
    }

    /// Parses and adds a block (`"10.0.0.0/8"`, `"127.0.0.1"`, `"::1"`), or `"unix"`: peers on
    /// the server's Unix sockets (see [`TrustedProxies::trust_unix`]).
    ///
    /// # Errors
    ///
    /// The text is not an address, a CIDR block or `unix`.
    pub fn add_str(&mut self, block: &str) -> Result<&mut Self, CidrError> {
        if block.trim().eq_ignore_ascii_case("unix") {
            return Ok(self.trust_unix());
        }
        self.blocks.push(block.parse()?);
        Ok(self)
    }

    /// Trusts peers on Unix sockets: a proxy on this host (nginx's `proxy_pass
    /// http://unix:/path`). Who may connect there is up to the socket file's permissions.
    pub fn trust_unix(&mut self) -> &mut Self {
        self.unix = true;
        self
    }

    /// Returns whether peers on Unix sockets are trusted.
    #[must_use]
    pub fn trusts_unix(&self) -> bool {
        self.unix
    }

    /// Returns whether no peer is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && !self.unix
    }

    /// Returns whether `ip` is in one of the blocks.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// Parses a whole list (`["127.0.0.1", "10.0.0.0/8"]`).
    ///
    /// # Errors
    ///
    /// The first text that is not an address or a CIDR block.
    pub fn from_list<S: AsRef<str>>(
        blocks: impl IntoIterator<Item = S>,
    ) -> Result<TrustedProxies, CidrError> {
        let mut list = TrustedProxies::new();
        for block in blocks {
            list.add_str(block.as_ref())?;
        }
        Ok(list)
    }

    /// The blocks, in the order they were added.
    #[must_use]
    pub fn blocks(&self) -> &[Cidr] {
        &self.blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_contain_what_their_prefix_covers() {
        let cases = [
            ("10.0.0.0/8", "10.200.3.4", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.168.1.128/25", "192.168.1.200", true),
            ("192.168.1.128/25", "192.168.1.100", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("0.0.0.0/0", "::1", false),
            ("::1", "::1", true),
            ("fd00::/8", "fd12:3456::1", true),
            ("fd00::/8", "fe80::1", false),
            ("127.0.0.0/8", "::ffff:127.0.0.9", true),
            ("::ffff:10.0.0.0/104", "10.1.2.3", false), // canonical: 10.0.0.0 with prefix 104 > 32
        ];
        for (block, addr, expected) in cases {
            match block.parse::<Cidr>() {
                Ok(c) => assert_eq!(c.contains(ip(addr)), expected, "{block} ∋ {addr}"),
                Err(_) => assert!(!expected, "{block} should parse"),
            }
        }
    }

    #[test]
    fn bad_blocks_are_refused_with_their_text() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "host.example",
            "10.0.0/8",
            "1.2.3.4/x",
        ] {
            let e = bad.parse::<Cidr>().unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
        assert_eq!(
            "[::1]".parse::<Cidr>().unwrap(),
            Cidr::new(ip("::1"), 128).unwrap()
        );
    }

    #[test]
    fn an_empty_list_trusts_nobody() {
        let none = TrustedProxies::new();
        assert!(!none.contains(ip("127.0.0.1")));
        let list = TrustedProxies::from_list(["127.0.0.1", "10.0.0.0/8"]).unwrap();
        assert!(list.contains(ip("10.9.9.9")) && list.contains(ip("127.0.0.1")));
        assert!(!list.contains(ip("192.168.0.1")));
    }
}
