//! `force-sync`'s progress on stderr: plain flux-style lines always, a spinner only when stderr is
//! a terminal (and TERM is not dumb), so logs and pipes get clean lines.

use std::io::{IsTerminal, Write};

/// Progress on stderr: plain lines always, a spinner only on a terminal.
pub struct Progress {
    /// One line per ExternalSecret, or totals when there are many.
    pub per_object: bool,
    tty: bool,
    spinning: bool,
    frame: usize,
}

impl Progress {
    pub fn new() -> Self {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Progress {
            per_object: true,
            tty: std::io::stderr().is_terminal() && !dumb,
            spinning: false,
            frame: 0,
        }
    }

    pub fn line(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.spinning {
            let _ = write!(err, "\r\x1b[2K");
            self.spinning = false;
        }
        let _ = writeln!(err, "{}", crate::redact::output(text, true));
    }

    pub fn spin(&mut self, text: &str) {
        if !self.tty {
            return;
        }
        const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
        self.frame = (self.frame + 1) % FRAMES.len();
        let _ = write!(
            std::io::stderr().lock(),
            "\r\x1b[2K{} {}",
            FRAMES[self.frame],
            crate::redact::output(text, true)
        );
        self.spinning = true;
    }

    pub fn clear(&mut self) {
        if self.spinning {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            self.spinning = false;
        }
    }
}
