//! PATCH bodies as kubectl and controllers send them: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
//! and the subset of strategic merge patch that `kubectl annotate/label/rollout restart/apply` produce
//! (maps merge, lists of named items merge by their merge key, `$` directives honoured or dropped).

use serde_json::Value;

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Some(map) = target.as_object_mut() else {
        return;
    };
    for (k, v) in patch_map {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

const MERGE_KEYS: &[&str] = &[
    "name",
    "mountPath",
    "containerPort",
    "devicePath",
    "ip",
    "type",
    "topologyKey",
];

fn merge_key(items: &[Value]) -> Option<&'static str> {
    MERGE_KEYS
        .iter()
        .copied()
        .find(|k| !items.is_empty() && items.iter().all(|i| i.get(*k).is_some()))
}

/// Strategic merge patch, approximated: maps merge like a merge patch, lists whose items all carry a
/// merge key (`name`, `mountPath`, ...) merge item by item, `$patch: delete` removes an item,
/// `$patch: replace` replaces, other `$` directives are dropped.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = patch.clone();
        strip_directives(&mut replacement);
        *target = replacement;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Some(map) = target.as_object_mut() else {
        return;
    };
    for (k, v) in patch_map {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            map.remove(k);
            continue;
        }
        match (map.get_mut(k), v) {
            (Some(Value::Array(existing)), Value::Array(items)) => merge_list(existing, items),
            (Some(existing), _) => strategic_merge(existing, v),
            (None, _) => {
                let mut fresh = v.clone();
                strip_directives(&mut fresh);
                map.insert(k.clone(), fresh);
            }
        }
    }
}

fn merge_list(existing: &mut Vec<Value>, items: &[Value]) {
    let Some(key) = merge_key(items).filter(|k| existing.iter().all(|e| e.get(*k).is_some()))
    else {
        let mut replacement = items.to_vec();
        replacement.iter_mut().for_each(strip_directives);
        *existing = replacement;
        return;
    };
    for item in items {
        let pos = existing.iter().position(|e| e.get(key) == item.get(key));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (Some(i), false) => strategic_merge(&mut existing[i], item),
            (None, true) => {}
            (None, false) => {
                let mut fresh = item.clone();
                strip_directives(&mut fresh);
                existing.push(fresh);
            }
        }
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok((parent.to_string(), unescape(last)))
}

fn insert_at(
    target: &mut Value,
    path: &str,
    value: Value,
    replace_only: bool,
) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    let container = target
        .pointer_mut(&parent)
        .ok_or_else(|| format!("doc is missing path: {path:?}"))?;
    match container {
        Value::Object(map) => {
            if replace_only && !map.contains_key(&last) {
                return Err(format!("doc is missing key: {path:?}"));
            }
            map.insert(last, value);
            Ok(())
        }
        Value::Array(items) => {
            if last == "-" && !replace_only {
                items.push(value);
                return Ok(());
            }
            let idx: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            match (replace_only, idx.cmp(&items.len())) {
                (true, std::cmp::Ordering::Less) => items[idx] = value,
                (false, std::cmp::Ordering::Less | std::cmp::Ordering::Equal) => {
                    items.insert(idx, value)
                }
                _ => return Err(format!("index out of range: {path:?}")),
            }
            Ok(())
        }
        _ => Err(format!("doc is missing path: {path:?}")),
    }
}

fn remove_at(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    let container = target
        .pointer_mut(&parent)
        .ok_or_else(|| format!("doc is missing path: {path:?}"))?;
    match container {
        Value::Object(map) => map
            .remove(&last)
            .ok_or_else(|| format!("doc is missing key: {path:?}")),
        Value::Array(items) => {
            let idx: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            (idx < items.len())
                .then(|| items.remove(idx))
                .ok_or_else(|| format!("index out of range: {path:?}"))
        }
        _ => Err(format!("doc is missing path: {path:?}")),
    }
}

/// RFC 6902. The error text is used in the 422/500 the caller answers with.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("json patch must be an array of operations")?;
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation has no \"op\"")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation has no \"path\"")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("{kind} operation has no \"value\""))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{kind} operation has no \"from\""))
        };
        match kind {
            "add" => insert_at(target, path, value()?, false)?,
            "replace" => insert_at(target, path, value()?, true)?,
            "remove" => {
                remove_at(target, path)?;
            }
            "move" => {
                let v = remove_at(target, from()?)?;
                insert_at(target, path, v, false)?;
            }
            "copy" => {
                let v = target
                    .pointer(from()?)
                    .cloned()
                    .ok_or("copy from a missing path")?;
                insert_at(target, path, v, false)?;
            }
            "test" => {
                if target.pointer(path) != Some(&value()?) {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("unexpected kind: {other}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_adds_and_deletes() {
        let mut t = json!({"metadata": {"annotations": {"a": "1", "b": "2"}}});
        merge_patch(
            &mut t,
            &json!({"metadata": {"annotations": {"a": null, "force-sync": "123"}}}),
        );
        assert_eq!(
            t,
            json!({"metadata": {"annotations": {"b": "2", "force-sync": "123"}}})
        );
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        strategic_merge(
            &mut t,
            &json!({"$setElementOrder/containers": [], "spec": {"containers": [{"name": "b", "image": "z"}, {"name": "a", "$patch": "delete"}]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "b", "image": "z"}]}})
        );
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"metadata": {"labels": {"x": "1"}}, "list": [1, 2]});
        json_patch(
            &mut t,
            &json!([{"op": "add", "path": "/metadata/labels/a~1b", "value": "2"}, {"op": "remove", "path": "/list/0"},
                    {"op": "replace", "path": "/metadata/labels/x", "value": "3"}]),
        )
        .expect("valid patch");
        assert_eq!(
            t,
            json!({"metadata": {"labels": {"x": "3", "a/b": "2"}}, "list": [2]})
        );
        assert!(
            json_patch(
                &mut t,
                &json!([{"op": "replace", "path": "/nope/x", "value": 1}])
            )
            .is_err()
        );
    }
}
