//! Kubernetes `Status` errors shaped exactly like the recorded kube-apiserver answers.
//!
//! Every failure the simulation reports (HTTP or in-process) is one of these, so clients see the same
//! `reason`/`code`/`message`/`details` a real cluster sends, and the product's error handling is exercised
//! against the real shapes (see `shared/k8s-recordings/README.md`, "The Status object").

use serde_json::{Value, json};

use crate::auth::{RequestAttributes, UserInfo};

/// One entry of `details.causes` (used by 422 Invalid and 500 InternalError).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// A Kubernetes `Status` failure. `details` is the raw `details` object (absent for 401, 400, 410).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiStatus {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// Boxed to keep `Result<_, ApiStatus>` small.
    pub details: Option<Box<Value>>,
    /// `metadata.continue` of the Status (only the expired-continue 410 carries one).
    pub continue_token: Option<String>,
    /// Sent as the `Retry-After` header (429, 504).
    pub retry_after_secs: Option<u64>,
}

impl std::fmt::Display for ApiStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} {})", self.message, self.code, self.reason)
    }
}

impl std::error::Error for ApiStatus {}

/// `plural.group`, or just `plural` for the core group: how the apiserver names a resource in messages.
pub fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

fn details(group: &str, kind: &str, name: Option<&str>) -> Value {
    let mut d = serde_json::Map::new();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(kind));
    Value::Object(d)
}

impl ApiStatus {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            message: message.into(),
            details: None,
            continue_token: None,
            retry_after_secs: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
        )
        .with_details(details(group, plural, Some(name)))
    }

    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
        )
        .with_details(details(group, plural, Some(name)))
    }

    pub fn conflict(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(group, plural)
            ),
        )
        .with_details(details(group, plural, Some(name)))
    }

    /// The RBAC denial, worded like the recordings (41, 42).
    pub fn forbidden(user: &UserInfo, attrs: &RequestAttributes) -> Self {
        if attrs.resource.is_empty() {
            let path = attrs.name.as_deref().unwrap_or("/");
            return Self::new(
                403,
                "Forbidden",
                format!(
                    "forbidden: User \"{}\" cannot {} path \"{path}\"",
                    user.username, attrs.verb
                ),
            )
            .with_details(json!({}));
        }
        let resource = match &attrs.subresource {
            Some(sub) => format!("{}/{sub}", attrs.resource),
            None => attrs.resource.clone(),
        };
        let subject = match attrs.name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => format!(
                "{} \"{name}\"",
                qualified(&attrs.api_group, &attrs.resource)
            ),
            None => qualified(&attrs.api_group, &attrs.resource),
        };
        let scope = match attrs.namespace.as_deref().filter(|n| !n.is_empty()) {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let message = format!(
            "{subject} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            user.username, attrs.verb, attrs.api_group
        );
        Self::new(403, "Forbidden", message).with_details(details(
            &attrs.api_group,
            &attrs.resource,
            attrs.name.as_deref(),
        ))
    }

    /// A 403 with a free-form message (forbidden impersonation, namespace being terminated, ...).
    pub fn forbidden_message(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// An in-process caller named a type the store does not serve.
    pub fn not_found_kind(api_version: &str, kind: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("no matches for kind \"{kind}\" in version \"{api_version}\""),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type:?})"
            ),
        )
    }

    /// 404 for a URL that names no known resource (the apiserver answers a bare "404 page not found" for some
    /// paths; a Status is what clients handle best).
    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// 422 Invalid: `Kind.group "name" is invalid: ...`, causes joined in brackets when there are several.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let subject = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let rendered: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let joined = match rendered.len() {
            1 => rendered[0].clone(),
            _ => format!("[{}]", rendered.join(", ")),
        };
        let mut d = details(group, kind, Some(name));
        if let Some(map) = d.as_object_mut() {
            let causes: Vec<Value> = causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            map.insert("causes".into(), Value::Array(causes));
        }
        Self::new(
            422,
            "Invalid",
            format!("{subject} \"{name}\" is invalid: {joined}"),
        )
        .with_details(d)
    }

    /// 410 Expired for LISTs (recordings 60, 61); no details.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// The Status inside a watch ERROR event for a compacted resourceVersion (recording 27).
    pub fn too_old_resource_version(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut s = Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        )
        .with_details(json!({"retryAfterSeconds": retry_after_secs}));
        s.retry_after_secs = Some(retry_after_secs);
        s
    }

    pub fn internal_error(message: &str) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(json!({"causes": [{"message": message}]}))
    }

    /// 504 for a LIST at a resourceVersion the store has not reached (recording 29).
    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        let mut s = Self::new(
            504,
            "Timeout",
            format!("Timeout: Too large resource version: {requested}, current: {current}"),
        )
        .with_details(json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}));
        s.retry_after_secs = Some(1);
        s
    }

    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    /// The wire form: `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",...}`.
    pub fn to_json(&self) -> Value {
        let mut metadata = serde_json::Map::new();
        if let Some(token) = &self.continue_token {
            metadata.insert("continue".into(), json!(token));
        }
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), json!("Status"));
        m.insert("apiVersion".into(), json!("v1"));
        m.insert("metadata".into(), Value::Object(metadata));
        m.insert("status".into(), json!("Failure"));
        m.insert("message".into(), json!(self.message));
        m.insert("reason".into(), json!(self.reason));
        if let Some(d) = &self.details {
            m.insert("details".into(), d.as_ref().clone());
        }
        m.insert("code".into(), json!(self.code));
        Value::Object(m)
    }
}

/// `Status` with `status: Success` (DELETE answers for built-in kinds).
pub fn success(group: &str, plural: &str, name: &str, uid: &str) -> Value {
    let mut d = details(group, plural, Some(name));
    if let Some(map) = d.as_object_mut() {
        map.insert("uid".into(), json!(uid));
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_message_matches_recording_41() {
        let user = UserInfo {
            username: "system:serviceaccount:prod:readonly".into(),
            ..UserInfo::default()
        };
        let attrs = RequestAttributes {
            verb: "list".into(),
            resource: "secrets".into(),
            namespace: Some("prod".into()),
            ..RequestAttributes::default()
        };
        let s = ApiStatus::forbidden(&user, &attrs).to_json();
        assert_eq!(
            s["message"],
            "secrets is forbidden: User \"system:serviceaccount:prod:readonly\" cannot list resource \"secrets\" in API group \"\" in the namespace \"prod\""
        );
        assert_eq!(s["details"], json!({"kind": "secrets"}));
        assert_eq!(s["code"], 403);
    }

    #[test]
    fn invalid_joins_causes_like_recording_22() {
        let c = |f: &str, m: &str| Cause {
            reason: "FieldValueNotSupported".into(),
            message: m.into(),
            field: f.into(),
        };
        let two = ApiStatus::invalid(
            "ExternalSecret",
            "external-secrets.io",
            "x",
            vec![c("a", "m1"), c("b", "m2")],
        );
        assert_eq!(
            two.message,
            "ExternalSecret.external-secrets.io \"x\" is invalid: [a: m1, b: m2]"
        );
        let one = ApiStatus::invalid(
            "ExternalSecret",
            "external-secrets.io",
            "x",
            vec![c("a", "m1")],
        );
        assert_eq!(
            one.message,
            "ExternalSecret.external-secrets.io \"x\" is invalid: a: m1"
        );
        assert_eq!(one.to_json()["details"]["causes"][0]["field"], "a");
    }
}
