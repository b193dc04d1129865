//! `Slot`, an inner store that costs nothing and allocates nothing on the sync path, shared by
//! `tests/allocations.rs` and `examples/record_path.rs` (both include this file by path).
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use lightning::io;
use lightning::util::persist::{KVStore, KVStoreSync};

/// An inner store that allocates nothing itself: it keeps the last record written and hands
/// it back (moved, not copied) on the next read.
#[derive(Default)]
pub struct Slot(pub Mutex<Option<Vec<u8>>>);

impl KVStoreSync for Slot {
    fn read(&self, _: &str, _: &str, _: &str) -> Result<Vec<u8>, io::Error> {
        self.0
            .lock()
            .unwrap()
            .take()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn write(&self, _: &str, _: &str, _: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        *self.0.lock().unwrap() = Some(buf);
        Ok(())
    }
    fn remove(&self, _: &str, _: &str, _: &str, _: bool) -> Result<(), io::Error> {
        Ok(())
    }
    fn list(&self, _: &str, _: &str) -> Result<Vec<String>, io::Error> {
        Ok(Vec::new())
    }
}

impl KVStore for Slot {
    fn read(
        &self,
        p: &str,
        s: &str,
        k: &str,
    ) -> lightning::util::async_poll::AsyncResult<'static, Vec<u8>, io::Error> {
        let r = KVStoreSync::read(self, p, s, k);
        Box::pin(async move { r })
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> lightning::util::async_poll::AsyncResult<'static, (), io::Error> {
        let r = KVStoreSync::write(self, p, s, k, buf);
        Box::pin(async move { r })
    }
    fn remove(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: bool,
    ) -> lightning::util::async_poll::AsyncResult<'static, (), io::Error> {
        Box::pin(async { Ok(()) })
    }
    fn list(
        &self,
        _: &str,
        _: &str,
    ) -> lightning::util::async_poll::AsyncResult<'static, Vec<String>, io::Error> {
        Box::pin(async { Ok(Vec::new()) })
    }
}
