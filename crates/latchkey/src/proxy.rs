//! Whose word is taken for the client's address: the trusted proxies (`--trusted-proxy`,
//! addresses or networks), the `X-Forwarded-For` walk, and the one warning when none is set
//! but the traffic looks proxied.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// How many requests in a row from one loopback or private address (and nowhere else) make
/// it look like a proxy.
pub const PROXY_STREAK: u32 = 1_000;

/// `--trusted-proxy` values: `10.0.0.5`, `10.0.0.0/24`, `::1`, `fd00::/8`.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>()
        .map(|ip| IpNet::from(ip.to_canonical()))
        .map_err(|_| format!("{s:?} is not an IP address or network (a.b.c.d, a.b.c.d/n, IPv6)"))
}

/// The trusted proxies, and the watch for proxied traffic when there are none.
#[derive(Debug, Default)]
pub struct Proxies {
    nets: Vec<IpNet>,
    warned: AtomicBool,
    /// The last loopback/private peer seen (a hash), and how many requests in a row came
    /// from it.
    last: AtomicU64,
    streak: AtomicU32,
}

impl Proxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Proxies {
            nets,
            ..Default::default()
        }
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request from `peer`: the peer itself, unless it is a
    /// trusted proxy; then the rightmost `X-Forwarded-For` hop that is not one (hops left of
    /// it were written by the client and are never believed).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if self.nets.is_empty() {
            self.watch(peer, headers);
            return peer;
        }
        if !self.trusts(peer) {
            return peer;
        }
        self.forwarded(headers).unwrap_or(peer)
    }

    /// Walks `X-Forwarded-For` from the right (the hop nearest to us), skipping trusted
    /// proxies. An entry that is not an address stops the walk: what lies left of it cannot
    /// be trusted.
    fn forwarded(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            let ip = hop.parse::<IpAddr>().ok()?.to_canonical();
            if !self.trusts(ip) {
                return Some(ip);
            }
        }
        None
    }

    /// No trusted proxy is set: warn once if requests look proxied (a forwarding header from
    /// a loopback or private peer, or a long run of requests from one such peer), since the
    /// per-address limits would then count everyone behind the proxy as one client. After
    /// the warning, one relaxed load per request.
    fn watch(&self, peer: IpAddr, headers: &HeaderMap) {
        if self.warned.load(Ordering::Relaxed) || !looks_like_a_proxy(peer) {
            return;
        }
        let why = if headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded") {
            "sent a forwarding header (X-Forwarded-For or Forwarded)"
        } else {
            let key = hash(peer);
            let n = if self.last.swap(key, Ordering::Relaxed) == key {
                self.streak.fetch_add(1, Ordering::Relaxed) + 1
            } else {
                self.streak.store(1, Ordering::Relaxed);
                1
            };
            if n < PROXY_STREAK {
                return;
            }
            "sent the last 1,000 requests, and no other address sent any"
        };
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                proxy = %peer,
                "{peer}, a loopback or private address, {why}: it looks like a proxy or load \
                 balancer, and no --trusted-proxy is set. Every per-address limit (the \
                 failed-login throttle, the sign-up, refresh, password and mail rate limits) \
                 and the audit log then see all clients behind it as one. Set --trusted-proxy \
                 to its address or network so the client's address is read from \
                 X-Forwarded-For (docs/deploy.md)."
            );
        }
    }

    /// Has the warning been logged? (Tests.)
    pub fn warned(&self) -> bool {
        self.warned.load(Ordering::Relaxed)
    }
}

fn looks_like_a_proxy(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
        }
    }
}

fn hash(ip: IpAddr) -> u64 {
    // FNV-1a over the address bytes, plus one so no address hashes to the initial 0.
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        })
        .wrapping_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static(v));
        h
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let p = Proxies::new(vec![
            parse_net("10.0.0.0/24").unwrap(),
            parse_net("::1").unwrap(),
        ]);
        let lb: IpAddr = "10.0.0.7".parse().unwrap();
        // A client that writes its own header cannot choose its address.
        assert_eq!(
            p.client(lb, &xff("6.6.6.6, 5.6.7.8, 10.0.0.3")),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
        // Garbage left of the real hop does not matter; garbage at it stops the walk.
        assert_eq!(
            p.client(lb, &xff("garbage, 5.6.7.8")),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
        assert_eq!(p.client(lb, &xff("5.6.7.8, garbage")), lb);
        // Only proxies: the peer.
        assert_eq!(p.client(lb, &xff("10.0.0.1")), lb);
        // Not from a trusted peer: the header is ignored.
        let outsider: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(p.client(outsider, &xff("1.2.3.4")), outsider);
        // IPv4-mapped IPv6 peers are their IPv4 address.
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(
            p.client(mapped, &xff("5.6.7.8")),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
        assert!(
            !p.warned(),
            "trusted proxies are set: nothing to warn about"
        );
    }

    #[test]
    fn networks_and_addresses_parse_and_garbage_is_refused() {
        assert!(parse_net("10.0.0.1").is_ok());
        assert!(parse_net("10.1.2.3/8")
            .unwrap()
            .contains(&"10.200.0.1".parse::<IpAddr>().unwrap()));
        assert!(parse_net("fd00::/8").is_ok());
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy.internal").is_err());
    }

    #[test]
    fn proxied_traffic_without_a_trusted_proxy_is_warned_about_once() {
        let p = Proxies::default();
        let public: IpAddr = "203.0.113.9".parse().unwrap();
        let private: IpAddr = "10.0.0.7".parse().unwrap();
        p.client(public, &xff("1.2.3.4"));
        assert!(!p.warned(), "a public peer is a client, header or not");
        p.client(private, &HeaderMap::new());
        assert!(!p.warned());
        p.client(private, &xff("1.2.3.4"));
        assert!(p.warned(), "a forwarding header from a private peer");

        let p = Proxies::default();
        for _ in 0..PROXY_STREAK - 1 {
            p.client(private, &HeaderMap::new());
        }
        assert!(!p.warned());
        p.client(public, &HeaderMap::new()); // another client breaks nothing: publics don't count
        p.client("10.0.0.8".parse().unwrap(), &HeaderMap::new()); // another private peer does
        for _ in 0..PROXY_STREAK - 1 {
            p.client(private, &HeaderMap::new());
        }
        assert!(
            !p.warned(),
            "the run was broken by a second private address"
        );
        p.client(private, &HeaderMap::new());
        assert!(p.warned(), "1,000 in a row from one private address");
    }
}
