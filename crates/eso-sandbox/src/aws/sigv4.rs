//! AWS Signature Version 4 for the sandbox: the simulated ESO signs its requests with it, and the
//! simulated region checks every signed request with it, as AWS does (the canonical request is
//! rebuilt from the headers the client says it signed). Only what the JSON and Query protocols
//! over `POST /` need: no query-string signing, no chunked payloads.

use ring::{digest, hmac};

/// An access key, with the session token of temporary credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

/// The signature of `string_to_sign` with the key derived for (date, region, service).
fn signature(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    hex(&hmac_sha256(&k_signing, string_to_sign.as_bytes()))
}

fn collapse(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request and string to sign for `POST <path>` with the named headers.
fn string_to_sign(
    method: &str,
    path: &str,
    query: &str,
    signed: &[(String, String)],
    payload_hash: &str,
    amz_date: &str,
    scope: &str,
) -> String {
    let mut names: Vec<String> = Vec::new();
    let mut canonical_headers = String::new();
    for (k, v) in signed {
        canonical_headers.push_str(&format!("{}:{}\n", k.to_ascii_lowercase(), collapse(v)));
        names.push(k.to_ascii_lowercase());
    }
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    let canonical = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{payload_hash}",
        if path.is_empty() { "/" } else { path },
        pairs.join("&"),
        names.join(";")
    );
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    )
}

/// Headers to add to a `POST /` of `body` to `host`: `x-amz-date`, the session token when there is
/// one, and `authorization`. `headers` are the request's own (content type, target), all signed.
pub fn sign(
    creds: &Creds,
    region: &str,
    service: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    now: jiff::Timestamp,
) -> Vec<(String, String)> {
    let amz_date = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    signed.push(("host".into(), host.to_string()));
    signed.push(("x-amz-date".into(), amz_date.clone()));
    if let Some(t) = &creds.session_token {
        signed.push(("x-amz-security-token".into(), t.clone()));
    }
    signed.sort();
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = string_to_sign(
        "POST",
        "/",
        "",
        &signed,
        &sha256_hex(body),
        &amz_date,
        &scope,
    );
    let names: Vec<&str> = signed.iter().map(|(k, _)| k.as_str()).collect();
    let mut out = vec![("x-amz-date".to_string(), amz_date.clone())];
    if let Some(t) = &creds.session_token {
        out.push(("x-amz-security-token".into(), t.clone()));
    }
    out.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={}",
            creds.access_key_id,
            names.join(";"),
            signature(&creds.secret_access_key, date, region, service, &to_sign)
        ),
    ));
    out
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(header: &str) -> Option<Authorization> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256")?.trim();
    let mut credential = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => sig = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let (Some(id), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return None;
    };
    Some(Authorization {
        access_key_id: id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed?.split(';').map(str::to_string).collect(),
        signature: sig?.to_string(),
    })
}

/// Whether the request's signature is the one `secret` gives. `header` looks a header up by its
/// lower-case name.
pub fn verify(
    auth: &Authorization,
    secret: &str,
    method: &str,
    path: &str,
    query: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> bool {
    let Some(amz_date) = header("x-amz-date") else {
        return false;
    };
    let mut signed = Vec::new();
    for name in &auth.signed_headers {
        let Some(v) = header(name) else { return false };
        signed.push((name.clone(), v));
    }
    let payload = header("x-amz-content-sha256")
        .filter(|v| v.len() == 64)
        .unwrap_or_else(|| sha256_hex(body));
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let to_sign = string_to_sign(method, path, query, &signed, &payload, &amz_date, &scope);
    let expected = signature(secret, &auth.date, &auth.region, &auth.service, &to_sign);
    expected.len() == auth.signature.len()
        && expected
            .bytes()
            .zip(auth.signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Creds {
        Creds {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    #[test]
    fn aws_documented_signing_key_example() {
        // AWS's published example: the derived key for 20120215/us-east-1/iam.
        let k_date = hmac_sha256(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
        let k_region = hmac_sha256(&k_date, b"us-east-1");
        let k_service = hmac_sha256(&k_region, b"iam");
        let k_signing = hmac_sha256(&k_service, b"aws4_request");
        assert_eq!(
            hex(&k_signing),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn what_is_signed_verifies_and_a_changed_body_or_key_does_not() {
        let now = jiff::Timestamp::from_second(1_764_900_000).unwrap_or_default();
        let headers = [("content-type", "application/x-amz-json-1.1")];
        let out = sign(
            &creds(),
            "eu-west-1",
            "secretsmanager",
            "127.0.0.1:9",
            &headers,
            b"{}",
            now,
        );
        let all: Vec<(String, String)> = out
            .iter()
            .cloned()
            .chain([
                ("host".to_string(), "127.0.0.1:9".to_string()),
                ("content-type".to_string(), headers[0].1.to_string()),
            ])
            .collect();
        let lookup = |n: &str| all.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let auth = parse_authorization(&lookup("authorization").unwrap_or_default());
        let auth = auth.expect("parsable");
        assert_eq!(auth.service, "secretsmanager");
        let secret = creds().secret_access_key;
        assert!(verify(&auth, &secret, "POST", "/", "", &lookup, b"{}"));
        assert!(!verify(&auth, &secret, "POST", "/", "", &lookup, b"{ }"));
        assert!(!verify(&auth, "other", "POST", "/", "", &lookup, b"{}"));
    }
}
