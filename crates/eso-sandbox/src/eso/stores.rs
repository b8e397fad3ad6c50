//! SecretStore / ClusterSecretStore handling in the simulated ESO: resolve the store's auth settings to
//! credentials (reading the referenced Secrets, requesting ServiceAccount tokens), validate the store as ESO's
//! store controller does, and decide whether a ClusterSecretStore admits a namespace.

use super::Ctx;
use super::provider::{self, AwsAuth, AzureCredential, ProviderError, VaultAuth};
use serde_json::Value;

/// The kube-apiserver audience ESO's own mounted ServiceAccount token carries.
const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
/// Where ESO itself runs (Helm defaults, see shared/eso/README.md).
pub const ESO_NAMESPACE: &str = "external-secrets";
pub const ESO_SERVICE_ACCOUNT: &str = "external-secrets";

/// A resolved provider, ready to be called.
pub enum Provider {
    Vault {
        server: String,
        mount: String,
        kv_version: String,
        auth: VaultAuth,
    },
    Azure {
        vault_url: String,
        authority: String,
        tenant: String,
        client_id: String,
        credential: AzureCredential,
    },
    /// ESO's kubernetes provider reading its own cluster (issue 15): the bearer token sent
    /// (empty: anonymous; a client certificate's session, `kubernetes::certificate_session`) and
    /// the remote namespace.
    Kubernetes {
        remote_namespace: String,
        token: String,
    },
    Aws {
        /// Where ESO's controller reaches the region (its AWS_*_ENDPOINT variables).
        endpoint: String,
        region: String,
        parameter_store: bool,
        prefix: String,
        auth: AwsAuth,
        role: Option<String>,
        external_id: Option<String>,
    },
}

pub fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    kube_sim::value_at(v, pointer).and_then(Value::as_str)
}

/// Namespace where a store's secret references are looked up: the SecretStore's own namespace, or the
/// `namespace` field of the reference for a ClusterSecretStore.
fn ref_namespace(store: &Value, reference: &Value, es_namespace: &str) -> String {
    if let Some(ns) = str_at(store, "/metadata/namespace") {
        return ns.to_string();
    }
    reference
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or(es_namespace)
        .to_string()
}

fn read_secret_key(
    ctx: &Ctx,
    store: &Value,
    reference: &Value,
    es_namespace: &str,
) -> Result<String, ProviderError> {
    let name = reference
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = reference
        .get("key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ns = ref_namespace(store, reference, es_namespace);
    let secret = ctx
        .store
        .get("v1", "Secret", Some(&ns), name)
        .ok_or_else(|| ProviderError(format!("cannot get Kubernetes secret \"{name}\" from namespace \"{ns}\": secrets \"{name}\" not found")))?;
    provider::secret_value(&secret, key)
        .ok_or_else(|| ProviderError(format!("cannot find secret data for key: \"{key}\"")))
}

fn service_account_token(
    ctx: &Ctx,
    store: &Value,
    sa_ref: Option<&Value>,
    es_namespace: &str,
    default_audiences: &[&str],
) -> Result<String, ProviderError> {
    let (ns, name, audiences) = match sa_ref {
        Some(r) => {
            let name = r
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let mut auds: Vec<String> = r
                .get("audiences")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if auds.is_empty() {
                auds = default_audiences.iter().map(|s| s.to_string()).collect();
            }
            (ref_namespace(store, r, es_namespace), name, auds)
        }
        None => (
            ESO_NAMESPACE.to_string(),
            ESO_SERVICE_ACCOUNT.to_string(),
            vec![API_AUDIENCE.to_string()],
        ),
    };
    // A token minted less than a minute ago for the same ServiceAccount (same uid) and audiences
    // is still good for ten: reuse it rather than sign one per reconcile (issue 16). Whether the
    // ServiceAccount exists is still asked every time.
    let uid = ctx
        .store
        .get("v1", "ServiceAccount", Some(&ns), &name)
        .and_then(|sa| str_at(&sa, "/metadata/uid").map(str::to_string));
    let key = uid.map(|uid| (ns.clone(), name.clone(), audiences.clone(), uid));
    if let Some(key) = &key
        && let Some(token) = ctx.cached_token(key)
    {
        return Ok(token);
    }
    let token = ctx
        .store
        .issue_token(&ns, &name, &audiences, 600)
        .map_err(|e| {
            ProviderError(format!(
                "failed to fetch token for service account {ns}/{name}: {e}"
            ))
        })?;
    if let Some(key) = key {
        ctx.remember_token(key, &token);
    }
    Ok(token)
}

/// Turn a store's provider block into something callable.
pub fn resolve(ctx: &Ctx, store: &Value, es_namespace: &str) -> Result<Provider, ProviderError> {
    let spec = store
        .pointer("/spec/provider")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(vault) = spec.get("vault") {
        let server = vault
            .get("server")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mount = vault
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("secret")
            .to_string();
        let kv_version = vault
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("v2")
            .to_string();
        let auth = vault.get("auth").cloned().unwrap_or(Value::Null);
        let auth = if let Some(t) = auth.get("tokenSecretRef") {
            VaultAuth::Token(read_secret_key(ctx, store, t, es_namespace)?)
        } else if let Some(k) = auth.get("kubernetes") {
            if let Some(r) = k.get("serviceAccountRef") {
                // ESO's Vault provider: TokenRequest, then the ServiceAccount's token Secrets.
                let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
                let ns = ref_namespace(store, r, es_namespace);
                if ctx
                    .store
                    .get("v1", "ServiceAccount", Some(&ns), name)
                    .is_none()
                {
                    return Err(ProviderError(format!(
                        "cannot request Kubernetes service account token for service account \
                         \"{name}\": cannot get Kubernetes service account \"{name}\": \
                         serviceaccounts \"{name}\" not found"
                    )));
                }
            }
            let jwt = match k.get("secretRef") {
                Some(r) => read_secret_key(ctx, store, r, es_namespace)?,
                None => service_account_token(
                    ctx,
                    store,
                    k.get("serviceAccountRef"),
                    es_namespace,
                    &[API_AUDIENCE],
                )?,
            };
            VaultAuth::Kubernetes {
                mount: k
                    .get("mountPath")
                    .and_then(Value::as_str)
                    .unwrap_or("kubernetes")
                    .to_string(),
                role: k
                    .get("role")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                jwt,
            }
        } else if let Some(a) = auth.get("appRole") {
            let role_id = match (a.get("roleId").and_then(Value::as_str), a.get("roleRef")) {
                (Some(id), _) => id.to_string(),
                (None, Some(r)) => read_secret_key(ctx, store, r, es_namespace)?,
                (None, None) => {
                    return Err(ProviderError("appRole needs roleId or roleRef".into()));
                }
            };
            let secret_ref = a.get("secretRef").cloned().unwrap_or(Value::Null);
            VaultAuth::AppRole {
                mount: a
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or("approle")
                    .to_string(),
                role_id,
                secret_id: read_secret_key(ctx, store, &secret_ref, es_namespace)?,
            }
        } else {
            return Err(ProviderError(
                "the sandbox supports Vault token, kubernetes and appRole auth only".into(),
            ));
        };
        return Ok(Provider::Vault {
            server,
            mount,
            kv_version,
            auth,
        });
    }
    if let Some(az) = spec.get("azurekv") {
        let vault_url = az
            .get("vaultUrl")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let tenant = az
            .get("tenantId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let authority = az
            .pointer("/customCloudConfig/activeDirectoryEndpoint")
            .and_then(Value::as_str)
            .unwrap_or("https://login.microsoftonline.com/")
            .to_string();
        let auth_type = az
            .get("authType")
            .and_then(Value::as_str)
            .unwrap_or("ServicePrincipal");
        let (client_id, credential) = match auth_type {
            "ServicePrincipal" => {
                let refs = az.get("authSecretRef").cloned().unwrap_or(Value::Null);
                let client_id = read_secret_key(ctx, store, &refs["clientId"], es_namespace)?;
                let secret = read_secret_key(ctx, store, &refs["clientSecret"], es_namespace)?;
                (client_id, AzureCredential::Secret(secret))
            }
            "WorkloadIdentity" => {
                let sa_ref = az.get("serviceAccountRef");
                let sa_ns = sa_ref
                    .map(|r| ref_namespace(store, r, es_namespace))
                    .unwrap_or_else(|| ESO_NAMESPACE.to_string());
                let sa_name = sa_ref
                    .and_then(|r| r.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let sa = ctx.store.get("v1", "ServiceAccount", Some(&sa_ns), sa_name);
                let client_id = az
                    .get("clientId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| {
                        sa.as_ref()
                            .and_then(|s| str_at(s, "/metadata/annotations/azure.workload.identity~1client-id"))
                            .map(str::to_string)
                    })
                    .ok_or_else(|| ProviderError("missing clientID: either serviceAccountRef or service account annotation 'azure.workload.identity/client-id' is missing".into()))?;
                let jwt = service_account_token(
                    ctx,
                    store,
                    sa_ref,
                    es_namespace,
                    &["api://AzureADTokenExchange"],
                )?;
                (client_id, AzureCredential::Assertion(jwt))
            }
            other => {
                return Err(ProviderError(format!(
                    "authType {other} needs the Azure instance metadata service, which does not exist in the sandbox"
                )));
            }
        };
        return Ok(Provider::Azure {
            vault_url,
            authority,
            tenant,
            client_id,
            credential,
        });
    }
    if let Some(aws) = spec.get("aws") {
        return resolve_aws(ctx, store, aws, es_namespace);
    }
    if let Some(k) = spec.get("kubernetes") {
        return kubernetes(ctx, store, k, es_namespace)
            .map_err(|e| ProviderError(format!("failed to prepare auth: {e}")));
    }
    Err(ProviderError(
        "the sandbox simulates the vault, azurekv, kubernetes and aws providers only".into(),
    ))
}

/// ESO's kubernetes provider's `getAuth` (providers/v1/kubernetes/auth.go).
fn kubernetes(
    ctx: &Ctx,
    store: &Value,
    k: &Value,
    es_namespace: &str,
) -> Result<Provider, ProviderError> {
    let remote_namespace = k
        .get("remoteNamespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    if k.get("authRef").is_some_and(|r| !r.is_null()) {
        return Err(ProviderError(
            "the sandbox does not simulate a kubeconfig in a Secret (authRef)".into(),
        ));
    }
    let url = k.pointer("/server/url").and_then(Value::as_str);
    if !super::kubernetes::is_home(url) {
        return Err(ProviderError(format!(
            "the sandbox simulates the kubernetes provider against its own cluster only, not {}",
            url.unwrap_or_default()
        )));
    }
    let auth = k.get("auth").cloned().unwrap_or(Value::Null);
    let token = if auth.is_null() {
        String::new()
    } else if let Some(r) = auth.pointer("/token/bearerToken") {
        read_secret_key(ctx, store, r, es_namespace)
            .map_err(|e| ProviderError(format!("could not fetch Auth.Token.BearerToken: {e}")))?
    } else if let Some(r) = auth.get("serviceAccount") {
        service_account_token(
            ctx,
            store,
            Some(r),
            es_namespace,
            &[kube_sim::auth::API_AUDIENCE],
        )
        .map_err(|e| {
            ProviderError(format!(
                "could not fetch Auth.ServiceAccount: cannot create service account token: {:?}",
                e.0
            ))
        })?
    } else if let Some(c) = auth.get("cert") {
        // getClientKeyAndCert, then client-go's tls.X509KeyPair when the clientset is built.
        let null = Value::Null;
        let cert = read_secret_key(
            ctx,
            store,
            c.get("clientCert").unwrap_or(&null),
            es_namespace,
        )
        .map_err(|e| {
            ProviderError(format!(
                "could not fetch client key and cert: unable to fetch client certificate: {}",
                e.0
            ))
        })?;
        let key = read_secret_key(
            ctx,
            store,
            c.get("clientKey").unwrap_or(&null),
            es_namespace,
        )
        .map_err(|e| {
            ProviderError(format!(
                "could not fetch client key and cert: unable to fetch client key: {}",
                e.0
            ))
        })?;
        super::kubernetes::key_pair(&cert, &key)
            .map_err(|e| ProviderError(format!("error configuring clientset: {e}")))?;
        super::kubernetes::certificate_session(&cert)
    } else {
        return Err(ProviderError("no auth provider given".into()));
    };
    Ok(Provider::Kubernetes {
        remote_namespace,
        token,
    })
}

/// ESO's providers/v1/aws/auth: `auth.jwt` (IRSA) first, then `auth.secretRef`; without either
/// the pod's default credential chain, which does not exist in the sandbox.
fn resolve_aws(
    ctx: &Ctx,
    store: &Value,
    aws: &Value,
    es_namespace: &str,
) -> Result<Provider, ProviderError> {
    let text = |k: &str| {
        aws.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let parameter_store = match text("service").as_deref() {
        Some("SecretsManager") => false,
        Some("ParameterStore") => true,
        other => {
            return Err(ProviderError(format!(
                "invalid service: {}",
                other.unwrap_or_default()
            )));
        }
    };
    let region = text("region").unwrap_or_default();
    let auth = aws.get("auth").cloned().unwrap_or(Value::Null);
    let auth = if let Some(sa_ref) = auth.pointer("/jwt/serviceAccountRef") {
        let name = str_at(sa_ref, "/name").unwrap_or_default().to_string();
        let ns = ref_namespace(store, sa_ref, es_namespace);
        let sa = ctx
            .store
            .get("v1", "ServiceAccount", Some(&ns), &name)
            .ok_or_else(|| ProviderError(format!("serviceaccounts \"{name}\" not found")))?;
        let role_arn = str_at(&sa, "/metadata/annotations/eks.amazonaws.com~1role-arn")
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                ProviderError(format!(
                    "an IAM role must be associated with service account {name} (namespace: {ns})"
                ))
            })?
            .to_string();
        let audience = str_at(&sa, "/metadata/annotations/eks.amazonaws.com~1audience")
            .filter(|a| !a.is_empty())
            .unwrap_or("sts.amazonaws.com")
            .to_string();
        let mut audiences = vec![audience];
        audiences.extend(
            sa_ref
                .get("audiences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string),
        );
        let jwt = ctx
            .store
            .issue_token(&ns, &name, &audiences, 600)
            .map_err(|e| {
                ProviderError(format!(
                    "failed to fetch token for service account {ns}/{name}: {e}"
                ))
            })?;
        AwsAuth::WebIdentity { role_arn, jwt }
    } else if let Some(r) = auth.get("secretRef") {
        let sak = read_secret_key(ctx, store, &r["secretAccessKeySecretRef"], es_namespace)
            .map_err(|e| ProviderError(format!("could not fetch SecretAccessKey secret: {e}")))?;
        let akid = read_secret_key(ctx, store, &r["accessKeyIDSecretRef"], es_namespace)
            .map_err(|e| ProviderError(format!("could not fetch accessKeyID secret: {e}")))?;
        let token =
            match r.get("sessionTokenSecretRef") {
                Some(t) => Some(read_secret_key(ctx, store, t, es_namespace).map_err(|e| {
                    ProviderError(format!("could not fetch SessionToken secret: {e}"))
                })?),
                None => None,
            };
        AwsAuth::Static(crate::aws::sigv4::Creds {
            access_key_id: akid,
            secret_access_key: sak,
            session_token: token,
        })
    } else {
        return Err(ProviderError(
            "get identity: get credentials: failed to refresh cached credentials, no EC2 IMDS role found, operation error ec2imds: GetMetadata, request canceled, context deadline exceeded".into(),
        ));
    };
    let endpoint = ctx.aws_endpoint().ok_or_else(|| {
        ProviderError(format!(
            "the sandbox has no AWS region: the store's region {region} cannot be reached"
        ))
    })?;
    Ok(Provider::Aws {
        endpoint,
        region,
        parameter_store,
        prefix: text("prefix").unwrap_or_default(),
        auth,
        role: text("role"),
        external_id: text("externalID"),
    })
}

/// What ESO's store controller does to decide Ready: build a client and, for Vault, call lookup-self; for
/// Key Vault, obtain a token.
/// ESO's referent authentication (`isReferentSpec`): a ClusterSecretStore whose credentials
/// reference (a Secret key selector or a `serviceAccountRef`) names no namespace reads it in each
/// ExternalSecret's namespace, so the store cannot be validated on its own.
pub fn is_referent(store: &Value) -> bool {
    fn walk(v: &Value, under_sa: bool) -> bool {
        match v {
            Value::Object(m) => {
                let selector = m.contains_key("name")
                    && (m.contains_key("key") || under_sa)
                    && m.get("type").and_then(Value::as_str) != Some("ConfigMap");
                if selector {
                    return !m.contains_key("namespace");
                }
                m.iter().any(|(k, c)| walk(c, k == "serviceAccountRef"))
            }
            Value::Array(a) => a.iter().any(|c| walk(c, false)),
            _ => false,
        }
    }
    store["kind"] == "ClusterSecretStore"
        && store
            .pointer("/spec/provider")
            .is_some_and(|p| walk(p, false))
}

/// A referent ClusterSecretStore is not validated: ESO's Vault client answers
/// `ValidationResultUnknown` with no error, which its store controller counts as valid.
pub async fn validate(ctx: &Ctx, store: &Value) -> Result<(), ProviderError> {
    if is_referent(store) {
        return Ok(());
    }
    validate_now(ctx, store).await
}

async fn validate_now(ctx: &Ctx, store: &Value) -> Result<(), ProviderError> {
    let ns = str_at(store, "/metadata/namespace")
        .unwrap_or(ESO_NAMESPACE)
        .to_string();
    match resolve(ctx, store, &ns)? {
        Provider::Vault { server, auth, .. } => {
            let token = provider::vault_login(&ctx.http, &server, &auth).await?;
            provider::vault_validate(&ctx.http, &server, &token).await
        }
        Provider::Azure {
            authority,
            tenant,
            client_id,
            credential,
            vault_url,
        } => provider::azure_token(
            &ctx.http,
            &authority,
            &tenant,
            &client_id,
            &credential,
            &azure_scope(&vault_url),
        )
        .await
        .map(|_| ()),
        Provider::Kubernetes {
            remote_namespace,
            token,
        } => super::kubernetes::validate(ctx, &token, &remote_namespace),
        // ESO's Validate: retrieve the credentials (STS for IRSA and roles; nothing for static keys).
        Provider::Aws {
            endpoint,
            region,
            auth,
            role,
            external_id,
            ..
        } => provider::aws_login(
            &ctx.http,
            &endpoint,
            &region,
            &auth,
            role.as_deref(),
            external_id.as_deref(),
        )
        .await
        .map(|_| ())
        .map_err(ProviderError),
    }
}

/// The OAuth scope for a vault URL: `https://<dns-suffix-host>/.default`; for the public cloud that is
/// `https://vault.azure.net/.default`.
pub fn azure_scope(vault_url: &str) -> String {
    let host = vault_url
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default();
    match host.split_once(".vault.") {
        Some((_, suffix)) => format!(
            "https://vault.{}/.default",
            suffix.split(':').next().unwrap_or(suffix)
        ),
        None => format!("https://{host}/.default"),
    }
}

/// ClusterSecretStore `spec.conditions`: does any condition admit `namespace`? No conditions admit all.
pub fn cluster_store_admits(
    store: &Value,
    namespace: &str,
    namespace_labels: &serde_json::Map<String, Value>,
) -> bool {
    let Some(conditions) = store.pointer("/spec/conditions").and_then(Value::as_array) else {
        return true;
    };
    if conditions.is_empty() {
        return true;
    }
    conditions.iter().any(|c| {
        let by_name = c
            .get("namespaces")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|n| n.as_str() == Some(namespace)));
        let by_regex = c
            .get("namespaceRegexes")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .any(|r| simple_regex_match(r, namespace))
            });
        let by_selector = c
            .get("namespaceSelector")
            .and_then(|s| s.get("matchLabels"))
            .and_then(Value::as_object)
            .is_some_and(|m| {
                !m.is_empty() && m.iter().all(|(k, v)| namespace_labels.get(k) == Some(v))
            });
        by_name || by_regex || by_selector
    })
}

/// `^prefix.*`-style anchored patterns are what namespaceRegexes hold in practice; this covers `^`, `$`, `.*`
/// and literals, which is all the scenarios use.
fn simple_regex_match(pattern: &str, text: &str) -> bool {
    let anchored_start = pattern.starts_with('^');
    let anchored_end = pattern.ends_with('$');
    let core = pattern.trim_start_matches('^').trim_end_matches('$');
    let parts: Vec<&str> = core.split(".*").collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        match text[pos..].find(part) {
            Some(idx) if i == 0 && anchored_start && idx != 0 => return false,
            Some(idx) => pos += idx + part.len(),
            None => return false,
        }
    }
    !anchored_end || parts.last().is_some_and(|p| p.is_empty()) || pos == text.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scope_follows_the_vault_dns_suffix() {
        assert_eq!(
            azure_scope("https://hybridops.vault.azure.net"),
            "https://vault.azure.net/.default"
        );
        assert_eq!(
            azure_scope("https://127.0.0.1:8443/kv/hybridops"),
            "https://127.0.0.1:8443/.default"
        );
    }

    #[test]
    fn cluster_store_conditions() {
        let open = json!({"spec": {}});
        assert!(cluster_store_admits(&open, "netbox", &Default::default()));
        let by_name = json!({"spec": {"conditions": [{"namespaces": ["netbox"]}]}});
        assert!(cluster_store_admits(
            &by_name,
            "netbox",
            &Default::default()
        ));
        assert!(!cluster_store_admits(&by_name, "prod", &Default::default()));
        let by_regex = json!({"spec": {"conditions": [{"namespaceRegexes": ["^team-.*"]}]}});
        assert!(cluster_store_admits(
            &by_regex,
            "team-a",
            &Default::default()
        ));
        assert!(!cluster_store_admits(
            &by_regex,
            "a-team-a",
            &Default::default()
        ));
        let by_label = json!({"spec": {"conditions": [{"namespaceSelector": {"matchLabels": {"eso": "on"}}}]}});
        let labels = json!({"eso": "on"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(cluster_store_admits(&by_label, "x", &labels));
        assert!(!cluster_store_admits(&by_label, "x", &Default::default()));
    }
}
