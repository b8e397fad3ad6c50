//! ES256 JSON Web Tokens, signed and checked with `ring`.
//!
//! ServiceAccount tokens must be real JWTs: HashiCorp Vault / OpenBao's kubernetes auth backend parses
//! the token before it asks TokenReview, and only accepts RS*/ES* algorithms. ES256 (ECDSA P-256,
//! fixed-length r||s signatures) is what `ring` signs natively, so no RSA key generation is needed.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde_json::Value;

/// DER prefix of a SubjectPublicKeyInfo for an uncompressed P-256 point (id-ecPublicKey, prime256v1).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Why a token could not be read; the caller maps it to kube-apiserver's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON: not a JWT at all.
    Malformed,
    /// A JWT, but not signed by this key (or tampered with).
    BadSignature,
}

/// The signing key of one simulated API server.
#[derive(Clone)]
pub struct Signer {
    key: Arc<EcdsaKeyPair>,
    key_id: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A fresh P-256 key; `None` only if the operating system's random source fails.
    pub fn generate() -> Option<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).ok()?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .ok()?;
        // kube-apiserver's key id is the base64url SHA-256 of the public key's DER form.
        let digest =
            ring::digest::digest(&ring::digest::SHA256, &spki_der(key.public_key().as_ref()));
        let key_id = URL_SAFE_NO_PAD.encode(digest.as_ref());
        Some(Self {
            key: Arc::new(key),
            key_id,
            rng,
        })
    }

    /// `alg` ES256 compact JWS of `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = serde_json::json!({"alg": "ES256", "kid": self.key_id});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // Signing with a valid in-memory key only fails if the RNG fails; an unsigned token then
        // simply never verifies, which is the safe outcome.
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map(|s| URL_SAFE_NO_PAD.encode(s.as_ref()))
            .unwrap_or_default();
        format!("{signing_input}.{signature}")
    }

    /// The claims of a token this key signed.
    pub fn verify(&self, token: &str) -> Result<Value, JwtError> {
        let (header, claims, signature) = split(token)?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(JwtError::BadSignature);
        }
        let Some((signing_input, _)) = token.rsplit_once('.') else {
            return Err(JwtError::Malformed);
        };
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref())
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|_| JwtError::BadSignature)?;
        Ok(claims)
    }

    /// The JWK Set a cluster publishes at `/openid/v1/jwks` (service account issuer discovery): what
    /// an OIDC relying party such as Entra ID's workload identity federation verifies tokens with.
    pub fn jwks(&self) -> Value {
        // The public key is the uncompressed point 0x04 || x || y, 32 bytes each.
        let point = self.key.public_key().as_ref();
        let (x, y) = point
            .get(1..)
            .unwrap_or_default()
            .split_at(point.len().saturating_sub(1) / 2);
        serde_json::json!({"keys": [{
            "use": "sig", "kty": "EC", "kid": self.key_id, "crv": "P-256", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]})
    }

    /// PEM public key, the form Vault's `pem_keys` and kube's `--service-account-key-file` use.
    pub fn public_key_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(spki_der(self.key.public_key().as_ref()));
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }
}

/// Header, claims and raw signature of a compact JWS, without checking the signature.
pub fn split(token: &str) -> Result<(Value, Value, Vec<u8>), JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decode_json = |part: &str| -> Result<Value, JwtError> {
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
    let header = decode_json(h)?;
    let claims = decode_json(c)?;
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
    Ok((header, claims, signature))
}

fn spki_der(public_point: &[u8]) -> Vec<u8> {
    let mut der = P256_SPKI_PREFIX.to_vec();
    der.extend_from_slice(public_point);
    der
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        match Signer::generate() {
            Some(s) => s,
            None => panic!("no system randomness"),
        }
    }

    #[test]
    fn signed_token_verifies_and_keeps_claims() {
        let s = signer();
        let token = s.sign(&serde_json::json!({"sub": "system:serviceaccount:prod:readonly"}));
        assert_eq!(token.split('.').count(), 3);
        let claims = s.verify(&token);
        assert_eq!(
            claims
                .ok()
                .and_then(|c| c.get("sub").and_then(Value::as_str).map(String::from)),
            Some("system:serviceaccount:prod:readonly".to_string())
        );
    }

    #[test]
    fn token_from_another_key_or_tampered_is_rejected() {
        let a = signer();
        let b = signer();
        let token = a.sign(&serde_json::json!({"sub": "x"}));
        assert_eq!(b.verify(&token), Err(JwtError::BadSignature));
        let (head, _) = token.split_once('.').unwrap_or_default();
        let forged_claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"y"}"#);
        let sig = token.rsplit('.').next().unwrap_or_default();
        assert_eq!(
            a.verify(&format!("{head}.{forged_claims}.{sig}")),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn jwks_holds_the_verifying_key() {
        let s = signer();
        let jwks = s.jwks();
        let key = &jwks["keys"][0];
        let coord = |k: &str| URL_SAFE_NO_PAD.decode(key[k].as_str().unwrap_or_default());
        let (Ok(x), Ok(y)) = (coord("x"), coord("y")) else {
            panic!("x / y are not base64url: {jwks}")
        };
        assert_eq!((x.len(), y.len()), (32, 32));
        let mut point = vec![4u8];
        point.extend(x.iter().chain(&y));
        let token = s.sign(&serde_json::json!({"sub": "x"}));
        let (input, sig) = token.rsplit_once('.').unwrap_or_default();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
        assert!(
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                .verify(input.as_bytes(), &sig)
                .is_ok()
        );
        let header = split(&token).map(|(h, _, _)| h).unwrap_or_default();
        assert_eq!(header["kid"], key["kid"]);
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(
            signer().verify("this-is-not-a-valid-token"),
            Err(JwtError::Malformed)
        );
        assert_eq!(signer().verify("a.b.c"), Err(JwtError::Malformed));
    }

    #[test]
    fn header_is_es256_with_key_id_and_pem_is_spki() {
        let s = signer();
        let token = s.sign(&serde_json::json!({}));
        let header = split(&token).map(|(h, _, _)| h).unwrap_or_default();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"].as_str().map(str::len), Some(43));
        let pem = s.public_key_pem();
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"),
            "{pem}"
        );
    }
}
