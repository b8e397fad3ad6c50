//! One file per subcommand, each doing fetch -> analyse -> render with no business logic inline.
//! Adding a subcommand is a variant in `cli.rs`, a file here and one arm in `dispatch`.

mod chain_findings;
pub mod complete;
pub mod completion;
pub mod describe_chain;
pub mod doctor;
pub mod force_sync;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod scope;
pub mod verify_regcred;

use std::io::Write;

use crate::cli::{Cli, Command};
use crate::config::{self, Terminal};
use crate::exit::Exit;

/// Runs the parsed command, writing its stdout into `out`.
pub async fn dispatch(cli: Cli, out: &mut (impl Write + Send)) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Scope(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            Ok(scope::run(&cfg, &args, out).await?)
        }
        Command::ForceSync(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            Ok(force_sync::run(&cfg, &args, out).await?)
        }
        Command::DescribeChain(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            Ok(describe_chain::run(&cfg, &args, out).await?)
        }
        Command::VerifyRegcred(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            Ok(verify_regcred::run(&cfg, &args, out).await?)
        }
        Command::Doctor(args) => {
            let cfg = config::from_cli(&cli.global, Terminal::detect())?;
            Ok(doctor::run(&cfg, &args, out).await?)
        }
        Command::Completion(args) => Ok(completion::run(&args, out)?),
        // Boxed: the sandbox's future (a whole simulated cluster) is large.
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => Box::pin(sandbox::run(&args)).await,
    }
}
