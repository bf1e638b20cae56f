//! Holds the eBPF program (C, CO-RE) and the build step that compiles it with clang.
//!
//! Not built yet: issue [2/5] adds `tracer.bpf.c`, the shared event header and `build.rs`.
