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

#[cfg(test)]
mod tests {
    use super::*;

    fn host_file(path: &str) -> Vec<u8> {
        std::fs::read(std::fs::canonicalize(path).unwrap()).unwrap()
    }

    #[test]
    fn host_binary_has_interpreter_and_libc() {
        // The build host is a glibc system: /bin/sh is dynamically linked there.
        let info = ElfInfo::parse(&host_file("/bin/sh")).expect("/bin/sh is ELF");
        assert!(info.class64);
        assert!(info.interp.as_deref().unwrap().contains("ld-linux"), "{info:?}");
        assert!(info.needed.iter().any(|n| n.starts_with("libc.so")), "{info:?}");
    }

    #[test]
    fn non_elf_and_truncated_inputs_are_none() {
        assert_eq!(ElfInfo::parse(b"#!/bin/sh\necho hi\n"), None);
        let sh = host_file("/bin/sh");
        // A header cut short of its program headers must not panic.
        assert_eq!(ElfInfo::parse(&sh[..40]), None);
        let _ = ElfInfo::parse(&sh[..200]);
    }
}
