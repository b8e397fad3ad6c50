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
        pending: Vec::with_capacity(CUT + 4096),
    };
    serde_json::to_writer_pretty(&mut lines, report).map_err(io::Error::other)?;
    let LineCuts { out, pending } = lines;
    out.write_all(&pending)?;
    writeln!(out)?;
    out.flush()
}

/// How much JSON is written between two cuts.
pub const CUT: usize = 64 * 1024;

/// Gathers what serde_json writes, token by token; once [`CUT`] bytes are held, writes them to
/// `out` up to the last newline of the write that got there, and flushes `out`. So `out` (the
/// output boundary) sees one write per cut, not one per token: millions for a 15 MB report
/// (issue 16).
struct LineCuts<'a, W: Write> {
    out: &'a mut W,
    pending: Vec<u8>,
}

impl<W: Write> Write for LineCuts<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let start = self.pending.len();
        self.pending.extend_from_slice(buf);
        // Only the new bytes are searched: a long line is not searched again at every write.
        if self.pending.len() >= CUT
            && let Some(nl) = memchr::memrchr(b'\n', &self.pending[start..])
        {
            let at = start + nl + 1;
            self.out.write_all(&self.pending[..at])?;
            self.out.flush()?;
            self.pending.drain(..at);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// YAML, streamed like [`write_json`]: every [`CUT`] bytes or so `out` is flushed just before a
/// line that starts in column 0 with something other than a space (issue 16). Exact for YAML:
/// such a line begins a top-level key or an entry of a top-level sequence (`items:` followed by
/// `- …` in column 0), never the inside of a scalar — a block scalar's lines, and a multi-line
/// flow scalar's continuation lines, are indented deeper than the node that holds them, and an
/// empty line (which a block scalar may hold) is not taken as a cut. So no learned value and no
/// credential-shaped match continues across a cut. A report whose sequences are indented under
/// their key is still correct, written in one piece.
pub fn write_yaml<T: Serialize>(out: &mut impl Write, report: &T) -> io::Result<()> {
    let mut cuts = YamlCuts {
        out: &mut *out,
        pending: String::new(),
        searched: 1,
        failed: None,
        ended_with_newline: false,
    };
    let done = serde_saphyr::to_fmt_writer(&mut cuts, report);
    if let Some(e) = cuts.failed.take() {
        return Err(e);
    }
    done.map_err(io::Error::other)?;
    let YamlCuts {
        out,
        pending,
        mut ended_with_newline,
        ..
    } = cuts;
    if !pending.is_empty() {
        ended_with_newline = pending.ends_with('\n');
        out.write_all(pending.as_bytes())?;
    }
    if !ended_with_newline {
        writeln!(out)?;
    }
    Ok(())
}

/// Holds YAML text until a safe cut point (see [`write_yaml`]) past [`CUT`] bytes.
struct YamlCuts<'a, W: Write> {
    out: &'a mut W,
    pending: String,
    /// Positions of `pending` below this were searched for a cut and hold none (so a report
    /// without any cut point is searched once, not once per write).
    searched: usize,
    failed: Option<io::Error>,
    ended_with_newline: bool,
}

impl<W: Write> YamlCuts<'_, W> {
    /// The last position in `pending` just after a newline that is followed by a character
    /// other than a space or a newline (the start of a column-0 line).
    fn safe_cut(&mut self) -> Option<usize> {
        let b = self.pending.as_bytes();
        let found = (self.searched.max(1)..b.len())
            .rev()
            .find(|&i| b[i - 1] == b'\n' && b[i] != b' ' && b[i] != b'\n');
        self.searched = b.len();
        found
    }
}

impl<W: Write> std::fmt::Write for YamlCuts<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.failed.is_some() {
            return Err(std::fmt::Error);
        }
        self.pending.push_str(s);
        if self.pending.len() >= CUT
            && let Some(at) = self.safe_cut()
        {
            let written = self
                .out
                .write_all(&self.pending.as_bytes()[..at])
                .and_then(|()| self.out.flush());
            if let Err(e) = written {
                self.failed = Some(e);
                return Err(std::fmt::Error);
            }
            self.ended_with_newline = true;
            self.pending.drain(..at);
            self.searched = 1;
        }
        Ok(())
    }
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

    /// Issue 16: a big YAML report is cut only before column-0 lines (an entry of the top-level
    /// `items`), never inside a block scalar, and the bytes are the same as in one piece.
    #[test]
    fn issue16_yaml_is_cut_between_top_level_entries_and_unchanged() {
        // Messages with newlines (block scalars), blank lines, and lines that look like YAML.
        let items: Vec<serde_json::Value> = (0..5000)
            .map(|i| {
                serde_json::json!({"name": format!("app-{i}"),
                    "message": format!("first line\n\n- not an item {i}\nkey: not a key\n"),
                    "n": i, "nested": {"list": ["a", "b"]}})
            })
            .collect();
        let value = serde_json::json!({"kind": "ScopeReport", "items": items,
            "summary": {"failing": 3}});
        let mut cuts = Cuts::default();
        assert!(write_yaml(&mut cuts, &value).is_ok());
        let whole = serde_saphyr::to_string(&value).unwrap_or_default();
        let text = String::from_utf8_lossy(&cuts.bytes).into_owned();
        assert_eq!(text.trim_end_matches('\n'), whole.trim_end_matches('\n'));
        assert!(text.ends_with('\n'));
        assert!(cuts.at.len() > 3, "{:?}", cuts.at);
        let mut last = 0;
        for &at in &cuts.at {
            assert_eq!(cuts.bytes[at - 1], b'\n', "cut at {at} is not a line end");
            assert!(
                cuts.bytes[at..].starts_with(b"- ") || at == cuts.bytes.len(),
                "cut at {at} is not before an item: {:?}",
                String::from_utf8_lossy(&cuts.bytes[at..(at + 40).min(cuts.bytes.len())])
            );
            assert!(at - last <= CUT + 4096 || at == cuts.bytes.len());
            last = at;
        }
        // Parsed back, the same report.
        let back: serde_json::Value = serde_saphyr::from_str(&text).unwrap_or_default();
        assert_eq!(back, value);
    }

    /// Near miss: a small report is written in one piece, unchanged.
    #[test]
    fn issue16_a_small_yaml_report_is_one_piece() {
        let value = serde_json::json!({"kind": "ScopeReport", "items": [{"name": "a\nb"}]});
        let mut cuts = Cuts::default();
        assert!(write_yaml(&mut cuts, &value).is_ok());
        assert_eq!(
            String::from_utf8_lossy(&cuts.bytes),
            serde_saphyr::to_string(&value).unwrap_or_default()
        );
        assert!(cuts.at.is_empty(), "{:?}", cuts.at);
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
