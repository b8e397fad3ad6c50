//! Sets Vault state through Vault's own HTTP API, so the scenario loader configures the in-process
//! simulation and a real OpenBao with the same code. Errors name the operation and Vault's error text,
//! never a secret value or token.

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use super::tokenreview::http_client;

pub struct VaultAdmin {
    addr: String,
    token: String,
    client: reqwest::Client,
}

impl VaultAdmin {
    /// `addr` is `http(s)://host:port` without `/v1`. Plain HTTP is what local servers (the sim,
    /// `bao server -dev`) speak; for an https Vault use [`VaultAdmin::with_ca`].
    pub fn new(addr: &str, root_token: &str) -> anyhow::Result<VaultAdmin> {
        VaultAdmin::build(addr, root_token, None)
    }

    /// Like [`VaultAdmin::new`] for an https Vault whose certificate chains to `ca_pem` (and only to it).
    pub fn with_ca(addr: &str, root_token: &str, ca_pem: &str) -> anyhow::Result<VaultAdmin> {
        VaultAdmin::build(addr, root_token, Some(ca_pem))
    }

    fn build(addr: &str, root_token: &str, ca_pem: Option<&str>) -> anyhow::Result<VaultAdmin> {
        let addr = addr.trim_end_matches('/').to_string();
        anyhow::ensure!(
            addr.starts_with("http://") || addr.starts_with("https://"),
            "Vault address must start with http:// or https://"
        );
        Ok(VaultAdmin {
            addr,
            token: root_token.to_string(),
            client: http_client(ca_pem)?,
        })
    }

    pub async fn enable_kv(&self, mount: &str, version: u8) -> anyhow::Result<()> {
        let body = json!({"type": "kv", "options": {"version": version.to_string()}});
        self.send("POST", &format!("sys/mounts/{}", trim(mount)), Some(body))
            .await
            .map(drop)
    }

    /// Writes a secret: `<mount>/data/<path>` on KV v2, `<mount>/<path>` on KV v1 (the mount's version is looked up).
    pub async fn kv_put(
        &self,
        mount: &str,
        path: &str,
        data: &Map<String, Value>,
    ) -> anyhow::Result<()> {
        let mount = trim(mount);
        let info = self
            .send("GET", &format!("sys/internal/ui/mounts/{mount}"), None)
            .await?;
        let v2 = info
            .pointer("/data/options/version")
            .and_then(Value::as_str)
            == Some("2");
        let path = trim(path);
        if v2 {
            self.send(
                "POST",
                &format!("{mount}/data/{path}"),
                Some(json!({ "data": data })),
            )
            .await
            .map(drop)
        } else {
            self.send(
                "POST",
                &format!("{mount}/{path}"),
                Some(Value::Object(data.clone())),
            )
            .await
            .map(drop)
        }
    }

    /// Soft-deletes the current version of a KV v2 secret (`vault kv delete`), or destroys it
    /// (`vault kv destroy -versions=CURRENT`): its data is gone for good.
    pub async fn kv_delete_current(
        &self,
        mount: &str,
        path: &str,
        destroy: bool,
    ) -> anyhow::Result<()> {
        let (mount, path) = (trim(mount), trim(path));
        if !destroy {
            return self
                .send("DELETE", &format!("{mount}/data/{path}"), None)
                .await
                .map(drop);
        }
        let meta = self
            .send("GET", &format!("{mount}/metadata/{path}"), None)
            .await?;
        let current = meta
            .pointer("/data/current_version")
            .and_then(Value::as_u64)
            .context("no current_version in the secret's metadata")?;
        self.send(
            "POST",
            &format!("{mount}/destroy/{path}"),
            Some(json!({ "versions": [current] })),
        )
        .await
        .map(drop)
    }

    pub async fn put_policy(&self, name: &str, hcl: &str) -> anyhow::Result<()> {
        self.send(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({ "policy": hcl })),
        )
        .await
        .map(drop)
    }

    pub async fn delete_policy(&self, name: &str) -> anyhow::Result<()> {
        self.send("DELETE", &format!("sys/policies/acl/{name}"), None)
            .await
            .map(drop)
    }

    pub async fn enable_auth(&self, mount: &str, kind: &str) -> anyhow::Result<()> {
        self.send(
            "POST",
            &format!("sys/auth/{}", trim(mount)),
            Some(json!({ "type": kind })),
        )
        .await
        .map(drop)
    }

    /// Points kubernetes auth at an API server. With `disable_local_ca_jwt` Vault uses the client's own
    /// JWT to call TokenReview, which is what a Vault outside the cluster does.
    pub async fn configure_kubernetes(
        &self,
        mount: &str,
        kubernetes_host: &str,
        ca_pem: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut body = json!({"kubernetes_host": kubernetes_host, "disable_local_ca_jwt": true});
        if let Some(ca) = ca_pem {
            body["kubernetes_ca_cert"] = json!(ca);
        }
        self.send("POST", &format!("auth/{}/config", trim(mount)), Some(body))
            .await
            .map(drop)
    }

    pub async fn put_kubernetes_role(
        &self,
        mount: &str,
        role: &str,
        sa_names: &[&str],
        sa_namespaces: &[&str],
        policies: &[&str],
        audience: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut body = json!({
            "bound_service_account_names": sa_names,
            "bound_service_account_namespaces": sa_namespaces,
            "token_policies": policies,
        });
        if let Some(aud) = audience {
            body["audience"] = json!(aud);
        }
        self.send(
            "POST",
            &format!("auth/{}/role/{role}", trim(mount)),
            Some(body),
        )
        .await
        .map(drop)
    }

    /// Creates (or updates) an AppRole role and returns `(role_id, secret_id)` for a fresh secret id.
    pub async fn put_approle_role(
        &self,
        mount: &str,
        role: &str,
        policies: &[&str],
    ) -> anyhow::Result<(String, String)> {
        let base = format!("auth/{}/role/{role}", trim(mount));
        self.send("POST", &base, Some(json!({ "token_policies": policies })))
            .await?;
        let role_id = self.send("GET", &format!("{base}/role-id"), None).await?;
        let secret_id = self
            .send("POST", &format!("{base}/secret-id"), Some(json!({})))
            .await?;
        let field = |v: &Value, k: &str| {
            v.pointer(&format!("/data/{k}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match (field(&role_id, "role_id"), field(&secret_id, "secret_id")) {
            (Some(r), Some(s)) => Ok((r, s)),
            _ => bail!("AppRole {role}: Vault's answer had no role_id/secret_id"),
        }
    }

    /// An AppRole role whose role id and secret id are chosen (a scenario puts them in a Secret).
    pub async fn put_approle_with_ids(
        &self,
        mount: &str,
        role: &str,
        policies: &[&str],
        role_id: &str,
        secret_id: &str,
    ) -> anyhow::Result<()> {
        let base = format!("auth/{}/role/{role}", trim(mount));
        self.send("POST", &base, Some(json!({ "token_policies": policies })))
            .await?;
        self.send(
            "POST",
            &format!("{base}/role-id"),
            Some(json!({ "role_id": role_id })),
        )
        .await?;
        self.send(
            "POST",
            &format!("{base}/custom-secret-id"),
            Some(json!({ "secret_id": secret_id })),
        )
        .await
        .map(drop)
    }

    /// `vault write auth/MOUNT/role/ROLE/secret-id/destroy secret_id=…`.
    pub async fn destroy_approle_secret_id(
        &self,
        mount: &str,
        role: &str,
        secret_id: &str,
    ) -> anyhow::Result<()> {
        self.send(
            "POST",
            &format!("auth/{}/role/{role}/secret-id/destroy", trim(mount)),
            Some(json!({ "secret_id": secret_id })),
        )
        .await
        .map(drop)
    }

    /// A token carrying `policies` (plus `default`) for `ttl` (a Go duration such as `"1h"`).
    pub async fn create_token(&self, policies: &[&str], ttl: &str) -> anyhow::Result<String> {
        let answer = self
            .send(
                "POST",
                "auth/token/create",
                Some(json!({"policies": policies, "ttl": ttl})),
            )
            .await?;
        answer
            .pointer("/auth/client_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .context("auth/token/create: no client_token in Vault's answer")
    }

    /// A token with a chosen id (Vault lets root do this), so a scenario can put it in a Secret.
    pub async fn create_token_with_id(
        &self,
        id: &str,
        policies: &[&str],
        ttl: &str,
    ) -> anyhow::Result<()> {
        self.send(
            "POST",
            "auth/token/create",
            Some(json!({"id": id, "policies": policies, "ttl": ttl})),
        )
        .await
        .map(drop)
    }

    /// `vault token revoke TOKEN`.
    pub async fn revoke_token(&self, token: &str) -> anyhow::Result<()> {
        self.send("POST", "auth/token/revoke", Some(json!({ "token": token })))
            .await
            .map(drop)
    }

    /// One request; a non-2xx answer becomes an error naming the operation and Vault's `errors`.
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let url = format!("{}/v1/{path}", self.addr);
        let mut req = self
            .client
            .request(method.clone(), url)
            .header("X-Vault-Token", &self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{method} {path}: {}", e.without_url()))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        if !status.is_success() {
            let errors = json.get("errors").map(Value::to_string).unwrap_or_default();
            bail!("Vault {method} {path}: {status} {errors}");
        }
        Ok(json)
    }
}

fn trim(s: &str) -> &str {
    s.trim_matches('/')
}
