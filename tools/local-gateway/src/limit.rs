//! A cap on the invocations one function may have in flight, so `cargo lambda watch` can never
//! freeze. Its 1.9.2 scheduler holds its cache's write lock while it waits for room in a
//! function's queue, which holds 100 invocations; once that queue is full nothing can pop from
//! it, and every function stops with it. Keeping each function below the queue's size keeps the
//! scheduler moving; over the cap the gateway answers 429 at once, as API Gateway throttles.
//!
//! An invocation holds its place until the emulator answers it, not until the client gives up:
//! a request the gateway timed out is still queued inside the emulator.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Well below the emulator's queue of 100 per function.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 48;

/// One counter of places per function.
#[derive(Debug)]
pub struct InFlightLimit {
    per_function: HashMap<String, Arc<Semaphore>>,
    max: usize,
}

impl InFlightLimit {
    /// A limit of `max` invocations in flight for each of `functions`.
    pub fn new<'a>(functions: impl IntoIterator<Item = &'a str>, max: usize) -> InFlightLimit {
        let max = max.max(1);
        InFlightLimit {
            per_function: functions
                .into_iter()
                .map(|f| (f.to_owned(), Arc::new(Semaphore::new(max))))
                .collect(),
            max,
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A place for one invocation of `function`, or `None` when all are taken. Drop the permit
    /// when the emulator has answered.
    pub fn try_acquire(&self, function: &str) -> Option<OwnedSemaphorePermit> {
        self.per_function
            .get(function)
            .and_then(|s| Arc::clone(s).try_acquire_owned().ok())
    }

    /// Invocations of `function` under way now.
    pub fn in_flight(&self, function: &str) -> usize {
        self.per_function
            .get(function)
            .map_or(0, |s| self.max - s.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_function_has_its_own_places_and_gets_them_back() {
        let limit = InFlightLimit::new(["a", "b"], 2);
        let first = limit.try_acquire("a");
        let second = limit.try_acquire("a");
        assert!(first.is_some() && second.is_some());
        assert!(
            limit.try_acquire("a").is_none(),
            "a third one is over the cap"
        );
        assert!(
            limit.try_acquire("b").is_some(),
            "another function is not affected"
        );
        assert_eq!(limit.in_flight("a"), 2);
        drop(first);
        assert_eq!(limit.in_flight("a"), 1);
        assert!(limit.try_acquire("a").is_some());
    }

    #[test]
    fn an_unknown_function_gets_no_place() {
        let limit = InFlightLimit::new(["a"], 3);
        assert!(limit.try_acquire("zzz").is_none());
        assert_eq!(limit.in_flight("zzz"), 0);
    }
}
