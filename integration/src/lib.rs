// The README again, for its examples: here they run with this package's dev-dependencies, which
// the PostgreSQL example needs. In the root package, where the README is the crate's
// documentation, that example compiles to nothing: its body is under `cfg(ekv_integration)`,
// which only this package's build script sets. The examples speak LDK 0.2, as in the root.
#![cfg_attr(feature = "lightning-0-2", doc = include_str!("../../README.md"))]
#![cfg_attr(
    not(feature = "lightning-0-2"),
    doc = "The LDK 0.3 runs of the suites, the PostgreSQL suite and the benches (see Cargo.toml)."
)]
