//! The "virtual create" endpoints of identity: TokenRequest, TokenReview and the access reviews.
//!
//! None of them store anything; each turns a request body into the answer kube-apiserver 1.32 gives
//! (recordings 36-39 and 50-53), including its quirks: a failed TokenReview omits `authenticated`,
//! SelfSubjectRulesReview echoes `spec` as `{}`, an SSAR allowed through system:masters has no reason.

use serde_json::{Map, Value, json};

use super::authn::{API_AUDIENCE, Authenticator, rfc3339};
use super::{RequestAttributes, UserInfo, rbac};
use crate::Store;
use crate::status::{ApiStatus, Cause};

const MIN_EXPIRATION_SECONDS: i64 = 600;
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// POST `/api/v1/namespaces/{ns}/serviceaccounts/{name}/token`.
pub fn token_request(
    store: &Store,
    authn: &Authenticator,
    namespace: &str,
    sa_name: &str,
    body: Value,
) -> Result<Value, ApiStatus> {
    let sa = store
        .get("v1", "ServiceAccount", Some(namespace), sa_name)
        .ok_or_else(|| ApiStatus::not_found("", "serviceaccounts", sa_name))?;
    let sa_uid = sa
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let mut audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences.push(API_AUDIENCE.to_string());
    }
    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v.as_i64().ok_or_else(|| {
            ApiStatus::bad_request(format!(
                "spec.expirationSeconds: expected an integer, got {v}"
            ))
        })?,
    };
    let too_short = expiration < MIN_EXPIRATION_SECONDS;
    if too_short || expiration > MAX_EXPIRATION_SECONDS {
        let why = if too_short {
            "may not specify a duration less than 10 minutes"
        } else {
            "may not specify a duration larger than 2^32 seconds"
        };
        return Err(ApiStatus::invalid(
            "TokenRequest",
            "authentication.k8s.io",
            sa_name,
            vec![Cause {
                reason: "FieldValueInvalid".to_string(),
                message: format!("Invalid value: {expiration}: {why}"),
                field: "spec.expirationSeconds".to_string(),
            }],
        ));
    }
    let bound = bound_object(store, namespace, spec.get("boundObjectRef"))?;
    let (token, expiry) = authn.issue_bound_token(
        namespace,
        sa_name,
        sa_uid,
        &audiences,
        expiration,
        bound.as_ref(),
    );
    let now = rfc3339(jiff::Timestamp::now().as_second());
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": sa_name, "namespace": namespace, "creationTimestamp": now},
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": bound.unwrap_or(Value::Null)},
        "status": {"token": token, "expirationTimestamp": expiry},
    }))
}

/// The object a token is bound to must exist; its uid is filled in from the Store.
fn bound_object(
    store: &Store,
    namespace: &str,
    reference: Option<&Value>,
) -> Result<Option<Value>, ApiStatus> {
    let Some(reference) = reference.filter(|r| r.is_object()) else {
        return Ok(None);
    };
    let kind = reference
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = reference
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = match kind {
        "Pod" => "pods",
        "Secret" => "secrets",
        _ => {
            return Err(ApiStatus::bad_request(format!(
                "cannot bind token for object of kind {kind:?}: only Pod and Secret are supported"
            )));
        }
    };
    let object = store
        .get("v1", kind, Some(namespace), name)
        .ok_or_else(|| ApiStatus::not_found("", plural, name))?;
    let uid = object
        .pointer("/metadata/uid")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(wanted) = reference
        .get("uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        && Some(wanted) != uid.as_str()
    {
        return Err(ApiStatus::new(
            409,
            "Conflict",
            format!(
                "the UID in the bound object reference ({wanted}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        ));
    }
    Ok(Some(
        json!({"kind": kind, "apiVersion": "v1", "name": name, "uid": uid}),
    ))
}

/// POST `/apis/authentication.k8s.io/v1/tokenreviews`.
pub fn token_review(authn: &Authenticator, store: &Store, body: Value) -> Value {
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let token = spec
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences.push(API_AUDIENCE.to_string());
    }
    let status = if token.is_empty() {
        json!({"user": {}, "error": "token is required"})
    } else {
        match authn.authenticate_token(store, token, &audiences) {
            Ok((user, matched)) => {
                json!({"authenticated": true, "user": user_json(&user), "audiences": matched})
            }
            Err(e) => json!({"user": {}, "error": e.message()}),
        }
    };
    json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": status,
    })
}

fn user_json(user: &UserInfo) -> Value {
    let mut m = Map::new();
    m.insert("username".into(), json!(user.username));
    if !user.uid.is_empty() {
        m.insert("uid".into(), json!(user.uid));
    }
    if !user.groups.is_empty() {
        m.insert("groups".into(), json!(user.groups));
    }
    if !user.extra.is_empty() {
        m.insert("extra".into(), json!(user.extra));
    }
    Value::Object(m)
}

/// The request an access review asks about; `Err` carries the validation message.
fn review_attributes(spec: &Value) -> Result<RequestAttributes, String> {
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let optional = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match (
        spec.get("resourceAttributes"),
        spec.get("nonResourceAttributes"),
    ) {
        (Some(ra), None) if ra.is_object() => Ok(RequestAttributes {
            verb: text(ra, "verb"),
            api_group: text(ra, "group"),
            resource: text(ra, "resource"),
            subresource: optional(ra, "subresource"),
            namespace: optional(ra, "namespace"),
            name: optional(ra, "name"),
        }),
        // A non-resource request is an empty resource whose path travels in `name` (see rbac::authorize).
        (None, Some(nra)) if nra.is_object() => Ok(RequestAttributes {
            verb: text(nra, "verb"),
            name: Some(text(nra, "path")),
            ..RequestAttributes::default()
        }),
        _ => Err(
            "exactly one of nonResourceAttributes or resourceAttributes must be specified"
                .to_string(),
        ),
    }
}

fn access_status(store: &Store, user: &UserInfo, spec: &Value) -> Value {
    match review_attributes(spec) {
        Ok(attrs) => {
            let decision = rbac::authorize(store, user, &attrs);
            let mut status = Map::new();
            status.insert("allowed".into(), json!(decision.allowed));
            if let Some(reason) = decision.reason {
                status.insert("reason".into(), json!(reason));
            }
            Value::Object(status)
        }
        Err(message) => json!({"allowed": false, "evaluationError": message}),
    }
}

/// POST `/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, for the (possibly impersonated) caller.
pub fn self_subject_access_review(store: &Store, user: &UserInfo, body: Value) -> Value {
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = access_status(store, user, &spec);
    json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": status,
    })
}

/// POST `/apis/authorization.k8s.io/v1/subjectaccessreviews`: the same question about a named user.
pub fn subject_access_review(store: &Store, body: Value) -> Value {
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let subject = UserInfo {
        username: spec
            .get("user")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        uid: spec
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        groups: spec
            .get("groups")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        extra: Default::default(),
    };
    let status = access_status(store, &subject, &spec);
    json!({
        "kind": "SubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": status,
    })
}

/// POST `/apis/authorization.k8s.io/v1/selfsubjectrulesreviews`.
pub fn self_subject_rules_review(store: &Store, user: &UserInfo, body: Value) -> Value {
    let namespace = body.pointer("/spec/namespace").and_then(Value::as_str);
    let (resource_rules, non_resource_rules) = rbac::rules_for(store, user, namespace);
    json!({
        "kind": "SelfSubjectRulesReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {},
        "status": {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false},
    })
}
