//! The command line as clap sees it, and nothing else: kubectl's global flags plus one enum of
//! subcommands. `config.rs` turns these types into a validated plain config so no other module
//! depends on clap. Adding a subcommand is one variant here and one file under `src/cmd/`.

use std::path::PathBuf;

use clap::{
    ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum,
};

/// What `--version` prints after the program name: the package version and the commit it was
/// built from (`build.rs`; `unknown` outside a git checkout unless KUBECTL_ESO_COMMIT was set).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KUBECTL_ESO_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-eso",
    version = VERSION,
    about = "Walk External Secrets Operator chains and name the broken link",
    long_about = "Walk External Secrets Operator chains and name the broken link.\n\n\
        Read-only unless a subcommand says otherwise. Secret values are never printed.",
    propagate_version = true,
    after_help = "Exit codes: 0 healthy, 1 findings, 2 the tool could not do its job."
)]
struct Parsed {
    #[command(flatten)]
    global: GlobalArgs,

    #[command(subcommand)]
    command: Command,
}

/// The parsed command line. It wraps clap's derived parser so that rules spanning a global flag
/// and the subcommand (`-o junit` only for `doctor`) are usage errors at parse time, for every
/// caller of the parser (the binary, the sandbox, completions) alike.
#[derive(Debug)]
pub struct Cli {
    pub global: GlobalArgs,
    pub command: Command,
}

impl Cli {
    fn checked(p: Parsed) -> Result<Self, clap::Error> {
        if p.global.output == OutputArg::Junit && !matches!(p.command, Command::Doctor(_)) {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ArgumentConflict,
                "-o junit is only for `doctor`; use -o table, wide, json or yaml\n",
            ));
        }
        if p.global.output == OutputArg::Name && !matches!(p.command, Command::Scope(_)) {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ArgumentConflict,
                "-o name is only for `scope`; use -o table, wide, json or yaml\n",
            ));
        }
        if p.global.output == OutputArg::Jsonpath && !prints_report(&p.command) {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ArgumentConflict,
                "-o jsonpath is for the commands that print a report\n",
            ));
        }
        Ok(Cli {
            global: p.global,
            command: p.command,
        })
    }
}

/// Whether the subcommand prints a report (`-o json` / `-o jsonpath=` make sense for it).
fn prints_report(c: &Command) -> bool {
    match c {
        Command::Completion(_) => false,
        #[cfg(feature = "sandbox")]
        Command::Sandbox(_) => false,
        _ => true,
    }
}

impl CommandFactory for Cli {
    fn command() -> clap::Command {
        Parsed::command()
    }

    fn command_for_update() -> clap::Command {
        Parsed::command_for_update()
    }
}

impl FromArgMatches for Cli {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Cli::checked(Parsed::from_arg_matches(m)?)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Cli::from_arg_matches(m)?;
        Ok(())
    }
}

impl Parser for Cli {}

/// Flags with the meaning kubectl gives them, accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// The kubeconfig cluster to use
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,

    /// The kubeconfig user to use
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,

    /// Namespace scope (default: the context's namespace)
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,

    /// Look in all namespaces (wins over --namespace, as in kubectl)
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,

    /// Label selector for ExternalSecrets, e.g. app=shop,tier!=db
    #[arg(short = 'l', long, global = true, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Output format: table, wide, json, yaml, or jsonpath=TEMPLATE over the JSON (doctor also takes junit)
    #[arg(short = 'o', long, global = true, value_parser = OutputParser, default_value_t = Output::from(OutputArg::Table))]
    pub output: Output,

    /// Print tables without their header row, and only the rows (as kubectl's --no-headers)
    #[arg(long, global = true)]
    pub no_headers: bool,

    /// Time to wait for one API request (e.g. 30s, 1m; 0 = no limit)
    #[arg(long, global = true, value_name = "DURATION")]
    pub request_timeout: Option<String>,

    /// User to impersonate for the operation
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,

    /// Group to impersonate (repeat for several groups)
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,

    /// When to colour the output (NO_COLOR is respected in auto)
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,

    /// Print diagnostics to stderr: API requests, counts, timings (repeat for more)
    #[arg(short = 'v', long = "verbose", global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Extra CA certificate (PEM) to trust for provider connections: Vault, Key Vault, Entra ID
    /// (repeatable; default: $KUBECTL_ESO_PROVIDER_CA_FILE)
    #[arg(long, global = true, value_name = "PATH")]
    pub provider_ca_file: Vec<PathBuf>,

    /// Provider host (HOST or HOST:PORT) a namespaced SecretStore may name and still be probed with
    /// ESO's credentials (repeatable; default: $KUBECTL_ESO_TRUST_PROVIDER_HOST, comma-separated).
    /// ClusterSecretStores' hosts are trusted already; see docs/security.md
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    pub trust_provider_host: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Table,
    Wide,
    Json,
    Yaml,
    /// JUnit XML, one test case per check. `doctor` only, so it is hidden from the shared `-o`
    /// help and completions, where every other subcommand would offer it.
    #[value(hide = true)]
    Junit,
    /// `kind.group/name` per line, as `kubectl get -o name`. `scope` only, hidden for the
    /// same reason as junit.
    #[value(hide = true)]
    Name,
    /// `jsonpath=TEMPLATE` (the template is in `Output::jsonpath`), as kubectl's -o jsonpath.
    #[value(hide = true)]
    Jsonpath,
}

/// `-o`: the format, and for `-o jsonpath=TEMPLATE` its template (issue 13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub kind: OutputArg,
    pub jsonpath: Option<String>,
}

impl From<OutputArg> for Output {
    fn from(kind: OutputArg) -> Self {
        Output {
            kind,
            jsonpath: None,
        }
    }
}

impl PartialEq<OutputArg> for Output {
    fn eq(&self, other: &OutputArg) -> bool {
        self.kind == *other
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.jsonpath {
            Some(t) => write!(f, "jsonpath={t}"),
            None => self.kind.fmt(f),
        }
    }
}

/// Parses `-o` like clap's enum parser but offers (help, completions) only the values every
/// subcommand accepts: completion reads the offered values, and a hidden value is still offered there.
#[derive(Debug, Clone, Copy)]
struct OutputParser;

impl clap::builder::TypedValueParser for OutputParser {
    type Value = Output;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Output, clap::Error> {
        let text = value.to_string_lossy();
        if let Some(template) = text.strip_prefix("jsonpath=") {
            crate::render::jsonpath::validate(template).map_err(|e| {
                clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n"))
            })?;
            return Ok(Output {
                kind: OutputArg::Jsonpath,
                jsonpath: Some(template.to_string()),
            });
        }
        if text == "jsonpath" {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                "-o jsonpath needs a template, e.g. -o jsonpath='{.kind}'\n",
            ));
        }
        clap::builder::EnumValueParser::<OutputArg>::new()
            .parse_ref(cmd, arg, value)
            .map(Output::from)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            OutputArg::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value)
                .filter(|v| !v.is_hide_set()),
        ))
    }
}

impl std::fmt::Display for OutputArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_possible_value() {
            Some(v) => f.write_str(v.get_name()),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What is failing, and is it one app or a whole store?
    #[command(after_help = SCOPE_EXAMPLES)]
    Scope(ScopeArgs),

    /// Walk one ExternalSecret to its provider and back, and name the broken link
    #[command(name = "describe-chain", after_help = DESCRIBE_CHAIN_EXAMPLES)]
    DescribeChain(DescribeChainArgs),

    /// Ask ESO to resync ExternalSecrets now, wait for its answer, restart what needs it
    #[command(name = "force-sync", after_help = FORCE_SYNC_EXAMPLES)]
    ForceSync(ForceSyncArgs),

    /// Does this pull secret log in to its registries, and can it pull the images?
    #[command(name = "verify-regcred", after_help = VERIFY_REGCRED_EXAMPLES)]
    VerifyRegcred(VerifyRegcredArgs),

    /// The whole-cluster checklist: installation, stores, ExternalSecrets, leftovers; a CI gate
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorCommandArgs),

    /// Save the evidence of an incident in a dated folder: doctor's report, a summary, redacted
    /// objects, Events, pod statuses and ESO's log lines; never a secret value
    #[command(after_help = BUNDLE_EXAMPLES)]
    Bundle(BundleArgs),

    /// Print a shell completion script
    #[command(after_help = COMPLETION_EXAMPLES)]
    Completion(CompletionArgs),

    /// Run a subcommand against a simulated cluster with ESO, Vault, Key Vault and a registry
    #[cfg(feature = "sandbox")]
    #[command(after_help = SANDBOX_EXAMPLES)]
    Sandbox(SandboxArgs),
}

const SCOPE_EXAMPLES: &str = "Examples:
  # Every ExternalSecret in every namespace, with a verdict under the table
  kubectl eso scope -A

  # Only the failing ones in one namespace
  kubectl eso scope -n prod --failing

  # Start from an application that cannot start
  kubectl eso scope deployment/order-service -n prod

  # Everything that uses one store, as JSON
  kubectl eso scope -A --store ClusterSecretStore/akv-hybridops -o json";

const COMPLETION_EXAMPLES: &str = "Examples:
  # bash (add to ~/.bashrc)
  source <(kubectl eso completion bash)

  # zsh
  kubectl eso completion zsh > \"${fpath[1]}/_kubectl-eso\"

  # fish
  kubectl eso completion fish > ~/.config/fish/completions/kubectl-eso.fish

  # kubectl >= 1.26 completes plugins itself: put kubectl_complete-eso on your PATH";

#[cfg(feature = "sandbox")]
const SANDBOX_EXAMPLES: &str = "Examples:
  # List the scenarios
  kubectl eso sandbox --list

  # Run scope against the healthy scenario
  kubectl eso sandbox -- scope -A

  # Reproduce incident B and keep a kubeconfig for kubectl
  kubectl eso sandbox --scenario vault-policy-removed --kubeconfig-out /tmp/sandbox.kubeconfig";

const FORCE_SYNC_EXAMPLES: &str = "Examples:
  # Resync one ExternalSecret and wait for ESO's answer
  kubectl eso force-sync order-service-regcred -n prod

  # Resync, then restart the workloads that read the Secret (as kubectl rollout restart)
  kubectl eso force-sync order-service-regcred -n prod --restart

  # Everything on one store, without changing anything
  kubectl eso force-sync -A --store ClusterSecretStore/akv-hybridops --dry-run

Exit codes: 0 everything synced (and restarted), 1 something failed, timed out or cannot resync,
2 the tool could not do its job.";

#[derive(Debug, Clone, Args)]
pub struct ForceSyncArgs {
    /// ExternalSecrets to resync (in the namespace of -n)
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// Every ExternalSecret in the namespace (or in all namespaces with -A)
    #[arg(long)]
    pub all: bool,

    /// Every ExternalSecret using this store: SecretStore/NAME or ClusterSecretStore/NAME
    #[arg(long, value_name = "KIND/NAME")]
    pub store: Option<String>,

    /// How long to wait for ESO (and for rollouts with --restart), e.g. 60s, 2m
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub timeout: String,

    /// Annotate and return without waiting for ESO
    #[arg(long)]
    pub no_wait: bool,

    /// After a successful sync, restart the workloads that read the Secret; =all also restarts
    /// those reading it through a volume (which refresh by themselves)
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "needed", value_name = "WHICH")]
    pub restart: Option<RestartArg>,

    /// Print what would be annotated and restarted; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RestartArg {
    /// Workloads that cannot see the new value without a restart
    Needed,
    /// Every workload that reads the Secret
    All,
}

const DESCRIBE_CHAIN_EXAMPLES: &str = "Examples:
  # Why does order-service not get its pull secret?
  kubectl eso describe-chain order-service-regcred -n prod

  # Only what the cluster says, no provider calls
  kubectl eso describe-chain netbox-db-password -n netbox --no-probe

  # Probe with your own Vault token / Azure CLI login instead of ESO's identity
  kubectl eso describe-chain netbox-db-password -n netbox --probe-as me

  # Everything, as JSON
  kubectl eso describe-chain order-service-regcred -n prod -o json

  # A PushSecret (Kubernetes -> provider): source Secret, stores, write permission
  kubectl eso describe-chain pushsecret/push-db-password -n prod";

#[derive(Debug, Clone, Args)]
pub struct DescribeChainArgs {
    /// The ExternalSecret to walk (in the namespace of -n), or pushsecret/NAME for a PushSecret
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Do not call the provider; report only what the cluster says
    #[arg(long)]
    pub no_probe: bool,

    /// Whose identity probes the provider: ESO's (the store's auth) or yours (VAULT_TOKEN, Azure CLI)
    #[arg(long, value_enum, default_value_t = ProbeAsArg::Eso, value_name = "WHO")]
    pub probe_as: ProbeAsArg,

    /// Time limit for the provider probe, e.g. 30s, 1m (at most 24h)
    #[arg(
        long,
        visible_alias = "provider-timeout",
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub timeout: String,

    /// Time limit for the whole command, API retries included (at most 24h)
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub deadline: String,

    /// Also save the evidence of the ExternalSecret's namespace, as `bundle` does, with this
    /// report, in DIR/eso-incident-YYYYMMDD-HHMM/ (stdout unchanged; the folder's path on stderr)
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeAsArg {
    Eso,
    Me,
}

#[derive(Debug, Clone, Args)]
pub struct ScopeArgs {
    /// Start from a workload: deployment/NAME, statefulset/NAME, daemonset/NAME or pod/NAME
    #[arg(value_name = "WORKLOAD")]
    pub workload: Option<String>,

    /// Only ExternalSecrets using this store: SecretStore/NAME or ClusterSecretStore/NAME
    #[arg(long, value_name = "KIND/NAME")]
    pub store: Option<String>,

    /// Only show failing ExternalSecrets (the summary still counts all of them)
    #[arg(long)]
    pub failing: bool,

    /// After the table, watch the ExternalSecrets, their stores and target Secrets, and print a
    /// row again when it changes
    #[arg(short = 'w', long)]
    pub watch: bool,

    /// Read from the API server's watch cache (LIST with resourceVersion=0): much cheaper on a
    /// big cluster, but possibly a few seconds stale; the output says so
    #[arg(long)]
    pub cached: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell to generate the script for
    #[arg(value_enum)]
    pub shell: ShellArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

#[cfg(feature = "sandbox")]
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// List the scenarios and exit
    #[arg(long)]
    pub list: bool,

    /// The scenario to start
    #[arg(long, value_name = "NAME", default_value = "healthy")]
    pub scenario: String,

    /// Write a kubeconfig for the simulated cluster here and keep it running
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,

    /// Number of ExternalSecrets for the scale scenario
    #[arg(long, value_name = "N")]
    pub scale: Option<usize>,

    /// Make the simulated API server misbehave for one resource (repeatable): RESOURCE=403, =429,
    /// =429:SECS, =500, =hang, =latency:DURATION or =drop-watch:N, e.g. externalsecrets=429
    #[arg(long, value_name = "RESOURCE=FAULT")]
    pub fault: Vec<String>,

    /// Serve an admin endpoint on this loopback address (port 0: any free port) to switch faults
    /// while the sandbox runs: POST /faults with RESOURCE=FAULT, DELETE /faults[/RESOURCE],
    /// GET /faults
    #[arg(long, value_name = "127.0.0.1:PORT")]
    pub admin_addr: Option<std::net::SocketAddr>,

    /// Subcommand and flags to run against the sandbox, after `--`
    #[arg(last = true, value_name = "SUBCOMMAND")]
    pub command: Vec<String>,
}

const VERIFY_REGCRED_EXAMPLES: &str = "Examples:
  # Does the pull secret log in to every registry in it?
  kubectl eso verify-regcred regcred-order-service -n prod

  # Start from the ExternalSecret that writes it, and check one more image
  kubectl eso verify-regcred --from-es order-service-regcred -n prod --image registry.internal:5000/order-service:1.4.2

  # A registry with a private CA
  kubectl eso verify-regcred regcred -n prod --ca-file ./registry-ca.pem -o json";

#[derive(Debug, Clone, Args)]
pub struct VerifyRegcredArgs {
    /// The pull secret (type kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg)
    #[arg(value_name = "SECRET", required_unless_present = "from_es")]
    pub secret: Option<String>,

    /// Follow this ExternalSecret to the Secret it writes, instead of naming the Secret
    #[arg(long, value_name = "NAME", conflicts_with = "secret")]
    pub from_es: Option<String>,

    /// Also check this image can be pulled (repeat; images of pods using the Secret are always checked)
    #[arg(long, value_name = "IMAGE")]
    pub image: Vec<String>,

    /// Extra CA certificates (PEM) to trust for the registries
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// Time to wait for one registry request (e.g. 15s, 1m)
    #[arg(long, value_name = "DURATION", default_value = "15s")]
    pub timeout: String,
}

const DOCTOR_EXAMPLES: &str = "Examples:
  # Check the whole cluster
  kubectl eso doctor -A

  # In CI: JUnit for the test report, fail on warnings too
  kubectl eso doctor -A --fail-on warning -o junit > doctor.xml

  # Incident B's alert rule: Ready but not refreshed for 2 hours
  kubectl eso doctor -A --stale-after 2h -o json

  # Also save the evidence (as `bundle`) in /tmp/eso-incident-YYYYMMDD-HHMM/
  kubectl eso doctor -A --evidence /tmp

Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 the tool could not run.";

/// `doctor`'s own flags: the checks' ([`DoctorArgs`], shared with `bundle`) and `--evidence`.
#[derive(Debug, Clone, Args)]
pub struct DoctorCommandArgs {
    #[command(flatten)]
    pub doctor: DoctorArgs,

    /// Also save the evidence, as `bundle` does, in DIR/eso-incident-YYYYMMDD-HHMM/ (stdout
    /// unchanged; the folder's path on stderr)
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Do not call the providers; judge only what the cluster says
    #[arg(long)]
    pub no_probe: bool,

    /// Read from the API server's watch cache (LIST with resourceVersion=0): much cheaper on a
    /// big cluster, but possibly a few seconds stale; the output says so
    #[arg(long)]
    pub cached: bool,

    /// Warn about a Ready ExternalSecret not refreshed for longer than this, e.g. 2h, 90m
    #[arg(long, value_name = "DURATION", default_value = "2h")]
    pub stale_after: String,

    /// Time limit for each store's provider probe, e.g. 30s, 1m (at most 24h); describe-chain's
    /// --timeout
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub provider_timeout: String,

    /// Time limit for the whole command, API retries included (at most 24h)
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub deadline: String,

    /// The lowest finding severity that makes the exit code 1
    #[arg(long, value_enum, default_value_t = FailOnArg::Error, value_name = "LEVEL")]
    pub fail_on: FailOnArg,

    /// Also log in to the registries of every dockerconfigjson Secret an ExternalSecret writes
    #[arg(long)]
    pub regcred: bool,

    /// Pass even when a check could not run (RBAC, unreachable provider, host not vouched for);
    /// without it such a run exits 1, because a check that did not run is not a pass
    #[arg(long)]
    pub allow_partial: bool,
}

const BUNDLE_EXAMPLES: &str = "Examples:
  # Everything about the incident in every namespace, in ./eso-incident-YYYYMMDD-HHMM/
  kubectl eso bundle -A

  # One namespace, into /tmp, without calling the providers
  kubectl eso bundle -n netbox --out /tmp --no-probe

  # One file to attach to a ticket: ./eso-incident-YYYYMMDD-HHMM.tar.gz
  kubectl eso bundle -A --archive

  # The same folder from doctor or describe-chain, their output unchanged
  kubectl eso doctor -A --evidence /tmp
  kubectl eso describe-chain netbox-db-password -n netbox --evidence /tmp

Read-only: it writes only to the local folder. Exit codes: 0 written, no finding; 1 written, with
findings; 2 the tool could not run.";

#[derive(Debug, Clone, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    pub doctor: DoctorArgs,

    /// The folder in which eso-incident-YYYYMMDD-HHMM/ is created
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: std::path::PathBuf,

    /// Write one eso-incident-YYYYMMDD-HHMM.tar.gz instead of the folder, to attach to a ticket
    #[arg(long)]
    pub archive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOnArg {
    Error,
    Warning,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "kubectl-eso",
            "scope",
            "-n",
            "prod",
            "-o",
            "json",
            "-vv",
            "--as",
            "jane",
            "--as-group",
            "a",
            "--as-group",
            "b",
        ])
        .map_err(|e| e.to_string());
        let cli = match cli {
            Ok(c) => c,
            Err(e) => panic!("parse failed: {e}"),
        };
        assert_eq!(cli.global.namespace.as_deref(), Some("prod"));
        assert_eq!(cli.global.output, OutputArg::Json);
        assert_eq!(cli.global.verbose, 2);
        assert_eq!(cli.global.as_group, vec!["a", "b"]);
    }

    #[test]
    fn junit_output_is_only_for_doctor() {
        let doctor = Cli::try_parse_from(["kubectl-eso", "doctor", "-o", "junit"]);
        assert!(
            matches!(&doctor, Ok(c) if c.global.output == OutputArg::Junit),
            "{doctor:?}"
        );
        for sub in [
            &["scope"][..],
            &["describe-chain", "x"],
            &["force-sync", "x"],
            &["verify-regcred", "x"],
        ] {
            let mut argv = vec!["kubectl-eso"];
            argv.extend_from_slice(sub);
            argv.extend(["-o", "junit"]);
            match Cli::try_parse_from(&argv) {
                Ok(_) => panic!("{sub:?} accepted -o junit"),
                Err(e) => {
                    assert_eq!(e.exit_code(), 2, "{sub:?}");
                    assert!(e.to_string().contains("only for `doctor`"), "{e}");
                }
            }
        }
    }
}
