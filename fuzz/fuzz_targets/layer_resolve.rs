//! Untrusted input end to end: the bytes are a layer tarball from an image. Indexing must not
//! panic, and resolving any path through whatever symlinks it holds must stay inside the index.
//! Run: cargo fuzz run layer_resolve (needs cargo-fuzz; RUSTC_BOOTSTRAP=1 on a stable toolchain).
#![no_main]

use libfuzzer_sys::fuzz_target;
use slimctl::image::index::resolve::resolve;
use slimctl::image::index::tar::scan_layer;
use slimctl::image::FileIndex;

fuzz_target!(|data: &[u8]| {
    let Ok(layer) = scan_layer(data, 0, "fuzz", &[]) else { return };
    let mut queries: Vec<String> = layer.entries.iter().map(|(p, _)| p.to_string()).collect();
    queries.extend(["/", "..", "../../etc/passwd", "/proc/self/root"].map(String::from));
    let mut index = FileIndex::new();
    index.apply_layer(layer, None);
    for q in &queries {
        for follow in [true, false] {
            if let Ok(r) = resolve(&index, q, "/", follow) {
                assert!(r.path.starts_with('/'));
                assert!(!r.path.split('/').any(|c| c == ".." || c == "."));
                assert!(index.get(&r.path).is_some());
            }
        }
    }
});
