//! Client-certificate authentication, as kube-apiserver does it with `--client-ca-file`.
//!
//! The TLS layer asks every client for a certificate but accepts the handshake with any (or none),
//! as kube-apiserver's `tls.RequestClientCert` does; the certificate is then verified here, in the
//! authenticator (k8s.io/apiserver/pkg/authentication/request/x509): it must chain to the client
//! CA, be within its validity and be good for client auth. A verified certificate's subject
//! CommonName is the user name and its Organization entries the groups (`CommonNameUserConversion`);
//! one without a CommonName is no identity at all. A certificate that does not verify is an
//! authentication error: 401, not anonymous (the anonymous authenticator only stands in when no
//! authenticator saw a credential). Like kubeadm, the client CA is the cluster CA.

use std::collections::BTreeMap;
use std::sync::Arc;

use rcgen::{
    CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;

use super::UserInfo;
use super::authn::GROUP_AUTHENTICATED;

/// A client certificate and its private key, PEM (the key PKCS#8), as a kubeconfig or an ESO
/// `auth.cert` Secret holds them.
#[derive(Clone)]
pub struct ClientCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ClientCert {
    // The key is a credential: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert").finish_non_exhaustive()
    }
}

/// How a client certificate should be made.
#[derive(Debug, Clone, Default)]
pub struct ClientCertSpec<'a> {
    /// The subject CommonName: the user name.
    pub user: &'a str,
    /// Organization entries: the groups (at most two: rcgen keeps one value per attribute type,
    /// so the second is written under the same OID as a custom type).
    pub groups: &'a [&'a str],
    /// Already expired (valid 2020-01-01 to 2021-01-01).
    pub expired: bool,
    /// Good for server auth only (extendedKeyUsage without clientAuth).
    pub server_only: bool,
}

/// The client CA of one API server: signs client certificates and verifies presented ones.
pub struct ClientCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    verifier: Arc<dyn ClientCertVerifier>,
}

impl std::fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCa").finish_non_exhaustive()
    }
}

/// What a request's TLS connection presented, as the authenticator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedCertificate {
    /// Verified against the client CA: its user (`None`: no CommonName, which names nobody).
    Verified(Option<UserInfo>),
    /// Presented, but not verified (another CA, expired, not for client auth): why, in the
    /// words kube-apiserver logs it.
    Rejected(String),
}

impl ClientCa {
    /// A CA that verifies with `issuer` as its only trust anchor.
    pub fn new(issuer: CertifiedIssuer<'static, KeyPair>) -> anyhow::Result<ClientCa> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(issuer.der().clone())?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()?;
        Ok(ClientCa { issuer, verifier })
    }

    /// A throwaway CA of its own (`name` its CommonName): what signs "a certificate from another
    /// CA" in tests.
    pub fn generate(name: &str) -> anyhow::Result<ClientCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ClientCa::new(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
    }

    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The verifier the TLS layer delegates handshake signatures and CA hints to.
    pub(crate) fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.verifier.clone()
    }

    /// A client certificate signed by this CA.
    pub fn issue(&self, spec: &ClientCertSpec<'_>) -> anyhow::Result<ClientCert> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, spec.user);
        let org = [
            DnType::OrganizationName,
            DnType::CustomDnType(vec![2, 5, 4, 10]),
        ];
        anyhow::ensure!(spec.groups.len() <= org.len(), "at most two groups");
        for (ty, group) in org.into_iter().zip(spec.groups) {
            params.distinguished_name.push(ty, *group);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if spec.server_only {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        if spec.expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The identity a presented chain (end entity first) proves, as kube-apiserver's x509
    /// authenticator decides it; `None` when nothing was presented.
    pub fn check(&self, chain: &[CertificateDer<'_>]) -> Option<PresentedCertificate> {
        let (end, intermediates) = chain.split_first()?;
        if let Err(e) = self
            .verifier
            .verify_client_cert(end, intermediates, UnixTime::now())
        {
            return Some(PresentedCertificate::Rejected(format!(
                "verifying certificate failed: {e}"
            )));
        }
        let Some((cn, orgs)) = subject(end.as_ref()) else {
            return Some(PresentedCertificate::Rejected(
                "the certificate's subject could not be read".into(),
            ));
        };
        let Some(cn) = cn.filter(|c| !c.is_empty()) else {
            return Some(PresentedCertificate::Verified(None));
        };
        let mut groups = orgs;
        groups.push(GROUP_AUTHENTICATED.to_string());
        Some(PresentedCertificate::Verified(Some(UserInfo {
            username: cn,
            uid: String::new(),
            groups,
            extra: BTreeMap::new(),
        })))
    }
}

/// One DER TLV: (tag, contents, the rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

/// The subject's CommonName and Organization entries of a DER certificate.
fn subject(der: &[u8]) -> Option<(Option<String>, Vec<String>)> {
    let (SEQUENCE, cert, _) = tlv(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version, when present.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    // serialNumber, signature, issuer, validity, then the subject.
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    let (SEQUENCE, mut name, _) = tlv(rest)? else {
        return None;
    };
    let mut cn = None;
    let mut orgs = Vec::new();
    while !name.is_empty() {
        let (SET, mut rdn, after) = tlv(name)? else {
            return None;
        };
        name = after;
        while !rdn.is_empty() {
            let (SEQUENCE, atv, after) = tlv(rdn)? else {
                return None;
            };
            rdn = after;
            let (OID, oid, value) = tlv(atv)? else {
                return None;
            };
            // Any string type (UTF8String, PrintableString, …): its bytes.
            let text = String::from_utf8_lossy(tlv(value)?.1).into_owned();
            match oid {
                OID_COMMON_NAME => cn = Some(text),
                OID_ORGANIZATION => orgs.push(text),
                _ => {}
            }
        }
    }
    Some((cn, orgs))
}

/// PEM certificates, DER-decoded (for callers holding a Secret's `tls.crt`).
pub fn certificates_from_pem(pem: &str) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> ClientCa {
        ClientCa::generate("test-ca").unwrap_or_else(|e| panic!("{e}"))
    }

    fn issue(ca: &ClientCa, spec: ClientCertSpec<'_>) -> Vec<CertificateDer<'static>> {
        let c = ca.issue(&spec).unwrap_or_else(|e| panic!("{e}"));
        certificates_from_pem(&c.cert_pem)
    }

    #[test]
    fn a_verified_certificate_is_its_common_name_and_organizations() {
        let ca = ca();
        let chain = issue(
            &ca,
            ClientCertSpec {
                user: "eso-reader",
                groups: &["readers", "platform"],
                ..Default::default()
            },
        );
        let Some(PresentedCertificate::Verified(Some(user))) = ca.check(&chain) else {
            panic!("{:?}", ca.check(&chain));
        };
        assert_eq!(user.username, "eso-reader");
        assert_eq!(
            user.groups,
            vec!["readers", "platform", GROUP_AUTHENTICATED]
        );
    }

    #[test]
    fn near_misses_are_rejected_or_nobody() {
        let ca = ca();
        let other = ClientCa::generate("other-ca").unwrap_or_else(|e| panic!("{e}"));
        let plain = ClientCertSpec {
            user: "eso-reader",
            ..Default::default()
        };
        // Another CA, expired, or good for server auth only: rejected (401).
        for (what, chain) in [
            ("another CA", issue(&other, plain.clone())),
            (
                "expired",
                issue(
                    &ca,
                    ClientCertSpec {
                        expired: true,
                        ..plain.clone()
                    },
                ),
            ),
            (
                "server auth only",
                issue(
                    &ca,
                    ClientCertSpec {
                        server_only: true,
                        ..plain.clone()
                    },
                ),
            ),
        ] {
            assert!(
                matches!(ca.check(&chain), Some(PresentedCertificate::Rejected(_))),
                "{what}: {:?}",
                ca.check(&chain)
            );
        }
        // No CommonName: verified, but nobody.
        let nameless = issue(&ca, ClientCertSpec::default());
        assert_eq!(
            ca.check(&nameless),
            Some(PresentedCertificate::Verified(None))
        );
        // Nothing presented.
        assert_eq!(ca.check(&[]), None);
    }

    #[test]
    fn der_lengths_in_long_form_parse_and_truncation_does_not() {
        assert_eq!(
            tlv(&[0x30, 0x81, 0x02, 0x05, 0x00, 0xff]),
            Some((0x30, &[0x05, 0x00][..], &[0xff][..]))
        );
        assert_eq!(tlv(&[0x30, 0x05, 0x00]), None);
        assert_eq!(subject(&[0x30, 0x00]), None);
    }
}
