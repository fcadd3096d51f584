//! `target-http` is the SSRF-safe outbound HTTP client every connector talks to its target
//! app with. A tenant admin types the target's URL, and a tenant admin is a customer, so a URL
//! must not reach our own loopback, the private network or the cloud metadata address, unless
//! the operator allows private targets (`SCIMBRIDGE_ALLOW_PRIVATE_TARGETS=true`, for tests and
//! local demos). The policy lives here, once:
//!
//! - [`check_url`]: the text of the URL: https only; a literal address (IPv4, IPv6, the
//!   IPv4-mapped `::ffff:a.b.c.d` and NAT64 `64:ff9b::a.b.c.d` forms included) must not be
//!   forbidden ([`forbidden_reason`]); names such as `localhost` or `*.internal` are refused.
//! - [`client_for`]: a `reqwest::Client` for one target base URL, built after [`check_url`],
//!   whose DNS resolver ([`GuardedResolver`]) drops every forbidden address a name resolves
//!   to, at connect time, so a public name that resolves to loopback (`127.0.0.1.nip.io`) or
//!   is re-pointed later cannot reach in. Redirects are off, and proxies from the environment
//!   are ignored (through a proxy, the proxy would resolve the name, not us).
//!
//! A literal address in a URL is not resolved, so reqwest never asks the resolver about it:
//! that is why a client is built for one base URL, checked first, and requests stay under it.
//! This crate knows no connector and no web framework.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Client, Url};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Whether targets may be private: the operator's `SCIMBRIDGE_ALLOW_PRIVATE_TARGETS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Allow http, and loopback / private / link-local addresses (tests, local demos).
    pub allow_private: bool,
}

impl Policy {
    /// The production policy: https only, public addresses only.
    pub const STRICT: Policy = Policy {
        allow_private: false,
    };
    /// Tests and local demos: anything http(s).
    pub const ALLOW_PRIVATE: Policy = Policy {
        allow_private: true,
    };
}

/// Why a target URL or connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("'{url}' is not a valid URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("'{url}' must use https")]
    NotHttps { url: String },
    #[error("'{url}': the scheme must be https, not {scheme}")]
    Scheme { url: String, scheme: String },
    #[error(
        "'{url}' points to {ip} ({reason}), which is not allowed: targets must be public addresses"
    )]
    ForbiddenAddress {
        url: String,
        ip: IpAddr,
        reason: &'static str,
    },
    #[error("'{url}' names a local host ({host}), which is not allowed")]
    ForbiddenName { url: String, host: String },
    #[error("HTTP client: {0}")]
    Client(String),
}

/// A connection refused at connect time: `host` resolved only to forbidden addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves only to addresses that are not allowed for targets ({})", list(.refused))]
pub struct Refused {
    pub host: String,
    /// Each address the name resolved to, and why it is forbidden.
    pub refused: Vec<(IpAddr, &'static str)>,
}

fn list(refused: &[(IpAddr, &'static str)]) -> String {
    refused
        .iter()
        .map(|(ip, why)| format!("{ip}: {why}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `ip` must not be a target, or None for a public address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "\"this network\" / unspecified",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private network",
        (169, 254, _) => "link-local (the cloud metadata address is 169.254.169.254)",
        (100, 64..=127, _) => "carrier-grade NAT (shared address space)",
        (192, 0, 0) => "IETF protocol assignments",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved / broadcast",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // Forms that carry an IPv4 address: judge the address they lead to.
    let embedded = |reason_if_public: Option<&'static str>| {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        forbidden_v4(v4)
            .map(|_| reason_of_embedded(s))
            .or(reason_if_public)
    };
    match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => Some("unspecified"),
        [0, 0, 0, 0, 0, 0, 0, 1] => Some("loopback"),
        // ::ffff:a.b.c.d, IPv4-mapped: connects to a.b.c.d.
        [0, 0, 0, 0, 0, 0xffff, _, _] => embedded(None),
        // ::a.b.c.d, IPv4-compatible (deprecated): never a legitimate target.
        [0, 0, 0, 0, 0, 0, _, _] => Some("IPv4-compatible (deprecated)"),
        // 64:ff9b::a.b.c.d, the NAT64 well-known prefix: the gateway connects to a.b.c.d.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => embedded(None),
        [0x64, 0xff9b, 1, ..] => Some("local-use NAT64"),
        [0x100, 0, 0, 0, ..] => Some("discard-only"),
        [0x2001, 0, ..] => Some("Teredo"),
        [0x2001, 0xdb8, ..] => Some("documentation"),
        // 2002:aabb:ccdd::, 6to4: the relay connects to aa.bb.cc.dd.
        [0x2002, hi, lo, ..] => {
            let v4 = Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
            forbidden_v4(v4).map(|_| "6to4 of a forbidden IPv4 address")
        }
        [x, ..] if x & 0xfe00 == 0xfc00 => Some("unique-local"),
        [x, ..] if x & 0xffc0 == 0xfe80 => Some("link-local"),
        [x, ..] if x & 0xffc0 == 0xfec0 => Some("site-local (deprecated)"),
        [x, ..] if x & 0xff00 == 0xff00 => Some("multicast"),
        _ => None,
    }
}

fn reason_of_embedded(s: [u16; 8]) -> &'static str {
    if s[0] == 0x64 {
        "NAT64 of a forbidden IPv4 address"
    } else {
        "IPv4-mapped form of a forbidden IPv4 address"
    }
}

/// Host names that always mean this machine or the local network.
fn forbidden_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h.is_empty()
        || h == "localhost"
        || [
            ".localhost",
            ".local",
            ".internal",
            ".home.arpa",
            ".localdomain",
        ]
        .iter()
        .any(|suffix| h.ends_with(suffix))
}

/// Checks a target URL's text against `policy`; returns it parsed.
pub fn check_url(url: &str, policy: Policy) -> Result<Url, TargetError> {
    let parsed = Url::parse(url.trim()).map_err(|e| TargetError::InvalidUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if policy.allow_private {
        return match parsed.scheme() {
            "https" | "http" => Ok(parsed),
            other => Err(TargetError::Scheme {
                url: url.to_string(),
                scheme: other.to_string(),
            }),
        };
    }
    if parsed.scheme() != "https" {
        return Err(TargetError::NotHttps {
            url: url.to_string(),
        });
    }
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(d)) => {
            if forbidden_name(d) {
                return Err(TargetError::ForbiddenName {
                    url: url.to_string(),
                    host: d.to_string(),
                });
            }
            return Ok(parsed);
        }
        None => {
            return Err(TargetError::InvalidUrl {
                url: url.to_string(),
                reason: "it has no host".into(),
            });
        }
    };
    match forbidden_reason(ip) {
        Some(reason) => Err(TargetError::ForbiddenAddress {
            url: url.to_string(),
            ip,
            reason,
        }),
        None => Ok(parsed),
    }
}

/// A `reqwest::Client` for the target at `base`, under `policy`: the URL is checked, names
/// resolve through [`GuardedResolver`] with the system resolver, redirects are off and
/// environment proxies ignored. Every connector builds its client here.
pub fn client_for(base: &str, policy: Policy) -> Result<Client, TargetError> {
    client_with_lookup(base, policy, Arc::new(SystemLookup))
}

/// [`client_for`] with another name lookup (tests inject one).
pub fn client_with_lookup(
    base: &str,
    policy: Policy,
    lookup: Arc<dyn Lookup>,
) -> Result<Client, TargetError> {
    check_url(base, policy)?;
    Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver::new(lookup, policy)))
        .build()
        .map_err(|e| TargetError::Client(e.to_string()))
}

/// A transport failure (connect, timeout, reset) talking to `target` while doing `what`:
/// transient, except a connection the outbound policy refused (the name resolves only to
/// forbidden addresses), which retrying cannot fix.
pub fn transport_error(
    e: &reqwest::Error,
    what: &str,
    target: &str,
) -> connector_api::ConnectorError {
    use connector_api::ConnectorError;
    if let Some(refused) = refusal(e) {
        return ConnectorError::Permanent(format!("{what}: {refused}"));
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    ConnectorError::Transient(format!("{what}: {kind} to {target}"))
}

/// The connect-time refusal behind a failed request, if that is why it failed.
pub fn refusal(e: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some(r);
        }
        source = err.source();
    }
    None
}

/// The future a [`Lookup`] returns.
pub type LookupFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Resolves a host name to addresses.
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The system resolver (`getaddrinfo` on tokio's blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_string();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

impl<F, Fut> Lookup for F
where
    F: Fn(String) -> Fut + Send + Sync,
    Fut: Future<Output = io::Result<Vec<IpAddr>>> + Send + 'static,
{
    fn lookup(&self, host: &str) -> LookupFuture {
        Box::pin(self(host.to_string()))
    }
}

/// A reqwest DNS resolver that drops every forbidden address a name resolves to (unless the
/// policy allows private targets); with nothing left, the connection fails with [`Refused`].
#[derive(Clone)]
pub struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
    policy: Policy,
}

impl std::fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedResolver")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl GuardedResolver {
    pub fn new(lookup: Arc<dyn Lookup>, policy: Policy) -> Self {
        Self { lookup, policy }
    }

    /// The addresses `host` may be reached at (port 0: reqwest puts the URL's port in).
    pub async fn resolve_host(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let ips = self
            .lookup
            .lookup(host)
            .await
            .map_err(ResolveError::Lookup)?;
        if self.policy.allow_private {
            return Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect());
        }
        let (refused, allowed): (Vec<_>, Vec<_>) = ips
            .into_iter()
            .map(|ip| (ip, forbidden_reason(ip)))
            .partition(|(_, why)| why.is_some());
        if allowed.is_empty() {
            return Err(ResolveError::Refused(Refused {
                host: host.to_string(),
                refused: refused
                    .into_iter()
                    .filter_map(|(ip, why)| why.map(|w| (ip, w)))
                    .collect(),
            }));
        }
        Ok(allowed
            .into_iter()
            .map(|(ip, _)| SocketAddr::new(ip, 0))
            .collect())
    }
}

/// Why a name could not be resolved to a usable address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("could not resolve the name: {0}")]
    Lookup(#[source] io::Error),
    #[error(transparent)]
    Refused(Refused),
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            match this.resolve_host(name.as_str()).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                // The refusal itself is the error, so `refusal` finds it in the chain.
                Err(ResolveError::Refused(r)) => Err(Box::new(r) as _),
                Err(e) => Err(Box::new(e) as _),
            }
        })
    }
}

#[cfg(test)]
mod tests;
