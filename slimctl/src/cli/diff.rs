//! `slimctl diff A B`: files added, removed and changed, and what happened to A's packages.
use super::{open_source, table, Failure, EXIT_OK};
use serde::Serialize;
use slimctl::image::Image;
use slimctl::select::packages::{compare, inventory, tally, PackageChange};
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

#[derive(Debug, Serialize)]
struct FileChange {
    path: String,
    bytes: u64,
}

#[derive(Debug, Serialize)]
struct Diff {
    a: String,
    b: String,
    added: Vec<FileChange>,
    removed: Vec<FileChange>,
    changed: Vec<FileChange>,
    added_bytes: u64,
    removed_bytes: u64,
    packages: Vec<PackageChange>,
}

pub async fn run(args: &DiffArgs) -> Result<u8, Failure> {
    let sa = open_source(&args.a, None).await?.source;
    let sb = open_source(&args.b, None).await?.source;
    let a = tokio::task::spawn_blocking(move || Image::open(sa.as_ref(), false, &[])).await??;
    let b = tokio::task::spawn_blocking(move || Image::open(sb.as_ref(), false, &[])).await??;
    let diff = diff(args, &a, &b);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&diff).map_err(Failure::internal)?);
    } else {
        print_files(&diff, args.top);
        print_packages(&diff);
    }
    Ok(EXIT_OK)
}

fn diff(args: &DiffArgs, a: &Image, b: &Image) -> Diff {
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for (path, ea) in a.index.iter() {
        match b.index.get(path) {
            None => removed.push(FileChange { path: path.clone(), bytes: ea.stored_bytes() }),
            Some(_) if path == "/" => {}
            Some(eb) => {
                if ea.kind != eb.kind
                    || ea.size != eb.size
                    || ea.mode != eb.mode
                    || ea.uid != eb.uid
                    || ea.gid != eb.gid
                {
                    changed.push(FileChange { path: path.clone(), bytes: eb.stored_bytes() });
                }
            }
        }
    }
    for (path, eb) in b.index.iter() {
        if a.index.get(path).is_none() {
            added.push(FileChange { path: path.clone(), bytes: eb.stored_bytes() });
        }
    }
    let by_size = |v: &mut Vec<FileChange>| v.sort_by(|x, y| y.bytes.cmp(&x.bytes).then(x.path.cmp(&y.path)));
    by_size(&mut added);
    by_size(&mut removed);
    by_size(&mut changed);
    Diff {
        a: args.a.clone(),
        b: args.b.clone(),
        added_bytes: added.iter().map(|f| f.bytes).sum(),
        removed_bytes: removed.iter().map(|f| f.bytes).sum(),
        added,
        removed,
        changed,
        packages: compare(&inventory(&a.index), |p| b.index.get(p).is_some()),
    }
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
