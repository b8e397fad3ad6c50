//! Contract test: replay the real kube-apiserver 1.32 traffic in `tests/k8s-recordings/` (copied
//! into the repository from the project's reference data, see its PROVENANCE.md) against the
//! simulation and compare status code, content type, response shape (field names recursively, kinds,
//! Status reason/code/message) and values with what the real server answered. This is what keeps
//! the simulation honest: every other test in the project trusts it.
//!
//! The setup state is rebuilt from the recorded objects themselves (README "How they were made"), keeping
//! their uids so recorded field selectors on `involvedObject.uid` still match. Values compared (issue
//! 19): which objects a list, selector, field query, page, table or watch returns, in order; the
//! user-visible values of every returned object (`VALUE_PATHS`: names, labels, annotations, spec,
//! status, data...); the verdicts of access and token reviews; and the discovery documents' groups
//! and resources, where only the ones named in `NOT_SIMULATED` may be missing. Values that differ by
//! nature (uids of objects the test creates, timestamps, resourceVersions, tokens) are not compared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube_sim::{ApiServer, EsoCrds, SimConfig, Store};
use serde_json::{Value, json};

/// Recordings not replayed, and why.
const OUT_OF_SCOPE: &[(&str, &str)] = &[(
    "26",
    "etcd 3.4 artefact (RequestWatchProgress missing): the simulation answers like etcd 3.5 instead — ADDED events then a \
     BOOKMARK with k8s.io/initial-events-end, see tests/http_api.rs watch_from_zero_with_bookmarks_ends_initial_events",
)];

/// Recordings replayed, but compared loosely, and why.
const RELAXED: &[(&str, &str)] = &[
    (
        "03",
        "the real server has 21 API groups; only the groups the simulation serves are compared",
    ),
    ("04", "as 03, for aggregated discovery"),
    (
        "06",
        "the real core group has more resources (bindings, endpoints, ...); only shared ones are compared",
    ),
    (
        "54",
        "the recorder trimmed this CRD to a few fields: only the recorded fields are compared",
    ),
    (
        "49",
        "Pods come from the simulated controller-manager, without the scheduler/admission defaulting of a real cluster; only the list envelope and kinds are compared",
    ),
];

thread_local! {
    /// Set while comparing a recording the recorder trimmed: served extra fields are then fine.
    static TRIMMED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Keys whose values are maps of user data (not schema): their keys are not compared.
const DATA_MAPS: &[&str] = &[
    "labels",
    "annotations",
    "data",
    "stringData",
    "binaryData",
    "matchLabels",
    "extra",
    "nodeSelector",
];

/// API groups (in `/apis`) and core resources (in `/api/v1`) the real server has and the simulation
/// does not serve: any other recorded one missing from the simulation's discovery fails the test.
const NOT_SIMULATED: &[&str] = &[
    // API groups: none of them is read by the tool, ESO or the sandbox's controllers.
    "apiregistration.k8s.io",
    "autoscaling",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    // Core resources and subresources: nodes, storage, exec/attach/logs/proxy, quotas.
    "bindings",
    "componentstatuses",
    "endpoints",
    "limitranges",
    "namespaces/finalize",
    "nodes",
    "nodes/proxy",
    "nodes/status",
    "persistentvolumeclaims",
    "persistentvolumeclaims/status",
    "persistentvolumes",
    "persistentvolumes/status",
    "pods/attach",
    "pods/binding",
    "pods/ephemeralcontainers",
    "pods/eviction",
    "pods/exec",
    "pods/portforward",
    "pods/proxy",
    "podtemplates",
    "replicationcontrollers",
    "replicationcontrollers/scale",
    "replicationcontrollers/status",
    "resourcequotas",
    "resourcequotas/status",
    "services/proxy",
];

/// A value of one recording that the simulation cannot reproduce: (recording, pointer not compared,
/// pointers below it that still are, why).
type ValueException = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
);

const VALUE_EXCEPTIONS: &[ValueException] = &[(
    "48",
    "/status",
    &[
        "/status/replicas",
        "/status/updatedReplicas",
        "/status/observedGeneration",
    ],
    "a Deployment's status comes from the simulated controller-manager, whose ReplicaSet names do not \
     carry the real pod-template hash (the condition messages name them); the counts are compared",
)];

/// Per kind, the values compared between a recorded and a served object (JSON pointers; absent in
/// the recording means not compared). Kinds not listed are compared on shape only.
const VALUE_PATHS: &[(&str, &[&str])] = &[
    (
        "*object",
        &[
            "/metadata/name",
            "/metadata/namespace",
            "/metadata/labels",
            "/metadata/annotations",
            "/metadata/ownerReferences",
            "/spec",
            "/status",
            "/type",
            "/data",
        ],
    ),
    (
        "Event",
        &[
            "/metadata/name",
            "/metadata/namespace",
            "/involvedObject",
            "/regarding",
            "/reason",
            "/type",
            "/message",
            "/note",
        ],
    ),
    (
        "SelfSubjectAccessReview",
        &["/status/allowed", "/status/denied"],
    ),
    (
        "TokenReview",
        &[
            "/status/authenticated",
            "/status/user/username",
            "/status/user/groups",
            "/status/audiences",
            "/status/error",
        ],
    ),
    ("SelfSubjectRulesReview", &["/status/resourceRules"]),
];

/// Kinds whose values are not user data (compared on shape, codes and messages only).
const SHAPE_ONLY_KINDS: &[&str] = &[
    "Status",
    "TokenRequest",
    "CustomResourceDefinition",
    "APIResourceList",
    "APIGroupList",
    "APIGroupDiscoveryList",
    "APIVersions",
    "Table",
];

/// The recordings, in the repository: a fresh clone tests itself (issue 19).
fn recordings_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/k8s-recordings"));
    assert!(
        dir.join("README.md").exists(),
        "recordings not found at {}",
        dir.display()
    );
    dir
}

fn load(dir: &Path, prefix: &str) -> (String, Value) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("recordings dir readable")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{prefix}-")) && n.ends_with(".json"))
        .collect();
    entries.sort();
    let name = entries
        .first()
        .unwrap_or_else(|| panic!("no recording {prefix}"))
        .clone();
    let text = std::fs::read_to_string(dir.join(&name)).expect("recording readable");
    (
        name,
        serde_json::from_str(&text).expect("recording is JSON"),
    )
}

/// A recorded object turned into something to create: server-set bookkeeping dropped, uid kept.
fn seedable(mut obj: Value, api_version: &str, kind: &str) -> Value {
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["resourceVersion", "managedFields", "generation"] {
            meta.remove(k);
        }
    }
    obj
}

fn create(store: &Store, obj: Value) {
    let what = format!("{} {}", obj["kind"], obj["metadata"]["name"]);
    store
        .create(obj)
        .unwrap_or_else(|e| panic!("seeding {what}: {e}"));
}

/// The cluster state the recordings were taken against.
fn seed(store: &Store, dir: &Path) {
    for ns in ["netbox", "prod", "external-secrets"] {
        create(
            store,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        );
    }
    for (ns, name) in [
        ("external-secrets", "external-secrets"),
        ("prod", "readonly"),
    ] {
        create(
            store,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}),
        );
    }
    create(
        store,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "externalsecrets-reader", "namespace": "prod"},
        "rules": [{"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets"], "verbs": ["get", "list"]}]}),
    );
    create(
        store,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "readonly-externalsecrets-reader", "namespace": "prod"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "externalsecrets-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "readonly", "namespace": "prod"}]}),
    );
    create(
        store,
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "akv-sp-credentials", "namespace": "external-secrets"},
        "data": {"ClientID": "cGxhY2Vob2xkZXI=", "ClientSecret": "cGxhY2Vob2xkZXI="}}),
    );
    create(
        store,
        seedable(
            load(dir, "17").1["response"]["body"].clone(),
            "external-secrets.io/v1",
            "ClusterSecretStore",
        ),
    );
    create(
        store,
        seedable(
            load(dir, "55").1["response"]["body"].clone(),
            "external-secrets.io/v1",
            "SecretStore",
        ),
    );
    for item in load(dir, "07").1["response"]["body"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        create(
            store,
            seedable(item, "external-secrets.io/v1", "ExternalSecret"),
        );
    }
    create(
        store,
        seedable(
            load(dir, "32").1["response"]["body"].clone(),
            "v1",
            "Secret",
        ),
    );
    let regcred_meta = load(dir, "31").1["response"]["body"]["items"][0]["metadata"].clone();
    create(
        store,
        seedable(
            json!({"metadata": regcred_meta, "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "e30="}}),
            "v1",
            "Secret",
        ),
    );
    let mut deployment = seedable(
        load(dir, "48").1["response"]["body"].clone(),
        "apps/v1",
        "Deployment",
    );
    if let Some(a) = deployment
        .pointer_mut("/spec/template/metadata")
        .and_then(Value::as_object_mut)
    {
        a.remove("annotations");
    }
    create(store, deployment);
    create(
        store,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "netbox", "namespace": "netbox"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "netbox"}},
                 "template": {"metadata": {"labels": {"app": "netbox"}}, "spec": {"containers": [{"name": "netbox", "image": "netbox:4"}]}}}}),
    );
    create(
        store,
        seedable(
            load(dir, "45").1["response"]["body"]["items"][0].clone(),
            "v1",
            "Event",
        ),
    );
}

/// Shape differences between a recorded and a simulated body, as readable paths.
fn compare(path: &str, want: &Value, got: &Value, diffs: &mut Vec<String>, subset: bool) {
    let key = path.rsplit('.').next().unwrap_or("");
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            if DATA_MAPS.contains(&key) {
                return;
            }
            for (k, wv) in w {
                if k == "managedFields" {
                    continue;
                }
                match g.get(k) {
                    Some(gv) => compare(&format!("{path}.{k}"), wv, gv, diffs, subset),
                    None => diffs.push(format!("{path}.{k}: missing")),
                }
            }
            if !TRIMMED.with(|t| t.get()) {
                for k in g
                    .keys()
                    .filter(|k| !w.contains_key(*k) && *k != "managedFields")
                {
                    diffs.push(format!("{path}.{k}: not in the recording"));
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            let named = |v: &Value| {
                v.get("name")
                    .or_else(|| v.get("resource"))
                    .or_else(|| v.get("subresource"))
                    .or_else(|| v.pointer("/metadata/name"))
                    .or_else(|| v.get("version"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            if subset {
                let by_name: BTreeMap<String, &Value> =
                    g.iter().filter_map(|v| Some((named(v)?, v))).collect();
                if !by_name.is_empty() {
                    for wv in w {
                        if let Some(gv) = named(wv).and_then(|n| by_name.get(&n)) {
                            compare(
                                &format!("{path}[{}]", named(wv).unwrap_or_default()),
                                wv,
                                gv,
                                diffs,
                                subset,
                            );
                        }
                    }
                    return;
                }
            }
            if w.len() != g.len() && !DATA_MAPS.contains(&key) {
                diffs.push(format!(
                    "{path}: {} items recorded, {} served",
                    w.len(),
                    g.len()
                ));
            }
            for (i, (wv, gv)) in w.iter().zip(g.iter()).enumerate() {
                compare(&format!("{path}[{i}]"), wv, gv, diffs, subset);
            }
        }
        (Value::Null, Value::Null) => {}
        (w, g) if std::mem::discriminant(w) != std::mem::discriminant(g) => {
            diffs.push(format!("{path}: recorded {w}, served {g}"));
        }
        _ => {}
    }
}

/// What identifies a list item, table row or watch event: a selector, field query or page must
/// return the same ones, in the same order.
fn identity(v: &Value) -> String {
    let meta = |o: &Value| {
        let ns = o.pointer("/metadata/namespace").and_then(Value::as_str);
        let name = o.pointer("/metadata/name").and_then(Value::as_str);
        match (ns, name) {
            (Some(ns), Some(name)) => format!("{ns}/{name}"),
            (None, Some(name)) => name.to_string(),
            _ => String::new(),
        }
    };
    if let Some(kind) = v.get("type").and_then(Value::as_str)
        && let Some(object) = v.get("object")
    {
        return match kind {
            // A bookmark names no object; an ERROR event carries a Status.
            "BOOKMARK" => kind.to_string(),
            "ERROR" => format!("ERROR {}", object["code"]),
            _ => format!("{kind} {}", meta(object)),
        };
    }
    if let Some(cells) = v.get("cells").and_then(Value::as_array) {
        return cells.first().map(ToString::to_string).unwrap_or_default();
    }
    meta(v)
}

fn short(v: Option<&Value>) -> String {
    let text = v.map_or_else(|| "(absent)".to_string(), ToString::to_string);
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(160).collect::<String>())
    } else {
        text
    }
}

/// Value differences between a recorded and a served body (see the module comment).
fn compare_values(path: &str, want: &Value, got: &Value, diffs: &mut Vec<String>) {
    let kind = want.get("kind").and_then(Value::as_str).unwrap_or("");
    if SHAPE_ONLY_KINDS.contains(&kind) {
        // Tables: which rows (the name cell), not their cells' ages.
        if let (Some(w), Some(g)) = (want["rows"].as_array(), got["rows"].as_array()) {
            compare_identities(&format!("{path}.rows"), w, g, diffs);
        }
        return;
    }
    let list = ["items", "events"]
        .into_iter()
        .find_map(|k| Some((k, want.get(k)?.as_array()?, got.get(k)?.as_array()?)));
    if let Some((key, w, g)) = list {
        if compare_identities(&format!("{path}.{key}"), w, g, diffs) {
            for (wv, gv) in w.iter().zip(g) {
                let item = wv.get("object").unwrap_or(wv);
                let served = gv.get("object").unwrap_or(gv);
                compare_values(
                    &format!("{path}.{key}[{}]", identity(wv)),
                    item,
                    served,
                    diffs,
                );
            }
        }
        return;
    }
    let paths = VALUE_PATHS
        .iter()
        .find(|(k, _)| *k == kind)
        .or_else(|| {
            // Stored objects: anything with metadata.name that is not a review.
            (want.pointer("/metadata/name").is_some() && !kind.ends_with("Review"))
                .then(|| &VALUE_PATHS[0])
        })
        .map_or(&[][..], |(_, p)| *p);
    let exceptions: Vec<&ValueException> = VALUE_EXCEPTIONS
        .iter()
        .filter(|(id, _, _, _)| path == format!("{id}:"))
        .collect();
    let skipped = |p: &&str| exceptions.iter().any(|(_, skip, _, _)| skip == p);
    let still = exceptions
        .iter()
        .flat_map(|(_, _, still, _)| still.iter().copied());
    for p in paths.iter().copied().filter(|p| !skipped(p)).chain(still) {
        let w = want.pointer(p);
        if w.is_some() && w != got.pointer(p) {
            diffs.push(format!(
                "{path}{p}: recorded {}, served {}",
                short(w),
                short(got.pointer(p))
            ));
        }
    }
}

/// Same objects in the same order? Reports the difference and returns false when not.
fn compare_identities(path: &str, want: &[Value], got: &[Value], diffs: &mut Vec<String>) -> bool {
    let w: Vec<String> = want.iter().map(identity).collect();
    let g: Vec<String> = got.iter().map(identity).collect();
    if w != g {
        diffs.push(format!("{path}: recorded {w:?}, served {g:?}"));
        return false;
    }
    true
}

/// Discovery: every recorded group (03, 04) or core resource (06) must be served, unless it is named
/// in `NOT_SIMULATED`; the simulation must not serve one the real server does not have.
fn compare_discovery(want: &Value, got: &Value, diffs: &mut Vec<String>) {
    let names = |v: &Value| -> Vec<String> {
        ["groups", "items", "resources"]
            .into_iter()
            .filter_map(|k| v.get(k)?.as_array())
            .flatten()
            .filter_map(|e| {
                e.get("name")
                    .or_else(|| e.pointer("/metadata/name"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    };
    let (w, g) = (names(want), names(got));
    for name in &w {
        if !g.contains(name) && !NOT_SIMULATED.contains(&name.as_str()) {
            diffs.push(format!("{name}: recorded, not served by the simulation"));
        }
    }
    for name in &g {
        if !w.contains(name) {
            diffs.push(format!(
                "{name}: served, but the real server does not have it"
            ));
        }
        if NOT_SIMULATED.contains(&name.as_str()) {
            diffs.push(format!("{name}: served now; remove it from NOT_SIMULATED"));
        }
    }
}

fn normalise_message(m: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in m.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

/// The checks every replayed response gets beyond the recursive shape.
fn check_top(name: &str, want: &Value, got: &Value, diffs: &mut Vec<String>) {
    for k in ["kind", "apiVersion", "status", "reason", "code"] {
        if want.get(k).is_some_and(|w| !w.is_object()) && want.get(k) != got.get(k) {
            diffs.push(format!(
                "{name}: {k} recorded {:?}, served {:?}",
                want.get(k),
                got.get(k)
            ));
        }
    }
    if want.get("kind") == Some(&json!("Status"))
        && let (Some(w), Some(g)) = (want["message"].as_str(), got["message"].as_str())
        && normalise_message(w) != normalise_message(g)
    {
        diffs.push(format!("{name}: message recorded {w:?}, served {g:?}"));
    }
}

struct Replay {
    server: ApiServer,
    http: reqwest::Client,
    readonly_token: String,
    vault_token: String,
    continue_13: Option<String>,
    failures: Vec<String>,
}

impl Replay {
    fn token_for(&self, name: &str) -> Option<String> {
        match name {
            n if n.starts_with("40-") || n.starts_with("41-") || n.starts_with("42-") => {
                Some(self.readonly_token.clone())
            }
            n if n.starts_with("51-") || n.starts_with("52-") || n.starts_with("53-") => {
                Some(self.readonly_token.clone())
            }
            n if n.starts_with("43-") => Some("this-is-not-a-valid-token".into()),
            n if n.starts_with("44-") => None,
            _ => Some(self.server.admin_token()),
        }
    }

    fn request(
        &self,
        name: &str,
        req: &Value,
        query_override: &BTreeMap<&str, String>,
    ) -> reqwest::RequestBuilder {
        let method =
            reqwest::Method::from_bytes(req["method"].as_str().unwrap_or("GET").as_bytes())
                .unwrap_or(reqwest::Method::GET);
        let mut query: Vec<(String, String)> = req["query"]
            .as_object()
            .map(|q| {
                q.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in query_override {
            query.retain(|(qk, _)| qk != k);
            query.push((k.to_string(), v.clone()));
        }
        let url = format!(
            "{}{}",
            self.server.url(),
            req["path"].as_str().unwrap_or("/")
        );
        let mut b = self.http.request(method, url).query(&query);
        for h in ["accept", "content-type"] {
            if let Some(v) = req["headers"][h].as_str() {
                b = b.header(h, v);
            }
        }
        b = b.header("user-agent", "curl/7.88.1");
        if let Some(t) = self.token_for(name) {
            b = b.bearer_auth(t);
        }
        if !req["body"].is_null() {
            let mut body = req["body"].clone();
            if body.pointer("/spec/token") == Some(&json!("<redacted-jwt>")) {
                body["spec"]["token"] = json!(if name.starts_with("39-") {
                    "this-is-not-a-valid-token".to_string()
                } else {
                    self.vault_token.clone()
                });
            }
            b = b.body(body.to_string());
        }
        b
    }

    fn check(
        &mut self,
        name: &str,
        rec: &Value,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &Value,
    ) {
        let mut diffs = vec![];
        let want_status = rec["response"]["status"].as_u64().unwrap_or(0);
        if u64::from(status) != want_status {
            diffs.push(format!("status recorded {want_status}, served {status}"));
        }
        for h in ["content-type", "warning", "retry-after"] {
            let want = rec["response"]["headers"][h].as_str();
            let got = headers.get(h).and_then(|v| v.to_str().ok());
            if want != got {
                diffs.push(format!("header {h}: recorded {want:?}, served {got:?}"));
            }
        }
        if headers.get("audit-id").is_none() {
            diffs.push("no audit-id header".into());
        }
        let want_body = &rec["response"]["body"];
        check_top(name, want_body, body, &mut diffs);
        let id = &name[..2];
        if ["03", "04", "06"].contains(&id) {
            compare_discovery(want_body, body, &mut diffs);
        } else if id != "49" && id != "54" {
            compare_values(&format!("{id}:"), want_body, body, &mut diffs);
        }
        match RELAXED.iter().find(|(n, _)| *n == id) {
            Some(("49", _)) => {
                let n = |v: &Value| v["items"].as_array().map_or(0, Vec::len);
                if n(body) < 1 || body["kind"] != want_body["kind"] {
                    diffs.push(format!("pods: {} items, kind {}", n(body), body["kind"]));
                }
            }
            Some(("54", _)) => {
                TRIMMED.with(|t| t.set(true));
                compare("", want_body, body, &mut diffs, false);
                TRIMMED.with(|t| t.set(false));
            }
            Some(_) => compare("", want_body, body, &mut diffs, true),
            None => compare("", want_body, body, &mut diffs, false),
        }
        if !diffs.is_empty() {
            self.failures
                .push(format!("{name}:\n    {}", diffs.join("\n    ")));
        }
    }

    async fn plain(&mut self, name: &str, rec: &Value, overrides: BTreeMap<&str, String>) -> Value {
        let resp = self
            .request(name, &rec["request"], &overrides)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        self.check(name, rec, status, &headers, &body);
        body
    }

    /// Replay a watch: read its stream while the recorded PATCHes happen at their recorded offsets.
    async fn watch(
        &mut self,
        dir: &Path,
        name: &str,
        rec: &Value,
        overrides: BTreeMap<&str, String>,
    ) {
        let started = Instant::now();
        let mut resp = self
            .request(name, &rec["request"], &overrides)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut actions: Vec<Value> = rec["actions_during_watch"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        actions.reverse();
        let mut buf = Vec::new();
        loop {
            let next_action = actions
                .last()
                .map(|a| Duration::from_secs_f64(a["t_seconds"].as_f64().unwrap_or(0.0)));
            let wait = next_action.map(|t| t.saturating_sub(started.elapsed()));
            tokio::select! {
                chunk = resp.chunk() => match chunk {
                    Ok(Some(bytes)) => buf.extend_from_slice(&bytes),
                    _ => break,
                },
                _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => {
                    if let Some(a) = actions.pop() {
                        let a = &a["action"];
                        let url = format!("{}{}", self.server.url(), a["path"].as_str().unwrap_or("/"));
                        let r = self.http.patch(url).bearer_auth(self.server.admin_token())
                            .header("content-type", a["content-type"].as_str().unwrap_or("application/merge-patch+json"))
                            .body(a["body"].to_string()).send().await.map(|r| r.status().as_u16());
                        if r.as_ref().ok().copied() != a["status"].as_u64().map(|s| s as u16) {
                            self.failures.push(format!("{name}: action during watch answered {r:?}"));
                        }
                    }
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let want_closed = rec["stream_closed_after_seconds"].as_f64().unwrap_or(0.0);
        if (elapsed - want_closed).abs() > 1.5 {
            self.failures.push(format!(
                "{name}: stream closed after {elapsed:.1}s, recorded {want_closed:.1}s"
            ));
        }
        let stream_file = rec["stream_file"].as_str().unwrap_or("");
        let want_text = std::fs::read_to_string(dir.join(stream_file)).unwrap_or_default();
        let got_text = String::from_utf8_lossy(&buf).into_owned();
        let parse = |t: &str| -> Vec<Value> {
            t.lines()
                .filter(|l| !l.is_empty())
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        };
        let (want_lines, got_lines) = (parse(&want_text), parse(&got_text));
        let want_body = json!({"events": want_lines});
        let got_body = json!({"events": got_lines});
        let mut fake = rec.clone();
        fake["response"]["body"] = want_body;
        self.check(name, &fake, status, &headers, &got_body);
        if !got_text.is_empty() && !got_text.ends_with('\n') {
            self.failures
                .push(format!("{name}: watch stream does not end lines with \\n"));
        }
    }
}

fn is_watch(rec: &Value) -> bool {
    rec.get("stream_file").is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_traffic_replays_with_the_same_shapes_and_values() {
    let dir = recordings_dir();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start(SimConfig {
        tls: false,
        eso_crds: EsoCrds::V1,
        port: 0,
    })
    .await
    .expect("server starts");
    let store = server.store();
    seed(&store, &dir);
    let readonly_token = store
        .issue_token("prod", "readonly", &[], 3600)
        .expect("readonly token");
    let vault_token = store
        .issue_token(
            "external-secrets",
            "external-secrets",
            &["vault".to_string()],
            600,
        )
        .expect("vault token");
    let mut r = Replay {
        server,
        http: reqwest::Client::new(),
        readonly_token,
        vault_token,
        continue_13: None,
        failures: vec![],
    };

    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("recordings dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n.as_bytes().first().is_some_and(u8::is_ascii_digit))
        .collect();
    names.sort();
    // These were recorded after etcd compacted the early revisions; replay them last, after compact().
    let after_compaction = ["27", "60", "61", "62"];
    let (late, early): (Vec<String>, Vec<String>) = names
        .into_iter()
        .partition(|n| after_compaction.contains(&&n[..2]));
    let mut replayed = 0;
    for (phase, list) in [("before", early), ("after", late)] {
        if phase == "after" {
            store.compact();
        }
        for name in list {
            let id = &name[..2];
            if OUT_OF_SCOPE.iter().any(|(n, _)| *n == id) {
                continue;
            }
            let rec: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(&name)).expect("readable"))
                    .expect("json");
            let mut overrides = BTreeMap::new();
            match id {
                "14" => overrides.insert("continue", r.continue_13.clone().unwrap_or_default()),
                "62" => overrides.insert("continue", r.continue_13.clone().unwrap_or_default()),
                "23" | "24" => {
                    overrides.insert("resourceVersion", store.resource_version().to_string())
                }
                _ => None,
            };
            if id == "25" {
                // Between recordings 24 and 25 the recorder annotated netbox-db-password by hand
                // (`example.com/touched=yes`, visible in 25 and 34) without recording the request.
                let touched = store
                    .get(
                        "external-secrets.io/v1",
                        "ExternalSecret",
                        Some("netbox"),
                        "netbox-db-password",
                    )
                    .map(|mut es| {
                        es["metadata"]["annotations"]["example.com/touched"] = json!("yes");
                        store.replace(es)
                    });
                assert!(
                    matches!(touched, Some(Ok(_))),
                    "annotating before 25: {touched:?}"
                );
            }
            if is_watch(&rec) {
                r.watch(&dir, &name, &rec, overrides).await;
            } else {
                let body = r.plain(&name, &rec, overrides).await;
                if id == "13" {
                    r.continue_13 = body["metadata"]["continue"].as_str().map(str::to_string);
                }
                if id == "59" {
                    let _ = store.delete(
                        "external-secrets.io/v1",
                        "ExternalSecret",
                        Some("netbox"),
                        "netbox-typo",
                    );
                }
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 55, "only {replayed} recordings replayed");
    assert!(
        r.failures.is_empty(),
        "{} of {replayed} recordings differ:\n{}",
        r.failures.len(),
        r.failures.join("\n")
    );
}

#[test]
fn comparator_catches_shape_differences() {
    let mut diffs = vec![];
    compare(
        "",
        &json!({"a": {"b": 1, "labels": {"x": "1"}}, "l": [1, 2]}),
        &json!({"a": {"b": 2, "labels": {"y": "2"}}, "l": [3, 4]}),
        &mut diffs,
        false,
    );
    assert!(diffs.is_empty(), "{diffs:?}");
    compare(
        "",
        &json!({"a": {"b": 1}}),
        &json!({"a": {"c": 1}}),
        &mut diffs,
        false,
    );
    assert_eq!(diffs, vec![".a.b: missing", ".a.c: not in the recording"]);
    let mut diffs = vec![];
    compare("", &json!({"n": 1}), &json!({"n": "1"}), &mut diffs, false);
    assert_eq!(diffs.len(), 1);
    assert_eq!(
        normalise_message("too old resource version: 1 (374)"),
        "too old resource version: N (N)"
    );
}

/// Issue 19: a selector that returns the wrong objects, a changed value or a missing API group fails.
#[test]
fn comparator_catches_wrong_values_and_missing_groups() {
    let es = |ns: &str, name: &str, store: &str| {
        json!({"kind": "ExternalSecret", "metadata": {"namespace": ns, "name": name},
               "spec": {"secretStoreRef": {"name": store}}})
    };
    let list = |items: Vec<Value>| json!({"kind": "ExternalSecretList", "items": items});
    let mut diffs = vec![];
    let recorded = list(vec![es("prod", "a", "vault")]);
    compare_values("", &recorded, &recorded.clone(), &mut diffs);
    assert!(diffs.is_empty(), "{diffs:?}");
    // Same shape and length, other object: a field selector that matched the wrong one.
    compare_values(
        "",
        &recorded,
        &list(vec![es("netbox", "b", "vault")]),
        &mut diffs,
    );
    assert_eq!(
        diffs,
        vec![r#".items: recorded ["prod/a"], served ["netbox/b"]"#]
    );
    let mut diffs = vec![];
    compare_values(
        "",
        &recorded,
        &list(vec![es("prod", "a", "akv")]),
        &mut diffs,
    );
    assert_eq!(
        diffs,
        vec![
            r#".items[prod/a]/spec: recorded {"secretStoreRef":{"name":"vault"}}, served {"secretStoreRef":{"name":"akv"}}"#
        ]
    );
    let mut diffs = vec![];
    let watch = |t: &str| json!({"events": [{"type": t, "object": es("prod", "a", "vault")}]});
    compare_values("", &watch("MODIFIED"), &watch("ADDED"), &mut diffs);
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    let mut diffs = vec![];
    let ssar =
        |allowed: bool| json!({"kind": "SelfSubjectAccessReview", "status": {"allowed": allowed}});
    compare_values("", &ssar(false), &ssar(true), &mut diffs);
    assert_eq!(diffs, vec!["/status/allowed: recorded false, served true"]);
    let mut diffs = vec![];
    compare_discovery(
        &json!({"groups": [{"name": "apps"}, {"name": "batch"}]}),
        &json!({"groups": [{"name": "apps"}, {"name": "made.up"}]}),
        &mut diffs,
    );
    assert_eq!(
        diffs,
        vec![
            "batch: recorded, not served by the simulation",
            "made.up: served, but the real server does not have it"
        ]
    );
}
