//! The Rust mirror of bpf/events.h must match what clang laid out for the eBPF program.
//! Reads the struct layouts from the compiled object's BTF (the compiler's own record) and
//! compares sizes and every field offset with `std::mem::offset_of!`.
use std::collections::HashMap;
use std::mem::{offset_of, size_of};
use tracer_ebpf::abi::*;

struct BtfStruct {
    size: u32,
    members: HashMap<String, u32>, // name -> byte offset
}

fn btf_structs(object: &[u8]) -> HashMap<String, BtfStruct> {
    let elf = goblin::elf::Elf::parse(object).expect("tracer object is ELF");
    let sh = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".BTF"))
        .expect("object has a .BTF section");
    let btf = &object[sh.sh_offset as usize..(sh.sh_offset + sh.sh_size) as usize];
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!(u16::from_le_bytes([btf[0], btf[1]]), 0xeb9f, "BTF magic");
    let hdr_len = u32_at(btf, 4) as usize;
    let (type_off, type_len) = (u32_at(btf, 8) as usize, u32_at(btf, 12) as usize);
    let str_off = u32_at(btf, 16) as usize;
    let types = &btf[hdr_len + type_off..hdr_len + type_off + type_len];
    let strings = &btf[hdr_len + str_off..];
    let name = |off: u32| {
        let s = &strings[off as usize..];
        String::from_utf8_lossy(&s[..s.iter().position(|&b| b == 0).unwrap()]).into_owned()
    };

    let mut out = HashMap::new();
    let mut pos = 0;
    while pos < types.len() {
        let (name_off, info, size) = (u32_at(types, pos), u32_at(types, pos + 4), u32_at(types, pos + 8));
        pos += 12;
        let (kind, vlen, kind_flag) = ((info >> 24) & 0x1f, (info & 0xffff) as usize, info >> 31 == 1);
        let extra = match kind {
            1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
            3 => 12,                      // ARRAY
            4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
            6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
            _ => 0,
        };
        if kind == 4 {
            let mut members = HashMap::new();
            for m in 0..vlen {
                let at = pos + 12 * m;
                let bits = u32_at(types, at + 8);
                let bits = if kind_flag { bits & 0xff_ffff } else { bits };
                members.insert(name(u32_at(types, at)), bits / 8);
            }
            out.insert(name(name_off), BtfStruct { size, members });
        }
        pos += extra;
    }
    out
}

macro_rules! check {
    ($structs:expr, $c:literal, $rust:ty, [$($field:ident),* $(,)?]) => {{
        let s = $structs.get($c).unwrap_or_else(|| panic!("struct {} missing from the object's BTF", $c));
        assert_eq!(s.size as usize, size_of::<$rust>(), "size of struct {}", $c);
        let mut seen = 0;
        $(
            let c_off = *s.members.get(stringify!($field))
                .unwrap_or_else(|| panic!("{}.{} missing in C", $c, stringify!($field)));
            assert_eq!(c_off as usize, offset_of!($rust, $field), "offset of {}.{}", $c, stringify!($field));
            seen += 1;
        )*
        assert_eq!(seen, s.members.len(), "struct {} has fields the Rust mirror lacks: {:?}", $c, s.members.keys());
    }};
}

#[test]
fn abi_structs_match_the_compiled_object() {
    let structs = btf_structs(tracer_ebpf::OBJECT);
    check!(structs, "event_header", EventHeader, [ts_ns, kind, pid, tid, mnt_ns, comm]);
    check!(
        structs,
        "file_event",
        FileEvent,
        [h, ret, flags, dirfd, dirfd2, mode, nr, op, path_len, path2_len, base_len, base2_len, flags_ex, _pad]
    );
    check!(
        structs,
        "exec_event",
        ExecEvent,
        [h, ppid, old_tid, filename_len, interp_len, base_len, exe_len, args_len, cgroup_len, flags_ex, _pad]
    );
    check!(structs, "fork_event", ForkEvent, [h, ppid, _pad]);
    check!(structs, "exit_event", ExitEvent, [h, exit_code, _pad]);
    check!(structs, "tracer_config", TracerConfig, [host_mnt_ns, bound, wakeup_bytes]);
    check!(structs, "tracked", Tracked, [mnt_ns, _pad, seen]);
    check!(structs, "syscall_set", SyscallSet, [seen]);
}

#[test]
fn object_has_every_program() {
    let elf = goblin::elf::Elf::parse(tracer_ebpf::OBJECT).unwrap();
    for (prog, tp) in tracer_ebpf::PROGRAMS {
        let section = format!("tp_btf/{tp}");
        assert!(
            elf.section_headers.iter().any(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(section.as_str())),
            "no section {section} for {prog}"
        );
        assert!(elf.syms.iter().any(|s| elf.strtab.get_at(s.st_name) == Some(prog)), "no symbol {prog}");
    }
}
