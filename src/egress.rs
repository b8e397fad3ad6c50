//! Addresses no request of this tool may reach (issue 18, defect 1): link-local addresses and the
//! clouds' instance-metadata services, which answer anyone on a node with the node's or a pod's
//! cloud credentials. One rule for the trust decision (`analysis::trust`) and for the provider
//! HTTP client's resolver and redirects (`provider::vault::http`), so a host name that resolves
//! to such an address is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a host must never receive a credential, if it must not: link-local addresses and the
/// instance-metadata services of the clouds (which answer to anyone on the node).
pub fn never_contact(host: &str) -> Option<&'static str> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return never_contact_ip(ip);
    }
    const NAMES: &[&str] = &[
        "metadata.google.internal",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
    ];
    let h = h.trim_end_matches('.').to_ascii_lowercase();
    NAMES
        .contains(&h.as_str())
        .then_some("a cloud instance-metadata service")
}

/// The same rule for an address (also applied to every address a host name resolves to).
pub fn never_contact_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => never_contact_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return never_contact_v4(v4);
            }
            if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                return Some("a cloud instance-metadata service (AWS IMDS over IPv6)");
            }
            ((v6.segments()[0] & 0xffc0) == 0xfe80).then_some("a link-local address")
        }
    }
}

fn never_contact_v4(v4: Ipv4Addr) -> Option<&'static str> {
    if v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == Ipv4Addr::new(169, 254, 170, 2) {
        return Some("a cloud instance-metadata service");
    }
    if v4.is_link_local() {
        return Some("a link-local address");
    }
    if v4 == Ipv4Addr::new(100, 100, 100, 200) {
        return Some("a cloud instance-metadata service (Alibaba Cloud)");
    }
    if v4.is_unspecified() {
        return Some("the unspecified address");
    }
    None
}
