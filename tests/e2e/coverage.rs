//! Coverage beyond the probe: each example has a code path the traced probe never reaches (a
//! lazily imported Python module, a lazily required Node module, a shell branch with its own
//! tools). With the default rules the slim image serves that path like the original; with the
//! rule turned off it does not -- so each rule is shown to matter, and what it costs.
use e2e::*;
use serde_json::Value;
use std::process::Command;

fn build(image: &str, tag: &str, extra: &[&str]) -> (ImageGuard, Value) {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let slim = ImageGuard(tag.to_owned());
    let mut args = vec!["build", image, "--tag", tag, "--report", rep.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = slimctl(&args);
    assert!(out.status.success(), "slimctl {args:?} failed: {}\n{}", text(&out.stderr), text(&out.stdout));
    (slim, serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap())
}

/// Status line and body of GET `path` on a fresh container of `image`.
fn get(image: &str, port: u16, path: &str) -> (String, String) {
    let (_c, host_port) = run_published(image, port);
    http_get(host_port, "/"); // up
                              // A failing handler may close the connection or crash the server: that is an answer too.
    let raw = http_try(host_port, path).unwrap_or_else(|e| format!("no answer: {e}"));
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (head.lines().next().unwrap_or("").to_owned(), body.to_owned())
}

#[test]
fn python_module_imported_only_in_an_unprobed_handler() {
    let _turn = topic(module_path!());
    let image = build_example("python-http", "slimctl-e2e/cov-python:1");
    let (with, r) = build(&image.0, "slimctl-e2e/cov-python.slim:rules", &[]);
    let cost = r["bytes_by_reason"]["coverage:python-imports"].as_u64().unwrap();
    assert!(cost > 0);
    let statistics = &r["kept"]["/usr/lib/python3.11/statistics.py"]["reasons"][0];
    assert_eq!(statistics["kind"], "rule", "{statistics}");
    assert_eq!(statistics["rule"], "python-imports", "{statistics}");
    let original = get(&image.0, 8080, "/stats");
    assert!(original.0.contains("200"), "{original:?}");
    assert_eq!(get(&with.0, 8080, "/stats"), original, "with the rule the slim image answers /stats like the original");

    let (without, _) = build(&image.0, "slimctl-e2e/cov-python.slim:norules", &["--no-python-imports", "--no-verify"]);
    let (status, _) = get(&without.0, 8080, "/stats");
    assert!(!status.contains("200"), "without the rule /stats should fail, got {status}");
    println!("python-imports rule: {cost} bytes");
}

#[test]
fn node_module_required_only_on_an_unprobed_path() {
    let _turn = topic(module_path!());
    let image = build_example("node-http", "slimctl-e2e/cov-node:1");
    let (with, r) = build(&image.0, "slimctl-e2e/cov-node.slim:rules", &[]);
    assert!(r["bytes_by_reason"]["coverage:node-requires"].as_u64().unwrap() > 0, "{}", r["bytes_by_reason"]);
    let original = get(&image.0, 8082, "/report");
    assert!(original.0.contains("200"), "{original:?}");
    assert_eq!(get(&with.0, 8082, "/report"), original);

    // The lazily required module is the app's own (/app/lib): app-tree would keep it too.
    let off = ["--no-node-requires", "--no-app-tree", "--no-verify"];
    let (without, _) = build(&image.0, "slimctl-e2e/cov-node.slim:norules", &off);
    let (status, _) = get(&without.0, 8082, "/report");
    assert!(!status.contains("200"), "without the rule /report should fail, got {status}");
}

#[test]
fn shell_tool_used_only_on_an_untaken_branch() {
    let _turn = topic(module_path!());
    let image = build_example("cli-batch", "slimctl-e2e/cov-shell:1");
    let (with, r) = build(&image.0, "slimctl-e2e/cov-shell.slim:rules", &[]);
    assert!(r["bytes_by_reason"]["coverage:shell-commands"].as_u64().unwrap() > 0, "{}", r["bytes_by_reason"]);
    let run = |img: &str| {
        let o = run(Command::new("docker").args(["run", "--rm", img, "/app/data/sales.csv", "--regions"]));
        (o.status.code(), text(&o.stdout))
    };
    let original = run(&image.0);
    assert_eq!(original.0, Some(0));
    assert!(original.1.contains("rows per region"));
    assert_eq!(run(&with.0), original, "with the rule the --regions branch works in the slim image");

    let (without, _) = build(&image.0, "slimctl-e2e/cov-shell.slim:norules", &["--no-shell-commands", "--no-verify"]);
    assert_ne!(run(&without.0), original, "without the rule the branch's tools are missing");
}

#[test]
fn a_web_apps_unlinked_pages_work_thanks_to_app_tree_and_literal_commands() {
    let _turn = topic(module_path!());
    // /report renders a template no other view uses; /export runs gzip through subprocess,
    // /names a pipeline through `sh -c`. None is linked, so the default crawl (/, /items, the stylesheet) never reaches them.
    let image = build_example("python-web", "slimctl-e2e/cov-web:1");
    let (with, r) = build(&image.0, "slimctl-e2e/cov-web.slim:rules", &[]);
    let crawled: Vec<&str> =
        r["trace"]["http"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert!(crawled.contains(&"/items") && crawled.contains(&"/static/site.css"), "crawled by default: {crawled:?}");
    assert!(!crawled.contains(&"/report") && !crawled.contains(&"/export"), "{crawled:?}");
    let kept = &r["kept"];
    assert_eq!(
        kept["/app/templates/report.html"]["reasons"][0]["rule"], "app-tree",
        "{}",
        kept["/app/templates/report.html"]
    );
    assert_eq!(kept["/usr/bin/gzip"]["reasons"][0]["rule"], "shell-commands", "{}", kept["/usr/bin/gzip"]);
    for page in ["/report", "/export"] {
        let original = get(&image.0, 8000, page);
        assert!(original.0.contains("200"), "{page}: {original:?}");
        assert_eq!(get(&with.0, 8000, page), original, "{page} with the rules");
    }

    let (no_tree, _) = build(&image.0, "slimctl-e2e/cov-web.slim:no-tree", &["--no-app-tree", "--no-verify"]);
    assert!(!get(&no_tree.0, 8000, "/report").0.contains("200"), "without app-tree the template is gone");
    let (no_cmds, _) = build(&image.0, "slimctl-e2e/cov-web.slim:no-cmds", &["--no-shell-commands", "--no-verify"]);
    assert!(!get(&no_cmds.0, 8000, "/export").0.contains("200"), "without shell-commands gzip is gone");
    // /names runs a pipeline through `sh -c`: the programs are inside the command line.
    assert_eq!(kept["/usr/bin/sort"]["reasons"][0]["what"], "command sort", "{}", kept["/usr/bin/sort"]);
    let names = get(&image.0, 8000, "/names");
    assert!(names.0.contains("200") && names.1.contains("washers"), "{names:?}");
    assert_eq!(get(&with.0, 8000, "/names"), names);
    assert!(!get(&no_cmds.0, 8000, "/names").0.contains("200"), "without shell-commands cut and sort are gone");

    // /opening-hours resolves a zone the visitor names: no zone file was opened in the traced
    // run, but zoneinfo was kept, so the whole database is.
    const HOURS: &str = "/opening-hours?tz=America/New_York";
    let tokyo = &kept["/usr/share/zoneinfo/Asia/Tokyo"]["reasons"][0];
    assert_eq!(tokyo["rule"], "time-zones", "{tokyo}");
    let original = get(&image.0, 8000, HOURS);
    assert!(original.0.contains("200") && original.1.contains("03:00 EDT"), "{original:?}");
    assert_eq!(get(&with.0, 8000, HOURS), original);
    let (no_tz, _) = build(&image.0, "slimctl-e2e/cov-web.slim:no-tz", &["--no-time-zones", "--no-verify"]);
    assert!(!get(&no_tz.0, 8000, HOURS).0.contains("200"), "without time-zones the zone is not found");

    // /updated speaks the language the visitor picks among those the app lists: humanize's
    // catalog of each listed language stays, no other.
    const UPDATED: &str = "/updated?lang=de_DE";
    let catalog = |lang: &str| format!("/usr/lib/python3/dist-packages/humanize/locale/{lang}/LC_MESSAGES/humanize.mo");
    let de = &kept[catalog("de_DE").as_str()]["reasons"][0];
    assert_eq!((&de["rule"], &de["of"]), (&"message-catalogs".into(), &"/app/app.py".into()), "{de}");
    assert!(!kept[catalog("fr_FR").as_str()].is_null() && kept[catalog("es_ES").as_str()].is_null());
    let original = get(&image.0, 8000, UPDATED);
    assert!(original.0.contains("200") && original.1.contains("2 Stunden"), "{original:?}");
    assert_eq!(get(&with.0, 8000, UPDATED), original);
    let (no_cat, _) =
        build(&image.0, "slimctl-e2e/cov-web.slim:no-catalogs", &["--no-message-catalogs", "--no-verify"]);
    assert!(!get(&no_cat.0, 8000, UPDATED).0.contains("200"), "without message-catalogs the catalog is gone");
}

#[test]
fn a_native_programs_data_file_is_kept_by_program_paths() {
    let _turn = topic(module_path!());
    // c-http's /greeting and /archive, linked from nowhere, open a file the C code names by
    // absolute path and run a program it names: the literals are in the binary's own data.
    let image = build_example("c-http", "slimctl-e2e/cov-c:1");
    let (with, r) = build(&image.0, "slimctl-e2e/cov-c.slim:rules", &[]);
    let greeting = &r["kept"]["/usr/share/c-http/greeting.txt"]["reasons"][0];
    assert_eq!(greeting["rule"], "program-paths", "{greeting}");
    assert_eq!(greeting["of"], "/usr/local/bin/c-http", "{greeting}");
    let original = get(&image.0, 8081, "/greeting");
    assert!(original.0.contains("200") && original.1.contains("Hello"), "{original:?}");
    assert_eq!(get(&with.0, 8081, "/greeting"), original);
    // /archive runs gzip with posix_spawnp: the binary searches PATH itself, and "gzip" is a
    // word of its data.
    let gzip = &r["kept"]["/usr/bin/gzip"]["reasons"][0];
    assert_eq!((&gzip["rule"], &gzip["what"]), (&"program-paths".into(), &"runs gzip".into()), "{gzip}");
    let archive = get(&image.0, 8081, "/archive");
    assert!(archive.0.contains("200") && archive.1.contains("gzip"), "{archive:?}");
    assert_eq!(get(&with.0, 8081, "/archive"), archive);
    let (without, _) = build(&image.0, "slimctl-e2e/cov-c.slim:norules", &["--no-program-paths", "--no-verify"]);
    assert!(!get(&without.0, 8081, "/greeting").1.contains("Hello"), "without the rule the file is gone");
    assert!(!get(&without.0, 8081, "/archive").0.contains("200"), "without the rule gzip is gone");
}

#[test]
fn a_go_services_command_is_kept_by_program_paths() {
    let _turn = topic(module_path!());
    // go-api's /report.gz, linked from nowhere, runs gzip with os/exec. Go packs its strings
    // without terminators: the name is found through the code that loads it.
    let image = build_example("go-api", "slimctl-e2e/cov-go:1");
    let (with, r) = build(&image.0, "slimctl-e2e/cov-go.slim:rules", &[]);
    let gzip = &r["kept"]["/usr/bin/gzip"]["reasons"][0];
    assert_eq!((&gzip["rule"], &gzip["of"]), (&"program-paths".into(), &"/usr/local/bin/go-api".into()), "{gzip}");
    let report = get(&image.0, 8084, "/report.gz");
    assert!(report.0.contains("200") && report.1.len() > 20, "{report:?}");
    assert_eq!(get(&with.0, 8084, "/report.gz"), report);
    let (without, _) = build(&image.0, "slimctl-e2e/cov-go.slim:norules", &["--no-program-paths", "--no-verify"]);
    let broken = get(&without.0, 8084, "/report.gz");
    assert!(broken.0.contains("500") && broken.1.contains("gzip"), "without the rule gzip is gone: {broken:?}");
}

#[test]
fn a_php_pages_library_on_the_include_path_is_kept_by_php_includes() {
    let _turn = topic(module_path!());
    // contact.php is linked from nowhere; it requires PHPMailer from Debian's package on the
    // include path, whose autoloader maps classes to files.
    let image = build_example("php-apache", "slimctl-e2e/cov-php:1");
    let (with, r) = build(&image.0, "slimctl-e2e/cov-php.slim:rules", &[]);
    let mailer = &r["kept"]["/usr/share/php/libphp-phpmailer/src/PHPMailer.php"]["reasons"][0];
    assert_eq!(mailer["rule"], "php-includes", "{mailer}");
    let site = &r["kept"]["/var/www/site/contact.php"]["reasons"][0];
    assert_eq!(site["rule"], "web-roots", "the unlinked page comes with the DocumentRoot: {site}");
    let original = get(&image.0, 80, "/contact.php");
    assert!(original.0.contains("200") && original.1.contains("message ready: yes"), "{original:?}");
    assert_eq!(get(&with.0, 80, "/contact.php"), original);

    let (without, _) = build(&image.0, "slimctl-e2e/cov-php.slim:norules", &["--no-php-includes", "--no-verify"]);
    assert!(
        !get(&without.0, 80, "/contact.php").1.contains("message ready: yes"),
        "without the rule PHPMailer is gone"
    );
    let off = ["--no-web-roots", "--no-app-tree", "--no-verify"];
    let (no_root, _) = build(&image.0, "slimctl-e2e/cov-php.slim:noroot", &off);
    assert!(
        !get(&no_root.0, 80, "/contact.php").0.contains("200"),
        "without web-roots (and app-tree) the page is gone"
    );
}

#[test]
fn a_ruby_routes_lazy_require_is_kept_by_ruby_requires() {
    let _turn = topic(module_path!());
    // /export.csv is linked from nowhere and requires Ruby's csv library inside the route.
    let image = build_example("ruby-web", "slimctl-e2e/cov-ruby:1");
    let (with, r) = build(&image.0, "slimctl-e2e/cov-ruby.slim:rules", &[]);
    let csv = &r["kept"]["/usr/lib/ruby/3.1.0/csv.rb"]["reasons"][0];
    assert_eq!(csv["rule"], "ruby-requires", "{csv}");
    let original = get(&image.0, 9292, "/export.csv");
    assert!(original.0.contains("200") && original.1.contains("Watering can,12.5"), "{original:?}");
    assert_eq!(get(&with.0, 9292, "/export.csv"), original);
    // The staff page names Rack::Auth::Basic::Request, which Rack autoloads: no require names
    // the file, the sweep resolved the constant in the original and kept what it loaded.
    let kept = r["kept"].as_object().unwrap();
    let (basic, why) = kept.iter().find(|(p, _)| p.ends_with("/rack/auth/basic.rb")).expect("rack/auth/basic.rb kept");
    assert_eq!(
        why["reasons"][0],
        serde_json::json!({"kind": "sweep", "what": "constant Rack::Auth::Basic::Request"}),
        "{basic}"
    );
    let staff = get(&image.0, 9292, "/admin/stock");
    assert!(staff.0.contains("401") && staff.1 == "staff only\n", "{staff:?}");
    assert_eq!(get(&with.0, 9292, "/admin/stock"), staff);
    // /status requires open-uri, which requires net/http only in the method that opens a URL:
    // a library the app's code requires may have any of its methods called.
    let http = &r["kept"]["/usr/lib/ruby/3.1.0/net/http.rb"]["reasons"][0];
    assert_eq!((&http["rule"], &http["of"]), (&"ruby-requires".into(), &"/usr/lib/ruby/3.1.0/open-uri.rb".into()));
    let status = get(&image.0, 9292, "/status");
    assert!(status.0.contains("200") && status.1 == "front page: 200 OK\n", "{status:?}");
    assert_eq!(get(&with.0, 9292, "/status"), status);

    let (without, _) = build(&image.0, "slimctl-e2e/cov-ruby.slim:norules", &["--no-ruby-requires", "--no-verify"]);
    assert!(!get(&without.0, 9292, "/export.csv").1.contains("Watering can"), "without the rule csv is gone");
    assert!(!get(&without.0, 9292, "/status").1.contains("front page"), "without the rule net/http is gone");
}

#[test]
fn a_cli_jobs_option_that_loads_a_module_works_thanks_to_perl_requires() {
    let _turn = topic(module_path!());
    // The traced run is the default text report; --json requires JSON::PP inside a sub.
    let image = build_example("perl-report", "slimctl-e2e/cov-perl:1");
    let (with, r) = build(&image.0, "slimctl-e2e/cov-perl.slim:rules", &[]);
    assert_eq!(r["trace"]["exit_code"], 0, "a run to completion");
    let json = |img: &str| {
        let o = run(Command::new("docker").args(["run", "--rm", img, "--json", "/srv/orders/orders.csv"]));
        (o.status.code(), text(&o.stdout))
    };
    let original = json(&image.0);
    assert_eq!(original, (Some(0), "{\"ada\":15.5,\"bob\":7.25,\"eve\":41.1}\n".to_owned()));
    // The sweep required the modules the rule found (JSON::PP among them) in the original, and
    // verify required them again in the slim image.
    let sweep = r["sweep"].as_array().unwrap().iter().find(|s| s["runtime"] == "perl").cloned().unwrap_or_default();
    assert_eq!(sweep["complete"], true, "{}", r["sweep"]);
    assert!(sweep["loaded"].as_u64().unwrap() > 0, "{sweep}");
    let checks = r["verify"]["rounds"][0]["checks"].as_array().unwrap();
    let swept = checks.iter().find(|c| c["what"] == "sweep: Perl modules").expect("verify swept the slim image");
    assert_eq!(swept["verdict"], "match", "{swept}");
    assert_eq!(json(&with.0), original);

    let (without, _) = build(&image.0, "slimctl-e2e/cov-perl.slim:norules", &["--no-perl-requires", "--no-verify"]);
    assert_ne!(json(&without.0).0, Some(0), "without the rule JSON::PP is gone");
}

#[test]
fn a_java_services_drawing_works_thanks_to_jvm_natives() {
    let _turn = topic(module_path!());
    // /chart.png draws with java.awt and javax.imageio: the JVM loads libawt and friends by
    // name on the first drawing, which no probe of the traced run asks for.
    let image = build_example("java-service", "slimctl-e2e/cov-java:1");
    let (with, r) = build(&image.0, "slimctl-e2e/cov-java.slim:rules", &[]);
    let awt = &r["kept"]["/usr/lib/jvm/java-17-openjdk-amd64/lib/libawt.so"]["reasons"][0];
    assert_eq!(awt["rule"], "jvm-natives", "{awt}");
    assert!(r["unresolved"].as_array().unwrap().is_empty(), "no warnings about libjvm.so: {}", r["unresolved"]);
    let original = get(&image.0, 8090, "/chart.png");
    assert!(original.0.contains("200") && original.1.contains("PNG"), "{:?}", original.0);
    assert_eq!(get(&with.0, 8090, "/chart.png"), original, "the same picture");
    // Its caption goes through fontconfig, which the JDK loads by name, and a font it picks.
    let font = &r["kept"]["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"]["reasons"][0];
    assert_eq!(font["rule"], "fonts", "{font}");
    let fc = &r["kept"]["/usr/lib/x86_64-linux-gnu/libfontconfig.so.1"]["reasons"][0];
    assert_eq!(fc["kind"], "symlink_on_path", "the soname the JDK asks for: {fc}");

    let (without, _) = build(&image.0, "slimctl-e2e/cov-java.slim:norules", &["--no-jvm-natives", "--no-verify"]);
    assert!(!get(&without.0, 8090, "/chart.png").0.contains("200"), "without the rule the natives are gone");
    let (no_fonts, _) = build(&image.0, "slimctl-e2e/cov-java.slim:nofonts", &["--no-fonts", "--no-verify"]);
    assert!(!get(&no_fonts.0, 8090, "/chart.png").0.contains("200"), "without fonts the caption fails");
}
