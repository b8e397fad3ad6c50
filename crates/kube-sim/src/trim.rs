//! Gives the memory of a big answer back to the system once it is sent. A LIST served from the
//! watch cache (`resourceVersion=0`, no pages) builds tens of MB at 30,000 objects; glibc keeps
//! what is freed in its per-thread arenas, so a sandbox that served a few of them held 1 GB at
//! 30k and 1.9 GB at 100k after a benchmark, against 261 / 658 MiB after start (issue 16), and
//! `malloc_trim` brought it back. Pages of a paginated LIST (about 400 KB) never trigger it.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, SizeHint};

use crate::handler::Body;

/// Answers at least this big give their memory back when sent.
pub const BIG: u64 = 4 << 20;

/// `body`, which gives the process's free memory back to the system when it is dropped (sent, or
/// abandoned by the client), when it is [`BIG`]; else `body` as it is.
pub fn when_big(body: Body) -> Body {
    match body.size_hint().exact() {
        Some(n) if n >= BIG => TrimOnDrop(body).boxed(),
        _ => body,
    }
}

struct TrimOnDrop(Body);

impl hyper::body::Body for TrimOnDrop {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

impl Drop for TrimOnDrop {
    fn drop(&mut self) {
        soon();
    }
}

/// A trim is asked for or running: several big answers at once need one.
static PENDING: AtomicBool = AtomicBool::new(false);

/// How many trims ran (for tests).
static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Trims on a thread of its own (it walks the heap: tens of ms at 1 GB), once for a burst.
pub fn soon() {
    if PENDING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new().name("trim".into()).spawn(|| {
        // Lets the other answers of a burst (a client's concurrent LISTs) finish first.
        std::thread::sleep(std::time::Duration::from_millis(50));
        PENDING.store(false, Ordering::Release);
        trim();
    });
    if spawned.is_err() {
        PENDING.store(false, Ordering::Release);
    }
}

/// Trims now, on this thread (not counted in [`runs`]: only answers are).
pub(crate) fn now() {
    release();
}

/// The number of trims run so far.
#[cfg(test)]
fn runs() -> usize {
    RUNS.load(Ordering::Acquire)
}

fn trim() {
    release();
    RUNS.fetch_add(1, Ordering::AcqRel);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release() {
    unsafe extern "C" {
        /// glibc's `malloc_trim(3)`: returns free memory at the top of the heap and, since 2.8,
        /// in every arena, to the system; `pad` bytes are kept.
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim takes no pointer and only rearranges the allocator's own free lists,
    // under the allocator's locks; any thread may call it at any time.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release() {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::full;

    #[tokio::test]
    async fn a_big_answer_trims_once_sent_and_a_page_never_does() {
        let page = when_big(full(vec![b'x'; 400 << 10]));
        let before = runs();
        drop(page.collect().await);
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(runs(), before, "a page-sized answer does not trim");

        let big = when_big(full(vec![b'x'; BIG as usize]));
        assert_eq!(
            big.size_hint().exact(),
            Some(BIG),
            "the size is still announced"
        );
        let sent = big
            .collect()
            .await
            .map(|c| c.to_bytes().len())
            .unwrap_or_default();
        assert_eq!(sent, BIG as usize, "the body is passed through whole");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while runs() == before && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(runs(), before + 1, "one trim after the big answer");
    }
}
