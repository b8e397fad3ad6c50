//! The HTTP plumbing under the login flow: sending a request and turning a transport failure
//! into `unreachable` or `tls-error` (digging the rustls error out of the nested io errors), and a
//! non-registry answer into `unexpected-response`. Every message passes through [`clean`] with the
//! credentials in use, so nothing here can print one.

use reqwest::{StatusCode, header};

use super::challenge::{Challenge, clean, error_text, parse_challenges};
use super::outcome::{Check, Outcome};

pub(super) async fn send_request(
    request: reqwest::RequestBuilder,
    url: &str,
    secrets: &[String],
) -> Result<reqwest::Response, Check> {
    request.send().await.map_err(|e| {
        let mut check = transport(&e, secrets);
        check.message = format!("{}: {}", clean(strip_query(url), secrets), check.message);
        check
    })
}

/// Drops the query string: it is ours (service, scope), adds noise, and is the one place a
/// realm URL could carry something sensitive.
pub(super) fn strip_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}

pub(super) fn challenges_of(response: &reqwest::Response) -> Vec<Challenge> {
    parse_challenges(
        response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

pub(super) async fn body_text(response: reqwest::Response, secrets: &[String]) -> String {
    match response.bytes().await {
        Ok(body) => error_text(&body, secrets),
        Err(_) => String::new(),
    }
}

pub(super) async fn unexpected(
    status: StatusCode,
    response: reqwest::Response,
    secrets: &[String],
) -> Check {
    let text = body_text(response, secrets).await;
    let mut message = format!("unexpected HTTP {}", status.as_u16());
    if !text.is_empty() {
        message.push_str(": ");
        message.push_str(&text);
    }
    Check::new(Outcome::UnexpectedResponse, message)
}

pub(super) fn or_default(text: String, default: &str) -> String {
    if text.is_empty() {
        default.to_string()
    } else {
        text
    }
}

/// Classifies a transport failure: a TLS problem (the chain holds a rustls error), a timeout, or
/// anything else that kept us from an answer. The message is the innermost cause, which is the
/// informative one ("Connection refused", "invalid peer certificate: UnknownIssuer").
pub(super) fn transport(error: &reqwest::Error, secrets: &[String]) -> Check {
    let chain = error_chain(error);
    if let Some(tls) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return Check::new(Outcome::TlsError, clean(&tls.to_string(), secrets));
    }
    if error.is_timeout() {
        return Check::new(Outcome::Unreachable, "timed out");
    }
    let innermost = chain.last().map(|e| e.to_string()).unwrap_or_default();
    let message = clean(&innermost, secrets);
    Check::new(
        Outcome::Unreachable,
        or_default(message, "connection failed"),
    )
}

/// Every error in the chain. `io::Error::source()` skips the error it wraps (hyper-rustls nests
/// the rustls error two `io::Error`s deep), so wrapped errors are unpacked with `get_ref()`.
pub(super) fn error_chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut chain = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        chain.push(e);
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    chain
}
