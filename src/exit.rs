//! The process exit codes every subcommand shares, kept in one small enum so scripts and CI can
//! rely on them: 0 healthy / done, 1 findings (something in scope is broken), 2 the tool could not
//! do its job (bad flags, cluster unreachable, unauthorised).

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything in scope is healthy, or the requested action is done.
    Healthy,
    /// The tool did its job and found something broken.
    Findings,
    /// The tool could not do its job.
    Error,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Healthy => 0,
            Exit::Findings => 1,
            Exit::Error => 2,
        }
    }

    /// Healthy when nothing failed, findings otherwise.
    pub fn from_findings(any_failing: bool) -> Self {
        if any_failing {
            Exit::Findings
        } else {
            Exit::Healthy
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(Exit::Healthy.code(), 0);
        assert_eq!(Exit::Findings.code(), 1);
        assert_eq!(Exit::Error.code(), 2);
    }

    #[test]
    fn findings_decide_between_zero_and_one() {
        assert_eq!(Exit::from_findings(false), Exit::Healthy);
        assert_eq!(Exit::from_findings(true), Exit::Findings);
    }

    #[test]
    fn worst_outcome_wins_when_combined() {
        assert_eq!(Exit::Healthy.max(Exit::Findings), Exit::Findings);
        assert_eq!(Exit::Error.max(Exit::Findings), Exit::Error);
    }
}
