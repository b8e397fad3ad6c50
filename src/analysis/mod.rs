//! Pure functions from what was read to what it means. No I/O and no clock: `now` is a parameter,
//! so every verdict is unit-tested with fixed times. `doctor` reuses `scope`'s analysis; the
//! consumers of a Secret are shared by scope, force-sync and describe-chain.

pub mod app_logs;
pub mod bundle;
pub mod chain;
pub mod consumers;
pub mod doctor;
pub mod duration;
pub mod eso_logs;
pub mod force_sync;
pub mod push;
pub mod scope;
pub mod since;
pub mod store_conditions;
pub mod sync_window;
pub mod trust;
pub mod verdict;
