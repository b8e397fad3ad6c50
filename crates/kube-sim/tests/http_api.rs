//! Behaviour of the simulated apiserver that the recordings do not cover, checked over real HTTP(S)
//! with reqwest (no kube-rs involved): TLS and kubeconfig, status-subresource and generation rules,
//! optimistic concurrency, paging and compaction, watch semantics, fault injection, the ESO CRD
//! variants, CRDs created through the API, the events.k8s.io view, and the in-process Store API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_sim::{ApiServer, EsoCrds, EventKind, Fault, SimConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ES: &str = "/apis/external-secrets.io/v1/namespaces/prod/externalsecrets";

struct Sim {
    server: ApiServer,
    http: reqwest::Client,
}

async fn sim_with(tls: bool, eso_crds: EsoCrds) -> Sim {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start(SimConfig {
        tls,
        eso_crds,
        port: 0,
    })
    .await
    .expect("server starts");
    let http = match server.ca_pem() {
        Some(pem) => {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots
                    .add(cert.expect("CA PEM parses"))
                    .expect("CA accepted");
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            reqwest::Client::builder()
                .tls_backend_preconfigured(config)
                .build()
                .expect("client builds")
        }
        None => reqwest::Client::new(),
    };
    Sim { server, http }
}

async fn sim() -> Sim {
    let s = sim_with(false, EsoCrds::V1).await;
    let store = s.server.store();
    store
        .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}))
        .expect("namespace");
    s
}

fn es(name: &str) -> Value {
    json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
           "metadata": {"name": name, "namespace": "prod", "labels": {"app": name}},
           "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": "vault"},
                    "target": {"name": name}, "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]},
           "status": {"refreshTime": "2026-11-22T11:08:26Z"}})
}

impl Sim {
    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.server.url()))
            .bearer_auth(self.server.admin_token())
    }

    async fn send(
        &self,
        b: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let resp = b.send().await.expect("request sent");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.expect("body read");
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut b = self.req(method, path).header("accept", "application/json");
        if let Some(body) = body {
            b = b
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let (s, _, v) = self.send(b).await;
        (s, v)
    }

    async fn patch(&self, path: &str, content_type: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self
            .send(
                self.req(Method::PATCH, path)
                    .header("content-type", content_type)
                    .body(body.to_string()),
            )
            .await;
        (s, v)
    }

    /// Read a watch stream until it ends (or `max` passes), returning its lines.
    async fn watch(
        &self,
        path_and_query: &str,
        max: Duration,
        during: impl std::future::Future<Output = ()>,
    ) -> Vec<Value> {
        let mut resp = self
            .req(Method::GET, path_and_query)
            .send()
            .await
            .expect("watch starts");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let mut buf = Vec::new();
        let deadline = tokio::time::sleep(max);
        tokio::pin!(deadline, during);
        let mut during_done = false;
        loop {
            tokio::select! {
                c = resp.chunk() => match c {
                    Ok(Some(b)) => buf.extend_from_slice(&b),
                    _ => break,
                },
                _ = &mut during, if !during_done => during_done = true,
                _ = &mut deadline => break,
            }
        }
        String::from_utf8_lossy(&buf)
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }
}

fn types(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l["type"].as_str().unwrap_or(""))
        .collect()
}

#[tokio::test]
async fn https_with_generated_ca_and_a_kubeconfig_that_points_at_it() {
    let s = sim_with(true, EsoCrds::V1).await;
    assert!(s.server.url().starts_with("https://127.0.0.1:"));
    let (status, headers, body) = s.send(s.req(Method::GET, "/version")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["gitVersion"], "v1.32.13");
    assert!(headers.contains_key("audit-id"));
    assert_eq!(headers["cache-control"], "no-cache, private");
    let kc = s.server.kubeconfig(Some("prod"));
    assert!(kc.contains("certificate-authority-data: ") && kc.contains(&s.server.admin_token()));
    assert!(kc.contains("current-context: kube-sim") && kc.contains("namespace: \"prod\""));
    let other = s.server.kubeconfig_with_token("abc.def", None);
    assert!(other.contains("token: \"abc.def\"") && !other.contains("namespace:"));
    let unauth = s
        .http
        .get(format!("{}/api/v1/namespaces", s.server.url()))
        .bearer_auth("nope")
        .send()
        .await
        .expect("sent");
    assert_eq!(unauth.status(), StatusCode::UNAUTHORIZED);
    assert!(!unauth.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn status_subresource_rules_and_generation() {
    let s = sim().await;
    let (code, created) = s.json(Method::POST, ES, Some(es("a"))).await;
    assert_eq!(code, StatusCode::CREATED);
    assert!(
        created.get("status").is_none(),
        "status is dropped on create: {created}"
    );
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(
        created["spec"]["target"]["creationPolicy"], "Owner",
        "CRD defaults materialised"
    );
    let rv1: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .expect("rv");

    let (code, after_status) = s
        .patch(
            &format!("{ES}/a/status"),
            "application/merge-patch+json",
            json!({"status": {"refreshTime": "x"}, "spec": {"refreshInterval": "5m"}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(after_status["status"]["refreshTime"], "x");
    assert_eq!(
        after_status["spec"]["refreshInterval"], "1h",
        "spec changes on /status are ignored"
    );
    assert_eq!(after_status["metadata"]["generation"], 1);
    let rv2: u64 = after_status["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .expect("rv");
    assert!(rv2 > rv1, "a status write bumps resourceVersion");

    let mut put = after_status.clone();
    put["spec"]["refreshInterval"] = json!("10m");
    put["status"]["refreshTime"] = json!("ignored");
    let (code, replaced) = s.json(Method::PUT, &format!("{ES}/a"), Some(put)).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        replaced["metadata"]["generation"], 2,
        "spec change bumps generation"
    );
    assert_eq!(
        replaced["status"]["refreshTime"], "x",
        "status changes on the main resource are ignored"
    );

    let (code, annotated) = s
        .patch(
            &format!("{ES}/a"),
            "application/merge-patch+json",
            json!({"metadata": {"annotations": {"force-sync": "1"}}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        annotated["metadata"]["generation"], 2,
        "metadata changes keep generation"
    );
    assert!(
        annotated["metadata"]["managedFields"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    );

    let mut stale = after_status;
    stale["metadata"]["labels"]["x"] = json!("y");
    let (code, conflict) = s.json(Method::PUT, &format!("{ES}/a"), Some(stale)).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(conflict["reason"], "Conflict");
    assert_eq!(
        conflict["message"],
        "Operation cannot be fulfilled on externalsecrets.external-secrets.io \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );
}

#[tokio::test]
async fn json_patch_strategic_merge_and_server_side_apply() {
    let s = sim().await;
    let store = s.server.store();
    store
        .create(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "prod"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}))
        .expect("deployment");
    let path = "/apis/apps/v1/namespaces/prod/deployments/d";
    let (code, d) = s
        .patch(&format!("{path}?fieldManager=kubectl-rollout"), "application/strategic-merge-patch+json",
            json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
                                         "spec": {"containers": [{"name": "c", "image": "i:2"}]}}}}))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"],
        json!([{"name": "c", "image": "i:2"}])
    );
    assert_eq!(d["metadata"]["generation"], 2);
    assert!(
        d["metadata"]["managedFields"]
            .as_array()
            .is_some_and(|m| m.iter().any(|e| e["manager"] == "kubectl-rollout"))
    );

    let (code, d) = s
        .patch(
            path,
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(d["spec"]["replicas"], 3);
    let (code, err) = s
        .patch(
            path,
            "application/json-patch+json",
            json!([{"op": "remove", "path": "/nope/x"}]),
        )
        .await;
    assert_eq!(code.as_u16(), 422, "{err}");

    s.json(Method::POST, ES, Some(es("b"))).await;
    let (code, _) = s
        .patch(
            &format!("{ES}/b"),
            "application/strategic-merge-patch+json",
            json!({"metadata": {}}),
        )
        .await;
    assert_eq!(
        code,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "custom resources do not take strategic merge patches"
    );
    let (code, applied) = s
        .patch(&format!("{ES}/b?fieldManager=kubectl-eso&force=true"), "application/apply-patch+yaml",
            json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "b", "annotations": {"force-sync": "9"}}}))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(applied["metadata"]["annotations"]["force-sync"], "9");
    let apply_entry = applied["metadata"]["managedFields"]
        .as_array()
        .and_then(|m| m.iter().find(|e| e["operation"] == "Apply").cloned());
    assert_eq!(
        apply_entry.map(|e| e["manager"].clone()),
        Some(json!("kubectl-eso"))
    );
}

/// (name, resourceVersion) of every item of every page of a LIST, following `continue`.
async fn all_pages(s: &Sim, first: &str, limit: usize) -> (Vec<(String, String)>, Vec<String>) {
    let (mut items, mut rvs) = (vec![], vec![]);
    let mut url = format!("{first}?limit={limit}");
    loop {
        let (code, page) = s.json(Method::GET, &url, None).await;
        assert_eq!(code, StatusCode::OK, "{page}");
        rvs.push(
            page["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
        for i in page["items"].as_array().into_iter().flatten() {
            let m = &i["metadata"];
            items.push((
                format!(
                    "{}/{}",
                    m["namespace"].as_str().unwrap_or(""),
                    m["name"].as_str().unwrap_or("")
                ),
                m["resourceVersion"].as_str().unwrap_or("").to_string(),
            ));
        }
        match page["metadata"]["continue"].as_str() {
            Some(t) if !t.is_empty() => url = format!("{first}?limit={limit}&continue={t}"),
            _ => return (items, rvs),
        }
    }
}

/// Issue 16: `resourceVersion=0` is answered from the watch cache, which ignores `limit`: one
/// answer with every object and no `continue`, where the same LIST without it is paged.
#[tokio::test]
async fn list_at_resource_version_zero_ignores_the_limit() {
    let s = sim().await;
    let store = s.server.store();
    for i in 0..7 {
        store
            .create(json!({"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": format!("s{i}"), "namespace": "a"}}))
            .expect("secret");
    }
    let (code, cached) = s
        .json(
            Method::GET,
            "/api/v1/namespaces/a/secrets?limit=2&resourceVersion=0",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{cached}");
    assert_eq!(cached["items"].as_array().map(Vec::len), Some(7));
    assert!(
        cached["metadata"]["continue"]
            .as_str()
            .is_none_or(str::is_empty),
        "{cached}"
    );
    assert!(cached["metadata"].get("remainingItemCount").is_none());
    let (code, paged) = s
        .json(Method::GET, "/api/v1/namespaces/a/secrets?limit=2", None)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(paged["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(paged["metadata"]["remainingItemCount"], json!(5));
}

/// Issue 16: pages after the first are served from the first page's resourceVersion by overlaying
/// the changes made since on the current index (not by rebuilding the type): creations, updates
/// and deletions before and after the cursor, in and out of the listed namespace, must all be
/// invisible, and the items must be exactly those of a LIST taken at that resourceVersion. Every
/// page's remainingItemCount is what is left of that LIST (known from where the previous page
/// ended, or counted for a continue token no page ended with).
#[tokio::test]
async fn later_pages_show_the_first_pages_revision_whatever_changed_since() {
    let s = sim().await;
    let store = s.server.store();
    let secret = |ns: &str, name: &str, v: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns, "labels": {"v": v}}});
    for ns in ["a", "b", "c"] {
        for i in 0..10 {
            store
                .create(secret(ns, &format!("s{i}"), "1"))
                .expect("secret");
        }
    }
    let (before, _) = all_pages(&s, "/api/v1/secrets", 1000).await;
    let (before_b, _) = all_pages(&s, "/api/v1/namespaces/b/secrets", 1000).await;
    // The first page of each LIST, then changes everywhere, then the remaining pages.
    let (code, first) = s.json(Method::GET, "/api/v1/secrets?limit=12", None).await;
    assert_eq!(code, StatusCode::OK);
    let (_, first_b) = s
        .json(Method::GET, "/api/v1/namespaces/b/secrets?limit=3", None)
        .await;
    store
        .apply(secret("a", "s1", "2"))
        .expect("update before the cursor");
    store
        .apply(secret("b", "s5", "2"))
        .expect("update after the cursor");
    store
        .apply(secret("b", "s5", "3"))
        .expect("second update of the same key");
    store
        .delete("v1", "Secret", Some("c"), "s7")
        .expect("delete after the cursor");
    store
        .delete("v1", "Secret", Some("a"), "s0")
        .expect("delete before the cursor");
    store
        .create(secret("b", "s55", "1"))
        .expect("create after the cursor");
    store
        .create(secret("a", "s00", "1"))
        .expect("create before the cursor");
    store
        .create(secret("d", "s0", "1"))
        .expect("create in a new namespace");
    store
        .delete("v1", "Secret", Some("c"), "s7")
        .expect_err("already gone");
    store
        .create(secret("c", "s7", "9"))
        .expect("re-create a deleted key");

    let rest = |page: &Value, path: &str| {
        let token = page["metadata"]["continue"]
            .as_str()
            .unwrap_or("")
            .to_string();
        format!("{path}?limit=5&continue={token}")
    };
    let mut seen: Vec<(String, String)> = vec![];
    let mut collect = |page: &Value| {
        for i in page["items"].as_array().into_iter().flatten() {
            let m = &i["metadata"];
            seen.push((
                format!(
                    "{}/{}",
                    m["namespace"].as_str().unwrap_or(""),
                    m["name"].as_str().unwrap_or("")
                ),
                m["resourceVersion"].as_str().unwrap_or("").to_string(),
            ));
        }
    };
    collect(&first);
    // remainingItemCount: what is left of the LIST at the first page's revision.
    let remaining = |page: &Value| page["metadata"]["remainingItemCount"].as_u64();
    assert_eq!(remaining(&first), Some(before.len() as u64 - 12));
    let mut url = rest(&first, "/api/v1/secrets");
    let mut served = 12;
    loop {
        let (code, page) = s.json(Method::GET, &url, None).await;
        assert_eq!(code, StatusCode::OK, "{page}");
        assert_eq!(
            page["metadata"]["resourceVersion"],
            first["metadata"]["resourceVersion"]
        );
        collect(&page);
        served += page["items"].as_array().map_or(0, Vec::len);
        if page["metadata"]["continue"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            assert_eq!(remaining(&page), None);
            break;
        }
        assert_eq!(
            remaining(&page),
            Some((before.len() - served) as u64),
            "{url}"
        );
        url = rest(&page, "/api/v1/secrets");
    }
    assert_eq!(
        seen, before,
        "all namespaces, at the first page's resourceVersion"
    );

    let mut seen_b: Vec<(String, String)> = vec![];
    let mut collect_b = |page: &Value| {
        for i in page["items"].as_array().into_iter().flatten() {
            let m = &i["metadata"];
            seen_b.push((
                format!(
                    "{}/{}",
                    m["namespace"].as_str().unwrap_or(""),
                    m["name"].as_str().unwrap_or("")
                ),
                m["resourceVersion"].as_str().unwrap_or("").to_string(),
            ));
        }
    };
    collect_b(&first_b);
    assert_eq!(remaining(&first_b), Some(before_b.len() as u64 - 3));
    let mut url = rest(&first_b, "/api/v1/namespaces/b/secrets");
    let mut served = 3;
    loop {
        let (_, page) = s.json(Method::GET, &url, None).await;
        collect_b(&page);
        served += page["items"].as_array().map_or(0, Vec::len);
        if page["metadata"]["continue"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            break;
        }
        assert_eq!(remaining(&page), Some((before_b.len() - served) as u64));
        url = rest(&page, "/api/v1/namespaces/b/secrets");
    }
    assert_eq!(
        seen_b, before_b,
        "one namespace, at the first page's resourceVersion"
    );

    // A continue token that no page ended with (the server counts instead of remembering).
    use base64::Engine as _;
    let rv: u64 = first["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("resourceVersion");
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{{\"v\":\"meta.k8s.io/v1\",\"rv\":{rv},\"start\":\"b/s3\\u0000\"}}"
    ));
    let (code, page) = s
        .json(
            Method::GET,
            &format!("/api/v1/secrets?limit=2&continue={token}"),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{page}");
    let after = before
        .iter()
        .position(|(k, _)| k == "b/s3")
        .expect("b/s3 listed");
    let names: Vec<&str> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["s4", "s5"]);
    assert_eq!(remaining(&page), Some((before.len() - after - 3) as u64));

    let (now, _) = all_pages(&s, "/api/v1/secrets", 4).await;
    assert_ne!(now, before, "a fresh LIST sees the changes");
    assert!(now.iter().any(|(k, _)| k == "b/s55") && !now.iter().any(|(k, _)| k == "a/s0"));
}

#[tokio::test]
async fn paging_is_a_consistent_snapshot_and_expires_after_compaction() {
    let s = sim().await;
    let store = s.server.store();
    for i in 0..5 {
        store.create(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("s{i}"), "namespace": "prod"}})).expect("secret");
    }
    let (_, page1) = s
        .json(Method::GET, "/api/v1/namespaces/prod/secrets?limit=2", None)
        .await;
    assert_eq!(page1["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page1["metadata"]["remainingItemCount"], 3);
    let token = page1["metadata"]["continue"]
        .as_str()
        .expect("continue token")
        .to_string();
    store
        .delete("v1", "Secret", Some("prod"), "s3")
        .expect("deleted mid-list");
    let (_, page2) = s
        .json(
            Method::GET,
            &format!("/api/v1/namespaces/prod/secrets?limit=10&continue={token}"),
            None,
        )
        .await;
    let names: Vec<&str> = page2["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, vec!["s2", "s3", "s4"], "the snapshot still holds s3");
    assert_eq!(
        page2["metadata"]["resourceVersion"],
        page1["metadata"]["resourceVersion"]
    );
    assert!(
        page2["metadata"].get("continue").is_none(),
        "built-in lists omit an empty continue"
    );

    store.compact();
    let (code, expired) = s
        .json(
            Method::GET,
            &format!("/api/v1/namespaces/prod/secrets?limit=2&continue={token}"),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::GONE);
    assert_eq!(expired["reason"], "Expired");
    let fresh = expired["metadata"]["continue"]
        .as_str()
        .expect("a fresh token");
    let (code, rest) = s
        .json(
            Method::GET,
            &format!("/api/v1/namespaces/prod/secrets?continue={fresh}"),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        rest["items"].as_array().map(Vec::len),
        Some(2),
        "inconsistent continuation: s2, s4"
    );

    let (code, bad) = s
        .json(
            Method::GET,
            "/api/v1/namespaces/prod/secrets?labelSelector=a%20b%20c",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}");
    let (code, _) = s
        .json(
            Method::GET,
            "/api/v1/namespaces/prod/secrets?fieldSelector=type%3DOpaque",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn watch_from_zero_with_bookmarks_ends_initial_events() {
    let s = sim().await;
    for n in ["a", "b"] {
        s.server.store().create(es(n)).expect("es");
    }
    let lines = s
        .watch(
            &format!("{ES}?watch=1&resourceVersion=0&allowWatchBookmarks=true&timeoutSeconds=1"),
            Duration::from_secs(5),
            async {},
        )
        .await;
    assert_eq!(types(&lines), vec!["ADDED", "ADDED", "BOOKMARK"]);
    assert_eq!(
        lines[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(lines[0]["object"]["kind"], "ExternalSecret");
}

#[tokio::test]
async fn watch_follows_selectors_resumes_and_expires() {
    let s = sim().await;
    let store = s.server.store();
    store.create(es("a")).expect("es");
    let rv = store.resource_version();
    let st = store.clone();
    let lines = s
        .watch(
            &format!("{ES}?watch=true&labelSelector=app%3Da&resourceVersion={rv}&timeoutSeconds=2"),
            Duration::from_secs(6),
            async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let mut obj = st
                    .get(
                        "external-secrets.io/v1",
                        "ExternalSecret",
                        Some("prod"),
                        "a",
                    )
                    .expect("exists");
                obj["metadata"]["labels"]["app"] = json!("other");
                st.replace(obj).expect("relabelled");
                st.create(es("c")).expect("unrelated create");
            },
        )
        .await;
    assert_eq!(
        types(&lines),
        vec!["DELETED"],
        "leaving the selector is a DELETED: {lines:?}"
    );

    let started = Instant::now();
    let backlog = s
        .watch(
            &format!("{ES}?watch=1&resourceVersion={rv}&timeoutSeconds=1"),
            Duration::from_secs(5),
            async {},
        )
        .await;
    assert_eq!(
        types(&backlog),
        vec!["MODIFIED", "ADDED"],
        "resuming replays the history"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "timeoutSeconds ends the stream, not earlier"
    );

    store.compact();
    let expired = s
        .watch(
            &format!("{ES}?watch=1&resourceVersion={rv}"),
            Duration::from_secs(5),
            async {},
        )
        .await;
    assert_eq!(types(&expired), vec!["ERROR"]);
    assert_eq!(expired[0]["object"]["code"], 410);
    assert!(
        expired[0]["object"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(&format!("too old resource version: {rv} (")))
    );
}

#[tokio::test]
async fn faults_are_injected_per_resource() {
    let s = sim().await;
    let faults = s.server.faults();
    faults.set(
        "secrets",
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
    );
    let (code, headers, body) = s
        .send(s.req(Method::GET, "/api/v1/namespaces/prod/secrets"))
        .await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(body["reason"], "TooManyRequests");
    let (code, _) = s
        .json(Method::GET, "/api/v1/namespaces/prod/configmaps", None)
        .await;
    assert_eq!(code, StatusCode::OK, "other resources are unaffected");
    faults.clear();
    faults.set("externalsecrets", Fault::InternalError);
    let (code, body) = s.json(Method::GET, ES, None).await;
    assert_eq!(
        (code, body["reason"].clone()),
        (StatusCode::INTERNAL_SERVER_ERROR, json!("InternalError"))
    );
    faults.clear();
    faults.set("secrets", Fault::Latency(Duration::from_millis(300)));
    let started = Instant::now();
    let (code, _) = s
        .json(Method::GET, "/api/v1/namespaces/prod/secrets", None)
        .await;
    assert!(code == StatusCode::OK && started.elapsed() >= Duration::from_millis(300));
    faults.clear();
    faults.set("externalsecrets", Fault::DropWatchAfter(1));
    let store = s.server.store();
    let lines = s
        .watch(
            &format!("{ES}?watch=1&timeoutSeconds=30"),
            Duration::from_secs(10),
            async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                store.create(es("x")).expect("first");
                store.create(es("y")).expect("second");
            },
        )
        .await;
    assert_eq!(
        types(&lines),
        vec!["ADDED"],
        "the watch drops after one event"
    );
}

#[tokio::test]
async fn eso_crd_variants() {
    let beta = sim_with(false, EsoCrds::V1beta1Only).await;
    let (code, _) = beta
        .json(
            Method::GET,
            "/apis/external-secrets.io/v1beta1/externalsecrets",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = beta
        .json(
            Method::GET,
            "/apis/external-secrets.io/v1/externalsecrets",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (_, group) = beta
        .json(Method::GET, "/apis/external-secrets.io", None)
        .await;
    assert_eq!(group["preferredVersion"]["version"], "v1beta1");

    let none = sim_with(false, EsoCrds::None).await;
    let (_, groups) = none.json(Method::GET, "/apis", None).await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(!names.contains(&"external-secrets.io") && names.contains(&"apps"));
}

#[tokio::test]
async fn crds_created_through_the_api_are_served() {
    let s = sim().await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.io"},
        "spec": {"group": "example.io", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
                                   "properties": {"color": {"type": "string", "enum": ["red", "blue"], "default": "red"}}}}}},
                               "additionalPrinterColumns": [{"name": "Color", "type": "string", "jsonPath": ".spec.color"}]}]}});
    let (code, created) = s
        .json(
            Method::POST,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            Some(crd),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert!(
        created["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Established"))
    );
    let path = "/apis/example.io/v1/namespaces/prod/widgets";
    let (code, w) = s.json(Method::POST, path, Some(json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}))).await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(w["spec"]["color"], "red");
    let (code, bad) = s.json(Method::POST, path, Some(json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "v"}, "spec": {"color": "green"}}))).await;
    assert_eq!(code.as_u16(), 422);
    assert_eq!(
        bad["message"],
        "Widget.example.io \"v\" is invalid: spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\""
    );
    let table_accept = "application/json;as=Table;g=meta.k8s.io;v=v1,application/json";
    let (_, _, table) = s
        .send(s.req(Method::GET, path).header("accept", table_accept))
        .await;
    assert_eq!(table["rows"][0]["cells"], json!(["w", "red"]));
    let (code, _) = s
        .json(
            Method::DELETE,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.io",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = s.json(Method::GET, path, None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn events_k8s_io_is_a_view_of_core_events() {
    let s = sim().await;
    s.server
        .store()
        .create(json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": "prod"},
            "involvedObject": {"kind": "ExternalSecret", "name": "a", "namespace": "prod", "uid": "u-1"},
            "reason": "UpdateFailed", "message": "could not get secret data from provider", "type": "Warning",
            "source": {"component": "external-secrets"}, "count": 3}))
        .expect("event");
    let (code, list) = s
        .json(
            Method::GET,
            "/apis/events.k8s.io/v1/namespaces/prod/events?fieldSelector=regarding.uid%3Du-1",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let item = &list["items"][0];
    assert_eq!(item["regarding"]["uid"], "u-1");
    assert_eq!(item["note"], "could not get secret data from provider");
    assert_eq!(item["deprecatedCount"], 3);
    assert!(item.get("involvedObject").is_none());
    let (_, core) = s
        .json(
            Method::GET,
            "/api/v1/namespaces/prod/events?fieldSelector=involvedObject.uid%3Du-2",
            None,
        )
        .await;
    assert_eq!(core["items"], json!([]));
    let (code, err) = s
        .json(
            Method::GET,
            "/api/v1/namespaces/prod/events?fieldSelector=regarding.uid%3Du-1",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "field label not supported: regarding.uid");

    let store = s.server.store();
    let created = store
        .create(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2", "namespace": "prod"},
            "regarding": {"uid": "u-2"}, "note": "n", "reason": "R", "type": "Normal"}))
        .expect("created through the new API");
    assert_eq!(created["regarding"]["uid"], "u-2");
    let core = store
        .get("v1", "Event", Some("prod"), "e2")
        .expect("stored as a core event");
    assert_eq!(core["involvedObject"]["uid"], "u-2");
    assert_eq!(
        store.list("events.k8s.io/v1", "Event", Some("prod")).len(),
        2
    );
}

#[tokio::test]
async fn in_process_store_keeps_the_http_semantics() {
    let s = sim().await;
    let store = s.server.store();
    let mut events = store.subscribe();
    let created = store.create(es("a")).expect("created");
    assert_eq!(
        created["status"]["refreshTime"], "2026-11-22T11:08:26Z",
        "in-process create keeps a given status"
    );
    let e = events.recv().await.expect("event");
    assert_eq!(
        (e.kind, e.object_kind.as_str()),
        (EventKind::Added, "ExternalSecret")
    );
    assert!(store.create(es("a")).is_err_and(|e| e.is_already_exists()));

    let mut stale = created.clone();
    let mut changed = created.clone();
    changed["spec"]["refreshInterval"] = json!("2h");
    changed["status"] = json!({"refreshTime": "ignored"});
    let replaced = store.replace(changed).expect("replaced");
    assert_eq!(replaced["metadata"]["generation"], 2);
    assert_eq!(replaced["status"]["refreshTime"], "2026-11-22T11:08:26Z");
    stale["spec"]["refreshInterval"] = json!("3h");
    assert!(store.replace(stale).is_err_and(|e| e.is_conflict()));

    let mut status = replaced.clone();
    status["status"] = json!({"refreshTime": "new"});
    status["spec"]["refreshInterval"] = json!("9h");
    let after = store.replace_status(status).expect("status");
    assert_eq!(
        (
            after["status"]["refreshTime"].clone(),
            after["spec"]["refreshInterval"].clone()
        ),
        (json!("new"), json!("2h"))
    );

    let mut applied = es("a");
    applied["spec"]["refreshInterval"] = json!("4h");
    if let Some(m) = applied.as_object_mut() {
        m.remove("status");
    }
    let applied = store.apply(applied).expect("apply");
    assert_eq!(
        (
            applied["spec"]["refreshInterval"].clone(),
            applied["status"]["refreshTime"].clone()
        ),
        (json!("4h"), json!("new"))
    );

    let token = store.issue_token("prod", "missing", &[], 600);
    assert!(token.is_err_and(|e| e.is_not_found()));
    store
        .delete("v1", "Namespace", None, "prod")
        .expect("namespace deleted");
    assert!(
        store
            .list("external-secrets.io/v1", "ExternalSecret", Some("prod"))
            .is_empty(),
        "namespace deletion takes its contents"
    );
    assert!(
        store
            .get(
                "external-secrets.io/v1",
                "ExternalSecret",
                Some("prod"),
                "a"
            )
            .is_none()
    );
}

#[tokio::test]
async fn bad_input_is_a_clear_error_that_never_echoes_the_body() {
    let s = sim().await;
    let canary = "canary-not-a-real-password";
    let body = format!(
        "{{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {{\"name\": \"x\"}}, \"stringData\": {{\"p\": \"{canary}\""
    );
    let (code, _, err) = s
        .send(
            s.req(Method::POST, "/api/v1/namespaces/prod/secrets")
                .header("content-type", "application/json")
                .body(body.clone()),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(!err.to_string().contains(canary), "{err}");
    let (code, _, err) = s
        .send(
            s.req(Method::PATCH, &format!("{ES}/x?fieldManager=t"))
                .header("content-type", "application/apply-patch+yaml")
                .body(format!("password: [{canary}")),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(!err.to_string().contains(canary), "{err}");
    let (code, _) = s
        .patch(
            &format!("{ES}/x?fieldManager=t"),
            "application/apply-patch+yaml",
            json!([1, 2]),
        )
        .await;
    assert!(
        code.is_client_error(),
        "a non-object apply body is refused, not a crash: {code}"
    );
    let watch = s
        .req(
            Method::GET,
            &format!("{ES}?watch=1&timeoutSeconds=18446744073709551615&resourceVersion=999999999"),
        )
        .send()
        .await
        .expect("watch answered");
    let code = watch.status();
    drop(watch);
    assert_eq!(code, StatusCode::OK, "an absurd timeout is capped");
    let (code, v) = s.json(Method::GET, "/version", None).await;
    assert_eq!(
        (code, v["major"].clone()),
        (StatusCode::OK, json!("1")),
        "the server is still up"
    );
}

/// SubjectAccessReview (what Vault-style reviewers and `kubectl auth can-i --as` rely on) is answered by the
/// same RBAC authorizer as real requests, and a review that names neither resource nor non-resource attributes
/// is refused rather than read as a request for `/api`.
#[tokio::test]
async fn subject_access_review_uses_rbac_and_refuses_an_empty_spec() {
    let s = sim().await;
    let store = s.server.store();
    for obj in [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "es-reader", "namespace": "prod"},
               "rules": [{"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets"], "verbs": ["get", "list"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "es-reader", "namespace": "prod"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "es-reader"},
               "subjects": [{"kind": "User", "name": "alice"}]}),
    ] {
        store.create(obj).expect("rbac object");
    }
    let review = |resource: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
               "spec": {"user": "alice", "groups": ["system:authenticated"],
                        "resourceAttributes": {"namespace": "prod", "verb": "list", "group": if resource == "secrets" { "" } else { "external-secrets.io" }, "resource": resource}}})
    };
    let path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let (status, _, body) = s
        .send(s.req(Method::POST, path).json(&review("externalsecrets")))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"]["allowed"], true, "{body}");
    let (_, _, body) = s
        .send(s.req(Method::POST, path).json(&review("secrets")))
        .await;
    assert_eq!(body["status"]["allowed"], false, "{body}");
    let empty = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                       "spec": {"user": "admin", "groups": ["system:masters"]}});
    let (_, _, body) = s.send(s.req(Method::POST, path).json(&empty)).await;
    assert_eq!(body["status"]["allowed"], false, "{body}");
    assert!(body["status"]["evaluationError"].is_string(), "{body}");
}
