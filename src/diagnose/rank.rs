//! Causal ranking (issue 12): a finding that explains others becomes their root and they attach
//! under it as its effects, instead of competing with it. The first finding printed is the root
//! cause. Pure: it looks only at codes (their layer in `catalogue`) and at what each finding is
//! about.

use std::collections::HashSet;

use super::catalogue::{Layer, layer};
use crate::model::doctor::Status;
use crate::model::finding::Finding;

/// Roots first — errors before warnings, upstream before downstream, the one explaining most
/// first — each with the findings it explains under it.
///
/// Linear in the findings for an outage at scale (issue 16): each finding's layer is looked up
/// once (the catalogue is a list), a finding is offered only to the roots upstream of it (roots
/// come in the findings' order, upstream first), and each root keeps a set of what it lists as
/// affected. Thirty thousand failing ExternalSecrets under one store were quadratic in both.
pub fn rank(findings: Vec<Finding>) -> Vec<Finding> {
    let mut findings: Vec<(Layer, Finding)> =
        findings.into_iter().map(|f| (layer(&f.code), f)).collect();
    findings.sort_by(|(la, a), (lb, b)| {
        la.cmp(lb)
            .then(b.severity.cmp(&a.severity))
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.message.cmp(&b.message))
    });
    findings.dedup_by(|(_, a), (_, b)| {
        a.code == b.code && a.object == b.object && a.message == b.message
    });
    let mut roots: Vec<Root> = Vec::new();
    for (fl, f) in findings {
        // Only an upstream root explains `f`, and those are a prefix of `roots`.
        match roots
            .iter_mut()
            .take_while(|r| r.layer < fl)
            .find(|r| explains(r.layer, &r.finding, fl, &f))
        {
            Some(root) => root.attach(f),
            None => roots.push(Root::new(fl, f)),
        }
    }
    roots.sort_by(|a, b| {
        let (fa, fb) = (&a.finding, &b.finding);
        fb.severity
            .cmp(&fa.severity)
            .then(a.layer.cmp(&b.layer))
            .then(fb.effects.len().cmp(&fa.effects.len()))
            .then_with(|| fa.object.cmp(&fb.object))
    });
    roots.into_iter().map(|r| r.finding).collect()
}

/// A root while findings attach to it: its layer, and what its `affects` already lists.
struct Root {
    layer: Layer,
    finding: Finding,
    listed: HashSet<String>,
}

impl Root {
    fn new(layer: Layer, finding: Finding) -> Self {
        let listed = finding.affects.iter().cloned().collect();
        Root {
            layer,
            finding,
            listed,
        }
    }

    /// `f` under this root: what it affects, and its ExternalSecret, listed once.
    fn attach(&mut self, f: Finding) {
        for a in &f.affects {
            if self.listed.insert(a.clone()) {
                self.finding.affects.push(a.clone());
            }
        }
        if let Some((ns, name)) = &f.about.external_secret {
            let es = format!("ExternalSecret {ns}/{name}");
            if self.finding.object != es && self.listed.insert(es.clone()) {
                self.finding.affects.push(es);
            }
        }
        self.finding.effects.push(f);
    }
}

/// Does `root` (of layer `rl`) explain `f` (of layer `fl`)? Only an upstream cause at least as
/// severe, about the same objects.
fn explains(rl: Layer, root: &Finding, fl: Layer, f: &Finding) -> bool {
    if rl >= fl || root.severity < f.severity || root.severity < Status::Warning {
        return false;
    }
    let (r, a) = (&root.about, &f.about);
    if r.controller {
        return matches!(fl, Layer::Store | Layer::ExternalSecret | Layer::Target);
    }
    if let Some(ns) = &r.namespace
        && a.external_secret.as_ref().is_none_or(|(n, _)| n != ns)
    {
        return false;
    }
    if r.push_secret.is_some() && r.push_secret != a.push_secret {
        return false;
    }
    same(&r.external_secret, &a.external_secret)
        || same(&r.push_secret, &a.push_secret)
        || (r.external_secret.is_none() && same(&r.store, &a.store))
        || same(&r.target, &a.target)
}

fn same<T: PartialEq>(x: &Option<T>, y: &Option<T>) -> bool {
    x.is_some() && x == y
}

/// Every finding, roots and effects, in printed order.
pub fn flatten(roots: &[Finding]) -> impl Iterator<Item = &Finding> {
    roots
        .iter()
        .flat_map(|r| std::iter::once(r).chain(r.effects.iter()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::catalogue::*;
    use crate::model::refs::{StoreKind, StoreRef};

    fn store() -> StoreRef {
        StoreRef {
            kind: StoreKind::SecretStore,
            namespace: Some("prod".into()),
            name: "vault".into(),
        }
    }

    fn f(code: &str, sev: Status, object: &str) -> Finding {
        Finding::new(
            code,
            sev,
            object.into(),
            format!("{code} msg"),
            String::new(),
        )
    }

    #[test]
    fn issue12_store_cause_is_the_root_and_es_symptoms_attach_under_it() {
        let es = f(ES_NOT_READY, Status::Error, "ExternalSecret prod/a")
            .about_es("prod", "a")
            .about_store(&store());
        let store_down =
            f(STORE_NOT_READY, Status::Error, "SecretStore prod/vault").about_store(&store());
        let login = f(
            PROVIDER_LOGIN_FAILED,
            Status::Error,
            "SecretStore prod/vault",
        )
        .about_store(&store());
        let roots = rank(vec![es, store_down, login]);
        assert_eq!(roots.len(), 1, "{roots:#?}");
        assert_eq!(roots[0].code, PROVIDER_LOGIN_FAILED);
        let effects: Vec<&str> = roots[0].effects.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(effects, [STORE_NOT_READY, ES_NOT_READY]);
        assert!(
            roots[0]
                .affects
                .contains(&"ExternalSecret prod/a".to_string())
        );
    }

    #[test]
    fn issue12_a_finding_about_other_objects_is_not_claimed() {
        let other_store = StoreRef {
            name: "other".into(),
            ..store()
        };
        let es = f(ES_NOT_READY, Status::Error, "ExternalSecret prod/a")
            .about_es("prod", "a")
            .about_store(&other_store);
        let login = f(
            PROVIDER_LOGIN_FAILED,
            Status::Error,
            "SecretStore prod/vault",
        )
        .about_store(&store());
        let roots = rank(vec![es, login]);
        assert_eq!(roots.len(), 2);
    }

    #[test]
    fn a_warning_does_not_explain_an_error() {
        let es = f(ES_NOT_READY, Status::Error, "ExternalSecret prod/a")
            .about_es("prod", "a")
            .about_store(&store());
        let unknown = f(
            STORE_CONDITIONS_UNKNOWN,
            Status::Warning,
            "SecretStore prod/vault",
        )
        .about_store(&store());
        let roots = rank(vec![unknown, es]);
        assert_eq!(roots.len(), 2);
        assert_eq!(roots[0].code, ES_NOT_READY, "errors come first");
    }

    #[test]
    fn issue12_shared_target_explains_the_outdated_value_and_comes_first() {
        let outdated = f(
            TARGET_VALUE_OUTDATED,
            Status::Warning,
            "ExternalSecret shop/a",
        )
        .about_es("shop", "a")
        .about_target("shop", "db");
        let shared = f(TARGET_SHARED, Status::Error, "Secret shop/db").about_target("shop", "db");
        let roots = rank(vec![outdated, shared]);
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].code, TARGET_SHARED);
    }

    #[test]
    fn controller_down_explains_every_externalsecret_symptom_but_not_credentials() {
        let down = f(
            ESO_CONTROLLER_MISSING,
            Status::Error,
            "Deployment external-secrets",
        )
        .about_controller();
        let stale = f(ES_STALE, Status::Warning, "ExternalSecret a/b").about_es("a", "b");
        let creds =
            f(CREDENTIALS_KEY_MISSING, Status::Error, "SecretStore a/s").about_store(&store());
        let roots = rank(vec![stale, creds, down]);
        assert_eq!(roots.len(), 2);
        assert_eq!(roots[0].code, ESO_CONTROLLER_MISSING);
        assert_eq!(roots[0].effects.len(), 1);
    }

    /// The ranking as it was before it was made linear (stop 26): every layer looked up in
    /// the catalogue, every root asked, `affects` scanned.
    fn reference(mut findings: Vec<Finding>) -> Vec<Finding> {
        findings.sort_by(|a, b| {
            layer(&a.code)
                .cmp(&layer(&b.code))
                .then(b.severity.cmp(&a.severity))
                .then_with(|| a.object.cmp(&b.object))
                .then_with(|| a.message.cmp(&b.message))
        });
        findings
            .dedup_by(|a, b| a.code == b.code && a.object == b.object && a.message == b.message);
        let mut roots: Vec<Finding> = Vec::new();
        for f in findings {
            let explained = |r: &&mut Finding| explains(layer(&r.code), r, layer(&f.code), &f);
            match roots.iter_mut().find(explained) {
                Some(root) => {
                    for a in &f.affects {
                        if !root.affects.contains(a) {
                            root.affects.push(a.clone());
                        }
                    }
                    if let Some((ns, name)) = &f.about.external_secret {
                        let es = format!("ExternalSecret {ns}/{name}");
                        if !root.affects.contains(&es) && root.object != es {
                            root.affects.push(es);
                        }
                    }
                    root.effects.push(f);
                }
                None => roots.push(f),
            }
        }
        roots.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(layer(&a.code).cmp(&layer(&b.code)))
                .then(b.effects.len().cmp(&a.effects.len()))
                .then_with(|| a.object.cmp(&b.object))
        });
        roots
    }

    /// Findings of every layer and severity, about overlapping objects, with duplicates and
    /// shared `affects`: what a cluster in an outage produces, drawn from `seed`.
    fn mixed(seed: u64, n: usize) -> Vec<Finding> {
        let codes = [
            ESO_CONTROLLER_MISSING,
            STORE_CONDITIONS_UNKNOWN,
            CREDENTIALS_KEY_MISSING,
            PROVIDER_LOGIN_FAILED,
            STORE_NOT_READY,
            TARGET_SHARED,
            ES_NOT_READY,
            ES_STALE,
            TARGET_VALUE_OUTDATED,
            "not-in-the-catalogue",
        ];
        let mut x = seed;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        (0..n)
            .map(|_| {
                let code = codes[next(codes.len() as u64) as usize];
                let sev = [Status::Error, Status::Warning, Status::Ok][next(3) as usize];
                let (ns, es) = (format!("ns{}", next(3)), format!("es{}", next(8)));
                let mut f = f(code, sev, &format!("ExternalSecret {ns}/{es}"));
                f.message = format!("m{}", next(2));
                for _ in 0..next(3) {
                    f.affects.push(format!("Deployment {ns}/app{}", next(4)));
                }
                let store = StoreRef {
                    name: format!("s{}", next(2)),
                    ..store()
                };
                match next(6) {
                    0 => f.about_es(&ns, &es).about_store(&store),
                    1 => f.about_store(&store),
                    2 => f.about_target(&ns, &format!("t{}", next(3))),
                    3 => f.about_namespace(&ns).about_store(&store),
                    4 if next(10) == 0 => f.about_controller(),
                    _ => f
                        .about_es(&ns, &es)
                        .about_target(&ns, &format!("t{}", next(3))),
                }
            })
            .collect()
    }

    #[test]
    fn the_linear_ranking_ranks_as_the_reference_does() {
        for seed in 0..40 {
            let findings = mixed(seed, 20 + 50 * seed as usize);
            let (got, want) = (rank(findings.clone()), reference(findings));
            assert_eq!(got, want, "seed {seed}");
        }
        // Not vacuous: roots with effects and merged affects were compared.
        let roots = rank(mixed(7, 400));
        assert!(roots.iter().any(|r| r.effects.len() > 3), "{roots:#?}");
        assert!(roots.iter().any(|r| r.affects.len() > 3));
    }
}
