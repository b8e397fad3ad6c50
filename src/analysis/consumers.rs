//! Which Secrets a pod template consumes, and how. `scope WORKLOAD` walks from an application to
//! its Secrets with this; force-sync and describe-chain walk the other way (which workloads use
//! this Secret) with the same functions, so there is one reading of a PodSpec in the product.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};

/// How a pod template refers to a Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretUse {
    /// `env[].valueFrom.secretKeyRef`
    Env,
    /// `envFrom[].secretRef`
    EnvFrom,
    /// `volumes[].secret`
    Volume,
    /// `volumes[].projected.sources[].secret`
    ProjectedVolume,
    /// `imagePullSecrets[]`
    ImagePullSecret,
}

impl SecretUse {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretUse::Env => "env",
            SecretUse::EnvFrom => "envFrom",
            SecretUse::Volume => "volume",
            SecretUse::ProjectedVolume => "projected",
            SecretUse::ImagePullSecret => "imagePullSecrets",
        }
    }
}

/// Every Secret the pod spec names, each with the distinct ways it is used, sorted by name.
/// Init and ephemeral containers count: a missing Secret blocks them just the same.
pub fn secrets_used(spec: &PodSpec) -> BTreeMap<String, Vec<SecretUse>> {
    let mut found: BTreeMap<String, Vec<SecretUse>> = BTreeMap::new();
    let mut add = |name: Option<&str>, how: SecretUse| {
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            let uses = found.entry(name.to_string()).or_default();
            if !uses.contains(&how) {
                uses.push(how);
                uses.sort();
            }
        }
    };

    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in containers {
        container_secrets(c, &mut add);
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        for e in c.env.iter().flatten() {
            let name = e
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref());
            add(name.map(|r| r.name.as_str()), SecretUse::Env);
        }
        for e in c.env_from.iter().flatten() {
            add(
                e.secret_ref.as_ref().map(|r| r.name.as_str()),
                SecretUse::EnvFrom,
            );
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(s) = &v.secret {
            add(s.secret_name.as_deref(), SecretUse::Volume);
        }
        if let Some(p) = &v.projected {
            for src in p.sources.iter().flatten() {
                add(
                    src.secret.as_ref().map(|s| s.name.as_str()),
                    SecretUse::ProjectedVolume,
                );
            }
        }
    }
    for r in spec.image_pull_secrets.iter().flatten() {
        add(Some(r.name.as_str()), SecretUse::ImagePullSecret);
    }
    found
}

fn container_secrets(c: &Container, add: &mut impl FnMut(Option<&str>, SecretUse)) {
    for e in c.env.iter().flatten() {
        let name = e
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref());
        add(name.map(|r| r.name.as_str()), SecretUse::Env);
    }
    for e in c.env_from.iter().flatten() {
        add(
            e.secret_ref.as_ref().map(|r| r.name.as_str()),
            SecretUse::EnvFrom,
        );
    }
}

/// How the pod spec uses one Secret; empty when it does not use it at all.
pub fn uses_of(spec: &PodSpec, secret: &str) -> Vec<SecretUse> {
    secrets_used(spec).remove(secret).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        match serde_json::from_value(v) {
            Ok(s) => s,
            Err(e) => panic!("bad fixture: {e}"),
        }
    }

    #[test]
    fn finds_every_kind_of_reference() {
        let s = spec(json!({
            "containers": [{
                "name": "app",
                "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                    {"name": "B", "value": "plain"},
                    {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}
                ],
                "envFrom": [{"secretRef": {"name": "api"}}, {"configMapRef": {"name": "cm"}}]
            }],
            "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "init-only"}}]}],
            "volumes": [
                {"name": "v1", "secret": {"secretName": "tls"}},
                {"name": "v2", "projected": {"sources": [{"secret": {"name": "bundle"}}, {"configMap": {"name": "cm"}}]}},
                {"name": "v3", "emptyDir": {}}
            ],
            "imagePullSecrets": [{"name": "regcred-order-service"}]
        }));
        let used = secrets_used(&s);
        let names: Vec<&str> = used.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "api",
                "bundle",
                "db",
                "init-only",
                "regcred-order-service",
                "tls"
            ]
        );
        assert_eq!(used["db"], [SecretUse::Env]);
        assert_eq!(used["bundle"], [SecretUse::ProjectedVolume]);
        assert_eq!(used["regcred-order-service"], [SecretUse::ImagePullSecret]);
    }

    #[test]
    fn one_secret_used_several_ways_is_listed_once() {
        let s = spec(json!({
            "containers": [
                {"name": "a", "envFrom": [{"secretRef": {"name": "db"}}]},
                {"name": "b", "envFrom": [{"secretRef": {"name": "db"}}]}
            ],
            "volumes": [{"name": "v", "secret": {"secretName": "db"}}]
        }));
        assert_eq!(uses_of(&s, "db"), [SecretUse::EnvFrom, SecretUse::Volume]);
        assert!(uses_of(&s, "other").is_empty());
    }
}
