//! Issue 15 end to end: ESO's `kubernetes` provider against a second simulated API server as the
//! remote cluster. The built binary's describe-chain and doctor probe it as ESO would — a bearer
//! token from a Secret in the home cluster, `server.caBundle` for the remote's CA — and name the
//! cause: healthy (value compared), a Role that does not cover the remote namespace (403 →
//! kubernetes-rbac-denied), a missing remote Secret with a near-miss name (404 + LIST),
//! a rejected token (401 → kubernetes-token-rejected) and an untrusted CA (TLS →
//! kubernetes-ca-untrusted). A namespaced store naming another API server is refused until the
//! user vouches for it, and nothing is sent (no token minted) before that. `auth.serviceAccount`
//! mints a token of the home cluster, which the remote refuses (401, the ServiceAccount named);
//! an `auth.cert` Secret that holds no PEM builds no client (kubernetes-client-cert-invalid; real
//! certificates: describe_chain_kubernetes_cert.rs). `authRef`: the kubeconfig in a Secret is
//! read as client-go reads it, its server vouched for before anything is sent, its token probed
//! there; one client-go refuses is kubernetes-kubeconfig-invalid; an exec plugin is named, not
//! probed. No value, token, client key, kubeconfig or canary is printed in any format or verbosity.

mod common;

use common::remote::{TwoClusters, finding, provider_link};
use common::*;
use kube_sim::EsoCrds;
use serde_json::{Value, json};

const V1: &str = "external-secrets.io/v1";

fn store(name: &str, remote: &str, namespace: &str, token_secret: &str, ca: Option<&str>) -> Value {
    let auth = json!({"token": {"bearerToken": {"name": token_secret, "key": "token"}}});
    store_with_auth(name, remote, namespace, auth, ca)
}

fn store_with_auth(
    name: &str,
    remote: &str,
    namespace: &str,
    auth: Value,
    ca: Option<&str>,
) -> Value {
    let mut server = json!({"url": remote});
    if let Some(ca) = ca {
        server["caBundle"] = json!(ca);
    }
    json!({
        "apiVersion": V1, "kind": "SecretStore", "metadata": {"name": name, "namespace": "prod"},
        "spec": {"provider": {"kubernetes": {
            "remoteNamespace": namespace, "server": server, "auth": auth
        }}}
    })
}

fn es(name: &str, store: &str, key: &str) -> Value {
    json!({
        "apiVersion": V1, "kind": "ExternalSecret", "metadata": {"name": name, "namespace": "prod"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": store},
            "target": {"name": name},
            "data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]}
    })
}

fn token_secret(name: &str, token: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "prod"},
        "type": "Opaque", "data": {"token": b64(token)}})
}

async fn bed() -> TwoClusters {
    let mut bed = TwoClusters::start(&["shared", "locked"]).await;
    let (home, remote) = (&bed.home, &bed.remote);
    let password = canary("k8s-db-pw");
    let other = canary("k8s-locked-pw");
    for (ns, name, value) in [("shared", "db", &password), ("locked", "db", &other)] {
        remote.create(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns}, "type": "Opaque",
            "data": {"password": b64(value), "username": b64("app")}}));
    }
    remote.create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "reader", "namespace": "shared"}}));
    bed.grant_read_secrets(
        "shared",
        json!([{"kind": "ServiceAccount", "name": "reader", "namespace": "shared"}]),
    );
    let token = remote
        .api
        .store()
        .issue_token(
            "shared",
            "reader",
            &[kube_sim::auth::API_AUDIENCE.to_string()],
            3600,
        )
        .unwrap_or_else(|e| panic!("remote token: {e:?}"));
    let bad = canary("k8s-revoked-token");
    home.create(token_secret("remote-token", &token));
    home.create(token_secret("revoked-token", &bad));
    let url = remote.api.url();
    let ca = remote.api.ca_pem().map(|p| b64(&p));
    for (name, ns, secret, ca) in [
        ("remote", "shared", "remote-token", ca.as_deref()),
        ("remote-locked", "locked", "remote-token", ca.as_deref()),
        ("remote-revoked", "shared", "revoked-token", ca.as_deref()),
        ("remote-no-ca", "shared", "remote-token", None),
    ] {
        let s = home.create(store(name, &url, ns, secret, ca));
        home.set_status(&s, store_status(true, "Valid"));
    }
    // A ServiceAccount of the home cluster (its token is minted there, so the remote, with its
    // own issuer, refuses it) and a client certificate whose key is a canary.
    home.create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "eso-remote", "namespace": "prod"}}));
    let client_key = canary("k8s-client-key");
    home.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "remote-cert", "namespace": "prod"}, "type": "Opaque",
        "data": {"tls.crt": b64(&canary("k8s-client-cert")), "tls.key": b64(&client_key)}}));
    for (name, auth) in [
        (
            "remote-sa",
            json!({"serviceAccount": {"name": "eso-remote"}}),
        ),
        (
            "remote-cert",
            json!({"cert": {"clientCert": {"name": "remote-cert", "key": "tls.crt"},
                "clientKey": {"name": "remote-cert", "key": "tls.key"}}}),
        ),
    ] {
        let s = home.create(store_with_auth(name, &url, "shared", auth, ca.as_deref()));
        home.set_status(&s, store_status(true, "Valid"));
    }
    for (name, store, key, ready) in [
        ("db", "remote", "db", true),
        ("sa", "remote-sa", "db", false),
        ("cert", "remote-cert", "db", false),
        ("db-typo", "remote", "dbb", false),
        ("locked", "remote-locked", "db", false),
        ("revoked", "remote-revoked", "db", false),
        ("no-ca", "remote-no-ca", "db", false),
    ] {
        let e = home.create(es(name, store, key));
        let e = home.set_status(&e, es_status(ready, &ago(30)));
        if ready {
            home.create(owned_secret(&e, name, "Opaque", "password", &password));
        }
    }
    // authRef: kubeconfigs in Secrets (key `config`) — a good one (the reader's token, the
    // remote's CA), one without current-context (client-go refuses it), one whose user runs an
    // exec plugin.
    let kubeconfig = |user: &str, current: &str| {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: remote\n  cluster:\n    server: {url}\n    \
             certificate-authority-data: {}\nusers:\n- name: eso\n  user:\n{user}\ncontexts:\n- name: \
             eso@remote\n  context:\n    cluster: remote\n    user: eso\ncurrent-context: {current}\n",
            ca.clone().unwrap_or_default()
        )
    };
    let good_kc = kubeconfig(&format!("    token: {token}"), "eso@remote");
    for (secret, text) in [
        ("kc-good", good_kc.clone()),
        (
            "kc-empty",
            kubeconfig(&format!("    token: {token}"), "\"\""),
        ),
        (
            "kc-exec",
            kubeconfig(
                "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: \
                 aws\n      args: [eks, get-token]",
                "eso@remote",
            ),
        ),
    ] {
        home.create(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret, "namespace": "prod"}, "type": "Opaque",
            "data": {"config": b64(&text)}}));
    }
    for (store, secret) in [
        ("remote-kc", "kc-good"),
        ("remote-kc-empty", "kc-empty"),
        ("remote-kc-exec", "kc-exec"),
    ] {
        let s = home.create(json!({
            "apiVersion": V1, "kind": "SecretStore", "metadata": {"name": store, "namespace": "prod"},
            "spec": {"provider": {"kubernetes": {"remoteNamespace": "shared",
                "authRef": {"name": secret, "key": "config"}}}}}));
        home.set_status(&s, store_status(true, "Valid"));
    }
    for (name, store, ready) in [
        ("kc", "remote-kc", true),
        ("kc-empty", "remote-kc-empty", false),
        ("kc-exec", "remote-kc-exec", false),
    ] {
        let e = home.create(es(name, store, "db"));
        let e = home.set_status(&e, es_status(ready, &ago(30)));
        if ready {
            home.create(owned_secret(&e, name, "Opaque", "password", &password));
        }
    }
    bed.secrets = vec![password, other, token, bad, client_key, good_kc];
    bed
}

/// `authRef`: the kubeconfig in a Secret read as client-go reads it; its server vouched for like a
/// `server.url` before anything is sent; its user's token probed there; a kubeconfig client-go
/// refuses is `kubernetes-kubeconfig-invalid` (nothing sent); an exec plugin is named, not probed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_authref_kubeconfig_is_read_vouched_for_and_probed() {
    let b = bed().await;
    // Not vouched for (a namespaced store, no flag): nothing sent, the flag named.
    b.assert_refused_unvouched("kc");

    // Vouched for: the kubeconfig's token read the remote Secret, the value compared.
    let v = b.assert_healthy("kc");
    let identity = v["provider"]["identity"].as_str().unwrap_or_default();
    assert!(
        identity.contains("user \"eso\" of context \"eso@remote\" in the kubeconfig in Secret prod/kc-good[config]"),
        "{identity}"
    );

    // No current-context: client-go's own error, nothing sent.
    let (code, v) = b.chain("kc-empty");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(
        v["verdict"]["code"], "kubernetes-kubeconfig-invalid",
        "{v:#}"
    );
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("no configuration has been provided")
            && cause.contains("Secret prod/kc-empty[config]"),
        "{cause}"
    );
    let next = v["verdict"]["next"].to_string();
    assert!(next.contains("Secret prod/kc-empty[config]"), "{next}");
    assert_eq!(v["provider"]["calls"], json!([]), "{v:#}");

    // An exec plugin: named, not probed, never ok.
    let (_, v) = b.chain("kc-exec");
    let provider = provider_link(&v);
    let summary = provider["summary"].to_string();
    assert!(summary.contains("exec plugin \\\"aws\\\""), "{summary}");
    assert_ne!(provider["state"], "ok", "{provider:#}");
    assert_ne!(
        v["verdict"]["code"], "kubernetes-kubeconfig-invalid",
        "{v:#}"
    );

    // doctor agrees, on the field to fix.
    let (_, d) = b.doctor();
    let f = finding(&d, "kubernetes-kubeconfig-invalid", |f| {
        f["code"] == "kubernetes-kubeconfig-invalid"
    });
    assert_eq!(f["field"], "spec.provider.kubernetes.authRef", "{f:#}");
    assert!(
        !d["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["object"]
                .as_str()
                .unwrap_or_default()
                .contains("remote-kc\"")),
        "{d:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_kubernetes_provider_against_a_remote_api_server() {
    let b = bed().await;

    // Not vouched for: a namespaced store naming another API server gets nothing sent.
    b.assert_refused_unvouched("db");

    // Vouched for: healthy, the value compared in memory.
    b.assert_healthy("db");

    // 403: the identity named, with the Role and RoleBinding that would grant it.
    let (code, v) = b.chain("locked");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["code"], "kubernetes-rbac-denied", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains(
            "system:serviceaccount:shared:reader may not get secret db in namespace locked"
        ),
        "{cause}"
    );
    let next = v["verdict"]["next"].to_string();
    assert!(next.contains("--resource-name=db"), "{next}");
    assert!(next.contains("--serviceaccount=shared:reader"), "{next}");
    // Another cluster, no context of the kubeconfig for it: the first step says how to add one,
    // and every command names it (never "on the cluster at URL: kubectl …").
    assert!(
        next.contains(&format!(
            "no context of your kubeconfig reaches {}",
            b.remote.api.url()
        )),
        "{next}"
    );
    assert!(
        next.contains(&format!(
            "kubectl --context eso-{} create rolebinding",
            b.trust().replace(':', "-")
        )),
        "{next}"
    );
    assert!(!next.contains("on the cluster at"), "{next}");

    // 404: the near-miss name from a metadata-only LIST.
    let (code, v) = b.chain("db-typo");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["code"], "provider-key-near-miss", "{v:#}");
    assert_eq!(v["provider"]["keys"][0]["didYouMean"], "db", "{v:#}");
    assert!(
        v["provider"]["calls"]
            .to_string()
            .contains("kubernetes LIST secrets -n shared (names only) -> 200"),
        "{v:#}"
    );

    // 401: the token in the Secret is rejected.
    let (code, v) = b.chain("revoked");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["code"], "kubernetes-token-rejected", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("Secret prod/revoked-token[token]"),
        "{cause}"
    );

    // TLS: no caBundle, the remote's own CA is not a system root.
    let (code, v) = b.chain("no-ca");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["code"], "kubernetes-ca-untrusted", "{v:#}");

    // doctor: one GET per distinct key per store, every cause, in every format and -v: no value.
    let host = b.trust();
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
            let o = b.run(&args);
            assert_no_secret_form(&o, &b.secrets, &format!("doctor {args:?}"));
            assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
            if format == "json" {
                let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
                let codes = v.to_string();
                for code in [
                    "kubernetes-rbac-denied",
                    "kubernetes-token-rejected",
                    "kubernetes-ca-untrusted",
                    "provider-key-near-miss",
                ] {
                    assert!(codes.contains(code), "{code} missing: {v:#}");
                }
            }
            let mut args = vec![
                "describe-chain",
                "locked",
                "-n",
                "prod",
                "-o",
                format,
                "--trust-provider-host",
                &host,
            ];
            args.extend(verbose);
            let o = b.run(&args);
            assert_no_secret_form(&o, &b.secrets, &format!("describe-chain {args:?}"));
        }
    }
    let o = b.run(&[
        "describe-chain",
        "db",
        "-n",
        "prod",
        "-v",
        "--trust-provider-host",
        &host,
    ]);
    assert_no_secret_form(&o, &b.secrets, "describe-chain -v");
    assert!(
        stderr(&o).contains("kubernetes GET secrets shared/db"),
        "{}",
        stderr(&o)
    );
    let o = b.run(&["scope", "-n", "prod", "-o", "json"]);
    assert_no_secret_form(&o, &b.secrets, "scope");
}

/// Issue 15, every other provider: stores of providers this tool does not probe (GCP, Akeyless,
/// 1Password, Bitwarden, Doppler) are diagnosed from ESO's status and Events, and their Provider
/// link names the provider and says it was not probed — never ok, never "not probed: not probed".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_other_providers_are_named_and_not_probed() {
    let c = Cluster::start(EsoCrds::V1).await;
    c.namespaces(&["prod"]);
    let token = canary("doppler-token");
    c.create(token_secret("provider-creds", &token));
    let sref = json!({"name": "provider-creds", "key": "token"});
    let providers = [
        (
            "gcpsm",
            json!({"projectID": "acme-prod", "auth": {"secretRef": {"secretAccessKeySecretRef": sref}}}),
        ),
        (
            "akeyless",
            json!({"akeylessGWApiURL": "https://api.akeyless.io",
            "authSecretRef": {"secretRef": {"accessID": sref, "accessType": sref, "accessTypeParam": sref}}}),
        ),
        (
            "onepassword",
            json!({"connectHost": "https://op-connect.prod.svc:8080", "vaults": {"prod": 1},
            "auth": {"secretRef": {"connectTokenSecretRef": sref}}}),
        ),
        (
            "bitwardensecretsmanager",
            json!({"apiURL": "https://api.bitwarden.com",
            "identityURL": "https://identity.bitwarden.com", "bitwardenServerSDKURL": "https://bitwarden-sdk-server.external-secrets.svc:9998",
            "caBundle": "eA==", "organizationID": "org", "projectID": "proj",
            "auth": {"secretRef": {"credentials": sref}}}),
        ),
        (
            "doppler",
            json!({"auth": {"secretRef": {"dopplerToken": sref}}}),
        ),
    ];
    for (i, (provider, spec)) in providers.iter().enumerate() {
        let name = format!("{provider}-store");
        let s = c.create(json!({"apiVersion": V1, "kind": "SecretStore",
            "metadata": {"name": name, "namespace": "prod"},
            "spec": {"provider": {*provider: spec}}}));
        // The first store is broken as ESO reports it; the others are Ready.
        let broken = i == 0;
        c.set_status(
            &s,
            store_status(
                !broken,
                if broken {
                    "InvalidProviderConfig"
                } else {
                    "Valid"
                },
            ),
        );
        if broken {
            c.create(store_event(
                &s,
                "unable to create client: google: could not find default credentials",
                &ago(5),
            ));
        }
        let e = c.create(json!({"apiVersion": V1, "kind": "ExternalSecret",
            "metadata": {"name": format!("{provider}-app"), "namespace": "prod"},
            "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": name},
                "target": {"name": format!("{provider}-app")},
                "data": [{"secretKey": "password", "remoteRef": {"key": "app-password"}}]}}));
        let e = c.set_status(&e, es_status(!broken, &ago(30)));
        if !broken {
            c.create(owned_secret(
                &e,
                &format!("{provider}-app"),
                "Opaque",
                "password",
                &canary(provider),
            ));
        }
    }
    for (i, (provider, _)) in providers.iter().enumerate() {
        let name = format!("{provider}-app");
        let o = c.run(&["describe-chain", &name, "-n", "prod", "-o", "json"]);
        assert_no_secret_form(&o, std::slice::from_ref(&token), &name);
        let v: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{name}: {e}: {}{}", stdout(&o), stderr(&o)));
        let link = provider_link(&v);
        assert_eq!(link["state"], "unknown", "{provider}: {link:#}");
        let summary = link["summary"].as_str().unwrap_or_default();
        assert_eq!(summary.matches("not probed").count(), 1, "{summary}");
        assert!(
            summary.contains(&format!(
                "the {provider} provider is not probed by this tool"
            )),
            "{summary}"
        );
        assert_eq!(v["provider"]["calls"], json!([]), "{provider}: {v:#}");
        if i == 0 {
            // The cause comes from ESO's status and the store's Event.
            assert_eq!(o.status.code(), Some(1), "{v:#}");
            assert_eq!(v["verdict"]["code"], "store-not-ready", "{v:#}");
            assert!(
                v.to_string().contains("could not find default credentials"),
                "{v:#}"
            );
        } else {
            assert_ne!(v["verdict"]["state"], "broken", "{provider}: {v:#}");
        }
    }
    let o = c.run(&["doctor", "-n", "prod", "-o", "json"]);
    assert_no_secret_form(&o, std::slice::from_ref(&token), "doctor");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
    assert_eq!(o.status.code(), Some(1), "{v:#}");
    assert_eq!(v["findings"][0]["code"], "store-not-ready", "{v:#}");
    let text = v.to_string();
    for (provider, _) in &providers {
        assert!(
            text.contains(&format!(
                "the {provider} provider is not probed by this tool"
            )),
            "{provider}: {v:#}"
        );
    }
    let o = c.run(&["scope", "-n", "prod", "-o", "json"]);
    assert_no_secret_form(&o, std::slice::from_ref(&token), "scope");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
    let row = v["externalSecrets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "gcpsm-app")
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["rootCause"]["code"], "store-not-ready", "{row:#}");
}

/// Issue 15: the other two auth methods against the remote. `auth.serviceAccount`: a token is
/// minted only once the remote host is vouched for (near miss: not vouched, no TokenRequest at
/// all), then the remote, which trusts another issuer, refuses it (401, the ServiceAccount named).
/// `auth.cert` with a Secret that holds no PEM: nothing is sent, the finding says which value is
/// unusable — never ok. Neither the minted token nor the client key is printed in any format or -v.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_service_account_and_client_certificate_auth() {
    let b = bed().await;

    // Near miss: not vouched for, so no token is requested and nothing is sent.
    let minted_before = b.home.api.issued_tokens().len();
    let o = b.run(&["describe-chain", "sa", "-n", "prod", "-o", "json", "-v"]);
    assert_no_secret_form(&o, &b.secrets, "sa, not vouched");
    assert!(!stderr(&o).contains("TokenRequest"), "{}", stderr(&o));
    // What the cluster saw, not only what the log says: no TokenRequest was answered.
    assert_eq!(
        b.home.api.issued_tokens().len(),
        minted_before,
        "a token was minted for a host nobody vouched for"
    );
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
    assert_eq!(v["provider"]["calls"], json!([]), "{v:#}");
    let link = provider_link(&v);
    assert_ne!(link["state"], "ok", "{link:#}");
    let summary = link["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("not vouched for"), "{summary}");
    assert!(
        summary.contains(&format!("--trust-provider-host {}", b.trust())),
        "{summary}"
    );

    // Vouched for: the token is requested as ESO does and the remote refuses it.
    let mut outputs = Vec::new();
    let (code, v) = b.chain("sa");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"]["code"], "kubernetes-token-rejected", "{v:#}");
    let cause = v["verdict"]["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("ServiceAccount prod/eso-remote"), "{cause}");
    assert!(
        v["provider"]["calls"]
            .to_string()
            .contains("kubernetes GET secrets shared/db -> 401"),
        "{v:#}"
    );

    let o = b.run(&[
        "describe-chain",
        "sa",
        "-n",
        "prod",
        "-v",
        "--trust-provider-host",
        &b.trust(),
    ]);
    assert!(
        stderr(&o).contains("POST serviceaccounts/eso-remote/token -n prod (TokenRequest)"),
        "{}",
        stderr(&o)
    );
    outputs.push(("describe-chain sa -v".to_string(), o));

    // Client certificate whose Secret holds no PEM (a canary): ESO builds no client, nothing is
    // sent, and the finding says which of the two is unusable (the real certificates are in
    // tests/describe_chain_kubernetes_cert.rs).
    let (code, v) = b.chain("cert");
    assert_eq!(v["provider"]["calls"], json!([]), "{v:#}");
    let link = provider_link(&v);
    assert_ne!(link["state"], "ok", "{link:#}");
    assert_eq!(
        v["verdict"]["code"], "kubernetes-client-cert-invalid",
        "{v:#}"
    );
    assert!(
        v.to_string()
            .contains("clientCert is not a PEM certificate: it holds no PEM block"),
        "{v:#}"
    );
    assert_eq!(code, Some(1), "ESO's status still says not Ready: {v:#}");

    let host = b.trust();
    for name in ["sa", "cert"] {
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
                outputs.push((format!("{args:?}"), b.run(&args)));
            }
        }
    }
    for verbose in [None, Some("-v")] {
        let mut args = vec!["doctor", "-n", "prod", "--trust-provider-host", &host];
        args.extend(verbose);
        outputs.push((format!("{args:?}"), b.run(&args)));
    }
    // The tokens the home cluster minted during these runs are only known now.
    let mut secrets = b.secrets.clone();
    let minted = b.home.api.issued_tokens();
    assert!(
        !minted.is_empty(),
        "the ServiceAccount store minted no token"
    );
    secrets.extend(minted);
    for (what, o) in &outputs {
        assert_no_secret_form(o, &secrets, what);
    }
}
