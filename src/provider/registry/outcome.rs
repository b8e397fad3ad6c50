//! What a registry check found, as plain data: one outcome word and one clean line of text. Shared
//! by the login flow, the per-image check and the report.

use serde::Serialize;

/// What happened when we tried a registry or an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Logged in (or the manifest is pullable).
    Ok,
    /// The registry or its token endpoint refused the credentials.
    Unauthorized,
    /// Logged in, but not allowed to pull this repository.
    Denied,
    /// Logged in and allowed, but the repository or tag does not exist.
    NotFound,
    /// Could not connect (refused, DNS, timeout).
    Unreachable,
    /// Connected, but the TLS handshake failed (unknown CA, wrong host name, not TLS).
    TlsError,
    /// The registry answered something a registry should not.
    UnexpectedResponse,
    /// The pull-secret entry is malformed, so there was nothing to try.
    InvalidEntry,
    /// The entry cannot be tried on its own (a wildcard host).
    NotChecked,
    /// No entry of the pull secret applies to the image's registry (and anonymous pull failed).
    NoEntry,
    /// The image reference could not be parsed.
    InvalidImage,
}

/// An outcome with a one-line explanation (sanitised; never holds a credential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub outcome: Outcome,
    pub message: String,
}

impl Check {
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Check {
        Check {
            outcome,
            message: message.into(),
        }
    }
}
