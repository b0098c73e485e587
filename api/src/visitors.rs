//! Anonymous visitor keys: a salted hash of what identifies a browser (address, user agent),
//! so click de-duplication and rate limits work without keeping a raw IP address, even in
//! memory. The salt is random per process and never stored.

use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct VisitorKeys {
    salt: [u8; 16],
}

/// 128 bits of a salted SHA-256: unique enough to tell visitors apart, useless to reverse.
pub type VisitorKey = [u8; 16];

impl VisitorKeys {
    pub fn new() -> Self {
        Self { salt: *uuid::Uuid::new_v4().as_bytes() }
    }

    pub fn key(&self, parts: &[&str]) -> VisitorKey {
        let mut hasher = Sha256::new();
        hasher.update(self.salt);
        for part in parts {
            hasher.update(part.len().to_le_bytes());
            hasher.update(part.as_bytes());
        }
        let digest = hasher.finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }
}

impl Default for VisitorKeys {
    fn default() -> Self {
        Self::new()
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`127.0.0.1,::1,10.0.0.0/8`). Anyone else
/// could write any address there and dodge every per-visitor limit, so for a connection from
/// anywhere else the connection's own address is the visitor's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(std::net::IpAddr, u8)>);

impl TrustedProxies {
    /// Comma-separated addresses or CIDR blocks; empty trusts no one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let (address, bits) = item.split_once('/').unwrap_or((item, ""));
            let address: std::net::IpAddr =
                address.parse().map_err(|_| format!("trusted proxy {item:?} is not an IP address or CIDR block"))?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let bits = if bits.is_empty() {
                max
            } else {
                bits.parse().ok().filter(|b| *b <= max).ok_or_else(|| format!("trusted proxy {item:?}: bad prefix"))?
            };
            networks.push((address, bits));
        }
        Ok(Self(networks))
    }

    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|(network, bits)| match (canonical(*network), address) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => prefix_matches(&n.octets(), &a.octets(), *bits),
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => prefix_matches(&n.octets(), &a.octets(), *bits),
            _ => false,
        })
    }

    /// The visitor's address: the peer's, unless the peer is a trusted proxy, then the last
    /// address in `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends
    /// whom it heard from, so what stands left of that was written by the client and proves
    /// nothing). An unreadable header falls back to the last address that could be read.
    pub fn client_address(&self, peer: Option<std::net::IpAddr>, forwarded_for: &[&str]) -> Option<std::net::IpAddr> {
        let mut client = peer?;
        if !self.contains(client) {
            return Some(client);
        }
        let hops = forwarded_for.iter().rev().flat_map(|value| value.rsplit(',')).map(str::trim);
        for hop in hops {
            match hop.parse::<std::net::IpAddr>() {
                Ok(address) => {
                    client = address;
                    if !self.contains(address) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        Some(client)
    }
}

/// An IPv4 address arriving as `::ffff:a.b.c.d` on a dual-stack socket is that IPv4 address.
fn canonical(address: std::net::IpAddr) -> std::net::IpAddr {
    match address {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, std::net::IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_matches(network: &[u8], address: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    network[..whole] == address[..whole]
        && (rest == 0 || (network[whole] ^ address[whole]) & (0xff_u8 << (8 - rest)) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> std::net::IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_forwarded_address_is_believed_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse("127.0.0.1, ::1").unwrap();
        assert_eq!(proxies.client_address(Some(ip("127.0.0.1")), &["203.0.113.9"]), Some(ip("203.0.113.9")));
        assert_eq!(proxies.client_address(Some(ip("198.51.100.7")), &["203.0.113.9"]), Some(ip("198.51.100.7")));
        assert_eq!(proxies.client_address(Some(ip("127.0.0.1")), &[]), Some(ip("127.0.0.1")));
        let nobody = TrustedProxies::parse("").unwrap();
        assert_eq!(nobody.client_address(Some(ip("127.0.0.1")), &["203.0.113.9"]), Some(ip("127.0.0.1")));
    }

    #[test]
    fn what_a_client_wrote_before_the_proxies_is_ignored() {
        let proxies = TrustedProxies::parse("127.0.0.1,10.0.0.0/8").unwrap();
        let chain = ["6.6.6.6, 203.0.113.9", "10.1.2.3"];
        assert_eq!(proxies.client_address(Some(ip("127.0.0.1")), &chain), Some(ip("203.0.113.9")));
        assert_eq!(proxies.client_address(Some(ip("127.0.0.1")), &["nonsense, 10.1.2.3"]), Some(ip("10.1.2.3")));
    }

    #[test]
    fn blocks_and_mapped_addresses_match() {
        let proxies = TrustedProxies::parse("10.0.0.0/8,192.168.1.128/25,fd00::/8").unwrap();
        assert!(proxies.contains(ip("10.200.0.1")));
        assert!(proxies.contains(ip("192.168.1.200")));
        assert!(!proxies.contains(ip("192.168.1.100")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(proxies.contains(ip("::ffff:10.0.0.1")));
        assert!(!proxies.contains(ip("11.0.0.1")));
        for bad in ["localhost", "10.0.0.0/33", "::1/129", "1.2.3.4/x"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }
}
