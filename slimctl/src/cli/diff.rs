//! `slimctl diff A B`: files added, removed and changed, and what happened to A's packages.
use super::{exit, table, Failure};
use slimctl::diff::{diff, tally, Diff, PackageChange};
use slimctl::pipeline::inspect::read;
use slimctl::units::human_bytes;

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The first image (usually the original): NAME[:TAG], docker-archive:FILE, oci:DIR or docker://HOST/REPO:TAG.
    pub a: String,
    /// The second image (usually the slim one).
    pub b: String,
    /// Print the whole diff as JSON.
    #[arg(long)]
    pub json: bool,
    /// How many files and packages to list per section.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

pub async fn run(args: &DiffArgs) -> Result<u8, Failure> {
    let (a, b) = (read(&args.a, false).await?, read(&args.b, false).await?);
    let diff = diff(&args.a, &args.b, &a, &b);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&diff).map_err(Failure::internal)?);
    } else {
        print_files(&diff, args.top);
        print_packages(&diff);
    }
    Ok(exit::OK)
}

fn print_files(diff: &Diff, top: usize) {
    println!(
        "{} -> {}: {} paths removed ({}), {} added ({}), {} changed",
        diff.a,
        diff.b,
        diff.removed.len(),
        human_bytes(diff.removed_bytes),
        diff.added.len(),
        human_bytes(diff.added_bytes),
        diff.changed.len()
    );
    for (title, list) in [("largest removed", &diff.removed), ("added", &diff.added), ("changed", &diff.changed)] {
        if !list.is_empty() {
            let rows: Vec<Vec<String>> =
                list.iter().take(top).map(|f| vec![human_bytes(f.bytes), f.path.clone()]).collect();
            println!();
            print!("{}", table::render(&["size", title], &rows));
        }
    }
}

fn print_packages(diff: &Diff) {
    let t = tally(&diff.packages);
    println!();
    println!(
        "packages of {}: {} kept, {} partly kept, {} removed entirely",
        diff.a,
        t.get("kept").unwrap_or(&0),
        t.get("partial").unwrap_or(&0),
        t.get("removed").unwrap_or(&0)
    );
    let mut shown: Vec<&PackageChange> = diff.packages.iter().filter(|p| p.status != "removed").collect();
    shown.sort_by(|x, y| (x.status, &x.name).cmp(&(y.status, &y.name)));
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|p| {
            vec![
                p.manager.into(),
                p.name.clone(),
                p.version.clone(),
                format!("{}/{}", p.kept_files, p.files),
                p.status.into(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        print!("{}", table::render(&["manager", "package", "version", "files kept", "status"], &rows));
    }
}
