//! "Does the target Secret hold the provider's current value?" answered in memory: each target key
//! is compared (constant time) with the value ESO would write there, and only yes / no enters the
//! report. A templated target is not compared: its keys are rendered from the values, not equal to
//! them.

use std::collections::BTreeMap;

use crate::model::chain::{ExternalSecretFacts, RemoteValue, Sensitive, TargetFacts};

/// Fills `target.keys[].matchesProvider` and `target.matchesProvider`, and returns the verdict
/// per target key compared (a key ESO would write but the Secret lacks counts as differing).
/// `values` is aligned with `es.remote_refs` (`None` where nothing was read); they are borrowed,
/// so one read serves every ExternalSecret compared against it without a copy of the value.
pub fn compare(
    es: &ExternalSecretFacts,
    target: &mut TargetFacts,
    target_data: &BTreeMap<String, Sensitive>,
    values: &[Option<&RemoteValue>],
) -> BTreeMap<String, bool> {
    if target.exists != Some(true) {
        return BTreeMap::new();
    }
    if es.templated {
        target.matches_provider =
            Some("not compared: the Secret is rendered from target.template".into());
        return BTreeMap::new();
    }
    let mut results: BTreeMap<String, bool> = BTreeMap::new();
    for (r, v) in es.remote_refs.iter().zip(values) {
        let Some(v) = v else { continue };
        if r.extract {
            match v {
                RemoteValue::Map(m) => {
                    for (prop, remote) in m {
                        if let Some(local) = target_data.get(prop) {
                            results.insert(prop.clone(), local.same_as(remote.bytes()));
                        }
                    }
                }
                // AWS / Key Vault: ESO's GetSecretMap reads the value as a JSON object.
                RemoteValue::Single(s) => {
                    for (prop, remote) in json_map(s.bytes()) {
                        if let Some(local) = target_data.get(&prop) {
                            results.insert(prop, local.same_as(remote.bytes()));
                        }
                    }
                }
            }
            continue;
        }
        let Some(key) = &r.secret_key else { continue };
        let remote = match select(v, r.property.as_deref()) {
            Selected::Value(s) => Some(s),
            Selected::MissingProperty | Selected::NotComparable => None,
        };
        if let (Some(remote), Some(local)) = (&remote, target_data.get(key)) {
            results.insert(key.clone(), local.same_as(remote.bytes()));
        } else if remote.is_some() {
            // The provider has a value but the Secret lacks the key ESO would write.
            results.insert(key.clone(), false);
        }
    }
    for k in &mut target.keys {
        k.matches_provider = results.get(&k.name).copied();
    }
    target.matches_provider = Some(if results.is_empty() {
        "not compared: no provider value was read".into()
    } else if results.values().all(|m| *m) {
        "yes".into()
    } else {
        let differ: Vec<&str> = results
            .iter()
            .filter(|(_, m)| !**m)
            .map(|(k, _)| k.as_str())
            .collect();
        format!("no ({} differs)", differ.join(", "))
    });
    results
}

/// A JSON object's fields as ESO's GetSecretMap writes them: strings as their text, anything
/// else as its JSON. Not an object: nothing.
fn json_map(value: &[u8]) -> Vec<(String, Sensitive)> {
    match serde_json::from_slice::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(m)) => m
            .into_iter()
            .map(|(k, v)| {
                let bytes = match v {
                    serde_json::Value::String(s) => s.into_bytes(),
                    other => other.to_string().into_bytes(),
                };
                (k, Sensitive::from_bytes(bytes))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What ESO writes for one `data[]` ref, picked out of the provider's value.
pub enum Selected {
    Value(Sensitive),
    /// The ref names a `property` the remote secret does not have: ESO fails the sync.
    MissingProperty,
    /// A whole Vault secret without `property`: ESO writes JSON it formats itself.
    NotComparable,
}

/// The value ESO would write for a ref with this `property`: a Vault secret's field, or a field
/// nested in one (`db.host`: ESO falls back to a gjson lookup over the whole secret); for a Key
/// Vault secret (one string), the JSON field the property names, dotted paths descending into
/// objects likewise. Non-string JSON values are written as their JSON text, as ESO does.
pub fn select(v: &RemoteValue, property: Option<&str>) -> Selected {
    let copy = |s: &Sensitive| Sensitive::from_bytes(s.bytes().to_vec());
    let found = match (v, property) {
        (RemoteValue::Single(s), None) => return Selected::Value(copy(s)),
        (RemoteValue::Map(_), None) => return Selected::NotComparable,
        (RemoteValue::Map(m), Some(p)) => {
            if let Some(s) = m.get(p) {
                return Selected::Value(copy(s));
            }
            // A nested field: the first segment is a field whose value ESO holds as JSON.
            p.split_once('.').and_then(|(head, rest)| {
                let doc = serde_json::from_slice::<serde_json::Value>(m.get(head)?.bytes()).ok()?;
                json_path(&doc, rest).cloned()
            })
        }
        (RemoteValue::Single(s), Some(p)) => serde_json::from_slice::<serde_json::Value>(s.bytes())
            .ok()
            .and_then(|doc| json_path(&doc, p).cloned()),
    };
    match found {
        Some(serde_json::Value::String(text)) => Selected::Value(Sensitive::from_string(text)),
        Some(other) => Selected::Value(Sensitive::from_string(other.to_string())),
        None => Selected::MissingProperty,
    }
}

/// A gjson-style lookup for plain names: the whole path as one key, else dot-separated segments.
pub fn json_path<'a>(doc: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    doc.get(path)
        .or_else(|| path.split('.').try_fold(doc, |at, part| at.get(part)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::chain::{RemoteRefFacts, TargetKey};

    fn es(extract: bool, templated: bool) -> ExternalSecretFacts {
        ExternalSecretFacts {
            templated,
            remote_refs: vec![RemoteRefFacts {
                source: "data[0]".into(),
                secret_key: (!extract).then(|| "password".into()),
                key: "db".into(),
                extract,
                ..RemoteRefFacts::default()
            }],
            ..ExternalSecretFacts::default()
        }
    }

    fn target() -> TargetFacts {
        TargetFacts {
            name: "t".into(),
            exists: Some(true),
            keys: vec![TargetKey {
                name: "password".into(),
                size: 2,
                matches_provider: None,
            }],
            ..TargetFacts::default()
        }
    }

    fn data(v: &str) -> BTreeMap<String, Sensitive> {
        BTreeMap::from([("password".into(), Sensitive::from_string(v.into()))])
    }

    #[test]
    fn equal_and_different_values_say_yes_and_no() {
        let mut t = target();
        let v1 = RemoteValue::Single(Sensitive::from_string("v1".into()));
        let v = [Some(&v1)];
        compare(&es(false, false), &mut t, &data("v1"), &v);
        assert_eq!(t.matches_provider.as_deref(), Some("yes"));
        assert_eq!(t.keys[0].matches_provider, Some(true));

        let mut t = target();
        compare(&es(false, false), &mut t, &data("v0"), &v);
        assert_eq!(t.matches_provider.as_deref(), Some("no (password differs)"));
        assert_eq!(t.keys[0].matches_provider, Some(false));
    }

    #[test]
    fn extract_compares_each_property_and_templates_are_skipped() {
        let m = BTreeMap::from([
            ("password".to_string(), Sensitive::from_string("p".into())),
            ("user".to_string(), Sensitive::from_string("u".into())),
        ]);
        let m = RemoteValue::Map(m);
        let v = vec![Some(&m)];
        let mut t = target();
        compare(&es(true, false), &mut t, &data("p"), &v);
        assert_eq!(t.matches_provider.as_deref(), Some("yes"));

        // Issue 15: an AWS / Key Vault JSON secret under dataFrom.extract is compared per field.
        let json = single(r#"{"password":"p","port":5432}"#);
        let mut t = target();
        compare(&es(true, false), &mut t, &data("p"), &[Some(&json)]);
        assert_eq!(t.matches_provider.as_deref(), Some("yes"));
        let mut t = target();
        compare(&es(true, false), &mut t, &data("q"), &[Some(&json)]);
        assert_eq!(t.matches_provider.as_deref(), Some("no (password differs)"));

        let mut t = target();
        compare(&es(true, true), &mut t, &data("p"), &v);
        assert!(
            t.matches_provider
                .as_deref()
                .is_some_and(|m| m.starts_with("not compared"))
        );
    }

    fn single(v: &str) -> RemoteValue {
        RemoteValue::Single(Sensitive::from_string(v.into()))
    }

    fn picked(v: &RemoteValue, property: Option<&str>) -> Option<String> {
        match select(v, property) {
            Selected::Value(s) => Some(s.text()),
            Selected::MissingProperty => Some("<missing>".into()),
            Selected::NotComparable => None,
        }
    }

    #[test]
    fn select_picks_properties_as_eso_does() {
        let vault = RemoteValue::Map(BTreeMap::from([(
            "password".to_string(),
            Sensitive::from_string("p".into()),
        )]));
        assert_eq!(picked(&vault, Some("password")).as_deref(), Some("p"));
        assert_eq!(picked(&vault, Some("user")).as_deref(), Some("<missing>"));
        assert_eq!(picked(&vault, None), None);
        // Vault holds a nested object as its JSON text; ESO finds `db.host` inside it.
        let nested = RemoteValue::Map(BTreeMap::from([(
            "db".to_string(),
            Sensitive::from_string(r#"{"host":"h","port":5432}"#.into()),
        )]));
        assert_eq!(picked(&nested, Some("db.host")).as_deref(), Some("h"));
        assert_eq!(picked(&nested, Some("db.port")).as_deref(), Some("5432"));
        assert_eq!(
            picked(&nested, Some("db.user")).as_deref(),
            Some("<missing>")
        );

        let akv = single(r#"{"user":"u","db":{"port":5432,"host":"h"}}"#);
        assert_eq!(picked(&akv, Some("user")).as_deref(), Some("u"));
        assert_eq!(picked(&akv, Some("db.host")).as_deref(), Some("h"));
        assert_eq!(picked(&akv, Some("db.port")).as_deref(), Some("5432"));
        assert_eq!(picked(&akv, Some("nope")).as_deref(), Some("<missing>"));
        assert_eq!(
            picked(&single("plain text"), Some("user")).as_deref(),
            Some("<missing>")
        );
        assert_eq!(picked(&single("plain"), None).as_deref(), Some("plain"));
    }
}
