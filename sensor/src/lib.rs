//! The userspace side of slimctl's file-access tracing.
//!
//! [`Sensor`] loads the eBPF program of `tracer-ebpf` (aya, BTF-typed tracepoints), [`Session`]
//! binds it to the target's mount namespace and filters the stream to the target's processes,
//! [`event`] decodes records into typed events with absolute paths. Any event lost in the
//! kernel fails the trace ([`SensorError::LostEvents`]).
//!
//! The flow for a container: load the sensor (it records exec'ing processes of any non-host
//! namespace), start the container, bind to its namespace (from its init pid, or from the
//! first exec event whose cgroup names the container), stream events until the work is done.

pub mod error;
pub mod event;
pub mod preflight;
pub mod route;
pub mod sensor;
pub mod session;
pub mod spawn;
pub mod summary;

pub use error::SensorError;
pub use event::{Event, FileAccess, FileOp};
pub use sensor::{Counters, Sensor, SensorOptions};
pub use session::{Session, Target};
