//! `kubectl eso completion bash|zsh|fish`: static completion scripts generated from the clap
//! definition, so they cannot drift from the real flags.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::{Shell, generate};

use crate::cli::{Cli, CompletionArgs, ShellArg};
use crate::error::Result;
use crate::exit::Exit;

pub fn run(args: &CompletionArgs, out: &mut impl Write) -> Result<Exit> {
    let shell = match args.shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    generate(shell, &mut Cli::command(), "kubectl-eso", out);
    Ok(Exit::Healthy)
}
