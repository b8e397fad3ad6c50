//! The `sys/` endpoints ESO and kubectl-eso touch: health, mounts and auth mounts, ACL policies (new
//! and legacy paths), `sys/capabilities-self` and the UI mount lookup used to tell KV v1 from v2.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::policy;
use super::reply::Reply;
use super::router::{Op, Request};
use super::state::{Mount, State, StoredPolicy, Token};

pub fn health() -> Reply {
    Reply::ok(json!({
        "initialized": true,
        "sealed": false,
        "standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": Timestamp::now().as_second(),
        "version": "2.7.2",
        "cluster_name": "vault-cluster-sandbox",
        "cluster_id": "5a4d6b0e-0000-4000-8000-000000000000",
    }))
}

/// `sys/internal/ui/mounts/<path>`: the mount holding `path`, shown only to a token that may touch
/// something under it; anything else (including an unknown mount) gets the same pre-flight 403.
pub fn ui_mount(state: &State, token: &Token, path: &str) -> Reply {
    let preflight = || {
        Reply::error(
            StatusCode::FORBIDDEN,
            format!(
                "preflight capability check returned 403, please ensure client's policies grant access to path \"{}/\"",
                path.trim_end_matches('/')
            ),
        )
    };
    let Some((key, _)) = state.mount_for(path) else {
        return preflight();
    };
    let Some(mount) = state.mounts.get(&key) else {
        return preflight();
    };
    if !State::is_root(token) && !state.acl(token).has_mount_access(&key) {
        return preflight();
    }
    let mut data = mount.describe(false);
    data["path"] = json!(key);
    Reply::data(data)
}

pub fn handle(state: &mut State, token: &Token, rest: &str, req: &Request) -> Reply {
    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match (head, tail, req.op) {
        ("mounts", "", Op::Read) => Reply::data_flattened(describe_all(&state.mounts, false)),
        ("mounts", path, _) => mount_op(&mut state.mounts, path, req, false),
        ("auth", "", Op::Read) => Reply::data_flattened(describe_all(&state.auth_mounts, true)),
        ("auth", path, _) => mount_op(&mut state.auth_mounts, path, req, true),
        ("policies", "acl", Op::List) | ("policies", "acl/", Op::List) => {
            Reply::data(json!({ "keys": policy_names(state) }))
        }
        ("policies", name, _) if name.starts_with("acl/") => {
            policy_op(state, &name[4..], req, false)
        }
        ("policy", "", Op::Read | Op::List) => {
            let names = policy_names(state);
            Reply::data_flattened(json!({ "keys": names, "policies": names }))
        }
        ("policy", name, _) => policy_op(state, name, req, true),
        ("capabilities-self", "", Op::Write) => capabilities_self(state, token, &req.body),
        _ => Reply::error(
            StatusCode::NOT_FOUND,
            "1 error occurred:\n\t* unsupported path\n\n",
        ),
    }
}

fn describe_all(mounts: &BTreeMap<String, Mount>, is_auth: bool) -> Value {
    Value::Object(
        mounts
            .iter()
            .map(|(k, m)| (k.clone(), m.describe(is_auth)))
            .collect(),
    )
}

fn mount_op(
    mounts: &mut BTreeMap<String, Mount>,
    path: &str,
    req: &Request,
    is_auth: bool,
) -> Reply {
    let key = format!("{}/", path.trim_matches('/'));
    match req.op {
        Op::Read => match mounts.get(&key) {
            Some(m) => Reply::data_flattened(m.describe(is_auth)),
            None => Reply::bad_request(format!("no mount at {key:?}")),
        },
        Op::Write => {
            if mounts.contains_key(&key) {
                return Reply::bad_request(format!("path is already in use at {key}"));
            }
            let Some(kind) = req
                .body
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            else {
                return Reply::bad_request("backend type must be specified as a string");
            };
            let options: Option<BTreeMap<String, String>> = match req.body.get("options") {
                Some(Value::Object(o)) => {
                    Some(o.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect())
                }
                _ if is_auth => Some(BTreeMap::new()),
                _ => None,
            };
            let mut mount = Mount::new(kind, options, if is_auth { "auth_" } else { "" });
            mount.description = req
                .body
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            mounts.insert(key, mount);
            Reply::no_content()
        }
        Op::Delete => {
            mounts.remove(&key);
            Reply::no_content()
        }
        Op::List => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "1 error occurred:\n\t* unsupported operation\n\n",
        ),
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Policy names as OpenBao lists them: sorted, with `root` appended last.
fn policy_names(state: &State) -> Vec<String> {
    let mut names: Vec<String> = state.policies.keys().cloned().collect();
    names.push("root".into());
    names
}

fn policy_op(state: &mut State, name: &str, req: &Request, legacy: bool) -> Reply {
    let name = name.trim_matches('/').to_lowercase();
    let text_key = if legacy { "rules" } else { "policy" };
    match req.op {
        Op::Read => {
            let mut data = json!({
                "allow_slashes_in_identity_templates": false,
                "allow_wildcards_in_identity_templates": false,
                "cas_required": false,
                "name": name,
            });
            if name == "root" {
                data[text_key] = json!("");
                data["version"] = json!(0);
            } else {
                let Some(p) = state.policies.get(&name) else {
                    return Reply::not_found();
                };
                data[text_key] = json!(p.text);
                data["version"] = json!(p.version);
                data["modified"] = json!(p.modified.to_string());
            }
            if legacy {
                Reply::data_flattened(data)
            } else {
                Reply::data(data)
            }
        }
        Op::Write => put_policy(state, name, &req.body),
        Op::Delete => match name.as_str() {
            "default" => Reply::bad_request("cannot delete default policy"),
            "root" => Reply::bad_request("cannot delete \"root\" policy"),
            _ => {
                state.policies.remove(&name);
                Reply::no_content()
            }
        },
        Op::List => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "1 error occurred:\n\t* unsupported operation\n\n",
        ),
    }
}

fn put_policy(state: &mut State, name: String, body: &Map<String, Value>) -> Reply {
    let from_rules = !body.contains_key("policy") && body.contains_key("rules");
    let text = ["policy", "rules"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or_default();
    if text.trim().is_empty() {
        return Reply::bad_request("'policy' parameter not supplied or empty");
    }
    if name == "root" {
        return Reply::bad_request("cannot update \"root\" policy");
    }
    let rules = match policy::parse(text) {
        Ok(r) => r,
        Err(e) => return Reply::bad_request(format!("failed to parse policy: {e}")),
    };
    let version = state
        .policies
        .get(&name)
        .map(|p| p.version + 1)
        .unwrap_or(1);
    state.policies.insert(
        name,
        StoredPolicy {
            text: text.to_string(),
            rules,
            version,
            modified: Timestamp::now(),
        },
    );
    if from_rules {
        let mut body = super::reply::envelope(Value::Null, Value::Null, 0);
        body["warnings"] = json!(["'rules' is deprecated, please use 'policy' instead"]);
        return Reply::ok(body);
    }
    Reply::no_content()
}

/// `sys/capabilities-self`: a map of path to capabilities, plus `capabilities` when exactly one path
/// was asked, with everything also copied to the top level, as OpenBao answers.
fn capabilities_self(state: &State, token: &Token, body: &Map<String, Value>) -> Reply {
    let mut paths: Vec<String> = Vec::new();
    for key in ["paths", "path"] {
        match body.get(key) {
            Some(Value::Array(items)) => {
                paths.extend(items.iter().filter_map(Value::as_str).map(str::to_string))
            }
            Some(Value::String(s)) => paths.extend(
                s.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty()),
            ),
            _ => {}
        }
    }
    if paths.is_empty() {
        return Reply::bad_request("paths must be supplied");
    }
    let acl = state.acl(token);
    let mut data = Map::new();
    for path in &paths {
        let caps = if State::is_root(token) {
            vec!["root".to_string()]
        } else {
            acl.capabilities(path)
        };
        data.insert(path.clone(), json!(caps));
    }
    if let (1, Some(caps)) = (data.len(), data.values().next().cloned()) {
        data.insert("capabilities".into(), caps);
    }
    Reply::data_flattened(Value::Object(data))
}
