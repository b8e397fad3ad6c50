//! Unit tests of the token endpoint: each credential kind and each AADSTS answer a diagnosis relies on.

use super::*;
use crate::akv::state::{ClientSecret, FederatedCredential, normalize};
use jiff::SignedDuration;
use serde_json::{Value, json};

const TENANT: &str = "2ed1d494-6c5a-4c5d-aa24-479446fb844d";
const APP: &str = "7d8cdf74-0000-4000-8000-274d963d358b";
const GOOD_SECRET: &str = "canary-client-secret-good";
const OLD_SECRET: &str = "canary-client-secret-expired";
const SA_ISSUER: &str = "https://kube-sim.sandbox/";
const KEY_PEM: &str = include_str!("testdata/assertion-key.pem");

fn now() -> Timestamp {
    Timestamp::from_second(1_790_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn ep() -> Endpoints {
    Endpoints::new(4443)
}

fn hkey() -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, &[7; 32])
}

fn certificate_pem() -> String {
    let key = rcgen::KeyPair::from_pem(KEY_PEM).map_err(|e| e.to_string());
    let cert = key.and_then(|k| {
        rcgen::CertificateParams::new(vec!["eso-sp".to_owned()])
            .and_then(|p| p.self_signed(&k))
            .map_err(|e| e.to_string())
    });
    match cert {
        Ok(c) => c.pem(),
        Err(e) => panic!("test certificate: {e}"),
    }
}

fn state(certificates: Vec<String>) -> AkvState {
    let mut s = AkvState {
        tenant_id: TENANT.to_owned(),
        principals: vec![Principal {
            client_id: APP.to_owned(),
            client_secrets: vec![
                ClientSecret {
                    value: OLD_SECRET.to_owned(),
                    expires: Some(now() - SignedDuration::from_hours(24)),
                },
                ClientSecret {
                    value: GOOD_SECRET.to_owned(),
                    expires: Some(now() + SignedDuration::from_hours(24)),
                },
            ],
            certificates,
            federated_credentials: vec![FederatedCredential {
                issuer: SA_ISSUER.to_owned(),
                subject: "system:serviceaccount:external-secrets:external-secrets".to_owned(),
                audiences: vec!["api://AzureADTokenExchange".to_owned()],
            }],
            ..Principal::default()
        }],
        ..AkvState::default()
    };
    normalize(&mut s, now());
    s
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn scope() -> String {
    format!("{}.default", ep().key_vault_endpoint())
}

fn with_secret(secret: &str) -> Vec<(String, String)> {
    form(&[
        ("grant_type", "client_credentials"),
        ("client_id", APP),
        ("client_secret", secret),
        ("scope", &scope()),
    ])
}

fn with_assertion(assertion: &str) -> Vec<(String, String)> {
    form(&[
        ("grant_type", "client_credentials"),
        ("client_id", APP),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
        ("scope", &scope()),
    ])
}

fn ask(s: &AkvState, f: &[(String, String)]) -> ApiResponse {
    token(s, &ep(), &hkey(), TENANT, f, now())
}

fn aadsts(resp: &ApiResponse) -> (u16, Option<i64>, String) {
    (
        resp.status,
        resp.body["error_codes"][0].as_i64(),
        resp.body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k1"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Signs like azure_identity's certificate flow: RS256 with the x5t#S256 (or x5t) of the certificate.
fn signed(claims: &Value, cert_pem: &str, sha1: bool) -> String {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map(|d| d.as_ref().to_vec())
        .unwrap_or_default();
    let header = if sha1 {
        json!({"alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der))})
    } else {
        json!({"alg": "RS256", "typ": "JWT", "x5t#S256": URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, &der))})
    };
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(KEY_PEM.as_bytes())
        .map(|k| k.secret_pkcs8_der().to_vec())
        .unwrap_or_default();
    let Ok(pair) = ring::signature::RsaKeyPair::from_pkcs8(&pkcs8) else {
        panic!("test RSA key does not parse")
    };
    let mut sig = vec![0; pair.public().modulus_len()];
    let rng = ring::rand::SystemRandom::new();
    if pair
        .sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &rng,
            input.as_bytes(),
            &mut sig,
        )
        .is_err()
    {
        panic!("signing failed");
    }
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// A cluster's service-account signing key (ES256, as kube-sim's) and the JWK Set it publishes.
struct ClusterKey {
    pair: ring::signature::EcdsaKeyPair,
    kid: String,
}

impl ClusterKey {
    fn new(kid: &str) -> ClusterKey {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .ok()
            .and_then(|p| {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, p.as_ref(), &rng).ok()
            });
        let Some(pair) = pair else {
            panic!("no P-256 key")
        };
        ClusterKey {
            pair,
            kid: kid.to_owned(),
        }
    }

    fn jwks(&self) -> Value {
        use ring::signature::KeyPair;
        let point = self.pair.public_key().as_ref();
        json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])}]})
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let Ok(sig) = self.pair.sign(&rng, input.as_bytes()) else {
            panic!("signing failed")
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// The test state with `key` published as the service-account issuer's JWK Set.
fn trusting(key: &ClusterKey) -> AkvState {
    let mut s = state(vec![]);
    s.oidc_issuers.push(crate::akv::state::OidcIssuer {
        issuer: SA_ISSUER.to_owned(),
        jwks: key.jwks(),
    });
    s
}

const ESO_SA: &str = "system:serviceaccount:external-secrets:external-secrets";

fn cert_claims(exp_offset: i64) -> Value {
    let t = now().as_second();
    json!({"aud": format!("{}/{TENANT}/oauth2/v2.0/token", ep().authority_url()), "iss": APP, "sub": APP, "jti": "1", "nbf": t - 10, "exp": t + exp_offset})
}

fn sa_claims(sub: &str, exp_offset: i64) -> Value {
    let t = now().as_second();
    json!({"iss": SA_ISSUER, "sub": sub, "aud": ["api://AzureADTokenExchange"], "iat": t, "exp": t + exp_offset})
}

#[test]
fn client_secret_gets_a_key_vault_token() {
    let resp = ask(&state(vec![]), &with_secret(GOOD_SECRET));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["token_type"], "Bearer");
    assert_eq!(resp.body["expires_in"], 3599);
    let access = resp.body["access_token"].as_str().unwrap_or_default();
    let claims = jwt::verify_hs256(access, &hkey()).map(|j| j.claims);
    let claims = claims.unwrap_or_default();
    assert_eq!(claims["aud"], ep().resource());
    assert_eq!(claims["appid"], APP);
    assert_eq!(claims["tid"], TENANT);
}

#[test]
fn wrong_client_secret_is_aadsts7000215_without_echoing_it() {
    let resp = ask(&state(vec![]), &with_secret("not-the-secret"));
    let (status, code, text) = aadsts(&resp);
    assert_eq!((status, code), (401, Some(7000215)));
    assert_eq!(resp.error_code(), Some("invalid_client"));
    assert!(text.starts_with("AADSTS7000215: Invalid client secret provided."));
    assert!(text.contains(&format!("for a secret added to app '{APP}'")));
    assert!(text.contains("Trace ID: ") && text.contains("Correlation ID: "));
    assert!(!resp.body.to_string().contains("not-the-secret"));
}

#[test]
fn expired_client_secret_is_aadsts7000222() {
    let (status, code, text) = aadsts(&ask(&state(vec![]), &with_secret(OLD_SECRET)));
    assert_eq!((status, code), (401, Some(7000222)));
    assert!(text.contains(&format!(
        "The provided client secret keys for app '{APP}' are expired."
    )));
}

#[test]
fn unknown_app_tenant_and_resource_have_their_own_codes() {
    let s = state(vec![]);
    let mut f = with_secret(GOOD_SECRET);
    f[1].1 = "11111111-1111-1111-1111-111111111111".to_owned();
    assert_eq!(aadsts(&ask(&s, &f)).1, Some(700016));
    let other_tenant = token(
        &s,
        &ep(),
        &hkey(),
        "other",
        &with_secret(GOOD_SECRET),
        now(),
    );
    assert_eq!(aadsts(&other_tenant).1, Some(90002));
    let mut f = with_secret(GOOD_SECRET);
    f[3].1 = "https://vault.azure.net/.default".to_owned();
    let (status, code, text) = aadsts(&ask(&s, &f));
    assert_eq!((status, code), (400, Some(500011)));
    assert!(text.contains("https://vault.azure.net"));
    let mut f = with_secret(GOOD_SECRET);
    f.remove(3);
    assert_eq!(aadsts(&ask(&s, &f)).1, Some(900144));
}

#[test]
fn federated_service_account_token_matches_on_iss_sub_aud() {
    let key = ClusterKey::new("sa-key-1");
    let s = trusting(&key);
    let ok = ask(&s, &with_assertion(&key.sign(&sa_claims(ESO_SA, 600))));
    assert_eq!(ok.status, 200, "{}", ok.body);

    let (status, code, text) = aadsts(&ask(
        &s,
        &with_assertion(&key.sign(&sa_claims("system:serviceaccount:netbox:default", 600))),
    ));
    assert_eq!((status, code), (400, Some(70021)));
    assert!(text.contains("Assertion Subject: 'system:serviceaccount:netbox:default'"));

    let mut other_audience = sa_claims(ESO_SA, 600);
    other_audience["aud"] = json!(["https://kubernetes.default.svc"]);
    let (status, code, _) = aadsts(&ask(&s, &with_assertion(&key.sign(&other_audience))));
    assert_eq!((status, code), (400, Some(70021)));

    let expired = ask(&s, &with_assertion(&key.sign(&sa_claims(ESO_SA, -60))));
    assert_eq!(aadsts(&expired).1, Some(700024));
    assert_eq!(aadsts(&ask(&s, &with_assertion("garbage"))).1, Some(50027));
}

/// Issue 19: Entra ID verifies a federated assertion's signature with the issuer's published keys;
/// the fake used to accept any token whose claims matched.
#[test]
fn issue19_federated_assertion_must_be_signed_by_the_issuers_key() {
    let key = ClusterKey::new("sa-key-1");
    let s = trusting(&key);
    // Unsigned (as the fake used to accept): its kid is not among the issuer's keys.
    let (status, code, text) = aadsts(&ask(
        &s,
        &with_assertion(&unsigned(&sa_claims(ESO_SA, 600))),
    ));
    assert_eq!((status, code), (401, Some(7000272)), "{text}");
    assert!(text.contains(SA_ISSUER), "{text}");
    // Another key claiming the published kid: found, but the signature does not verify.
    let impostor = ClusterKey::new("sa-key-1");
    let (status, code, text) = aadsts(&ask(
        &s,
        &with_assertion(&impostor.sign(&sa_claims(ESO_SA, 600))),
    ));
    assert_eq!((status, code), (401, Some(7000274)), "{text}");
    // Claims changed after signing.
    let good = key.sign(&sa_claims(ESO_SA, 600));
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(sa_claims(ESO_SA, 7200).to_string());
    parts[1] = &forged;
    let (_, code, _) = aadsts(&ask(&s, &with_assertion(&parts.join("."))));
    assert_eq!(code, Some(7000274));
    // An issuer whose keys Entra cannot read accepts nothing.
    let (_, code, _) = aadsts(&ask(&state(vec![]), &with_assertion(&good)));
    assert_eq!(code, Some(7000272));
    // A token from an issuer no federated credential names: no matching record.
    let mut elsewhere = sa_claims(ESO_SA, 600);
    elsewhere["iss"] = json!("https://oidc.other-cluster.example");
    let (status, code, _) = aadsts(&ask(&s, &with_assertion(&key.sign(&elsewhere))));
    assert_eq!((status, code), (400, Some(70021)));
    // And the genuine token still works.
    assert_eq!(ask(&s, &with_assertion(&good)).status, 200);
}

#[test]
fn certificate_assertion_is_checked_by_thumbprint_and_signature() {
    let cert = certificate_pem();
    let registered = state(vec![cert.clone()]);
    for sha1 in [false, true] {
        let resp = ask(
            &registered,
            &with_assertion(&signed(&cert_claims(600), &cert, sha1)),
        );
        assert_eq!(resp.status, 200, "sha1={sha1}: {}", resp.body);
    }

    let (status, code, text) = aadsts(&ask(
        &state(vec![]),
        &with_assertion(&signed(&cert_claims(600), &cert, false)),
    ));
    assert_eq!((status, code), (401, Some(700027)));
    assert!(text.contains("is not registered on application"));

    // Same header and signature, different claims: the signature no longer matches.
    let good = signed(&cert_claims(600), &cert, false);
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(cert_claims(900).to_string()),
        parts[2]
    );
    let (_, code, text) = aadsts(&ask(&registered, &with_assertion(&tampered)));
    assert_eq!(code, Some(700027));
    assert!(text.contains("Client assertion failed signature validation."));
}
