//! `slimctl sbom IMAGE`: an SPDX or CycloneDX document of what an image holds.

use super::{exit, Failure};
use slimctl::sbom::{render, Format};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct SbomArgs {
    /// The image: NAME[:TAG] or ID in the engine, docker-archive:FILE, oci:DIR, or docker://HOST[:PORT]/REPO[:TAG|@DIGEST].
    pub image: String,
    /// The document format.
    #[arg(long, value_enum, default_value_t = Format::SpdxJson)]
    pub format: Format,
    /// Write the document here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(args: &SbomArgs) -> Result<u8, Failure> {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok());
    let sbom = slimctl::pipeline::sbom::of_reference(&args.image, epoch).await?;
    let doc = render(&sbom, args.format);
    write_document(args.output.as_deref(), &doc)?;
    let files: usize = sbom.files.len();
    eprintln!(
        "slimctl: SBOM of {}: {} packages, {} files{}",
        args.image,
        sbom.components.len(),
        files,
        args.output.as_ref().map(|p| format!(", written to {}", p.display())).unwrap_or_default()
    );
    Ok(exit::OK)
}

/// Writes `doc` to `path`, or stdout.
pub fn write_document(path: Option<&std::path::Path>, doc: &[u8]) -> Result<(), Failure> {
    match path {
        Some(p) => std::fs::write(p, doc).map_err(|e| Failure::input(format!("cannot write {}: {e}", p.display()))),
        None => {
            use std::io::Write;
            std::io::stdout().write_all(doc).map_err(|e| Failure::internal(format!("writing stdout: {e}")))
        }
    }
}
