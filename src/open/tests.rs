use super::OpenOptions;

/// `Debug` shows the memory ceiling and nothing of the random source.
#[test]
fn debug_shows_the_memory_ceiling() {
    assert_eq!(
        format!("{:?}", OpenOptions::new().max_kdf_memory_kib(4096)),
        "OpenOptions { max_kdf_memory_kib: 4096, .. }"
    );
}
