//! The few JWT operations the fake needs, kept tiny and dependency-free on purpose: read the claims of
//! a client assertion or a Kubernetes ServiceAccount token, check an RS256/PS256 signature against a
//! registered certificate or an RS256/ES256 one against an OIDC issuer's JWK, and mint / check the
//! fake's own HS256 access tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts with JSON header and claims.
    Malformed,
    BadSignature,
}

/// A decoded (not yet verified) compact JWS.
#[derive(Debug)]
pub struct Jwt {
    pub header: Value,
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    pub fn claim_i64(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(Value::as_i64)
    }

    /// `aud` may be a string or an array of strings.
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Checks the signature with the public key of `cert_der`, using the algorithm in the header.
    pub fn verify_with_certificate(&self, cert_der: &[u8]) -> Result<(), JwtError> {
        let der = CertificateDer::from(cert_der);
        let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| JwtError::BadSignature)?;
        let alg = match self.header_str("alg") {
            Some("RS256") => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            Some("PS256") => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            _ => return Err(JwtError::BadSignature),
        };
        cert.verify_signature(alg, self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwtError::BadSignature)
    }
}

impl Jwt {
    /// Checks the signature with one key of an OIDC issuer's JWK Set: RS256 with an RSA key
    /// (`n`, `e`) or ES256 with a P-256 key (`x`, `y`), the algorithms Kubernetes signs
    /// service-account tokens with. The header's `alg` must be the key's.
    pub fn verify_with_jwk(&self, jwk: &Value) -> Result<(), JwtError> {
        let field = |name: &str| {
            jwk.get(name)
                .and_then(Value::as_str)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .ok_or(JwtError::BadSignature)
        };
        let input = self.signing_input.as_bytes();
        match (
            self.header_str("alg"),
            jwk.get("kty").and_then(Value::as_str),
        ) {
            (Some("RS256"), Some("RSA")) => {
                let key = ring::signature::RsaPublicKeyComponents {
                    n: field("n")?,
                    e: field("e")?,
                };
                key.verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    input,
                    &self.signature,
                )
                .map_err(|_| JwtError::BadSignature)
            }
            (Some("ES256"), Some("EC"))
                if jwk.get("crv").and_then(Value::as_str) == Some("P-256") =>
            {
                let mut point = vec![4u8];
                point.extend(field("x")?);
                point.extend(field("y")?);
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    point,
                )
                .verify(input, &self.signature)
                .map_err(|_| JwtError::BadSignature)
            }
            _ => Err(JwtError::BadSignature),
        }
    }
}

pub fn decode(token: &str) -> Result<Jwt, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let json = |part: &str| -> Result<Value, JwtError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwtError::Malformed)?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
        if value.is_object() {
            Ok(value)
        } else {
            Err(JwtError::Malformed)
        }
    };
    Ok(Jwt {
        header: json(h)?,
        claims: json(c)?,
        signing_input: format!("{h}.{c}"),
        signature: URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?,
    })
}

/// Mints an HS256 JWT; the fake's access tokens look like Entra's (a JWT with aud/iss/appid/oid/exp).
pub fn sign_hs256(claims: &Value, key: &hmac::Key) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{body}");
    let tag = hmac::sign(key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

pub fn verify_hs256(token: &str, key: &hmac::Key) -> Result<Jwt, JwtError> {
    let jwt = decode(token)?;
    if jwt.header_str("alg") != Some("HS256") {
        return Err(JwtError::BadSignature);
    }
    hmac::verify(key, jwt.signing_input.as_bytes(), &jwt.signature)
        .map_err(|_| JwtError::BadSignature)?;
    Ok(jwt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(byte: u8) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &[byte; 32])
    }

    #[test]
    fn hs256_round_trip_and_tamper() {
        let token = sign_hs256(&json!({"aud": "x", "exp": 5}), &key(1));
        let jwt = verify_hs256(&token, &key(1)).map_err(|e| format!("{e:?}"));
        assert_eq!(jwt.map(|j| j.claim_i64("exp")), Ok(Some(5)));
        assert_eq!(
            verify_hs256(&token, &key(2)).err(),
            Some(JwtError::BadSignature)
        );
        let forged = format!(
            "{}.{}.{}",
            token.split('.').next().unwrap_or_default(),
            URL_SAFE_NO_PAD.encode(r#"{"aud":"x","exp":9}"#),
            token.rsplit('.').next().unwrap_or_default()
        );
        assert_eq!(
            verify_hs256(&forged, &key(1)).err(),
            Some(JwtError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in ["", "a.b", "a.b.c.d", "!!.??.xx", "e30.W10.AA"] {
            assert_eq!(decode(bad).err(), Some(JwtError::Malformed), "{bad}");
        }
    }

    #[test]
    fn audience_may_be_string_or_array() {
        let h = URL_SAFE_NO_PAD.encode("{}");
        let one = decode(&format!(
            "{h}.{}.AA",
            URL_SAFE_NO_PAD.encode(r#"{"aud":"a"}"#)
        ));
        let many = decode(&format!(
            "{h}.{}.AA",
            URL_SAFE_NO_PAD.encode(r#"{"aud":["a","b"]}"#)
        ));
        assert_eq!(one.map(|j| j.audiences().len()), Ok(1));
        assert_eq!(many.map(|j| j.audiences().join(",")), Ok("a,b".to_owned()));
    }
}
