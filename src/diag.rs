//! `-v` diagnostics on stderr: which API requests were made, how many objects came back, how long
//! it took. Only names, counts and timings are ever printed here, never object contents.

use std::io::Write;

#[derive(Debug, Clone, Copy, Default)]
pub struct Diag {
    pub level: u8,
}

impl Diag {
    pub fn new(level: u8) -> Self {
        Diag { level }
    }

    pub fn enabled(&self, level: u8) -> bool {
        self.level >= level
    }

    /// Prints when `-v` was given at least `level` times. Write errors are ignored: losing a
    /// diagnostic line must not fail the command.
    pub fn log(&self, level: u8, message: std::fmt::Arguments<'_>) {
        if self.enabled(level) {
            let line = crate::redact::output(&message.to_string(), false);
            let _ = writeln!(std::io::stderr().lock(), "kubectl-eso: {line}");
        }
    }
}
