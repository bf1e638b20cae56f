//! slimctl's eBPF file-access tracer: the compiled object and its event ABI.
//!
//! The program is C (`bpf/tracer.bpf.c`), compiled by `build.rs` with clang for CO-RE; the
//! event layouts are defined once in `bpf/events.h` and mirrored in [`abi`]. A test reads the
//! object's BTF and checks that every mirrored struct has the C size and field offsets.

pub mod abi;

/// The eBPF object (ELF with BTF) for aya to load.
pub static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tracer.bpf.o"));

/// Names of the object's programs: `(program, BTF tracepoint)`.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("on_exec", "sched_process_exec"),
    ("on_fork", "sched_process_fork"),
    ("on_exit", "sched_process_exit"),
    ("on_sys_exit", "sys_exit"),
];

/// Names of the object's maps.
pub mod maps {
    pub const EVENTS: &str = "events";
    pub const COUNTERS: &str = "counters";
    pub const CONFIG: &str = "config";
    pub const TARGETS: &str = "targets";
    pub const TRACKED: &str = "tracked";
    pub const SYSCALLS: &str = "syscalls";
}
