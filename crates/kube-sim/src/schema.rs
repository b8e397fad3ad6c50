//! Structural-schema handling of custom resources, as the apiextensions apiserver does it on every write:
//! prune unknown fields (reported as `warning: 299` headers), materialise `default`s, then reject enum and
//! required-field violations with 422 causes. Only the parts of OpenAPI v3 that ESO's CRDs rely on.

use serde_json::{Map, Value};

use crate::status::Cause;

fn preserves_unknown(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Drop fields the schema does not know; return their paths (`spec.refreshIntervall`).
pub fn prune(schema: &Value, value: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if preserves_unknown(schema) {
        return;
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            if let Some(props) = props {
                let at_root = path.is_empty();
                let unknown_keys: Vec<String> = map
                    .keys()
                    .filter(|k| !props.contains_key(*k))
                    .filter(|k| {
                        !(at_root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    })
                    .cloned()
                    .collect();
                if additional.is_none() {
                    for k in unknown_keys {
                        map.remove(&k);
                        unknown.push(join(path, &k));
                    }
                }
                for (k, v) in map.iter_mut() {
                    if let Some(s) = props.get(k) {
                        if !(path.is_empty() && k == "metadata") {
                            prune(s, v, &join(path, k), unknown);
                        }
                    } else if let Some(s) = additional.filter(|a| a.is_object()) {
                        prune(s, v, &join(path, k), unknown);
                    }
                }
            } else if let Some(s) = additional.filter(|a| a.is_object()) {
                for (k, v) in map.iter_mut() {
                    prune(s, v, &join(path, k), unknown);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter_mut().enumerate() {
                    prune(s, v, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

/// Fill in `default`s where a field is missing, and drop nulls the schema does not allow.
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                let nulls: Vec<String> = map
                    .iter()
                    .filter(|(k, v)| {
                        v.is_null()
                            && props.get(*k).is_some_and(|s| {
                                s.get("nullable").and_then(Value::as_bool) != Some(true)
                            })
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in nulls {
                    map.remove(&k);
                }
                for (k, s) in props {
                    if !map.contains_key(k)
                        && let Some(d) = s.get("default")
                    {
                        map.insert(k.clone(), d.clone());
                    }
                }
                for (k, v) in map.iter_mut() {
                    if let Some(s) = props.get(k) {
                        apply_defaults(s, v);
                    }
                }
            } else if let Some(s) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for v in map.values_mut() {
                    apply_defaults(s, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for v in items.iter_mut() {
                    apply_defaults(s, v);
                }
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(want: &str, v: &Value) -> bool {
    match (want, v) {
        ("number", Value::Number(_)) => true,
        (w, v) => w == type_name(v),
    }
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Enum, required and type violations, in the order the apiserver reports them (sorted field names).
pub fn validate(schema: &Value, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    if value.is_null() {
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    if let Some(want) = schema.get("type").and_then(Value::as_str)
        && !int_or_string
        && !type_matches(want, value)
    {
        causes.push(Cause {
            reason: "FieldValueTypeInvalid".into(),
            message: format!(
                "Invalid value: \"{}\": {path} in body must be of type {want}: \"{}\"",
                type_name(value),
                type_name(value)
            ),
            field: path.to_string(),
        });
        return;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        let supported: Vec<String> = options.iter().map(render).collect();
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                render(value),
                supported.join(", ")
            ),
            field: path.to_string(),
        });
    }
    match value {
        Value::Object(map) => validate_object(schema, map, path, causes),
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    validate(s, v, &format!("{path}[{i}]"), causes);
                }
            }
        }
        _ => {}
    }
}

fn validate_object(schema: &Value, map: &Map<String, Value>, path: &str, causes: &mut Vec<Cause>) {
    let props = schema.get("properties").and_then(Value::as_object);
    for (k, v) in map {
        if path.is_empty() && k == "metadata" {
            continue;
        }
        if let Some(s) = props.and_then(|p| p.get(k)) {
            validate(s, v, &join(path, k), causes);
        } else if let Some(s) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            validate(s, v, &join(path, k), causes);
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for r in required.iter().filter_map(Value::as_str) {
            if map.get(r).is_none_or(Value::is_null) {
                causes.push(Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value".into(),
                    field: join(path, r),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["secretStoreRef"], "properties": {
                "refreshInterval": {"type": "string", "default": "1h0m0s"},
                "refreshPolicy": {"type": "string", "enum": ["CreatedOnce", "Periodic", "OnChange"]},
                "secretStoreRef": {"type": "object", "properties": {"kind": {"type": "string", "enum": ["SecretStore", "ClusterSecretStore"]}}},
                "target": {"type": "object", "default": {"creationPolicy": "Owner"}, "properties": {
                    "creationPolicy": {"type": "string", "default": "Owner"},
                    "deletionPolicy": {"type": "string", "default": "Retain"}}}}}}})
    }

    #[test]
    fn unknown_fields_are_pruned_and_reported() {
        let mut obj = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
            "spec": {"refreshIntervall": "1h", "secretStoreRef": {}}});
        let mut unknown = vec![];
        prune(&schema(), &mut obj, "", &mut unknown);
        assert_eq!(unknown, vec!["spec.refreshIntervall"]);
        assert!(obj["spec"].get("refreshIntervall").is_none());
        assert_eq!(obj["metadata"]["name"], "a");
    }

    #[test]
    fn defaults_are_materialised_recursively() {
        let mut obj = json!({"spec": {"secretStoreRef": {}}});
        apply_defaults(&schema(), &mut obj);
        assert_eq!(obj["spec"]["refreshInterval"], "1h0m0s");
        assert_eq!(obj["spec"]["target"]["deletionPolicy"], "Retain");
        let mut kept = json!({"spec": {"refreshInterval": "1h"}});
        apply_defaults(&schema(), &mut kept);
        assert_eq!(kept["spec"]["refreshInterval"], "1h");
    }

    #[test]
    fn enum_and_required_violations_become_causes() {
        let obj = json!({"spec": {"refreshPolicy": "Sometimes"}});
        let mut causes = vec![];
        validate(&schema(), &obj, "", &mut causes);
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0].field, "spec.refreshPolicy");
        assert_eq!(
            causes[0].message,
            "Unsupported value: \"Sometimes\": supported values: \"CreatedOnce\", \"Periodic\", \"OnChange\""
        );
        assert_eq!(causes[1].field, "spec.secretStoreRef");
        assert_eq!(causes[1].reason, "FieldValueRequired");
    }
}
