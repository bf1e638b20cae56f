//! `slimctl debug TARGET [--image TOOLS] [--] [CMD...]`: a side-car with a shell beside a slim
//! container, its streams wired to this terminal (raw, resized with it) or to stdin/stdout.

use super::{exit, Failure};
use futures_util::StreamExt;
use slimctl::debug::{Request, Session, Target};
use std::io::IsTerminal;
use tokio::io::AsyncWriteExt;

#[derive(clap::Args, Debug)]
pub struct DebugArgs {
    /// The running container to debug (name or id); with --run, the image to start.
    #[arg(required_unless_present = "run")]
    pub target: Option<String>,
    /// Start IMAGE (with `docker run`'s defaults) for the session, and remove it at the end.
    #[arg(long, value_name = "IMAGE", conflicts_with = "target")]
    pub run: Option<String>,
    /// The tools image (default: the original the slim image was made from, named by its label).
    #[arg(long, value_name = "TOOLS")]
    pub image: Option<String>,
    /// Run the side-car as USER (default: root, which with CAP_SYS_PTRACE reads any target).
    #[arg(long)]
    pub user: Option<String>,
    /// The command to run (default: the tools image's shell).
    #[arg(last = true)]
    pub cmd: Vec<String>,
}

/// The terminal in raw mode while the session lasts: keys (Ctrl-C too) go to the side-car.
struct RawMode(nix::sys::termios::Termios);

impl RawMode {
    fn enable() -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &self.0);
    }
}

/// The terminal's size (rows, columns).
fn window_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct passed, which lives across the call.
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Our stdin, read on a thread of its own (a read blocked on a terminal must not hold the
/// runtime), handed over in chunks; none at the end.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

pub async fn run(args: &DebugArgs) -> Result<u8, Failure> {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let target = match (&args.run, &args.target) {
        (Some(image), _) => Target::Run(image.clone()),
        (None, Some(name)) => Target::Running(name.clone()),
        (None, None) => return Err(Failure::usage("name a running container, or --run IMAGE")),
    };
    let req = Request {
        target,
        tools: args.image.clone(),
        user: args.user.clone(),
        cmd: args.cmd.clone(),
        tty: interactive.then(|| window_size().unwrap_or((24, 80))),
    };
    let docker = slimctl::pipeline::inspect::connect().await?;
    let run_id = format!("debug-{}", std::process::id());
    let session = Session::open(&docker, &req, &run_id).await.map_err(|e| Failure::of(e.class(), &e))?;
    eprintln!("{}", session.banner());
    let result = converse(&session, req.tty).await;
    session.close().await;
    let code = result?;
    Ok(u8::try_from(code.clamp(0, 255)).unwrap_or(exit::INTERNAL))
}

/// Wires the side-car's streams to ours until it exits; its exit code.
async fn converse(session: &Session, tty: Option<(u16, u16)>) -> Result<i64, Failure> {
    let fail = |e: slimctl::debug::DebugError| Failure::of(e.class(), &e);
    let attached = session.attach().await.map_err(fail)?;
    session.start().await.map_err(fail)?;
    let _raw = tty.and_then(|_| RawMode::enable());
    if let Some((rows, cols)) = tty {
        session.resize(rows, cols).await;
    }
    let mut input = attached.input;
    let mut chunks = stdin_chunks();
    let feed = async move {
        while let Some(c) = chunks.recv().await {
            if input.write_all(&c).await.is_err() || input.flush().await.is_err() {
                return;
            }
        }
        // End of our input: the command's stdin ends too.
        let _ = input.shutdown().await;
        std::future::pending::<()>().await
    };
    let mut output = attached.output;
    let print = async move {
        use std::io::Write;
        // Small writes to our own terminal or pipe: written at once, in order.
        while let Some(Ok(chunk)) = output.next().await {
            use bollard::container::LogOutput;
            let _ = match chunk {
                LogOutput::StdErr { message } => {
                    let mut err = std::io::stderr().lock();
                    err.write_all(&message).and(err.flush())
                }
                other => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&other.into_bytes()).and(out.flush())
                }
            };
        }
    };
    let resize = async {
        let Ok(mut winch) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) else {
            return std::future::pending().await;
        };
        while winch.recv().await.is_some() {
            if let (Some(_), Some((rows, cols))) = (tty, window_size()) {
                session.resize(rows, cols).await;
            }
        }
    };
    tokio::select! {
        _ = print => {}
        _ = feed => {}
        _ = resize => {}
    }
    session.wait().await.map_err(fail)
}
