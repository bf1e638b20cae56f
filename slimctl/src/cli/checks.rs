//! The verify table, as `build` and `verify` print it.
use super::table;
use slimctl::pipeline::types::Round;

/// Cells longer than this are cut in the table (the JSON report keeps them whole).
const CELL: usize = 60;

fn cut(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > CELL {
        format!("{}…", one_line.chars().take(CELL - 1).collect::<String>())
    } else {
        one_line
    }
}

/// The round's checks, then what the slim image missed and, when it failed or ended early,
/// its last output.
pub fn print_round(round: &Round) {
    let rows: Vec<Vec<String>> = round
        .checks
        .iter()
        .map(|c| vec![cut(&c.what), cut(&c.original), cut(&c.slim), c.verdict.to_string()])
        .collect();
    if !rows.is_empty() {
        print!("{}", table::render(&["verify", "original", "slim", "verdict"], &rows));
    }
    if !round.slim_logs.is_empty() {
        println!("the slim container's last output:");
        for line in round.slim_logs.lines() {
            println!("  | {line}");
        }
    }
}
