//! `--dockerfile`: the fat image built in the engine first, then slimmed, in one command (the
//! CI post-build step). mint's and SlimToolkit's names are accepted.

use super::BuildArgs;
use crate::cli::Failure;
use slimctl::naming::output_tag;
use slimctl::pipeline::types::FatBuild;
use std::path::PathBuf;

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
    let tag = args.fat.tag_fat.as_deref().map(output_tag).transpose().map_err(Failure::usage)?;
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
        context: args.fat.dockerfile_context.clone(),
        tag,
        build_args,
        stage: args.fat.build_target.clone(),
    };
    req.check().map_err(|e| Failure::of(e.class(), &e))?;
    if args.fat.tag_fat.is_none() && args.tag.is_none() {
        args.tag = Some(format!("{}.slim:latest", req.name()));
    }
    let tag = req.tag();
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
