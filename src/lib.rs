//! kubectl-eso: a kubectl plugin that walks External Secrets Operator chains (ExternalSecret ->
//! store -> provider -> Secret -> workload) and names the broken link, without ever printing a
//! secret value. The library holds everything; `main.rs` only calls `run_args`.

pub mod analysis;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod diag;
pub mod diagnose;
pub mod egress;
pub mod error;
pub mod exit;
pub mod invoked;
pub mod kube;
pub mod model;
pub mod provider;
pub mod redact;
pub mod render;
pub mod sanitize;
pub mod selector;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;
use crate::exit::Exit;

/// Parses `args` (the first is the program name, as in `std::env::args_os()`), runs the
/// subcommand, prints its output and maps the outcome to an exit code. Errors are one line on
/// stderr; nothing here exits the process.
pub async fn run_args(args: Vec<OsString>) -> ExitCode {
    // kube and reqwest must agree on one crypto provider; a second install is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let display = invoked::from_argv0(args.first().map(OsString::as_os_str));
    learn_environment();

    if args.get(1).is_some_and(|a| a == "__complete") {
        let words: Vec<String> = args
            .iter()
            .skip(2)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut out = Vec::new();
        let _ = cmd::complete::complete(&words, &mut out).await;
        return finish(&out, Exit::Healthy, false, &display);
    }

    let command = Cli::command().bin_name(&display).display_name(&display);
    let parsed = command
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version go to stdout with 0; usage errors to stderr with 2, as one
            // line and a hint (issue 18: clap's own rendering is 4-6 lines).
            // The examples in the help are written with the canonical name (issue 13).
            let rendered = invoked::rewrite(&e.to_string(), &display).into_owned();
            if e.use_stderr() {
                let lines = redact::output(&clap_error_lines(&rendered), false);
                let _ = writeln!(io::stderr().lock(), "{lines}");
            } else {
                return finish(rendered.as_bytes(), Exit::Healthy, false, &display);
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };

    // The tool's own coloured tables keep their colour at the output boundary.
    let colour = config::color_enabled(cli.global.color, config::Terminal::detect());
    let mut out = Output::new(colour, &display);
    let argv0 = args.first().cloned().unwrap_or_default();
    match cmd::dispatch(cli, &argv0, &mut out).await {
        Ok(exit) => out.finish(exit),
        Err(e) => {
            // Output written before a failure is still worth showing.
            let _ = out.finish(Exit::Error);
            error_line(&invoked::rewrite(&format!("{e:#}"), &display));
            Exit::Error.into()
        }
    }
}

/// Stdout behind the output boundary, written as the command goes (issue 16: a report of 100,000
/// ExternalSecrets is not held whole and then copied). What a command writes is held until it
/// flushes — only at a point no redaction match can span: the JSON writer does, every 64 KiB, at
/// a line end (`render::structured`) — or ends; each piece then passes the invoked-name rewrite
/// and the redaction, and is written. An output that never flushes (tables, YAML, JUnit) passes
/// the boundary whole at the end, as before.
///
/// Pieces flushed before the end pass the boundary on a thread of their own, in order, while the
/// command renders the next ones (issue 16: the redaction of a 15 MB report is as much work as
/// rendering it); `finish` waits for it. The thread hands each written piece's buffer back to be
/// filled again: a freed 64 KiB buffer makes glibc consolidate its arena's small free chunks,
/// which a report's hundreds of pieces turned into a quarter of the output thread's time.
struct Output {
    pending: Vec<u8>,
    colour: bool,
    display: String,
    /// The first failed write: the rest of the output is dropped, and `finish` reports it (a
    /// closed pipe, `scope -o json | head`, is no error).
    failed: Option<io::Error>,
    writer: Option<Writer>,
}

/// The thread that passes flushed pieces through the boundary to stdout; it returns the first
/// failed write, and each piece's emptied buffer on `spare`.
struct Writer {
    pieces: std::sync::mpsc::SyncSender<Vec<u8>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: std::thread::JoinHandle<Option<io::Error>>,
}

/// Pieces on their way to the writer thread, and buffers on their way back.
const PIECES_IN_FLIGHT: usize = 4;

impl Output {
    fn new(colour: bool, display: &str) -> Self {
        Output {
            pending: Vec::new(),
            colour,
            display: display.to_string(),
            failed: None,
            writer: None,
        }
    }

    /// What was written so far, through the boundary to stdout.
    fn emit(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.failed.is_none() {
            self.failed = Self::pass(&self.pending, &self.display, self.colour).err();
        }
        self.pending.clear();
    }

    fn pass(piece: &[u8], display: &str, colour: bool) -> io::Result<()> {
        write_stdout(piece, display, colour)
    }

    /// What was written so far, handed to the writer thread (started on the first flush).
    fn hand_over(&mut self) {
        if self.pending.is_empty() || self.failed.is_some() {
            self.pending.clear();
            return;
        }
        if self.writer.is_none() {
            let (pieces, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIECES_IN_FLIGHT);
            let (back, spare) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIECES_IN_FLIGHT);
            let (display, colour) = (self.display.clone(), self.colour);
            let spawned = std::thread::Builder::new()
                .name("output".into())
                .spawn(move || {
                    let mut failed = None;
                    for mut piece in rx {
                        if failed.is_none() {
                            failed = Self::pass(&piece, &display, colour).err();
                        }
                        piece.clear();
                        // Full (the command has enough) or gone: the buffer is freed here.
                        let _ = back.try_send(piece);
                    }
                    failed
                });
            match spawned {
                Ok(thread) => {
                    self.writer = Some(Writer {
                        pieces,
                        spare,
                        thread,
                    })
                }
                // No thread: the piece is written here, as it would be at the end.
                Err(_) => return self.emit(),
            }
        }
        let next = match &self.writer {
            Some(w) => w.spare.try_recv().unwrap_or_default(),
            None => Vec::new(),
        };
        let piece = std::mem::replace(&mut self.pending, next);
        if let Some(w) = &self.writer
            && let Err(std::sync::mpsc::SendError(piece)) = w.pieces.send(piece)
        {
            // The thread is gone (it panicked): the piece is written here.
            self.pending = piece;
            self.emit();
        }
    }

    /// Waits for the writer thread: every piece handed over is written (or failed).
    fn join_writer(&mut self) {
        if let Some(Writer { pieces, thread, .. }) = self.writer.take() {
            drop(pieces);
            let failed = thread
                .join()
                .unwrap_or_else(|_| Some(io::Error::other("the output thread stopped")));
            if self.failed.is_none() {
                self.failed = failed;
            }
        }
    }

    /// The rest of the output, and the exit code: `exit`, unless stdout failed.
    fn finish(mut self, exit: Exit) -> ExitCode {
        self.join_writer();
        self.emit();
        match self.failed {
            None => exit.into(),
            // `kubectl eso scope | head` closes the pipe early: not an error.
            Some(e) if e.kind() == io::ErrorKind::BrokenPipe => exit.into(),
            Some(e) => {
                let _ = writeln!(io::stderr().lock(), "error: writing output: {e}");
                Exit::Error.into()
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// A cut point: what was written so far passes the boundary now (on the writer thread).
    fn flush(&mut self) -> io::Result<()> {
        self.hand_over();
        Ok(())
    }
}

/// An error as the one `error: …` line on stderr, through the output boundary.
pub fn error_line(message: &str) {
    let message = redact::output(&sanitize::line(message), false);
    let _ = writeln!(io::stderr().lock(), "error: {message}");
}

/// Credentials the process was given in its environment are remembered by the output boundary
/// (issue 18: `VAULT_TOKEN` must not reach the output, whatever quotes it).
fn learn_environment() {
    for name in [
        "VAULT_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AZURE_CLIENT_SECRET",
    ] {
        if let Some(v) = std::env::var_os(name) {
            redact::learn(v.as_encoded_bytes());
        }
    }
}

/// clap's rendered error as `error: …` and one `hint: …` line: clap's own tip when it gives one,
/// otherwise where the usage is (`kubectl eso scope --help`).
fn clap_error_lines(rendered: &str) -> String {
    let lines: Vec<&str> = rendered.lines().map(str::trim).collect();
    let first = lines
        .iter()
        .find(|l| !l.is_empty())
        .copied()
        .unwrap_or("error: invalid arguments");
    let first = sanitize::line(first);
    let first = if first.starts_with("error:") {
        first
    } else {
        format!("error: {first}")
    };
    let usage = lines
        .iter()
        .find_map(|l| l.strip_prefix("Usage:"))
        .unwrap_or("");
    let command: Vec<&str> = usage
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    let tip = lines.iter().find_map(|l| l.strip_prefix("tip:"));
    // A message clap raised without usage or tip (our own `-o junit` rule) is complete as is.
    if command.is_empty() && tip.is_none() {
        return first;
    }
    let help = if command.is_empty() {
        "see --help".to_string()
    } else {
        format!("see '{} --help'", sanitize::line(&command.join(" ")))
    };
    let hint = match tip {
        Some(tip) => format!("{}; {help}", sanitize::line(tip.trim())),
        None => help,
    };
    format!("{first}\nhint: {hint}")
}

/// Writes the command's output under the invoked name (issue 13); a closed pipe is not an error.
fn finish(out: &[u8], exit: Exit, colour: bool, display: &str) -> ExitCode {
    match write_stdout(out, display, colour) {
        Ok(()) => exit.into(),
        // `kubectl eso scope | head` closes the pipe early: not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => exit.into(),
        Err(e) => {
            let _ = writeln!(io::stderr().lock(), "error: writing output: {e}");
            Exit::Error.into()
        }
    }
}

/// The one place stdout is written: every command's output passes the invoked-name rewrite
/// (issue 13) and the redaction boundary here. The bytes are checked as UTF-8 once (issue 16).
fn write_stdout(out: &[u8], display: &str, colour: bool) -> io::Result<()> {
    let text = String::from_utf8_lossy(out);
    let text = invoked::rewrite(&text, display);
    let mut stdout = io::stdout().lock();
    redact::write_output(&mut stdout, &text, colour)?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::clap_error_lines;

    #[test]
    fn issue_18_clap_errors_are_one_line_and_a_hint() {
        let rendered = "error: unexpected argument '--nope' found\n\n  tip: to pass '--nope' as a \
                        value, use '-- --nope'\n\nUsage: kubectl eso scope [OPTIONS] [WORKLOAD]\n\n\
                        For more information, try '--help'.\n";
        assert_eq!(
            clap_error_lines(rendered),
            "error: unexpected argument '--nope' found\nhint: to pass '--nope' as a value, use \
             '-- --nope'; see 'kubectl eso scope --help'"
        );
        let raw = "error: -o junit is only for `doctor`; use -o table, wide, json or yaml\n";
        assert_eq!(clap_error_lines(raw).lines().count(), 1);
    }
}
