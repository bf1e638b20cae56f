//! The slim image's config and manifest. The config is the original's (entrypoint, cmd, env, user,
//! workdir, ports, volumes, labels, stop signal, and Docker's Healthcheck/Shell/OnBuild) with one
//! layer; the original history stays, marked as empty layers, with slimctl's step appended.

use super::layer::LayerBlob;
use crate::digest::{sha256_digest, Digest};
use crate::image::ImageConfig;
use oci_spec::image::{
    DescriptorBuilder, HistoryBuilder, ImageManifestBuilder, MediaType, RootFsBuilder, SCHEMA_VERSION,
};
use serde_json::Value;

/// Docker's config fields that the OCI config type does not model.
const DOCKER_EXTENSIONS: &[&str] = &["Healthcheck", "Shell", "OnBuild", "ArgsEscaped"];

#[derive(Debug, Clone)]
pub struct SlimImage {
    pub layer: LayerBlob,
    pub config: Vec<u8>,
    /// The image id.
    pub config_digest: Digest,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
}

pub(crate) fn rfc3339_from_epoch(secs: u64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm): avoids a date crate for one timestamp.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The label of a slim image naming the image it was made from, by id (not OCI's `base.*`
/// keys: those name a FROM image, and scanners read them so). By id, not name: the same original
/// gives the same slim image whatever it was called.
pub const ORIGINAL_LABEL: &str = "io.slimctl.original.id";

pub fn build(
    original: &ImageConfig,
    layer: LayerBlob,
    source_date_epoch: Option<u64>,
    comment: &str,
    edits: &super::edits::ConfigEdits,
) -> SlimImage {
    let mut typed = original.typed.clone();
    let mut cfg = typed.config().clone().unwrap_or_default();
    edits.apply(&mut cfg);
    let mut labels = cfg.labels().clone().unwrap_or_default();
    labels.insert(ORIGINAL_LABEL.to_owned(), original.digest.to_string());
    cfg.set_labels(Some(labels));
    typed.set_config(Some(cfg));
    let created = source_date_epoch.map(rfc3339_from_epoch).or_else(|| typed.created().clone());
    typed.set_created(created.clone());
    typed.set_rootfs(
        RootFsBuilder::default()
            .typ("layers")
            .diff_ids(vec![layer.digest.to_string()])
            .build()
            .expect("rootfs fields are set"),
    );
    let mut history: Vec<_> = typed
        .history()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|mut h| {
            h.set_empty_layer(Some(true));
            h
        })
        .collect();
    let mut step = HistoryBuilder::default()
        .created_by(format!("slimctl build (from {})", original.digest))
        .comment(comment.to_owned());
    if let Some(c) = created {
        step = step.created(c);
    }
    history.push(step.build().expect("history fields are set"));
    typed.set_history(Some(history));

    let mut json = serde_json::to_value(&typed).expect("config serializes");
    if let (Some(orig), Some(Value::Object(cfg))) = (original.raw.get("config"), json.get_mut("config")) {
        for key in DOCKER_EXTENSIONS {
            if let Some(v) = orig.get(*key).filter(|v| !v.is_null()) {
                cfg.insert((*key).to_owned(), v.clone());
            }
        }
    }
    // Through a Value: serde_json's maps are sorted (no preserve_order), so the bytes do not
    // depend on the order of oci-spec's hash maps (ports, volumes, labels) or its struct fields.
    let config = serde_json::to_vec(&json).expect("config serializes");
    let config_digest = sha256_digest(&config);

    let manifest = ImageManifestBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageManifest)
        .config(
            DescriptorBuilder::default()
                .media_type(MediaType::ImageConfig)
                .digest(config_digest.clone())
                .size(config.len() as u64)
                .build()
                .expect("descriptor fields are set"),
        )
        .layers(vec![DescriptorBuilder::default()
            .media_type(MediaType::ImageLayer)
            .digest(layer.digest.clone())
            .size(layer.size)
            .build()
            .expect("descriptor fields are set")])
        .build()
        .expect("manifest fields are set");
    let manifest = serde_json::to_vec(&serde_json::to_value(&manifest).expect("manifest serializes"))
        .expect("manifest serializes");
    let manifest_digest = sha256_digest(&manifest);
    SlimImage { layer, config, config_digest, manifest, manifest_digest }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each needle occurs in `bytes`, first occurrences in the order given.
    fn assert_in_order(bytes: &[u8], needles: &[&str]) {
        let text = String::from_utf8_lossy(bytes);
        let at: Vec<usize> = needles.iter().map(|n| text.find(n).unwrap_or_else(|| panic!("{n} in {text}"))).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{needles:?} out of order in {text}");
    }

    #[test]
    fn epoch_formats_as_rfc3339() {
        assert_eq!(rfc3339_from_epoch(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_epoch(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_from_epoch(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn config_keeps_runtime_settings_and_docker_extensions() {
        let orig = ImageConfig::parse(
            br#"{"architecture":"amd64","os":"linux","created":"2024-05-01T10:00:00Z",
              "config":{"Env":["PATH=/usr/bin","A=1"],"Entrypoint":["/app"],"Cmd":["--serve"],"User":"1000:1000",
                "WorkingDir":"/srv","ExposedPorts":{"80/tcp":{},"443/tcp":{}},"Volumes":{"/data":{}},
                "Labels":{"b":"2","a":"1"},"StopSignal":"SIGQUIT","Healthcheck":{"Test":["CMD","/app","--ping"]}},
              "rootfs":{"type":"layers","diff_ids":["sha256:aaaa"]},
              "history":[{"created_by":"ADD rootfs"}]}"#,
            "t",
        )
        .unwrap();
        let digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
        let layer = LayerBlob { digest, size: 1024, files: 1, content_bytes: 0 };
        let a = build(&orig, layer.clone(), None, "kept 1 file", &Default::default());
        let b = build(&orig, layer, None, "kept 1 file", &Default::default());
        assert_eq!(a.config, b.config, "deterministic");
        // Keys in sorted order in the bytes themselves: the digest does not depend on map order.
        let config_keys = ["\"architecture\"", "\"config\"", "\"created\"", "\"history\"", "\"os\"", "\"rootfs\""];
        let inner_keys = ["\"Cmd\"", "\"Entrypoint\"", "\"Env\"", "\"ExposedPorts\"", "\"Healthcheck\"", "\"Labels\""];
        let manifest_keys =
            ["\"config\"", "\"layers\"", "\"mediaType\":\"application/vnd.oci.image.manifest", "\"schemaVersion\""];
        assert_in_order(&a.config, &config_keys);
        assert_in_order(&a.config, &inner_keys);
        assert_in_order(&a.config, &["\"a\":\"1\"", "\"b\":\"2\""]);
        assert_in_order(&a.manifest, &manifest_keys);
        assert_eq!(a.manifest_digest, b.manifest_digest);

        let v: Value = serde_json::from_slice(&a.config).unwrap();
        let c = &v["config"];
        assert_eq!(c["Entrypoint"], serde_json::json!(["/app"]));
        assert_eq!(c["Cmd"], serde_json::json!(["--serve"]));
        assert_eq!(c["User"], "1000:1000");
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["StopSignal"], "SIGQUIT");
        assert!(c["ExposedPorts"]["443/tcp"].is_object());
        assert!(c["Volumes"]["/data"].is_object());
        assert_eq!(c["Labels"]["a"], "1");
        assert_eq!(c["Healthcheck"]["Test"][2], "--ping");
        assert_eq!(v["created"], "2024-05-01T10:00:00Z");
        assert_eq!(v["rootfs"]["diff_ids"], serde_json::json!([format!("sha256:{}", "b".repeat(64))]));
        let hist = v["history"].as_array().unwrap();
        assert_eq!(hist.len(), 2);
        assert_eq!(hist[0]["empty_layer"], true);
        assert!(hist[1].get("empty_layer").is_none());

        let with_epoch = build(&orig, a.layer.clone(), Some(0), "kept 1 file", &Default::default());
        let v: Value = serde_json::from_slice(&with_epoch.config).unwrap();
        assert_eq!(v["created"], "1970-01-01T00:00:00Z");
    }
}
