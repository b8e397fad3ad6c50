//! Identity for the simulated API server: who is calling (authentication), what they may do (RBAC),
//! and the identity endpoints (TokenRequest, TokenReview, access reviews).
//!
//! The core server calls [`Authenticator::authenticate_request`] on every request (with what the
//! connection's TLS client certificate proved, `x509`), then [`authorize`] with the request's
//! attributes; both follow kube-apiserver 1.32 closely enough that real kubectl, kube-rs and a
//! real Vault/OpenBao kubernetes auth backend behave as they would against a real cluster.
//!
//! Deliberate differences from a real cluster, kept because tests need them:
//! - every authenticated user may create TokenReviews and SubjectAccessReviews (a Vault backend sends
//!   TokenReview with the client's own JWT as bearer; real clusters need `system:auth-delegator`);
//! - discovery paths are allowed for anonymous users too.

mod authn;
mod jwt;
#[cfg(test)]
mod openbao_tests;
mod rbac;
mod reviews;
#[cfg(test)]
mod tests;
mod x509;

use std::collections::BTreeMap;

pub(crate) use authn::rfc3339;
pub use authn::{API_AUDIENCE, Authenticator, ISSUER, admin, service_account_of};
pub use rbac::{PolicyRule, authorize, forbidden_message};
pub use reviews::{
    self_subject_access_review, self_subject_rules_review, subject_access_review, token_request,
    token_review,
};
pub use x509::{ClientCa, ClientCert, ClientCertSpec, PresentedCertificate, certificates_from_pem};

/// An authenticated (or anonymous) caller, as kube-apiserver's `user.Info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// What a request wants to do, as kube-apiserver's `authorizer.Attributes` for resource requests.
/// A non-resource request (discovery) has an empty `resource` and its URL path in `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestAttributes {
    /// get list watch create update patch delete deletecollection impersonate
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

/// The authorizer's answer; `reason` is set only when RBAC allowed it (as on a real cluster).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Option<String>,
}

/// Why a request could not be given an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthnError {
    /// Bad bearer token or client certificate: the core answers 401 with this message
    /// ("Unauthorized").
    Unauthorized(String),
    /// Impersonation refused: the core answers 403 with this message.
    Forbidden(String),
}
