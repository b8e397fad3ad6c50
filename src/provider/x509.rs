//! The PEM a `kubernetes` provider store hands ESO (issue 15), checked as ESO and client-go check
//! it, without ever quoting it: `server.caBundle` (ESO's `esutils.base64decode`: the first PEM
//! block must be an X.509 certificate, else the bytes are base64-decoded once more and checked
//! again) and `auth.cert`'s client certificate and key (client-go's `tls.X509KeyPair`: the
//! certificate's PEM, a private key's PEM, and the key must be the certificate's). What is said
//! about them is their subject, issuer and expiry — public parts of a certificate — and a PEM
//! block's label, never its contents.

use jiff::Timestamp;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What a certificate says of itself, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// `CN=eso-reader, O=readers`.
    pub subject: String,
    /// `CN=kube-ca`.
    pub issuer: String,
    pub not_after: Option<Timestamp>,
}

/// The PEM label of a section kind, as written in `-----BEGIN …-----`.
fn label(kind: SectionKind) -> &'static str {
    match kind {
        SectionKind::Certificate => "CERTIFICATE",
        SectionKind::PublicKey => "PUBLIC KEY",
        SectionKind::RsaPrivateKey => "RSA PRIVATE KEY",
        SectionKind::PrivateKey => "PRIVATE KEY",
        SectionKind::EcPrivateKey => "EC PRIVATE KEY",
        SectionKind::Crl => "X509 CRL",
        SectionKind::Csr => "CERTIFICATE REQUEST",
        _ => "other",
    }
}

/// The first PEM section of `bytes`, when there is one.
fn first_section(bytes: &[u8]) -> Option<(SectionKind, Vec<u8>)> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes)
        .next()
        .and_then(Result::ok)
}

/// Does `der` parse as an X.509 certificate a TLS client could trust?
fn parses(der: &[u8]) -> bool {
    rustls::RootCertStore::empty()
        .add(CertificateDer::from(der.to_vec()))
        .is_ok()
}

/// `server.caBundle` once the JSON's base64 is decoded: the PEM ESO hands client-go, or why ESO
/// refuses it ("failed to decode ca bundle") — in words that never quote the bundle.
pub fn ca_bundle(decoded: &[u8]) -> Result<String, String> {
    let first = |bytes: &[u8]| -> Result<(), String> {
        match first_section(bytes) {
            None => Err("it holds no PEM block".to_string()),
            Some((SectionKind::Certificate, der)) if parses(&der) => Ok(()),
            Some((SectionKind::Certificate, _)) => {
                Err("its first PEM block does not parse as an X.509 certificate".to_string())
            }
            Some((kind, _)) => Err(format!(
                "its first PEM block is {} {}, not a CERTIFICATE",
                if matches!(
                    kind,
                    SectionKind::PrivateKey
                        | SectionKind::RsaPrivateKey
                        | SectionKind::EcPrivateKey
                ) {
                    "a private key:"
                } else {
                    "a"
                },
                label(kind)
            )),
        }
    };
    let why = match first(decoded) {
        Ok(()) => return Ok(String::from_utf8_lossy(decoded).into_owned()),
        Err(why) => why,
    };
    // ESO decodes once more: a bundle base64-encoded twice is accepted.
    use base64::Engine;
    let compact: Vec<u8> = decoded
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        if let Ok(again) = engine.decode(&compact)
            && first(&again).is_ok()
        {
            return Ok(String::from_utf8_lossy(&again).into_owned());
        }
    }
    Err(format!("server.caBundle is not a PEM certificate: {why}"))
}

/// A CA from `server.caProvider`, which ESO hands client-go as is: client-go's
/// `AppendCertsFromPEM` needs at least one PEM certificate that parses.
pub fn ca_any(bytes: &[u8]) -> Result<(), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.iter().any(|c| parses(c.as_ref())) {
        return Ok(());
    }
    Err(match (certs.is_empty(), first_section(bytes)) {
        (false, _) => "no PEM certificate in it parses as X.509".to_string(),
        (true, Some((kind, _))) => format!("it holds {}, no CERTIFICATE", label(kind)),
        (true, None) => "it holds no PEM block".to_string(),
    })
}

/// `auth.cert` as client-go loads it: the client certificate chain and its key, re-encoded as
/// one PEM identity for the HTTP client, and what the certificate says of itself. `Err` says
/// which of the two is unusable and why, without quoting either.
pub fn client_identity(cert: &[u8], key: &[u8]) -> Result<(Vec<u8>, CertSummary), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .filter_map(Result::ok)
        .collect();
    let Some(leaf) = certs.first() else {
        return Err(match first_section(cert) {
            Some((kind, _)) => format!(
                "clientCert is not a PEM certificate: it holds {}",
                label(kind)
            ),
            None => "clientCert is not a PEM certificate: it holds no PEM block".into(),
        });
    };
    let summary = summary(leaf.as_ref()).ok_or_else(|| {
        "clientCert is not a PEM certificate: it does not parse as X.509".to_string()
    })?;
    let private = PrivateKeyDer::from_pem_slice(key).map_err(|_| match first_section(key) {
        Some((kind, _)) => format!(
            "clientKey is not a PEM private key: it holds {}",
            label(kind)
        ),
        None => "clientKey is not a PEM private key: it holds no PEM block".into(),
    })?;
    let key_label = match &private {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    let provider = rustls::crypto::ring::default_provider();
    let key_der = private.secret_der().to_vec();
    if let Err(e) = rustls::sign::CertifiedKey::from_der(certs.clone(), private, &provider) {
        return Err(match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "clientKey is not the private key of clientCert ({})",
                summary.subject
            ),
            _ => "clientKey could not be loaded as a private key (an unsupported key type or \
                  a damaged key)"
                .to_string(),
        });
    }
    let mut pem = Vec::new();
    for c in &certs {
        pem.extend(encode("CERTIFICATE", c.as_ref()));
    }
    pem.extend(encode(key_label, &key_der));
    Ok((pem, summary))
}

fn encode(label: &str, der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n").into_bytes();
    for chunk in b64.as_bytes().chunks(64) {
        out.extend_from_slice(chunk);
        out.push(b'\n');
    }
    out.extend(format!("-----END {label}-----\n").into_bytes());
    out
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

/// Subject, issuer and notAfter of a DER certificate.
pub fn summary(der: &[u8]) -> Option<CertSummary> {
    let (SEQUENCE, cert, _) = tlv(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    // serialNumber, signature
    rest = tlv(rest)?.2;
    rest = tlv(rest)?.2;
    let (SEQUENCE, issuer, after) = tlv(rest)? else {
        return None;
    };
    let (SEQUENCE, validity, after) = tlv(after)? else {
        return None;
    };
    let (SEQUENCE, subject, _) = tlv(after)? else {
        return None;
    };
    let (_, _, validity_rest) = tlv(validity)?;
    let not_after = tlv(validity_rest).and_then(|(tag, t, _)| time(tag, t));
    Some(CertSummary {
        subject: name(subject)?,
        issuer: name(issuer)?,
        not_after,
    })
}

/// `CN=…, O=…` of a DER Name (other attributes left out); control characters dropped.
fn name(mut der: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !der.is_empty() {
        let (0x31, mut rdn, after) = tlv(der)? else {
            return None;
        };
        der = after;
        while !rdn.is_empty() {
            let (SEQUENCE, atv, after) = tlv(rdn)? else {
                return None;
            };
            rdn = after;
            let (0x06, oid, value) = tlv(atv)? else {
                return None;
            };
            let short = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                _ => continue,
            };
            let text = crate::sanitize::line(&String::from_utf8_lossy(tlv(value)?.1));
            parts.push(format!("{short}={text}"));
        }
    }
    Some(if parts.is_empty() {
        "(empty subject)".to_string()
    } else {
        parts.join(", ")
    })
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn time(tag: u8, t: &[u8]) -> Option<Timestamp> {
    let s = std::str::from_utf8(t).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if s.len() == 12 => {
            let yy: i16 = s[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        0x18 if s.len() == 14 => (s[..4].parse().ok()?, &s[4..]),
        _ => return None,
    };
    let n = |i: usize| rest.get(i..i + 2)?.parse::<i8>().ok();
    jiff::civil::DateTime::new(year, n(0)?, n(2)?, n(4)?, n(6)?, n(8)?, 0)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
        let mut p =
            rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "test-ca");
        rcgen::CertifiedIssuer::self_signed(
            p,
            rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn client(ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>) -> (String, String) {
        let mut p =
            rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "eso-reader");
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "readers");
        p.not_after = rcgen::date_time_ymd(2030, 6, 1);
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let cert = p.signed_by(&key, ca).unwrap_or_else(|e| panic!("{e}"));
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_ca_bundle_is_a_pem_certificate_once_or_twice_encoded() {
        use base64::Engine;
        let pem = ca().pem();
        assert_eq!(ca_bundle(pem.as_bytes()).as_deref(), Ok(pem.as_str()));
        // ESO decodes a doubly encoded bundle once more.
        let twice = base64::engine::general_purpose::STANDARD.encode(&pem);
        assert_eq!(ca_bundle(twice.as_bytes()).as_deref(), Ok(pem.as_str()));
    }

    #[test]
    fn near_misses_of_a_ca_bundle_are_named_without_their_contents() {
        let (_, key) = client(&ca());
        for (bytes, says) in [
            (b"not a certificate".to_vec(), "it holds no PEM block"),
            (
                key.clone().into_bytes(),
                "a private key: PRIVATE KEY, not a CERTIFICATE",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
                "does not parse as an X.509 certificate",
            ),
        ] {
            let e = ca_bundle(&bytes).err().unwrap_or_default();
            assert!(
                e.starts_with("server.caBundle is not a PEM certificate: "),
                "{e}"
            );
            assert!(e.contains(says), "{e}");
            assert!(!e.contains("BEGIN"), "{e}");
        }
    }

    #[test]
    fn a_ca_provider_needs_one_certificate_that_parses() {
        let pem = ca().pem();
        assert_eq!(ca_any(pem.as_bytes()), Ok(()));
        // Near misses: a key, nothing PEM at all.
        let (_, key) = client(&ca());
        assert_eq!(
            ca_any(key.as_bytes()),
            Err("it holds PRIVATE KEY, no CERTIFICATE".into())
        );
        assert_eq!(ca_any(b"ca.crt"), Err("it holds no PEM block".into()));
    }

    #[test]
    fn a_client_identity_is_the_certificate_and_its_own_key() {
        let ca = ca();
        let (cert, key) = client(&ca);
        let (pem, s) =
            client_identity(cert.as_bytes(), key.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.subject, "CN=eso-reader, O=readers");
        assert_eq!(s.issuer, "CN=test-ca");
        assert_eq!(
            s.not_after.map(|t| t.to_string()),
            Some("2030-06-01T00:00:00Z".to_string())
        );
        assert!(reqwest::Identity::from_pem(&pem).is_ok());
        // Near misses: another certificate's key, the two swapped, a key that is no PEM.
        let (_, other_key) = client(&ca);
        let e = client_identity(cert.as_bytes(), other_key.as_bytes())
            .err()
            .unwrap_or_default();
        assert!(
            e.starts_with("clientKey is not the private key of clientCert (CN=eso-reader"),
            "{e}"
        );
        let e = client_identity(key.as_bytes(), cert.as_bytes())
            .err()
            .unwrap_or_default();
        assert_eq!(
            e,
            "clientCert is not a PEM certificate: it holds PRIVATE KEY"
        );
        let e = client_identity(cert.as_bytes(), b"c2VjcmV0")
            .err()
            .unwrap_or_default();
        assert_eq!(
            e,
            "clientKey is not a PEM private key: it holds no PEM block"
        );
    }
}
