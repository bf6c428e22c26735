//! The hash maps of the prediction's hot paths: std's `HashMap` with foldhash's
//! per-process seeded hasher instead of SipHash. The keys (operations, paths, ignore patterns)
//! are hashed thousands of times per analysis and again for every commit of `history`; foldhash
//! is several times faster on them and, being seeded, still does not let a pull request choose
//! colliding keys ahead of time. Like std's seeded maps, their order is not stable from one run
//! to the next: nothing may depend on it.
//!
//! And the one stable hash, `fnv1a`, for identities that must be the same on every run and
//! platform (finding fingerprints, review markers, SARIF fingerprints).

pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// 64-bit FNV-1a of `bytes`: stable across runs, versions and platforms (not for maps a pull
/// request fills: it is unseeded).
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // the FNV reference values (draft-eastlake-fnv): "", "a", "foobar"
        for (input, want) in [
            ("", 0xcbf2_9ce4_8422_2325_u64),
            ("a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", 0x8594_4171_f739_67e8),
        ] {
            assert_eq!(fnv1a(input.bytes()), want, "{input:?}");
        }
    }
}
