//! Issues 4 and 19: the krew manifest template (`.krew.yaml`, krew-release-bot's format) renders to a
//! manifest krew accepts, names the plugin `eso-chain` with the binary `kubectl-eso` and the
//! completion helper for the krew name, lists exactly the release workflow's platforms, and no
//! manifest with placeholder checksums is left in the repository (krew refuses an archive whose
//! sha256 differs). The full path (build, render with the real sha256, install as krew does, run
//! through kubectl) is `scripts/release-rehearsal.sh`, run by `.ci/run`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const FAKE_SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn read(path: &str) -> String {
    let full = format!("{ROOT}/{path}");
    match std::fs::read_to_string(&full) {
        Ok(s) => s,
        Err(e) => panic!("{full}: {e}"),
    }
}

fn yaml_of(text: &str, what: &str) -> Value {
    match serde_saphyr::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("{what} is not valid YAML: {e}\n{text}"),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    match v.pointer(pointer).and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s,
        _ => panic!("missing required field {pointer}"),
    }
}

/// `.krew.yaml` rendered as scripts/render-krew-manifest.py does (same two directives), with a
/// made-up checksum: what krew-release-bot's template language allows and nothing more.
fn rendered(tag: &str) -> Value {
    let template = read(".krew.yaml");
    let mut out = String::new();
    for line in template.lines().skip_while(|l| l.starts_with('#')) {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(rest) = trimmed.strip_prefix("{{ addURIAndSha \"") {
            let Some((url, tail)) = rest.split_once('"') else {
                panic!("unterminated addURIAndSha: {line}")
            };
            assert_eq!(tail.trim(), ".TagName }}", "{line}");
            let url = url.replace("{{ .TagName }}", tag);
            out.push_str(&format!(
                "{indent}uri: {url}\n{indent}sha256: \"{FAKE_SHA}\"\n"
            ));
        } else {
            out.push_str(&line.replace("{{ .TagName }}", tag));
            out.push('\n');
        }
    }
    assert!(
        !out.contains("{{"),
        "a template directive the renderer does not know is left:\n{out}"
    );
    yaml_of(&out, ".krew.yaml rendered")
}

fn platforms(m: &Value) -> Vec<Value> {
    m.pointer("/spec/platforms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn issue19_rendered_manifest_has_krews_required_fields() {
    let tag = format!("v{}", env!("CARGO_PKG_VERSION"));
    let m = rendered(&tag);
    assert_eq!(
        str_at(&m, "/apiVersion"),
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(str_at(&m, "/kind"), "Plugin");
    let name = str_at(&m, "/metadata/name");
    assert_eq!(
        name, "eso-chain",
        "the central index already has a plugin called eso"
    );
    assert_eq!(str_at(&m, "/spec/version"), tag);
    str_at(&m, "/spec/shortDescription");
    assert!(str_at(&m, "/spec/homepage").starts_with("https://"));
    let caveats = str_at(&m, "/spec/caveats");
    assert!(
        caveats.contains("kubectl_complete-eso_chain"),
        "the caveats say how to enable completion: {caveats}"
    );
    let all = platforms(&m);
    assert!(!all.is_empty(), "spec.platforms is required");
    for p in &all {
        let os = str_at(p, "/selector/matchLabels/os");
        let uri = str_at(p, "/uri");
        assert!(
            uri.starts_with("https://") && uri.contains(&format!("/download/{tag}/")),
            "{uri}"
        );
        assert_eq!(str_at(p, "/sha256"), FAKE_SHA, "{uri}");
        let bin = str_at(p, "/bin");
        let (want_bin, helper) = if os == "windows" {
            ("kubectl-eso.exe", "kubectl_complete-eso_chain.cmd")
        } else {
            ("kubectl-eso", "kubectl_complete-eso_chain")
        };
        assert_eq!(bin, want_bin, "the binary stays kubectl-eso");
        let froms: BTreeSet<&str> = p
            .pointer("/files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f["from"].as_str())
            .collect();
        let want: BTreeSet<&str> = [bin, "LICENSE", helper].into_iter().collect();
        assert_eq!(froms, want, "{uri}: files");
        assert!(
            Path::new(ROOT).join("completions").join(helper).is_file(),
            "completions/{helper} is shipped but missing"
        );
    }
}

#[test]
fn issue19_manifest_platforms_match_the_release_workflow() {
    let m = rendered("v9.9.9");
    let wf = yaml_of(&read(".github/workflows/release.yml"), "release.yml");
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
    let mut manifest = BTreeSet::new();
    for p in &platforms(&m) {
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
        ".krew.yaml platforms vs release.yml targets"
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
        "linux/darwin amd64+arm64 and windows amd64 are supported"
    );
    // The workflow builds with the script the rehearsal runs, and renders the manifest it ships.
    let workflow = read(".github/workflows/release.yml");
    for needle in [
        "scripts/build-archive.sh",
        "scripts/render-krew-manifest.py",
        "checksums.txt",
        "eso-chain.yaml",
        "plugins/eso-chain.yaml",
    ] {
        assert!(workflow.contains(needle), "release.yml lacks {needle}");
    }
    let script = read("scripts/build-archive.sh");
    for needle in [
        "LICENSE",
        "kubectl_complete-eso_chain",
        "zigbuild",
        "glibc=2.17",
    ] {
        assert!(script.contains(needle), "build-archive.sh lacks {needle}");
    }
}

/// krew reads `plugins/<name>.yaml` at the root of an index repository. The release workflow writes
/// it with real checksums; before that it must not exist, and the old placeholder manifests
/// (64 zeros) must stay gone.
#[test]
fn issue19_no_manifest_with_placeholder_checksums() {
    for stale in ["plugin.yaml", "krew/plugins/eso-chain.yaml"] {
        assert!(
            !Path::new(ROOT).join(stale).exists(),
            "{stale} is superseded by .krew.yaml"
        );
    }
    let Ok(entries) = std::fs::read_dir(Path::new(ROOT).join("plugins")) else {
        return;
    };
    let template = rendered("v0.0.0");
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let m = yaml_of(&read(&format!("plugins/{name}")), &name);
        assert_eq!(name, format!("{}.yaml", str_at(&m, "/metadata/name")));
        for p in &platforms(&m) {
            let sha = str_at(p, "/sha256");
            assert!(
                sha.len() == 64
                    && sha.chars().all(|c| c.is_ascii_hexdigit())
                    && sha.chars().any(|c| c != '0'),
                "plugins/{name}: sha256 {sha}"
            );
        }
        assert_eq!(
            platforms(&m).len(),
            platforms(&template).len(),
            "plugins/{name} is a full rendering of .krew.yaml"
        );
    }
}

/// The helper for the krew name runs the binary under krew's link name, `kubectl-eso_chain`.
#[cfg(unix)]
#[test]
fn issue19_completion_helper_for_the_krew_name_answers_in_cobra_format() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let link = dir.path().join("kubectl-eso_chain");
    let bin = assert_cmd::cargo::cargo_bin("kubectl-eso");
    if let Err(e) = std::os::unix::fs::symlink(&bin, &link) {
        panic!("symlink {}: {e}", link.display());
    }
    let script = format!("{ROOT}/completions/kubectl_complete-eso_chain");
    // Only the krew link on PATH: the helper must not need `kubectl-eso` itself.
    let o = match std::process::Command::new(&script)
        .args(["sc"])
        .env("PATH", dir.path())
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("{script}: {e}"),
    };
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "scope\n:4\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
