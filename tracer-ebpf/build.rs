//! Compiles the eBPF tracer (bpf/tracer.bpf.c) with clang into OUT_DIR/tracer.bpf.o.
//! clang and libbpf's headers come from the README's setup (`scripts/setup.sh`).
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("tracer.bpf.o");
    let src = manifest.join("bpf/tracer.bpf.c");
    for f in ["bpf/tracer.bpf.c", "bpf/events.h", "bpf/kernel.h"] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-env-changed=CLANG");

    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap();
    // The syscall table and pt_regs layout in the program are x86_64's.
    if arch != "x86_64" {
        panic!("tracer-ebpf: only x86_64 is supported (target arch: {arch})");
    }
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".into());
    if !std::path::Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        fail("libbpf headers not found (/usr/include/bpf/bpf_helpers.h): run scripts/setup.sh, or apt-get install libbpf-dev");
    }
    let status = Command::new(&clang)
        .args(["-target", "bpf", "-g", "-O2", "-Wall", "-Werror", "-Wno-unused-function"])
        .arg("-D__TARGET_ARCH_x86")
        // <linux/types.h> pulls in <asm/types.h>, which Debian keeps under the multiarch dir.
        .arg("-I/usr/include/x86_64-linux-gnu")
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("{clang} failed to compile {} ({s})", src.display())),
        Err(e) => fail(&format!("cannot run {clang} ({e}): run scripts/setup.sh, or apt-get install clang libbpf-dev")),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
