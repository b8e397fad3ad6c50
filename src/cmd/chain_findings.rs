//! describe-chain as a view of the one diagnosis (issue 12): the ExternalSecret's namespace is read
//! as `doctor -n NS` reads it (scope's snapshot, the installation, the stores' credential keys, the
//! pods), describe-chain's own probe stands in for doctor's batch probe of the same store, and
//! doctor's rules and ranking run over it. The findings that concern this chain — the
//! ExternalSecret, its store, its target Secret, the controller — are the chain's findings, and the
//! first of them is the verdict's root cause: the same facts give the same root cause in every
//! command.

use std::collections::BTreeMap;

use kube::Client;

use crate::analysis::doctor::{DoctorOptions, analyse};
use crate::analysis::scope::{ScopeOptions, analyse as analyse_scope};
use crate::diag::Diag;
use crate::diagnose::rank::{flatten, rank};
use crate::kube::eso::EsoApi;
use crate::kube::scope::{ScopeQuery, fetch};
use crate::kube::{doctor_install, doctor_stores};
use crate::model::chain::ChainFacts;
use crate::model::doctor::{
    DoctorExtras, Finding, KeyUser, StoreProbe, TargetExtras, TargetSecretFacts, TargetValues,
};
use crate::model::refs::{StoreKind, StoreRef};

/// The ranked findings of one chain; empty when the namespace could not be read.
pub async fn findings(
    client: &Client,
    eso: &EsoApi,
    facts: &ChainFacts,
    probed: bool,
    secrets: BTreeMap<(String, String), TargetSecretFacts>,
    diag: &Diag,
    now: jiff::Timestamp,
) -> Vec<Finding> {
    let es = &facts.external_secret;
    let query = ScopeQuery {
        namespace: Some(&es.namespace),
        selector: None,
        workload: None,
    };
    let (snapshot, install) = futures::join!(
        fetch(client, eso, &query, diag),
        doctor_install::fetch(client, eso, diag)
    );
    let Ok(snapshot) = snapshot else {
        return Vec::new();
    };
    let scope = analyse_scope(&snapshot, &ScopeOptions::default(), now);
    let (stores, (pods, _)) = futures::join!(
        doctor_stores::fetch(client, &snapshot, &scope, diag),
        super::doctor::fetch_targets(
            client,
            Some(&es.namespace),
            crate::analysis::scope::existing_targets(&snapshot),
            false,
            super::doctor::Listed::Later {
                wants_refs: !secrets.is_empty()
            },
            diag
        )
    );
    let (eso_reloader, namespace_labels) = match &pods {
        Some(Ok((facts, _))) => crate::kube::eso_reloader::for_pods(client, facts, diag).await,
        _ => Default::default(),
    };
    let (pods, pod_refs) = super::doctor::split_pods(pods);
    let extras = DoctorExtras {
        push: None,
        eso_logs: None,
        probes: probed
            .then(|| store_probe(facts))
            .flatten()
            .map(|p| vec![p]),
        regcreds: None,
        stores,
        targets: TargetExtras {
            pod_refs,
            pods,
            values_unread: Vec::new(),
            secrets,
            eso_reloader,
            namespace_labels,
        },
    };
    let opts = DoctorOptions::view(probed);
    let report = analyse(&install, &snapshot, &scope, &extras, &opts, now);
    of_chain(&report.findings, facts)
}

/// The findings about this ExternalSecret, its store, its target Secret or the controller,
/// ranked again among themselves.
pub fn of_chain(all: &[Finding], facts: &ChainFacts) -> Vec<Finding> {
    let es = &facts.external_secret;
    let me = (es.namespace.clone(), es.name.clone());
    let target = (es.namespace.clone(), facts.target.name.clone());
    // The chain's store and every per-entry store it walks (issue 14).
    let stores: Vec<StoreRef> = store_ref(facts)
        .into_iter()
        .chain(
            facts
                .other_stores
                .iter()
                .filter_map(|s| ref_of(s, &es.namespace)),
        )
        .collect();
    let mine: Vec<Finding> = flatten(all)
        .filter(|f| {
            let a = &f.about;
            a.controller
                || a.external_secret.as_ref() == Some(&me)
                || (a.external_secret.is_none()
                    && (a.store.as_ref().is_some_and(|s| stores.contains(s))
                        || a.target.as_ref() == Some(&target)))
        })
        .filter(|f| {
            f.about
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == es.namespace)
        })
        .map(|f| Finding {
            effects: Vec::new(),
            ..f.clone()
        })
        .collect();
    rank(mine)
}

fn store_ref(facts: &ChainFacts) -> Option<StoreRef> {
    ref_of(&facts.store, &facts.external_secret.namespace)
}

fn ref_of(s: &crate::model::chain::StoreFacts, es_namespace: &str) -> Option<StoreRef> {
    let kind = StoreKind::from_spec(Some(&s.kind))?;
    Some(StoreRef {
        kind,
        namespace: match kind {
            StoreKind::SecretStore => Some(es_namespace.to_string()),
            StoreKind::ClusterSecretStore => None,
        },
        name: s.name.clone(),
    })
}

/// describe-chain's probe of its store, in the shape doctor's batch probe gives: the provider's
/// facts, this ExternalSecret's use of each key, and its target compared key by key.
fn store_probe(facts: &ChainFacts) -> Option<StoreProbe> {
    if facts.store.found != Some(true) {
        return None;
    }
    let es = &facts.external_secret;
    let mut users: Vec<KeyUser> = Vec::new();
    for k in &facts.provider.keys {
        let missing: Vec<String> = facts
            .provider
            .keys
            .iter()
            .filter(|o| o.key == k.key && o.property_exists == Some(false))
            .filter_map(|o| o.property.clone())
            .collect();
        if users.iter().any(|u| u.key == k.key) {
            continue;
        }
        let mut versions: Vec<Option<String>> = Vec::new();
        for o in facts.provider.keys.iter().filter(|o| o.key == k.key) {
            if !versions.contains(&o.version) {
                versions.push(o.version.clone());
            }
        }
        users.push(KeyUser {
            namespace: es.namespace.clone(),
            name: es.name.clone(),
            key: k.key.clone(),
            versions,
            missing_properties: missing,
        });
    }
    let differs: Vec<String> = facts
        .target
        .keys
        .iter()
        .filter(|k| k.matches_provider == Some(false))
        .map(|k| k.name.clone())
        .collect();
    let compared = facts
        .target
        .keys
        .iter()
        .any(|k| k.matches_provider.is_some());
    Some(StoreProbe {
        store: store_ref(facts)?,
        provider_kind: facts.store.provider.clone().unwrap_or_default(),
        settings: facts.store.settings.clone(),
        kube_cluster: facts.store.kube_cluster.clone(),
        provider: facts.provider.clone(),
        users,
        targets: if compared {
            vec![TargetValues {
                namespace: es.namespace.clone(),
                name: es.name.clone(),
                differs,
            }]
        } else {
            Vec::new()
        },
    })
}
