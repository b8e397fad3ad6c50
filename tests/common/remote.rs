//! Two simulated clusters for ESO's `kubernetes` provider: `home`, where ESO and the store live,
//! and `remote`, the API server the store reads (tests/describe_chain_kubernetes*.rs). The run
//! helpers pass `--trust-provider-host` for the remote and check every output for the bed's
//! secrets, in every form.

use std::path::Path;
use std::process::Output;

use kube_sim::EsoCrds;
use serde_json::{Value, json};

use super::{Cluster, assert_no_secret_form, run_with, stderr, stdout};

pub struct TwoClusters {
    pub home: Cluster,
    pub remote: Cluster,
    /// Whatever no output may hold: values, tokens, client keys.
    pub secrets: Vec<String>,
}

impl TwoClusters {
    /// `home` with ESO's CRDs and namespace `prod`; `remote` without them, with `remote_namespaces`.
    pub async fn start(remote_namespaces: &[&str]) -> TwoClusters {
        let home = Cluster::start(EsoCrds::V1).await;
        let remote = Cluster::start(EsoCrds::None).await;
        home.namespaces(&["prod"]);
        remote.namespaces(remote_namespaces);
        TwoClusters {
            home,
            remote,
            secrets: Vec::new(),
        }
    }

    /// A Role `read-secrets` (get, list Secrets) in the remote's `namespace`, bound to `subjects`.
    pub fn grant_read_secrets(&self, namespace: &str, subjects: Value) {
        self.remote.create(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "read-secrets", "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]}),
        );
        self.remote
            .create(json!({"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding", "metadata": {"name": "read-secrets", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                "name": "read-secrets"},
            "subjects": subjects}));
    }

    /// The remote API server's host:port, as `--trust-provider-host` takes it.
    pub fn trust(&self) -> String {
        self.remote
            .api
            .url()
            .trim_start_matches("https://")
            .to_string()
    }

    /// The binary with `kubeconfig`; its output checked for the bed's secrets.
    pub fn run_on(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        let o = run_with(kubeconfig, args, &[("NO_PROXY", "127.0.0.1,localhost")]);
        assert_no_secret_form(&o, &self.secrets, &format!("{args:?}"));
        o
    }

    /// The binary against the home cluster.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_on(&self.home.kubeconfig, args)
    }

    /// `ARGS -n prod -o json` with `kubeconfig`, the remote trusted: (exit code, report).
    fn trusted_json(&self, kubeconfig: &Path, args: &[&str]) -> (Option<i32>, Value) {
        let host = self.trust();
        let mut all = args.to_vec();
        all.extend(["-n", "prod", "-o", "json", "--trust-provider-host", &host]);
        let o = self.run_on(kubeconfig, &all);
        let v = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}{}", stdout(&o), stderr(&o)));
        (o.status.code(), v)
    }

    /// `describe-chain NAME -n prod -o json`, the remote trusted: (exit code, report).
    pub fn chain_on(&self, kubeconfig: &Path, name: &str) -> (Option<i32>, Value) {
        self.trusted_json(kubeconfig, &["describe-chain", name])
    }

    pub fn chain(&self, name: &str) -> (Option<i32>, Value) {
        self.chain_on(&self.home.kubeconfig, name)
    }

    /// `doctor -n prod -o json` on the home cluster, the remote trusted: (exit code, report).
    pub fn doctor(&self) -> (Option<i32>, Value) {
        self.trusted_json(&self.home.kubeconfig, &["doctor"])
    }

    /// `describe-chain NAME` without `--trust-provider-host`: the remote is not vouched for, so
    /// nothing is sent and the Provider link (never ok) names the flag, once.
    pub fn assert_refused_unvouched(&self, name: &str) {
        let o = self.run(&["describe-chain", name, "-n", "prod", "-o", "json"]);
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
        assert_eq!(v["provider"]["probed"], false, "{v:#}");
        assert_eq!(v["provider"]["calls"], json!([]), "{v:#}");
        let provider = provider_link(&v);
        let summary = provider["summary"].as_str().unwrap_or_default();
        assert_eq!(summary.matches("not probed").count(), 1, "{summary}");
        assert!(
            summary.contains(&format!("--trust-provider-host {}", self.trust())),
            "{summary}"
        );
        assert_ne!(provider["state"], "ok", "{provider:#}");
    }

    /// A vouched-for chain that read the remote Secret `shared/db` and found the target equal.
    pub fn assert_healthy(&self, name: &str) -> Value {
        let (code, v) = self.chain(name);
        assert_eq!(code, Some(0), "{v:#}");
        assert_eq!(v["target"]["matchesProvider"], "yes", "{v:#}");
        let calls = v["provider"]["calls"].to_string();
        assert!(
            calls.contains("kubernetes GET secrets shared/db -> 200"),
            "{calls}"
        );
        v
    }
}

/// The Provider link of a describe-chain JSON report; a report without one fails the test (a
/// missing link must never pass an "is not ok" check).
pub fn provider_link(v: &Value) -> Value {
    v["links"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["link"] == "provider")
        .cloned()
        .unwrap_or_else(|| panic!("no provider link in {v:#}"))
}

/// The first finding of a doctor report that `wanted` accepts; `what` names it when none does.
pub fn finding(doctor: &Value, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    doctor["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| wanted(f))
        .cloned()
        .unwrap_or_else(|| panic!("no finding {what} in {doctor:#}"))
}
