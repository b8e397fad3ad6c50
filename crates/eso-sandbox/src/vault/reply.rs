//! The response envelope and error bodies exactly as OpenBao sends them. Clients such as vaultrs
//! deserialise into strict structs, so every field real Vault sends must be here, with the same types.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// What a handler answers: a status and an optional JSON body (204s have none).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

/// OpenBao's text for a missing, unknown or expired token, and for failed logins.
pub const PERMISSION_DENIED: &str = "permission denied";
/// OpenBao's text when a valid token's policies do not allow the operation (a multierror rendering).
pub const POLICY_DENIED: &str = "1 error occurred:\n\t* permission denied\n\n";

impl Reply {
    /// The standard envelope around `data`.
    pub fn data(data: Value) -> Reply {
        Reply::ok(envelope(data, Value::Null, 0))
    }

    /// The envelope with `data` copied to the top level too, as OpenBao does for legacy sys endpoints
    /// (`sys/mounts`, `sys/auth`, `sys/policy`, `sys/capabilities-self`).
    pub fn data_flattened(data: Value) -> Reply {
        let mut body = envelope(data.clone(), Value::Null, 0);
        if let (Some(top), Value::Object(fields)) = (body.as_object_mut(), data) {
            for (k, v) in fields {
                top.entry(k).or_insert(v);
            }
        }
        Reply::ok(body)
    }

    pub fn auth(auth: Value) -> Reply {
        Reply::ok(envelope(Value::Null, auth, 0))
    }

    pub fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
        }
    }

    pub fn error(status: StatusCode, message: impl Into<String>) -> Reply {
        Reply {
            status,
            body: Some(json!({ "errors": [message.into()] })),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Reply {
        Reply::error(StatusCode::BAD_REQUEST, message)
    }

    /// A 404 with an empty error list: OpenBao's answer for a missing secret, policy or role.
    pub fn not_found() -> Reply {
        Reply {
            status: StatusCode::NOT_FOUND,
            body: Some(json!({ "errors": [] })),
        }
    }

    pub fn permission_denied() -> Reply {
        Reply::error(StatusCode::FORBIDDEN, PERMISSION_DENIED)
    }

    pub fn policy_denied() -> Reply {
        Reply::error(StatusCode::FORBIDDEN, POLICY_DENIED)
    }
}

pub fn envelope(data: Value, auth: Value, lease_duration: i64) -> Value {
    json!({
        "request_id": uuid::Uuid::new_v4().to_string(),
        "lease_id": "",
        "renewable": false,
        "lease_duration": lease_duration,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": auth,
    })
}

/// Reads a JSON request body; an empty body is an empty object, as Vault treats it.
pub fn parse_body(bytes: &[u8]) -> Result<Map<String, Value>, Reply> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Reply::bad_request(
            "failed to parse JSON input: request body must be a JSON object",
        )),
        Err(e) => Err(Reply::bad_request(format!(
            "failed to parse JSON input: {e}"
        ))),
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self.body {
            Some(body) => (self.status, axum::Json(body)).into_response(),
            None => self.status.into_response(),
        }
    }
}
