//! The hash maps of the prediction's hot paths: std's `HashMap` with foldhash's
//! per-process seeded hasher instead of SipHash. The keys (operations, paths, ignore patterns)
//! are hashed thousands of times per analysis and again for every commit of `history`; foldhash
//! is several times faster on them and, being seeded, still does not let a pull request choose
//! colliding keys ahead of time. Like std's seeded maps, their order is not stable from one run
//! to the next: nothing may depend on it.

pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
