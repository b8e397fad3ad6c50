//! The library's error type. Each variant carries the context a user needs (which object, which
//! namespace, what to do) and prints as one line; `run_args` turns any of them into exit code 2.
//! Messages never include Secret data: where a command reads Secret values (verify-regcred, describe-chain,
//! doctor's probes) they stay in memory and only names, sizes and yes/no verdicts leave it.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input that clap could not catch (flag combinations, KIND/NAME syntax).
    #[error("{0}")]
    Usage(String),

    #[error("External Secrets Operator CRDs not found in this cluster: is ESO installed?")]
    EsoNotInstalled,

    #[error("cannot load kubeconfig: {0}")]
    Kubeconfig(String),

    /// The cluster refused or could not answer a request the command cannot do without.
    #[error("{what}: {detail}")]
    Api { what: String, detail: String },

    #[error("{0}")]
    NotFound(String),

    #[error("writing output: {0}")]
    Output(#[source] io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
