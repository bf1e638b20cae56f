//! slimctl: make container images small by keeping only what the application uses.
//!
//! Data flows one way: [`image`] (inspect: config + file index) → run and trace (the sensor crate)
//! → [`closure`] (select the keep-set) → [`write`] (the slim image) → verify.

pub mod build;
pub mod closure;
pub mod digest;
pub mod elf;
pub mod error;
pub mod image;
pub mod jsimports;
pub mod ldso;
pub mod naming;
pub mod packages;
pub mod profile;
pub mod progress;
pub mod pyimports;
pub mod resolve;
pub mod run;
pub mod seccomp;
pub mod shwords;
pub mod touched;
pub mod units;
pub mod verify;
pub mod write;
pub mod xray;
