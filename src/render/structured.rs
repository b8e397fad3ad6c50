//! JSON and YAML straight from a report's serde form, so both carry exactly the same data.
//! Strings that came from the cluster were already cleaned of escape sequences by the analysis;
//! both serializers escape whatever control characters remain.

use std::io::{self, Write};

use serde::Serialize;

/// Pretty JSON, streamed: every [`CUT`] bytes or so `out` is flushed at the end of a line, which
/// the output boundary takes as a point where it may redact what came before on its own
/// (`lib.rs`, issue 16). Exact for JSON: serde_json escapes newlines and control characters in
/// strings, so each line break lies between two tokens, where no learned value (in any printed
/// form) and no credential-shaped match can continue across it.
pub fn write_json<T: Serialize>(out: &mut impl Write, report: &T) -> io::Result<()> {
    let mut lines = LineCuts {
        out: &mut *out,
        since_cut: 0,
    };
    serde_json::to_writer_pretty(&mut lines, report).map_err(io::Error::other)?;
    writeln!(out)?;
    out.flush()
}

/// How much JSON is written between two cuts.
pub const CUT: usize = 64 * 1024;

/// Passes bytes through; once [`CUT`] bytes went by, flushes `out` right after the next newline.
struct LineCuts<'a, W: Write> {
    out: &'a mut W,
    since_cut: usize,
}

impl<W: Write> Write for LineCuts<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.since_cut + buf.len() >= CUT
            && let Some(at) = buf.iter().rposition(|&b| b == b'\n')
        {
            self.out.write_all(&buf[..=at])?;
            self.out.flush()?;
            self.out.write_all(&buf[at + 1..])?;
            self.since_cut = buf.len() - at - 1;
        } else {
            self.out.write_all(buf)?;
            self.since_cut += buf.len();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub fn write_yaml<T: Serialize>(out: &mut impl Write, report: &T) -> io::Result<()> {
    let text = serde_saphyr::to_string(report).map_err(io::Error::other)?;
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_format_lets_a_raw_escape_byte_through() {
        let value = serde_json::json!({"reason": "\u{1b}]0;pwned\u{7}\u{1b}[31mred", "n": 1});
        for write in [
            write_json::<serde_json::Value>,
            write_yaml::<serde_json::Value>,
        ] {
            let mut out = Vec::new();
            if let Err(e) = write(&mut out, &value) {
                panic!("{e}");
            }
            assert!(
                !out.contains(&0x1b) && !out.contains(&0x07),
                "{}",
                String::from_utf8_lossy(&out)
            );
        }
    }

    /// A writer that records where it was flushed.
    #[derive(Default)]
    struct Cuts {
        bytes: Vec<u8>,
        at: Vec<usize>,
    }

    impl Write for Cuts {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.at.push(self.bytes.len());
            Ok(())
        }
    }

    /// Issue 16: a big report is cut only at line ends, every `CUT` bytes or so, and the bytes
    /// are the same as serde_json's in one piece.
    #[test]
    fn issue16_json_is_cut_at_line_ends_and_unchanged() {
        let items: Vec<serde_json::Value> = (0..5000)
            .map(|i| serde_json::json!({"name": format!("app-{i}"), "message": "a\nb \"q\"", "n": i}))
            .collect();
        let value = serde_json::json!({"kind": "ScopeReport", "items": items});
        let mut cuts = Cuts::default();
        assert!(write_json(&mut cuts, &value).is_ok());
        let whole = serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
        assert_eq!(String::from_utf8_lossy(&cuts.bytes), whole);
        assert!(cuts.at.len() > 3, "{:?}", cuts.at);
        let mut last = 0;
        for &at in &cuts.at {
            assert_eq!(cuts.bytes[at - 1], b'\n', "cut at {at} is not a line end");
            assert!(at - last <= CUT + 200 || at == cuts.bytes.len());
            last = at;
        }
        assert_eq!(cuts.at.last(), Some(&cuts.bytes.len()));
    }

    #[test]
    fn yaml_and_json_read_back_to_the_same_value() {
        let value = serde_json::json!({"apiVersion": "kubectl-eso/v1", "list": ["a", "b: c"], "n": null, "t": true});
        let (mut j, mut y) = (Vec::new(), Vec::new());
        assert!(write_json(&mut j, &value).is_ok() && write_yaml(&mut y, &value).is_ok());
        let from_j: serde_json::Value = serde_json::from_slice(&j).unwrap_or_default();
        let from_y: serde_json::Value =
            serde_saphyr::from_str(&String::from_utf8_lossy(&y)).unwrap_or_default();
        assert_eq!(from_j, value);
        assert_eq!(from_y, value);
    }
}
