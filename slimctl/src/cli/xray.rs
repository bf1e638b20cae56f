//! `slimctl xray`

use super::{exit, table, Failure};
use slimctl::units::{human_bytes, parse_bytes};
use slimctl::xray::{analyze, evaluate, CiRules, XrayReport};

#[derive(clap::Args, Debug)]
pub struct XrayArgs {
    /// The image: NAME[:TAG] or ID in the engine, docker-archive:FILE, oci:DIR, or docker://HOST[:PORT]/REPO[:TAG|@DIGEST] (a registry).
    pub image: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// How many largest files and wasted paths to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Check the thresholds below and exit with code 5 when one fails (dive's CI mode).
    #[arg(long)]
    pub ci: bool,
    /// Thresholds from a dive-style CI file (default with --ci: ./.dive-ci when present);
    /// flags below override it.
    #[arg(long, value_name = "FILE")]
    pub ci_config: Option<std::path::PathBuf>,
    /// Lowest efficiency score allowed (0..1) [default: 0.9].
    #[arg(long)]
    pub lowest_efficiency: Option<f64>,
    /// Highest wasted bytes allowed (e.g. 20MB); off unless set.
    #[arg(long, value_parser = parse_bytes)]
    pub highest_wasted_bytes: Option<u64>,
    /// Highest share of the non-base layers' bytes that may be wasted, as a ratio like dive's (0.1 = 10%) [default: 0.1].
    #[arg(long)]
    pub highest_user_wasted_percent: Option<f64>,
}

fn ci_rules(args: &XrayArgs) -> Result<CiRules, Failure> {
    let file = args.ci_config.clone().or_else(|| {
        let p = std::path::PathBuf::from(".dive-ci");
        p.is_file().then_some(p)
    });
    let from_file = match &file {
        Some(f) => {
            let text =
                std::fs::read_to_string(f).map_err(|e| Failure::input(format!("cannot read {}: {e}", f.display())))?;
            Some(slimctl::xray::dive_ci_rules(&text).map_err(|e| Failure::input(format!("{}: {e}", f.display())))?)
        }
        None => None,
    };
    let (fe, fb, fu) = match &from_file {
        Some(r) => (r.lowest_efficiency, r.highest_wasted_bytes, r.highest_user_wasted_ratio),
        None => (Some(0.9), None, Some(0.1)),
    };
    Ok(CiRules {
        lowest_efficiency: args.lowest_efficiency.or(fe),
        highest_wasted_bytes: args.highest_wasted_bytes.or(fb),
        highest_user_wasted_ratio: args.highest_user_wasted_percent.or(fu),
    })
}

pub async fn run(args: &XrayArgs) -> Result<u8, Failure> {
    let image = slimctl::pipeline::inspect::read(&args.image, true).await?;
    let report = analyze(&image, args.top);
    let ci = if args.ci { Some(evaluate(&report, &ci_rules(args)?)) } else { None };
    if args.json {
        let mut v = serde_json::to_value(&report).map_err(Failure::internal)?;
        if let Some(ci) = &ci {
            v["ci"] = serde_json::to_value(ci).map_err(Failure::internal)?;
        }
        println!("{}", serde_json::to_string_pretty(&v).map_err(Failure::internal)?);
    } else {
        print_report(&report);
        if let Some(ci) = &ci {
            println!();
            for r in ci {
                println!("{}  {}: {}", if r.passed { "PASS" } else { "FAIL" }, r.rule, r.detail);
            }
        }
    }
    let failed = ci.is_some_and(|c| c.iter().any(|r| !r.passed));
    Ok(if failed { exit::CI_GATE } else { exit::OK })
}

fn print_report(r: &XrayReport) {
    println!("{}  ({})", r.image, r.id);
    let rows: Vec<Vec<String>> = r
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut cmd = l.created_by.clone().unwrap_or_default().replace('\n', " ");
            if cmd.len() > 60 {
                cmd = format!("{}…", cmd.chars().take(59).collect::<String>());
            }
            vec![
                i.to_string(),
                human_bytes(l.bytes),
                l.changes.added.to_string(),
                l.changes.modified.to_string(),
                l.changes.removed.to_string(),
                cmd,
            ]
        })
        .collect();
    print!("{}", table::render(&["layer", "size", "added", "modified", "removed", "command"], &rows));
    println!();
    let rows: Vec<Vec<String>> =
        r.largest_files.iter().map(|f| vec![human_bytes(f.bytes), f.layer.to_string(), f.path.clone()]).collect();
    println!("largest files:");
    print!("{}", table::render(&["size", "layer", "path"], &rows));
    println!();
    if r.inefficiencies.is_empty() {
        println!("wasted space: none");
    } else {
        println!("wasted space (paths stored in more than one layer, or deleted by a later one):");
        let rows: Vec<Vec<String>> = r
            .inefficiencies
            .iter()
            .map(|i| vec![human_bytes(i.cumulative_bytes), i.appearances.to_string(), i.path.clone()])
            .collect();
        print!("{}", table::render(&["bytes", "copies", "path"], &rows));
    }
    println!();
    println!(
        "total {} stored, {} visible; wasted {} ({:.1}% of non-base layers); efficiency {:.2}%",
        human_bytes(r.stored_bytes),
        human_bytes(r.visible_bytes),
        human_bytes(r.wasted_bytes),
        r.user_wasted_ratio * 100.0,
        r.efficiency * 100.0
    );
}
