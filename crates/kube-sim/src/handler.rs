//! HTTP entry point (being written).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::status::ApiStatus;
use crate::{Faults, Store};

pub type Body = BoxBody<Bytes, Infallible>;

pub struct Shared {
    pub store: Store,
    pub faults: Faults,
}

impl Shared {
    pub fn new(store: Store, faults: Faults) -> Self {
        Self { store, faults }
    }
}

pub async fn handle(
    _shared: Arc<Shared>,
    _req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let status = ApiStatus::path_not_found();
    let body = serde_json::to_vec(&status.to_json()).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)).boxed());
    *resp.status_mut() = hyper::StatusCode::NOT_FOUND;
    Ok(resp)
}
