//! `slimctl vex ORIGINAL SLIM --report REPORT`: VEX statements for the slim image from a
//! vulnerability scan of the original.

use super::sbom::write_document;
use super::{exit, Failure};
use slimctl::vex::{render, Format, Status};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct VexArgs {
    /// The original image (what the report scanned).
    pub original: String,
    /// The slim image made from it.
    pub slim: String,
    /// The original's vulnerability report: Trivy JSON, Grype JSON, or CycloneDX with vulnerabilities.
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// The document format.
    #[arg(long, value_enum, default_value_t = Format::Openvex)]
    pub format: Format,
    /// Write the document here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(args: &VexArgs) -> Result<u8, Failure> {
    let report = slimctl::pipeline::vex::read_report(&args.report)?;
    let (vex, product) = slimctl::pipeline::vex::of_references(&args.original, &args.slim, report).await?;
    if let Some(w) = &vex.mismatch {
        eprintln!("warning: {w}; the statements below may not hold");
    }
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok());
    let doc = render(&vex.statements, &product, &slimctl::sbom::created_now(epoch), args.format);
    write_document(args.output.as_deref(), &doc)?;
    let gone = vex.statements.iter().filter(|s| s.status == Status::NotAffected).count();
    eprintln!(
        "slimctl: VEX for {}: {} of {} findings of the {} report are in packages the slim image no longer holds \
         (not_affected); {} stay under investigation",
        args.slim,
        gone,
        vex.statements.len(),
        vex.report.format,
        vex.statements.len() - gone
    );
    Ok(exit::OK)
}
