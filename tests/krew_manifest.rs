//! Issue 4: the krew manifest has krew's required fields, the custom index carries the same
//! manifest, and its platforms are exactly the release workflow's build targets (so a release
//! cannot ship without an archive krew points at, or the other way round).

use std::collections::BTreeSet;

use serde_json::Value;

fn read(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    match std::fs::read_to_string(&full) {
        Ok(s) => s,
        Err(e) => panic!("{full}: {e}"),
    }
}

fn yaml(path: &str) -> Value {
    match serde_saphyr::from_str(&read(path)) {
        Ok(v) => v,
        Err(e) => panic!("{path} is not valid YAML: {e}"),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    match v.pointer(pointer).and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s,
        _ => panic!("missing required field {pointer}"),
    }
}

#[test]
fn issue4_plugin_manifest_has_krews_required_fields() {
    let m = yaml("plugin.yaml");
    assert_eq!(
        str_at(&m, "/apiVersion"),
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(str_at(&m, "/kind"), "Plugin");
    let name = str_at(&m, "/metadata/name");
    assert_ne!(
        name, "eso",
        "the central index already has a plugin called eso"
    );
    let version = str_at(&m, "/spec/version");
    let cargo_version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        version,
        format!("v{cargo_version}"),
        "manifest version follows Cargo.toml"
    );
    str_at(&m, "/spec/shortDescription");
    assert!(str_at(&m, "/spec/homepage").starts_with("https://"));
    let platforms = m
        .pointer("/spec/platforms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert!(!platforms.is_empty(), "spec.platforms is required");
    for p in &platforms {
        let os = str_at(p, "/selector/matchLabels/os");
        let uri = str_at(p, "/uri");
        assert!(
            uri.starts_with("https://") && uri.contains(version),
            "{uri}"
        );
        let sha = str_at(p, "/sha256");
        assert!(
            sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
            "sha256 of {uri}: {sha}"
        );
        let bin = str_at(p, "/bin");
        let want_bin = if os == "windows" {
            "kubectl-eso.exe"
        } else {
            "kubectl-eso"
        };
        assert_eq!(bin, want_bin, "the binary stays kubectl-eso");
        let files = p
            .pointer("/files")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let froms: BTreeSet<&str> = files.iter().filter_map(|f| f["from"].as_str()).collect();
        assert!(
            froms.contains(bin) && froms.contains("LICENSE"),
            "{uri}: files {froms:?}"
        );
    }
}

#[test]
fn issue4_custom_index_carries_the_same_manifest() {
    let m = yaml("plugin.yaml");
    let name = str_at(&m, "/metadata/name");
    let in_index = read(&format!("krew/plugins/{name}.yaml"));
    assert_eq!(
        in_index,
        read("plugin.yaml"),
        "krew/plugins/{name}.yaml must equal plugin.yaml"
    );
}

#[test]
fn issue4_manifest_platforms_match_the_release_workflow() {
    let m = yaml("plugin.yaml");
    let wf = yaml(".github/workflows/release.yml");
    let matrix = wf
        .pointer("/jobs/build/strategy/matrix/include")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert!(!matrix.is_empty(), "release workflow has no build matrix");
    let built: BTreeSet<String> = matrix
        .iter()
        .map(|t| {
            format!(
                "kubectl-eso_{}_{}.{}",
                str_at(t, "/os"),
                str_at(t, "/arch"),
                str_at(t, "/archive")
            )
        })
        .collect();
    let platforms = m
        .pointer("/spec/platforms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut manifest = BTreeSet::new();
    for p in &platforms {
        let uri = str_at(p, "/uri");
        let file = uri.rsplit('/').next().unwrap_or_default();
        let (os, arch) = (
            str_at(p, "/selector/matchLabels/os"),
            str_at(p, "/selector/matchLabels/arch"),
        );
        assert!(
            file.starts_with(&format!("kubectl-eso_{os}_{arch}.")),
            "{uri} does not match {os}/{arch}"
        );
        manifest.insert(file.to_string());
    }
    assert_eq!(
        manifest, built,
        "plugin.yaml platforms vs release.yml targets"
    );
    let wanted: BTreeSet<String> = [
        "kubectl-eso_linux_amd64.tar.gz",
        "kubectl-eso_linux_arm64.tar.gz",
        "kubectl-eso_darwin_amd64.tar.gz",
        "kubectl-eso_darwin_arm64.tar.gz",
        "kubectl-eso_windows_amd64.zip",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(
        built, wanted,
        "issue 4 asks for linux/darwin amd64+arm64 and windows amd64"
    );
    let workflow = read(".github/workflows/release.yml");
    assert!(
        workflow.contains("LICENSE"),
        "archives must include LICENSE"
    );
}
