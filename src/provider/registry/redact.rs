//! A wrapper for credential material (passwords, `auth` values, tokens) so that no formatting path —
//! `Debug`, `Display`, serde — can print it by accident; the value is reachable only through an
//! explicit, greppable `expose()`.

use std::fmt;

/// What every formatting path prints instead of the wrapped value.
pub const REDACTED: &str = "<redacted>";

/// Credential material that must never reach stdout, stderr, logs or error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted<T>(T);

impl<T: AsRef<[u8]>> Redacted<T> {
    /// Also remembered by the output boundary (`crate::redact`), which replaces the value
    /// wherever a message quotes it (issue 18).
    pub fn new(value: T) -> Self {
        crate::redact::learn(value.as_ref());
        Redacted(value)
    }
}

impl<T> Redacted<T> {
    /// The wrapped value, for the one place that must send it (an HTTP header or form body).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> serde::Serialize for Redacted<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_formatting_path_shows_the_value() {
        let secret = Redacted::new("hunter2-s3cret".to_string());
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{secret:#?}").contains("hunter2"));
        assert!(!secret.to_string().contains("hunter2"));
        let json = serde_json::to_string(&secret).unwrap_or_default();
        assert_eq!(json, format!("\"{REDACTED}\""));
        assert_eq!(secret.expose(), "hunter2-s3cret");
    }
}
