//! Two pieces of CPU work at once, one on a scoped thread and one on the caller's: how a
//! reconciliation uses the machine's two cores. A panic in either is re-raised in the
//! caller. On a worker thread of tokio's multi-threaded runtime the pair runs inside
//! `block_in_place`, so the runtime's other tasks (the listeners, the pulls) move to
//! another thread instead of waiting seconds behind a sort.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `a` on a thread of its own while the caller runs `b`; both results.
pub fn join<RA: Send, RB>(a: impl FnOnce() -> RA + Send, b: impl FnOnce() -> RB) -> (RA, RB) {
    off_the_runtime(|| {
        std::thread::scope(|s| {
            let a = s.spawn(a);
            let rb = b();
            let ra = a.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            (ra, rb)
        })
    })
}

/// Runs CPU-bound `f` where it holds up no async task: inside `block_in_place` on a
/// multi-threaded runtime's thread, as it is anywhere else.
pub fn off_the_runtime<R>(f: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_run_and_a_panic_comes_back_to_the_caller() {
        assert_eq!(join(|| 1 + 1, || "b"), (2, "b"));
        let caught = std::panic::catch_unwind(|| join(|| panic!("in a"), || 0));
        assert!(caught.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_a_runtime_worker_even_nested() {
        let (a, b) = join(|| join(|| 1, || 2), || off_the_runtime(|| 3));
        assert_eq!((a, b), ((1, 2), 3));
    }

    #[tokio::test]
    async fn on_a_current_thread_runtime() {
        assert_eq!(join(|| 1, || 2), (1, 2));
    }
}
