//! The end-to-end tests, one binary with a module per topic: real containers on the real engine
//! (and podman's API service, and a real registry), the real eBPF sensor, the real `slimctl`
//! binary. Topics take turns ([`e2e::topic`]); the tests of one topic run side by side.

mod bad_input;
mod build_include;
mod ci;
mod coverage;
mod debug;
mod image_read;
mod migrate;
mod openapi;
mod podman;
mod registry;
mod sbom;
mod sensor_container;
mod services;
mod stack;
mod sweep;
mod traced_build;
mod verify;
mod xray;
