//! `slimctl build --no-trace --include`: the slim image runs on the real engine, keeps what it was
//! told and what that needs, drops the rest, and is byte-for-byte reproducible.

use e2e::*;

const HELLO: &str = "#!/bin/sh\nset -e\necho \"hello $(cat /etc/hello/greeting)\"\n";

fn hello_image(tag: &str) -> ImageGuard {
    build_image(
        tag,
        &format!(
            "FROM {BASE_IMAGE}\nCOPY hello.sh /app/hello.sh\nCOPY greeting /etc/hello/greeting\n\
             RUN chmod 755 /app/hello.sh\nENTRYPOINT [\"/app/hello.sh\"]\n"
        ),
        &[("hello.sh", HELLO), ("greeting", "world\n")],
    )
}

#[test]
fn slim_image_runs_and_is_reproducible() {
    let _turn = topic(module_path!());
    let original = hello_image("slimctl-e2e/hello:1");
    let original_id = image_id(&original.0);
    let slim_tag = "slimctl-e2e/hello.slim:1";
    let _slim = ImageGuard(slim_tag.into());
    let args = ["build", &original.0, "--no-trace", "--include", "/etc/hello", "--include", "/usr/bin/cat", "--json"];

    let out = slimctl(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["slim"]["tag"], slim_tag, "default name is <repo>.slim:<tag>");
    let kept = report["kept"].as_object().unwrap();
    // The entrypoint script, its #! interpreter through the /bin link, and the libraries of both.
    assert_eq!(kept["/app/hello.sh"]["reasons"][0]["kind"], "entrypoint");
    assert_eq!(kept["/bin"]["reasons"][0]["kind"], "symlink_on_path");
    assert_eq!(kept["/usr/bin/dash"]["reasons"][0]["kind"], "script_interpreter");
    assert!(kept.contains_key("/usr/lib/x86_64-linux-gnu/libc.so.6"));
    assert!(!kept.contains_key("/usr/bin/apt"));

    // It runs, and does what the original does.
    let want = docker(&["run", "--rm", &original.0]);
    let got = docker(&["run", "--rm", slim_tag]);
    assert_eq!(got, "hello world\n");
    assert_eq!(got, want);
    // What was not kept is gone.
    let ls = run(std::process::Command::new("docker").args(["run", "--rm", "--entrypoint", "/usr/bin/apt", slim_tag]));
    assert!(!ls.status.success(), "apt should not be in the slim image");

    let ratio = report["ratio"].as_f64().unwrap();
    assert!(ratio > 20.0, "a shell script and cat should be far smaller than Debian: {ratio}");

    // Same input, same image id; the original is untouched.
    let first_id = image_id(slim_tag);
    assert_eq!(first_id, report["slim"]["id"].as_str().unwrap());
    let again = slimctl(&args);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(image_id(slim_tag), first_id, "second build must give the same digest");
    assert_eq!(image_id(&original.0), original_id, "the original image must not change");

    // The file outputs hold the same image, byte for byte across runs.
    let dir = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for n in 0..2 {
        let oci = dir.path().join(format!("oci{n}"));
        let archive = dir.path().join(format!("img{n}.tar"));
        for output in [format!("oci:{}", oci.display()), format!("docker-archive:{}", archive.display())] {
            let out = slimctl(&[
                "build",
                &original.0,
                "--no-trace",
                "--include",
                "/etc/hello",
                "--include",
                "/usr/bin/cat",
                "--output",
                &output,
            ]);
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        let index: serde_json::Value = serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
        digests.push((index["manifests"][0]["digest"].as_str().unwrap().to_owned(), std::fs::read(&archive).unwrap()));
    }
    assert_eq!(digests[0].0, digests[1].0, "OCI manifest digest differs between runs");
    assert!(digests[0].1 == digests[1].1, "docker-archive bytes differ between runs");

    // The docker-archive output loads back and is the same image.
    let loaded = docker(&["load", "-i", dir.path().join("img0.tar").to_str().unwrap()]);
    assert!(loaded.contains(slim_tag), "{loaded}");
    assert_eq!(image_id(slim_tag), first_id);
    // The OCI output can be read back by slimctl itself.
    let out = slimctl(&["xray", &format!("oci:{}", dir.path().join("oci0").display()), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let x: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(x["id"], first_id.as_str());
}

#[test]
fn python_service_slimmed_with_includes_still_answers() {
    let _turn = topic(module_path!());
    let dir = repo_root().join("examples/python-http");
    let app = std::fs::read_to_string(dir.join("app.py")).unwrap();
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    let original = build_image("slimctl-e2e/python-http:1", &dockerfile, &[("app.py", &app)]);
    let slim = ImageGuard("slimctl-e2e/python-http.slim:1".into());
    let out = slimctl(&[
        "build",
        &original.0,
        "--no-trace",
        "--include",
        "/app",
        "--include",
        "/usr/lib/python3.11",
        "--exclude",
        "/usr/lib/python3.11/test",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // USER app needs the user database.
    assert_eq!(report["kept"]["/etc/passwd"]["reasons"][0]["kind"], "user_database");

    let (_c, port) = run_published(&slim.0, 8080);
    let answer = http_get(port, "/");
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.contains("\"service\": \"python-http\""), "{answer}");
    let answer = http_get(port, "/missing");
    assert!(answer.starts_with("HTTP/1.0 404"), "{answer}");
    let ratio = report["ratio"].as_f64().unwrap();
    assert!(ratio > 2.5, "ratio {ratio}");
}
