//! Issue 12, pull secrets, end to end: in the `healthy` sandbox the order-service pull secret's
//! ExternalSecret is changed to write its `auths` key without the registry's port (a classic
//! copy-paste slip: `127.0.0.1` for `127.0.0.1:PORT`). The kubelet matches host and port exactly,
//! so the key serves no image; doctor must lead with `pull-secret-host-mismatch` on that
//! ExternalSecret, naming the hosts and never a credential, and exit 1.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use serde_json::Value;

/// The `auths` keys of the Secret as stored, once it has `want` among them.
async fn wait_for_auths_key(env: &SandboxEnv, secret: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys: Vec<String> = env
            .sandbox
            .api()
            .store()
            .list("v1", "Secret", Some("prod"))
            .into_iter()
            .filter(|s| s["metadata"]["name"] == secret)
            .filter_map(|s| {
                let b64 = s["data"][".dockerconfigjson"].as_str()?.to_string();
                let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
                let cfg: Value = serde_json::from_slice(&bytes).ok()?;
                Some(
                    cfg["auths"]
                        .as_object()?
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>(),
                )
            })
            .flatten()
            .collect();
        if keys.iter().any(|k| k == want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Secret {secret} still has auths keys {keys:?} after 60s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_an_auths_key_without_the_port_leads_doctor() {
    let env = SandboxEnv::start("healthy").await;
    let registry = env.sandbox.registry().host();
    let (host_only, _port) = registry
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("registry host {registry} has no port"));
    let store = env.sandbox.api().store();
    let mut es = store
        .get(
            "external-secrets.io/v1",
            "ExternalSecret",
            Some("prod"),
            "order-service-regcred",
        )
        .unwrap_or_else(|| panic!("no ExternalSecret order-service-regcred"));
    let template = es["spec"]["target"]["template"]["data"][".dockerconfigjson"]
        .as_str()
        .unwrap_or_else(|| panic!("no template in {es}"))
        .to_string();
    assert!(template.contains(&registry), "{template}");
    es["spec"]["target"]["template"]["data"][".dockerconfigjson"] =
        Value::String(template.replace(&format!("\"{registry}\""), &format!("\"{host_only}\"")));
    store
        .replace(es)
        .unwrap_or_else(|e| panic!("replace ExternalSecret: {e:?}"));
    wait_for_auths_key(&env, "regcred-order-service", host_only).await;

    let (code, report) = env.json(&["doctor", "-n", "prod", "-o", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    let first = &report["findings"][0];
    assert_eq!(first["code"], "pull-secret-host-mismatch", "{report:#}");
    assert_eq!(first["severity"], "error", "{first:#}");
    assert_eq!(
        first["object"], "ExternalSecret prod/order-service-regcred",
        "{first:#}"
    );
    assert_eq!(first["field"], "spec.target.template", "{first:#}");
    let evidence = first["evidence"].to_string();
    assert!(
        evidence.contains(&format!("image host: {registry}")),
        "{evidence}"
    );
    assert!(
        evidence.contains(&format!("auths keys: {host_only}\"")),
        "{evidence}"
    );
    assert!(
        first["affects"]
            .to_string()
            .contains("deployment/order-service"),
        "{first:#}"
    );
    assert!(
        first["next"]
            .to_string()
            .contains("kubectl eso verify-regcred --from-es order-service-regcred -n prod"),
        "{first:#}"
    );
    // Hosts only: no credential from the pull secret in any format.
    let values = env.secret_values();
    for format in ["json", "table", "yaml"] {
        let o = env.run(&["doctor", "-n", "prod", "-o", format, "-v"]);
        assert_eq!(o.status.code(), Some(1), "{format}: {}", stderr(&o));
        assert_no_leak(&o, &values, "doctor");
    }
    env.sandbox.shutdown().await;
}
