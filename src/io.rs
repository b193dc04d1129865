//! The seam to the inner store: the sealed per-LDK-version traits the adapters implement, the
//! one view of them the core uses ([`Io`]: every call a future, ready at once for a
//! synchronous store), its synchronous and asynchronous adapters, the executor that runs a
//! body over a synchronous store to its end, and the header's read and write over [`Io`].

use core::future::Future;
use core::marker::PhantomData;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use bitcoin::io;

use crate::error::OpenError;
use crate::names::{HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE};

/// Polls `fut` once: its output if every inner call it awaited was ready at once (a
/// synchronous inner store), `None` if it was not.
pub(crate) fn run<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => Some(r),
        Poll::Pending => None,
    }
}

/// The error of a synchronous inner store call that did not complete.
pub(crate) fn stalled() -> io::Error {
    io::Error::new(
        io::ErrorKind::Other,
        "a synchronous inner store call did not complete",
    )
}

/// Runs a future whose inner calls are all synchronous to its end.
pub(crate) fn complete_io<T>(
    fut: impl Future<Output = Result<T, io::Error>>,
) -> Result<T, io::Error> {
    run(fut).unwrap_or_else(|| Err(stalled()))
}

/// A synchronous inner store of the LDK version `M`: implemented for every `KVStoreSync` of
/// each enabled version. Sealed: the adapters implement it; it has no methods of its own.
pub trait InnerStore<M>: sealed::SyncIo<M> {}
impl<M, S: sealed::SyncIo<M> + ?Sized> InnerStore<M> for S {}

/// An asynchronous inner store of the LDK version `M`: implemented for every `KVStore` of each
/// enabled version. Sealed: the adapters implement it; it has no methods of its own.
pub trait AsyncInnerStore<M>: sealed::AsyncIo<M> {}
impl<M, S: sealed::AsyncIo<M> + ?Sized> AsyncInnerStore<M> for S {}

/// A synchronous inner store of the LDK version `M` that can list every key: implemented for
/// every `MigratableKVStore` (0.2) or `MigratableKVStoreSync` (0.3). Sealed.
pub trait MigratableInnerStore<M>: sealed::ListAll<M> {}
impl<M, S: sealed::ListAll<M> + ?Sized> MigratableInnerStore<M> for S {}

pub(crate) mod sealed {
    use core::future::Future;

    use bitcoin::io;

    /// The calls of one LDK version's `KVStoreSync` that creating and opening a store need.
    pub trait SyncIo<M> {
        fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, io::Error>;
        fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error>;
        fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error>;
        fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Result<(), io::Error>;
    }

    /// `list_all_keys` of one LDK version's synchronous migration trait.
    pub trait ListAll<M> {
        fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error>;
    }

    /// The calls of one LDK version's `KVStore` that creating and opening a store need.
    pub trait AsyncIo<M> {
        fn read(
            &self,
            p: &str,
            s: &str,
            k: &str,
        ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + Send + 'static;
        fn write(
            &self,
            p: &str,
            s: &str,
            k: &str,
            buf: Vec<u8>,
        ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static;
        fn list(
            &self,
            p: &str,
            s: &str,
        ) -> impl Future<Output = Result<Vec<String>, io::Error>> + Send + 'static;
        fn remove(
            &self,
            p: &str,
            s: &str,
            k: &str,
            lazy: bool,
        ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static;
    }
}

/// The inner-store calls the header's life cycle needs, as futures (ready at once for a
/// synchronous store). Implemented by [`SyncIo`] and [`AsyncIo`] over the adapters' sealed
/// per-version traits.
pub(crate) trait Io {
    /// The future of one inner call. It borrows nothing: the call was made when it was
    /// created.
    type Fut<T: Send + 'static>: Future<Output = Result<T, io::Error>> + Send + 'static;
    fn read(&self, primary: &str, secondary: &str, key: &str) -> Self::Fut<Vec<u8>>;
    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> Self::Fut<()>;
    fn list(&self, primary: &str, secondary: &str) -> Self::Fut<Vec<String>>;
    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> Self::Fut<()>;
}

/// A synchronous inner store of LDK version `M`, seen as [`Io`].
pub(crate) struct SyncIo<'a, S: ?Sized, M>(&'a S, PhantomData<fn() -> M>);

impl<'a, S: InnerStore<M> + ?Sized, M> SyncIo<'a, S, M> {
    pub(crate) fn new(inner: &'a S) -> Self {
        SyncIo(inner, PhantomData)
    }
}

impl<S: InnerStore<M> + ?Sized, M> Io for SyncIo<'_, S, M> {
    type Fut<T: Send + 'static> = core::future::Ready<Result<T, io::Error>>;
    fn read(&self, p: &str, s: &str, k: &str) -> Self::Fut<Vec<u8>> {
        core::future::ready(sealed::SyncIo::<M>::read(self.0, p, s, k))
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Self::Fut<()> {
        core::future::ready(sealed::SyncIo::<M>::write(self.0, p, s, k, buf))
    }
    fn list(&self, p: &str, s: &str) -> Self::Fut<Vec<String>> {
        core::future::ready(sealed::SyncIo::<M>::list(self.0, p, s))
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Self::Fut<()> {
        core::future::ready(sealed::SyncIo::<M>::remove(self.0, p, s, k, lazy))
    }
}

/// An asynchronous inner store of LDK version `M`, seen as [`Io`].
pub(crate) struct AsyncIo<'a, S: ?Sized, M>(&'a S, PhantomData<fn() -> M>);

impl<'a, S: AsyncInnerStore<M> + ?Sized, M> AsyncIo<'a, S, M> {
    pub(crate) fn new(inner: &'a S) -> Self {
        AsyncIo(inner, PhantomData)
    }
}

type BoxedFut<T> = core::pin::Pin<Box<dyn Future<Output = Result<T, io::Error>> + Send>>;

impl<S: AsyncInnerStore<M> + ?Sized, M> Io for AsyncIo<'_, S, M> {
    // Boxed: the inner store's future type names the call's borrowed arguments, although it
    // holds none of them (it is `'static`); erasing it lets it outlive them.
    type Fut<T: Send + 'static> = BoxedFut<T>;
    fn read(&self, p: &str, s: &str, k: &str) -> Self::Fut<Vec<u8>> {
        Box::pin(sealed::AsyncIo::<M>::read(self.0, p, s, k))
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Self::Fut<()> {
        Box::pin(sealed::AsyncIo::<M>::write(self.0, p, s, k, buf))
    }
    fn list(&self, p: &str, s: &str) -> Self::Fut<Vec<String>> {
        Box::pin(sealed::AsyncIo::<M>::list(self.0, p, s))
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Self::Fut<()> {
        Box::pin(sealed::AsyncIo::<M>::remove(self.0, p, s, k, lazy))
    }
}

// ---- the header's place ----

/// Runs a body over [`SyncIo`] to its end (see [`run`]); a body that did not complete at
/// once is an error (nothing was half-done that a retry could not redo: every body writes at
/// most once, as its last step).
pub(crate) fn complete<T>(
    body: impl Future<Output = Result<T, OpenError>>,
) -> Result<T, OpenError> {
    run(body).unwrap_or_else(|| Err(OpenError::Io(stalled())))
}

fn header_result(r: Result<Vec<u8>, io::Error>) -> Result<Option<Vec<u8>>, OpenError> {
    match r {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(OpenError::Io(e)),
    }
}

/// The header bytes, or `None` where there is none.
pub(crate) async fn read_header<IO: Io>(io: &IO) -> Result<Option<Vec<u8>>, OpenError> {
    header_result(
        io.read(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        )
        .await,
    )
}

/// Writes the header bytes.
pub(crate) async fn write_header<IO: Io>(io: &IO, bytes: Vec<u8>) -> Result<(), OpenError> {
    io.write(
        RESERVED_PRIMARY_NAMESPACE,
        HEADER_SECONDARY_NAMESPACE,
        HEADER_KEY,
        bytes,
    )
    .await
    .map_err(OpenError::Io)
}
