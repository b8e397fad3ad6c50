//! kubectl-looking tables on comfy-table: no borders, upper-case headers, no wrapping (kubectl
//! never wraps either, and wrapped rows break `grep`). comfy-table ignores NO_COLOR, so it is told
//! explicitly whether to style.

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use crate::sanitize;

pub fn new_table(headers: &[&str], color: bool) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(headers.iter().map(Cell::new));
    for col in t.column_iter_mut() {
        // One space on the left would indent the whole table; kubectl uses three spaces between.
        col.set_padding((0, 3));
    }
    t
}

/// A cell holding text that came from outside: always sanitized to one line.
pub fn cell(text: &str) -> Cell {
    Cell::new(sanitize::line(text))
}

/// Red when colour is on and `bad` is true.
pub fn status_cell(text: &str, bad: bool, color: bool) -> Cell {
    let c = cell(text);
    if color && bad { c.fg(Color::Red) } else { c }
}

/// Keeps the table readable: long provider errors are cut (the wide and JSON outputs keep all).
pub fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// One readable line from an SDK error that embeds an OAuth error body (Entra ID / Azure SDK put
/// the cause in `error_description` inside a multi-kilobyte dump): the text before the first
/// colon plus that description; other messages are shortened in the middle.
pub fn headline(text: &str, max_chars: usize) -> String {
    const KEY: &str = "\"error_description\":";
    if let Some(at) = text.find(KEY) {
        let rest = text[at + KEY.len()..].trim_start();
        if let Some(body) = rest.strip_prefix('"') {
            let description: String = body.split('"').next().unwrap_or_default().to_string();
            let lead = text.split(':').next().unwrap_or_default().trim();
            // The description leads with the cause and trails off into trace ids.
            return truncate(&format!("{lead}: {description}"), max_chars);
        }
    }
    shorten_middle(text, max_chars)
}

/// Shortens a long message by cutting its middle: provider errors put the context first and the
/// cause last (Vault: "... Code: 403. Errors: * permission denied"), and both matter.
pub fn shorten_middle(text: &str, max_chars: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max_chars || max_chars < 8 {
        return text.to_string();
    }
    let head = (max_chars - 3) * 2 / 5;
    let tail = max_chars - 3 - head;
    let start: String = chars[..head].iter().collect();
    let end: String = chars[chars.len() - tail..].iter().collect();
    format!("{} … {}", start.trim_end(), end.trim_start())
}

/// comfy-table pads the last column too; kubectl's lines have no trailing blanks.
pub fn trimmed_lines(table: &Table) -> String {
    let mut s = String::new();
    for line in table.lines() {
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_table_has_no_escape_codes_and_no_trailing_blanks() {
        let mut t = new_table(&["NAME", "READY"], false);
        t.add_row(vec![
            cell("a\u{1b}[31mb"),
            status_cell("False", true, false),
        ]);
        let s = trimmed_lines(&t);
        assert!(!s.contains('\u{1b}'), "{s:?}");
        assert!(s.lines().all(|l| l == l.trim_end()));
        assert!(s.starts_with("NAME"), "{s:?}");
        assert!(s.contains("ab"), "{s:?}");
    }

    #[test]
    fn coloured_table_styles_bad_cells() {
        let mut t = new_table(&["READY"], true);
        t.add_row(vec![status_cell("False", true, true)]);
        assert!(trimmed_lines(&t).contains('\u{1b}'));
    }

    #[test]
    fn shorten_middle_keeps_the_cause_at_the_end() {
        let msg = "error processing spec.data[0] (key: registry-creds/order-service), err: Error making \
                   API request. Code: 403. Errors: * 1 error occurred: * permission denied";
        let short = shorten_middle(msg, 60);
        assert!(short.chars().count() <= 60, "{short}");
        assert!(
            short.starts_with("error processing") && short.ends_with("* permission denied"),
            "{short}"
        );
        assert_eq!(shorten_middle("short", 60), "short");
    }

    #[test]
    fn headline_picks_the_oauth_error_description() {
        let msg = "ClientSecretCredential: authentication failed: POST https://x/token ---- RESPONSE 401 \
                   { \"error\": \"invalid_client\", \"error_description\": \"AADSTS7000222: keys are expired.\" } ----";
        assert_eq!(
            headline(msg, 200),
            "ClientSecretCredential: AADSTS7000222: keys are expired."
        );
        assert_eq!(headline("plain", 200), "plain");
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate("ééééé", 3), "éé…");
        assert_eq!(truncate("short", 10), "short");
    }
}
