//! The generated `scale` scenario: N ExternalSecrets (default 10,000) spread over 200 namespaces and four
//! ClusterSecretStores backed by the simulated Vault, reading 100 distinct remote keys, plus two Pods per
//! ExternalSecret that consume its Secret — the size issue 2, 4 and 8 benchmark against.

use super::{KubernetesRole, KvMount, KvSecret, RegistrySetup, Scenario, VaultSetup};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const NAMESPACES: usize = 200;
pub const STORES: usize = 4;
pub const DISTINCT_KEYS: usize = 100;

pub fn generate() -> Scenario {
    let secrets = (0..DISTINCT_KEYS)
        .map(|k| KvSecret {
            mount: "apps".into(),
            path: format!("app-{k}"),
            data: json!({"password": format!("canary-scale-{k}-pw")})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    Scenario {
        name: "scale".into(),
        description: "generated".into(),
        cluster: Default::default(),
        vault: VaultSetup {
            kv_mounts: vec![KvMount {
                path: "apps".into(),
                version: 2,
            }],
            policies: BTreeMap::from([(
                "eso-apps".to_string(),
                "path \"apps/data/*\" { capabilities = [\"read\"] }\n".to_string(),
            )]),
            kubernetes_roles: vec![KubernetesRole {
                name: "external-secrets-operator".into(),
                service_account_names: vec!["external-secrets".into()],
                service_account_namespaces: vec!["external-secrets".into()],
                policies: vec!["eso-apps".into()],
                audience: None,
            }],
            secrets,
            tokens: Vec::new(),
            app_roles: Vec::new(),
        },
        akv: None,
        aws: None,
        registry: RegistrySetup::default(),
        objects: String::new(),
        incident: vec![],
    }
}

/// The scenario's objects, generated one at a time so that loading 100,000 ExternalSecrets never
/// holds them all as values at once (issue 16).
pub fn objects(n: usize, vars: &BTreeMap<String, String>) -> impl Iterator<Item = Value> + use<> {
    let vault_addr = vars.get("VAULT_ADDR").cloned().unwrap_or_default();
    let fixed = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "external-secrets"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "external-secrets", "namespace": "external-secrets"}}),
    ];
    let namespaces = (0..NAMESPACES).map(|ns| {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("team-{ns:03}")}})
    });
    let stores = (0..STORES).map(move |s| {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": {"name": format!("vault-{s}")},
            "spec": {"provider": {"vault": {
                "server": vault_addr, "path": "apps", "version": "v2",
                "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "external-secrets-operator"}},
            }}},
        })
    });
    let apps = (0..n).flat_map(|i| {
        let ns = format!("team-{:03}", i % NAMESPACES);
        let name = format!("app-{i:05}");
        let es = json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {
                "refreshInterval": "1h",
                "secretStoreRef": {"kind": "ClusterSecretStore", "name": format!("vault-{}", i % STORES)},
                "target": {"name": format!("{name}-creds")},
                "data": [{"secretKey": "password", "remoteRef": {"key": format!("app-{}", i % DISTINCT_KEYS), "property": "password"}}],
            },
        });
        let pods = (0..2).map(move |replica| {
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{name}-{replica}"), "namespace": ns, "labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app", "image": "busybox:1.36",
                    "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": format!("{name}-creds"), "key": "password"}}}],
                }]},
            })
        });
        std::iter::once(es).chain(pods)
    });
    fixed
        .into_iter()
        .chain(namespaces)
        .chain(stores)
        .chain(apps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_parameter() {
        let objs: Vec<Value> = objects(1000, &BTreeMap::new()).collect();
        let count = |k: &str| objs.iter().filter(|o| o["kind"] == k).count();
        assert_eq!(count("ExternalSecret"), 1000);
        assert_eq!(count("Pod"), 2000);
        assert_eq!(count("Namespace"), NAMESPACES + 1);
        assert_eq!(count("ClusterSecretStore"), STORES);
        assert_eq!(generate().vault.secrets.len(), DISTINCT_KEYS);
    }
}
