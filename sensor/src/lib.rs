//! The userspace side of slimctl's file-access tracing: loads the eBPF program of `tracer-ebpf`,
//! filters events to the target container's mount namespace and streams them.
//!
//! Not built yet: issue [2/5] fills this crate. Until then `slimctl build` requires `--no-trace`.
