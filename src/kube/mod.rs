//! The only code that talks to the Kubernetes API: building the client from kubectl's flags,
//! ESO discovery, paginated LISTs, and per-command fetchers that return plain snapshots.

pub mod app_logs;
pub mod bundle;
pub mod chain;
pub mod client;
pub mod complete;
pub mod doctor_install;
pub mod doctor_stores;
pub mod doctor_targets;
pub mod eso;
pub mod eso_reloader;
pub mod force_sync;
pub mod list;
pub mod list_stream;
pub mod pod_logs;
pub mod provider_class;
pub mod push;
pub mod reduce;
pub mod retry;
pub mod scope;
