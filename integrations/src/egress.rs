//! Where Steward may send requests on an MSP's behalf: vendor integrations and outbound
//! webhooks follow one rule.
//!
//! A URL an MSP admin enters is a request Steward will make from inside the deployment's
//! network, with a vendor credential or a signed payload attached. So a target must be `https`
//! and every address its name resolves to must be on the public internet — checked when the URL
//! is saved and again, against every resolved address, right before each request, which then
//! goes to exactly the addresses checked (a name that changes its answer in between cannot
//! redirect it), and redirects are never followed. Private, loopback and link-local targets
//! (the sandbox on the deployment's own listener, an on-premises Tactical RMM) are reachable
//! only through the deployment's allow-list ([`EgressPolicy::allowing`]), which its operator
//! sets in configuration; an allow-listed address may also be reached over plain `http`.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
    sync::Arc,
};

use ipnet::IpNet;
use url::Url;

/// The longest target URL accepted.
pub const MAX_URL: usize = 2048;

/// One allow-listed destination: an address or network, optionally on one port only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedTarget {
    network: IpNet,
    port: Option<u16>,
}

impl AllowedTarget {
    /// One address, on every port or one.
    #[must_use]
    pub fn address(ip: IpAddr, port: Option<u16>) -> Self {
        Self {
            network: IpNet::from(ip),
            port,
        }
    }

    fn admits(&self, address: SocketAddr) -> bool {
        self.network.contains(&canonical(address.ip()))
            && self.port.is_none_or(|port| port == address.port())
    }
}

impl FromStr for AllowedTarget {
    type Err = String;

    /// `10.0.0.0/8`, `fd00::/8`, `192.0.2.7`, `127.0.0.1:8080` or `[::1]:8080`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(network) = text.parse::<IpNet>() {
            return Ok(Self {
                network: network.trunc(),
                port: None,
            });
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self::address(ip, None));
        }
        if let Ok(socket) = text.parse::<SocketAddr>() {
            return Ok(Self::address(socket.ip(), Some(socket.port())));
        }
        Err(format!(
            "{text:?} is not an address, a network (CIDR) or an address with a port \
             (for example 10.0.0.0/8, 192.0.2.7 or 127.0.0.1:8080)"
        ))
    }
}

impl fmt::Display for AllowedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let single = self.network.prefix_len() == self.network.max_prefix_len();
        match (self.port, single) {
            (Some(port), _) => write!(f, "{}", SocketAddr::new(self.network.addr(), port)),
            (None, true) => write!(f, "{}", self.network.addr()),
            (None, false) => write!(f, "{}", self.network),
        }
    }
}

/// Why Steward will not send a request to a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("the URL is longer than {MAX_URL} characters")]
    TooLong,
    #[error("{0:?} is not a URL")]
    NotUrl(String),
    #[error("the URL must use https, not {0}")]
    Scheme(String),
    #[error("{0} is not on the deployment's allow-list of private addresses, so it must use https")]
    PlainHttp(String),
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error(
        "{host} is {address}, which is not a public address; private, loopback and link-local \
         targets must be on the deployment's allow-list (egress.allow)"
    )]
    NotPublic { host: String, address: SocketAddr },
    #[error("{host} does not resolve: {reason}")]
    Unresolvable { host: String, reason: String },
}

/// The deployment's rule for outbound requests (see the module documentation). Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allow: Arc<Vec<AllowedTarget>>,
}

/// A target that passed the rule: its URL and the addresses a request may go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTarget {
    pub url: Url,
    /// The host to pin to `addresses`, when the URL names a host rather than an address.
    pub domain: Option<String>,
    pub addresses: Vec<SocketAddr>,
}

impl EgressPolicy {
    /// Public https targets only: the safe default.
    #[must_use]
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Public https targets, and these private ones over https or http.
    #[must_use]
    pub fn allowing(allow: impl IntoIterator<Item = AllowedTarget>) -> Self {
        Self {
            allow: Arc::new(allow.into_iter().collect()),
        }
    }

    /// The allow-list.
    #[must_use]
    pub fn allowed(&self) -> &[AllowedTarget] {
        &self.allow
    }

    fn allow_listed(&self, address: SocketAddr) -> bool {
        self.allow.iter().any(|target| target.admits(address))
    }

    /// Checks a URL someone is saving: as [`EgressPolicy::check_url`], except that an `https`
    /// name that does not resolve yet is accepted (its DNS may be set up later; every request
    /// checks again). Returns the parsed URL.
    ///
    /// # Errors
    /// [`EgressError`] naming what is refused.
    pub async fn check_for_saving(&self, url: &str) -> Result<Url, EgressError> {
        let url = parse(url)?;
        match self.check_url(url.clone()).await {
            Ok(checked) => Ok(checked.url),
            Err(EgressError::Unresolvable { .. }) if url.scheme() == "https" => Ok(url),
            Err(refused) => Err(refused),
        }
    }

    /// Checks a URL and every address its host resolves to now, right before a request, which
    /// then goes to [`CheckedTarget::addresses`] only.
    ///
    /// # Errors
    /// [`EgressError`] naming what is refused.
    pub async fn check_url(&self, url: Url) -> Result<CheckedTarget, EgressError> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(EgressError::Scheme(other.to_owned())),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EgressError::Credentials);
        }
        let port = url.port_or_known_default().ok_or(EgressError::NoHost)?;
        let (domain, addresses) = match url.host() {
            None => return Err(EgressError::NoHost),
            Some(url::Host::Ipv4(ip)) => (None, vec![SocketAddr::new(IpAddr::V4(ip), port)]),
            Some(url::Host::Ipv6(ip)) => (None, vec![SocketAddr::new(IpAddr::V6(ip), port)]),
            Some(url::Host::Domain(domain)) => {
                let domain = domain.to_owned();
                let found = resolve(&domain, port).await?;
                (Some(domain), found)
            }
        };
        let host = url.host_str().unwrap_or_default().to_owned();
        for &address in &addresses {
            let allowed = self.allow_listed(address);
            if !allowed && !is_public(address.ip()) {
                return Err(EgressError::NotPublic { host, address });
            }
            if !https && !allowed {
                return Err(EgressError::PlainHttp(host));
            }
        }
        Ok(CheckedTarget {
            url,
            domain,
            addresses,
        })
    }
}

fn parse(url: &str) -> Result<Url, EgressError> {
    if url.len() > MAX_URL {
        return Err(EgressError::TooLong);
    }
    Url::parse(url.trim()).map_err(|_| EgressError::NotUrl(url.to_owned()))
}

async fn resolve(domain: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
    let unresolvable = |reason: String| EgressError::Unresolvable {
        host: domain.to_owned(),
        reason,
    };
    let found: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
        .await
        .map_err(|err| unresolvable(err.to_string()))?
        .collect();
    if found.is_empty() {
        return Err(unresolvable("no address".to_owned()));
    }
    Ok(found)
}

/// An IPv4 address written as IPv6 (mapped `::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Whether `ip` is on the public internet.
///
/// IPv4: not loopback, private (RFC 1918), link-local, shared (RFC 6598), "this network",
/// IETF protocol assignments, documentation, benchmarking, the 6to4 relay, multicast or reserved.
/// IPv6: global unicast (`2000::/3`) outside the special-purpose `2001::/23`, documentation
/// and benchmarking space; an IPv4 address carried inside IPv6 (IPv4-mapped, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`) is judged as that IPv4 address; everything else (loopback, unique local,
/// link-local, IPv4-compatible `::a.b.c.d`, multicast) is not public.
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = v6.segments();
    let embedded = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // NAT64 (RFC 6052): the IPv4 destination in the last 32 bits.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded(s[6], s[7]));
    }
    // 6to4 (RFC 3056): the IPv4 address of the relay in bits 16..48.
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let special_purpose = s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8);
    let documentation = (s[0] & 0xfff0) == 0x3ff0;
    global_unicast && !special_purpose && !documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn public_addresses_are_told_from_private_metadata_and_special_ones() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "2002:0808:0808::1",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(public)), "{public} is public");
        }
        for private in [
            "169.254.169.254",
            "10.0.0.5",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "192.0.2.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::a9fe:a9fe",
            "::127.0.0.1",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "100::1",
        ] {
            assert!(!is_public(ip(private)), "{private} is not public");
        }
    }

    #[test]
    fn allow_list_entries_parse_as_addresses_networks_and_ports() {
        let cases = [
            ("10.0.0.0/8", "10.1.2.3:443", true),
            ("10.0.0.0/8", "11.0.0.1:443", false),
            ("127.0.0.1:8080", "127.0.0.1:8080", true),
            ("127.0.0.1:8080", "127.0.0.1:5432", false),
            ("[::1]:8080", "[::1]:8080", true),
            ("192.0.2.7", "192.0.2.7:1", true),
            ("127.0.0.1", "[::ffff:127.0.0.1]:80", true),
        ];
        for (entry, address, admitted) in cases {
            let target: AllowedTarget = entry.parse().unwrap();
            assert_eq!(
                target.admits(address.parse().unwrap()),
                admitted,
                "{entry} admits {address}"
            );
        }
        assert_eq!(
            "127.0.0.1:8080"
                .parse::<AllowedTarget>()
                .unwrap()
                .to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            "10.1.0.0/8".parse::<AllowedTarget>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert!("localhost".parse::<AllowedTarget>().is_err());
        assert!("10.0.0.0/33".parse::<AllowedTarget>().is_err());
    }

    #[tokio::test]
    async fn only_public_https_targets_pass_without_an_allow_list() {
        let policy = EgressPolicy::public_only();
        let refused = [
            "http://169.254.169.254/latest/meta-data/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::ffff:169.254.169.254]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[::a9fe:a9fe]/",
            "https://[2002:a9fe:a9fe::1]/",
            "https://10.0.0.5:8500/",
            "https://localhost:5432/",
            "https://127.0.0.1/",
            "http://8.8.8.8/",
            "ftp://8.8.8.8/",
            "https://user:pw@8.8.8.8/",
            "not a url",
        ];
        for url in refused {
            assert!(
                policy.check_for_saving(url).await.is_err(),
                "{url} is refused"
            );
        }
        let checked = policy
            .check_url("https://8.8.8.8:8443/x".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(checked.addresses, ["8.8.8.8:8443".parse().unwrap()]);
        assert_eq!(checked.domain, None);
        assert!(matches!(
            policy.check_for_saving("https://localhost/").await,
            Err(EgressError::NotPublic { .. })
        ));
        // A name that does not resolve yet may be saved over https, never sent to.
        let unresolvable = "https://steward-egress-test.invalid/hook";
        assert!(policy.check_for_saving(unresolvable).await.is_ok());
        assert!(matches!(
            policy.check_url(unresolvable.parse().unwrap()).await,
            Err(EgressError::Unresolvable { .. })
        ));
        assert!(
            policy
                .check_for_saving("http://steward-egress-test.invalid/")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn allow_listed_private_targets_pass_over_http_too() {
        let policy = EgressPolicy::allowing(["127.0.0.1:8080".parse().unwrap()]);
        let checked = policy
            .check_url("http://127.0.0.1:8080/sandbox/okta/".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(checked.addresses, ["127.0.0.1:8080".parse().unwrap()]);
        assert!(matches!(
            policy.check_for_saving("http://127.0.0.1:5432/").await,
            Err(EgressError::NotPublic { .. })
        ));
        assert!(matches!(
            policy.check_for_saving("http://8.8.8.8/").await,
            Err(EgressError::PlainHttp(_))
        ));
    }
}
