//! Store references (issue 12's first family): for each ExternalSecret whose store is not where
//! its `spec.secretStoreRef` says, tell which of these it is — the other kind exists (never
//! "create it": that would leave two stores), a SecretStore of that name lives in another
//! namespace, the name is one or two letters off an existing store ("did you mean"), or the store
//! is really missing. The field at fault is the ExternalSecret's, and the next command edits it.

use std::collections::{BTreeSet, HashMap};

use super::finding;
use crate::diagnose::catalogue::*;
use crate::diagnose::similar::did_you_mean;
use crate::model::doctor::{Finding, Status};
use crate::model::eso::{ExternalSecret, SecretStore};
use crate::model::refs::{StoreKind, StoreRef};
use crate::model::scope::ScopeSnapshot;
use crate::sanitize;

/// The stores as listed: `None` where the list could not be read (no verdict then). Their
/// names are indexed once (per namespace, and the cluster's): every ExternalSecret looks its
/// store up, and scanning the SecretStores for each was ExternalSecrets x SecretStores.
struct Stores<'a> {
    namespaced: Option<&'a [SecretStore]>,
    /// SecretStore names by namespace; `None` where they could not be listed.
    names_by_namespace: Option<HashMap<&'a str, BTreeSet<&'a str>>>,
    /// ClusterSecretStore names; `None` where they could not be listed.
    cluster_names: Option<BTreeSet<&'a str>>,
    /// SecretStores outside a namespaced read (`ScopeSnapshot::secret_stores_elsewhere`).
    outside: &'a [(String, String)],
}

/// The SecretStores of a namespace that has none.
static NONE_HERE: BTreeSet<&str> = BTreeSet::new();

impl<'a> Stores<'a> {
    fn new(snap: &'a ScopeSnapshot) -> Self {
        let namespaced = snap.secret_stores.as_deref().ok();
        let names_by_namespace = namespaced.map(|l| {
            let mut by_ns: HashMap<&str, BTreeSet<&str>> = HashMap::new();
            for s in l {
                if let (Some(ns), Some(name)) =
                    (s.metadata.namespace.as_deref(), s.metadata.name.as_deref())
                {
                    by_ns.entry(ns).or_default().insert(name);
                }
            }
            by_ns
        });
        let cluster_names = snap.cluster_secret_stores.as_deref().ok().map(|l| {
            l.iter()
                .filter_map(|s| s.metadata.name.as_deref())
                .collect()
        });
        Stores {
            namespaced,
            names_by_namespace,
            cluster_names,
            outside: &snap.secret_stores_elsewhere,
        }
    }

    fn namespaced_in(&self, ns: &str) -> Option<&BTreeSet<&'a str>> {
        self.names_by_namespace
            .as_ref()
            .map(|by_ns| by_ns.get(ns).unwrap_or(&NONE_HERE))
    }

    fn cluster_names(&self) -> Option<&BTreeSet<&'a str>> {
        self.cluster_names.as_ref()
    }

    /// Namespaces (other than `ns`) holding a SecretStore called `name`.
    fn elsewhere(&self, ns: &str, name: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .namespaced
            .into_iter()
            .flatten()
            .filter(|s| s.metadata.name.as_deref() == Some(name))
            .filter_map(|s| s.metadata.namespace.as_deref())
            .chain(
                self.outside
                    .iter()
                    .filter(|(_, n)| n == name)
                    .map(|(namespace, _)| namespace.as_str()),
            )
            .filter(|n| *n != ns)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

pub fn findings(snap: &ScopeSnapshot) -> Vec<Finding> {
    let stores = Stores::new(snap);
    snap.external_secrets
        .iter()
        .filter_map(|es| check(es, &stores))
        .chain(
            snap.external_secrets
                .iter()
                .flat_map(|es| entry_stores(es, &stores)),
        )
        .collect()
}

/// Per-entry stores (`data[i].sourceRef.storeRef`, `dataFrom[i].sourceRef.storeRef`; issue 14):
/// each names a store that must exist like `secretStoreRef`'s; the field at fault is the entry's.
fn entry_stores(es: &ExternalSecret, stores: &Stores<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let entries = es
        .spec
        .data
        .iter()
        .enumerate()
        .map(|(i, d)| (format!("data[{i}]"), d))
        .chain(
            es.spec
                .data_from
                .iter()
                .enumerate()
                .map(|(i, d)| (format!("dataFrom[{i}]"), d)),
        );
    let ns = es.namespace();
    let (Some(here), Some(cluster)) = (stores.namespaced_in(ns), stores.cluster_names()) else {
        return out;
    };
    for (source, entry) in entries {
        let Some(r) = entry
            .source_ref
            .as_ref()
            .and_then(|s| s.store_ref.as_ref())
            .filter(|r| !r.name.is_empty())
        else {
            continue;
        };
        let Some(kind) = StoreKind::from_spec(r.kind.as_deref()) else {
            continue;
        };
        let name = r.name.as_str();
        let (same_kind, other_kind) = match kind {
            StoreKind::SecretStore => (here, cluster),
            StoreKind::ClusterSecretStore => (cluster, here),
        };
        if same_kind.contains(name) {
            continue;
        }
        let store = StoreRef {
            kind,
            namespace: (kind == StoreKind::SecretStore).then(|| ns.to_string()),
            name: name.to_string(),
        };
        let object = sanitize::line(&format!("ExternalSecret {ns}/{}", es.name()));
        let field = format!("spec.{source}.sourceRef.storeRef");
        let f = if other_kind.contains(name) {
            finding(
                STORE_KIND_MISMATCH,
                Status::Error,
                object,
                sanitize::line(&format!(
                    "{source}.sourceRef.storeRef names {} {name}, which does not exist; a store of \
                     the other kind named {name} does: the kind is wrong",
                    kind.as_str()
                )),
                sanitize::line(&format!(
                    "fix {field}.kind of ExternalSecret {ns}/{} in Git",
                    es.name()
                )),
            )
            .field(&format!("{field}.kind"))
        } else {
            finding(
                STORE_MISSING,
                Status::Error,
                object,
                sanitize::line(&format!(
                    "{source}.sourceRef.storeRef names {} {name}, which does not exist (the \
                     ExternalSecret's other entries are not affected by this store)",
                    kind.as_str()
                )),
                sanitize::line(&format!(
                    "kubectl get secretstores -n {ns}; kubectl get clustersecretstores; then fix \
                     {field} of ExternalSecret {ns}/{} in Git or create the store",
                    es.name()
                )),
            )
            .field(&format!("{field}.name"))
        };
        out.push(
            f.about_es(ns, es.name())
                .about_store(&store)
                .about_target(ns, es.target_name()),
        );
    }
    out
}

fn check(es: &ExternalSecret, stores: &Stores<'_>) -> Option<Finding> {
    // Per-entry stores (`sourceRef.storeRef`) are checked by `entry_stores`.
    let r = es
        .spec
        .secret_store_ref
        .as_ref()
        .filter(|r| !r.name.is_empty())?;
    let kind = StoreKind::from_spec(r.kind.as_deref())?;
    let (ns, name) = (es.namespace(), r.name.as_str());
    let here = stores.namespaced_in(ns)?;
    let cluster = stores.cluster_names()?;
    let (same_kind, other_kind): (&BTreeSet<&str>, &BTreeSet<&str>) = match kind {
        StoreKind::SecretStore => (here, cluster),
        StoreKind::ClusterSecretStore => (cluster, here),
    };
    if same_kind.contains(name) {
        return None;
    }
    let store = StoreRef {
        kind,
        namespace: (kind == StoreKind::SecretStore).then(|| ns.to_string()),
        name: name.to_string(),
    };
    let object = sanitize::line(&format!("ExternalSecret {ns}/{}", es.name()));
    let other = match kind {
        StoreKind::SecretStore => StoreKind::ClusterSecretStore,
        StoreKind::ClusterSecretStore => StoreKind::SecretStore,
    };
    let f = if other_kind.contains(name) {
        finding(
            STORE_KIND_MISMATCH,
            Status::Error,
            object,
            sanitize::line(&format!(
                "secretStoreRef names {} {name}, which does not exist; a {} {name} does: \
                 the kind is wrong, the store is not missing",
                kind.as_str(),
                other.as_str()
            )),
            patch(
                es,
                &format!(
                    r#"{{"spec":{{"secretStoreRef":{{"kind":"{}"}}}}}}"#,
                    other.as_str()
                ),
            ),
        )
        .field("spec.secretStoreRef.kind")
    } else if let (StoreKind::SecretStore, Some(first)) =
        (kind, stores.elsewhere(ns, name).first().copied())
    {
        finding(
            STORE_OTHER_NAMESPACE,
            Status::Error,
            object,
            sanitize::line(&format!(
                "secretStoreRef names SecretStore {name}, which exists in namespace {first} but \
                 not in {ns}: a SecretStore serves only its own namespace (ESO looks for it in \
                 {ns} and finds none); the store is not missing, it is in the wrong namespace"
            )),
            sanitize::line(&format!(
                "kubectl get secretstore {name} -n {first} -o yaml (the store to re-create in \
                 namespace {ns}, with the credentials Secrets it references, without its uid, \
                 resourceVersion and status)"
            )),
        )
        .then(
            "or serve both namespaces from one ClusterSecretStore: kubectl get \
             clustersecretstores (then set the ExternalSecret's spec.secretStoreRef kind to \
             ClusterSecretStore and its name)"
                .to_string(),
        )
        .field("spec.secretStoreRef.name")
    } else if let Some(meant) = did_you_mean(
        name,
        same_kind.iter().copied().chain(other_kind.iter().copied()),
    ) {
        let meant_kind = if same_kind.contains(meant) {
            kind
        } else {
            other
        };
        let body = if meant_kind == kind {
            format!(r#"{{"spec":{{"secretStoreRef":{{"name":"{meant}"}}}}}}"#)
        } else {
            format!(
                r#"{{"spec":{{"secretStoreRef":{{"name":"{meant}","kind":"{}"}}}}}}"#,
                meant_kind.as_str()
            )
        };
        finding(
            STORE_NAME_TYPO,
            Status::Error,
            object,
            sanitize::line(&format!(
                "secretStoreRef names {} {name}, which does not exist; did you mean {} {meant}?",
                kind.as_str(),
                meant_kind.as_str()
            )),
            patch(es, &body),
        )
        .field("spec.secretStoreRef.name")
    } else {
        let create = match kind {
            StoreKind::SecretStore => format!("create SecretStore {name} in namespace {ns}"),
            StoreKind::ClusterSecretStore => format!("create ClusterSecretStore {name}"),
        };
        let existing = match kind {
            StoreKind::SecretStore => {
                format!("kubectl get secretstores -n {ns}; kubectl get clustersecretstores")
            }
            StoreKind::ClusterSecretStore => {
                format!("kubectl get clustersecretstores; kubectl get secretstores -n {ns}")
            }
        };
        finding(
            STORE_MISSING,
            Status::Error,
            object,
            sanitize::line(&format!(
                "secretStoreRef names {} {name}, which does not exist (no store of either kind \
                 has that name or one close to it)",
                kind.as_str()
            )),
            sanitize::line(&format!(
                "{create}, or point the ExternalSecret at an existing store ({existing})"
            )),
        )
        .field("spec.secretStoreRef.name")
    };
    let f = match es.owner_cluster_external_secret() {
        Some(ces) => f.evidence(sanitize::line(&format!(
            "ClusterExternalSecret {ces} owns this ExternalSecret and rewrites its spec: the fix \
             goes there"
        ))),
        None => f,
    };
    Some(
        f.about_es(ns, es.name())
            .about_store(&store)
            .about_target(ns, es.target_name()),
    )
}

/// The merge patch that fixes the ExternalSecret, as one copy-pasteable command. An
/// ExternalSecret a ClusterExternalSecret owns is rewritten by it: the patch goes there.
fn patch(es: &ExternalSecret, body: &str) -> String {
    match es.owner_cluster_external_secret() {
        Some(ces) => {
            let inner = body
                .strip_prefix(r#"{"spec":"#)
                .and_then(|b| b.strip_suffix('}'))
                .unwrap_or(body);
            sanitize::line(&format!(
                r#"kubectl patch clusterexternalsecret {ces} --type merge -p '{{"spec":{{"externalSecretSpec":{inner}}}}}'"#
            ))
        }
        None => sanitize::line(&format!(
            "kubectl patch externalsecret {} -n {} --type merge -p '{body}'",
            es.name(),
            es.namespace()
        )),
    }
}
