//! Most of netplumb's tests need the test harness (feature `test-support`);
//! without it Cargo leaves them out. This test makes that loud instead of a
//! silent skip.

#[cfg(not(feature = "test-support"))]
#[test]
fn the_test_harness_is_enabled() {
    panic!(
        "most of netplumb's tests need feature test-support and were not built: run `cargo test --all-features` \
         (in the repository) or `cargo test --features test-support,fuzzing` (in the package)"
    );
}

#[cfg(feature = "test-support")]
#[test]
fn the_test_harness_is_enabled() {
    // The harness is public: the privileged-test guard exists.
    let _: fn() = netplumb::testing::require_root;
}
