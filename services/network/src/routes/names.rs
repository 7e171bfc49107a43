//! Validated names and addresses: everything that reaches an `ip` or `nft`
//! command line goes through here first, because it comes from other services
//! and settings files and is treated as hostile.

use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;

use super::RouteError;

/// A network namespace name (as under `/run/netns/`): 1 to 64 characters of
/// ASCII letters, digits, `_`, `-` and `.`, not starting with `-` or `.` (so it
/// cannot be read as an option or a path component).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct NamespaceName(String);

impl TryFrom<String> for NamespaceName {
    type Error = RouteError;

    fn try_from(name: String) -> Result<Self, RouteError> {
        Self::new(name)
    }
}

impl NamespaceName {
    /// Checks `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, RouteError> {
        let name = name.into();
        check_name("namespace", &name, 64)?;
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NamespaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A network interface name: as a namespace name, at most 15 characters (the
/// kernel's `IFNAMSIZ` less the terminating NUL).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct InterfaceName(String);

impl TryFrom<String> for InterfaceName {
    type Error = RouteError;

    fn try_from(name: String) -> Result<Self, RouteError> {
        Self::new(name)
    }
}

impl InterfaceName {
    /// Checks `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, RouteError> {
        let name = name.into();
        check_name("interface", &name, 15)?;
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_name(kind: &'static str, name: &str, max_len: usize) -> Result<(), RouteError> {
    let refuse = |reason| {
        Err(RouteError::InvalidName {
            kind,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("empty");
    }
    if name.len() > max_len {
        return refuse("too long");
    }
    if name.starts_with('-') || name.starts_with('.') {
        return refuse("starts with '-' or '.'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return refuse("only ASCII letters, digits, '_', '-' and '.' are allowed");
    }
    Ok(())
}

/// Refuses an address that cannot be a client's routed host address or a server's
/// next hop: unspecified, loopback, multicast, broadcast, link-local (only
/// meaningful on one link) and IPv4-mapped IPv6 (an IPv4 address in disguise).
pub fn check_rerouted_address(ip: IpAddr) -> Result<(), RouteError> {
    let refuse = |reason| Err(RouteError::UnusableAddress { ip, reason });
    if ip.is_unspecified() {
        return refuse("unspecified");
    }
    if ip.is_loopback() {
        return refuse("loopback");
    }
    if ip.is_multicast() {
        return refuse("multicast");
    }
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_broadcast() {
                return refuse("broadcast");
            }
            if v4.is_link_local() {
                return refuse("link-local");
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_unicast_link_local() {
                return refuse("link-local");
            }
            if v6.to_ipv4_mapped().is_some() {
                return refuse("IPv4-mapped");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_be_options_paths_or_shell_are_refused() {
        for bad in [
            "",
            "-n",
            "..",
            ".hidden",
            "a/b",
            "a b",
            "a;rm",
            "ns$(x)",
            "é",
            &"x".repeat(65),
        ] {
            assert!(NamespaceName::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(NamespaceName::new("ferry-router_1.a").is_ok());
        assert!(InterfaceName::new("veth-transit0").is_ok());
        assert!(InterfaceName::new("veth-transit-01").is_ok());
        assert!(InterfaceName::new("veth-transit-012").is_err());
    }

    #[test]
    fn only_unicast_global_addresses_are_accepted() {
        for bad in [
            "0.0.0.0",
            "127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "169.254.1.1",
            "::",
            "::1",
            "ff02::1",
            "fe80::1",
            "::ffff:192.0.2.1",
        ] {
            let ip: IpAddr = bad.parse().expect("test address");
            assert!(check_rerouted_address(ip).is_err(), "{bad} accepted");
        }
        for good in ["198.51.100.10", "10.0.2.2", "2001:db8::10", "fd00:2::2"] {
            let ip: IpAddr = good.parse().expect("test address");
            assert!(check_rerouted_address(ip).is_ok(), "{good} refused");
        }
    }
}
