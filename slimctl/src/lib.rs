//! slimctl: make container images small by keeping only what the application uses.
//!
//! Data flows one way, one folder per stage, each a leaf below the one that uses it: [`image`]
//! (inspect: config + file index) → [`run`] (run and trace, with the sensor crate) → [`select`]
//! (the keep-set) → [`sweep`] (what the rules reached, loaded for real) → [`write`] (the slim
//! image) → [`verify`]. [`pipeline`] drives them, one
//! function per step; the command line only parses, calls it and prints.

pub mod argv;
pub mod compose;
pub mod debug;
pub mod diff;
pub mod digest;
pub mod engine;
pub mod error;
pub mod fatbuild;
pub mod image;
pub mod naming;
pub mod pipeline;
pub mod progress;
pub mod run;
pub mod sbom;
pub mod seccomp;
pub mod select;
pub mod sweep;
pub mod units;
pub mod verify;
pub mod vex;
pub mod workdir;
pub mod write;
pub mod xray;
