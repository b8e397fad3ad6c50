//! Candidates for kubectl's plugin completion (kubectl >= 1.26 runs `kubectl_complete-eso`, which
//! calls `kubectl-eso __complete <words>`). The answer is in cobra's format: one candidate per
//! line, then `:<directive>`. Candidates come from the clap definition itself.

use std::io::{self, Write};

use clap::{Arg, Command, CommandFactory};

use crate::cli::Cli;

const NO_SPACE: u8 = 2;
const NO_FILE_COMP: u8 = 4;
const DEFAULT: u8 = 0;

/// `words` are the arguments after the plugin name; the last is the word being completed.
pub fn complete(words: &[String], out: &mut impl Write) -> io::Result<()> {
    let mut root = Cli::command();
    // Argument details (how many values a flag takes) are filled in only when the command is built.
    root.build();
    let (current, before) = match words.split_last() {
        Some((c, b)) => (c.as_str(), b),
        None => ("", &[][..]),
    };
    let sub = before
        .iter()
        .find_map(|w| root.get_subcommands().find(|s| s.get_name() == w.as_str()));
    let cmd = sub.unwrap_or(&root);
    let args: Vec<&Arg> = cmd.get_arguments().chain(root.get_arguments()).collect();

    let (candidates, directive) =
        if let Some(flag) = before.last().and_then(|p| flag_taking_value(&args, p)) {
            let values: Vec<String> = flag
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect();
            let directive = if flag.get_id() == "kubeconfig" {
                DEFAULT
            } else {
                NO_FILE_COMP
            };
            (values, directive)
        } else if current.starts_with('-') {
            (flag_names(&args), NO_FILE_COMP)
        } else if sub.is_none() {
            let names = root
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| s.get_name().to_string());
            (names.collect(), NO_FILE_COMP)
        } else {
            positional(cmd)
        };
    for c in candidates.iter().filter(|c| c.starts_with(current)) {
        writeln!(out, "{c}")?;
    }
    writeln!(out, ":{directive}")
}

fn flag_taking_value<'a>(args: &[&'a Arg], word: &str) -> Option<&'a Arg> {
    args.iter().copied().find(|a| {
        let takes = a.get_num_args().is_some_and(|n| n.takes_values()) && !a.is_positional();
        let long = a.get_long().is_some_and(|l| word == format!("--{l}"));
        let short = a.get_short().is_some_and(|s| word == format!("-{s}"));
        takes && (long || short)
    })
}

fn flag_names(args: &[&Arg]) -> Vec<String> {
    let mut names: Vec<String> = args
        .iter()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .collect();
    names.push("--help".into());
    names.sort();
    names.dedup();
    names
}

fn positional(cmd: &Command) -> (Vec<String>, u8) {
    match cmd.get_name() {
        "scope" => (
            ["deployment/", "statefulset/", "daemonset/", "pod/"]
                .map(String::from)
                .to_vec(),
            NO_SPACE | NO_FILE_COMP,
        ),
        _ => {
            let values = cmd
                .get_positionals()
                .flat_map(|a| a.get_possible_values())
                .map(|v| v.get_name().to_string())
                .collect();
            (values, NO_FILE_COMP)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[&str]) -> String {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let mut out = Vec::new();
        if let Err(e) = complete(&words, &mut out) {
            panic!("{e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn completes_subcommands() {
        let out = run(&["sc"]);
        assert_eq!(out, "scope\n:4\n");
    }

    #[test]
    fn completes_flag_values_and_flags() {
        assert_eq!(run(&["scope", "-o", "j"]), "json\n:4\n");
        let flags = run(&["scope", "--fa"]);
        assert_eq!(flags, "--failing\n:4\n");
        assert!(run(&["scope", "--"]).contains("--all-namespaces\n"));
    }

    #[test]
    fn completes_workload_kinds_without_a_space() {
        assert_eq!(run(&["scope", "dep"]), "deployment/\n:6\n");
        assert_eq!(run(&["completion", "f"]), "fish\n:4\n");
    }
}
