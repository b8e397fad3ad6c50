//! Scenarios as data: each file in `scenarios/` holds Kubernetes objects, provider state (Vault, Key Vault,
//! registry) and the incident steps that turn a healthy cluster into the broken one. Loading a scenario
//! replays that history through the simulated ESO, so statuses, events and stale Secrets are produced by the
//! controller itself rather than written by hand. `scale` is generated in code (size is a parameter).

pub mod scale;

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// ESO's own installation (Deployments, webhooks), loaded into every scenario.
pub const ESO_INSTALL: &str = include_str!("../../scenarios/eso-install.yaml");

/// (name, file contents) of every scenario shipped in the binary.
const FILES: &[(&str, &str)] = &[
    ("healthy", include_str!("../../scenarios/healthy.yaml")),
    (
        "kubernetes-rbac-missing",
        include_str!("../../scenarios/kubernetes-rbac-missing.yaml"),
    ),
    (
        "kubernetes-shared-namespace",
        include_str!("../../scenarios/kubernetes-shared-namespace.yaml"),
    ),
    (
        "kubernetes-cert-untrusted",
        include_str!("../../scenarios/kubernetes-cert-untrusted.yaml"),
    ),
    (
        "vault-policy-removed",
        include_str!("../../scenarios/vault-policy-removed.yaml"),
    ),
    (
        "akv-sp-secret-expired",
        include_str!("../../scenarios/akv-sp-secret-expired.yaml"),
    ),
    (
        "akv-wrong-key",
        include_str!("../../scenarios/akv-wrong-key.yaml"),
    ),
    (
        "akv-secret-disabled",
        include_str!("../../scenarios/akv-secret-disabled.yaml"),
    ),
    (
        "rotation-not-propagated",
        include_str!("../../scenarios/rotation-not-propagated.yaml"),
    ),
    (
        "generator-role-removed",
        include_str!("../../scenarios/generator-role-removed.yaml"),
    ),
    (
        "store-name-typo",
        include_str!("../../scenarios/store-name-typo.yaml"),
    ),
    (
        "vault-kv-version-mismatch",
        include_str!("../../scenarios/vault-kv-version-mismatch.yaml"),
    ),
    (
        "vault-role-wrong-namespace",
        include_str!("../../scenarios/vault-role-wrong-namespace.yaml"),
    ),
    (
        "target-merge-missing",
        include_str!("../../scenarios/target-merge-missing.yaml"),
    ),
    (
        "vault-policy-kv2-path",
        include_str!("../../scenarios/vault-policy-kv2-path.yaml"),
    ),
    (
        "store-kind-mismatch",
        include_str!("../../scenarios/store-kind-mismatch.yaml"),
    ),
    (
        "two-owners-one-secret",
        include_str!("../../scenarios/two-owners-one-secret.yaml"),
    ),
    (
        "pull-secret-port-missing",
        include_str!("../../scenarios/pull-secret-port-missing.yaml"),
    ),
    (
        "credentials-key-near-miss",
        include_str!("../../scenarios/credentials-key-near-miss.yaml"),
    ),
    (
        "store-conditions-deny",
        include_str!("../../scenarios/store-conditions-deny.yaml"),
    ),
    (
        "consumer-key-missing",
        include_str!("../../scenarios/consumer-key-missing.yaml"),
    ),
    (
        "vault-property-renamed",
        include_str!("../../scenarios/vault-property-renamed.yaml"),
    ),
    (
        "vault-mount-missing",
        include_str!("../../scenarios/vault-mount-missing.yaml"),
    ),
    (
        "vault-auth-mount-wrong",
        include_str!("../../scenarios/vault-auth-mount-wrong.yaml"),
    ),
    (
        "credentials-secret-missing",
        include_str!("../../scenarios/credentials-secret-missing.yaml"),
    ),
    (
        "store-missing",
        include_str!("../../scenarios/store-missing.yaml"),
    ),
    (
        "akv-firewall",
        include_str!("../../scenarios/akv-firewall.yaml"),
    ),
    (
        "akv-rbac-denied",
        include_str!("../../scenarios/akv-rbac-denied.yaml"),
    ),
    (
        "store-other-namespace",
        include_str!("../../scenarios/store-other-namespace.yaml"),
    ),
    (
        "ces-owned-store-typo",
        include_str!("../../scenarios/ces-owned-store-typo.yaml"),
    ),
    (
        "service-account-missing",
        include_str!("../../scenarios/service-account-missing.yaml"),
    ),
    (
        "target-owned-by-other-controller",
        include_str!("../../scenarios/target-owned-by-other-controller.yaml"),
    ),
    (
        "eso-controller-scaled-down",
        include_str!("../../scenarios/eso-controller-scaled-down.yaml"),
    ),
    (
        "referent-service-account-missing",
        include_str!("../../scenarios/referent-service-account-missing.yaml"),
    ),
    (
        "eso-controller-duplicate",
        include_str!("../../scenarios/eso-controller-duplicate.yaml"),
    ),
    (
        "eso-webhook-unavailable",
        include_str!("../../scenarios/eso-webhook-unavailable.yaml"),
    ),
    (
        "vault-secret-soft-deleted",
        include_str!("../../scenarios/vault-secret-soft-deleted.yaml"),
    ),
    (
        "akv-federated-subject-mismatch",
        include_str!("../../scenarios/akv-federated-subject-mismatch.yaml"),
    ),
    (
        "vault-token-revoked",
        include_str!("../../scenarios/vault-token-revoked.yaml"),
    ),
    (
        "vault-tokenreview-forbidden",
        include_str!("../../scenarios/vault-tokenreview-forbidden.yaml"),
    ),
    (
        "akv-secret-soft-deleted",
        include_str!("../../scenarios/akv-secret-soft-deleted.yaml"),
    ),
    (
        "akv-secret-expired",
        include_str!("../../scenarios/akv-secret-expired.yaml"),
    ),
    (
        "vault-approle-secret-id-expired",
        include_str!("../../scenarios/vault-approle-secret-id-expired.yaml"),
    ),
    (
        "vault-role-missing",
        include_str!("../../scenarios/vault-role-missing.yaml"),
    ),
    (
        "eso-leader-election-lost",
        include_str!("../../scenarios/eso-leader-election-lost.yaml"),
    ),
    (
        "push-write-denied",
        include_str!("../../scenarios/push-write-denied.yaml"),
    ),
    (
        "configmap-target-deleted",
        include_str!("../../scenarios/configmap-target-deleted.yaml"),
    ),
    (
        "per-entry-store-broken",
        include_str!("../../scenarios/per-entry-store-broken.yaml"),
    ),
    (
        "sync-window-closed",
        include_str!("../../scenarios/sync-window-closed.yaml"),
    ),
    (
        "aws-healthy",
        include_str!("../../scenarios/aws-healthy.yaml"),
    ),
    (
        "aws-irsa-trust-mismatch",
        include_str!("../../scenarios/aws-irsa-trust-mismatch.yaml"),
    ),
    (
        "aws-access-denied-one-secret",
        include_str!("../../scenarios/aws-access-denied-one-secret.yaml"),
    ),
    (
        "aws-secret-scheduled-deletion",
        include_str!("../../scenarios/aws-secret-scheduled-deletion.yaml"),
    ),
    (
        "aws-property-missing",
        include_str!("../../scenarios/aws-property-missing.yaml"),
    ),
    (
        "aws-kms-decrypt-denied",
        include_str!("../../scenarios/aws-kms-decrypt-denied.yaml"),
    ),
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub cluster: ClusterSetup,
    #[serde(default)]
    pub vault: VaultSetup,
    #[serde(default)]
    pub akv: Option<Value>,
    /// The AWS account of the scenario's region (Secrets Manager, Parameter Store, IAM).
    #[serde(default)]
    pub aws: Option<crate::aws::AwsSetup>,
    #[serde(default)]
    pub registry: RegistrySetup,
    /// Multi-document YAML of Kubernetes objects; `${PLACEHOLDER}`s are replaced with the sandbox's addresses.
    #[serde(default)]
    pub objects: String,
    #[serde(default)]
    pub incident: Vec<Step>,
}

/// How the simulated API server departs from its defaults for this scenario.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSetup {
    /// TokenReview only for users bound to `system:auth-delegator`, as on a real cluster (by
    /// default the simulation lets every authenticated user review tokens).
    #[serde(default)]
    pub strict_token_review: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultSetup {
    #[serde(default)]
    pub kv_mounts: Vec<KvMount>,
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
    #[serde(default)]
    pub kubernetes_roles: Vec<KubernetesRole>,
    #[serde(default)]
    pub secrets: Vec<KvSecret>,
    /// Tokens with a chosen id (a canary), for stores that use token auth.
    #[serde(default)]
    pub tokens: Vec<VaultToken>,
    /// AppRole roles with a chosen role id and secret id (a canary), for stores that use appRole.
    #[serde(default)]
    pub app_roles: Vec<AppRoleSetup>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppRoleSetup {
    #[serde(default = "default_approle_mount")]
    pub mount: String,
    pub name: String,
    pub role_id: String,
    pub secret_id: String,
    pub policies: Vec<String>,
}

fn default_approle_mount() -> String {
    "approle".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultToken {
    pub id: String,
    pub policies: Vec<String>,
    #[serde(default = "default_token_ttl")]
    pub ttl: String,
}

fn default_token_ttl() -> String {
    "768h".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KvMount {
    pub path: String,
    pub version: u8,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesRole {
    pub name: String,
    pub service_account_names: Vec<String>,
    pub service_account_namespaces: Vec<String>,
    pub policies: Vec<String>,
    #[serde(default)]
    pub audience: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KvSecret {
    pub mount: String,
    pub path: String,
    pub data: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrySetup {
    #[serde(default)]
    pub users: Vec<UserPass>,
    #[serde(default)]
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPass {
    pub username: String,
    pub password: String,
}

/// One step of an incident's history, applied after the first full sync.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Step {
    VaultDeletePolicy(String),
    /// Kubernetes objects (multi-document YAML, `${PLACEHOLDER}`s as in `objects`) applied as
    /// `kubectl apply` would.
    ApplyObjects(String),
    /// Writes (replaces) an ACL policy.
    VaultPutPolicy {
        name: String,
        policy: String,
    },
    VaultPutRole(KubernetesRole),
    VaultPutSecret(KvSecret),
    /// `kubectl delete KIND NAME [-n NAMESPACE]`.
    DeleteObject {
        api_version: String,
        kind: String,
        #[serde(default)]
        namespace: Option<String>,
        name: String,
    },
    /// `vault token revoke TOKEN`.
    VaultRevokeToken(String),
    /// `vault write auth/MOUNT/role/ROLE/secret-id/destroy secret_id=…` (what an expired or
    /// used-up secret id also comes to).
    VaultDestroySecretId {
        #[serde(default = "default_approle_mount")]
        mount: String,
        role: String,
        secret_id: String,
    },
    /// `vault kv delete` of a KV v2 secret's current version, or with `destroy` `vault kv destroy`.
    VaultDeleteSecret {
        mount: String,
        path: String,
        #[serde(default)]
        destroy: bool,
    },
    RegistryUsers(Vec<UserPass>),
    AkvSetSecret {
        vault: String,
        name: String,
        value: String,
    },
    AkvDisableSecret {
        vault: String,
        name: String,
    },
    /// Creates or changes an IAM role: its trust policy and/or its permission policies.
    AwsPutRole {
        name: String,
        #[serde(default)]
        trust_policy: Option<Value>,
        #[serde(default)]
        policies: Option<Vec<Value>>,
    },
    /// `PutSecretValue`: a new AWSCURRENT version (the old one becomes AWSPREVIOUS).
    AwsPutSecret {
        name: String,
        value: Value,
    },
    /// `DeleteSecret` with a recovery window: the secret is scheduled for deletion.
    AwsDeleteSecret {
        name: String,
    },
    /// `az keyvault secret delete` (soft delete: recoverable from `deletedsecrets/NAME`).
    AkvDeleteSecret {
        vault: String,
        name: String,
    },
    AkvExpireClientSecret {
        client_id: String,
    },
    /// The refresh interval of every ExternalSecret elapses.
    Resync,
    /// `kubectl rollout restart deployment/<name> -n <namespace>`.
    RolloutRestart {
        namespace: String,
        name: String,
    },
    /// What a Deployment's container prints (issue 17): `lines` are appended to its current instance, or,
    /// with `previous`, become the instance before its last restart. Served by kube-sim as `pods/log`.
    /// With `untilRestart` the lines are the running pods' own: pods created later (a rollout restart
    /// that picked up a fixed Secret) do not print them.
    Log {
        namespace: String,
        deployment: String,
        container: String,
        #[serde(default)]
        previous: bool,
        #[serde(default)]
        until_restart: bool,
        lines: Vec<String>,
    },
    /// Pods go away (a node is drained); their ReplicaSets replace them. `label_selector` is `key=value`.
    DeletePods {
        namespace: String,
        label_selector: String,
    },
}

pub fn names() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = FILES
        .iter()
        .map(|(name, text)| {
            let description = parse(text)
                .map(|s| s.description)
                .unwrap_or_else(|e| format!("(invalid: {e})"));
            (*name, description)
        })
        .collect();
    out.push((
        "scale",
        "generated: N ExternalSecrets (default 10,000) in 200 namespaces on several stores, for benchmarks".into(),
    ));
    out
}

pub fn parse(text: &str) -> Result<Scenario, String> {
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

/// The scenario file's text, by name.
pub fn text(name: &str) -> Option<&'static str> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Replace `${NAME}` placeholders.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    out
}

/// Parse multi-document YAML into objects, turning Secret `stringData` into `data` as the API server does.
pub fn objects(yaml: &str) -> Result<Vec<Value>, String> {
    use base64::Engine;
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for mut doc in docs.into_iter().filter(|d| d.is_object()) {
        if let Some(Value::Object(sd)) = doc.as_object_mut().and_then(|m| m.remove("stringData")) {
            let data = doc
                .as_object_mut()
                .map(|m| m.entry("data").or_insert_with(|| Value::Object(Map::new())));
            if let Some(Value::Object(data)) = data {
                for (k, v) in sd {
                    let s = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    data.insert(
                        k,
                        Value::String(base64::engine::general_purpose::STANDARD.encode(s)),
                    );
                }
            }
        }
        out.push(doc);
    }
    // Namespaces and identities first, then what refers to them.
    let rank = |v: &Value| match v["kind"].as_str().unwrap_or_default() {
        "Namespace" => 0,
        "ServiceAccount" | "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => 1,
        "Secret" | "ConfigMap" => 2,
        "SecretStore" | "ClusterSecretStore" => 3,
        "ExternalSecret" | "ClusterExternalSecret" => 4,
        _ => 5,
    };
    out.sort_by_key(rank);
    Ok(out)
}

/// Every string in the scenario that is a secret value: by convention they contain `canary`.
pub fn canaries(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .filter(|w| w.to_ascii_lowercase().contains("canary") && w.len() >= 12)
        .map(|w| w.trim_matches('.').to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_parses_and_has_canaries_and_objects() {
        for (name, text) in FILES {
            let s = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&s.name, name);
            assert!(!canaries(text).is_empty(), "{name} has no canary values");
            let objs = objects(&s.objects).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                objs.iter().any(|o| o["kind"] == "ExternalSecret"),
                "{name} has no ExternalSecret"
            );
            assert!(objs.iter().all(|o| o.get("stringData").is_none()));
        }
    }

    #[test]
    fn the_eso_installation_parses() {
        let objs = objects(ESO_INSTALL).unwrap();
        let deployments = objs.iter().filter(|o| o["kind"] == "Deployment").count();
        assert_eq!(deployments, 3);
        assert_eq!(
            objs.iter()
                .filter(|o| o["kind"] == "ValidatingWebhookConfiguration")
                .count(),
            2
        );
    }

    #[test]
    fn string_data_becomes_base64_data_and_namespaces_come_first() {
        let objs = objects("kind: Secret\napiVersion: v1\nstringData:\n  a: b\n---\nkind: Namespace\napiVersion: v1\n").unwrap();
        assert_eq!(objs[0]["kind"], "Namespace");
        assert_eq!(objs[1]["data"]["a"], "Yg==");
    }

    #[test]
    fn canaries_are_found_and_placeholders_replaced() {
        assert_eq!(
            canaries("password: canary-order-v1-pw, x: y"),
            vec!["canary-order-v1-pw"]
        );
        let vars = BTreeMap::from([("VAULT_ADDR".to_string(), "http://127.0.0.1:1".to_string())]);
        assert_eq!(
            substitute("server: ${VAULT_ADDR}", &vars),
            "server: http://127.0.0.1:1"
        );
    }
}
