//! The LDK store traits, one file per supported `lightning` version; each method checks its
//! names and sends one request.

#[cfg(feature = "lightning-0-2")]
mod v0_2;
#[cfg(feature = "lightning-0-3")]
mod v0_3;
