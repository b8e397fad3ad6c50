//! The one retry rule for Kubernetes API requests. kube-client's own layer (15 retries, backoff
//! up to 1000 s, any `Retry-After` honoured) sits inside the per-request timeout, so a server
//! answering 429 could hold one command for minutes (issue 18: 386 s with `--request-timeout 2s`).
//! Here a request and all its retries share one budget — `--request-timeout`, or
//! [`DEFAULT_BUDGET`] without it — and a retry whose wait would end past that budget is not made:
//! the last answer (the 429 or 5xx) goes to the caller, which reports it.

use std::time::Duration;

use http::{HeaderMap, Request, Response, StatusCode};
use kube::client::Body;
use tokio::time::Instant;
use tower::BoxError;
use tower::retry::Policy;

/// Time for one request and its retries when no `--request-timeout` is given.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);
/// Retries after the first attempt, whatever the budget.
pub const MAX_RETRIES: u32 = 4;

#[derive(Clone, Debug)]
pub struct BoundedRetry {
    budget: Duration,
    attempt: u32,
    started: Option<Instant>,
}

impl BoundedRetry {
    pub fn new(budget: Duration) -> Self {
        Self {
            budget,
            attempt: 0,
            started: None,
        }
    }

    /// How long to wait before retrying an answer with this status and headers after `elapsed`,
    /// or `None` to give the answer to the caller.
    fn wait(&self, status: StatusCode, headers: &HeaderMap, elapsed: Duration) -> Option<Duration> {
        if self.attempt >= MAX_RETRIES {
            return None;
        }
        let retry_after = retry_after(headers);
        let transient = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        );
        // Like client-go: another 5xx is retried only when the server asks for it.
        if !(transient || status.is_server_error() && retry_after.is_some()) {
            return None;
        }
        let backoff = Duration::from_millis(250).saturating_mul(1 << self.attempt.min(4));
        let wait = retry_after.unwrap_or(backoff);
        (elapsed.saturating_add(wait) < self.budget).then_some(wait)
    }
}

/// `Retry-After` in seconds (the form the apiserver sends); an HTTP date is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get("Retry-After")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

impl<Res> Policy<Request<Body>, Response<Res>, BoxError> for BoundedRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _req: &mut Request<Body>,
        result: &mut Result<Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        let response = result.as_ref().ok()?;
        let elapsed = self.started.map(|s| s.elapsed()).unwrap_or_default();
        let wait = self.wait(response.status(), response.headers(), elapsed)?;
        self.attempt += 1;
        Some(tokio::time::sleep(wait))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        // Called once before the first attempt (on the policy every request is cloned from,
        // whose attempt is always 0) and again before each retry: the clock starts only once.
        if self.attempt == 0 {
            self.started = Some(Instant::now());
        }
        let body = req.body().try_clone()?;
        let mut clone = Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone())
            .version(req.version())
            .body(body)
            .ok()?;
        *clone.headers_mut() = req.headers().clone();
        *clone.extensions_mut() = req.extensions().clone();
        Some(clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry_after.and_then(|v| v.parse().ok()) {
            h.insert("Retry-After", v);
        }
        h
    }

    #[test]
    fn issue_18_retry_after_never_outlasts_the_budget() {
        let p = BoundedRetry::new(Duration::from_secs(2));
        let h = headers(Some("1"));
        let s = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(p.wait(s, &h, Duration::ZERO), Some(Duration::from_secs(1)));
        assert_eq!(p.wait(s, &h, Duration::from_millis(1500)), None);
        assert_eq!(p.wait(s, &headers(Some("1000")), Duration::ZERO), None);
        assert_eq!(
            p.wait(s, &headers(Some("18446744073709551615")), Duration::ZERO),
            None
        );
    }

    #[test]
    fn issue_18_retries_are_counted() {
        let mut p = BoundedRetry::new(Duration::from_secs(3600));
        let h = headers(None);
        for _ in 0..MAX_RETRIES {
            assert!(
                p.wait(StatusCode::SERVICE_UNAVAILABLE, &h, Duration::ZERO)
                    .is_some()
            );
            p.attempt += 1;
        }
        assert_eq!(
            p.wait(StatusCode::SERVICE_UNAVAILABLE, &h, Duration::ZERO),
            None
        );
    }

    #[test]
    fn only_transient_answers_are_retried() {
        let p = BoundedRetry::new(Duration::from_secs(60));
        let none = headers(None);
        for s in [
            StatusCode::OK,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::CONFLICT,
        ] {
            assert_eq!(p.wait(s, &none, Duration::ZERO), None, "{s}");
        }
        assert_eq!(
            p.wait(StatusCode::INTERNAL_SERVER_ERROR, &none, Duration::ZERO),
            None
        );
        assert!(
            p.wait(
                StatusCode::INTERNAL_SERVER_ERROR,
                &headers(Some("1")),
                Duration::ZERO
            )
            .is_some()
        );
        assert!(
            p.wait(StatusCode::BAD_GATEWAY, &none, Duration::ZERO)
                .is_some()
        );
    }
}
