//! Engine images are read in place in the engine's storage when it is on this host; that must
//! give exactly what streaming them (`docker save`) gives: the same index and the same slim image,
//! whiteouts, hard links, setuid bits, symlinks, fifos and file capabilities included.

use e2e::*;
use std::io::Read;

const CAP_NET_RAW: &str = "0100000200200000000000000000000000000000";

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A layer member: (tar type flag, link name, xattrs).
type Member = (u8, String, Vec<(String, Vec<u8>)>);

/// The slim image's layer members by path.
fn slim_layer(image: &str) -> std::collections::BTreeMap<String, Member> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slim.tar");
    docker(&["save", "-o", file.to_str().unwrap(), image]);
    let mut outer = tar::Archive::new(std::fs::File::open(&file).unwrap());
    for member in outer.entries().unwrap() {
        let member = member.unwrap();
        if !member.path().unwrap().to_string_lossy().ends_with("layer.tar") {
            continue;
        }
        let mut out = std::collections::BTreeMap::new();
        let mut layer = tar::Archive::new(member);
        for e in layer.entries().unwrap() {
            let mut e = e.unwrap();
            let mut xattrs = Vec::new();
            if let Ok(Some(pax)) = e.pax_extensions() {
                for ext in pax.flatten() {
                    if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                        xattrs.push((name.to_owned(), ext.value_bytes().to_vec()));
                    }
                }
            }
            let link = e.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
            let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_owned();
            let kind = e.header().entry_type().as_byte();
            let mut sink = Vec::new();
            e.read_to_end(&mut sink).unwrap();
            out.insert(path, (kind, link, xattrs));
        }
        return out;
    }
    panic!("no layer in the saved slim image");
}

#[test]
fn reading_in_place_gives_what_streaming_gives() {
    let _turn = topic(module_path!());
    let img = build_image(
        "slimctl-e2e/in-place:1",
        &format!(
            "FROM {BASE_IMAGE}\n\
             RUN mkdir -p /app/cache && echo one > /app/a && ln /app/a /app/a-link && ln -s a /app/a-sym \
                 && cp /bin/ls /app/ls && chmod 4755 /app/ls && mkfifo /app/pipe && echo x > /app/cache/old \
                 && python3 -c \"import os; os.setxattr('/app/ls', 'security.capability', bytes.fromhex('{CAP_NET_RAW}'))\"\n\
             RUN rm /app/cache/old /etc/issue && rm -rf /usr/share/doc && mkdir /usr/share/doc \
                 && echo new > /usr/share/doc/x\n"
        ),
        &[],
    );

    // The same index: every layer's changes, sizes, largest files and waste. Only the layers'
    // keys (a diff id in place, a member name of `docker save` streamed) and entry counts (an
    // imported layer's tar holds its root directory, `./`) may differ.
    let xray = |global: &str| {
        let mut r = json(&slimctl(&["--image-read", global, "xray", &img.0, "--json", "--top", "100"]));
        for layer in r["layers"].as_array_mut().unwrap() {
            let o = layer.as_object_mut().unwrap();
            o.remove("key");
            o.remove("entries");
        }
        r
    };
    let (in_place, streamed) = (xray("auto"), xray("stream"));
    assert_eq!(in_place, streamed);
    assert!(in_place["layers"][2]["changes"]["removed"].as_u64().unwrap() >= 2, "{}", in_place["layers"]);

    // The same slim image, byte for byte.
    let includes = ["--include", "/app", "--include", "/usr/share/doc", "--include", "/etc/issue.net"];
    let mut ids = Vec::new();
    for (how, global) in [("in-place", "auto"), ("streamed", "stream")] {
        let tag = format!("slimctl-e2e/in-place-slim:{how}");
        let args = ["--image-read", global, "build", &img.0, "--no-trace", "--tag", &tag, "--json"];
        let report = json(&slimctl(&[&args[..], &includes[..]].concat()));
        assert_eq!(report["original"]["read_in_place"], how == "in-place", "{how}: {}", report["original"]);
        let _guard = ImageGuard(tag.clone());
        ids.push(image_id(&tag));
        if how == "in-place" {
            let layer = slim_layer(&tag);
            let ls = &layer["app/ls"];
            assert_eq!(ls.2, [("security.capability".to_owned(), hex(CAP_NET_RAW))], "file capability kept");
            let (a, link) = (&layer["app/a"], &layer["app/a-link"]);
            assert!(a.0 == b'0' && link.0 == b'1' && link.1 == "app/a", "hard link kept as one: {a:?} {link:?}");
            assert_eq!(layer["app/a-sym"], (b'2', "a".to_owned(), vec![]));
            assert_eq!(layer["app/pipe"].0, b'6');
            assert!(layer.contains_key("usr/share/doc/x") && !layer.contains_key("app/cache/old"));
            assert!(!layer.keys().any(|p| p.contains(".wh.")), "no whiteout in a flattened layer");
        }
    }
    assert_eq!(ids[0], ids[1], "reading in place changed the slim image");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
