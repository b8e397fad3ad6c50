//! One step from clap's types to a plain, validated config, so nothing past this file depends on
//! clap and every decision (colour, namespace, timeout) is a tested pure function of the flags and
//! the environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{ColorArg, GlobalArgs, OutputArg};
use crate::error::{Error, Result};
use crate::render::Format;

#[derive(Debug, Clone)]
pub struct Config {
    pub kube: KubeTarget,
    pub namespace: NamespaceChoice,
    pub selector: Option<String>,
    pub format: Format,
    /// `-o junit`, which only `doctor` prints (the parser refuses it for the others); `format` is
    /// then `Table`, so no other writer has to know JUnit.
    pub junit: bool,
    /// `-o name` (scope only, refused at parse time elsewhere); `format` is then `Table`.
    pub names_only: bool,
    /// `--no-headers`: table rows only, no header row and nothing under them.
    pub no_headers: bool,
    pub color: bool,
    pub verbosity: u8,
    /// `--provider-ca-file`: extra CAs trusted for provider connections.
    pub provider_ca_files: Vec<PathBuf>,
    /// Where the provider probe may send credentials (`--trust-provider-host`).
    pub trust: crate::analysis::trust::TrustPolicy,
}

/// Which cluster, as whom, with kubectl's flags. Left as `None`, kube's own inference applies
/// ($KUBECONFIG, merged as kubectl merges it, then ~/.kube/config, then in-cluster).
#[derive(Debug, Clone, Default)]
pub struct KubeTarget {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub user: Option<String>,
    pub impersonate_user: Option<String>,
    pub impersonate_groups: Vec<String>,
    /// `None` means no limit.
    pub request_timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceChoice {
    All,
    Named(String),
    /// The namespace of the kubeconfig context ("default" when it names none).
    ContextDefault,
}

impl NamespaceChoice {
    /// The namespace to look in, given the context's default; `None` for all namespaces.
    pub fn resolve(&self, context_default: &str) -> Option<String> {
        match self {
            NamespaceChoice::All => None,
            NamespaceChoice::Named(ns) => Some(ns.clone()),
            NamespaceChoice::ContextDefault => Some(context_default.to_string()),
        }
    }
}

/// The parts of the process environment that change how output looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal {
    pub stdout_is_terminal: bool,
    /// NO_COLOR set to a non-empty value (https://no-color.org).
    pub no_color: bool,
    pub term_is_dumb: bool,
}

impl Terminal {
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        Terminal {
            stdout_is_terminal: std::io::stdout().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            term_is_dumb: std::env::var_os("TERM").is_some_and(|v| v == "dumb"),
        }
    }
}

pub fn from_cli(g: &GlobalArgs, term: Terminal) -> Result<Config> {
    if !g.as_group.is_empty() && g.as_user.is_none() {
        return Err(Error::Usage(
            "--as-group needs --as: a group can only be impersonated with a user".into(),
        ));
    }
    let namespace = match (&g.namespace, g.all_namespaces) {
        (_, true) => NamespaceChoice::All,
        (Some(ns), false) if ns.is_empty() => {
            return Err(Error::Usage("--namespace must not be empty".into()));
        }
        (Some(ns), false) => NamespaceChoice::Named(ns.clone()),
        (None, false) => NamespaceChoice::ContextDefault,
    };
    Ok(Config {
        kube: KubeTarget {
            kubeconfig: g.kubeconfig.clone(),
            context: g.context.clone(),
            cluster: g.cluster.clone(),
            user: g.user.clone(),
            impersonate_user: g.as_user.clone(),
            impersonate_groups: g.as_group.clone(),
            request_timeout: match &g.request_timeout {
                Some(t) => parse_request_timeout(t)?,
                None => None,
            },
        },
        namespace,
        selector: match g.selector.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => {
                crate::selector::validate(s).map_err(Error::Usage)?;
                Some(s.to_string())
            }
            None => None,
        },
        format: match g.output.kind {
            OutputArg::Table => Format::Table,
            OutputArg::Wide => Format::Wide,
            // The command prints its JSON report; `cmd::dispatch` applies the template to it.
            OutputArg::Json | OutputArg::Jsonpath => Format::Json,
            OutputArg::Yaml => Format::Yaml,
            OutputArg::Junit | OutputArg::Name => Format::Table,
        },
        junit: g.output == OutputArg::Junit,
        names_only: g.output == OutputArg::Name,
        no_headers: g.no_headers,
        color: color_enabled(g.color, term),
        verbosity: g.verbose,
        provider_ca_files: provider_ca_files(
            &g.provider_ca_file,
            std::env::var_os("KUBECTL_ESO_PROVIDER_CA_FILE"),
        ),
        trust: trust_policy(
            &g.trust_provider_host,
            std::env::var("KUBECTL_ESO_TRUST_PROVIDER_HOST").ok(),
        )?,
    })
}

impl Config {
    /// The PEM text of every provider CA file (`--provider-ca-file`, or the environment's), read
    /// once per command before anything is fetched, so a bad file is a usage error.
    pub fn provider_ca_pems(&self) -> Result<Vec<String>> {
        self.provider_ca_files
            .iter()
            .map(|p| read_ca_pem(p))
            .collect()
    }
}

/// Reads one CA file (`--provider-ca-file`, verify-regcred's `--ca-file`), checking it holds at
/// least one PEM certificate.
pub fn read_ca_pem(path: &Path) -> Result<String> {
    let pem = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read CA file {}: {}",
            path.display(),
            e.kind()
        ))
    })?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::Usage(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(pem)
}

/// `--trust-provider-host` values, else the environment's comma-separated list, validated.
pub fn trust_policy(
    flags: &[String],
    env: Option<String>,
) -> Result<crate::analysis::trust::TrustPolicy> {
    let raw: Vec<String> = if flags.is_empty() {
        env.unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        flags.to_vec()
    };
    let flagged = raw
        .iter()
        .map(|r| crate::analysis::trust::parse_trusted_host(r).map_err(Error::Usage))
        .collect::<Result<Vec<_>>>()?;
    Ok(crate::analysis::trust::TrustPolicy {
        flagged,
        home: None,
    })
}

/// `--provider-ca-file` wins; without it, $KUBECTL_ESO_PROVIDER_CA_FILE names one file.
pub fn provider_ca_files(flags: &[PathBuf], env: Option<std::ffi::OsString>) -> Vec<PathBuf> {
    if !flags.is_empty() {
        return flags.to_vec();
    }
    env.filter(|v| !v.is_empty())
        .map(|v| vec![PathBuf::from(v)])
        .unwrap_or_default()
}

/// `--color always` always colours (an explicit flag beats the environment); `never` never does;
/// `auto` colours only a terminal, and not with NO_COLOR or TERM=dumb.
pub fn color_enabled(choice: ColorArg, term: Terminal) -> bool {
    match choice {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => term.stdout_is_terminal && !term.no_color && !term.term_is_dumb,
    }
}

/// The longest any duration flag may be. Longer is a typo (`300000000000y`) that would only
/// overflow deadline arithmetic later (issue 18); a day is more than any wait here needs.
pub const MAX_FLAG_DURATION: Duration = Duration::from_secs(24 * 3600);

/// A duration flag in kubectl's forms: a bare number is seconds, otherwise a duration with a unit
/// ("30s", "1m", "1h"). `Ok(None)` for zero, whose meaning each flag decides. Anything longer than
/// `max` is a one-line usage error naming the flag, not a crash later.
pub fn parse_duration_flag(
    flag: &str,
    input: &str,
    max: Duration,
    examples: &str,
) -> Result<Option<Duration>> {
    let text = input.trim();
    let parsed = if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
        text.parse::<u64>().ok().map(Duration::from_secs)
    } else {
        humantime::parse_duration(text).ok()
    };
    let too_long = || {
        Error::Usage(format!(
            "{flag} {:?}: longer than the maximum of {}",
            crate::sanitize::line(input),
            humantime::format_duration(max)
        ))
    };
    match parsed {
        // A bare number too large for u64 is still a number: say it is too long.
        None if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() => Err(too_long()),
        None => Err(Error::Usage(format!(
            "{flag} {:?}: expected a duration such as {examples}",
            crate::sanitize::line(input)
        ))),
        Some(d) if d > max => Err(too_long()),
        Some(d) => Ok((!d.is_zero()).then_some(d)),
    }
}

/// kubectl's `--request-timeout`: a bare number is seconds, otherwise a duration with a unit
/// ("30s", "1m", "1h"); zero means no timeout.
pub fn parse_request_timeout(input: &str) -> Result<Option<Duration>> {
    parse_duration_flag(
        "--request-timeout",
        input,
        MAX_FLAG_DURATION,
        "30s, 1m or 0 (no limit)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Config> {
        let mut argv = vec!["kubectl-eso"];
        argv.extend_from_slice(args);
        argv.push("scope");
        match Cli::try_parse_from(argv) {
            Ok(cli) => from_cli(
                &cli.global,
                Terminal {
                    stdout_is_terminal: true,
                    ..Default::default()
                },
            ),
            Err(e) => Err(Error::Usage(e.to_string())),
        }
    }

    #[test]
    fn colour_decision_table() {
        let tty = Terminal {
            stdout_is_terminal: true,
            no_color: false,
            term_is_dumb: false,
        };
        let pipe = Terminal {
            stdout_is_terminal: false,
            ..tty
        };
        let no_color = Terminal {
            no_color: true,
            ..tty
        };
        let dumb = Terminal {
            term_is_dumb: true,
            ..tty
        };
        assert!(color_enabled(ColorArg::Auto, tty));
        assert!(!color_enabled(ColorArg::Auto, pipe));
        assert!(!color_enabled(ColorArg::Auto, no_color));
        assert!(!color_enabled(ColorArg::Auto, dumb));
        assert!(!color_enabled(ColorArg::Never, tty));
        assert!(color_enabled(ColorArg::Always, pipe));
        assert!(color_enabled(ColorArg::Always, no_color));
    }

    #[test]
    fn all_namespaces_wins_like_kubectl() {
        let cfg = parse(&["-n", "prod", "-A"]).map(|c| c.namespace);
        assert!(matches!(cfg, Ok(NamespaceChoice::All)));
        let cfg = parse(&["-n", "prod"]).map(|c| c.namespace.resolve("default"));
        assert!(matches!(
            cfg.as_ref().map(|o| o.as_deref()),
            Ok(Some("prod"))
        ));
        let cfg = parse(&[]).map(|c| c.namespace.resolve("team-a"));
        assert!(matches!(
            cfg.as_ref().map(|o| o.as_deref()),
            Ok(Some("team-a"))
        ));
    }

    #[test]
    fn request_timeout_reads_kubectl_forms() {
        assert_eq!(
            parse_request_timeout("30").ok().flatten(),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_request_timeout("1m").ok().flatten(),
            Some(Duration::from_secs(60))
        );
        assert!(matches!(parse_request_timeout("0"), Ok(None)));
        assert!(parse_request_timeout("soon").is_err());
    }

    #[test]
    fn issue_18_huge_duration_flags_are_one_line_usage_errors() {
        for huge in ["300000000000y", "25h", "99999999999999999999999999"] {
            match parse_request_timeout(huge) {
                Err(Error::Usage(m)) => {
                    assert!(m.contains("longer than the maximum of 1day"), "{m}");
                    assert!(!m.contains('\n'), "{m}");
                }
                other => panic!("{huge}: {other:?}"),
            }
        }
        assert_eq!(
            parse_request_timeout("24h").ok().flatten(),
            Some(MAX_FLAG_DURATION)
        );
    }

    #[test]
    fn provider_ca_flag_wins_over_the_environment() {
        let flag = vec![PathBuf::from("/a.pem"), PathBuf::from("/b.pem")];
        assert_eq!(provider_ca_files(&flag, Some("/env.pem".into())), flag);
        assert_eq!(
            provider_ca_files(&[], Some("/env.pem".into())),
            vec![PathBuf::from("/env.pem")]
        );
        assert!(provider_ca_files(&[], Some("".into())).is_empty());
        assert!(provider_ca_files(&[], None).is_empty());
    }

    #[test]
    fn ca_files_must_exist_and_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("kubectl-eso-ca-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let empty = dir.join("empty.pem");
        let good = dir.join("good.pem");
        let written = std::fs::write(&empty, "not a certificate")
            .and_then(|_| std::fs::write(&good, "-----BEGIN CERTIFICATE-----\nMIIB\n"));
        assert!(written.is_ok(), "{written:?}");
        let err = |p: &Path| read_ca_pem(p).err().map(|e| e.to_string());
        assert_eq!(
            err(&empty),
            Some(format!(
                "CA file {} holds no PEM certificate",
                empty.display()
            ))
        );
        assert!(
            err(&dir.join("missing.pem")).is_some_and(|e| e.starts_with("cannot read CA file")),
        );
        assert!(read_ca_pem(&good).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn group_without_user_is_a_usage_error() {
        let err = parse(&["--as-group", "admins"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("--as-group needs --as"), "{err}");
    }
}
