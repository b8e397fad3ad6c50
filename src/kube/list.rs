//! LIST discipline in one place: one paginated LIST per resource type and namespace scope
//! (limit 500 + continue), never a GET per object, and Kubernetes errors turned into sentences a
//! user can act on ("no permission to list secrets in prod").

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use kube::api::ListParams;
use kube::core::PartialObjectMeta;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use crate::diag::Diag;
use crate::error::Error;
use crate::model::scope::Degraded;

const PAGE_SIZE: u32 = 500;

/// How many bytes of a page's items are held undecoded until the next page was asked for (a
/// page of 500 ExternalSecrets is about 400 KB); beyond it, items are decoded as they come.
const HOLD_BYTES: usize = 4 << 20;

/// `--cached` (issue 16): every LIST of this run is read from the API server's watch cache.
static WATCH_CACHE: AtomicBool = AtomicBool::new(false);

/// `--cached`: from now on every paginated LIST asks for `resourceVersion=0`, which the API server
/// serves from its watch cache instead of a consistent read from etcd — much cheaper on a big
/// cluster, possibly a few seconds stale. Set once, before the command's first LIST.
pub fn read_from_watch_cache(on: bool) {
    WATCH_CACHE.store(on, Ordering::Relaxed);
}

/// The first request of a LIST. `resourceVersion=0` is sent without `limit`: kube-apiserver up
/// to 1.32 serves it from the watch cache in one response whatever the limit (and kube-rs drops
/// `resourceVersion=0` when a limit is set). A server that pages it anyway answers with a
/// `continue` token, which is followed as usual (the token carries the resourceVersion, so none
/// is sent with it).
fn first_request(params: &ListParams) -> ListParams {
    if WATCH_CACHE.load(Ordering::Relaxed) {
        let mut lp = params.clone().at("0");
        lp.limit = None;
        lp
    } else {
        params.clone().limit(PAGE_SIZE)
    }
}

/// What is being listed, for diagnostics and error messages.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Resource plural, e.g. `externalsecrets`.
    pub resource: String,
    /// `None` for all namespaces or a cluster-scoped resource.
    pub namespace: Option<String>,
}

impl Listing {
    pub fn new(resource: &str, namespace: Option<&str>) -> Self {
        Listing {
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
        }
    }

    fn place(&self) -> String {
        match &self.namespace {
            Some(ns) => format!(" in {ns}"),
            None => String::new(),
        }
    }

    /// A 403/401 or other failure turned into a degraded part of the report.
    pub fn degraded(&self, e: &kube::Error) -> Degraded {
        let cause = match status_code(e) {
            Some(403) => format!("no permission to list {}{}", self.resource, self.place()),
            Some(401) => format!("not authorised to list {}{}", self.resource, self.place()),
            _ => format!(
                "could not list {}{}: {}",
                self.resource,
                self.place(),
                super::client::one_line(e)
            ),
        };
        Degraded {
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            cause,
        }
    }

    /// A failure the command cannot go on without.
    pub fn fatal(&self, e: &kube::Error) -> Error {
        api_error(&format!("cannot list {}{}", self.resource, self.place()), e)
    }
}

pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// `what: 403 Forbidden: <message> (server …, context …)`: the API server's answer and which
/// cluster gave it, on one line.
pub fn api_error(what: &str, e: &kube::Error) -> Error {
    let mut detail = match e {
        kube::Error::Api(s) if s.code == 401 => format!(
            "{}; check your credentials (token expired?)",
            super::client::api_status_line(s)
        ),
        _ => super::client::one_line(e),
    };
    if let Some(cluster) = super::client::cluster_label() {
        detail = format!("{detail} ({})", crate::sanitize::line(cluster));
    }
    Error::Api {
        what: what.to_string(),
        detail,
    }
}

/// Every object, page by page.
pub async fn list_all<K>(
    api: &Api<K>,
    params: &ListParams,
    what: &Listing,
    diag: &Diag,
) -> Result<Vec<K>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    list_reduced(api, params, what, diag, Some::<K>).await
}

/// Every object, page by page, each decoded as a `W` — `K`, or a type that reads less of it — and
/// reduced by `keep` as its page arrives: for big lists (every pod of a cluster) of which only a
/// few facts per object are needed, so whole objects never pile up in memory.
pub async fn list_reduced<K, W, T>(
    api: &Api<K>,
    params: &ListParams,
    what: &Listing,
    diag: &Diag,
    keep: impl FnMut(W) -> Option<T>,
) -> Result<Vec<T>, kube::Error>
where
    K: Resource + Clone,
    W: DeserializeOwned,
{
    paginate(api, false, params, what, diag, keep).await
}

/// Every object's metadata only (PartialObjectMetadataList): used for Secrets so no Secret data
/// ever crosses the wire.
pub async fn list_all_metadata<K>(
    api: &Api<K>,
    params: &ListParams,
    what: &Listing,
    diag: &Diag,
) -> Result<Vec<PartialObjectMeta<K>>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    list_metadata_reduced(api, params, what, diag, Some::<PartialObjectMeta<K>>).await
}

/// Every object's metadata only, each decoded as a `W` (a `PartialObjectMeta<K>`, or a type that
/// reads less of it) and reduced by `keep` as its page arrives.
pub async fn list_metadata_reduced<K, W, T>(
    api: &Api<K>,
    params: &ListParams,
    what: &Listing,
    diag: &Diag,
    keep: impl FnMut(W) -> Option<T>,
) -> Result<Vec<T>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    W: DeserializeOwned,
{
    paginate(api, true, params, what, diag, keep).await
}

/// Each page is read as it arrives (`list_stream`): every item is deserialized and reduced by
/// `keep` once its bytes came, so neither a page's body nor its whole objects are held — not even
/// for `--cached`'s single answer holding every object of the resource (issue 16).
///
/// The next page is asked for as soon as this page's `continue` token has come — before the
/// items when the server sends the list's metadata first (kube-apiserver's built-in types), else
/// (custom resources: metadata last) at the end of the body, whose items are then held undecoded
/// (`list_stream::read_held`, at most [`HOLD_BYTES`]) and decoded while the API server prepares
/// the next page: the client's work overlaps the server's instead of adding to it (issue 16, the
/// page-fetch ratio). At most one page is requested ahead; pages are read in order.
async fn paginate<K, T, U>(
    api: &Api<K>,
    metadata_only: bool,
    params: &ListParams,
    what: &Listing,
    diag: &Diag,
    mut keep: impl FnMut(T) -> Option<U>,
) -> Result<Vec<U>, kube::Error>
where
    K: Resource + Clone,
    T: DeserializeOwned,
{
    let client = api.clone().into_client();
    let request = kube::core::Request::new(api.resource_url());
    let send = |lp: &ListParams| {
        let mut req = if metadata_only {
            request.list_metadata(lp)
        } else {
            request.list(lp)
        }
        .map_err(kube::Error::BuildRequest)?;
        req.extensions_mut().insert("list");
        let client = client.clone();
        Ok::<_, kube::Error>(Prefetch(tokio::spawn(async move {
            client.request_stream(req).await
        })))
    };
    let mut lp = first_request(params);
    let mut items = Vec::new();
    let mut page = 0;
    let mut ahead: Option<(String, Prefetch<_>)> = None;
    loop {
        page += 1;
        let started = Instant::now();
        let mut count = 0;
        let result = async {
            let pending = match ahead.take() {
                Some((_, pending)) => pending,
                None => send(&lp)?,
            };
            let body = pending.body().await?;
            let mut early_error = None;
            let mut decode = |item: T| {
                count += 1;
                items.extend(keep(item));
            };
            let (meta, held) = super::list_stream::read_held(
                std::pin::pin!(body),
                HOLD_BYTES,
                |meta| {
                    if let Some(token) = meta.continue_.as_deref().filter(|t| !t.is_empty()) {
                        match send(&next_page(&lp, token)) {
                            Ok(pending) => ahead = Some((token.to_string(), pending)),
                            Err(e) => early_error = Some(e),
                        }
                    }
                },
                &mut decode,
            )
            .await?;
            if let Some(e) = early_error {
                return Err(e);
            }
            // The token came after the items (a custom resource's list): the next page is asked
            // for now, and this page's items are decoded while the server prepares it.
            if ahead.is_none()
                && let Some(token) = meta.continue_.as_deref().filter(|t| !t.is_empty())
            {
                ahead = Some((token.to_string(), send(&next_page(&lp, token))?));
                tokio::task::yield_now().await;
            }
            for (n, item) in held.items().enumerate() {
                super::list_stream::decode(item, &mut decode).map_err(kube::Error::SerdeError)?;
                // Other LISTs of the command (and the request just sent) go on meanwhile.
                if n % 64 == 63 {
                    tokio::task::yield_now().await;
                }
            }
            Ok(meta)
        }
        .await;
        let list_meta = match result {
            Ok(meta) => meta,
            Err(e) => {
                diag.log(
                    1,
                    format_args!(
                        "LIST {}{} page {page}: failed ({})",
                        what.resource,
                        where_(what),
                        status_text(&e)
                    ),
                );
                return Err(e);
            }
        };
        diag.log(
            1,
            format_args!(
                "LIST {}{} page {page}: {} items in {:?}{}",
                what.resource,
                where_(what),
                count,
                started.elapsed(),
                match lp.resource_version.as_deref() {
                    Some("0") if lp.continue_token.is_none() => " (watch cache)",
                    _ => "",
                }
            ),
        );
        match list_meta.continue_ {
            Some(token) if !token.is_empty() => {
                lp = next_page(&lp, &token);
                // The page asked for ahead is the one this token names (the metadata is read
                // once; a server sending it twice is not followed ahead).
                if ahead.as_ref().is_some_and(|(t, _)| *t != token) {
                    ahead = None;
                }
            }
            _ => break,
        }
    }
    // Grown by doubling while the pages came: the spare capacity is given back (issue 16).
    items.shrink_to_fit();
    Ok(items)
}

/// The request for the page after `lp`'s: a continued LIST is paged by the token; with the watch
/// cache's `resourceVersion=0` the first answer came in one piece or says how to go on.
fn next_page(lp: &ListParams, token: &str) -> ListParams {
    let mut next = lp.clone().continue_token(token);
    if next.limit.is_none() {
        next = next.limit(PAGE_SIZE);
    }
    next
}

/// A page's request, sent and answered in the background; dropped (a LIST that failed), it is
/// cancelled.
struct Prefetch<B>(tokio::task::JoinHandle<Result<B, kube::Error>>);

impl<B> Prefetch<B> {
    async fn body(mut self) -> Result<B, kube::Error> {
        match (&mut self.0).await {
            Ok(answer) => answer,
            Err(e) => Err(kube::Error::Service(Box::new(e))),
        }
    }
}

impl<B> Drop for Prefetch<B> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn where_(what: &Listing) -> String {
    match &what.namespace {
        Some(ns) => format!(" -n {ns}"),
        None => String::new(),
    }
}

fn status_text(e: &kube::Error) -> String {
    match status_code(e) {
        Some(code) => format!("HTTP {code}"),
        None => "no answer".to_string(),
    }
}
