//! Pure readings of the raw objects `describe-chain` fetches (ExternalSecret, store, Secret, Pod)
//! into the chain model, kept apart from the API calls so they are unit-tested without a server.
//! Objects are read as JSON because the chain needs fields (remoteRef, provider auth blocks) the
//! shared ESO structs deliberately leave out.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::chain::{ConditionFacts, EventFacts, ExternalSecretFacts, RemoteRefFacts};
use crate::sanitize;

pub fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub fn string_at(v: &Value, pointer: &str) -> Option<String> {
    str_at(v, pointer).map(sanitize::text)
}

pub fn ready_condition(obj: &Value) -> Option<ConditionFacts> {
    let c = obj
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some(ConditionFacts {
        status: string_at(c, "/status").unwrap_or_default(),
        reason: string_at(c, "/reason"),
        message: string_at(c, "/message"),
        last_transition_time: string_at(c, "/lastTransitionTime"),
    })
}

pub fn external_secret(es: &Value) -> ExternalSecretFacts {
    let name = string_at(es, "/metadata/name").unwrap_or_default();
    let mut remote_refs = Vec::new();
    for (i, d) in es
        .pointer("/spec/data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        remote_refs.push(RemoteRefFacts {
            source: format!("data[{i}]"),
            secret_key: string_at(d, "/secretKey"),
            key: string_at(d, "/remoteRef/key").unwrap_or_default(),
            property: string_at(d, "/remoteRef/property"),
            version: string_at(d, "/remoteRef/version"),
            extract: false,
            find: false,
            generator: false,
            method: None,
            other_store: None,
        });
    }
    for (i, d) in es
        .pointer("/spec/dataFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        // A generator's entry reads no store (issue 14): `kube::chain::generators` walks it.
        if d.pointer("/sourceRef/generatorRef").is_some() {
            continue;
        }
        let find = d.get("find").is_some_and(|f| !f.is_null());
        remote_refs.push(RemoteRefFacts {
            source: format!("dataFrom[{i}]"),
            secret_key: None,
            key: string_at(d, "/extract/key").unwrap_or_default(),
            property: string_at(d, "/extract/property"),
            version: string_at(d, "/extract/version"),
            extract: !find,
            find,
            generator: false,
            method: None,
            other_store: None,
        });
    }
    let owner = es
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|o| o["kind"] == "ClusterExternalSecret")
        .and_then(|o| string_at(o, "/name"));
    let store_kind = string_at(es, "/spec/secretStoreRef/kind")
        .or_else(|| string_at(es, "/spec/secretStoreRef/name").map(|_| "SecretStore".into()));
    ExternalSecretFacts {
        namespace: string_at(es, "/metadata/namespace").unwrap_or_default(),
        target_name: string_at(es, "/spec/target/name").unwrap_or_else(|| name.clone()),
        name,
        ready: ready_condition(es),
        refresh_interval: string_at(es, "/spec/refreshInterval"),
        refresh_policy: string_at(es, "/spec/refreshPolicy"),
        refresh_time: string_at(es, "/status/refreshTime"),
        generation: es.pointer("/metadata/generation").and_then(Value::as_i64),
        synced_resource_version: string_at(es, "/status/syncedResourceVersion"),
        store_kind,
        store_name: string_at(es, "/spec/secretStoreRef/name"),
        creation_policy: string_at(es, "/spec/target/creationPolicy"),
        templated: es
            .pointer("/spec/target/template")
            .is_some_and(|t| !t.is_null()),
        remote_refs,
        events: Vec::new(),
        events_error: None,
        owner_cluster_external_secret: owner,
    }
}

/// Newest first, at most `limit`.
pub fn events(list: &[Value], limit: usize) -> Vec<EventFacts> {
    let mut out: Vec<EventFacts> = list
        .iter()
        .map(|e| EventFacts {
            type_: string_at(e, "/type").unwrap_or_default(),
            reason: string_at(e, "/reason").unwrap_or_default(),
            message: string_at(e, "/message").unwrap_or_default(),
            // An Event series (events.k8s.io) counts in `series`; the aggregated core form in `count`.
            count: e
                .pointer("/series/count")
                .or_else(|| e.pointer("/count"))
                .and_then(Value::as_i64)
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(1),
            first_seen: string_at(e, "/firstTimestamp")
                .or_else(|| string_at(e, "/eventTime"))
                .or_else(|| string_at(e, "/metadata/creationTimestamp")),
            last_seen: string_at(e, "/series/lastObservedTime")
                .or_else(|| string_at(e, "/lastTimestamp"))
                .or_else(|| string_at(e, "/eventTime"))
                .or_else(|| string_at(e, "/metadata/creationTimestamp")),
        })
        .collect();
    out.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    out.truncate(limit);
    out
}

/// Issue 14 (ESO PR 6710): a store served by an out-of-process provider names its runtime, a
/// `ProviderClass` / `ClusterProviderClass`, in `spec.runtimeRef` (ESO's design) or
/// `spec.providerRef` without an inline `provider` block (`model::eso::ProviderClassRef`).
pub fn provider_class_ref(store: &Value) -> Option<crate::model::eso::ProviderClassRef> {
    let kind = store
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("SecretStore");
    let ns = store.pointer("/metadata/namespace").and_then(Value::as_str);
    crate::model::eso::ProviderClassRef::of_store(kind, ns, store.get("spec")?)
}

/// The runtime reference as `KIND/NAME` (`KIND NAMESPACE/NAME` for a ProviderClass).
pub fn out_of_process_provider(store: &Value) -> Option<String> {
    provider_class_ref(store).map(|r| r.describe())
}

/// The store's non-secret settings, flattened to `name: value` lines.
/// The cluster a `kubernetes` provider store reads (issue 15), typed, with the kubeconfig
/// context that reaches another cluster's API server when the user has one; `None` for a store
/// of another provider.
pub fn kube_cluster(store: &Value) -> Option<crate::model::chain::KubeCluster> {
    use crate::analysis::trust::KubeServer;
    use crate::model::chain::KubeCluster;
    store.pointer("/spec/provider/kubernetes")?;
    Some(match crate::analysis::trust::kubernetes_server(store) {
        KubeServer::Home => KubeCluster::Home,
        KubeServer::FromSecret => KubeCluster::FromSecret,
        KubeServer::Url(u) => KubeCluster::Remote {
            context: crate::kube::client::context_for_server(&u),
            server: sanitize::line(u.trim_end_matches('/')),
        },
    })
}

pub fn provider_settings(store: &Value) -> (Option<String>, BTreeMap<String, String>) {
    let mut out = BTreeMap::new();
    if let Some(r) = out_of_process_provider(store) {
        out.insert("providerRef".to_string(), r);
        return (Some("out-of-process".to_string()), out);
    }
    let Some(providers) = store.pointer("/spec/provider").and_then(Value::as_object) else {
        return (None, out);
    };
    let Some((kind, p)) = providers.iter().next() else {
        return (None, out);
    };
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.insert(k.to_string(), v);
        }
    };
    match kind.as_str() {
        "vault" => {
            put("server", string_at(p, "/server"));
            put("path", string_at(p, "/path"));
            put(
                "version",
                Some(string_at(p, "/version").unwrap_or_else(|| "v2".into())),
            );
            put("namespace", string_at(p, "/namespace"));
            put(
                "caBundle",
                str_at(p, "/caBundle").map(|_| "set".to_string()),
            );
            put(
                "caProvider",
                string_at(p, "/caProvider/type").map(|t| {
                    format!(
                        "{t} {}/{}",
                        str_at(p, "/caProvider/name").unwrap_or(""),
                        str_at(p, "/caProvider/key").unwrap_or("")
                    )
                }),
            );
            let auth = p.get("auth").cloned().unwrap_or(Value::Null);
            if let Some(k) = auth.get("kubernetes") {
                put("auth", Some("kubernetes".into()));
                put(
                    "mountPath",
                    Some(string_at(k, "/mountPath").unwrap_or_else(|| "kubernetes".into())),
                );
                put("role", string_at(k, "/role"));
                put("serviceAccount", string_at(k, "/serviceAccountRef/name"));
                put(
                    "serviceAccountNamespace",
                    string_at(k, "/serviceAccountRef/namespace"),
                );
            } else if let Some(a) = auth.get("appRole") {
                put("auth", Some("appRole".into()));
                put(
                    "mountPath",
                    Some(string_at(a, "/path").unwrap_or_else(|| "approle".into())),
                );
                put("roleId", string_at(a, "/roleId"));
                put("secretIdSecret", string_at(a, "/secretRef/name"));
                put("secretIdSecretKey", string_at(a, "/secretRef/key"));
                put(
                    "secretIdSecretNamespace",
                    string_at(a, "/secretRef/namespace"),
                );
            } else if let Some(t) = auth.get("tokenSecretRef") {
                put("auth", Some("token".into()));
                put("tokenSecret", string_at(t, "/name"));
                put("tokenSecretKey", string_at(t, "/key"));
                put("tokenSecretNamespace", string_at(t, "/namespace"));
            } else if let Some((method, _)) = auth.as_object().and_then(|m| m.iter().next()) {
                put("auth", Some(sanitize::line(method)));
            }
        }
        "azurekv" => {
            put("vaultUrl", string_at(p, "/vaultUrl"));
            put("tenantId", string_at(p, "/tenantId"));
            put(
                "authType",
                Some(string_at(p, "/authType").unwrap_or_else(|| "ServicePrincipal".into())),
            );
            put(
                "environmentType",
                Some(string_at(p, "/environmentType").unwrap_or_else(|| "PublicCloud".into())),
            );
            put(
                "activeDirectoryEndpoint",
                string_at(p, "/customCloudConfig/activeDirectoryEndpoint"),
            );
            put(
                "keyVaultEndpoint",
                string_at(p, "/customCloudConfig/keyVaultEndpoint"),
            );
            put("serviceAccount", string_at(p, "/serviceAccountRef/name"));
            put(
                "serviceAccountNamespace",
                string_at(p, "/serviceAccountRef/namespace"),
            );
            put("identityId", string_at(p, "/identityId"));
        }
        "aws" => {
            put("service", string_at(p, "/service"));
            put("region", string_at(p, "/region"));
            put("role", string_at(p, "/role"));
            put("prefix", string_at(p, "/prefix"));
            put(
                "externalID",
                str_at(p, "/externalID").map(|_| "set".to_string()),
            );
            let roles: Vec<String> = p
                .get("additionalRoles")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(sanitize::line)
                .collect();
            put(
                "additionalRoles",
                (!roles.is_empty()).then(|| roles.join(", ")),
            );
            let auth = p.get("auth").cloned().unwrap_or(Value::Null);
            if auth.get("secretRef").is_some() {
                put("auth", Some("secretRef".into()));
            } else if auth.get("jwt").is_some() {
                put("auth", Some("jwt".into()));
                put(
                    "serviceAccount",
                    string_at(&auth, "/jwt/serviceAccountRef/name"),
                );
            } else {
                put("auth", Some("default (ESO's pod credentials)".into()));
            }
        }
        "kubernetes" => {
            let server = match crate::analysis::trust::kubernetes_server(store) {
                crate::analysis::trust::KubeServer::Home => format!(
                    "{} (this cluster)",
                    string_at(p, "/server/url").unwrap_or_else(|| "kubernetes.default".into())
                ),
                crate::analysis::trust::KubeServer::Url(u) => sanitize::line(&u),
                crate::analysis::trust::KubeServer::FromSecret => {
                    "from the kubeconfig in authRef".into()
                }
            };
            put("server", Some(server));
            put(
                "remoteNamespace",
                Some(string_at(p, "/remoteNamespace").unwrap_or_else(|| "default".into())),
            );
            put(
                "caBundle",
                str_at(p, "/server/caBundle").map(|_| "set".to_string()),
            );
            put(
                "caProvider",
                string_at(p, "/server/caProvider/type").map(|t| {
                    format!(
                        "{t} {}/{}",
                        str_at(p, "/server/caProvider/name").unwrap_or(""),
                        str_at(p, "/server/caProvider/key").unwrap_or("")
                    )
                }),
            );
            let store_ns = str_at(store, "/metadata/namespace");
            let secret_ref = |r: &Value| {
                let ns = store_ns.or(str_at(r, "/namespace")).unwrap_or("");
                sanitize::line(&format!(
                    "Secret {}{}[{}]",
                    if ns.is_empty() {
                        String::new()
                    } else {
                        format!("{ns}/")
                    },
                    str_at(r, "/name").unwrap_or(""),
                    str_at(r, "/key").unwrap_or("")
                ))
            };
            let auth = p.get("auth").cloned().unwrap_or(Value::Null);
            if let Some(r) = p.get("authRef").filter(|r| !r.is_null()) {
                put("auth", Some("authRef (kubeconfig)".into()));
                put("authRef", Some(secret_ref(r)));
            } else if let Some(r) = auth.pointer("/token/bearerToken") {
                put("auth", Some("token".into()));
                put("bearerToken", Some(secret_ref(r)));
            } else if let Some(r) = auth.get("serviceAccount") {
                put("auth", Some("serviceAccount".into()));
                let ns = store_ns.or(str_at(r, "/namespace"));
                put(
                    "serviceAccount",
                    string_at(r, "/name").map(|n| match ns {
                        Some(ns) => sanitize::line(&format!("{ns}/{n}")),
                        None => n,
                    }),
                );
            } else if let Some(c) = auth.get("cert") {
                put("auth", Some("cert".into()));
                // Where the certificate and key live (names only: never their contents).
                for field in ["clientCert", "clientKey"] {
                    put(field, c.get(field).map(secret_ref));
                }
            } else {
                put("auth", Some("none (anonymous)".into()));
            }
        }
        _ => {}
    }
    (Some(sanitize::line(kind)), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn issue14_a_provider_ref_store_is_out_of_process_and_an_inline_provider_wins() {
        let oop = json!({"spec": {"providerRef": {"apiVersion": "external-secrets.io/v1alpha1",
            "kind": "ClusterProviderClass", "name": "bitwarden"}}});
        assert_eq!(
            out_of_process_provider(&oop).as_deref(),
            Some("ClusterProviderClass/bitwarden")
        );
        let (kind, settings) = provider_settings(&oop);
        assert_eq!(kind.as_deref(), Some("out-of-process"));
        assert_eq!(
            settings.get("providerRef").map(String::as_str),
            Some("ClusterProviderClass/bitwarden")
        );
        let namespaced =
            json!({"spec": {"provider": {}, "providerRef": {"name": "x", "namespace": "team"}}});
        assert_eq!(
            out_of_process_provider(&namespaced).as_deref(),
            Some("ProviderClass team/x")
        );
        // ESO's design: spec.runtimeRef, out of process even next to the provider block it
        // configures; its kind follows the store's scope.
        let runtime = json!({"kind": "SecretStore", "metadata": {"namespace": "team-a"},
            "spec": {"runtimeRef": {"name": "aws"}, "provider": {"fake": {}}}});
        assert_eq!(
            out_of_process_provider(&runtime).as_deref(),
            Some("ProviderClass team-a/aws")
        );
        let cluster = json!({"kind": "ClusterSecretStore",
            "spec": {"runtimeRef": {"name": "aws"}, "provider": {"fake": {}}}});
        assert_eq!(
            out_of_process_provider(&cluster).as_deref(),
            Some("ClusterProviderClass/aws")
        );
        // Near misses: an inline provider block, or neither.
        let inline = json!({"spec": {"provider": {"vault": {"server": "https://v:8200"}},
            "providerRef": {"name": "x"}}});
        assert_eq!(out_of_process_provider(&inline), None);
        assert_eq!(out_of_process_provider(&json!({"spec": {}})), None);
    }

    #[test]
    fn reads_remote_refs_and_owner() {
        let es = json!({
            "metadata": {"name": "a", "namespace": "prod", "generation": 2,
                "ownerReferences": [{"kind": "ClusterExternalSecret", "name": "ces"}]},
            "spec": {"secretStoreRef": {"name": "vault"},
                "target": {"template": {"type": "x"}},
                "data": [{"secretKey": "pw", "remoteRef": {"key": "db", "property": "password", "version": "3"}}],
                "dataFrom": [{"extract": {"key": "order-service"}}, {"find": {"name": {"regexp": ".*"}}}]}
        });
        let f = external_secret(&es);
        assert_eq!(f.target_name, "a");
        assert_eq!(f.store_kind.as_deref(), Some("SecretStore"));
        assert!(f.templated);
        assert_eq!(f.remote_refs.len(), 3);
        assert_eq!(f.remote_refs[0].property.as_deref(), Some("password"));
        assert!(f.remote_refs[1].extract && !f.remote_refs[1].find);
        assert!(f.remote_refs[2].find);
        assert_eq!(f.owner_cluster_external_secret.as_deref(), Some("ces"));
    }

    #[test]
    fn settings_hold_no_secret_material() {
        let store = json!({"spec": {"provider": {"vault": {"server": "http://v", "caBundle": "LS0tQ0FCVU5ETEU=",
            "auth": {"tokenSecretRef": {"name": "t", "key": "token"}}}}}});
        let (kind, s) = provider_settings(&store);
        assert_eq!(kind.as_deref(), Some("vault"));
        assert_eq!(s.get("auth").map(String::as_str), Some("token"));
        assert_eq!(s.get("caBundle").map(String::as_str), Some("set"));
        assert!(!format!("{s:?}").contains("LS0t"));
    }
}
