//! The credentials of a `kubernetes` provider store, resolved as ESO resolves them
//! (providers/v1/kubernetes/auth.go): `auth.token.bearerToken` (a token in a Secret),
//! `auth.serviceAccount` (a TokenRequest for that ServiceAccount, with the ref's audiences or the
//! API server's default), `auth.cert` (a client certificate and key in Secrets) or `authRef` (a
//! kubeconfig in a Secret); no `auth` at all is an anonymous client. The CA is
//! `server.caBundle` or `server.caProvider` (a Secret or a ConfigMap, such as `kube-root-ca.crt`).
//! Client certificates and kubeconfigs are checked in the cluster (present, key there) but not
//! probed: see docs/providers.md.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::Value;

use super::{Ctx, ProbeAuth, str_at, unavailable};
use crate::kube::list::status_code;
use crate::model::chain::CredentialFacts;

pub(super) async fn resolve(ctx: &mut Ctx<'_>, k: &Value, request: bool) -> Option<ProbeAuth> {
    if let Some(r) = k.get("authRef").filter(|r| !r.is_null()) {
        let _ = ctx.secret_key("authRef (kubeconfig)", r).await;
        return unavailable(
            "a kubeconfig in a Secret (authRef) is checked in the cluster but not probed by \
             kubectl-eso: the server it names is not vouched for",
        );
    }
    let Some(auth) = k.get("auth").filter(|a| !a.is_null()) else {
        return Some(ProbeAuth::KubeAnonymous);
    };
    if let Some(r) = auth.pointer("/token/bearerToken") {
        let ns = ctx.ref_namespace(r);
        let name = str_at(r, "/name").unwrap_or_default().to_string();
        return match ctx.secret_key("bearerToken", r).await {
            Some(token) => Some(ProbeAuth::KubeToken {
                token,
                from: format!("the bearer token from Secret {ns}/{name}"),
            }),
            None => unavailable("the bearer token Secret is unusable"),
        };
    }
    if let Some(r) = auth.get("serviceAccount") {
        let ns = ctx.ref_namespace(r);
        let name = str_at(r, "/name").unwrap_or_default().to_string();
        let audiences: Vec<String> = r
            .get("audiences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let asked = (!audiences.is_empty()).then_some(audiences);
        let (token, _) = ctx.service_account(&ns, &name, asked, request).await;
        return match token {
            Some(token) => Some(ProbeAuth::KubeToken {
                token,
                from: format!("ServiceAccount {ns}/{name} (a token requested as ESO does)"),
            }),
            None if request => unavailable(&format!(
                "no token could be requested for serviceaccount {ns}/{name}{}",
                ctx.why_no_token()
            )),
            None => None,
        };
    }
    if let Some(c) = auth.get("cert") {
        for (purpose, field) in [("clientCert", "clientCert"), ("clientKey", "clientKey")] {
            if let Some(r) = c.get(field) {
                let _ = ctx.secret_key(purpose, r).await;
            }
        }
        return unavailable(
            "client-certificate auth is checked in the cluster but not probed by kubectl-eso",
        );
    }
    unavailable("this kubernetes auth method is not probed by kubectl-eso")
}

/// `server.caBundle`, else `server.caProvider` (Secret or ConfigMap), as PEM.
pub(super) async fn ca(ctx: &mut Ctx<'_>, k: &Value) -> Option<String> {
    use base64::Engine;
    if let Some(b) = str_at(k, "/server/caBundle") {
        let pem = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        return Some(String::from_utf8_lossy(&pem).into_owned());
    }
    let p = k.pointer("/server/caProvider")?;
    match str_at(p, "/type") {
        Some("Secret") => ctx.secret_key("caProvider", p).await.map(|s| s.text()),
        Some("ConfigMap") => config_map_key(ctx, p).await,
        _ => None,
    }
}

/// A CA from a ConfigMap (`kube-root-ca.crt` / `ca.crt` is the usual one): public data.
async fn config_map_key(ctx: &mut Ctx<'_>, r: &Value) -> Option<String> {
    let ns = ctx.ref_namespace(r);
    let name = str_at(r, "/name").unwrap_or_default().to_string();
    let key = str_at(r, "/key").unwrap_or_default().to_string();
    let mut fact = CredentialFacts {
        purpose: "caProvider".into(),
        object: format!("ConfigMap {ns}/{name}"),
        key: Some(key.clone()),
        ..CredentialFacts::default()
    };
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    ctx.diag
        .log(1, format_args!("GET configmap {ns}/{name} (CA)"));
    let mut out = None;
    match api.get_opt(&name).await {
        Ok(Some(cm)) => {
            fact.exists = Some(true);
            let data = cm.data.unwrap_or_default();
            fact.keys = data.keys().map(|k| crate::sanitize::line(k)).collect();
            match data.get(&key) {
                Some(v) => {
                    fact.key_present = Some(true);
                    fact.size = Some(v.len());
                    out = Some(v.clone());
                }
                None => {
                    fact.key_present = Some(false);
                    fact.error = Some(format!(
                        "ConfigMap {ns}/{name} has no key {key:?} (keys: {})",
                        fact.keys.join(", ")
                    ));
                }
            }
        }
        Ok(None) => {
            fact.exists = Some(false);
            fact.error = Some(format!("ConfigMap {ns}/{name} does not exist"));
        }
        Err(e) => {
            fact.error = Some(match status_code(&e) {
                Some(403) => format!("no permission to get configmap {name} in {ns}"),
                _ => crate::kube::client::one_line(&e),
            })
        }
    }
    ctx.out.push(fact);
    out
}
