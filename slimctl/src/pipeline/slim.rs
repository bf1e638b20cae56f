//! Steps select → write: the keep-set of the image (a traced run, or profiles, only add seeds
//! to the same selection), the kept contents collected where the image is stored, and one slim
//! layer with the original's config written to the work dir.

use super::error::PipelineError;
use crate::image::{Image, ImageSource};
use crate::select::{select, Closure, SelectPlan};
use crate::write::{layer::write_layer, manifest, Contents, InStorage, SlimImage, Spool, Stored};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct BuildPlan {
    pub select: SelectPlan,
    pub source_date_epoch: Option<u64>,
    /// Changes to the slim image's config.
    pub edits: crate::write::edits::ConfigEdits,
    /// Modes and owners set on paths of the slim layer.
    pub perms: crate::write::perms::PathPerms,
}

/// One step's name and how long it took, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: &'static str,
    pub seconds: f64,
}

#[derive(Debug, Default)]
pub struct Stages(pub Vec<Stage>);

impl Stages {
    /// Runs `f` as the stage `name`.
    pub fn time<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let r = f();
        self.since(name, started);
        r
    }

    /// Records the stage `name` as running from `started` until now (for stages that await).
    pub fn since(&mut self, name: &'static str, started: Instant) {
        self.add(name, started.elapsed());
    }

    pub fn add(&mut self, name: &'static str, took: std::time::Duration) {
        self.0.push(Stage { name, seconds: took.as_secs_f64() });
    }
}

/// Everything the pipeline produced, before the image is placed anywhere.
pub struct Built {
    pub original: std::sync::Arc<Image>,
    pub closure: Closure,
    pub slim: SlimImage,
    /// The slim layer tar, in the work dir.
    pub layer_file: PathBuf,
}

/// Runs inspect → select → write. Blocking: call it off the async runtime's threads.
pub fn build(
    source: &dyn ImageSource,
    plan: &BuildPlan,
    work_dir: &Path,
    stages: &mut Stages,
) -> Result<Built, PipelineError> {
    let readers = crate::select::rules::readers(&crate::select::rules::all_except(&plan.select.rules_off));
    let original = stages.time("inspect", || Image::open(source, false, &readers))?;
    build_from(source, std::sync::Arc::new(original), plan, None, work_dir, stages)
}

/// select → write for an image already inspected (a traced build inspects before running);
/// `selected`: the closure of `plan`, when a step before computed it already.
pub fn build_from(
    source: &dyn ImageSource,
    original: std::sync::Arc<Image>,
    plan: &BuildPlan,
    selected: Option<Closure>,
    work_dir: &Path,
    stages: &mut Stages,
) -> Result<Built, PipelineError> {
    let closure = match selected {
        Some(c) => c,
        None => stages.time("select", || select(&original, &plan.select))?,
    };

    // Contents are read where the image is stored, or else collected by a second pass.
    let in_storage = InStorage::of(&original);
    let mut contents: Box<dyn Contents> = match (in_storage, Stored::for_keep(&original, &closure.keep)) {
        (Some(local), _) => Box::new(local),
        (None, Some(stored)) => Box::new(stored),
        (None, None) => {
            let bar = crate::progress::spinner("collecting kept files");
            let r = stages.time("collect", || Spool::collect(source, &original, &closure.keep, work_dir));
            bar.finish_and_clear();
            Box::new(r?)
        }
    };
    let layer_file = work_dir.join("slim-layer.tar");
    let slim = stages.time("write", || -> Result<SlimImage, PipelineError> {
        let werr = |source| PipelineError::Write { what: "the slim layer", path: layer_file.clone(), source };
        let file = std::fs::File::create(&layer_file).map_err(werr)?;
        let (blob, out) = write_layer(
            &original.index,
            &closure.keep,
            contents.as_mut(),
            plan.source_date_epoch,
            &closure.overrides,
            &plan.perms,
            std::io::BufWriter::with_capacity(1 << 20, file),
        )
        .map_err(werr)?;
        out.into_inner().map_err(|e| werr(e.into_error()))?;
        let comment = format!("kept {} of {} paths", blob.files, original.index.len());
        Ok(manifest::build(&original.config, blob, plan.source_date_epoch, &comment, &plan.edits))
    })?;
    Ok(Built { original, closure, slim, layer_file })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ImageError;
    use crate::image::source::archive::{walk, LayerVisitor, Manifest};
    use std::io::Read;

    /// An image archive held in memory, read through the same walker as a docker save stream.
    struct MemArchive(Vec<u8>);

    impl ImageSource for MemArchive {
        fn name(&self) -> &str {
            "memory archive"
        }
        fn read_layers(
            &self,
            want: &dyn Fn(&str) -> bool,
            on_layer: &mut LayerVisitor<'_>,
        ) -> Result<Manifest, ImageError> {
            walk(&self.0[..], "memory archive", want, on_layer)
        }
    }

    fn append(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    }

    /// Layer 0: a binary with a capability xattr, two hard links to it, a doc file.
    /// Layer 1: a config file. Archive members deliberately out of layer order.
    fn archive() -> Vec<u8> {
        let mut l0 = tar::Builder::new(Vec::new());
        l0.append_pax_extensions([("SCHILY.xattr.security.capability", &b"\x01\x00\x00\x02"[..])]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(6);
        h.set_mode(0o4755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(2_000_000_000);
        l0.append_data(&mut h, "usr/bin/ping", &b"PING!\n"[..]).unwrap();
        for name in ["usr/bin/ping4", "usr/bin/ping6"] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            h.set_mode(0o4755);
            l0.append_link(&mut h, name, "usr/bin/ping").unwrap();
        }
        append(&mut l0, "usr/share/doc/README", b"docs");
        let l0 = l0.into_inner().unwrap();
        let mut l1 = tar::Builder::new(Vec::new());
        append(&mut l1, "etc/app.conf", b"x=1\n");
        let l1 = l1.into_inner().unwrap();

        let config = br#"{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
          "config":{"Entrypoint":["/usr/bin/ping6"]},
          "rootfs":{"type":"layers","diff_ids":["sha256:00","sha256:11"]},
          "history":[{"created_by":"a"},{"created_by":"b"}]}"#;
        let manifest = br#"[{"Config":"cfg.json","RepoTags":["mem:1"],"Layers":["bbb/layer.tar","aaa/layer.tar"]}]"#;
        let mut outer = tar::Builder::new(Vec::new());
        append(&mut outer, "aaa/layer.tar", &l1);
        append(&mut outer, "bbb/layer.tar", &l0);
        append(&mut outer, "cfg.json", config);
        append(&mut outer, "manifest.json", manifest);
        outer.into_inner().unwrap()
    }

    fn plan(includes: &[&str]) -> BuildPlan {
        let select = SelectPlan { includes: includes.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        BuildPlan { select, source_date_epoch: None, ..Default::default() }
    }

    fn run(plan: &BuildPlan) -> (Built, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let built = build(&MemArchive(archive()), plan, dir.path(), &mut Stages::default()).unwrap();
        let bytes = std::fs::read(&built.layer_file).unwrap();
        (built, bytes)
    }

    /// (path, type, link target, size, xattrs) of each member.
    type Member = (String, tar::EntryType, Option<String>, u64, Vec<(String, Vec<u8>)>);

    fn entries(layer: &[u8]) -> Vec<Member> {
        let mut a = tar::Archive::new(layer);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let xattrs = e
                    .pax_extensions()
                    .unwrap()
                    .map(|p| p.flatten().map(|x| (x.key().unwrap().to_owned(), x.value_bytes().to_vec())).collect())
                    .unwrap_or_default();
                let h = e.header().clone();
                let mut content = Vec::new();
                e.read_to_end(&mut content).unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.entry_type(),
                    e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()),
                    h.mtime().unwrap(),
                    xattrs,
                )
            })
            .collect()
    }

    #[test]
    fn layer_is_sorted_minimal_and_keeps_metadata() {
        let (built, layer) = run(&plan(&["/etc/app.conf"]));
        assert_eq!(built.original.layers.len(), 2);
        let e = entries(&layer);
        let names: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, ["etc/", "etc/app.conf", "usr/", "usr/bin/", "usr/bin/ping6"]);
        // The entrypoint is a hard link whose target was dropped: it becomes the regular file.
        let ping6 = &e[4];
        assert_eq!(ping6.1, tar::EntryType::Regular);
        assert_eq!(ping6.4, [("SCHILY.xattr.security.capability".to_owned(), b"\x01\x00\x00\x02".to_vec())]);
        let mut a = tar::Archive::new(&layer[..]);
        let mut ping6 =
            a.entries().unwrap().map(Result::unwrap).find(|x| x.path().unwrap().ends_with("ping6")).unwrap();
        assert_eq!(ping6.header().mode().unwrap(), 0o4755);
        let mut body = String::new();
        ping6.read_to_string(&mut body).unwrap();
        assert_eq!(body, "PING!\n");
        assert_eq!(built.slim.layer.content_bytes, 6 + 4);
    }

    #[test]
    fn kept_hard_links_stay_links_and_content_is_stored_once() {
        let (built, layer) = run(&plan(&["/usr/bin"]));
        let e = entries(&layer);
        let get = |n: &str| e.iter().find(|x| x.0 == n).unwrap();
        assert_eq!(get("usr/bin/ping").1, tar::EntryType::Regular);
        assert_eq!(get("usr/bin/ping4").1, tar::EntryType::Link);
        assert_eq!(get("usr/bin/ping4").2.as_deref(), Some("usr/bin/ping"));
        assert_eq!(get("usr/bin/ping6").2.as_deref(), Some("usr/bin/ping"));
        assert_eq!(built.slim.layer.content_bytes, 6);
    }

    /// Read back at their offsets in the stored archive, or collected by a second pass: the
    /// same layer, byte for byte.
    #[test]
    fn contents_read_where_stored_give_the_same_layer_as_a_second_pass() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("image.tar");
        std::fs::write(&file, archive()).unwrap();
        let source = crate::image::source::docker_archive::DockerArchive::open(&file).unwrap();
        let plan = plan(&["/usr/bin", "/etc/app.conf", "/usr/share/doc/README"]);
        let built = build(&source, &plan, dir.path(), &mut Stages::default()).unwrap();
        assert!(matches!(built.original.store, crate::image::Store::File(_)));
        assert!(Stored::for_keep(&built.original, &built.closure.keep).is_some(), "every kept content has an offset");
        assert!(!dir.path().join("contents.spool").exists(), "no second pass");
        let stored_layer = std::fs::read(&built.layer_file).unwrap();
        let (spooled, spooled_layer) = run(&plan);
        assert_eq!(stored_layer, spooled_layer);
        assert_eq!(built.slim.config_digest, spooled.slim.config_digest);
    }

    /// A large ELF file is parsed where the image is stored, after the stream, not held in
    /// memory while it passes; its hard link shares what was found.
    #[test]
    fn a_large_elf_is_parsed_from_the_stored_image() {
        let mut elf = std::fs::read("/bin/ls").expect("a host binary");
        elf.resize(9 << 20, 0);
        let mut layer = tar::Builder::new(Vec::new());
        append(&mut layer, "usr/lib/libbig.so", &elf);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        h.set_mode(0o644);
        layer.append_link(&mut h, "usr/lib/libbig-link.so", "usr/lib/libbig.so").unwrap();
        let layer = layer.into_inner().unwrap();
        let config = br#"{"architecture":"amd64","os":"linux","config":{},
          "rootfs":{"type":"layers","diff_ids":["sha256:00"]}}"#;
        let mut outer = tar::Builder::new(Vec::new());
        append(&mut outer, "l/layer.tar", &layer);
        append(&mut outer, "cfg.json", config);
        append(&mut outer, "manifest.json", br#"[{"Config":"cfg.json","Layers":["l/layer.tar"]}]"#);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("image.tar");
        std::fs::write(&file, outer.into_inner().unwrap()).unwrap();

        let source = crate::image::source::docker_archive::DockerArchive::open(&file).unwrap();
        let image = Image::open(&source, false, &[]).unwrap();
        for p in ["/usr/lib/libbig.so", "/usr/lib/libbig-link.so"] {
            let elf = image.index.get(p).unwrap().elf().unwrap_or_else(|| panic!("{p}: ELF facts"));
            assert!(elf.needed.iter().any(|n| n.starts_with("libc.so")), "{p}: {:?}", elf.needed);
        }
        // Read from memory, the same file gives the same facts.
        let inline = crate::image::index::elf::ElfInfo::parse(&elf).unwrap();
        assert_eq!(image.index.get("/usr/lib/libbig.so").unwrap().elf().unwrap().needed, inline.needed);
    }

    #[test]
    fn same_input_gives_same_bytes_and_epoch_clamps_times() {
        let plan = plan(&["/usr"]);
        let (a, la) = run(&plan);
        let (b, lb) = run(&plan);
        assert_eq!(la, lb);
        assert_eq!(a.slim.config_digest, b.slim.config_digest);
        assert_eq!(a.slim.manifest_digest, b.slim.manifest_digest);

        let (c, lc) = run(&BuildPlan { source_date_epoch: Some(1_000_000_000), ..plan });
        assert_ne!(c.slim.config_digest, a.slim.config_digest);
        assert!(entries(&lc).iter().all(|x| x.3 <= 1_000_000_000));
    }

    #[test]
    fn missing_include_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(&["/opt/nothing"]);
        let err = build(&MemArchive(archive()), &plan, dir.path(), &mut Stages::default()).err().unwrap();
        assert!(err.to_string().contains("--include /opt/nothing"), "{err}");
    }

    #[test]
    fn truncated_and_garbage_archives_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let full = archive();
        for cut in [full.len() / 3, full.len() - 1024 - 512] {
            let err =
                build(&MemArchive(full[..cut].to_vec()), &BuildPlan::default(), dir.path(), &mut Stages::default())
                    .err()
                    .unwrap()
                    .to_string();
            assert!(err.contains("memory archive") && (err.contains("truncated") || err.contains("missing")), "{err}");
        }
        let err = build(
            &MemArchive(b"this is not a tar at all".repeat(50)),
            &BuildPlan::default(),
            dir.path(),
            &mut Stages::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("not a valid image"), "{err}");
    }
}
