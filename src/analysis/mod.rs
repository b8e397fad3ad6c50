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

/// From this many ExternalSecrets on, [`beside`] runs its two halves on two threads.
pub(crate) const PARALLEL_FROM: usize = 2_000;

/// `a` and `b`, on two threads when `parallel` (and a thread can be had), else one after the
/// other: pure functions both, so the result is the same either way.
pub(crate) fn beside<A, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel {
        return (a(), b());
    }
    // `b` runs once: on the thread, or here when no thread can be had.
    let b = std::sync::Mutex::new(Some(b));
    let run_b = || match b.lock() {
        Ok(mut f) => f.take().map(|f| f()),
        Err(_) => None,
    };
    std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("analyse".into())
            .spawn_scoped(s, run_b);
        let a = a();
        let b = match spawned {
            Ok(thread) => match thread.join() {
                Ok(b) => b,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(_) => run_b(),
        };
        match b {
            Some(b) => (a, b),
            None => unreachable!("the second half runs exactly once"),
        }
    })
}
