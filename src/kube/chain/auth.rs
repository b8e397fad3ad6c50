//! The credentials link: every Secret and ServiceAccount a store's auth block refers to, checked
//! for existence and for the referenced key (names and sizes only), and, for a probe "as ESO",
//! resolved to the credential ESO would use — including a TokenRequest for the store's
//! ServiceAccount, because that is how ESO logs in with Vault kubernetes auth and Azure workload
//! identity. Namespaces follow ESO: a SecretStore's refs live in its own namespace; a
//! ClusterSecretStore's refs name theirs (else the ExternalSecret's).

use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::Value;

#[path = "auth_aws.rs"]
mod aws;
#[path = "auth_kube.rs"]
mod kube_provider;

use super::extract::str_at;
use crate::diag::Diag;
use crate::kube::list::status_code;
pub use crate::model::chain::Sensitive;
use crate::model::chain::{CredentialFacts, StoreFacts};

/// How the probe logs in, as ESO would.
#[derive(Debug)]
pub enum ProbeAuth {
    VaultToken(Sensitive),
    VaultKubernetes {
        mount: String,
        role: String,
        jwt: Sensitive,
        /// `external-secrets/external-secrets`, for the report.
        service_account: String,
        /// The audiences the token was requested with (empty: the API server's default).
        audiences: Vec<String>,
    },
    VaultAppRole {
        mount: String,
        role_id: Sensitive,
        secret_id: Sensitive,
    },
    AzureSecret {
        tenant: String,
        client_id: String,
        secret: Sensitive,
    },
    AzureAssertion {
        tenant: String,
        client_id: String,
        assertion: Sensitive,
    },
    /// AWS static keys from the store's `auth.secretRef`.
    AwsStatic {
        access_key_id: Sensitive,
        secret_access_key: Sensitive,
        session_token: Option<Sensitive>,
    },
    /// AWS IRSA: a ServiceAccount token for the role its `eks.amazonaws.com/role-arn` names.
    AwsWebIdentity {
        role_arn: String,
        token: Sensitive,
        /// `ns/name`, for the report.
        service_account: String,
    },
    /// ESO's kubernetes provider: a bearer token (from a Secret, or requested for a
    /// ServiceAccount) for the store's API server.
    KubeToken {
        token: Sensitive,
        /// Whose it is, in words, for the report.
        from: String,
    },
    /// ESO's kubernetes provider without `auth`: an anonymous client.
    KubeAnonymous,
    /// ESO's kubernetes provider with `auth.cert`: the client certificate chain and its private
    /// key as one PEM identity (in memory only, never printed) for the TLS handshake.
    KubeCert {
        identity: Sensitive,
        /// Whose it is, in words (subject, issuer, Secret), for the report.
        from: String,
        summary: crate::provider::x509::CertSummary,
        /// An `authRef` kubeconfig user's token beside its certificate: sent as well, as
        /// client-go does.
        token: Option<Sensitive>,
    },
    /// ESO's kubernetes provider with `authRef`: the kubeconfig in a Secret names the API server
    /// (vouched for like a store's URL before anything is sent) and its CA; `login` is the
    /// kubeconfig user's credential (`KubeToken`, `KubeCert` or `KubeAnonymous`).
    KubeConfig {
        server: String,
        /// `certificate-authority-data`, PEM (public).
        ca_pem: Option<String>,
        login: Box<ProbeAuth>,
    },
    /// ESO's kubernetes provider where ESO cannot build its client at all (a CA or a client
    /// certificate it refuses): nothing is sent; `login_code` names the finding.
    KubeUnbuildable {
        login_code: String,
        why: String,
    },
    /// Why no credential could be resolved (recorded on the credentials link too).
    Unavailable(String),
}

#[derive(Default)]
pub struct Resolved {
    pub credentials: Vec<CredentialFacts>,
    /// Every credential value read (for scrubbing messages).
    pub read: Vec<Sensitive>,
    pub auth: Option<ProbeAuth>,
    pub ca_pem: Option<String>,
}

/// The API server an `authRef` store's kubeconfig names, once read.
pub fn kubeconfig_server(resolved: &Resolved) -> Option<&str> {
    match &resolved.auth {
        Some(ProbeAuth::KubeConfig { server, .. }) => Some(server),
        _ => None,
    }
}

/// ESO's own identity (Helm defaults), used by Vault kubernetes auth without serviceAccountRef.
const ESO_NAMESPACE: &str = "external-secrets";
const ESO_SERVICE_ACCOUNT: &str = "external-secrets";
const AZURE_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

struct Ctx<'a> {
    client: &'a Client,
    diag: &'a Diag,
    cluster: bool,
    es_namespace: &'a str,
    store_namespace: Option<String>,
    cache: BTreeMap<(String, String), Result<Option<Secret>, String>>,
    out: Vec<CredentialFacts>,
    /// Every value read, to scrub from messages before printing.
    read: Vec<Sensitive>,
}

impl Ctx<'_> {
    /// `: <why>` from the last ServiceAccount fact (a refused TokenRequest names the permission
    /// it lacks), for the probe's "not probed" reason and doctor's `incomplete` (issue 18).
    pub(crate) fn why_no_token(&self) -> String {
        self.out
            .iter()
            .rev()
            .find(|f| f.purpose == "serviceAccount")
            .and_then(|f| f.error.as_deref())
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    }

    fn ref_namespace(&self, r: &Value) -> String {
        if self.cluster {
            str_at(r, "/namespace")
                .unwrap_or(self.es_namespace)
                .to_string()
        } else {
            self.store_namespace
                .clone()
                .unwrap_or_else(|| self.es_namespace.to_string())
        }
    }

    /// Checks `{name, key}` and returns the value when present.
    async fn secret_key(&mut self, purpose: &str, r: &Value) -> Option<Sensitive> {
        let ns = self.ref_namespace(r);
        let name = str_at(r, "/name").unwrap_or_default().to_string();
        let key = str_at(r, "/key").map(str::to_string);
        let mut fact = CredentialFacts {
            purpose: purpose.to_string(),
            object: format!("Secret {ns}/{name}"),
            key: key.clone(),
            ..CredentialFacts::default()
        };
        if name.is_empty() {
            fact.error = Some(format!("{purpose}: the store names no Secret"));
            self.out.push(fact);
            return None;
        }
        let cache_key = (ns.clone(), name.clone());
        if !self.cache.contains_key(&cache_key) {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
            self.diag
                .log(1, format_args!("GET secret {ns}/{name} (credentials)"));
            let got = api.get_opt(&name).await.map_err(|e| match status_code(&e) {
                Some(403) => format!("no permission to get secret {name} in {ns}"),
                _ => format!(
                    "could not get secret {ns}/{name}: {}",
                    crate::kube::client::one_line(&e)
                ),
            });
            self.cache.insert(cache_key.clone(), got);
        }
        let mut value = None;
        match self.cache.get(&cache_key) {
            Some(Ok(Some(secret))) => {
                fact.exists = Some(true);
                let data = secret.data.clone().unwrap_or_default();
                // Every value of a credentials Secret, not only the referenced key: a message
                // may quote a client id kept next to the secret (issue 18).
                data.values().for_each(|v| crate::redact::learn(&v.0));
                fact.keys = data.keys().map(|k| crate::sanitize::line(k)).collect();
                match key.as_deref().and_then(|k| data.get(k)) {
                    Some(v) => {
                        fact.key_present = Some(true);
                        fact.size = Some(v.0.len());
                        value = Some(Sensitive::from_bytes(v.0.clone()));
                        self.read.push(Sensitive::from_bytes(v.0.clone()));
                    }
                    None => {
                        fact.key_present = Some(false);
                        fact.error = Some(format!(
                            "Secret {ns}/{name} has no key {:?} (keys: {})",
                            key.as_deref().unwrap_or(""),
                            fact.keys.join(", ")
                        ));
                    }
                }
            }
            Some(Ok(None)) => {
                fact.exists = Some(false);
                fact.error = Some(format!("Secret {ns}/{name} does not exist"));
            }
            Some(Err(e)) => fact.error = Some(e.clone()),
            None => {}
        }
        self.out.push(fact);
        value
    }

    /// Checks the ServiceAccount; with `audiences` (`Some`), requests a token for it.
    async fn service_account(
        &mut self,
        ns: &str,
        name: &str,
        audiences: Option<Vec<String>>,
        request: bool,
    ) -> (Option<Sensitive>, BTreeMap<String, String>) {
        let mut fact = CredentialFacts {
            purpose: "serviceAccount".into(),
            object: format!("ServiceAccount {ns}/{name}"),
            ..CredentialFacts::default()
        };
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), ns);
        self.diag
            .log(1, format_args!("GET serviceaccount {ns}/{name}"));
        let mut annotations = BTreeMap::new();
        match api.get_opt(name).await {
            Ok(Some(sa)) => {
                fact.exists = Some(true);
                annotations = sa.metadata.annotations.unwrap_or_default();
                fact.keys = annotations
                    .iter()
                    .filter(|(k, _)| k.starts_with("azure.workload.identity/"))
                    .map(|(k, v)| crate::sanitize::line(&format!("{k}={v}")))
                    .collect();
            }
            Ok(None) => {
                fact.exists = Some(false);
                fact.error = Some(format!("ServiceAccount {ns}/{name} does not exist"));
                self.out.push(fact);
                return (None, annotations);
            }
            Err(e) => {
                fact.error = Some(match status_code(&e) {
                    Some(403) => format!("no permission to get serviceaccount {name} in {ns}"),
                    _ => crate::kube::client::one_line(&e),
                });
            }
        }
        let mut token = None;
        if request {
            let tr = TokenRequest {
                spec: Some(TokenRequestSpec {
                    audiences,
                    expiration_seconds: Some(600),
                    ..TokenRequestSpec::default()
                }),
                ..TokenRequest::default()
            };
            self.diag.log(
                1,
                format_args!("POST serviceaccounts/{name}/token -n {ns} (TokenRequest)"),
            );
            match api
                .create_token_request(name, &PostParams::default(), &tr)
                .await
            {
                Ok(answer) => {
                    token = answer
                        .status
                        .and_then(|s| s.token)
                        .map(Sensitive::from_string)
                        .filter(|t| !t.bytes().is_empty());
                    // A credential we hold: scrub it from any provider message like the others read.
                    if let Some(t) = &token {
                        self.read.push(Sensitive::from_bytes(t.bytes().to_vec()));
                    }
                    if token.is_none() {
                        fact.error = Some("the TokenRequest returned no token".into());
                    }
                }
                Err(e) => {
                    fact.error = Some(match status_code(&e) {
                        Some(403) => format!(
                            "no permission to create tokens for serviceaccount {name} in {ns} (TokenRequest: create serviceaccounts/token)"
                        ),
                        _ => format!(
                            "TokenRequest for {ns}/{name} failed: {}",
                            crate::kube::client::one_line(&e)
                        ),
                    })
                }
            }
        }
        self.out.push(fact);
        (token, annotations)
    }
}

pub async fn resolve(
    client: &Client,
    store: &Value,
    store_facts: &StoreFacts,
    es_namespace: &str,
    request_tokens: bool,
    diag: &Diag,
) -> Resolved {
    let mut ctx = Ctx {
        client,
        diag,
        cluster: store_facts.kind == "ClusterSecretStore",
        es_namespace,
        store_namespace: store_facts.namespace.clone(),
        cache: BTreeMap::new(),
        out: Vec::new(),
        read: Vec::new(),
    };
    let mut resolved = Resolved::default();
    if let Some(v) = store.pointer("/spec/provider/vault") {
        resolved.ca_pem = ca_bundle(&mut ctx, v).await;
        resolved.auth = vault(&mut ctx, v, request_tokens).await;
    } else if let Some(a) = store.pointer("/spec/provider/azurekv") {
        resolved.auth = azure(&mut ctx, a, store_facts, request_tokens).await;
    } else if let Some(a) = store.pointer("/spec/provider/aws") {
        resolved.auth = aws::resolve(&mut ctx, a, request_tokens).await;
    } else if let Some(k) = store.pointer("/spec/provider/kubernetes") {
        // With authRef ESO's getAuth reads nothing else of the store: the kubeconfig names the
        // server and its CA.
        let auth_ref = k.get("authRef").is_some_and(|r| !r.is_null());
        let (mut pems, ca_refused) = match auth_ref {
            true => (Vec::new(), None),
            false => match kube_provider::ca(&mut ctx, k).await {
                Ok(pem) => (pem.into_iter().collect::<Vec<String>>(), None),
                Err(why) => (Vec::new(), Some(why)),
            },
        };
        // The store's own cluster is reached through the kubeconfig's server: trust its CAs.
        if crate::analysis::trust::kubernetes_server(store)
            == crate::analysis::trust::KubeServer::Home
        {
            pems.extend(
                crate::kube::client::home_cluster()
                    .map(|h| h.ca_pems.clone())
                    .unwrap_or_default(),
            );
        }
        resolved.ca_pem = (!pems.is_empty()).then(|| pems.join("\n"));
        // ESO's getAuth fetches the CA first: a CA it refuses builds no client, whatever the auth
        // (its Secrets are still checked; no token is minted for a client never built).
        let request = request_tokens && ca_refused.is_none();
        resolved.auth = kube_provider::resolve(&mut ctx, k, request).await;
        if let Some(pem) = kube_provider::kubeconfig_ca(resolved.auth.as_ref()) {
            resolved.ca_pem = Some(pem);
        }
        if let Some(why) = ca_refused {
            resolved.auth = Some(ProbeAuth::KubeUnbuildable {
                login_code: kube_provider::CA_INVALID.into(),
                why: format!("ESO cannot build its client: {why}"),
            });
        }
    }
    resolved.credentials = ctx.out;
    resolved.read = ctx.read;
    resolved
}

fn unavailable(why: &str) -> Option<ProbeAuth> {
    Some(ProbeAuth::Unavailable(why.to_string()))
}

async fn ca_bundle(ctx: &mut Ctx<'_>, v: &Value) -> Option<String> {
    use base64::Engine;
    if let Some(b) = str_at(v, "/caBundle") {
        let pem = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        return Some(String::from_utf8_lossy(&pem).into_owned());
    }
    let p = v.get("caProvider")?;
    if str_at(p, "/type") == Some("Secret") {
        return ctx.secret_key("caProvider", p).await.map(|s| s.text());
    }
    None
}

async fn vault(ctx: &mut Ctx<'_>, v: &Value, request: bool) -> Option<ProbeAuth> {
    let auth = v.get("auth")?;
    if let Some(r) = auth.get("tokenSecretRef") {
        let token = ctx.secret_key("token", r).await;
        return token
            .map(ProbeAuth::VaultToken)
            .or_else(|| unavailable("the Vault token Secret is unusable"));
    }
    if let Some(a) = auth.get("appRole") {
        let mount = str_at(a, "/path").unwrap_or("approle").to_string();
        let role_id = match (str_at(a, "/roleId"), a.get("roleRef")) {
            (Some(id), _) => Some(Sensitive::from_string(id.to_string())),
            (None, Some(r)) => ctx.secret_key("appRole roleId", r).await,
            (None, None) => None,
        };
        let secret_id = match a.get("secretRef") {
            Some(r) => ctx.secret_key("appRole secretId", r).await,
            None => None,
        };
        return match (role_id, secret_id) {
            (Some(role_id), Some(secret_id)) => Some(ProbeAuth::VaultAppRole {
                mount,
                role_id,
                secret_id,
            }),
            _ => unavailable("the AppRole role id or secret id is unusable"),
        };
    }
    if let Some(k) = auth.get("kubernetes") {
        let mount = str_at(k, "/mountPath").unwrap_or("kubernetes").to_string();
        let role = str_at(k, "/role").unwrap_or_default().to_string();
        if let Some(r) = k.get("secretRef") {
            let jwt = ctx.secret_key("kubernetes jwt", r).await;
            return match jwt {
                Some(jwt) => Some(ProbeAuth::VaultKubernetes {
                    mount,
                    role,
                    jwt,
                    service_account: "(token from Secret)".into(),
                    audiences: Vec::new(),
                }),
                None => unavailable("the kubernetes auth JWT Secret is unusable"),
            };
        }
        let (ns, name, audiences) = match k.get("serviceAccountRef") {
            Some(r) => {
                let auds: Vec<String> = r
                    .get("audiences")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
                (
                    ctx.ref_namespace(r),
                    str_at(r, "/name").unwrap_or_default().to_string(),
                    Some(auds).filter(|a| !a.is_empty()),
                )
            }
            // No serviceAccountRef: ESO logs in with its own ServiceAccount's token.
            None => (
                ESO_NAMESPACE.to_string(),
                ESO_SERVICE_ACCOUNT.to_string(),
                None,
            ),
        };
        let asked = audiences.clone().unwrap_or_default();
        let (jwt, _) = ctx.service_account(&ns, &name, audiences, request).await;
        return match jwt {
            Some(jwt) => Some(ProbeAuth::VaultKubernetes {
                mount,
                role,
                jwt,
                service_account: format!("{ns}/{name}"),
                audiences: asked,
            }),
            None if request => unavailable(&format!(
                "no token could be requested for serviceaccount {ns}/{name}{}",
                ctx.why_no_token()
            )),
            None => None,
        };
    }
    unavailable("this Vault auth method is not probed by kubectl-eso yet")
}

async fn azure(
    ctx: &mut Ctx<'_>,
    a: &Value,
    store: &StoreFacts,
    request: bool,
) -> Option<ProbeAuth> {
    let tenant = store.settings.get("tenantId").cloned().unwrap_or_default();
    match str_at(a, "/authType").unwrap_or("ServicePrincipal") {
        "ServicePrincipal" => {
            let refs = a.get("authSecretRef");
            let client_id = match refs.and_then(|r| r.get("clientId")) {
                Some(r) => ctx.secret_key("clientId", r).await,
                None => None,
            };
            if let Some(r) = refs.and_then(|r| r.get("clientCertificate")) {
                let _ = ctx.secret_key("clientCertificate", r).await;
                return unavailable(
                    "certificate credentials are checked in the cluster but not probed by kubectl-eso yet",
                );
            }
            let secret = match refs.and_then(|r| r.get("clientSecret")) {
                Some(r) => ctx.secret_key("clientSecret", r).await,
                None => None,
            };
            match (client_id, secret) {
                (Some(id), Some(secret)) => Some(ProbeAuth::AzureSecret {
                    tenant,
                    client_id: id.text(),
                    secret,
                }),
                _ => unavailable("the service principal's clientId or clientSecret is unusable"),
            }
        }
        "WorkloadIdentity" => {
            let r = a.get("serviceAccountRef").cloned().unwrap_or(Value::Null);
            let ns = ctx.ref_namespace(&r);
            let name = str_at(&r, "/name")
                .unwrap_or(ESO_SERVICE_ACCOUNT)
                .to_string();
            let (token, ann) = ctx
                .service_account(
                    &ns,
                    &name,
                    Some(vec![AZURE_EXCHANGE_AUDIENCE.to_string()]),
                    request,
                )
                .await;
            let client_id = ann
                .get("azure.workload.identity/client-id")
                .cloned()
                .unwrap_or_default();
            let tenant = ann
                .get("azure.workload.identity/tenant-id")
                .cloned()
                .unwrap_or(tenant);
            match token {
                Some(assertion) if !client_id.is_empty() => Some(ProbeAuth::AzureAssertion {
                    tenant,
                    client_id,
                    assertion,
                }),
                _ if client_id.is_empty() => unavailable(&format!(
                    "ServiceAccount {ns}/{name} has no azure.workload.identity/client-id annotation"
                )),
                _ if request => unavailable(&format!(
                    "no token could be requested for the ServiceAccount{}",
                    ctx.why_no_token()
                )),
                _ => None,
            }
        }
        "ManagedIdentity" => unavailable(
            "managed identity only works from inside Azure; use --probe-as me to probe with your Azure CLI login",
        ),
        other => unavailable(&format!("authType {other} is not probed by kubectl-eso")),
    }
}
