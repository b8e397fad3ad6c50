//! LIST (and the response formats a single GET shares with it): selectors, `limit` + `continue` with
//! the apiserver's token format and consistent snapshots, the resourceVersion rules of the README
//! ("LIST with an old resourceVersion"), and JSON / PartialObjectMetadataList / Table bodies.
//! Lists are assembled from each object's cached bytes, so 10,000 items cost a memcpy, not a serialise.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::selectors::{FieldSelector, LabelSelector, supported_fields};
use crate::status::ApiStatus;
use crate::store::{Entry, Keyed, Objects, State, Store, Stored};
use crate::table;
use crate::view::View;

/// What the client's Accept header asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Json,
    Metadata,
    Table { include: String },
}

/// Pick the response format from Accept (JSON always; protobuf offers are skipped).
pub fn negotiate(accept: Option<&str>, include_object: Option<&str>) -> Format {
    let accept = accept.unwrap_or("application/json");
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let ty = parts.next().unwrap_or("");
        if !matches!(
            ty,
            "application/json" | "*/*" | "application/*" | "application/yaml"
        ) {
            continue;
        }
        let params: HashMap<&str, &str> = parts.filter_map(|p| p.split_once('=')).collect();
        return match params.get("as").copied() {
            Some("Table") => Format::Table {
                include: include_object.unwrap_or("Metadata").to_string(),
            },
            Some("PartialObjectMetadataList" | "PartialObjectMetadata") => Format::Metadata,
            _ => Format::Json,
        };
    }
    Format::Json
}

/// Parsed LIST query parameters.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub cont: Option<(i64, String)>,
    pub rv: Option<u64>,
    pub rv_match: Option<String>,
}

pub fn parse_query(q: &HashMap<String, String>, view: &View) -> Result<ListQuery, ApiStatus> {
    let labels = match q.get("labelSelector").filter(|s| !s.is_empty()) {
        Some(s) => LabelSelector::parse(s)?,
        None => LabelSelector::default(),
    };
    let fields = match q.get("fieldSelector").filter(|s| !s.is_empty()) {
        Some(s) => FieldSelector::parse(s, &supported_fields(&view.rt, &view.version))?,
        None => FieldSelector::default(),
    };
    let limit = match q.get("limit").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| ApiStatus::bad_request(format!("invalid limit {s:?}")))?
                .max(0) as usize,
        )
        .filter(|l| *l > 0),
        None => None,
    };
    let rv = match q.get("resourceVersion").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiStatus::bad_request(format!("invalid resource version: {s}")))?,
        ),
        None => None,
    };
    let cont = match q.get("continue").filter(|s| !s.is_empty()) {
        Some(token) => Some(decode_continue(token)?),
        None => None,
    };
    Ok(ListQuery {
        labels,
        fields,
        limit,
        cont,
        rv,
        rv_match: q.get("resourceVersionMatch").cloned(),
    })
}

/// `{"v":"meta.k8s.io/v1","rv":N,"start":"ns/name\u0000"}`, unpadded base64url, as the README shows.
pub fn encode_continue(rv: i64, start: &str) -> String {
    // Built by hand: the apiserver's key order (v, rv, start) is not serde_json's sorted order.
    let body = format!(
        "{{\"v\":\"meta.k8s.io/v1\",\"rv\":{rv},\"start\":{}}}",
        json!(format!("{start}\u{0}"))
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)
}

fn decode_continue(token: &str) -> Result<(i64, String), ApiStatus> {
    let invalid = |why: &str| ApiStatus::bad_request(format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|e| invalid(&e.to_string()))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|e| invalid(&e.to_string()))?;
    let rv = v
        .get("rv")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("no resource version"))?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("no start key"))?;
    Ok((rv, start.trim_end_matches('\u{0}').to_string()))
}

/// For every key changed since a resourceVersion, its state then (`None`: it did not exist),
/// ordered by key.
type Changed = BTreeMap<Entry, Option<Arc<Stored>>>;

/// What differs at `rv` from the current objects of a type (in one namespace or all): for every key
/// changed since, its state at `rv` (`None`: it did not exist). Built from the history only, so a
/// paged LIST at an older resourceVersion costs the changes since, not the size of the type.
fn changes_since(st: &State, gr: &str, ns: Option<&str>, rv: u64) -> Changed {
    let mut out = BTreeMap::new();
    if rv >= st.rv {
        return out;
    }
    let first = st.history.partition_point(|c| c.rv <= rv);
    // Oldest first: the first change to a key after `rv` holds its state at `rv` in `prev`.
    for change in st.history.range(first..).filter(|c| c.gr == gr) {
        if ns.is_some_and(|n| n != change.obj.namespace()) {
            continue;
        }
        out.entry(Entry(change.obj.clone()))
            .or_insert_with(|| change.prev.clone());
    }
    out
}

/// How many objects of a type (in one namespace or all) there were at the revision `changed`
/// describes, from the current count: O(changes since), not O(objects).
fn count_at(objects: &Objects, ns: Option<&str>, changed: &Changed) -> usize {
    let now = objects.count(ns);
    changed.iter().fold(now, |n, (entry, then)| {
        let (k_ns, k_name) = entry.key();
        let exists_now = objects.get(k_ns, k_name).is_some();
        match (then.is_some(), exists_now) {
            (true, false) => n + 1,
            (false, true) => n.saturating_sub(1),
            _ => n,
        }
    })
}

/// The objects of a type at some resourceVersion, in key order from a lower bound: the current
/// index with the keys changed since overlaid, merged as two ordered ranges (as etcd seeks a
/// revision), so a page costs its own size.
struct AtRevision<'a, C, O>
where
    C: Iterator<Item = &'a Arc<Stored>>,
    O: Iterator<Item = (&'a Entry, &'a Option<Arc<Stored>>)>,
{
    current: std::iter::Peekable<C>,
    overlay: std::iter::Peekable<O>,
    changed: &'a Changed,
}

impl<'a, C, O> Iterator for AtRevision<'a, C, O>
where
    C: Iterator<Item = &'a Arc<Stored>>,
    O: Iterator<Item = (&'a Entry, &'a Option<Arc<Stored>>)>,
{
    type Item = &'a Arc<Stored>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Current objects whose key changed since are replaced by the overlay's state.
            while let Some(s) = self.current.peek() {
                if !self.changed.is_empty() && self.changed.contains_key(&s.key() as &dyn Keyed) {
                    self.current.next();
                } else {
                    break;
                }
            }
            let take_overlay = match (self.current.peek(), self.overlay.peek()) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(c), Some((o, _))) => o.key() < c.key(),
            };
            if !take_overlay {
                return self.current.next();
            }
            if let Some((_, Some(s))) = self.overlay.next() {
                return Some(s);
            }
        }
    }
}

/// The objects of a type (in one namespace or all) at the revision `changed` describes, in key
/// order, from the start or after a key.
fn at_revision<'a>(
    objects: &'a Objects,
    changed: &'a Changed,
    ns: Option<&'a str>,
    after: Option<(&'a str, &'a str)>,
) -> impl Iterator<Item = &'a Arc<Stored>> + 'a {
    let in_ns = move |k: (&str, &str)| ns.is_none_or(|ns| k.0 == ns);
    let (start, after) = match after {
        Some(key) => (key, true),
        None => ((ns.unwrap_or(""), ""), false),
    };
    let lower = &start as &dyn Keyed;
    let lower = if after {
        Bound::Excluded(lower)
    } else {
        Bound::Included(lower)
    };
    AtRevision {
        current: objects
            .from(start, after)
            .take_while(move |s| in_ns(s.key()))
            .peekable(),
        overlay: changed
            .range::<dyn Keyed, _>((lower, Bound::Unbounded))
            .take_while(move |(k, _)| in_ns(k.key()))
            .peekable(),
        changed,
    }
}

/// The page of matching objects plus paging metadata.
pub struct Page {
    pub items: Vec<Arc<Stored>>,
    pub rv: u64,
    pub next: Option<String>,
    pub remaining: Option<usize>,
}

fn matches(view: &View, q: &ListQuery, s: &Stored) -> bool {
    if q.labels.is_empty() && q.fields.is_empty() {
        return true;
    }
    // Parse only the objects that mention what the selectors' `key=value` requirements want.
    // Not for the events.k8s.io view, whose fields are computed from the stored core Event.
    if !view.is_alias()
        && !q
            .labels
            .needles()
            .chain(q.fields.needles())
            .all(|n| s.mentions(n))
    {
        return false;
    }
    let value = s.value();
    let probe = if view.is_alias() {
        crate::view::event_to_new(&value)
    } else {
        value
    };
    q.labels.matches(&probe) && q.fields.matches(&probe)
}

const TOO_OLD_LIST: &str = "The resourceVersion for the provided list is too old.";
const TOO_OLD_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// Wait (up to 3 s, like the apiserver) for the store to reach a resourceVersion, else 504.
async fn wait_for_rv(store: &Store, rv: u64) -> Result<(), ApiStatus> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while store.resource_version() < rv {
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiStatus::too_large_resource_version(
                rv,
                store.resource_version(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

pub async fn page(
    store: &Store,
    view: &View,
    ns: Option<&str>,
    q: &ListQuery,
) -> Result<Page, ApiStatus> {
    let exact = q.rv.is_some_and(|rv| rv > 0)
        && q.cont.is_none()
        && (q.rv_match.as_deref() == Some("Exact") || (q.limit.is_some() && q.rv_match.is_none()));
    if let Some(rv) = q.rv.filter(|rv| *rv > 0) {
        wait_for_rv(store, rv).await?;
    }
    let st = store.read();
    let gr = view.storage_gr();
    let (at, start) = match &q.cont {
        Some((token_rv, start)) => {
            if *token_rv >= 0 && (*token_rv as u64) < st.compacted {
                let mut s = ApiStatus::expired(TOO_OLD_CONTINUE);
                s.continue_token = Some(encode_continue(-1, start));
                return Err(s);
            }
            let at = if *token_rv < 0 {
                st.rv
            } else {
                *token_rv as u64
            };
            (at, Some(start.clone()))
        }
        None if exact => {
            let rv = q.rv.unwrap_or(st.rv);
            if rv < st.compacted {
                return Err(ApiStatus::expired(TOO_OLD_LIST));
            }
            (rv, None)
        }
        None => (st.rv, None),
    };
    let start_key = start.map(|s| match (ns, s.split_once('/')) {
        (None, Some((n, name))) if view.rt.namespaced => (n.to_string(), name.to_string()),
        _ => (ns.unwrap_or("").to_string(), s),
    });
    let changed = changes_since(&st, &gr, ns, at);
    let empty = Objects::default();
    let map = st.objects.get(&gr).unwrap_or(&empty);
    let after = start_key
        .as_ref()
        .map(|(n, name)| (n.as_str(), name.as_str()));
    let selectors = !q.labels.is_empty() || !q.fields.is_empty();
    // `resourceVersion=0` is served from the watch cache, which (kube-apiserver 1.32, without the
    // 1.33 ListFromCacheSnapshot gate) ignores `limit`: everything in one answer, no `continue`.
    let limit = match (q.rv, &q.cont) {
        (Some(0), None) => usize::MAX,
        _ => q.limit.unwrap_or(usize::MAX),
    };
    let mut items = vec![];
    let mut more = false;
    for s in at_revision(map, &changed, ns, after) {
        if !matches(view, q, s) {
            continue;
        }
        if items.len() >= limit {
            more = true;
            break;
        }
        items.push(s.clone());
    }
    let last_key = items
        .last()
        .map(|s| (s.namespace().to_string(), s.name().to_string()));
    // remainingItemCount is only reported without selectors (as the real server does), and then
    // every object counts: what is left is the type's count at that revision less the items up
    // to this page's end, which the store remembered when the previous page was served (they are
    // counted when it did not, as for a continue token no page ended with).
    let mut remaining = 0usize;
    if more && !selectors {
        let before = match &start_key {
            None => Some(0),
            Some((n, name)) => store.list_position(&gr, ns, at, n, name),
        };
        let end = last_key
            .as_ref()
            .map(|(n, name)| (n.as_str(), name.as_str()));
        let seen = match before {
            Some(before) => before + items.len(),
            None => at_revision(map, &changed, ns, None)
                .take_while(|s| Some(s.key()) <= end)
                .count(),
        };
        remaining = count_at(map, ns, &changed).saturating_sub(seen).max(1);
        if let Some((n, name)) = end {
            store.remember_list_position(&gr, ns, at, n, name, seen);
        }
    }
    let next = more.then(|| {
        let (n, name) = last_key.clone().unwrap_or_default();
        let start = if ns.is_none() && view.rt.namespaced {
            format!("{n}/{name}")
        } else {
            name
        };
        encode_continue(at as i64, &start)
    });
    let remaining = (more && !selectors).then_some(remaining);
    Ok(Page {
        items,
        rv: at,
        next,
        remaining,
    })
}

fn list_metadata(view: &View, page: &Page, force_continue: bool) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("resourceVersion".into(), json!(page.rv.to_string()));
    match &page.next {
        Some(t) => {
            m.insert("continue".into(), json!(t));
        }
        None if force_continue && view.rt.custom => {
            m.insert("continue".into(), json!(""));
        }
        None => {}
    }
    if let Some(r) = page.remaining {
        m.insert("remainingItemCount".into(), json!(r));
    }
    Value::Object(m)
}

pub(crate) fn partial_metadata(s: &Stored) -> Value {
    let metadata = s.metadata();
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
           "metadata": metadata.unwrap_or(json!({}))})
}

/// A Table row for one object.
pub fn table_row(view: &View, s: &Stored, include: &str, now: jiff::Timestamp) -> Value {
    // The cells only read fields; the events.k8s.io view is the one case that needs a converted copy.
    let obj = if view.is_alias() {
        view.object(s)
    } else {
        s.value()
    };
    let obj = &obj;
    let mut row = json!({"cells": table::cells(&view.rt, &view.version, obj, now)});
    match include {
        "None" => {}
        "Object" => row["object"] = view.object(s),
        _ => row["object"] = partial_metadata(s),
    }
    row
}

pub fn table(view: &View, items: &[&Stored], meta: Value, include: &str, headers: bool) -> Value {
    let now = jiff::Timestamp::now();
    let columns = if headers {
        table::columns(&view.rt, &view.version)
    } else {
        vec![]
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|s| table_row(view, s, include, now))
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns, "rows": rows})
}

/// The response body for a LIST page.
pub fn render(view: &View, page: &Page, fmt: &Format) -> Vec<u8> {
    match fmt {
        Format::Table { include } => {
            let meta = list_metadata(view, page, false);
            let items: Vec<&Stored> = page.items.iter().map(|s| s.as_ref()).collect();
            serde_json::to_vec(&table(view, &items, meta, include, true)).unwrap_or_default()
        }
        Format::Metadata => {
            let items: Vec<Value> = page.items.iter().map(|s| partial_metadata(s)).collect();
            let body = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                              "metadata": list_metadata(view, page, false), "items": items});
            serde_json::to_vec(&body).unwrap_or_default()
        }
        Format::Json => render_json(view, page),
    }
}

fn render_json(view: &View, page: &Page) -> Vec<u8> {
    let per_item = page.items.first().map_or(0, |s| s.json_len() + 64);
    let mut out = Vec::with_capacity(256 + per_item * page.items.len());
    let av = json!(view.api_version()).to_string();
    let list_kind = json!(view.rt.list_kind).to_string();
    let meta = list_metadata(view, page, true).to_string();
    let custom = view.rt.custom;
    if custom {
        out.extend_from_slice(format!("{{\"apiVersion\":{av},\"items\":[").as_bytes());
    } else {
        out.extend_from_slice(
            format!("{{\"kind\":{list_kind},\"apiVersion\":{av},\"metadata\":{meta},\"items\":[")
                .as_bytes(),
        );
    }
    for (i, s) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        view.write_object(s, &mut out, custom);
    }
    if custom {
        out.extend_from_slice(format!("],\"kind\":{list_kind},\"metadata\":{meta}}}").as_bytes());
    } else {
        out.extend_from_slice(b"]}");
    }
    out
}

/// The response body for one object (GET, and the answers to writes).
pub fn render_one(view: &View, s: &Stored, fmt: &Format) -> Vec<u8> {
    match fmt {
        Format::Table { include } => {
            let meta = json!({"resourceVersion": s.rv.to_string()});
            serde_json::to_vec(&table(view, &[s], meta, include, true)).unwrap_or_default()
        }
        Format::Metadata => serde_json::to_vec(&partial_metadata(s)).unwrap_or_default(),
        Format::Json => {
            let mut out = Vec::with_capacity(s.json_len() + 64);
            view.write_object(s, &mut out, true);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_token_matches_the_recorded_format() {
        let token = encode_continue(428, "netbox/netbox-db-password");
        assert_eq!(
            token,
            "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDI4LCJzdGFydCI6Im5ldGJveC9uZXRib3gtZGItcGFzc3dvcmRcdTAwMDAifQ"
        );
        assert_eq!(
            decode_continue(&token).expect("decodes"),
            (428, "netbox/netbox-db-password".to_string())
        );
        assert!(decode_continue("not base64!").is_err());
    }

    #[test]
    fn accept_negotiation_answers_json_forms() {
        assert_eq!(
            negotiate(
                Some("application/json;as=Table;g=meta.k8s.io;v=v1,application/json"),
                None
            ),
            Format::Table {
                include: "Metadata".into()
            }
        );
        assert_eq!(
            negotiate(
                Some("application/vnd.kubernetes.protobuf,application/json"),
                None
            ),
            Format::Json
        );
        assert_eq!(
            negotiate(
                Some(
                    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
                ),
                None
            ),
            Format::Metadata
        );
        assert_eq!(negotiate(None, None), Format::Json);
    }
}
