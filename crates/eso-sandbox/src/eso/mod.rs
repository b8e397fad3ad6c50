//! The simulated External Secrets Operator controller. It watches the simulated API server in process and
//! reconciles SecretStores / ClusterSecretStores (validation, `Ready` condition), ExternalSecrets (provider
//! fetch, target Secret, status and events) and ClusterExternalSecrets (child ExternalSecrets), following
//! the behaviour recorded in shared/eso/README.md. Work is queued per object and deduplicated; status-only
//! changes do not retrigger a reconcile, so the controller settles instead of looping.

pub mod cluster;
pub mod events;
pub mod externalsecret;
pub mod generator;
pub mod kubernetes;
pub mod logs;
pub mod provider;
pub mod push;
pub mod stores;
pub mod sync_window;
pub mod template;

use kube_sim::{EventKind, Store};
use provider::ProviderError;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use stores::{Provider, str_at};
use tokio::sync::Notify;

/// Everything a reconcile needs: the cluster, an HTTP client for providers, and cached provider sessions.
pub struct Ctx {
    pub store: Store,
    pub http: reqwest::Client,
    pub eso_api_version: String,
    sessions: std::sync::Mutex<HashMap<String, (String, Instant)>>,
    /// ServiceAccount tokens minted for provider logins, by ServiceAccount and audiences.
    tokens: std::sync::Mutex<HashMap<TokenKey, (String, Instant)>>,
    /// The Events recorded so far, to aggregate repeats without scanning the namespace's Events.
    events: std::sync::Mutex<events::Recorded>,
    /// The sandbox's AWS region, as ESO's controller would be told by its `AWS_*_ENDPOINT` variables.
    aws_endpoint: std::sync::Mutex<Option<String>>,
}

impl Ctx {
    pub fn new(store: Store, http: reqwest::Client, eso_api_version: &str) -> Self {
        Self {
            store,
            http,
            eso_api_version: eso_api_version.to_string(),
            sessions: Default::default(),
            tokens: Default::default(),
            events: Default::default(),
            aws_endpoint: Default::default(),
        }
    }

    /// Points the AWS provider at the sandbox's region (ESO's `AWS_SECRETSMANAGER_ENDPOINT`,
    /// `AWS_SSM_ENDPOINT` and `AWS_STS_ENDPOINT`).
    pub fn with_aws_endpoint(self, endpoint: Option<String>) -> Self {
        if let Ok(mut e) = self.aws_endpoint.lock() {
            *e = endpoint;
        }
        self
    }

    pub fn aws_endpoint(&self) -> Option<String> {
        self.aws_endpoint.lock().ok().and_then(|e| e.clone())
    }

    /// A logged-in provider session (Vault token or Entra access token), reused for a minute per store version
    /// so a large scenario does not log in once per ExternalSecret (ESO's optional Vault token cache); any
    /// failed call drops it, so a policy or role change is seen on the next reconcile.
    pub async fn session(
        &self,
        store: &Value,
        provider: &Provider,
    ) -> Result<String, ProviderError> {
        let key = session_key(store);
        if let Ok(cache) = self.sessions.lock()
            && let Some((token, at)) = cache.get(&key)
            && at.elapsed() < Duration::from_secs(60)
        {
            return Ok(token.clone());
        }
        let token = match provider {
            Provider::Vault { server, auth, .. } => {
                provider::vault_login(&self.http, server, auth).await?
            }
            Provider::Azure {
                authority,
                tenant,
                client_id,
                credential,
                vault_url,
            } => {
                provider::azure_token(
                    &self.http,
                    authority,
                    tenant,
                    client_id,
                    credential,
                    &stores::azure_scope(vault_url),
                )
                .await?
            }
            Provider::Kubernetes { token, .. } => token.clone(),
            // The session is the credentials ESO's AWS SDK config resolved, as JSON.
            Provider::Aws {
                endpoint,
                region,
                auth,
                role,
                external_id,
                ..
            } => {
                let c = provider::aws_login(
                    &self.http,
                    endpoint,
                    region,
                    auth,
                    role.as_deref(),
                    external_id.as_deref(),
                )
                .await
                .map_err(ProviderError)?;
                json!({"id": c.access_key_id, "secret": c.secret_access_key, "token": c.session_token})
                    .to_string()
            }
        };
        if let Ok(mut cache) = self.sessions.lock() {
            cache.insert(key, (token.clone(), Instant::now()));
        }
        Ok(token)
    }

    /// A provider call failed: log in afresh next time (the token may predate a policy or role change).
    pub fn forget_session(&self, store: &Value) {
        if let Ok(mut cache) = self.sessions.lock() {
            cache.remove(&session_key(store));
        }
        self.forget_tokens();
    }

    /// A ServiceAccount token minted less than a minute ago for `key` (tokens live ten minutes).
    fn cached_token(&self, key: &TokenKey) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        let (token, at) = tokens.get(key)?;
        (at.elapsed() < Duration::from_secs(60)).then(|| token.clone())
    }

    fn remember_token(&self, key: TokenKey, token: &str) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(key, (token.to_string(), Instant::now()));
        }
    }

    pub fn forget_sessions(&self) {
        if let Ok(mut cache) = self.sessions.lock() {
            cache.clear();
        }
        self.forget_tokens();
    }

    fn forget_tokens(&self) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.clear();
        }
    }
}

/// (namespace, name, audiences, uid) of a ServiceAccount a token is minted for.
type TokenKey = (String, String, Vec<String>, String);

/// Every store reference of an ExternalSecret: `secretStoreRef` and each entry's `sourceRef.storeRef`.
fn store_refs(es: &Value) -> impl Iterator<Item = &Value> {
    let entries = ["/spec/data", "/spec/dataFrom"]
        .into_iter()
        .filter_map(|p| es.pointer(p).and_then(Value::as_array))
        .flatten()
        .filter_map(|e| e.pointer("/sourceRef/storeRef"));
    es.pointer("/spec/secretStoreRef")
        .into_iter()
        .chain(entries)
}

fn session_key(store: &Value) -> String {
    format!(
        "{}/{}",
        str_at(store, "/metadata/uid").unwrap_or_default(),
        str_at(store, "/metadata/resourceVersion").unwrap_or_default()
    )
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Work {
    Store {
        kind: String,
        namespace: Option<String>,
        name: String,
    },
    ExternalSecret {
        namespace: String,
        name: String,
    },
    ClusterExternalSecret {
        name: String,
    },
    PushSecret {
        namespace: String,
        name: String,
    },
}

#[derive(Default)]
struct Queue {
    ready: BTreeSet<Work>,
    forced: BTreeSet<Work>,
    /// Requeues, by when they are due (one entry each: 100,000 ExternalSecrets wait here).
    timers: BTreeSet<(Instant, Work)>,
    fingerprints: HashMap<Work, String>,
    failures: HashMap<Work, u32>,
}

struct Shared {
    ctx: Ctx,
    queue: std::sync::Mutex<Queue>,
    wake: Notify,
    in_flight: AtomicUsize,
    paused: std::sync::atomic::AtomicBool,
    /// The chart's controller Deployment is scaled to zero: nothing reconciles until it is back.
    scaled_down: std::sync::atomic::AtomicBool,
}

/// A running controller; dropping it stops it.
pub struct Controller {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Controller {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

const PARALLEL_RECONCILES: usize = 32;

impl Controller {
    pub fn start(ctx: Ctx) -> Controller {
        let events = ctx.store.subscribe();
        let shared = Arc::new(Shared {
            ctx,
            queue: Default::default(),
            wake: Notify::new(),
            in_flight: AtomicUsize::new(0),
            paused: Default::default(),
            scaled_down: Default::default(),
        });
        shared.enqueue_everything(false);
        let watcher = tokio::spawn(watch_loop(shared.clone(), events));
        let worker = tokio::spawn(work_loop(shared.clone()));
        Controller {
            shared,
            tasks: vec![watcher, worker],
        }
    }

    /// Treat every ExternalSecret's refresh interval as elapsed (scenarios use it to move time on).
    pub fn resync_all(&self) {
        self.shared.ctx.forget_sessions();
        self.shared.enqueue_everything(true);
    }

    /// Stop (or resume) reconciling, as when ESO's controller is down: requests queue up unanswered.
    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// Pause (see [`Controller::set_paused`]) and wait, at most 5 s, for running reconciles to end.
    pub async fn pause_and_drain(&self) {
        self.set_paused(true);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.shared.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until nothing is queued or running (timers in the future do not count).
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut quiet_checks = 0;
        while Instant::now() < deadline {
            // A scaled-down controller answers nothing: its queue waits, and that is idle.
            let stopped = self.shared.scaled_down.load(Ordering::SeqCst);
            let busy = self.shared.in_flight.load(Ordering::SeqCst) > 0
                || !stopped
                    && self
                        .shared
                        .queue
                        .lock()
                        .map(|q| !q.ready.is_empty())
                        .unwrap_or(false);
            quiet_checks = if busy { 0 } else { quiet_checks + 1 };
            if quiet_checks >= 3 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Shared {
    fn push(&self, work: Work, force: bool) {
        if let Ok(mut q) = self.queue.lock() {
            if force {
                q.forced.insert(work.clone());
            }
            q.ready.insert(work);
        }
        self.wake.notify_one();
    }

    fn enqueue_everything(&self, force: bool) {
        let v = self.ctx.eso_api_version.clone();
        for kind in ["ClusterSecretStore", "SecretStore"] {
            for s in self.ctx.store.list(&v, kind, None) {
                self.push(store_work(kind, &s), false);
            }
        }
        for ces in self.ctx.store.list(&v, "ClusterExternalSecret", None) {
            let name = str_at(&ces, "/metadata/name")
                .unwrap_or_default()
                .to_string();
            self.push(Work::ClusterExternalSecret { name }, false);
        }
        for (namespace, name) in self.ctx.store.keys(push::API_VERSION, "PushSecret", None) {
            self.push(Work::PushSecret { namespace, name }, force);
        }
        // Only names are needed: the objects are read when their work runs.
        for (namespace, name) in self.ctx.store.keys(&v, "ExternalSecret", None) {
            self.push(Work::ExternalSecret { namespace, name }, force);
        }
    }

    fn enqueue_users_of_store(&self, kind: &str, namespace: Option<&str>, name: &str) {
        // Only ExternalSecrets whose JSON names the store can refer to it: the others are not parsed.
        let needle = serde_json::Value::from(name).to_string();
        for es in self.ctx.store.list_mentioning(
            &self.ctx.eso_api_version,
            "ExternalSecret",
            namespace,
            &needle,
        ) {
            if store_refs(&es).any(|r| {
                r.get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("SecretStore")
                    == kind
                    && r.get("name").and_then(Value::as_str) == Some(name)
            }) {
                self.push(es_work(&es), false);
            }
        }
    }

    /// Decide from a change whether anything must be reconciled. Status-only writes are ignored by
    /// comparing a fingerprint of what ESO reacts to (generation, labels, annotations).
    fn on_event(&self, kind: EventKind, object_kind: &str, obj: &Value) {
        let fingerprint = || {
            json!([
                obj.pointer("/metadata/generation"),
                obj.pointer("/metadata/labels"),
                obj.pointer("/metadata/annotations")
            ])
            .to_string()
        };
        let changed = |work: &Work| -> bool {
            let Ok(mut q) = self.queue.lock() else {
                return false;
            };
            if matches!(kind, EventKind::Deleted) {
                q.fingerprints.remove(work);
                return false;
            }
            let fp = fingerprint();
            let old = q.fingerprints.insert(work.clone(), fp.clone());
            old.as_deref() != Some(fp.as_str())
        };
        match object_kind {
            "ExternalSecret" => {
                let w = es_work(obj);
                if changed(&w) {
                    self.push(w, false);
                }
            }
            "SecretStore" | "ClusterSecretStore" => {
                let w = store_work(object_kind, obj);
                if changed(&w) {
                    self.push(w, false);
                } else if !matches!(kind, EventKind::Deleted) {
                    // status changed (became ready or not): ESO requeues the ExternalSecrets using it
                    let ns = str_at(obj, "/metadata/namespace");
                    self.enqueue_users_of_store(
                        object_kind,
                        ns,
                        str_at(obj, "/metadata/name").unwrap_or_default(),
                    );
                }
            }
            "PushSecret" => {
                let w = Work::PushSecret {
                    namespace: str_at(obj, "/metadata/namespace")
                        .unwrap_or_default()
                        .into(),
                    name: str_at(obj, "/metadata/name").unwrap_or_default().into(),
                };
                if changed(&w) {
                    self.push(w, false);
                }
            }
            "ClusterExternalSecret" => {
                let w = Work::ClusterExternalSecret {
                    name: str_at(obj, "/metadata/name").unwrap_or_default().into(),
                };
                if changed(&w) {
                    self.push(w, false);
                }
            }
            "Namespace" => {
                for ces in
                    self.ctx
                        .store
                        .list(&self.ctx.eso_api_version, "ClusterExternalSecret", None)
                {
                    let name = str_at(&ces, "/metadata/name")
                        .unwrap_or_default()
                        .to_string();
                    self.push(Work::ClusterExternalSecret { name }, false);
                }
            }
            "Deployment"
                if str_at(obj, "/metadata/namespace") == Some(logs::NAMESPACE)
                    && str_at(obj, "/metadata/name") == Some(logs::DEPLOYMENT) =>
            {
                // `kubectl scale deployment external-secrets --replicas=0`: ESO stops; scaled
                // back up, it re-lists everything as a starting controller does.
                let down = !matches!(kind, EventKind::Deleted)
                    && obj.pointer("/spec/replicas").and_then(Value::as_i64) == Some(0);
                let was = self.scaled_down.swap(down, Ordering::SeqCst);
                if was && !down {
                    self.enqueue_everything(false);
                }
            }
            "Secret" => {
                let managed = obj
                    .pointer("/metadata/labels/reconcile.external-secrets.io~1managed")
                    .is_some();
                if managed && matches!(kind, EventKind::Deleted) {
                    let ns = str_at(obj, "/metadata/namespace")
                        .unwrap_or_default()
                        .to_string();
                    for owner in obj
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if owner["kind"] == "ExternalSecret" {
                            let name = owner["name"].as_str().unwrap_or_default().to_string();
                            self.push(
                                Work::ExternalSecret {
                                    namespace: ns.clone(),
                                    name,
                                },
                                false,
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }

    async fn run(&self, work: Work, force: bool) {
        let v = self.ctx.eso_api_version.clone();
        match &work {
            Work::Store {
                kind,
                namespace,
                name,
            } => {
                if let Some(store) = self.ctx.store.get(&v, kind, namespace.as_deref(), name) {
                    cluster::reconcile_store(&self.ctx, store).await;
                }
            }
            Work::PushSecret { namespace, name } => {
                if let Some(ps) =
                    self.ctx
                        .store
                        .get(push::API_VERSION, "PushSecret", Some(namespace), name)
                {
                    push::reconcile(&self.ctx, ps).await;
                }
            }
            Work::ClusterExternalSecret { name } => {
                if let Some(ces) = self.ctx.store.get(&v, "ClusterExternalSecret", None, name) {
                    cluster::reconcile_cluster_external_secret(&self.ctx, ces);
                }
            }
            Work::ExternalSecret { namespace, name } => {
                let Some(es) = self
                    .ctx
                    .store
                    .get(&v, "ExternalSecret", Some(namespace), name)
                else {
                    return;
                };
                if cluster::out_of_date_child(&self.ctx, &es) {
                    // ESO's ClusterExternalSecret controller overwrites its children; it will requeue.
                    return;
                }
                let next = externalsecret::reconcile(&self.ctx, es, force).await;
                let delay = match next {
                    externalsecret::Next::Done => None,
                    externalsecret::Next::RequeueAfter(d) => {
                        if let Ok(mut q) = self.queue.lock() {
                            q.failures.remove(&work);
                        }
                        Some(d)
                    }
                    externalsecret::Next::Retry => {
                        let attempts = self
                            .queue
                            .lock()
                            .map(|mut q| {
                                let n = q.failures.entry(work.clone()).or_insert(0);
                                *n += 1;
                                *n
                            })
                            .unwrap_or(1);
                        Some(Duration::from_secs(
                            30u64.saturating_mul(attempts as u64).min(300),
                        ))
                    }
                };
                if let (Some(d), Ok(mut q)) = (delay, self.queue.lock()) {
                    // Saturating: a requeue too far to represent is "never" (issue 18).
                    let at = Instant::now().checked_add(d).unwrap_or_else(|| {
                        Instant::now() + Duration::from_secs(100 * 365 * 86_400)
                    });
                    q.timers.insert((at, work));
                }
            }
        }
    }
}

fn store_work(kind: &str, obj: &Value) -> Work {
    Work::Store {
        kind: kind.to_string(),
        namespace: str_at(obj, "/metadata/namespace").map(str::to_string),
        name: str_at(obj, "/metadata/name")
            .unwrap_or_default()
            .to_string(),
    }
}

fn es_work(obj: &Value) -> Work {
    Work::ExternalSecret {
        namespace: str_at(obj, "/metadata/namespace")
            .unwrap_or_default()
            .to_string(),
        name: str_at(obj, "/metadata/name")
            .unwrap_or_default()
            .to_string(),
    }
}

async fn watch_loop(
    shared: Arc<Shared>,
    mut events: tokio::sync::broadcast::Receiver<kube_sim::WatchEvent>,
) {
    loop {
        match events.recv().await {
            Ok(ev) => shared.on_event(ev.kind, &ev.object_kind, &ev.object),
            // We fell behind: re-list everything, as an informer does after a too-old resourceVersion.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                shared.enqueue_everything(false)
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn work_loop(shared: Arc<Shared>) {
    loop {
        if shared.paused.load(Ordering::SeqCst) || shared.scaled_down.load(Ordering::SeqCst) {
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        }
        let batch: Vec<(Work, bool)> = {
            let Ok(mut q) = shared.queue.lock() else {
                return;
            };
            let now = Instant::now();
            while q.timers.first().is_some_and(|(at, _)| *at <= now) {
                if let Some((_, w)) = q.timers.pop_first() {
                    q.ready.insert(w);
                }
            }
            // Stores first, so ExternalSecrets see fresh store conditions.
            let mut items: Vec<Work> = Vec::new();
            while items.len() < PARALLEL_RECONCILES {
                let Some(w) = q.ready.pop_first() else { break };
                items.push(w);
            }
            items
                .into_iter()
                .map(|w| {
                    let forced = q.forced.remove(&w);
                    (w, forced)
                })
                .collect()
        };
        if batch.is_empty() {
            let next_timer = shared
                .queue
                .lock()
                .ok()
                .and_then(|q| q.timers.first().map(|(at, _)| *at));
            let sleep = next_timer
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
            continue;
        }
        shared.in_flight.fetch_add(batch.len(), Ordering::SeqCst);
        // A first pass over 100,000 ExternalSecrets writes faster than the other controllers
        // read: let them keep up rather than lag and re-read everything (issue 16).
        shared.ctx.store.keep_up(crate::KEEP_UP).await;
        let (stores, others): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|(w, _)| matches!(w, Work::Store { .. }));
        for group in [stores, others] {
            let n = group.len();
            futures::future::join_all(group.into_iter().map(|(w, f)| {
                let shared = shared.clone();
                async move { shared.run(w, f).await }
            }))
            .await;
            shared.in_flight.fetch_sub(n, Ordering::SeqCst);
        }
    }
}
