//! Issue 18: "the README's RBAC roles are tested". The `kubectl-eso-reader` ClusterRole is read
//! from README.md itself (so the test follows the documentation), applied in the sandbox's
//! simulated apiserver — which evaluates RBAC like kube-apiserver — and bound to a ServiceAccount
//! whose token runs every read command. The role has no `create serviceaccounts/token` and no
//! `list customresourcedefinitions`: doctor must say so under `incomplete` and exit non-zero,
//! never report ok a check that did not run; the other commands must work.

mod common;

use std::process::Output;

use common::*;
use serde_json::{Value, json};

/// The YAML block under `## RBAC` in README.md, as a JSON object.
fn readme_reader_role() -> Value {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .unwrap_or_else(|e| panic!("README.md: {e}"));
    let section = readme
        .split("\n## RBAC\n")
        .nth(1)
        .unwrap_or_else(|| panic!("README.md has no '## RBAC' section"));
    let yaml = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .unwrap_or_else(|| panic!("the RBAC section has no yaml block"));
    let role: Value =
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("README role: {e}\n{yaml}"));
    assert_eq!(role["kind"], "ClusterRole", "{role}");
    role
}

/// A kubeconfig for ServiceAccount `default/eso-reader`, bound to the README's role.
fn reader_kubeconfig(env: &SandboxEnv) -> std::path::PathBuf {
    let store = env.sandbox.api().store();
    let role = readme_reader_role();
    let role_name = role["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for obj in [
        role,
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "eso-reader", "namespace": "default"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "eso-reader"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": role_name},
               "subjects": [{"kind": "ServiceAccount", "name": "eso-reader",
                             "namespace": "default"}]}),
    ] {
        store
            .create(obj.clone())
            .unwrap_or_else(|e| panic!("applying {}: {e:?}", obj["kind"]));
    }
    let token = store
        .issue_token("default", "eso-reader", &[], 600)
        .unwrap_or_else(|e| panic!("token: {e:?}"));
    let dir = env.kubeconfig.parent().unwrap_or(std::path::Path::new("."));
    write_file(
        dir,
        "reader.kubeconfig",
        &env.sandbox.api().kubeconfig_with_token(&token, None),
    )
}

fn run_as(env: &SandboxEnv, kubeconfig: &std::path::Path, args: &[&str]) -> Output {
    let ca = env.provider_ca.display().to_string();
    let vault = env.sandbox.vault().addr();
    let vault_host = vault.trim_start_matches("http://").trim_end_matches('/');
    run_with(
        kubeconfig,
        args,
        &[
            ("KUBECTL_ESO_PROVIDER_CA_FILE", ca.as_str()),
            ("KUBECTL_ESO_TRUST_PROVIDER_HOST", vault_host),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_readme_reader_role_runs_every_read_command_and_doctor_is_incomplete() {
    let env = SandboxEnv::start("vault-policy-removed").await;
    let kubeconfig = reader_kubeconfig(&env);

    // The identity really is the reader: it may not mint tokens (what the README role lacks).
    let admin_cannot_be_assumed = run_as(&env, &kubeconfig, &["scope", "-A", "-o", "json"]);
    let out = stdout(&admin_cannot_be_assumed);
    assert_eq!(
        admin_cannot_be_assumed.status.code(),
        Some(1),
        "scope -A under the reader role sees the incident: {out}{}",
        stderr(&admin_cannot_be_assumed)
    );
    let scope: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        scope["externalSecrets"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{out}"
    );

    for args in [
        &["describe-chain", "order-service-regcred", "-n", "prod"][..],
        &["verify-regcred", "regcred-order-service", "-n", "prod"],
    ] {
        let o = run_as(&env, &kubeconfig, args);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{} under the reader role is not an error: {}{}",
            args[0],
            stdout(&o),
            stderr(&o)
        );
    }

    let o = run_as(&env, &kubeconfig, &["doctor", "-A", "-o", "json"]);
    let out = stdout(&o);
    assert_ne!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert_ne!(o.status.code(), Some(2), "{out}{}", stderr(&o));
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let incomplete: Vec<&str> = report["incomplete"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let said = incomplete.join("\n");
    assert!(
        said.contains("serviceaccounts/token") || said.contains("TokenRequest"),
        "the probe could not mint ESO's token and says so under incomplete:\n{said}\n{out}"
    );
    assert!(
        said.contains("customresourcedefinitions"),
        "the installation check could not list CRDs and says so:\n{said}"
    );
    // Nothing that did not run is reported ok: the provider check could not log in.
    let providers = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == "providers")
        .unwrap_or_else(|| panic!("no providers check: {out}"));
    assert_ne!(providers["status"], "ok", "{providers}");
    // --allow-partial is the documented way past it; the findings still fail the gate.
    let o = run_as(
        &env,
        &kubeconfig,
        &["doctor", "-A", "-o", "json", "--allow-partial"],
    );
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    env.sandbox.shutdown().await;
}
