//! `--dockerfile`: the fat image built in the engine first, then slimmed, in one command (the
//! CI post-build step). mint's and SlimToolkit's names are accepted.

use super::BuildArgs;
use crate::cli::Failure;
use slimctl::naming::output_tag;
use slimctl::pipeline::types::FatBuild;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct FatArgs {
    /// Build the image from this Dockerfile in the engine first (nothing is pulled: FROM names
    /// images the engine has), then slim it.
    #[arg(long, value_name = "FILE", help_heading = "Build from a Dockerfile")]
    pub dockerfile: Option<PathBuf>,
    /// The build context (default: the Dockerfile's directory); its .dockerignore applies.
    #[arg(long, value_name = "DIR", requires = "dockerfile", help_heading = "Build from a Dockerfile")]
    pub dockerfile_context: Option<PathBuf>,
    /// The built image's tag (default: <context directory>.fat:latest, and the slim image
    /// <context directory>.slim:latest).
    #[arg(long, value_name = "NAME", requires = "dockerfile", help_heading = "Build from a Dockerfile")]
    pub tag_fat: Option<String>,
    /// A build argument, KEY=VALUE; repeatable.
    #[arg(
        long = "build-arg",
        alias = "cbo-build-arg",
        value_name = "KEY=VALUE",
        requires = "dockerfile",
        help_heading = "Build from a Dockerfile"
    )]
    pub build_args: Vec<String>,
    /// The stage of a multi-stage Dockerfile to build.
    #[arg(
        long = "build-target",
        alias = "cbo-target",
        value_name = "STAGE",
        requires = "dockerfile",
        help_heading = "Build from a Dockerfile"
    )]
    pub build_target: Option<String>,
}

/// With `--dockerfile`, builds the fat image and makes it the image to slim (and names the slim
/// image after the context when no tag says otherwise).
pub async fn build_first(args: &mut BuildArgs) -> Result<(), Failure> {
    let Some(dockerfile) = args.fat.dockerfile.clone() else { return Ok(()) };
    if !args.images.is_empty() || !args.target.is_empty() || args.images_from.is_some() {
        return Err(Failure::usage(
            "--dockerfile builds the image to slim: give no image beside it (or drop --dockerfile)",
        ));
    }
    if !args.run.compose_files.is_empty() {
        return Err(Failure::usage(
            "--dockerfile with a Compose file: Compose services are never built by slimctl; build them first",
        ));
    }
    if let Err(e) = std::fs::File::open(&dockerfile) {
        return Err(Failure::input(format!("--dockerfile {}: cannot read it: {e}", dockerfile.display())));
    }
    let context = args.fat.dockerfile_context.clone();
    let dir = context.clone().unwrap_or_else(|| match dockerfile.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    });
    let name = context_name(&dir);
    let tag = match &args.fat.tag_fat {
        Some(t) => output_tag(t).map_err(Failure::usage)?,
        None => {
            if args.tag.is_none() {
                args.tag = Some(format!("{name}.slim:latest"));
            }
            format!("{name}.fat:latest")
        }
    };
    let build_args = args
        .fat
        .build_args
        .iter()
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| Failure::usage(format!("--build-arg {a}: expected KEY=VALUE")))
        })
        .collect::<Result<_, _>>()?;
    let req = FatBuild {
        dockerfile: dockerfile.clone(),
        context,
        tag: tag.clone(),
        build_args,
        stage: args.fat.build_target.clone(),
    };
    if !args.json {
        eprintln!("building {tag} from {}", dockerfile.display());
    }
    let id = slimctl::pipeline::build_fat(&req, !args.json).await?;
    if !args.json {
        eprintln!("built {tag} ({})", id.strip_prefix("sha256:").unwrap_or(&id).chars().take(12).collect::<String>());
    }
    args.images.push(tag);
    Ok(())
}

/// A name for images made from the context at `dir`: its directory's name, as an image
/// reference allows (lower case; letters, digits, `.`, `_`, `-`).
fn context_name(dir: &Path) -> String {
    let base = dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    let cleaned: String = base
        .unwrap_or_default()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "app".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_named_after_the_context_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("My App_2");
        std::fs::create_dir(&ctx).unwrap();
        assert_eq!(context_name(&ctx), "my-app_2");
        let odd = dir.path().join("--");
        std::fs::create_dir(&odd).unwrap();
        assert_eq!(context_name(&odd), "app");
    }
}
