use lightning::io::ErrorKind;
use lightning::util::persist::KVStoreSync;

use crate::{Credential, MemoryStore, OpenOptions, RawKey, WriteError};

/// A write past the block of versions reserved at open is refused before anything reaches the
/// inner store, as `WriteError::VersionsExhausted` (kind `Other`).
#[test]
fn a_write_past_the_reserved_block_is_versions_exhausted() {
    let inner = MemoryStore::new();
    let key = RawKey::from_bytes([1; 32]);
    let store = OpenOptions::new()
        .create::<crate::ldk::V0_2, _>(inner.clone(), Credential::raw_key(&key))
        .unwrap();
    KVStoreSync::write(&store, "p", "", "k", b"last".to_vec()).unwrap();
    {
        let mut c = store.engine.counter();
        c.next = c.limit;
    }
    let before = KVStoreSync::read(&inner, "p", "", "k").unwrap();
    for k in ["k", "new"] {
        let err = KVStoreSync::write(&store, "p", "", k, b"refused".to_vec()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other, "{err:?}");
        assert!(
            matches!(
                err.get_ref().and_then(|e| e.downcast_ref::<WriteError>()),
                Some(WriteError::VersionsExhausted)
            ),
            "{err:?}"
        );
    }
    assert_eq!(KVStoreSync::read(&inner, "p", "", "k").unwrap(), before);
    assert_eq!(
        KVStoreSync::read(&inner, "p", "", "new")
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(KVStoreSync::read(&store, "p", "", "k").unwrap(), b"last");
}
