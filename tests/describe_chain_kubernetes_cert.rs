//! Issue 15, ESO's `kubernetes` provider with `auth.cert`, end to end: a second simulated API
//! server with a client CA (kube-sim's cluster CA, as kube-apiserver's `--client-ca-file`) is the
//! remote cluster, and the built binary's describe-chain and doctor probe it presenting the
//! store's client certificate and key, as ESO's client-go would. Healthy (a user and a group the
//! remote's RBAC binds), a certificate of another CA and an expired one (401 →
//! kubernetes-cert-rejected), a user without RBAC (403 → kubernetes-rbac-denied, for the
//! certificate's user), a certificate and key that are no pair (kubernetes-client-cert-invalid,
//! nothing sent) and a caBundle that is no PEM certificate (kubernetes-ca-invalid, nothing sent;
//! near miss: a caBundle base64-encoded twice, which ESO accepts). The next steps run as printed on
//! the remote cluster: with a kubeconfig context for it, the printed `kubectl --context …`
//! commands are run here with the real kubectl and fix the refusal. `--probe-as me` never reports a
//! check from the wrong cluster. The client key (PEM, base64, each line) is never printed.

mod common;

use common::remote::{TwoClusters, finding, provider_link};
use common::*;
use kube_sim::auth::{ClientCa, ClientCert, ClientCertSpec};
use serde_json::{Value, json};

const V1: &str = "external-secrets.io/v1";

fn store(name: &str, remote: &str, secret: &str, ca: &str) -> Value {
    json!({
        "apiVersion": V1, "kind": "SecretStore", "metadata": {"name": name, "namespace": "prod"},
        "spec": {"provider": {"kubernetes": {
            "remoteNamespace": "shared",
            "server": {"url": remote, "caBundle": ca},
            "auth": {"cert": {
                "clientCert": {"name": secret, "key": "tls.crt"},
                "clientKey": {"name": secret, "key": "tls.key"}
            }}
        }}}
    })
}

fn es(name: &str, store: &str) -> Value {
    json!({
        "apiVersion": V1, "kind": "ExternalSecret", "metadata": {"name": name, "namespace": "prod"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": store},
            "target": {"name": name},
            "data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}}]}
    })
}

fn tls_secret(name: &str, crt: &str, key: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "prod"},
        "type": "kubernetes.io/tls", "data": {"tls.crt": b64(crt), "tls.key": b64(key)}})
}

/// Every form of a client key the output must never hold: the PEM, its body, each body line.
fn key_material(c: &ClientCert) -> Vec<String> {
    let body: Vec<&str> = c
        .key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let mut out = vec![c.key_pem.clone(), body.concat()];
    out.extend(body.iter().filter(|l| l.len() >= 16).map(|l| l.to_string()));
    out
}

struct Bed {
    clusters: TwoClusters,
    /// A kubeconfig with a context (`remote-admin`) for the remote cluster too.
    two_contexts: std::path::PathBuf,
}

impl std::ops::Deref for Bed {
    type Target = TwoClusters;
    fn deref(&self) -> &TwoClusters {
        &self.clusters
    }
}

async fn bed() -> Bed {
    let mut clusters = TwoClusters::start(&["shared"]).await;
    let (home, remote) = (&clusters.home, &clusters.remote);
    let password = canary("k8s-cert-db-pw");
    remote.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shared"}, "type": "Opaque",
        "data": {"password": b64(&password)}}));
    clusters.grant_read_secrets(
        "shared",
        json!([
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "eso-reader"},
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "secret-readers"}
        ]),
    );

    let issue = |user: &str, groups: &[&str], expired: bool| {
        remote
            .api
            .issue_client_cert(&ClientCertSpec {
                user,
                groups,
                expired,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("client certificate: {e}"))
    };
    let good = issue("eso-reader", &[], false);
    let group = issue("someone", &["secret-readers"], false);
    let nobody = issue("eso-nobody", &[], false);
    let expired = issue("eso-reader", &[], true);
    let foreign = ClientCa::generate("other-cluster-ca")
        .and_then(|ca| {
            ca.issue(&ClientCertSpec {
                user: "eso-reader",
                ..Default::default()
            })
        })
        .unwrap_or_else(|e| panic!("foreign certificate: {e}"));
    for (name, crt, key) in [
        ("cert-good", &good.cert_pem, &good.key_pem),
        ("cert-group", &group.cert_pem, &group.key_pem),
        ("cert-nobody", &nobody.cert_pem, &nobody.key_pem),
        ("cert-expired", &expired.cert_pem, &expired.key_pem),
        ("cert-foreign", &foreign.cert_pem, &foreign.key_pem),
        // The two keys swapped, and a key of another certificate.
        ("cert-swapped", &good.key_pem, &good.cert_pem),
        ("cert-mismatch", &good.cert_pem, &nobody.key_pem),
    ] {
        home.create(tls_secret(name, crt, key));
    }

    let url = remote.api.url();
    let ca_pem = remote.api.ca_pem().unwrap_or_default();
    let ca = b64(&ca_pem);
    for (name, secret, ca) in [
        ("remote-good", "cert-good", ca.clone()),
        ("remote-group", "cert-group", ca.clone()),
        ("remote-nobody", "cert-nobody", ca.clone()),
        ("remote-expired", "cert-expired", ca.clone()),
        ("remote-foreign", "cert-foreign", ca.clone()),
        ("remote-swapped", "cert-swapped", ca.clone()),
        ("remote-mismatch", "cert-mismatch", ca.clone()),
        // The caBundle is not a certificate; near miss: base64-encoded twice, which ESO takes.
        ("remote-bad-ca", "cert-good", b64("not a certificate")),
        ("remote-twice-ca", "cert-good", b64(&ca)),
    ] {
        let s = home.create(store(name, &url, secret, &ca));
        home.set_status(&s, store_status(true, "Valid"));
    }
    for (name, store, ready) in [
        ("good", "remote-good", true),
        ("group", "remote-group", true),
        ("twice", "remote-twice-ca", true),
        ("nobody", "remote-nobody", false),
        ("expired", "remote-expired", false),
        ("foreign", "remote-foreign", false),
        ("swapped", "remote-swapped", false),
        ("mismatch", "remote-mismatch", false),
        ("bad-ca", "remote-bad-ca", false),
    ] {
        let e = home.create(es(name, store));
        let e = home.set_status(&e, es_status(ready, &ago(30)));
        if ready {
            home.create(owned_secret(&e, name, "Opaque", "password", &password));
        }
    }

    // authRef: a kubeconfig whose user signs in with a client certificate (client-go's
    // client-certificate-data and client-key-data): the good one and the foreign one; and the
    // good one beside a token the remote does not know (client-go sends both, the API server
    // takes the certificate).
    let stale_token = canary("kc-both-stale-token");
    for (name, c, token) in [
        ("kc-cert", &good, None),
        ("kc-foreign", &foreign, None),
        ("kc-both", &good, Some(&stale_token)),
    ] {
        let token = token
            .map(|t| format!("    token: {t}\n"))
            .unwrap_or_default();
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: remote\n  cluster:\n    server: {url}\n    \
             certificate-authority-data: {ca}\nusers:\n- name: eso\n  user:\n    \
             client-certificate-data: {}\n    client-key-data: {}\n{token}contexts:\n- name: eso@remote\n  \
             context:\n    cluster: remote\n    user: eso\ncurrent-context: eso@remote\n",
            b64(&c.cert_pem),
            b64(&c.key_pem)
        );
        home.create(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("kubeconfig-{name}"), "namespace": "prod"},
            "type": "Opaque", "data": {"config": b64(&config)}}));
        let s = home.create(json!({
            "apiVersion": V1, "kind": "SecretStore",
            "metadata": {"name": format!("remote-{name}"), "namespace": "prod"},
            "spec": {"provider": {"kubernetes": {"remoteNamespace": "shared",
                "authRef": {"name": format!("kubeconfig-{name}"), "key": "config"}}}}}));
        home.set_status(&s, store_status(true, "Valid"));
        let ready = name != "kc-foreign";
        let e = home.create(es(name, &format!("remote-{name}")));
        let e = home.set_status(&e, es_status(ready, &ago(30)));
        if ready {
            home.create(owned_secret(&e, name, "Opaque", "password", &password));
        }
    }

    let remote_ca = b64(&ca_pem);
    let home_ca = b64(&home.api.ca_pem().unwrap_or_default());
    let two_contexts = write_file(
        home.dir.path(),
        "two-contexts.kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: home\n  cluster:\n    server: {}\n    certificate-authority-data: {home_ca}\n- name: remote\n  cluster:\n    server: {url}\n    certificate-authority-data: {remote_ca}\nusers:\n- name: home-admin\n  user:\n    token: {}\n- name: remote-admin\n  user:\n    token: {}\ncontexts:\n- name: kube-sim\n  context:\n    cluster: home\n    user: home-admin\n    namespace: prod\n- name: remote-admin\n  context:\n    cluster: remote\n    user: remote-admin\ncurrent-context: kube-sim\n",
            home.api.url(),
            home.api.admin_token(),
            remote.api.admin_token(),
        ),
    );
    let mut secrets = vec![password, remote.api.admin_token(), stale_token];
    for c in [&good, &group, &nobody, &expired, &foreign] {
        secrets.extend(key_material(c));
    }
    clusters.secrets = secrets;
    Bed {
        clusters,
        two_contexts,
    }
}

fn next_steps(v: &Value) -> Vec<String> {
    v["verdict"]["next"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_client_certificate_auth_is_probed_as_eso_presents_it() {
    let b = bed().await;

    // Healthy: the certificate's user, and a member of the group the RoleBinding names.
    for name in ["good", "group"] {
        let (code, v) = b.chain(name);
        assert_eq!(code, Some(0), "{name}: {v:#}");
        assert_eq!(v["target"]["matchesProvider"], "yes", "{name}: {v:#}");
        assert_eq!(provider_link(&v)["state"], "ok", "{name}: {v:#}");
        assert!(
            v["provider"]["calls"]
                .to_string()
                .contains("kubernetes GET secrets shared/db -> 200"),
            "{name}: {v:#}"
        );
    }
    let (_, v) = b.chain("good");
    let identity = v["provider"]["identity"].as_str().unwrap_or_default();
    assert!(
        identity.contains("the client certificate CN=eso-reader (issued by CN=kube-sim-ca) from Secret prod/cert-good[tls.crt]"),
        "{identity}"
    );

    // 401: another CA's certificate, and an expired one; the evidence names which.
    for (name, says) in [
        ("foreign", "issued by CN=other-cluster-ca"),
        ("expired", "expired 2021-01-01T00:00:00Z"),
    ] {
        let (code, v) = b.chain(name);
        assert_eq!(code, Some(1), "{name}: {v:#}");
        assert_eq!(
            v["verdict"]["code"], "kubernetes-cert-rejected",
            "{name}: {v:#}"
        );
        let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
        assert!(
            cause.contains(&format!(
                "does not accept the client certificate the store reads from Secret prod/cert-{name}[tls.crt]"
            )),
            "{name}: {cause}"
        );
        assert!(v.to_string().contains(says), "{name}: {v:#}");
        assert!(
            v["provider"]["calls"]
                .to_string()
                .contains("kubernetes GET secrets shared/db -> 401"),
            "{name}: {v:#}"
        );
        assert_ne!(provider_link(&v)["state"], "ok", "{name}: {v:#}");
        // The link the verdict names says broken too (it said ok under a verdict naming it).
        let credentials = v["links"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["link"] == "credentials")
            .cloned()
            .unwrap_or_default();
        assert_eq!(credentials["state"], "broken", "{name}: {v:#}");
    }

    // authRef: the kubeconfig's user signs in with a certificate; refused, it is the
    // certificate's finding too (it was the token's), on the authRef field.
    let (code, v) = b.chain("kc-cert");
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["provider"]["kubeconfigUser"], "cert", "{v:#}");
    // Near miss: a token the remote refuses beside the good certificate is no failure (the
    // certificate authenticates, as for ESO); both are sent.
    let (code, v) = b.chain("kc-both");
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["provider"]["kubeconfigUser"], "token and cert", "{v:#}");
    assert_eq!(v["target"]["matchesProvider"], "yes", "{v:#}");
    let (code, v) = b.chain("kc-foreign");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["code"], "kubernetes-cert-rejected", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains(
            "does not accept the client certificate of its user in Secret prod/kubeconfig-kc-foreign[config]"
        ),
        "{cause}"
    );
    assert!(
        v.to_string().contains("issued by CN=other-cluster-ca"),
        "{v:#}"
    );
    let (_, d) = b.doctor();
    let f = finding(&d, "on remote-kc-foreign", |f| {
        f["object"] == "SecretStore prod/remote-kc-foreign"
    });
    assert_eq!(f["code"], "kubernetes-cert-rejected", "{f:#}");
    assert_eq!(f["field"], "spec.provider.kubernetes.authRef", "{f:#}");

    // 403: the certificate authenticates, its user has no grant: the RBAC finding for that user.
    let (code, v) = b.chain("nobody");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["code"], "kubernetes-rbac-denied", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("eso-nobody may not get secret db in namespace shared"),
        "{cause}"
    );
    // No context of the home kubeconfig reaches the remote: the first step says how to add the
    // one the commands name; no command is prefixed by words or sent with --server.
    let next = next_steps(&v);
    let ctx = format!("eso-{}", b.trust().replace(':', "-"));
    assert!(
        next[0].starts_with(&format!(
            "no context of your kubeconfig reaches {}",
            b.remote.api.url()
        )),
        "{next:?}"
    );
    assert!(
        next.iter().any(|n| n
            == &format!(
                "kubectl --context {ctx} auth can-i get secrets/db -n shared --as eso-nobody"
            )),
        "{next:?}"
    );
    assert!(
        next.iter()
            .any(|n| n.ends_with("--role=eso-read-db --user=eso-nobody")),
        "{next:?}"
    );
    for n in &next {
        assert!(
            !n.contains("on the cluster at") && !n.contains("--server "),
            "{n}"
        );
    }

    // Client certificate and key that are no pair: ESO builds no client, nothing is sent.
    for (name, says) in [
        (
            "swapped",
            "clientCert is not a PEM certificate: it holds PRIVATE KEY",
        ),
        (
            "mismatch",
            "clientKey is not the private key of clientCert (CN=eso-reader)",
        ),
    ] {
        let (code, v) = b.chain(name);
        assert_eq!(code, Some(1), "{name}: {v:#}");
        assert_eq!(
            v["verdict"]["code"], "kubernetes-client-cert-invalid",
            "{name}: {v:#}"
        );
        assert!(v.to_string().contains(says), "{name}: {v:#}");
        assert_eq!(v["provider"]["calls"], json!([]), "{name}: {v:#}");
        assert_ne!(provider_link(&v)["state"], "ok", "{name}: {v:#}");
    }

    // A caBundle that is no certificate: its own finding, nothing sent — not an untrusted server.
    let (code, v) = b.chain("bad-ca");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["code"], "kubernetes-ca-invalid", "{v:#}");
    assert!(
        v.to_string()
            .contains("server.caBundle is not a PEM certificate: it holds no PEM block"),
        "{v:#}"
    );
    assert_eq!(v["provider"]["calls"], json!([]), "{v:#}");
    // Near miss: base64-encoded twice, which ESO decodes once more: healthy.
    let (code, v) = b.chain("twice");
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["target"]["matchesProvider"], "yes", "{v:#}");

    // doctor: every cause, on its store.
    let (code, v) = b.doctor();
    assert_eq!(code, Some(1), "{v:#}");
    let text = v.to_string();
    for code in [
        "kubernetes-cert-rejected",
        "kubernetes-client-cert-invalid",
        "kubernetes-ca-invalid",
        "kubernetes-rbac-denied",
    ] {
        assert!(text.contains(code), "{code} missing: {v:#}");
    }
    assert!(!text.contains("kubernetes-ca-untrusted"), "{v:#}");
}

/// Issue 15: with a kubeconfig context for the remote cluster, the next steps name it — and they
/// run as printed: the real kubectl answers the printed `auth can-i` with "no", the printed
/// `create role` / `create rolebinding` grant the certificate's user, and the probe then reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_next_steps_for_another_cluster_run_as_printed_on_its_context() {
    let b = bed().await;
    let (_, v) = b.chain_on(&b.two_contexts, "nobody");
    assert_eq!(v["verdict"]["code"], "kubernetes-rbac-denied", "{v:#}");
    let next = next_steps(&v);
    let commands: Vec<&String> = next
        .iter()
        .filter(|n| n.starts_with("kubectl --context remote-admin "))
        .collect();
    assert_eq!(commands.len(), 3, "{next:?}");
    assert!(
        commands[0].starts_with(
            "kubectl --context remote-admin auth can-i get secrets/db -n shared --as eso-nobody"
        ),
        "{next:?}"
    );
    let kubectl = |line: &str| {
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        std::process::Command::new("kubectl")
            .args(&args)
            .env("KUBECONFIG", &b.two_contexts)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .output()
            .unwrap_or_else(|e| panic!("kubectl: {e}"))
    };
    let o = kubectl(commands[0]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "no", "{o:?}");
    for c in &commands[1..] {
        let o = kubectl(c);
        assert!(o.status.success(), "{c}: {o:?}");
    }
    let o = kubectl(commands[0]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "yes", "{o:?}");
    let (_, v) = b.chain_on(&b.two_contexts, "nobody");
    assert_eq!(v["provider"]["keys"][0]["readable"], true, "{v:#}");
    assert_eq!(provider_link(&v)["state"], "ok", "{v:#}");

    // --probe-as me: not run, and never a check of the current context for this store.
    let host = b.trust();
    let me = [
        "describe-chain",
        "nobody",
        "-n",
        "prod",
        "-o",
        "json",
        "--probe-as",
        "me",
        "--trust-provider-host",
        &host,
    ];
    let o = b.run_on(&b.two_contexts, &me);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
    assert_eq!(v["provider"]["probed"], false, "{v:#}");
    let link = provider_link(&v);
    assert_ne!(link["state"], "ok", "{link:#}");
    let summary = link["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("did not run"), "{summary}");
    assert!(
        summary.contains("kubectl --context remote-admin auth can-i get secrets -n shared"),
        "{summary}"
    );
    // Near miss: without a context for the remote, no command is offered against the current one.
    let o = b.run_on(&b.home.kubeconfig, &me);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
    let summary = provider_link(&v)["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        summary.contains("which no context of your kubeconfig reaches"),
        "{summary}"
    );
    assert!(!summary.contains(": kubectl auth can-i"), "{summary}");
}

/// Issue 15: the client keys — PEM, base64 (as the Secret holds them), the PEM body and each of
/// its lines — are never printed, in any format, verbosity or command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_client_keys_are_never_printed() {
    let b = bed().await;
    let host = b.trust();
    for name in [
        "good",
        "nobody",
        "foreign",
        "expired",
        "swapped",
        "mismatch",
        "bad-ca",
        "kc-foreign",
        "kc-both",
    ] {
        for format in ["table", "wide", "json", "yaml"] {
            for verbose in [None, Some("-v")] {
                let mut args = vec![
                    "describe-chain",
                    name,
                    "-n",
                    "prod",
                    "-o",
                    format,
                    "--trust-provider-host",
                    &host,
                ];
                args.extend(verbose);
                b.run_on(&b.home.kubeconfig, &args);
            }
        }
    }
    for format in ["table", "wide", "json", "yaml"] {
        for verbose in [None, Some("-v")] {
            let mut args = vec![
                "doctor",
                "-n",
                "prod",
                "-o",
                format,
                "--trust-provider-host",
                &host,
            ];
            args.extend(verbose);
            b.run_on(&b.home.kubeconfig, &args);
        }
    }
    b.run_on(&b.home.kubeconfig, &["scope", "-n", "prod", "-o", "json"]);
}
