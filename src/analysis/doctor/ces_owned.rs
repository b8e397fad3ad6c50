//! Issue 12: an ExternalSecret a ClusterExternalSecret owns is its copy, rewritten from the
//! parent's `spec.externalSecretSpec` at every `refreshTime`: an edit or patch of the copy is
//! overwritten. Every rule writes its fix for the ExternalSecret it is about; this one pass turns
//! those fixes into the same fix on the parent (a merge patch moves under `externalSecretSpec`)
//! and says why, so no rule needs to know about ClusterExternalSecrets.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::finding::Finding;
use crate::model::scope::ScopeSnapshot;
use crate::sanitize;

/// (namespace, name) of each ExternalSecret a ClusterExternalSecret owns → the parent's name.
pub type Parents<'a> = BTreeMap<(&'a str, &'a str), &'a str>;

/// Each owned ExternalSecret's parent, read once for all the checks' findings (issue 16: one
/// index of 30,000 ExternalSecrets per check was most of this pass).
pub fn parents(snap: &ScopeSnapshot) -> Parents<'_> {
    snap.external_secrets
        .iter()
        .filter_map(|es| {
            Some((
                (es.namespace(), es.name()),
                es.owner_cluster_external_secret()?,
            ))
        })
        .collect()
}

pub fn steer(findings: &mut [Finding], parents: &Parents<'_>) {
    if !parents.is_empty() {
        steer_all(findings, parents);
    }
}

fn steer_all(findings: &mut [Finding], parents: &Parents<'_>) {
    for f in findings.iter_mut() {
        steer_all(&mut f.effects, parents);
        // Only the parents of the ExternalSecrets this finding is about or its steps edit can
        // change it: asking every parent was findings x owned ExternalSecrets (issue 16).
        let mut concerned: BTreeSet<(String, String)> = edited_in(&f.next);
        concerned.extend(f.about.external_secret.clone());
        let concerned = concerned
            .iter()
            .filter_map(|(ns, name)| parents.get_key_value(&(ns.as_str(), name.as_str())));
        for (&(ns, name), &ces) in concerned {
            steer_to(f, ns, name, ces);
        }
    }
}

/// `f`'s steps that edit or patch ExternalSecret `ns/name` made on its parent `ces` instead,
/// and why, when they do or `f` is about that ExternalSecret.
fn steer_to(f: &mut Finding, ns: &str, name: &str, ces: &str) {
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
        return;
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

/// (namespace, name) of every ExternalSecret the steps may edit or patch: at least each one
/// [`to_parent`] would rewrite (`… externalsecret NAME -n NS` followed by a blank, `)`, `;` or
/// the end), and maybe a few it would not.
fn edited_in(steps: &[String]) -> BTreeSet<(String, String)> {
    const KIND: &str = "externalsecret ";
    let mut out = BTreeSet::new();
    for step in steps {
        let mut rest = step.as_str();
        while let Some(at) = rest.find(KIND) {
            rest = &rest[at + KIND.len()..];
            let name = rest.split(' ').next().unwrap_or_default();
            if let Some(after) = rest[name.len()..].strip_prefix(" -n ") {
                let end = after
                    .find(|c: char| c.is_whitespace() || matches!(c, ')' | ';' | '\''))
                    .unwrap_or(after.len());
                out.insert((after[..end].to_string(), name.to_string()));
            }
        }
    }
    out
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

    /// The steering as it was before it looked at the concerned parents only (stop 26): every
    /// parent asked about every finding.
    fn reference(findings: &mut [Finding], parents: &Parents<'_>) {
        for f in findings.iter_mut() {
            reference(&mut f.effects, parents);
            for (&(ns, name), &ces) in parents {
                steer_to(f, ns, name, ces);
            }
        }
    }

    #[test]
    fn only_the_concerned_parents_are_asked_and_the_outcome_is_the_same() {
        use crate::model::doctor::Status;
        let parents: Parents<'_> = [
            (("a", "db"), "db-all"),
            (("b", "db"), "db-all"),
            (("a", "api"), "api-all"),
            (("ab", "db"), "other"),
        ]
        .into_iter()
        .collect();
        let steps = [
            "kubectl edit externalsecret db -n a",
            "kubectl edit externalsecret db -n ab; then kubectl edit externalsecret api -n a",
            "set Owner (kubectl patch externalsecret db -n b --type merge -p '{\"spec\":{\"target\":{}}}')",
            "kubectl edit externalsecret db -n a, or kubectl edit externalsecret db -n abc",
            "kubectl edit externalsecret db -n a'",
            "kubectl get externalsecret db -n a -o yaml",
            "kubectl edit clusterexternalsecret db-all",
            "kubectl edit externalsecret  db -n a",
            "kubectl edit externalsecret db",
            "",
        ];
        let abouts = [
            None,
            Some(("a", "db")),
            Some(("c", "db")),
            Some(("a", "api")),
        ];
        let mut findings = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            for (j, about) in abouts.iter().enumerate() {
                let mut f = Finding::new(
                    "es-not-ready",
                    Status::Error,
                    format!("ExternalSecret x/{i}-{j}"),
                    String::new(),
                    step.to_string(),
                );
                f.next.push(steps[(i + j) % steps.len()].to_string());
                if let Some((ns, name)) = about {
                    f = f.about_es(ns, name);
                }
                let effect = f.clone();
                f.effects.push(effect);
                findings.push(f);
            }
        }
        let mut want = findings.clone();
        reference(&mut want, &parents);
        steer_all(&mut findings, &parents);
        assert_eq!(findings, want);
        // Not vacuous: steps were rewritten and evidence added, for more than one parent.
        let all: Vec<&Finding> = want
            .iter()
            .flat_map(|f| [f].into_iter().chain(&f.effects))
            .collect();
        assert!(all.iter().any(|f| {
            f.next
                .iter()
                .any(|s| s.contains("clusterexternalsecret db-all"))
        }));
        assert!(all.iter().any(|f| {
            f.next
                .iter()
                .any(|s| s.contains("clusterexternalsecret api-all"))
        }));
        assert!(all.iter().any(|f| {
            f.evidence
                .iter()
                .any(|e| e.contains("ClusterExternalSecret other"))
        }));
    }
}
