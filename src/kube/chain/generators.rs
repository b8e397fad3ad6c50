//! The generators an ExternalSecret names (`dataFrom[].sourceRef.generatorRef`, issue 14), read from
//! the cluster for `describe-chain`. A generator is a link like a store: it may be missing or of an
//! unknown kind (recorded, not a crash). A VaultDynamicSecret's `spec.provider` is a Vault store's
//! provider block, so it is handed to the same trust rule, credential resolution and Vault probe as
//! a SecretStore (a ClusterGenerator as a ClusterSecretStore) — with its path asked about and never
//! read, since reading a dynamic path mints a credential.

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use serde_json::{Value, json};

use super::extract;
use crate::diag::Diag;
use crate::kube::list::status_code;
use crate::model::chain::{GeneratorFacts, RemoteRefFacts, StoreFacts};
use crate::model::eso::ExternalSecret;
use crate::sanitize;

pub const GROUP: &str = "generators.external-secrets.io";

/// Generator kinds of ESO v2.9.0 (`generators.external-secrets.io`), as the CRD's enum lists them.
pub const KINDS: &[&str] = &[
    "ACRAccessToken",
    "BeyondtrustWorkloadCredentialsDynamicSecret",
    "ClusterGenerator",
    "CloudsmithAccessToken",
    "ECRAuthorizationToken",
    "Fake",
    "GCRAccessToken",
    "GithubAccessToken",
    "GitlabDeployToken",
    "QuayAccessToken",
    "Password",
    "SSHKey",
    "STSSessionToken",
    "UUID",
    "VaultDynamicSecret",
    "Webhook",
    "Grafana",
    "MFA",
];

/// One generator as read: its facts and, when found, the spec it runs (a ClusterGenerator unwrapped).
pub struct Fetched {
    pub facts: GeneratorFacts,
    pub spec: Option<Value>,
}

fn resource(api_version: &str, kind: &str) -> ApiResource {
    let version = api_version
        .split_once('/')
        .map(|(_, v)| v)
        .unwrap_or("v1alpha1");
    ApiResource {
        group: GROUP.into(),
        version: version.into(),
        api_version: format!("{GROUP}/{version}"),
        kind: kind.into(),
        plural: format!("{}s", kind.to_ascii_lowercase()),
    }
}

/// `ClusterGenerator.spec.generator.<field>` for a kind: `passwordSpec`, `acrAccessTokenSpec`.
pub fn cluster_spec_field(kind: &str) -> String {
    let head = match kind {
        "ACRAccessToken" => "acrAccessToken".to_string(),
        "ECRAuthorizationToken" => "ecrAuthorizationToken".into(),
        "GCRAccessToken" => "gcrAccessToken".into(),
        "STSSessionToken" => "stsSessionToken".into(),
        "SSHKey" => "sshKey".into(),
        "UUID" => "uuid".into(),
        "MFA" => "mfa".into(),
        other => {
            let mut c = other.chars();
            match c.next() {
                Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
                None => String::new(),
            }
        }
    };
    format!("{head}Spec")
}

pub async fn fetch(client: &Client, es: &ExternalSecret, diag: &Diag) -> Vec<Fetched> {
    let ns = es.namespace();
    let mut out = Vec::new();
    for (i, entry) in es.spec.data_from.iter().enumerate() {
        let Some(g) = entry
            .source_ref
            .as_ref()
            .and_then(|s| s.generator_ref.as_ref())
        else {
            continue;
        };
        let cluster = g.kind == "ClusterGenerator";
        let mut facts = GeneratorFacts {
            source: format!("dataFrom[{i}]"),
            kind: sanitize::line(&g.kind),
            name: sanitize::line(&g.name),
            namespace: (!cluster).then(|| ns.to_string()),
            ..GeneratorFacts::default()
        };
        if !KINDS.contains(&g.kind.as_str()) {
            facts.error = Some(format!(
                "generatorRef.kind {:?} is not a generator kind of {GROUP}",
                facts.kind
            ));
            out.push(Fetched { facts, spec: None });
            continue;
        }
        let ar = resource(
            g.api_version
                .as_deref()
                .unwrap_or("generators.external-secrets.io/v1alpha1"),
            &g.kind,
        );
        let api: Api<DynamicObject> = if cluster {
            Api::all_with(client.clone(), &ar)
        } else {
            Api::namespaced_with(client.clone(), ns, &ar)
        };
        diag.log(1, format_args!("GET {} {}", ar.plural, g.name));
        let obj = match api.get_opt(&g.name).await {
            Ok(Some(o)) => super::to_value(&o),
            Ok(None) => {
                facts.found = Some(false);
                out.push(Fetched { facts, spec: None });
                continue;
            }
            Err(e) => {
                facts.error = Some(match status_code(&e) {
                    Some(403) => format!("no permission to get {} {}", ar.plural, facts.name),
                    _ => format!(
                        "could not get {} {}: {}",
                        ar.plural,
                        facts.name,
                        crate::kube::client::one_line(&e)
                    ),
                });
                out.push(Fetched { facts, spec: None });
                continue;
            }
        };
        facts.found = Some(true);
        let (runs, spec) = if cluster {
            let runs = obj
                .pointer("/spec/kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let spec = obj
                .pointer(&format!("/spec/generator/{}", cluster_spec_field(&runs)))
                .cloned();
            if spec.is_none() {
                facts.error = Some(format!(
                    "ClusterGenerator {} runs {:?} but has no spec.generator.{}",
                    facts.name,
                    sanitize::line(&runs),
                    cluster_spec_field(&runs)
                ));
            }
            facts.runs = Some(sanitize::line(&runs));
            (runs, spec)
        } else {
            (g.kind.clone(), obj.get("spec").cloned())
        };
        if let Some(spec) = &spec {
            facts.settings = settings(&runs, spec);
        }
        out.push(Fetched { facts, spec });
    }
    out
}

/// What a generator does, without any secret: the settings a runbook asks about.
fn settings(kind: &str, spec: &Value) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let text = |p: &str| {
        spec.pointer(p).and_then(|v| match v {
            Value::String(s) if !s.is_empty() => Some(sanitize::line(s)),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
    };
    let mut put = |k: &str, p: &str| {
        if let Some(v) = text(p) {
            out.insert(k.to_string(), v);
        }
    };
    match kind {
        "VaultDynamicSecret" => {
            put("path", "/path");
            put("method", "/method");
            put("resultType", "/resultType");
            let (_, vault) = extract::provider_settings(
                &json!({"spec": {"provider": {"vault": spec.get("provider")}}}),
            );
            for (k, v) in vault {
                if k != "path" && k != "version" {
                    out.insert(k, v);
                }
            }
        }
        "Password" => {
            put("length", "/length");
            put("digits", "/digits");
            put("symbols", "/symbols");
        }
        "ACRAccessToken" => {
            put("registry", "/registry");
            put("tenantId", "/tenantId");
            put("environmentType", "/environmentType");
            put("scope", "/scope");
            if let Some(a) = spec.pointer("/auth").and_then(Value::as_object)
                && let Some((method, _)) = a.iter().next()
            {
                out.insert("auth".into(), sanitize::line(method));
            }
        }
        "ECRAuthorizationToken" | "STSSessionToken" => {
            put("region", "/region");
            put("role", "/role");
        }
        "GCRAccessToken" => put("projectID", "/projectID"),
        "Webhook" => {
            put("url", "/url");
            put("method", "/method");
        }
        _ => {}
    }
    out
}

/// When every value comes from generators, the chain's store link is the first generator: a
/// VaultDynamicSecret becomes a stand-in Vault store (namespaced like a SecretStore, a
/// ClusterGenerator like a ClusterSecretStore) so trust, credentials and the probe treat it as ESO
/// does; its path is a remote ref that is asked about and never read.
pub fn as_store(
    gens: &[Fetched],
    es_namespace: &str,
) -> (StoreFacts, Option<Value>, Option<RemoteRefFacts>) {
    let Some(first) = gens.first() else {
        return (StoreFacts::default(), None, None);
    };
    let f = &first.facts;
    let runs = f.runs.clone().unwrap_or_else(|| f.kind.clone());
    let mut store = StoreFacts {
        kind: if f.kind == "ClusterGenerator" {
            "ClusterGenerator".into()
        } else {
            f.kind.clone()
        },
        name: f.name.clone(),
        namespace: f.namespace.clone(),
        found: f.found,
        error: f.error.clone(),
        generator: Some(runs.clone()),
        settings: f.settings.clone(),
        ..StoreFacts::default()
    };
    if let (Some(spec), "ACRAccessToken") = (&first.spec, runs.as_str()) {
        let value = acr_stand_in(spec, f, es_namespace);
        store.provider = value.as_ref().map(|_| "azurekv".to_string());
        return (store, value, None);
    }
    let (Some(spec), "VaultDynamicSecret") = (&first.spec, runs.as_str()) else {
        return (store, None, None);
    };
    let path = spec
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim_start_matches('/');
    let (mount, key) = path.split_once('/').unwrap_or((path, ""));
    let mut provider = spec.get("provider").cloned().unwrap_or(json!({}));
    if let Some(p) = provider.as_object_mut() {
        // The path is the generator's own: as a KV v1 "mount/key" it is asked about verbatim.
        p.insert("path".into(), json!(mount));
        p.insert("version".into(), json!("v1"));
    }
    store.provider = Some("vault".into());
    let value = json!({
        "apiVersion": format!("{GROUP}/v1alpha1"),
        "kind": if f.kind == "ClusterGenerator" { "ClusterSecretStore" } else { "SecretStore" },
        "metadata": {"name": f.name, "namespace": es_namespace},
        "spec": {"provider": {"vault": provider}},
    });
    let method = spec
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .filter(|m| !m.is_empty() && m != "GET");
    let remote = RemoteRefFacts {
        source: format!("{}.sourceRef.generatorRef", f.source),
        key: key.to_string(),
        generator: true,
        method: method.map(|m| sanitize::line(&m)),
        ..RemoteRefFacts::default()
    };
    (store, Some(value), Some(remote))
}

/// An ACRAccessToken's Entra login is a Key Vault store's (tenant, cloud, service principal or
/// workload identity), so it is walked as a stand-in azurekv store with no vault: the login is
/// probed as ESO makes it (for the Resource Manager audience, `acrRegistry` tells the probe) and
/// vouched for like a ClusterSecretStore's or SecretStore's. The registry is never contacted: its
/// token exchange mints a refresh token, so it is not attempted and the registry host is no
/// endpoint the credential is sent to.
fn acr_stand_in(spec: &Value, f: &GeneratorFacts, es_namespace: &str) -> Option<Value> {
    let registry = spec.get("registry").and_then(Value::as_str)?;
    let auth = spec.get("auth").cloned().unwrap_or(json!({}));
    let mut provider = json!({
        "acrRegistry": registry,
        "tenantId": spec.get("tenantId"),
        "environmentType": spec.get("environmentType").cloned().unwrap_or(json!("PublicCloud")),
    });
    if let Some(sp) = auth.pointer("/servicePrincipal/secretRef") {
        provider["authType"] = json!("ServicePrincipal");
        provider["authSecretRef"] = sp.clone();
    } else if let Some(wi) = auth.get("workloadIdentity") {
        provider["authType"] = json!("WorkloadIdentity");
        provider["serviceAccountRef"] = wi.get("serviceAccountRef").cloned().unwrap_or(Value::Null);
    } else if auth.get("managedIdentity").is_some() {
        provider["authType"] = json!("ManagedIdentity");
    }
    Some(json!({
        "apiVersion": format!("{GROUP}/v1alpha1"),
        "kind": if f.kind == "ClusterGenerator" { "ClusterSecretStore" } else { "SecretStore" },
        "metadata": {"name": f.name, "namespace": es_namespace},
        "spec": {"provider": {"azurekv": provider}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(kind: &str, spec: Value) -> Fetched {
        Fetched {
            facts: GeneratorFacts {
                source: "dataFrom[0]".into(),
                kind: kind.into(),
                name: "g".into(),
                namespace: Some("prod".into()),
                found: Some(true),
                ..GeneratorFacts::default()
            },
            spec: Some(spec),
        }
    }

    /// Issue 14: a VaultDynamicSecret is walked like a Vault SecretStore whose only key is its
    /// path, marked so the probe never reads (mints) it.
    #[test]
    fn issue14_vault_dynamic_secret_becomes_a_stand_in_store() {
        let g = fetched(
            "VaultDynamicSecret",
            json!({"path": "database/creds/app", "provider": {"server": "https://vault:8200",
                   "auth": {"kubernetes": {"role": "eso"}}}}),
        );
        let (facts, store, remote) = as_store(&[g], "prod");
        assert_eq!(facts.generator.as_deref(), Some("VaultDynamicSecret"));
        assert_eq!(facts.provider.as_deref(), Some("vault"));
        let store = store.unwrap_or_default();
        assert_eq!(store["kind"], "SecretStore");
        assert_eq!(
            store.pointer("/spec/provider/vault/path"),
            Some(&json!("database"))
        );
        assert_eq!(
            store.pointer("/spec/provider/vault/version"),
            Some(&json!("v1"))
        );
        let remote = remote.unwrap_or_default();
        assert_eq!(remote.key, "creds/app");
        assert!(remote.generator);
    }

    /// Issue 14: a VaultDynamicSecret that POSTs (a PKI issue, an STS role) carries its method to
    /// the probe, which asks for the capability ESO's write needs; GET carries none.
    #[test]
    fn issue14_vault_dynamic_secret_method_reaches_the_probe() {
        let spec = |method: &str| {
            json!({"path": "pki/issue/web", "method": method,
                   "provider": {"server": "https://vault:8200"}})
        };
        let (_, _, remote) = as_store(&[fetched("VaultDynamicSecret", spec("post"))], "prod");
        assert_eq!(remote.unwrap_or_default().method.as_deref(), Some("POST"));
        let (_, _, remote) = as_store(&[fetched("VaultDynamicSecret", spec("GET"))], "prod");
        assert_eq!(remote.unwrap_or_default().method, None);
    }

    #[test]
    fn issue14_password_generator_has_no_provider() {
        let (facts, store, remote) =
            as_store(&[fetched("Password", json!({"length": 32}))], "prod");
        assert_eq!(facts.generator.as_deref(), Some("Password"));
        assert!(facts.provider.is_none() && store.is_none() && remote.is_none());
    }

    /// Issue 14: an ACRAccessToken's service principal is probed as an Entra login, with the
    /// registry as the host that must be vouched for; nothing is read.
    #[test]
    fn issue14_acr_access_token_is_an_entra_login() {
        let g = fetched(
            "ACRAccessToken",
            json!({"registry": "myregistry.azurecr.io", "tenantId": "t",
                   "auth": {"servicePrincipal": {"secretRef": {
                       "clientId": {"name": "acr-sp", "key": "id"},
                       "clientSecret": {"name": "acr-sp", "key": "secret"}}}}}),
        );
        let (facts, store, remote) = as_store(&[g], "prod");
        assert_eq!(facts.provider.as_deref(), Some("azurekv"));
        assert!(remote.is_none());
        let store = store.unwrap_or_default();
        let p = &store["spec"]["provider"]["azurekv"];
        assert_eq!(p["acrRegistry"], "myregistry.azurecr.io");
        // The registry is not where the credential goes: only Entra is an endpoint.
        assert!(crate::analysis::trust::store_endpoints(&store).is_empty());
        assert_eq!(p["authType"], "ServicePrincipal");
        assert_eq!(p["authSecretRef"]["clientSecret"]["name"], "acr-sp");
    }

    #[test]
    fn cluster_generator_fields() {
        assert_eq!(
            cluster_spec_field("VaultDynamicSecret"),
            "vaultDynamicSecretSpec"
        );
        assert_eq!(cluster_spec_field("ACRAccessToken"), "acrAccessTokenSpec");
        assert_eq!(cluster_spec_field("Password"), "passwordSpec");
    }
}
