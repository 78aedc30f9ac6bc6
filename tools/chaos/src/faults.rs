//! The campaign's faults and their counts, all drawn from one seeded generator so a seed replays
//! the same plan (the interleaving of concurrent users still varies from run to run).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The seeded generator and what was injected, by kind.
pub struct Faults {
    rng: Mutex<StdRng>,
    on: AtomicBool,
    counts: Mutex<BTreeMap<&'static str, u64>>,
    values: Mutex<BTreeMap<&'static str, i64>>,
}

impl Faults {
    pub fn new(seed: u64) -> Faults {
        Faults {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            on: AtomicBool::new(true),
            counts: Mutex::new(BTreeMap::new()),
            values: Mutex::new(BTreeMap::new()),
        }
    }

    /// Faults stop: the reconciliation runs on a quiet system.
    pub fn stop(&self) {
        self.on.store(false, Ordering::SeqCst);
    }

    pub fn on(&self) -> bool {
        self.on.load(Ordering::SeqCst)
    }

    /// True with probability `p` while faults are on; counted under `kind` when true.
    pub fn roll(&self, kind: &'static str, p: f64) -> bool {
        if !self.on() {
            return false;
        }
        let hit = self.with_rng(|rng| rng.random_bool(p.clamp(0.0, 1.0)));
        if hit {
            self.count(kind);
        }
        hit
    }

    /// A choice that is not a fault (how long a user waits, which action they take).
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut rng)
    }

    /// `count` stories, each of an owner drawn from `users` and, for three in ten, a partner
    /// drawn from them too (none when it is the owner): the same seed draws the same stories.
    pub fn stories<U: Clone + PartialEq>(&self, users: &[U], count: usize) -> Vec<(U, Option<U>)> {
        (0..count)
            .map(|_| {
                self.with_rng(|rng| {
                    let owner = users[rng.random_range(0..users.len())].clone();
                    let partner = rng
                        .random_bool(0.3)
                        .then(|| users[rng.random_range(0..users.len())].clone())
                        .filter(|p| *p != owner);
                    (owner, partner)
                })
            })
            .collect()
    }

    pub fn count(&self, kind: &'static str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(kind)
            .or_default() += 1;
    }

    /// A figure of the run that is no count (printed with the faults).
    pub fn note_value(&self, what: &'static str, value: i64) {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(what, value);
    }

    pub fn values(&self) -> BTreeMap<&'static str, i64> {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
