//! What the dynamic loader needs from an ELF file: its interpreter and the libraries it asks for.
//!
//! Only the program headers and the dynamic section are read (goblin's piecemeal parsers): the full
//! `Elf::parse` also walks symbol and relocation tables, which costs time on every library of an
//! image and tells us nothing about dependencies.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::dynamic::{Dynamic, DT_RPATH, DT_RUNPATH};
use goblin::elf::program_header::{ProgramHeader, PT_INTERP};
use goblin::elf::Elf;
use goblin::strtab::Strtab;
use serde::Serialize;

pub const MAGIC: &[u8; 4] = b"\x7fELF";

/// The loader-relevant facts of one ELF object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfInfo {
    pub class64: bool,
    pub machine: u16,
    /// PT_INTERP: the program interpreter (`/lib64/ld-linux-x86-64.so.2`), absent for libraries and static binaries.
    pub interp: Option<String>,
    /// DT_NEEDED entries, in order.
    pub needed: Vec<String>,
    /// DT_RPATH, split on ':'.
    pub rpath: Vec<String>,
    /// DT_RUNPATH, split on ':'.
    pub runpath: Vec<String>,
}

impl ElfInfo {
    /// Parses `bytes` (a whole file). Returns `None` for anything that is not a well-formed ELF object:
    /// an image may hold truncated or foreign files, and those simply have no dependencies we can follow.
    pub fn parse(bytes: &[u8]) -> Option<ElfInfo> {
        if bytes.len() < 16 || &bytes[..4] != MAGIC {
            return None;
        }
        let header = Elf::parse_header(bytes).ok()?;
        let container =
            if header.e_ident[4] == goblin::elf::header::ELFCLASS64 { Container::Big } else { Container::Little };
        let endian = Endian::from(header.e_ident[5] != goblin::elf::header::ELFDATA2MSB);
        let ctx = Ctx::new(container, endian);
        let phdrs = ProgramHeader::parse(bytes, header.e_phoff as usize, header.e_phnum as usize, ctx).ok()?;

        let interp = phdrs.iter().find(|ph| ph.p_type == PT_INTERP && ph.p_filesz > 1).and_then(|ph| {
            let start = ph.p_offset as usize;
            let end = start.checked_add(ph.p_filesz as usize)?;
            let raw = bytes.get(start..end)?;
            let raw = raw.split(|b| *b == 0).next()?;
            std::str::from_utf8(raw).ok().map(str::to_owned)
        });

        let mut info = ElfInfo {
            class64: container.is_big(),
            machine: header.e_machine,
            interp,
            needed: Vec::new(),
            rpath: Vec::new(),
            runpath: Vec::new(),
        };

        if let Ok(Some(dynamic)) = Dynamic::parse(bytes, &phdrs, ctx) {
            let strtab = Strtab::parse(bytes, dynamic.info.strtab, dynamic.info.strsz, 0).ok()?;
            info.needed = dynamic.get_libraries(&strtab).into_iter().map(str::to_owned).collect();
            for d in &dynamic.dyns {
                let list = match d.d_tag {
                    DT_RPATH => &mut info.rpath,
                    DT_RUNPATH => &mut info.runpath,
                    _ => continue,
                };
                if let Some(s) = strtab.get_at(d.d_val as usize) {
                    list.extend(s.split(':').filter(|p| !p.is_empty()).map(str::to_owned));
                }
            }
        }
        Some(info)
    }

    /// Whether a library with this header can satisfy a dependency of `self` (ld.so skips the others).
    pub fn compatible(&self, lib: &ElfInfo) -> bool {
        self.class64 == lib.class64 && self.machine == lib.machine
    }
}

/// Minimal ELF files for tests, built here rather than read from the host (whose binaries
/// differ from machine to machine).
#[cfg(test)]
pub(crate) mod fixture {
    /// A 64-bit x86-64 ELF object with an optional PT_INTERP, and a dynamic section listing
    /// `needed` (DT_NEEDED) and `runpath` (DT_RUNPATH) -- all the loader facts we read.
    pub fn elf(interp: Option<&str>, needed: &[&str], runpath: &[&str]) -> Vec<u8> {
        const EHDR: usize = 64;
        const PHDR: usize = 56;
        let phnum = if interp.is_some() { 3 } else { 2 };
        let mut out = vec![0u8; EHDR + PHDR * phnum];
        let interp_at = out.len();
        if let Some(i) = interp {
            out.extend_from_slice(i.as_bytes());
            out.push(0);
        }
        let interp_len = out.len() - interp_at;
        // String table: a leading NUL, then each name.
        let strtab_at = out.len();
        out.push(0);
        let name_at = |out: &mut Vec<u8>, s: &str| {
            let at = out.len() - strtab_at;
            out.extend_from_slice(s.as_bytes());
            out.push(0);
            at as u64
        };
        let mut dyns: Vec<(u64, u64)> = needed.iter().map(|n| (1, name_at(&mut out, n))).collect();
        if !runpath.is_empty() {
            dyns.push((29, name_at(&mut out, &runpath.join(":"))));
        }
        let strsz = (out.len() - strtab_at) as u64;
        dyns.extend([(5, strtab_at as u64), (10, strsz), (0, 0)]);
        while out.len() % 8 != 0 {
            out.push(0);
        }
        let dyn_at = out.len();
        for (tag, val) in &dyns {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&val.to_le_bytes());
        }
        let total = out.len() as u64;
        let put = |out: &mut Vec<u8>, at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(&mut out, 0, &[0x7f, b'E', b'L', b'F', 2, 1, 1]);
        put(&mut out, 16, &3u16.to_le_bytes()); // ET_DYN
        put(&mut out, 18, &62u16.to_le_bytes()); // EM_X86_64
        put(&mut out, 20, &1u32.to_le_bytes());
        put(&mut out, 32, &(EHDR as u64).to_le_bytes()); // e_phoff
        put(&mut out, 52, &(EHDR as u16).to_le_bytes());
        put(&mut out, 54, &(PHDR as u16).to_le_bytes());
        put(&mut out, 56, &(phnum as u16).to_le_bytes());
        put(&mut out, 58, &64u16.to_le_bytes());
        // (type, offset, size): offsets double as addresses (one PT_LOAD maps the file at 0).
        let mut phdrs = vec![(1u32, 0u64, total)];
        if interp.is_some() {
            phdrs.insert(0, (3, interp_at as u64, interp_len as u64));
        }
        phdrs.push((2, dyn_at as u64, (dyns.len() * 16) as u64));
        for (i, (kind, off, size)) in phdrs.into_iter().enumerate() {
            let at = EHDR + i * PHDR;
            put(&mut out, at, &kind.to_le_bytes());
            put(&mut out, at + 4, &4u32.to_le_bytes()); // PF_R
            for (field, v) in [(8, off), (16, off), (24, off), (32, size), (40, size), (48, 8)] {
                put(&mut out, at + field, &v.to_le_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_interpreter_libraries_and_runpath() {
        let bytes = fixture::elf(Some("/lib64/ld-linux-x86-64.so.2"), &["libc.so.6", "libz.so.1"], &["$ORIGIN/../lib"]);
        let info = ElfInfo::parse(&bytes).expect("well-formed");
        assert!(info.class64);
        assert_eq!(info.machine, goblin::elf::header::EM_X86_64);
        assert_eq!(info.interp.as_deref(), Some("/lib64/ld-linux-x86-64.so.2"));
        assert_eq!(info.needed, ["libc.so.6", "libz.so.1"]);
        assert_eq!(info.runpath, ["$ORIGIN/../lib"]);
        assert!(info.rpath.is_empty());
        let lib = ElfInfo::parse(&fixture::elf(None, &[], &[])).expect("a library");
        assert_eq!(lib.interp, None);
        assert!(info.compatible(&lib));
    }

    #[test]
    fn non_elf_and_truncated_inputs_are_none() {
        assert_eq!(ElfInfo::parse(b"#!/bin/sh\necho hi\n"), None);
        let bytes = fixture::elf(Some("/lib/ld.so"), &["libc.so.6"], &[]);
        // A header cut short of its program headers must not panic.
        assert_eq!(ElfInfo::parse(&bytes[..40]), None);
        for cut in 41..bytes.len() {
            let _ = ElfInfo::parse(&bytes[..cut]);
        }
    }
}
