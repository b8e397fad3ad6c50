//! A ClusterSecretStore's `spec.conditions` decide which namespaces may use it; an ExternalSecret
//! elsewhere fails with ESO's "not allowed from namespace … denied by spec.condition". One rule,
//! the one ESO's client manager applies, serves describe-chain (one namespace) and doctor (every
//! namespace that uses the store): no conditions admit every namespace; otherwise a namespace is
//! admitted when any one condition admits it — by `namespaces` (exact names), `namespaceRegexes`
//! (Go's `regexp.MatchString`: unanchored, so `^`/`$` are the author's) or `namespaceSelector`
//! (a label selector: `matchLabels` and `matchExpressions`, ANDed).

use std::collections::BTreeMap;

use serde_json::Value;

/// The `spec.conditions` of a store object as read from the API (empty when absent).
pub fn conditions_of(store: &Value) -> &[Value] {
    store
        .pointer("/spec/conditions")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Whether the conditions admit `namespace`: `Some(true/false)` when decidable, with a note saying
/// why not (or why it could not be decided). `labels` is `None` when the namespace's labels could
/// not be read: a `namespaceSelector` then decides nothing.
pub fn admits_namespace(
    conditions: &[Value],
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> (Option<bool>, Option<String>) {
    if conditions.is_empty() {
        return (Some(true), None);
    }
    let mut undecided = None;
    for c in conditions {
        let by_name = c
            .get("namespaces")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|n| n.as_str() == Some(namespace)));
        if by_name {
            return (Some(true), None);
        }
        for pattern in c
            .get("namespaceRegexes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(namespace) => return (Some(true), None),
                Ok(_) => {}
                // ESO's webhook rejects such a store, but one may predate the webhook.
                Err(_) => undecided = Some(format!("namespaceRegexes {pattern:?} is not valid")),
            }
        }
        if let Some(sel) = c.get("namespaceSelector").filter(|s| s.is_object()) {
            match labels {
                Some(labels) => match selects(sel, labels) {
                    Ok(true) => return (Some(true), None),
                    Ok(false) => {}
                    Err(why) => undecided = Some(why),
                },
                None => {
                    undecided = Some("the namespace's labels could not be read".to_string());
                }
            }
        }
    }
    match undecided {
        Some(note) => (None, Some(note)),
        None => (
            Some(false),
            Some(format!(
                "no entry of spec.conditions admits namespace {namespace}"
            )),
        ),
    }
}

/// A `metav1.LabelSelector` against a label set, as `LabelSelectorAsSelector` reads it: every
/// `matchLabels` pair and every `matchExpressions` requirement must hold. An empty selector
/// selects everything. `Err` for an operator Kubernetes does not know.
fn selects(sel: &Value, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    let pairs_hold = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    if !pairs_hold {
        return Ok(false);
    }
    for req in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = req.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = req
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let have = labels.get(key).map(String::as_str);
        let holds = match req.get("operator").and_then(Value::as_str) {
            Some("In") => have.is_some_and(|h| values.contains(&h)),
            Some("NotIn") => have.is_none_or(|h| !values.contains(&h)),
            Some("Exists") => have.is_some(),
            Some("DoesNotExist") => have.is_none(),
            other => {
                return Err(format!(
                    "namespaceSelector operator {:?} is not a Kubernetes one",
                    other.unwrap_or_default()
                ));
            }
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_conditions_admit_every_namespace() {
        for store in [json!({"spec": {}}), json!({"spec": {"conditions": []}})] {
            assert_eq!(
                admits_namespace(conditions_of(&store), "netbox", None),
                (Some(true), None)
            );
        }
    }

    #[test]
    fn names_and_unanchored_regexes_decide_without_labels() {
        let store = json!({"spec": {"conditions": [
            {"namespaces": ["awx"]},
            {"namespaceRegexes": ["^team-a-", "prod$"]}
        ]}});
        for ns in ["awx", "team-a-web", "eu-prod", "preprod"] {
            assert_eq!(
                admits_namespace(conditions_of(&store), ns, None).0,
                Some(true),
                "{ns}"
            );
        }
        let (admits, note) = admits_namespace(conditions_of(&store), "netbox", None);
        assert_eq!(admits, Some(false));
        assert_eq!(
            note.as_deref(),
            Some("no entry of spec.conditions admits namespace netbox")
        );
        // Go's MatchString is unanchored: "prod" alone would admit "production" too.
        let loose = json!({"spec": {"conditions": [{"namespaceRegexes": ["prod"]}]}});
        assert_eq!(
            admits_namespace(conditions_of(&loose), "production", None).0,
            Some(true)
        );
    }

    #[test]
    fn selectors_read_match_labels_and_expressions() {
        let store = json!({"spec": {"conditions": [{"namespaceSelector": {
        "matchLabels": {"team": "ops"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["gold", "silver"]},
            {"key": "frozen", "operator": "DoesNotExist"},
            {"key": "env", "operator": "NotIn", "values": ["dev"]}
        ]}}]}});
        let admit =
            |l: &[(&str, &str)]| admits_namespace(conditions_of(&store), "x", Some(&labels(l))).0;
        assert_eq!(admit(&[("team", "ops"), ("tier", "gold")]), Some(true));
        assert_eq!(
            admit(&[("team", "ops"), ("tier", "gold"), ("env", "prod")]),
            Some(true)
        );
        assert_eq!(admit(&[("team", "ops"), ("tier", "bronze")]), Some(false));
        assert_eq!(admit(&[("tier", "gold")]), Some(false));
        assert_eq!(
            admit(&[("team", "ops"), ("tier", "gold"), ("frozen", "yes")]),
            Some(false)
        );
        assert_eq!(
            admit(&[("team", "ops"), ("tier", "gold"), ("env", "dev")]),
            Some(false)
        );
        let exists = json!({"spec": {"conditions": [{"namespaceSelector": {
            "matchExpressions": [{"key": "eso", "operator": "Exists"}]}}]}});
        assert_eq!(
            admits_namespace(conditions_of(&exists), "x", Some(&labels(&[("eso", "")]))).0,
            Some(true)
        );
        let everything = json!({"spec": {"conditions": [{"namespaceSelector": {}}]}});
        assert_eq!(
            admits_namespace(conditions_of(&everything), "x", Some(&labels(&[]))).0,
            Some(true)
        );
    }

    #[test]
    fn unknown_labels_or_bad_patterns_leave_it_undecided_unless_another_entry_admits() {
        let store = json!({"spec": {"conditions": [
            {"namespaceSelector": {"matchLabels": {"team": "ops"}}},
            {"namespaceRegexes": ["("]}
        ]}});
        let (admits, note) = admits_namespace(conditions_of(&store), "x", None);
        assert_eq!(admits, None);
        assert!(note.is_some());
        let named = json!({"spec": {"conditions": [
            {"namespaceSelector": {"matchLabels": {"team": "ops"}}},
            {"namespaces": ["x"]}
        ]}});
        assert_eq!(
            admits_namespace(conditions_of(&named), "x", None).0,
            Some(true)
        );
        let odd = json!({"spec": {"conditions": [{"namespaceSelector": {
            "matchExpressions": [{"key": "a", "operator": "Like"}]}}]}});
        assert_eq!(
            admits_namespace(conditions_of(&odd), "x", Some(&labels(&[]))).0,
            None
        );
    }
}
