//! Plain data, no I/O: the ESO objects as read, the references users type, and the reports the
//! renderers print.

pub mod chain;
pub mod doctor;
pub mod eso;
pub mod eso_reloader;
pub mod finding;
pub mod force_sync;
pub mod logs;
pub mod push;
pub mod refs;
pub mod scope;
