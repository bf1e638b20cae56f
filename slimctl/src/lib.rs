//! slimctl: make container images small by keeping only what the application uses.
//!
//! Data flows one way: [`image`] (inspect: config + file index) → [`run`] (run and trace, with the
//! sensor crate) → [`select`] (the keep-set) → [`write`] (the slim image) → [`verify`].

pub mod build;
pub mod compose;
pub mod digest;
pub mod error;
pub mod image;
pub mod naming;
pub mod profile;
pub mod progress;
pub mod run;
pub mod seccomp;
pub mod select;
pub mod units;
pub mod verify;
pub mod workdir;
pub mod write;
pub mod xray;
