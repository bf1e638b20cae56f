//! The slim image's config as the user changes it, under slimctl's names and (hidden) under
//! mint's and SlimToolkit's, so a migrating script runs unchanged.

use crate::cli::runargs::argv_arg;
use crate::cli::Failure;
use slimctl::pipeline::types::ConfigEdits;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct SlimConfigArgs {
    /// The slim image's CMD: a JSON array, or words split as a shell would.
    #[arg(long, alias = "new-cmd", value_name = "CMD", help_heading = "Slim image config")]
    pub set_cmd: Option<String>,
    /// The slim image's ENTRYPOINT (drops the CMD it inherited unless --set-cmd is given, as in
    /// a Dockerfile).
    #[arg(long, alias = "new-entrypoint", value_name = "CMD", help_heading = "Slim image config")]
    pub set_entrypoint: Option<String>,
    #[arg(long, alias = "new-workdir", value_name = "DIR", help_heading = "Slim image config")]
    pub set_workdir: Option<String>,
    /// Set an environment variable in the slim image; repeatable.
    #[arg(long, alias = "new-env", value_name = "KEY=VALUE", help_heading = "Slim image config")]
    pub set_env: Vec<String>,
    #[arg(long, alias = "remove-env", value_name = "KEY", help_heading = "Slim image config")]
    pub unset_env: Vec<String>,
    /// Expose PORT[/PROTO] in the slim image; repeatable.
    #[arg(long, alias = "new-expose", value_name = "PORT[/PROTO]", help_heading = "Slim image config")]
    pub set_expose: Vec<String>,
    /// Stop exposing a port (verify still probes the ports the traced run probed).
    #[arg(long, alias = "remove-expose", value_name = "PORT[/PROTO]", help_heading = "Slim image config")]
    pub unset_expose: Vec<String>,
    #[arg(long, alias = "new-label", value_name = "KEY=VALUE", help_heading = "Slim image config")]
    pub set_label: Vec<String>,
    #[arg(long, alias = "remove-label", value_name = "KEY", help_heading = "Slim image config")]
    pub unset_label: Vec<String>,
    #[arg(long, alias = "new-volume", value_name = "PATH", help_heading = "Slim image config")]
    pub set_volume: Vec<String>,
    #[arg(long, alias = "remove-volume", value_name = "PATH", help_heading = "Slim image config")]
    pub unset_volume: Vec<String>,
}

impl SlimConfigArgs {
    pub fn edits(&self) -> Result<ConfigEdits, Failure> {
        let edits = ConfigEdits {
            cmd: self.set_cmd.as_deref().map(|c| argv_arg("--set-cmd", c)).transpose()?,
            entrypoint: self.set_entrypoint.as_deref().map(|c| argv_arg("--set-entrypoint", c)).transpose()?,
            workdir: self.set_workdir.clone(),
            env: self.set_env.clone(),
            unset_env: self.unset_env.clone(),
            expose: self.set_expose.clone(),
            unexpose: self.unset_expose.clone(),
            labels: self.set_label.clone(),
            unlabel: self.unset_label.clone(),
            volumes: self.set_volume.clone(),
            unvolume: self.unset_volume.clone(),
        };
        edits.check().map_err(Failure::usage)?;
        // The label that names the original is slimctl's own: a user's would lie about it.
        if let Some(l) = edits.labels.iter().find(|l| l.starts_with("io.slimctl.")) {
            return Err(Failure::usage(format!("--set-label {l}: io.slimctl.* labels are slimctl's own")));
        }
        Ok(edits)
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::build::BuildArgs;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cmd {
        #[command(flatten)]
        build: BuildArgs,
    }

    fn parse(args: &[&str]) -> BuildArgs {
        let mut v = vec!["slimctl", "img:1"];
        v.extend_from_slice(args);
        Cmd::try_parse_from(v).unwrap_or_else(|e| panic!("{args:?}: {e}")).build
    }

    /// Each mint/SlimToolkit spelling lands in the same field as slimctl's own, with the same
    /// value: what the command does with it is then the same (tested by name in e2e).
    #[test]
    fn every_alias_means_what_our_flag_means() {
        let pairs: &[(&str, &str, &str)] = &[
            ("--new-cmd", "--set-cmd", "serve --fast"),
            ("--new-entrypoint", "--set-entrypoint", "/app"),
            ("--new-workdir", "--set-workdir", "/srv"),
            ("--new-env", "--set-env", "A=1"),
            ("--remove-env", "--unset-env", "A"),
            ("--new-expose", "--set-expose", "8080"),
            ("--remove-expose", "--unset-expose", "9090"),
            ("--new-label", "--set-label", "team=web"),
            ("--remove-label", "--unset-label", "team"),
            ("--new-volume", "--set-volume", "/data"),
            ("--remove-volume", "--unset-volume", "/data"),
            ("--include-path", "--include", "/etc/app"),
            ("--include-bin", "--include", "/usr/bin/tar"),
            ("--include-path-file", "--include-from", "list.txt"),
            ("--include-bin-file", "--include-from", "list.txt"),
            ("--include-exe", "--include-program", "tar"),
            ("--include-exe-file", "--include-program-from", "programs.txt"),
            ("--exclude-pattern", "--exclude-glob", "/usr/share/**/*.md"),
        ];
        for (theirs, ours, value) in pairs {
            let (a, b) = (parse(&[theirs, value]), parse(&[ours, value]));
            assert_eq!(
                format!("{:?}", a.slim_config.edits().unwrap()),
                format!("{:?}", b.slim_config.edits().unwrap()),
                "{theirs}"
            );
            assert_eq!(
                (&a.includes, &a.include_from, &a.programs, &a.programs_from, &a.exclude_globs),
                (&b.includes, &b.include_from, &b.programs, &b.programs_from, &b.exclude_globs),
                "{theirs}"
            );
            assert_ne!(format!("{a:?}"), format!("{:?}", parse(&[])), "{theirs} changed nothing");
        }
        for (theirs, ours) in [("--show-clogs", "--show-logs"), ("--http-probe-off", "--no-http-probe")] {
            let (a, b) = (parse(&[theirs]), parse(&[ours]));
            assert_eq!(
                (a.run.show_logs, a.probes.no_http_probe),
                (b.run.show_logs, b.probes.no_http_probe),
                "{theirs}"
            );
            assert!(a.run.show_logs || a.probes.no_http_probe, "{theirs} changed nothing");
        }
        for (theirs, ours, value) in [
            ("--http-probe-apispec", "--api-spec-path", "/openapi.json"),
            ("--http-probe-apispec-file", "--api-spec", "spec.yaml"),
        ] {
            let (a, b) = (parse(&[theirs, value]), parse(&[ours, value]));
            assert_eq!((&a.probes.api_spec_path, &a.probes.api_spec), (&b.probes.api_spec_path, &b.probes.api_spec));
            assert!(!a.probes.api_spec_path.is_empty() || a.probes.api_spec.is_some(), "{theirs} changed nothing");
        }
        for (theirs, ours, value) in [
            ("--etc-hosts-map", "--add-host", "db:10.0.0.2"),
            ("--container-dns", "--dns", "10.0.0.53"),
            ("--publish-port", "--publish", "8080:80"),
            ("--volume", "--mount", "/data:/data"),
        ] {
            let (a, b) = (parse(&[theirs, value]), parse(&[ours, value]));
            let fields = |x: &BuildArgs| {
                (x.run.add_hosts.clone(), x.run.dns.clone(), x.run.publish.clone(), x.run.mounts.clone())
            };
            assert_eq!(fields(&a), fields(&b), "{theirs}");
            assert_ne!(fields(&a), fields(&parse(&[])), "{theirs} changed nothing");
        }
        let t = Cmd::try_parse_from(["slimctl", "--target", "img:2"]).unwrap().build;
        assert_eq!(t.target, ["img:2"]);
    }
}
