//! Everything the simulated Vault remembers: mounts, policies, tokens, KV data and auth roles.
//! Plain data behind one mutex; handlers lock it briefly and never across an await.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::policy::{self, Acl, PathRule};

/// OpenBao's default and maximum lease in dev mode (32 days), used when no TTL is asked for.
pub const DEFAULT_TTL_SECS: i64 = 2_764_800;

#[derive(Debug, Clone)]
pub struct Mount {
    pub kind: String,
    pub options: Option<BTreeMap<String, String>>,
    pub accessor: String,
    pub uuid: String,
    pub description: String,
    pub local: bool,
    pub seal_wrap: bool,
    pub builtin: bool,
}

impl Mount {
    pub fn new(
        kind: &str,
        options: Option<BTreeMap<String, String>>,
        accessor_prefix: &str,
    ) -> Mount {
        Mount {
            kind: kind.to_string(),
            options,
            accessor: format!("{accessor_prefix}{kind}_{}", short_hex()),
            uuid: uuid::Uuid::new_v4().to_string(),
            description: String::new(),
            local: false,
            seal_wrap: false,
            builtin: false,
        }
    }

    pub fn kv_version(&self) -> Option<u8> {
        if self.kind != "kv" {
            return None;
        }
        match self
            .options
            .as_ref()
            .and_then(|o| o.get("version"))
            .map(String::as_str)
        {
            Some("2") => Some(2),
            _ => Some(1),
        }
    }

    /// The mount as `sys/mounts` and `sys/internal/ui/mounts` describe it.
    pub fn describe(&self, is_auth: bool) -> Value {
        let mut config =
            json!({"default_lease_ttl": 0, "force_no_cache": false, "max_lease_ttl": 0});
        match (is_auth, self.kind.as_str()) {
            (true, _) => config["token_type"] = json!("default-service"),
            (false, "identity") => config["passthrough_request_headers"] = json!(["Authorization"]),
            (false, "system") => config["passthrough_request_headers"] = json!(["Accept"]),
            _ => {}
        }
        let mut out = json!({
            "accessor": self.accessor,
            "config": config,
            "description": self.description,
            "external_entropy_access": false,
            "local": self.local,
            "options": self.options,
            "plugin_version": "",
            "running_plugin_version": "v2.7.2+builtin.bao",
            "running_sha256": "",
            "seal_wrap": self.seal_wrap,
            "type": self.kind,
            "uuid": self.uuid,
        });
        if !self.builtin {
            out["deprecation_status"] = json!("supported");
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct StoredPolicy {
    pub text: String,
    pub rules: Vec<PathRule>,
    pub version: u64,
    pub modified: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub id: String,
    pub accessor: String,
    pub policies: Vec<String>,
    pub meta: Option<BTreeMap<String, String>>,
    pub display_name: String,
    pub path: String,
    pub entity_id: String,
    pub issued: Timestamp,
    /// 0 means it never expires (the root token).
    pub ttl_secs: i64,
    pub orphan: bool,
}

impl Token {
    pub fn expired(&self, now: Timestamp) -> bool {
        // Sub-second precision: a 1s token issued at x.999 must not expire at x+1.0.
        let ttl = jiff::SignedDuration::from_secs(self.ttl_secs);
        self.ttl_secs > 0 && now.duration_since(self.issued) >= ttl
    }

    /// The `auth` block of a login or token-create response.
    pub fn auth_block(&self) -> Value {
        json!({
            "client_token": self.id,
            "accessor": self.accessor,
            "policies": self.policies,
            "token_policies": self.policies,
            "metadata": self.meta,
            "lease_duration": self.ttl_secs,
            "renewable": self.ttl_secs > 0,
            "entity_id": self.entity_id,
            "token_type": "service",
            "orphan": self.orphan,
            "mfa_requirement": null,
            "num_uses": 0,
        })
    }

    /// The `data` of `auth/token/lookup-self`.
    pub fn lookup(&self, now: Timestamp) -> Value {
        let expire = (self.ttl_secs > 0).then(|| {
            let at = Timestamp::from_second(self.issued.as_second() + self.ttl_secs)
                .unwrap_or(self.issued);
            at.to_string()
        });
        let remaining = if self.ttl_secs > 0 {
            (self.issued.as_second() + self.ttl_secs - now.as_second()).max(0)
        } else {
            0
        };
        json!({
            "accessor": self.accessor,
            "creation_time": self.issued.as_second(),
            "creation_ttl": self.ttl_secs,
            "display_name": self.display_name,
            "entity_id": self.entity_id,
            "expire_time": expire,
            "explicit_max_ttl": 0,
            "id": self.id,
            "issue_time": self.issued.to_string(),
            "meta": self.meta,
            "num_uses": 0,
            "orphan": self.orphan,
            "path": self.path,
            "policies": self.policies,
            "renewable": self.ttl_secs > 0,
            "ttl": remaining,
            "type": "service",
        })
    }
}

#[derive(Debug, Clone)]
pub struct KvVersion {
    pub data: Map<String, Value>,
    pub created: Timestamp,
    pub deleted: Option<Timestamp>,
    pub destroyed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct KvSecret {
    pub versions: BTreeMap<u64, KvVersion>,
}

#[derive(Debug, Clone)]
pub struct AppRole {
    pub role_id: String,
    pub policies: Vec<String>,
    pub legacy_policies: bool,
    pub secret_ids: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct KubeConfig {
    pub host: String,
    pub ca_pem: String,
}

#[derive(Debug, Clone)]
pub struct KubeRole {
    pub sa_names: Vec<String>,
    pub sa_namespaces: Vec<String>,
    pub policies: Vec<String>,
    /// Set through the deprecated `policies` field rather than `token_policies`.
    pub legacy_policies: bool,
    pub audience: Option<String>,
}

/// Everything, keyed the way Vault paths address it. Mount keys end with `/` as in `sys/mounts`.
#[derive(Debug, Default)]
pub struct State {
    pub mounts: BTreeMap<String, Mount>,
    pub auth_mounts: BTreeMap<String, Mount>,
    pub policies: BTreeMap<String, StoredPolicy>,
    pub tokens: HashMap<String, Token>,
    /// (mount key, secret path) -> KV v2 secret.
    pub kv2: BTreeMap<(String, String), KvSecret>,
    /// (mount key, secret path) -> KV v1 data.
    pub kv1: BTreeMap<(String, String), Map<String, Value>>,
    /// (auth mount key, role name) -> role.
    pub approles: BTreeMap<(String, String), AppRole>,
    pub kube_configs: BTreeMap<String, KubeConfig>,
    pub kube_roles: BTreeMap<(String, String), KubeRole>,
    /// alias (mount accessor + name) -> entity id, so repeated logins share one entity as in Vault.
    pub entities: HashMap<String, String>,
}

impl State {
    /// A fresh dev-mode server: the mounts, policies and root token `bao server -dev` starts with.
    pub fn dev(root_token: &str) -> State {
        let mut s = State::default();
        let builtin = |kind: &str, desc: &str, local: bool, seal_wrap: bool| {
            let mut m = Mount::new(kind, None, "");
            m.description = desc.into();
            m.local = local;
            m.seal_wrap = seal_wrap;
            m.builtin = true;
            m
        };
        s.mounts.insert(
            "cubbyhole/".into(),
            builtin("cubbyhole", "per-token private secret storage", true, false),
        );
        s.mounts.insert(
            "identity/".into(),
            builtin("identity", "identity store", false, false),
        );
        s.mounts.insert(
            "sys/".into(),
            builtin(
                "system",
                "system endpoints used for control, policy and debugging",
                false,
                true,
            ),
        );
        let mut secret = Mount::new(
            "kv",
            Some(BTreeMap::from([("version".into(), "2".into())])),
            "",
        );
        secret.description = "key/value secret storage".into();
        s.mounts.insert("secret/".into(), secret);
        let mut token = Mount::new("token", None, "auth_");
        token.description = "token based credentials".into();
        token.builtin = true;
        s.auth_mounts.insert("token/".into(), token);
        let rules = policy::parse(policy::DEFAULT_POLICY).unwrap_or_default();
        s.policies.insert(
            "default".into(),
            StoredPolicy {
                text: policy::DEFAULT_POLICY.into(),
                rules,
                version: 1,
                modified: Timestamp::now(),
            },
        );
        let root = Token {
            id: root_token.to_string(),
            accessor: random_alnum(24),
            policies: vec!["root".into()],
            meta: None,
            display_name: "token".into(),
            path: "auth/token/create".into(),
            entity_id: String::new(),
            issued: Timestamp::now(),
            ttl_secs: 0,
            orphan: true,
        };
        s.tokens.insert(root.id.clone(), root);
        s
    }

    /// The token presented, if it exists and has not expired.
    pub fn token(&self, id: &str) -> Option<&Token> {
        self.tokens.get(id).filter(|t| !t.expired(Timestamp::now()))
    }

    pub fn is_root(token: &Token) -> bool {
        token.policies.iter().any(|p| p == "root")
    }

    /// The merged ACL of a token's policies that still exist: a deleted policy simply stops granting.
    pub fn acl(&self, token: &Token) -> Acl {
        Acl::new(
            token
                .policies
                .iter()
                .filter_map(|p| self.policies.get(p))
                .map(|p| p.rules.as_slice()),
        )
    }

    pub fn issue_token(&mut self, spec: TokenSpec) -> Token {
        let id = format!("s.{}", random_alnum(24));
        self.issue_token_with_id(spec, &id)
    }

    pub fn issue_token_with_id(&mut self, spec: TokenSpec, id: &str) -> Token {
        let token = Token {
            id: id.to_string(),
            accessor: random_alnum(24),
            policies: spec.policies,
            meta: spec.meta,
            display_name: spec.display_name,
            path: spec.path,
            entity_id: spec.entity_id,
            issued: Timestamp::now(),
            ttl_secs: spec.ttl_secs,
            orphan: spec.orphan,
        };
        self.tokens.insert(token.id.clone(), token.clone());
        token
    }

    /// The entity for an alias, created on first login like Vault's identity store does.
    pub fn entity_for(&mut self, alias: String) -> String {
        self.entities
            .entry(alias)
            .or_insert_with(|| uuid::Uuid::new_v4().to_string())
            .clone()
    }

    /// The longest mount key that prefixes `path`, with the rest of the path.
    pub fn mount_for<'a>(&self, path: &'a str) -> Option<(String, &'a str)> {
        let with_slash = format!("{}/", path.trim_end_matches('/'));
        self.mounts
            .keys()
            .filter(|m| path.starts_with(m.as_str()) || with_slash == **m)
            .max_by_key(|m| m.len())
            .map(|m| (m.clone(), path.get(m.len()..).unwrap_or("")))
    }
}

pub struct TokenSpec {
    pub policies: Vec<String>,
    pub meta: Option<BTreeMap<String, String>>,
    pub display_name: String,
    pub path: String,
    pub entity_id: String,
    pub ttl_secs: i64,
    pub orphan: bool,
}

/// Vault's policy list on a new token: de-duplicated, sorted, `default` added, and `root` alone when present.
pub fn token_policies(requested: &[String], add_default: bool) -> Vec<String> {
    let mut out: Vec<String> = requested
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    if out.iter().any(|p| p == "root") {
        return vec!["root".into()];
    }
    if add_default {
        out.push("default".into());
    }
    out.sort();
    out.dedup();
    out
}

/// Parses a Go duration (`"1h"`, `"90m"`, `"1h30m"`, `"3600s"`) or plain seconds, giving OpenBao's error text.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let err = || format!("time: invalid duration {text:?}");
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(err()),
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    Ok(total as i64)
}

pub fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            // Rejection keeps the distribution uniform over the 62 symbols.
            if (*b as usize) < 248 && out.len() < len {
                out.push(ALPHABET[*b as usize % 62] as char);
            }
        }
    }
    out
}

fn short_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(
            parse_duration("bogus"),
            Err("time: invalid duration \"bogus\"".into())
        );
    }

    #[test]
    fn policies_get_default_and_are_sorted() {
        let got = token_policies(&["eso-user-service".into(), "eso-default".into()], true);
        assert_eq!(got, vec!["default", "eso-default", "eso-user-service"]);
        assert_eq!(
            token_policies(&["root".into(), "x".into()], true),
            vec!["root"]
        );
    }

    #[test]
    fn mount_lookup_prefers_the_longest_prefix() {
        let mut s = State::dev("root");
        s.mounts
            .insert("secret/team/".into(), Mount::new("kv", None, ""));
        assert_eq!(
            s.mount_for("secret/team/x"),
            Some(("secret/team/".into(), "x"))
        );
        assert_eq!(
            s.mount_for("secret/data/x"),
            Some(("secret/".into(), "data/x"))
        );
        assert_eq!(s.mount_for("nope/x"), None);
    }
}
