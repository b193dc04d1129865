//! Sets the cfg `ekv_integration` for this package's targets: the entry files in the root's
//! tests/, compiled by both packages, then compile their LDK 0.3 blocks (whose dev-dependencies
//! only this package has) instead of their LDK 0.2 ones (which the root package runs), and the
//! README's PostgreSQL example runs as a doctest here.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ekv_integration)");
    println!("cargo::rustc-cfg=ekv_integration");
}
