//! The credentials of a `kubernetes` provider store, resolved as ESO resolves them
//! (providers/v1/kubernetes/auth.go `getAuth`): `auth.token.bearerToken` (a token in a Secret),
//! `auth.serviceAccount` (a TokenRequest for that ServiceAccount, with the ref's audiences or the
//! API server's default), `auth.cert` (`clientCert` and `clientKey`, each any key of a Secret,
//! PEM, handed to client-go as the TLS client certificate and key) or `authRef` (a kubeconfig in
//! a Secret); no `auth` at all is an anonymous client. The CA is `server.caBundle` or
//! `server.caProvider` (a Secret or a ConfigMap, such as `kube-root-ca.crt`), checked as ESO and
//! client-go check it: a CA or a client certificate they refuse means ESO builds no client, and
//! the probe sends nothing either (`ProbeAuth::KubeUnbuildable`). Kubeconfigs are checked in the
//! cluster but not probed: see docs/providers.md.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::Value;

use super::{Ctx, ProbeAuth, Sensitive, str_at, unavailable};
use crate::kube::list::status_code;
use crate::model::chain::CredentialFacts;

pub(super) async fn resolve(ctx: &mut Ctx<'_>, k: &Value, request: bool) -> Option<ProbeAuth> {
    if let Some(r) = k.get("authRef").filter(|r| !r.is_null()) {
        return kubeconfig(ctx, r).await;
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
        let mut got = Vec::new();
        for field in ["clientCert", "clientKey"] {
            got.push(match c.get(field) {
                Some(r) => ctx.secret_key(field, r).await,
                None => None,
            });
        }
        let (Some(Some(key)), Some(Some(cert))) = (got.pop(), got.pop()) else {
            return unavailable("the client certificate or key Secret is unusable");
        };
        let at = |field: &str| {
            let r = c.get(field).cloned().unwrap_or(Value::Null);
            format!(
                "Secret {}/{}[{}]",
                ctx.ref_namespace(&r),
                str_at(&r, "/name").unwrap_or_default(),
                str_at(&r, "/key").unwrap_or_default()
            )
        };
        let (cert_at, key_at) = (at("clientCert"), at("clientKey"));
        return match crate::provider::x509::client_identity(cert.bytes(), key.bytes()) {
            Ok((pem, summary)) => {
                let identity = Sensitive::from_bytes(pem);
                ctx.read
                    .push(Sensitive::from_bytes(identity.bytes().to_vec()));
                Some(ProbeAuth::KubeCert {
                    identity,
                    from: format!(
                        "the client certificate {} (issued by {}) from {cert_at}",
                        summary.subject, summary.issuer
                    ),
                    summary,
                    token: None,
                })
            }
            Err(why) => {
                let (field, at) = if why.starts_with("clientCert") {
                    ("clientCert", &cert_at)
                } else {
                    ("clientKey", &key_at)
                };
                if let Some(f) = ctx.out.iter_mut().rev().find(|f| f.purpose == field) {
                    f.error = Some(format!("{at}: {why}"));
                }
                Some(ProbeAuth::KubeUnbuildable {
                    login_code: CLIENT_CERT_INVALID.into(),
                    why: format!(
                        "ESO cannot build its client: {why} (clientCert {cert_at}, clientKey \
                         {key_at})"
                    ),
                })
            }
        };
    }
    unavailable("this kubernetes auth method is not probed by kubectl-eso")
}

/// `authRef`: the kubeconfig in a Secret, read as client-go's `RESTConfigFromKubeConfig` reads it
/// (`provider::kubeconfig`). A kubeconfig client-go refuses builds no client
/// (`KubeUnbuildable`, nothing sent); a user whose credential comes from an exec plugin, an auth
/// provider, a file of ESO's pod or impersonation is named and not probed; a token, a client
/// certificate or no credential is probed at the server the kubeconfig names, once that server
/// is vouched for like a store's URL (the callers check, see `ProbeAuth::KubeConfig`).
async fn kubeconfig(ctx: &mut Ctx<'_>, r: &Value) -> Option<ProbeAuth> {
    use crate::provider::kubeconfig::{self, KubeconfigUser};
    let at = format!(
        "Secret {}/{}[{}]",
        ctx.ref_namespace(r),
        str_at(r, "/name").unwrap_or_default(),
        str_at(r, "/key").unwrap_or_default()
    );
    let Some(config) = ctx.secret_key("authRef (kubeconfig)", r).await else {
        return unavailable("the kubeconfig Secret (authRef) is unusable");
    };
    let parsed = kubeconfig::parse(config.bytes());
    drop(config);
    let kc = match parsed {
        Ok(kc) => kc,
        Err(why) => {
            if let Some(f) = ctx
                .out
                .iter_mut()
                .rev()
                .find(|f| f.purpose == "authRef (kubeconfig)")
            {
                f.error = Some(format!("{at}: {why}"));
            }
            return Some(ProbeAuth::KubeUnbuildable {
                login_code: KUBECONFIG_INVALID.into(),
                why: format!("ESO cannot build its client from the kubeconfig in {at}: {why}"),
            });
        }
    };
    if let Some(pem) = &kc.ca_pem
        && let Err(why) = crate::provider::x509::ca_any(pem.as_bytes())
    {
        return Some(ProbeAuth::KubeUnbuildable {
            login_code: CA_INVALID.into(),
            why: format!(
                "ESO cannot build its client: the kubeconfig in {at} has a \
                 certificate-authority-data that is not a PEM certificate: {why}"
            ),
        });
    }
    let whose = format!(
        "user {:?} of context {:?} in the kubeconfig in {at}",
        kc.user_name, kc.context
    );
    let login = match kc.user {
        KubeconfigUser::NotProbed(why) => {
            return unavailable(&format!(
                "the kubeconfig in {at} is not probed: {why}; kubectl-eso does not reproduce that"
            ));
        }
        KubeconfigUser::Token(token) => {
            ctx.read.push(Sensitive::from_bytes(token.bytes().to_vec()));
            ProbeAuth::KubeToken {
                token,
                from: format!("the token of {whose}"),
            }
        }
        KubeconfigUser::Anonymous => ProbeAuth::KubeAnonymous,
        KubeconfigUser::Cert { cert, key, token } => {
            ctx.read.push(Sensitive::from_bytes(key.bytes().to_vec()));
            if let Some(t) = &token {
                ctx.read.push(Sensitive::from_bytes(t.bytes().to_vec()));
            }
            match crate::provider::x509::client_identity(cert.bytes(), key.bytes()) {
                Ok((pem, summary)) => {
                    let identity = Sensitive::from_bytes(pem);
                    ctx.read
                        .push(Sensitive::from_bytes(identity.bytes().to_vec()));
                    let and_token = if token.is_some() {
                        " and the token"
                    } else {
                        ""
                    };
                    ProbeAuth::KubeCert {
                        identity,
                        from: format!(
                            "the client certificate {} (issued by {}){and_token} of {whose}",
                            summary.subject, summary.issuer
                        ),
                        summary,
                        token,
                    }
                }
                Err(why) => {
                    return Some(ProbeAuth::KubeUnbuildable {
                        login_code: CLIENT_CERT_INVALID.into(),
                        why: format!(
                            "ESO cannot build its client: {why} (client-certificate-data and \
                             client-key-data of {whose})"
                        ),
                    });
                }
            }
        }
    };
    Some(ProbeAuth::KubeConfig {
        server: kc.server,
        ca_pem: kc.ca_pem,
        login: Box::new(login),
    })
}

/// The CA the kubeconfig of an `authRef` store names, for the probe's HTTP client.
pub(super) fn kubeconfig_ca(auth: Option<&ProbeAuth>) -> Option<String> {
    match auth {
        Some(ProbeAuth::KubeConfig { ca_pem, .. }) => ca_pem.clone(),
        _ => None,
    }
}

pub use crate::provider::kubernetes::LOGIN_KUBECONFIG_INVALID as KUBECONFIG_INVALID;
pub use crate::provider::kubernetes::{
    LOGIN_CA_INVALID as CA_INVALID, LOGIN_CLIENT_CERT_INVALID as CLIENT_CERT_INVALID,
};

/// `server.caBundle`, else `server.caProvider` (Secret or ConfigMap), as PEM; `Err` when ESO
/// would refuse it (a caBundle whose first PEM block is no certificate, a caProvider value with
/// no PEM certificate), saying why without quoting it.
pub(super) async fn ca(ctx: &mut Ctx<'_>, k: &Value) -> Result<Option<String>, String> {
    use base64::Engine;
    if let Some(b) = str_at(k, "/server/caBundle") {
        let compact: String = b.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| {
                "server.caBundle is not a PEM certificate: it is not even base64 (the field \
                 holds the PEM base64-encoded)"
                    .to_string()
            })?;
        return crate::provider::x509::ca_bundle(&bytes).map(Some);
    }
    let Some(p) = k.pointer("/server/caProvider") else {
        return Ok(None);
    };
    let ns = ctx.ref_namespace(p);
    let what = format!(
        "server.caProvider ({} {ns}/{}[{}])",
        str_at(p, "/type").unwrap_or_default(),
        str_at(p, "/name").unwrap_or_default(),
        str_at(p, "/key").unwrap_or_default()
    );
    let pem = match str_at(p, "/type") {
        Some("Secret") => ctx.secret_key("caProvider", p).await.map(|s| s.text()),
        Some("ConfigMap") => config_map_key(ctx, p).await,
        _ => None,
    };
    match pem {
        Some(pem) => crate::provider::x509::ca_any(pem.as_bytes())
            .map(|()| Some(pem))
            .map_err(|why| format!("{what} is not a PEM certificate: {why}")),
        None => Ok(None),
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
