//! Server-side request forgery: which addresses a webhook may never reach
//! ([`refused`], pure), and the resolution of a webhook's host into the one
//! address it is sent to ([`resolve`]). The worker connects to the address
//! checked here, never to one resolved again (reqwest's `resolve` pins it),
//! so a name that answers a public address to the check and a private one
//! to the connection cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an address is refused, or `None` for a public one.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            // An IPv4 address written as IPv6 is judged as IPv4.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            refused_v6(v6)
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if ip == Ipv4Addr::new(169, 254, 169, 254) {
        "cloud metadata"
    } else if ip.is_unspecified() || a == 0 {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if a == 100 && (64..128).contains(&b) {
        "carrier-grade NAT"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_broadcast() || a >= 240 {
        "reserved"
    } else if a == 192 && b == 0 && ip.octets()[2] == 0 {
        "IETF protocol assignments"
    } else if a == 198 && (b == 18 || b == 19) {
        "benchmarking"
    } else if ip.is_documentation() {
        "documentation"
    } else {
        return None;
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        "cloud metadata"
    } else if first & 0xfe00 == 0xfc00 {
        "unique local"
    } else if first & 0xffc0 == 0xfe80 {
        "link-local"
    } else if first & 0xffc0 == 0xfec0 {
        "site-local"
    } else if ip.is_multicast() {
        "multicast"
    } else if first == 0x64 && ip.segments()[1] == 0xff9b {
        // NAT64: the embedded IPv4 address decides.
        let [.., c, d] = ip.segments();
        let v4 = Ipv4Addr::new((c >> 8) as u8, c as u8, (d >> 8) as u8, d as u8);
        return refused_v4(v4);
    } else if first == 0x2002 {
        // 6to4: the embedded IPv4 address decides.
        let [_, b, c, ..] = ip.segments();
        let v4 = Ipv4Addr::new((b >> 8) as u8, b as u8, (c >> 8) as u8, c as u8);
        return refused_v4(v4);
    } else if first == 0x2001 && ip.segments()[1] == 0xdb8 {
        "documentation"
    } else if ip.to_ipv4().is_some() && ip.segments()[..6] == [0; 6] {
        // IPv4-compatible (deprecated) ::a.b.c.d.
        "IPv4-compatible"
    } else {
        return None;
    })
}

/// Why a host was not resolved to a callable address.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot resolve {host}: {error}")]
    Resolve { host: String, error: String },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("{host} resolves to {ip}, a {why} address the pod does not call")]
    Refused {
        host: String,
        ip: IpAddr,
        why: &'static str,
    },
}

/// The address to send to for `host:port`: the first one resolved, when
/// every resolved address is allowed (one refused address refuses the
/// host: a name with a private record is not trusted with the others).
pub async fn resolve(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<SocketAddr, TargetError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| TargetError::Resolve {
                host: host.to_owned(),
                error: e.to_string(),
            })?
            .collect(),
    };
    choose(host, &addrs, allow_private)
}

/// [`resolve`]'s decision over the addresses found, pure.
pub fn choose(
    host: &str,
    addrs: &[SocketAddr],
    allow_private: bool,
) -> Result<SocketAddr, TargetError> {
    let first = *addrs.first().ok_or_else(|| TargetError::NoAddress {
        host: host.to_owned(),
    })?;
    if !allow_private {
        for addr in addrs {
            if let Some(why) = refused(addr.ip()) {
                return Err(TargetError::Refused {
                    host: host.to_owned(),
                    ip: addr.ip(),
                    why,
                });
            }
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn internal_addresses_are_refused() {
        for (addr, why) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("10.0.0.1", "private"),
            ("172.16.5.4", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "reserved"),
            ("240.0.0.1", "reserved"),
            ("198.18.0.1", "benchmarking"),
            ("192.0.2.1", "documentation"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("fd00:ec2::254", "cloud metadata"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a00:1", "private"),
            ("2002:7f00:1::", "loopback"),
            ("2001:db8::1", "documentation"),
        ] {
            assert_eq!(refused(ip(addr)), Some(why), "{addr}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for addr in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "100.63.255.255",
            "169.253.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(refused(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn one_internal_record_refuses_the_host() {
        let public: SocketAddr = "93.184.216.34:443".parse().expect("addr");
        let private: SocketAddr = "10.0.0.7:443".parse().expect("addr");
        assert_eq!(
            choose("h", &[public], false).expect("public is allowed"),
            public
        );
        assert!(matches!(
            choose("h", &[public, private], false),
            Err(TargetError::Refused { .. })
        ));
        assert_eq!(
            choose("h", &[private, public], true).expect("dev allows it"),
            private
        );
        assert!(matches!(
            choose("h", &[], true),
            Err(TargetError::NoAddress { .. })
        ));
    }

    #[tokio::test]
    async fn ip_literals_are_not_looked_up() {
        let refused = resolve("[::1]", 443, false).await;
        assert!(matches!(
            refused,
            Err(TargetError::Refused {
                why: "loopback",
                ..
            })
        ));
        let allowed = resolve("127.0.0.1", 8080, true).await.expect("dev");
        assert_eq!(allowed, "127.0.0.1:8080".parse().expect("addr"));
    }
}
