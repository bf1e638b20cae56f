use thiserror::Error;

/// Why the sensor could not trace, or why a trace cannot be trusted.
#[derive(Debug, Error)]
pub enum SensorError {
    /// The process lacks what loading eBPF tracing programs needs.
    #[error(
        "loading the eBPF sensor needs root, or the capabilities CAP_BPF and CAP_PERFMON \
         (missing: {missing}); run it as root (sudo), or grant those capabilities"
    )]
    Privileges { missing: String },

    /// The kernel cannot run the tracer at all.
    #[error("this kernel cannot run the eBPF sensor: {0}")]
    Kernel(String),

    #[error("failed to load the eBPF sensor into the kernel: {0}")]
    Load(String),

    #[error("failed to attach the eBPF sensor to {tracepoint}: {}", crate::sensor::chain(.source))]
    Attach {
        tracepoint: String,
        #[source]
        source: aya::programs::ProgramError,
    },

    #[error("the eBPF program {name} is not a BTF tracepoint: {source}")]
    Program {
        name: String,
        #[source]
        source: aya::programs::ProgramError,
    },

    #[error("the eBPF sensor failed while {context}: {source}")]
    Map {
        context: String,
        #[source]
        source: aya::maps::MapError,
    },

    /// Events were dropped in the kernel: the trace is incomplete and must not be used.
    #[error(
        "the trace lost events ({detail}): an incomplete trace would make a broken image, so it is rejected; \
         retry with a larger ring buffer (--ring-size) or on a less loaded machine"
    )]
    LostEvents { detail: String },

    #[error("malformed event from the tracer: {0}")]
    Decode(String),

    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },

    #[error("{0}")]
    Target(String),
}

impl SensorError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SensorError::Io { context: context.into(), source }
    }

    /// For `map_err`: a map operation that failed while doing `context`.
    pub fn map(context: impl Into<String>) -> impl FnOnce(aya::maps::MapError) -> Self {
        let context = context.into();
        move |source| SensorError::Map { context, source }
    }
}

pub type Result<T, E = SensorError> = std::result::Result<T, E>;
