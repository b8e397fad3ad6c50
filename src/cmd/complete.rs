//! Candidates for shell completion (issue 13). kubectl >= 1.26 completes `kubectl eso <TAB>` by
//! running `kubectl_complete-eso`, which calls `kubectl-eso __complete <words>`; the scripts of
//! `kubectl eso completion bash|zsh|fish` call the same. The answer is in cobra's format: one
//! candidate per line, then `:<directive>`. Subcommands, flags and fixed values come from the
//! clap definition itself; names (contexts, namespaces, ExternalSecrets, PushSecrets, stores,
//! pull secrets, workloads) from the kubeconfig and the cluster the typed flags name (`--kubeconfig`,
//! `--context`, `-n`), within a short budget and silently: an error is no candidate.

use std::io::{self, Write};

use clap::{Arg, Command, CommandFactory};

use crate::cli::Cli;
use crate::kube::complete::{Target, Wanted};

const NO_SPACE: u8 = 2;
const NO_FILE_COMP: u8 = 4;
const DEFAULT: u8 = 0;

/// What to answer for the words typed: fixed candidates, names to ask for, and how the shell
/// should treat them. Pure: built from the words and the clap definition only.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Printed before each candidate (`--namespace=` when completing `--namespace=pr`).
    pub prefix: String,
    /// The part of the word the candidates must start with.
    pub value: String,
    pub candidates: Vec<String>,
    pub wanted: Option<Wanted>,
    /// Names already typed that are not offered again (force-sync's several ExternalSecrets).
    pub typed: Vec<String>,
    pub target: Target,
    pub directive: u8,
}

/// `words` are the arguments after the plugin name; the last is the word being completed.
pub async fn complete(words: &[String], out: &mut impl Write) -> io::Result<()> {
    let plan = plan(words);
    let mut candidates = plan.candidates.clone();
    if let Some(wanted) = &plan.wanted {
        candidates.extend(crate::kube::complete::names(wanted, &plan.target).await);
    }
    render(&plan, &candidates, out)
}

fn render(plan: &Plan, candidates: &[String], out: &mut impl Write) -> io::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for c in candidates {
        // One candidate per line: a name with a line break in it cannot be offered.
        if c.starts_with(&plan.value)
            && !c.contains(['\n', '\r'])
            && !plan.typed.contains(c)
            && seen.insert(c.as_str())
        {
            writeln!(out, "{}{c}", plan.prefix)?;
        }
    }
    writeln!(out, ":{}", plan.directive)
}

pub fn plan(words: &[String]) -> Plan {
    let (current, before) = match words.split_last() {
        Some((c, b)) => (c.as_str(), b),
        None => ("", &[][..]),
    };
    let mut root = Cli::command();
    // Argument details (how many values a flag takes) are filled in only when the command is built.
    root.build();
    let root_args: Vec<&Arg> = root.get_arguments().collect();
    // The subcommand: the first word that is neither a flag nor a flag's value.
    let mut sub: Option<&Command> = None;
    let mut sub_at = before.len();
    let mut i = 0;
    while i < before.len() {
        let w = before[i].as_str();
        if w.starts_with('-') {
            if flag_taking_value(&root_args, w).is_some() {
                i += 1;
            }
        } else if let Some(s) = root.get_subcommands().find(|s| s.get_name() == w) {
            sub = Some(s);
            sub_at = i;
            break;
        }
        i += 1;
    }
    // `sandbox -- describe-chain <TAB>`: the words after `--` are a command line of their own,
    // for a cluster that does not run yet, so without names from it.
    if sub.is_some_and(|s| s.get_name() == "sandbox")
        && let Some(dash) = before.iter().position(|w| w == "--")
    {
        let mut inner = plan(&words[dash + 1..]);
        inner.wanted = None;
        return inner;
    }
    let cmd = sub.unwrap_or(&root);
    let args: Vec<&Arg> = cmd
        .get_arguments()
        .chain(root_args.iter().copied())
        .collect();
    let (target, positionals) = read_typed(&args, before, sub_at);
    let mut plan = Plan {
        value: current.to_string(),
        target,
        directive: NO_FILE_COMP,
        ..Plan::default()
    };

    let flag_value = match current.split_once('=') {
        Some((flag, value)) if flag.starts_with('-') => {
            flag_taking_value(&args, flag).map(|a| (a, format!("{flag}="), value.to_string()))
        }
        _ => None,
    }
    .or_else(|| {
        before
            .last()
            .and_then(|p| flag_taking_value(&args, p))
            .map(|a| (a, String::new(), current.to_string()))
    });
    if let Some((flag, prefix, value)) = flag_value {
        plan.prefix = prefix;
        plan.value = value;
        flag_values(flag, &mut plan);
    } else if current.starts_with('-') {
        plan.candidates = flag_names(&args);
    } else if sub.is_none() {
        plan.candidates = root
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect();
    } else {
        positional(cmd, &positionals, &mut plan);
    }
    plan
}

/// The cluster the typed flags name, and the positional words typed after the subcommand.
fn read_typed(args: &[&Arg], before: &[String], sub_at: usize) -> (Target, Vec<String>) {
    let mut target = Target::default();
    let mut positionals = Vec::new();
    let mut i = 0;
    while i < before.len() {
        let w = before[i].as_str();
        if w == "--" {
            break;
        }
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if w.starts_with("--") => (f, Some(v.to_string())),
            // `-nprod`, as kubectl takes it.
            _ if w.len() > 2 && w.starts_with("-n") && !w.starts_with("--") => {
                ("-n", Some(w[2..].to_string()))
            }
            _ => (w, None),
        };
        if w.starts_with('-') {
            if let Some(arg) = flag_taking_value(args, flag) {
                let value = match inline {
                    Some(v) => Some(v),
                    None => {
                        i += 1;
                        before.get(i).cloned()
                    }
                };
                // The flag whose value is being completed names nothing yet.
                if let Some(value) = value.filter(|v| !v.is_empty()) {
                    match arg.get_id().as_str() {
                        "kubeconfig" => target.kubeconfig = Some(value.into()),
                        "context" => target.context = Some(value),
                        "cluster" => target.cluster = Some(value),
                        "user" => target.user = Some(value),
                        "namespace" => target.namespace = Some(value),
                        _ => {}
                    }
                }
            }
        } else if i > sub_at {
            positionals.push(w.to_string());
        }
        i += 1;
    }
    (target, positionals)
}

/// The values of one flag: names from the kubeconfig or the cluster, files, or its fixed values.
fn flag_values(flag: &Arg, plan: &mut Plan) {
    match flag.get_id().as_str() {
        "context" => plan.wanted = Some(Wanted::Contexts),
        "cluster" => plan.wanted = Some(Wanted::Clusters),
        "user" => plan.wanted = Some(Wanted::Users),
        "namespace" => plan.wanted = Some(Wanted::Namespaces),
        "store" => plan.wanted = Some(Wanted::Stores),
        "from_es" => plan.wanted = Some(Wanted::ExternalSecrets),
        #[cfg(feature = "sandbox")]
        "scenario" => {
            plan.candidates = eso_sandbox::scenario_names()
                .into_iter()
                .map(|(n, _)| n.to_string())
                .collect();
        }
        "kubeconfig" | "provider_ca_file" | "ca_file" | "out" | "kubeconfig_out" | "evidence" => {
            plan.directive = DEFAULT;
        }
        _ => {
            plan.candidates = flag
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect();
        }
    }
}

fn flag_taking_value<'a>(args: &[&'a Arg], word: &str) -> Option<&'a Arg> {
    args.iter().copied().find(|a| {
        let takes = a.get_num_args().is_some_and(|n| n.takes_values()) && !a.is_positional();
        let long = a.get_long().is_some_and(|l| word == format!("--{l}"));
        let alias = a
            .get_visible_aliases()
            .is_some_and(|v| v.iter().any(|l| word == format!("--{l}")));
        let short = a.get_short().is_some_and(|s| word == format!("-{s}"));
        takes && (long || alias || short)
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

/// The subcommand's own arguments: what each names.
fn positional(cmd: &Command, typed: &[String], plan: &mut Plan) {
    match cmd.get_name() {
        "scope" if typed.is_empty() => match plan.value.split_once('/') {
            Some((kind, _)) => plan.wanted = Some(Wanted::Workloads(kind.to_string())),
            None => {
                plan.candidates = ["deployment/", "statefulset/", "daemonset/", "pod/"]
                    .map(String::from)
                    .to_vec();
                plan.directive = NO_SPACE | NO_FILE_COMP;
            }
        },
        "describe-chain" if typed.is_empty() => plan.wanted = Some(Wanted::ExternalOrPushSecrets),
        "force-sync" => {
            plan.wanted = Some(Wanted::ExternalSecrets);
            plan.typed = typed.to_vec();
        }
        "verify-regcred" if typed.is_empty() => plan.wanted = Some(Wanted::PullSecrets),
        "scope" | "describe-chain" | "verify-regcred" => {}
        _ => {
            plan.candidates = cmd
                .get_positionals()
                .flat_map(|a| a.get_possible_values())
                .map(|v| v.get_name().to_string())
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[&str]) -> String {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let plan = plan(&words);
        assert_eq!(plan.wanted, None, "{words:?} asks the cluster");
        let mut out = Vec::new();
        if let Err(e) = render(&plan, &plan.candidates, &mut out) {
            panic!("{e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn planned(words: &[&str]) -> Plan {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        plan(&words)
    }

    #[test]
    fn completes_subcommands() {
        let out = run(&["sc"]);
        assert_eq!(out, "scope\n:4\n");
        // A global flag's value before the subcommand is not taken for it.
        assert_eq!(run(&["-o", "json", "sc"]), "scope\n:4\n");
    }

    #[test]
    fn completes_flag_values_and_flags() {
        assert_eq!(run(&["scope", "-o", "j"]), "json\n:4\n");
        assert_eq!(run(&["scope", "--output=j"]), "--output=json\n:4\n");
        let flags = run(&["scope", "--fa"]);
        assert_eq!(flags, "--failing\n:4\n");
        assert!(run(&["scope", "--"]).contains("--all-namespaces\n"));
        // Files: the shell's own completion.
        assert_eq!(run(&["doctor", "--kubeconfig", ""]), ":0\n");
    }

    #[test]
    fn completes_workload_kinds_without_a_space() {
        assert_eq!(run(&["scope", "dep"]), "deployment/\n:6\n");
        assert_eq!(run(&["completion", "f"]), "fish\n:4\n");
    }

    #[cfg(feature = "sandbox")]
    #[test]
    fn issue_13_completes_scenarios_and_the_sandboxed_command() {
        assert_eq!(
            run(&["sandbox", "--scenario", "vault-policy-rem"]),
            "vault-policy-removed\n:4\n"
        );
        assert_eq!(run(&["sandbox", "--", "desc"]), "describe-chain\n:4\n");
    }

    #[test]
    fn issue_13_names_come_from_the_cluster_the_typed_flags_name() {
        let p = planned(&[
            "--kubeconfig",
            "/tmp/kc",
            "describe-chain",
            "--context=prod-eu",
            "-n",
            "shop",
            "or",
        ]);
        assert_eq!(p.wanted, Some(Wanted::ExternalOrPushSecrets));
        assert_eq!(p.value, "or");
        assert_eq!(
            p.target,
            Target {
                kubeconfig: Some("/tmp/kc".into()),
                context: Some("prod-eu".into()),
                namespace: Some("shop".into()),
                ..Target::default()
            }
        );
        assert_eq!(
            planned(&["scope", "-nshop", "-n", ""]).target.namespace,
            Some("shop".into())
        );
        assert_eq!(
            planned(&["scope", "-n", ""]).wanted,
            Some(Wanted::Namespaces)
        );
        assert_eq!(
            planned(&["scope", "--context", ""]).wanted,
            Some(Wanted::Contexts)
        );
        assert_eq!(
            planned(&["force-sync", "--store", ""]).wanted,
            Some(Wanted::Stores)
        );
        assert_eq!(
            planned(&["verify-regcred", "--from-es", ""]).wanted,
            Some(Wanted::ExternalSecrets)
        );
        let p = planned(&["scope", "--namespace=pr"]);
        assert_eq!(
            (p.prefix.as_str(), p.value.as_str()),
            ("--namespace=", "pr")
        );
        assert_eq!(p.wanted, Some(Wanted::Namespaces));
        assert_eq!(
            planned(&["scope", "deployment/or"]).wanted,
            Some(Wanted::Workloads("deployment".into()))
        );
        // describe-chain takes one name; a second word gets nothing.
        assert_eq!(planned(&["describe-chain", "a", ""]).wanted, None);
    }

    #[test]
    fn issue_13_force_sync_does_not_offer_a_name_twice() {
        let p = planned(&["force-sync", "-n", "prod", "a", ""]);
        assert_eq!(p.wanted, Some(Wanted::ExternalSecrets));
        let mut out = Vec::new();
        let names = [
            "a".to_string(),
            "b".to_string(),
            "b".to_string(),
            "x\ny".to_string(),
        ];
        if let Err(e) = render(&p, &names, &mut out) {
            panic!("{e}");
        }
        assert_eq!(String::from_utf8_lossy(&out), "b\n:4\n");
    }
}
