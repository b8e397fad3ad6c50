//! Check 4's consumer rules of issue 12, over plain facts: a pod whose image host matches no
//! `auths` key of the pull secret an ExternalSecret writes, as the kubelet's keyring matches them
//! (`pull-secret-host-mismatch`), and a pod whose `secretKeyRef` names a key the ESO-written
//! Secret does not have (`consumer-key-missing`). Only host names and key names are known here,
//! never a value. Findings are grouped per ExternalSecret and image host (or key), with the pods
//! and workloads they hit.
//!
//! A missing match alone is not enough for an error: a pod may pull a public image anonymously.
//! The pull-secret rule fires when the container is stuck pulling, or when a key names the same
//! host with another port (or path), which the kubelet never treats as the same registry.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::finding;
use super::objects::about;
use crate::diagnose::catalogue::{CONSUMER_KEY_MISSING, PULL_SECRET_HOST_MISMATCH};
use crate::model::doctor::{Finding, PodRefs, Status, TargetExtras, TargetSecretFacts};
use crate::model::scope::{ExternalSecretRow, ScopeReport};
use crate::provider::registry::matching::{host_of, lookup_name, matching_keys, near_miss};
use crate::sanitize;

/// Waiting reasons of a container whose image cannot be pulled.
const PULL_FAILURES: [&str; 2] = ["ImagePullBackOff", "ErrImagePull"];

/// The pods a finding is about.
#[derive(Default)]
struct Hits<'a> {
    pods: BTreeSet<&'a str>,
    workloads: BTreeSet<String>,
    waiting: BTreeSet<&'a str>,
    image: &'a str,
    near: Option<(String, &'static str)>,
}

impl<'a> Hits<'a> {
    fn add(&mut self, pod: &'a PodRefs, waiting: Option<&'a str>) {
        self.pods.insert(&pod.name);
        self.workloads.insert(match &pod.workload {
            Some(w) => w.clone(),
            None => format!("pod/{}", pod.name),
        });
        self.waiting.extend(waiting);
    }

    fn pods_evidence(&self) -> String {
        let mut text = format!(
            "pods: {}",
            sanitize::line(&self.pods.iter().copied().collect::<Vec<_>>().join(", "))
        );
        if !self.waiting.is_empty() {
            let reasons: Vec<&str> = self.waiting.iter().copied().collect();
            text.push_str(&format!(" ({})", sanitize::line(&reasons.join(", "))));
        }
        text
    }

    fn attach(&self, mut f: Finding) -> Finding {
        for w in &self.workloads {
            f = f.affects(sanitize::line(w));
        }
        f
    }
}

pub fn findings(scope: &ScopeReport, targets: &TargetExtras) -> Vec<Finding> {
    // No pods read (scope reads none): nothing to judge, and no index of every target to build.
    if targets.pod_refs.is_empty() {
        return Vec::new();
    }
    let mut writers: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, row) in scope.external_secrets.iter().enumerate() {
        writers
            .entry((row.namespace.as_str(), row.target.name.as_str()))
            .or_default()
            .push(i);
    }
    let mut mismatches: BTreeMap<(usize, String), Hits<'_>> = BTreeMap::new();
    let mut missing: BTreeMap<(usize, String, String), Hits<'_>> = BTreeMap::new();
    for pod in &targets.pod_refs {
        let ns = pod.namespace.as_str();
        let facts = |secret: &str| targets.secrets.get(&(ns.to_string(), secret.to_string()));
        // Pull secrets: only when every one of the pod's pull secrets is known (one we could not
        // read may hold the right key) and at least one is written by an ExternalSecret.
        let pulls: Option<Vec<(&str, &[String])>> = pod
            .pull_secrets
            .iter()
            .map(|s| Some((s.as_str(), facts(s)?.auths_keys.as_deref()?)))
            .collect();
        let eso_pulls: Vec<(&str, &[String])> = pulls
            .iter()
            .flatten()
            .filter(|(s, _)| writers.contains_key(&(ns, *s)))
            .copied()
            .collect();
        for c in &pod.containers {
            let waiting = c.waiting.as_deref();
            if let Some(pulls) = &pulls
                && !eso_pulls.is_empty()
                && let Ok(name) = lookup_name(&c.image)
            {
                let all: Vec<String> = pulls.iter().flat_map(|(_, k)| k.iter().cloned()).collect();
                if matching_keys(&all, &name).is_empty() {
                    let near = all
                        .iter()
                        .find_map(|k| near_miss(k, &name).map(|why| (k.as_str(), why)));
                    let stuck = waiting.is_some_and(|w| PULL_FAILURES.contains(&w));
                    if stuck || near.is_some() {
                        // Blame the pull secret holding the near miss, else every ESO-written one.
                        let blamed: Vec<&str> = eso_pulls
                            .iter()
                            .filter(|(_, keys)| {
                                near.is_none_or(|(k, _)| keys.iter().any(|x| x == k))
                            })
                            .map(|(s, _)| *s)
                            .collect();
                        let blamed = if blamed.is_empty() {
                            eso_pulls.iter().map(|(s, _)| *s).collect()
                        } else {
                            blamed
                        };
                        for secret in blamed {
                            for row in writers.get(&(ns, secret)).into_iter().flatten() {
                                let hits = mismatches
                                    .entry((*row, host_of(&name).to_string()))
                                    .or_default();
                                hits.image = &c.image;
                                if hits.near.is_none() {
                                    hits.near = near.map(|(k, why)| (k.to_string(), why));
                                }
                                hits.add(pod, waiting.filter(|w| PULL_FAILURES.contains(w)));
                            }
                        }
                    }
                }
            }
            for (secret, key) in &c.key_refs {
                let Some(f) = facts(secret) else { continue };
                if f.keys.contains(key) {
                    continue;
                }
                for row in writers.get(&(ns, secret.as_str())).into_iter().flatten() {
                    missing
                        .entry((*row, secret.clone(), key.clone()))
                        .or_default()
                        .add(pod, waiting.filter(|w| *w == "CreateContainerConfigError"));
                }
            }
        }
    }
    let mut out = Vec::new();
    for ((i, host), hits) in &mismatches {
        let Some(row) = scope.external_secrets.get(*i) else {
            continue;
        };
        let keys = pull_keys(targets, row);
        out.push(mismatch(row, host, &keys, hits));
    }
    for ((i, secret, key), hits) in &missing {
        let Some(row) = scope.external_secrets.get(*i) else {
            continue;
        };
        let have = targets
            .secrets
            .get(&(row.namespace.clone(), secret.clone()))
            .map(|f| f.keys.clone())
            .unwrap_or_default();
        out.push(key_missing(row, key, &have, hits));
    }
    out
}

fn pull_keys(targets: &TargetExtras, row: &ExternalSecretRow) -> Vec<String> {
    targets
        .secrets
        .get(&(row.namespace.clone(), row.target.name.clone()))
        .and_then(|f: &TargetSecretFacts| f.auths_keys.clone())
        .unwrap_or_default()
}

fn object(row: &ExternalSecretRow) -> String {
    sanitize::line(&format!("ExternalSecret {}/{}", row.namespace, row.name))
}

fn mismatch(row: &ExternalSecretRow, host: &str, keys: &[String], hits: &Hits<'_>) -> Finding {
    let listed = if keys.is_empty() {
        "none".to_string()
    } else {
        keys.join(", ")
    };
    let mut message = format!(
        "image host {host} matches no auths key of pull secret {} as the kubelet matches them",
        row.target.name
    );
    if let Some((key, why)) = &hits.near {
        message.push_str(&format!(" (key {key}: {why})"));
    }
    let next = format!(
        "write the auths key as {host} (with its port) in spec.target.template, then: kubectl eso \
         verify-regcred --from-es {} -n {} --image {}",
        row.name, row.namespace, hits.image
    );
    let f = finding(
        PULL_SECRET_HOST_MISMATCH,
        Status::Error,
        object(row),
        sanitize::line(&message),
        sanitize::line(&next),
    )
    .field("spec.target.template")
    .evidence(sanitize::line(&format!("image host: {host}")))
    .evidence(sanitize::line(&format!("auths keys: {listed}")))
    .evidence(hits.pods_evidence());
    hits.attach(about(row, f))
}

fn key_missing(row: &ExternalSecretRow, key: &str, have: &[String], hits: &Hits<'_>) -> Finding {
    let listed = if have.is_empty() {
        "none".to_string()
    } else {
        have.join(", ")
    };
    let f = finding(
        CONSUMER_KEY_MISSING,
        Status::Error,
        object(row),
        sanitize::line(&format!(
            "pods read key {key} of Secret {}, which does not have it",
            row.target.name
        )),
        sanitize::line(&format!(
            "fix the pods' secretKeyRef.key or add secretKey {key} to spec.data, then: kubectl \
             eso describe-chain {} -n {}",
            row.name, row.namespace
        )),
    )
    .field("spec.data")
    .evidence(sanitize::line(&format!("missing key: {key}")))
    .evidence(sanitize::line(&format!("keys in the Secret: {listed}")))
    .evidence(hits.pods_evidence());
    hits.attach(about(row, f))
}
