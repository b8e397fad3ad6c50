//! Causal ranking (issue 12): a finding that explains others becomes their root and they attach
//! under it as its effects, instead of competing with it. The first finding printed is the root
//! cause. Pure: it looks only at codes (their layer in `catalogue`) and at what each finding is
//! about.

use super::catalogue::{Layer, layer};
use crate::model::doctor::Status;
use crate::model::finding::Finding;

/// Roots first — errors before warnings, upstream before downstream, the one explaining most
/// first — each with the findings it explains under it.
pub fn rank(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by(|a, b| {
        layer(&a.code)
            .cmp(&layer(&b.code))
            .then(b.severity.cmp(&a.severity))
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.message.cmp(&b.message))
    });
    findings.dedup_by(|a, b| a.code == b.code && a.object == b.object && a.message == b.message);
    let mut roots: Vec<Finding> = Vec::new();
    for f in findings {
        match roots.iter_mut().find(|r| explains(r, &f)) {
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

/// Does `root` explain `f`? Only an upstream cause at least as severe, about the same objects.
fn explains(root: &Finding, f: &Finding) -> bool {
    let (rl, fl) = (layer(&root.code), layer(&f.code));
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
}
