//! WATCH streams as kube-apiserver 1.32 sends them: one JSON line per event, flushed at once; resume
//! from a resourceVersion (no initial events) or start with synthetic ADDEDs (rv 0 / unset, plus the
//! `k8s.io/initial-events-end` BOOKMARK), selector-aware ADDED/DELETED transitions, bookmarks ~2 s
//! before `timeoutSeconds`, and a 200 + ERROR(410 Expired) line for a compacted resourceVersion.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::list::{Format, ListQuery, table};
use crate::status::ApiStatus;
use crate::store::{Change, EventKind, Store, Stored};
use crate::view::View;

/// How often a BOOKMARK is sent on long watches that asked for them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);
/// The apiserver picks a random 30–60 min timeout when the client names none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

pub struct WatchQuery {
    pub list: ListQuery,
    pub allow_bookmarks: bool,
    pub timeout: Option<Duration>,
    pub send_initial_events: Option<bool>,
    pub format: Format,
    pub drop_after: Option<usize>,
}

struct Emitter {
    view: View,
    format: Format,
    tx: mpsc::Sender<Bytes>,
    headers_sent: bool,
}

impl Emitter {
    async fn line(&mut self, kind: &str, s: &Stored) -> bool {
        let mut out = Vec::with_capacity(s.json_len() + 96);
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\",\"object\":");
        match &self.format {
            Format::Json => self.view.write_object(s, &mut out, true),
            Format::Metadata => {
                let obj = crate::list::partial_metadata(s);
                out.extend_from_slice(obj.to_string().as_bytes());
            }
            Format::Table { include } => {
                let meta = json!({"resourceVersion": s.rv.to_string()});
                let t = table(&self.view, &[s], meta, include, !self.headers_sent);
                self.headers_sent = true;
                out.extend_from_slice(t.to_string().as_bytes());
            }
        }
        out.extend_from_slice(b"}\n");
        self.tx.send(Bytes::from(out)).await.is_ok()
    }

    async fn raw(&self, kind: &str, object: Value) -> bool {
        let line = format!("{}\n", json!({"type": kind, "object": object}));
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn bookmark(&self, rv: u64, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"apiVersion": self.view.api_version(), "kind": self.view.rt.kind, "metadata": meta});
        self.raw("BOOKMARK", obj).await
    }
}

fn selected(view: &View, q: &ListQuery, ns: Option<&str>, s: &Stored) -> bool {
    if ns.is_some_and(|n| n != s.namespace()) {
        return false;
    }
    if q.labels.is_empty() && q.fields.is_empty() {
        return true;
    }
    let value = s.value();
    let probe = if view.is_alias() {
        crate::view::event_to_new(&value)
    } else {
        value
    };
    q.labels.matches(&probe) && q.fields.matches(&probe)
}

/// Which event type (if any) a change is for this watcher, given its selectors.
fn classify(view: &View, q: &ListQuery, ns: Option<&str>, c: &Change) -> Option<&'static str> {
    let now = selected(view, q, ns, &c.obj);
    let was = c.prev.as_ref().is_some_and(|p| selected(view, q, ns, p));
    match (c.kind, was, now) {
        (EventKind::Added, _, true) => Some("ADDED"),
        (EventKind::Modified, true, true) => Some("MODIFIED"),
        (EventKind::Modified, false, true) => Some("ADDED"),
        (EventKind::Modified, true, false) => Some("DELETED"),
        (EventKind::Deleted, w, n) if w || n => Some("DELETED"),
        _ => None,
    }
}

/// Start a watch; the returned channel yields the body's chunks and closes when the watch ends.
pub fn start(store: Store, view: View, ns: Option<String>, q: WatchQuery) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(run(store, view, ns, q, tx));
    rx
}

async fn run(store: Store, view: View, ns: Option<String>, q: WatchQuery, tx: mpsc::Sender<Bytes>) {
    let ns = ns.as_deref();
    let gr = view.storage_gr();
    let from = q.list.rv.filter(|rv| *rv > 0);
    let (initial, backlog, mut rx, mut seen, too_old) = {
        let st = store.read();
        let rx = st.changes.subscribe();
        match from {
            Some(rv) if rv < st.compacted => (
                vec![],
                vec![],
                rx,
                0,
                Some(ApiStatus::too_old_resource_version(rv, st.compacted + 1)),
            ),
            Some(rv) => {
                let backlog: Vec<Arc<Change>> = st
                    .history
                    .iter()
                    .filter(|c| c.rv > rv && c.gr == gr)
                    .cloned()
                    .collect();
                (vec![], backlog, rx, st.rv.max(rv), None)
            }
            None if q.send_initial_events == Some(false) => (vec![], vec![], rx, st.rv, None),
            None => {
                let initial: Vec<Arc<Stored>> = st
                    .iter(&gr, ns)
                    .filter(|s| selected(&view, &q.list, ns, s))
                    .cloned()
                    .collect();
                (initial, vec![], rx, st.rv, None)
            }
        }
    };
    let mut em = Emitter {
        view: view.clone(),
        format: q.format.clone(),
        tx,
        headers_sent: false,
    };
    if let Some(status) = too_old {
        em.raw("ERROR", status.to_json()).await;
        return;
    }
    // A client's `timeoutSeconds` is outside input: cap it so the deadline cannot overflow.
    let timeout = q
        .timeout
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(Duration::from_secs(365 * 86_400));
    let deadline = Instant::now() + timeout;
    let mut next_bookmark = if timeout > Duration::from_secs(2) {
        (Instant::now() + BOOKMARK_EVERY).min(deadline - Duration::from_secs(2))
    } else {
        // Too short for the apiserver's "2 s before the end" bookmark.
        deadline + BOOKMARK_EVERY
    };
    let mut sent = 0usize;
    let limit = q.drop_after.unwrap_or(usize::MAX);
    for s in &initial {
        if sent >= limit || !em.line("ADDED", s).await {
            return;
        }
        sent += 1;
    }
    if from.is_none()
        && q.allow_bookmarks
        && q.send_initial_events != Some(false)
        && !em.bookmark(seen, true).await
    {
        return;
    }
    for c in &backlog {
        if let Some(kind) = classify(&view, &q.list, ns, c) {
            if sent >= limit || !em.line(kind, &c.obj).await {
                return;
            }
            sent += 1;
        }
    }
    loop {
        if sent >= limit {
            return;
        }
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(deadline) => return,
            _ = tokio::time::sleep_until(next_bookmark), if q.allow_bookmarks => {
                next_bookmark = Instant::now() + BOOKMARK_EVERY;
                let current = store.resource_version();
                // A watch from a future resourceVersion stays silent until the store catches up (recording 28).
                if from.is_some_and(|rv| rv > current) {
                    continue;
                }
                if !em.bookmark(current.max(seen), false).await {
                    return;
                }
            }
            _ = em.tx.closed() => return,
            msg = rx.recv() => match msg {
                Ok(c) => {
                    if c.rv <= seen || c.gr != gr {
                        continue;
                    }
                    seen = c.rv;
                    if let Some(kind) = classify(&view, &q.list, ns, &c) {
                        if !em.line(kind, &c.obj).await {
                            return;
                        }
                        sent += 1;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let status = ApiStatus::too_old_resource_version(seen, store.resource_version());
                    em.raw("ERROR", status.to_json()).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
