//! Which address a request came from when the server stands behind reverse proxies or load
//! balancers (`cluster.trusted_proxies`, docs/OPERATIONS.md): the TCP peer is the proxy, and the
//! shopper's address is in `X-Forwarded-For`. That header is believed only as far as it was
//! written by proxies the operator named; anything a client wrote into it itself is ignored, so
//! a client cannot pick the address its per-address limits are counted under.

use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One trusted proxy or network of them: an address (`10.0.0.5`) or a CIDR block
/// (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// Whether `addr` is in this block (an IPv4-mapped IPv6 address counts as its IPv4).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl std::fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for TrustedProxy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TrustedProxy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The client's address: the TCP `peer` unless it is a trusted proxy; then, reading the
/// `X-Forwarded-For` values (`forwarded_for`, every header line in order, each a comma-separated
/// list, the nearest hop last) from the right, the first address that is not a trusted proxy.
/// A malformed entry ends the walk at the last address known good (the proxy that added it
/// cannot be blamed on the client); if every hop is trusted, the leftmost one.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[TrustedProxy],
) -> IpAddr {
    let is_trusted = |addr: IpAddr| trusted.iter().any(|t| t.contains(addr));
    let peer = peer.to_canonical();
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(addr) = hop.parse::<IpAddr>().map(|a| a.to_canonical()) else {
            return client;
        };
        client = addr;
        if !is_trusted(addr) {
            return addr;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let lb: TrustedProxy = "10.0.0.0/8".parse().unwrap();
        assert!(lb.contains(ip("10.200.1.2")));
        assert!(!lb.contains(ip("11.0.0.1")));
        assert!(lb.contains(ip("::ffff:10.1.1.1")), "IPv4-mapped");
        let one: TrustedProxy = "192.168.1.9".parse().unwrap();
        assert_eq!(one.to_string(), "192.168.1.9/32");
        assert!(one.contains(ip("192.168.1.9")) && !one.contains(ip("192.168.1.8")));
        let all: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::1")));
        let v6: TrustedProxy = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "proxy",
            "10.0.0.0/-1",
        ] {
            assert!(bad.parse::<TrustedProxy>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_header_counts_only_behind_a_trusted_proxy() {
        let trusted = nets(&["10.0.0.0/8"]);
        // Straight from the internet: the header is the client's own words.
        assert_eq!(
            client_address(ip("203.0.113.7"), ["1.2.3.4"], &trusted),
            ip("203.0.113.7")
        );
        // Through the load balancer: the address it saw.
        assert_eq!(
            client_address(ip("10.0.0.2"), ["203.0.113.7"], &trusted),
            ip("203.0.113.7")
        );
        // A client that forges a first hop gets the address the proxy saw, not the forgery.
        assert_eq!(
            client_address(ip("10.0.0.2"), ["1.2.3.4, 203.0.113.7"], &trusted),
            ip("203.0.113.7")
        );
        // Two proxies (one header line each), read from the nearest.
        assert_eq!(
            client_address(ip("10.0.0.2"), ["198.51.100.1", "10.0.0.9"], &trusted),
            ip("198.51.100.1")
        );
        // No header, or only proxies: the leftmost known hop.
        assert_eq!(client_address(ip("10.0.0.2"), [], &trusted), ip("10.0.0.2"));
        assert_eq!(
            client_address(ip("10.0.0.2"), ["10.0.0.3"], &trusted),
            ip("10.0.0.3")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            client_address(ip("10.0.0.2"), ["203.0.113.7, unknown"], &trusted),
            ip("10.0.0.2")
        );
        // Nothing trusted: always the peer.
        assert_eq!(
            client_address(ip("10.0.0.2"), ["203.0.113.7"], &[]),
            ip("10.0.0.2")
        );
    }
}
