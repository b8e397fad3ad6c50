//! Issue 12: an ExternalSecret a ClusterExternalSecret owns is its copy, rewritten from the
//! parent's `spec.externalSecretSpec` at every `refreshTime`: an edit or patch of the copy is
//! overwritten. Every rule writes its fix for the ExternalSecret it is about; this one pass turns
//! those fixes into the same fix on the parent (a merge patch moves under `externalSecretSpec`)
//! and says why, so no rule needs to know about ClusterExternalSecrets.

use std::collections::BTreeMap;

use crate::model::finding::Finding;
use crate::model::scope::ScopeSnapshot;
use crate::sanitize;

/// (namespace, name) of each ExternalSecret a ClusterExternalSecret owns → the parent's name.
type Parents<'a> = BTreeMap<(&'a str, &'a str), &'a str>;

pub fn steer(findings: &mut [Finding], snap: &ScopeSnapshot) {
    let parents: Parents<'_> = snap
        .external_secrets
        .iter()
        .filter_map(|es| {
            Some((
                (es.namespace(), es.name()),
                es.owner_cluster_external_secret()?,
            ))
        })
        .collect();
    if !parents.is_empty() {
        steer_all(findings, &parents);
    }
}

fn steer_all(findings: &mut [Finding], parents: &Parents<'_>) {
    for f in findings.iter_mut() {
        steer_all(&mut f.effects, parents);
        for (&(ns, name), &ces) in parents {
            let mut changed = false;
            for step in f.next.iter_mut() {
                if let Some(new) = to_parent(step, ns, name, ces) {
                    *step = new;
                    changed = true;
                }
            }
            let about_child = f
                .about
                .external_secret
                .as_ref()
                .is_some_and(|(n, e)| n == ns && e == name);
            if !(changed || about_child) {
                continue;
            }
            let mention = format!("ClusterExternalSecret {ces}");
            if !f.evidence.iter().any(|e| e.contains(&mention)) {
                f.evidence.push(sanitize::line(&format!(
                    "{mention} owns ExternalSecret {ns}/{name} and rewrites it from its \
                     spec.externalSecretSpec: a change to the ExternalSecret itself is \
                     overwritten, the fix goes to {mention}"
                )));
            }
        }
    }
}

/// `step` with its edit or merge patch of ExternalSecret `ns/name` made on ClusterExternalSecret
/// `ces` instead; `None` when it does not touch that ExternalSecret.
fn to_parent(step: &str, ns: &str, name: &str, ces: &str) -> Option<String> {
    let edit = format!("kubectl edit externalsecret {name} -n {ns}");
    let patch = format!("kubectl patch externalsecret {name} -n {ns} --type merge -p '");
    let mut out = step.to_string();
    let mut changed = false;
    let mut from = 0;
    while let Some(at) = out[from..].find(&edit).map(|i| i + from) {
        let end = at + edit.len();
        // `-n a` must not match `-n ab`.
        if out[end..].starts_with(|c: char| !c.is_whitespace() && c != ')' && c != ';') {
            from = end;
            continue;
        }
        let new = format!("kubectl edit clusterexternalsecret {ces}");
        out.replace_range(at..end, &new);
        from = at + new.len();
        changed = true;
    }
    while let Some(start) = out.find(&patch) {
        let body_at = start + patch.len();
        let Some(len) = out[body_at..].find('\'') else {
            break;
        };
        let body = &out[body_at..body_at + len];
        let Some(inner) = body
            .strip_prefix(r#"{"spec":"#)
            .and_then(|b| b.strip_suffix('}'))
        else {
            break;
        };
        let new = format!(
            r#"kubectl patch clusterexternalsecret {ces} --type merge -p '{{"spec":{{"externalSecretSpec":{inner}}}}}'"#
        );
        out.replace_range(start..body_at + len + 1, &new);
        changed = true;
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue12_a_merge_patch_moves_under_external_secret_spec() {
        let step = r#"create it (kubectl create secret generic db -n a), or set Owner (kubectl patch externalsecret db -n a --type merge -p '{"spec":{"target":{"creationPolicy":"Owner"}}}')"#;
        let new = to_parent(step, "a", "db", "db-all").unwrap_or_default();
        assert!(new.contains(r#"kubectl patch clusterexternalsecret db-all --type merge -p '{"spec":{"externalSecretSpec":{"target":{"creationPolicy":"Owner"}}}}'"#), "{new}");
        assert!(
            new.contains("kubectl create secret generic db -n a"),
            "{new}"
        );
        assert_eq!(
            to_parent("kubectl edit externalsecret db -n a", "a", "db", "p").as_deref(),
            Some("kubectl edit clusterexternalsecret p")
        );
        // Near misses: another ExternalSecret, another namespace, the parent's own step.
        assert_eq!(
            to_parent("kubectl edit externalsecret db2 -n a", "a", "db", "p"),
            None
        );
        assert_eq!(
            to_parent("kubectl edit externalsecret db -n b", "a", "db", "p"),
            None
        );
        assert_eq!(
            to_parent("kubectl edit externalsecret db -n ab", "a", "db", "p"),
            None
        );
        assert_eq!(
            to_parent(
                "kubectl patch clusterexternalsecret db --type merge -p '{}'",
                "a",
                "db",
                "db"
            ),
            None
        );
    }
}
