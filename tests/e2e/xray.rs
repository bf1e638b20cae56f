//! `slimctl xray` on a real multi-layer image built by the engine.

use e2e::*;

#[test]
fn deleted_file_counts_as_wasted_and_ci_gates_on_it() {
    let _turn = topic(module_path!());
    let img = build_image(
        "slimctl-e2e/wasteful:1",
        &format!(
            "FROM {BASE_IMAGE}\nRUN head -c 3000000 /dev/urandom > /blob.bin\nRUN rm /blob.bin\n\
             RUN echo one > /etc/motd\nRUN echo two > /etc/motd\n"
        ),
        &[],
    );
    let out = slimctl(&["xray", &img.0, "--json", "--top", "50"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = r["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    assert_eq!(layers[1]["bytes"], 3_000_000);
    assert_eq!(layers[2]["changes"]["removed"], 1);
    assert!(layers[2]["created_by"].as_str().unwrap().contains("rm /blob.bin"));
    let blob = r["inefficiencies"].as_array().unwrap().iter().find(|i| i["path"] == "/blob.bin").expect("blob listed");
    // dive's accounting: the stored copy plus the whiteout that hides it.
    assert_eq!(blob["cumulative_bytes"], 6_000_000);
    let wasted = r["wasted_bytes"].as_u64().unwrap();
    assert!(wasted >= 6_000_000, "{wasted}");
    assert!(r["efficiency"].as_f64().unwrap() < 1.0);
    assert!(
        r["largest_files"].as_array().unwrap().iter().all(|f| f["path"] != "/blob.bin"),
        "deleted file is not visible"
    );

    // The human table shows it too.
    let out = slimctl(&["xray", &img.0]);
    let table = text(&out.stdout);
    assert!(table.contains("/blob.bin") && table.contains("wasted"), "{table}");

    // CI mode: a wasted-bytes ceiling under 6 MB fails with exit code 5; a loose one passes.
    let out = slimctl(&["xray", &img.0, "--ci", "--highest-wasted-bytes", "1MB"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("FAIL  highest-wasted-bytes"));
    let out = slimctl(&[
        "xray",
        &img.0,
        "--ci",
        "--highest-wasted-bytes",
        "50MB",
        "--lowest-efficiency",
        "0.5",
        "--highest-user-wasted-percent",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}
