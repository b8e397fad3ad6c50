//! The KV secrets engines, version 1 and version 2, answering as OpenBao's do: the same envelopes,
//! the same 404 shapes (an empty `errors` list for a missing secret, the full envelope with
//! `data: null` for a deleted version), the same metadata fields.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::reply::{Reply, envelope};
use super::router::Op;
use super::state::{DEFAULT_TTL_SECS, KvSecret, KvVersion, State};

/// Whether a write to `rest` inside the mount would create or update (Vault's existence check).
pub fn exists(state: &State, mount: &str, version: u8, rest: &str) -> bool {
    if version == 1 {
        return state
            .kv1
            .contains_key(&(mount.to_string(), rest.to_string()));
    }
    match rest.split_once('/') {
        Some(("data" | "metadata", path)) => state
            .kv2
            .contains_key(&(mount.to_string(), path.to_string())),
        _ => false,
    }
}

pub fn handle_v1(
    state: &mut State,
    mount: &str,
    rest: &str,
    op: Op,
    body: &Map<String, Value>,
) -> Reply {
    let key = (mount.to_string(), rest.to_string());
    match op {
        Op::Read => match state.kv1.get(&key) {
            Some(data) => Reply::ok(envelope(
                Value::Object(data.clone()),
                Value::Null,
                DEFAULT_TTL_SECS,
            )),
            None => Reply::not_found(),
        },
        Op::List => list_keys(
            state
                .kv1
                .keys()
                .filter(|(m, _)| m == mount)
                .map(|(_, p)| p.as_str()),
            rest,
        ),
        Op::Write => {
            state.kv1.insert(key, body.clone());
            Reply::no_content()
        }
        Op::Delete => {
            state.kv1.remove(&key);
            Reply::no_content()
        }
    }
}

pub fn handle_v2(
    state: &mut State,
    mount: &str,
    rest: &str,
    op: Op,
    query: &str,
    body: &Map<String, Value>,
) -> Reply {
    let (section, path) = rest.split_once('/').unwrap_or((rest, ""));
    let key = (mount.to_string(), path.to_string());
    match (section, op) {
        ("data", Op::Read) => read_data(state.kv2.get(&key), requested_version(query)),
        ("data", Op::Write) => write_data(state.kv2.entry(key).or_default(), body),
        ("data", Op::Delete) => {
            if let Some(latest) = state
                .kv2
                .get_mut(&key)
                .and_then(|s| s.versions.values_mut().next_back())
            {
                latest.deleted.get_or_insert_with(Timestamp::now);
            }
            Reply::no_content()
        }
        ("metadata", Op::Read) => match state.kv2.get(&key) {
            Some(secret) => Reply::data(metadata(secret)),
            None => Reply::not_found(),
        },
        ("metadata", Op::List) => list_keys(
            state
                .kv2
                .keys()
                .filter(|(m, _)| m == mount)
                .map(|(_, p)| p.as_str()),
            path,
        ),
        ("metadata", Op::Delete) => {
            state.kv2.remove(&key);
            Reply::no_content()
        }
        ("delete" | "destroy" | "undelete", Op::Write) => {
            let versions: Vec<u64> = match body.get("versions").and_then(Value::as_array) {
                Some(v) => v
                    .iter()
                    .filter_map(|n| n.as_u64().or_else(|| n.as_str()?.parse().ok()))
                    .collect(),
                None => return Reply::bad_request("no version number provided"),
            };
            if let Some(secret) = state.kv2.get_mut(&key) {
                for n in &versions {
                    let Some(v) = secret.versions.get_mut(n) else {
                        continue;
                    };
                    match section {
                        "delete" => v.deleted = v.deleted.or(Some(Timestamp::now())),
                        "undelete" => v.deleted = None,
                        _ => {
                            v.destroyed = true;
                            v.data.clear();
                        }
                    }
                }
            }
            Reply::no_content()
        }
        _ => Reply::error(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "1 error occurred:\n\t* unsupported operation\n\n",
        ),
    }
}

fn requested_version(query: &str) -> Option<u64> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "version")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
}

fn version_metadata(number: u64, v: &KvVersion) -> Value {
    json!({
        "created_time": v.created.to_string(),
        "custom_metadata": null,
        "deletion_time": v.deleted.map(|t| t.to_string()).unwrap_or_default(),
        "destroyed": v.destroyed,
        "version": number,
    })
}

fn read_data(secret: Option<&KvSecret>, version: Option<u64>) -> Reply {
    let Some(secret) = secret else {
        return Reply::not_found();
    };
    let found = match version {
        Some(n) => secret.versions.get(&n).map(|v| (n, v)),
        None => secret.versions.iter().next_back().map(|(n, v)| (*n, v)),
    };
    let Some((number, v)) = found else {
        return Reply::not_found();
    };
    if v.deleted.is_some() || v.destroyed {
        let body = envelope(
            json!({"data": null, "metadata": version_metadata(number, v)}),
            Value::Null,
            0,
        );
        return Reply {
            status: axum::http::StatusCode::NOT_FOUND,
            body: Some(body),
        };
    }
    Reply::data(json!({"data": v.data, "metadata": version_metadata(number, v)}))
}

fn write_data(secret: &mut KvSecret, body: &Map<String, Value>) -> Reply {
    let Some(Value::Object(data)) = body.get("data") else {
        return Reply::bad_request("no data provided");
    };
    let number = secret.versions.keys().next_back().copied().unwrap_or(0) + 1;
    let v = KvVersion {
        data: data.clone(),
        created: Timestamp::now(),
        deleted: None,
        destroyed: false,
    };
    let reply = Reply::data(version_metadata(number, &v));
    secret.versions.insert(number, v);
    reply
}

fn metadata(secret: &KvSecret) -> Value {
    let versions: Map<String, Value> = secret
        .versions
        .iter()
        .map(|(n, v)| {
            let mut m = version_metadata(*n, v);
            if let Some(o) = m.as_object_mut() {
                o.remove("version");
                o.remove("custom_metadata");
            }
            (n.to_string(), m)
        })
        .collect();
    let created = secret
        .versions
        .values()
        .next()
        .map(|v| v.created.to_string())
        .unwrap_or_default();
    let updated = secret
        .versions
        .values()
        .next_back()
        .map(|v| v.created.to_string())
        .unwrap_or_default();
    json!({
        "cas_required": false,
        "created_time": created,
        "current_metadata_version": 0,
        "current_version": secret.versions.keys().next_back().copied().unwrap_or(0),
        "custom_metadata": null,
        "delete_version_after": "0s",
        "max_versions": 0,
        "metadata_cas_required": false,
        "oldest_version": 0,
        "updated_time": updated,
        "versions": versions,
    })
}

/// The direct children of `prefix` among `paths`, folders with a trailing slash; 404 when there are none.
fn list_keys<'a>(paths: impl Iterator<Item = &'a str>, prefix: &str) -> Reply {
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let keys: BTreeSet<String> = paths
        .filter_map(|p| p.strip_prefix(prefix.as_str()))
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => p.to_string(),
        })
        .collect();
    if keys.is_empty() {
        return Reply::not_found();
    }
    Reply::data(json!({ "keys": keys }))
}
