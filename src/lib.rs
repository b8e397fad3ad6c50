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
pub mod kube;
pub mod model;
pub mod provider;
pub mod redact;
pub mod render;
pub mod sanitize;

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
    let display = cli::display_name(args.first().map(OsString::as_os_str));

    if args.get(1).is_some_and(|a| a == "__complete") {
        let words: Vec<String> = args
            .iter()
            .skip(2)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut out = Vec::new();
        let _ = cmd::complete::complete(&words, &mut out);
        return finish(&out, Exit::Healthy);
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
            if e.use_stderr() {
                let _ = writeln!(io::stderr().lock(), "{}", clap_error_lines(&e.to_string()));
            } else {
                let _ = e.print();
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };

    let mut out = Vec::new();
    match cmd::dispatch(cli, &mut out).await {
        Ok(exit) => finish(&out, exit),
        Err(e) => {
            // Output written before a failure is still worth showing.
            let _ = write_stdout(&out);
            let message = sanitize::line(&format!("{e:#}"));
            let _ = writeln!(io::stderr().lock(), "error: {message}");
            Exit::Error.into()
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

fn finish(out: &[u8], exit: Exit) -> ExitCode {
    match write_stdout(out) {
        Ok(()) => exit.into(),
        // `kubectl eso scope | head` closes the pipe early: not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => exit.into(),
        Err(e) => {
            let _ = writeln!(io::stderr().lock(), "error: writing output: {e}");
            Exit::Error.into()
        }
    }
}

fn write_stdout(out: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(out)?;
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
