//! The ESO v2.9.0 CRD bundle, embedded unchanged, and the in-memory variants the simulation serves
//! (as shipped, v1beta1-only like ESO <= 0.16 clusters, or none). Parsed once per process: it is 2 MB.

use std::sync::OnceLock;

use serde_json::Value;

use crate::EsoCrds;

pub const BUNDLE: &str = include_str!("../crds/crds-bundle-v2.9.0.yaml");

fn parsed() -> Result<&'static Vec<Value>, String> {
    static PARSED: OnceLock<Result<Vec<Value>, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            let options = serde_saphyr::options! { budget: None };
            let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(BUNDLE, options)
                .map_err(|e| format!("embedded ESO CRD bundle does not parse: {e}"))?;
            Ok(docs
                .into_iter()
                .filter(|d| {
                    d.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
                })
                .collect())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Make v1beta1 the served storage version and stop serving v1, for CRDs that have both.
fn v1beta1_only(mut crd: Value) -> Value {
    let Some(versions) = crd
        .pointer_mut("/spec/versions")
        .and_then(Value::as_array_mut)
    else {
        return crd;
    };
    if !versions
        .iter()
        .any(|v| v.get("name").and_then(Value::as_str) == Some("v1beta1"))
    {
        return crd;
    }
    for v in versions.iter_mut() {
        let beta = v.get("name").and_then(Value::as_str) == Some("v1beta1");
        v["served"] = Value::Bool(beta);
        v["storage"] = Value::Bool(beta);
    }
    crd
}

/// The CRD objects to create at start for the chosen variant.
pub fn eso_crds(which: EsoCrds) -> Result<Vec<Value>, String> {
    match which {
        EsoCrds::None => Ok(vec![]),
        EsoCrds::V1 => Ok(parsed()?.clone()),
        EsoCrds::V1beta1Only => Ok(parsed()?.iter().cloned().map(v1beta1_only).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(crd: &Value, version: &str) -> Option<bool> {
        crd.pointer("/spec/versions")?
            .as_array()?
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(version))?
            .get("served")?
            .as_bool()
    }

    fn es(list: &[Value]) -> Option<&Value> {
        list.iter().find(|c| {
            c.pointer("/metadata/name").and_then(Value::as_str)
                == Some("externalsecrets.external-secrets.io")
        })
    }

    #[test]
    fn variants_serve_the_right_versions() {
        let v1 = eso_crds(EsoCrds::V1).expect("bundle parses");
        assert!(v1.len() >= 20, "only {} CRDs", v1.len());
        assert_eq!(es(&v1).and_then(|c| served(c, "v1")), Some(true));
        assert_eq!(es(&v1).and_then(|c| served(c, "v1beta1")), Some(false));
        let beta = eso_crds(EsoCrds::V1beta1Only).expect("bundle parses");
        assert_eq!(es(&beta).and_then(|c| served(c, "v1")), Some(false));
        assert_eq!(es(&beta).and_then(|c| served(c, "v1beta1")), Some(true));
        assert!(eso_crds(EsoCrds::None).expect("empty").is_empty());
    }

    /// The bundle is the repository's own copy (a fresh clone tests itself, issue 19): its sha256 is
    /// the one recorded in `crds/NOTICE` for ESO's deploy/crds/bundle.yaml at v2.9.0, so an edit
    /// (or a swapped release) fails here.
    #[test]
    fn embedded_bundle_is_the_upstream_file() {
        const NOTICE: &str = include_str!("../crds/NOTICE");
        let digest = ring::digest::digest(&ring::digest::SHA256, BUNDLE.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            NOTICE.contains(&format!("sha256 {hex}")),
            "crds/crds-bundle-v2.9.0.yaml hashes to {hex}, not the sha256 crds/NOTICE records"
        );
    }
}
