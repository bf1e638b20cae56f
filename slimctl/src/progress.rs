//! Progress on stderr for long steps; silent when stderr is not a terminal or when disabled.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Every bar draws through one set: stages that overlap (reading the image while the container
/// runs) each keep a line instead of overwriting each other's.
static BARS: std::sync::LazyLock<MultiProgress> =
    std::sync::LazyLock::new(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));

pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

fn visible() -> bool {
    !DISABLED.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

/// A bar counting bytes read (a spinner when the total is unknown).
pub fn bytes_bar(msg: &str, total: Option<u64>) -> ProgressBar {
    if !visible() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) if t > 0 => ProgressBar::new(t).with_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes}/{total_bytes} ({bytes_per_sec}, {elapsed})")
                .expect("static template"),
        ),
        _ => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes} ({bytes_per_sec}, {elapsed})")
                .expect("static template"),
        ),
    };
    let bar = BARS.add(bar);
    bar.set_message(msg.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A spinner for a step without a byte count.
pub fn spinner(msg: &str) -> ProgressBar {
    if !visible() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("static template"));
    let bar = BARS.add(bar);
    bar.set_message(msg.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A line for whoever asks why slimctl took a slower way (`SLIMCTL_DEBUG=1`).
pub fn debug(msg: &str) {
    if std::env::var_os("SLIMCTL_DEBUG").is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!("slimctl: debug: {msg}");
    }
}
