//! Strings that come from the cluster or a provider (event messages, annotations, provider errors)
//! may carry terminal escape sequences or control characters; printing them raw would let a
//! cluster object repaint the user's terminal. Everything from outside passes through here before
//! it reaches a terminal or an error line.

/// One line for a table cell or an error message: escape sequences removed, every other control
/// character (newlines and tabs included) turned into a single space.
pub fn line(input: &str) -> String {
    clean(input, false)
}

/// Text for structured output: escape sequences and control characters removed, but newlines and
/// tabs kept because they are part of the data (multi-line provider errors).
pub fn text(input: &str) -> String {
    clean(input, true)
}

/// The most any one string from the cluster or a provider keeps, in bytes (issue 18: a 10 MB
/// Event message was printed three times by `describe-chain -o json`).
pub const MAX_OUTSIDE_BYTES: usize = 4096;

/// `input` cut to at most [`MAX_OUTSIDE_BYTES`] on a character boundary, with a marker saying
/// how long it was; shorter input is returned as is. Applied where strings enter the model and
/// again by [`line`] and [`text`], so nothing from outside reaches the output longer than this.
pub fn cap(input: &str) -> std::borrow::Cow<'_, str> {
    if input.len() <= MAX_OUTSIDE_BYTES {
        return std::borrow::Cow::Borrowed(input);
    }
    let mut end = MAX_OUTSIDE_BYTES;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}… [cut: {} bytes in all]",
        &input[..end],
        input.len()
    ))
}

/// [`cap`] on an owned string, for fields filled straight from the API.
pub fn cap_in_place(s: &mut String) {
    if let std::borrow::Cow::Owned(cut) = cap(s) {
        *s = cut;
    }
}

fn clean(input: &str, keep_layout: bool) -> String {
    let input = cap(input);
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI / OSC introducers act like ESC [ and ESC ] on some terminals.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' => skip_string(&mut chars),
            '\n' | '\t' | '\r' if keep_layout => {
                if c != '\r' {
                    out.push(c);
                }
            }
            c if c.is_control() => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            // Bidi overrides can make a line read differently from what it is.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    if keep_layout {
        out
    } else {
        out.trim().to_string()
    }
}

/// A whole command output at the output boundary (`redact`): escape sequences and control
/// characters removed, newlines and tabs kept, nothing cut (each outside string in it was already
/// capped when it was rendered). With `keep_sgr`, colour sequences (`ESC [ digits ; m`) stay: the
/// tool's own coloured tables; every outside string in them was cleaned before it was painted.
pub fn output(input: &str, keep_sgr: bool) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| {
        (!c.is_control() || c == '\n' || c == '\t')
            && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    // Nearly every output is printable ASCII with newlines and tabs: those bytes are checked as
    // bytes (issue 16: char by char, 15 MB of JSON took ~19 ms of the writer thread), the rest
    // from the first other byte on (a char boundary: every byte before it is ASCII) as chars.
    let ascii_plain = |b: &u8| matches!(b, b' '..=b'~' | b'\n' | b'\t');
    let bytes = input.as_bytes();
    // 64 bytes at a time without an early exit, which the compiler turns into vector code.
    let first_other = bytes
        .chunks(64)
        .position(|c| !c.iter().fold(true, |ok, b| ok & ascii_plain(b)))
        .map_or(input.len(), |k| {
            let from = k * 64;
            from + bytes[from..]
                .iter()
                .position(|b| !ascii_plain(b))
                .unwrap_or(0)
        });
    if input[first_other..].chars().all(plain) {
        return std::borrow::Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(c) = rest.chars().next() {
        if keep_sgr
            && c == '\u{1b}'
            && let Some(len) = sgr_len(rest)
        {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        let next = rest
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '\u{1b}')
            .map_or(rest.len(), |(i, _)| i);
        // An escape sequence (if `rest` starts with one) and the text up to the next ESC.
        out.push_str(&clean_uncapped(&rest[..next]));
        rest = &rest[next..];
    }
    std::borrow::Cow::Owned(out)
}

/// Length of a colour sequence at the start of `s`, if it is one.
fn sgr_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("\u{1b}[")?;
    let params = body.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
    body[params..].starts_with('m').then_some(2 + params + 1)
}

fn clean_uncapped(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' => skip_string(&mut chars),
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn skip_escape(chars: &mut Chars<'_>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => skip_string(chars),
        // Two-character sequences (ESC c, ESC 7, ...): the one character is already consumed.
        _ => {}
    }
}

fn skip_csi(chars: &mut Chars<'_>) {
    // Parameters and intermediates run until a final byte in @..~.
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            break;
        }
    }
}

fn skip_string(chars: &mut Chars<'_>) {
    // OSC / DCS strings end with BEL or ST (ESC \).
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_sequences() {
        assert_eq!(line("\u{1b}[31mred\u{1b}[0m text"), "red text");
    }

    #[test]
    fn strips_osc_title_and_hyperlinks() {
        assert_eq!(line("a\u{1b}]0;pwned\u{7}b"), "ab");
        assert_eq!(
            line("\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\"),
            "link"
        );
    }

    #[test]
    fn line_flattens_newlines_text_keeps_them() {
        assert_eq!(
            line("permission denied\n\n* 403\r\n"),
            "permission denied * 403"
        );
        assert_eq!(text("a\nb\tc\r\u{7}"), "a\nb\tc ");
    }

    #[test]
    fn strips_c1_csi_and_bidi() {
        assert_eq!(line("x\u{9b}2Jy\u{202e}z"), "xyz");
    }

    #[test]
    fn issue_18_long_text_is_cut_and_marked() {
        let huge = "é".repeat(5_000_000);
        for out in [line(&huge), text(&huge), cap(&huge).into_owned()] {
            assert!(out.len() <= MAX_OUTSIDE_BYTES + 40, "{}", out.len());
            assert!(
                out.ends_with("[cut: 10000000 bytes in all]"),
                "{}",
                &out[out.len() - 40..]
            );
        }
        let mut owned = huge.clone();
        cap_in_place(&mut owned);
        assert!(owned.len() < MAX_OUTSIDE_BYTES + 40);
        let short = "x".repeat(MAX_OUTSIDE_BYTES);
        assert_eq!(line(&short), short);
    }

    #[test]
    fn issue_16_output_checks_ascii_as_bytes_and_the_rest_as_chars() {
        let prefix = "{\n  \"name\": \"app\",\t\"ok\": true\n".repeat(40);
        assert!(matches!(
            output(&prefix, false),
            std::borrow::Cow::Borrowed(_)
        ));
        // Printable non-ASCII after a long ASCII run: still untouched.
        for tail in ["café ✓ 名前", "é"] {
            let text = format!("{prefix}{tail}\n");
            assert!(
                matches!(output(&text, false), std::borrow::Cow::Borrowed(_)),
                "{tail}"
            );
        }
        // Near misses past the first 64-byte chunks: each is still cleaned.
        for (bad, want) in [
            ("a\u{7}b", "a b"),
            ("x\u{1b}[2Jy", "xy"),
            ("r\u{202e}l", "rl"),
            ("c\u{9b}31md", "cd"),
            ("del\u{7f}x", "del x"),
        ] {
            let text = format!("{prefix}{bad}");
            let out = output(&text, false);
            assert_eq!(out, format!("{prefix}{want}"), "{bad:?}");
        }
    }

    #[test]
    fn issue_18_output_keeps_layout_and_only_colour_when_asked() {
        let s = "a\u{1b}[1;31mred\u{1b}[0m\tb\r\n\u{1b}]0;t\u{7}c\u{1b}[2J";
        assert_eq!(output(s, true), "a\u{1b}[1;31mred\u{1b}[0m\tb\nc");
        assert_eq!(output(s, false), "ared\tb\nc");
        let long = "x".repeat(MAX_OUTSIDE_BYTES * 2);
        assert!(matches!(
            output(&long, false),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let s = "ClusterSecretStore \"akv-hybridops\" is not ready — ünïcode";
        assert_eq!(line(s), s);
        assert_eq!(text(s), s);
    }
}
