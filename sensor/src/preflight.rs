//! What the sensor needs from the kernel and the process, checked up front so a failure
//! names the missing piece instead of surfacing as a bare EPERM from the bpf syscall.
use crate::error::SensorError;
use std::path::Path;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The kernel's BTF, needed for CO-RE relocations and BTF-typed tracepoints.
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Effective capabilities of this process, from /proc/self/status.
pub fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

/// Names of the capabilities the sensor needs and this process lacks. Loading tracing
/// programs is allowed by CAP_BPF plus CAP_PERFMON, or by CAP_SYS_ADMIN alone (kernel checks
/// bpf_capable() and perfmon_capable()).
pub fn missing_caps(eff: u64) -> Vec<&'static str> {
    let has = |cap: u32| eff & (1u64 << cap) != 0;
    if has(CAP_SYS_ADMIN) {
        return Vec::new();
    }
    [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|(cap, _)| !has(*cap))
        .map(|(_, name)| name)
        .collect()
}

/// Checks privileges and kernel support before loading.
pub fn check() -> Result<(), SensorError> {
    if let Some(eff) = effective_caps() {
        let missing = missing_caps(eff);
        if !missing.is_empty() {
            return Err(SensorError::Privileges { missing: missing.join(", ") });
        }
    }
    if !Path::new(KERNEL_BTF).exists() {
        return Err(SensorError::Kernel(format!(
            "{KERNEL_BTF} is missing: the kernel was built without BTF (CONFIG_DEBUG_INFO_BTF=y is needed)"
        )));
    }
    if !Path::new("/proc/self/ns/mnt").exists() {
        return Err(SensorError::Kernel("/proc is not mounted (the sensor reads /proc/<pid>/ns/mnt)".into()));
    }
    Ok(())
}

/// Inode of a process's mount namespace (`self` or a pid).
pub fn mnt_ns_of(pid: &str) -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(format!("/proc/{pid}/ns/mnt"))?;
    Ok(meta.ino() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_caps_miss_nothing() {
        assert!(missing_caps(u64::MAX).is_empty());
    }

    #[test]
    fn no_caps_names_both() {
        assert_eq!(missing_caps(0), vec!["CAP_BPF", "CAP_PERFMON"]);
    }

    #[test]
    fn bpf_and_perfmon_suffice_and_one_alone_does_not() {
        assert!(missing_caps((1u64 << CAP_BPF) | (1u64 << CAP_PERFMON)).is_empty());
        assert_eq!(missing_caps(1u64 << CAP_BPF), vec!["CAP_PERFMON"]);
        assert!(missing_caps(1u64 << CAP_SYS_ADMIN).is_empty());
    }
}
