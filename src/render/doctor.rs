//! The `doctor` report as a checklist grouped by check with totals under it, as JSON / YAML of the
//! same `DoctorReport`, or as JUnit XML so CI systems show each check as a test case: a check
//! with error findings (or warnings under `--fail-on warning`) is a failed test case, a skipped
//! check a skipped one, every finding one line of the failure's text.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use jiff::Timestamp;

use super::structured::{write_json, write_yaml};
use super::table::{cell, new_table, trimmed_lines};
use super::wrap;
use super::{Format, RenderOptions};
use crate::analysis::since;
use crate::model::doctor::{Check, DoctorReport, Finding, Status};
use crate::sanitize;

/// `doctor` prints one more format than the other commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoctorFormat {
    Checklist { color: bool },
    Json,
    Yaml,
    Junit,
}

impl DoctorFormat {
    /// `junit` is the config's `-o junit`, which wins over `opts.format`.
    pub fn from_render(opts: &RenderOptions, junit: bool) -> Self {
        if junit {
            return DoctorFormat::Junit;
        }
        match opts.format {
            Format::Json => DoctorFormat::Json,
            Format::Yaml => DoctorFormat::Yaml,
            Format::Table | Format::Wide => DoctorFormat::Checklist { color: opts.color },
        }
    }
}

/// Prints the report; the checklist wraps to `width` (`render::wrap::width()`) and says since
/// when from `now`.
pub fn write_at(
    out: &mut impl Write,
    report: &DoctorReport,
    format: DoctorFormat,
    width: usize,
    now: Timestamp,
) -> io::Result<()> {
    match format {
        DoctorFormat::Json => write_json(out, report),
        DoctorFormat::Yaml => write_yaml(out, report),
        DoctorFormat::Junit => write_junit(out, report),
        DoctorFormat::Checklist { color } => write_checklist(out, report, color, width, now),
    }
}

fn paint(text: &str, status: Status, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    match status {
        Status::Ok => text.green().to_string(),
        Status::Skipped => text.dimmed().to_string(),
        Status::Warning => text.yellow().to_string(),
        Status::Error => text.red().to_string(),
    }
}

fn write_checklist(
    out: &mut impl Write,
    report: &DoctorReport,
    color: bool,
    width: usize,
    now: Timestamp,
) -> io::Result<()> {
    if report.findings.is_empty() {
        writeln!(out, "No findings.")?;
    } else {
        writeln!(
            out,
            "Root causes first; what each one explains is listed under it."
        )?;
    }
    for (i, f) in report.findings.iter().enumerate() {
        write_finding(out, i + 1, f, color, width, now)?;
    }
    writeln!(out)?;
    // The reason a check was skipped goes under the table: in the STATUS column it made the
    // table wider than 80 columns (issue 13).
    let mut t = new_table(&["CHECK", "STATUS", "CHECKED", "FINDINGS"], color);
    for c in &report.checks {
        t.add_row(vec![
            cell(&c.title),
            cell(c.status.as_str()),
            cell(&c.checked.to_string()),
            cell(&c.findings.len().to_string()),
        ]);
    }
    out.write_all(trimmed_lines(&t).as_bytes())?;
    for c in &report.checks {
        if let Some(why) = &c.skipped_because {
            let text = format!("{} skipped: {}", c.title, sanitize::line(why));
            lines(out, &text, width, "", "  ")?;
        }
    }
    // Said once: the same unreadable resource is not listed twice (issue 13).
    let mut seen = std::collections::BTreeSet::new();
    for d in &report.degraded {
        let cause = sanitize::line(&d.cause);
        if seen.insert(cause.clone()) {
            lines(out, &format!("Could not read: {cause}"), width, "", "  ")?;
        }
    }
    if let Some(v) = &report.eso_version {
        writeln!(
            out,
            "ESO version (controller image tag): {}",
            sanitize::line(v)
        )?;
    }
    let t = &report.totals;
    writeln!(out)?;
    let totals = format!(
        "{} checks: {} ok, {} warning, {} error, {} skipped; findings: {} error, {} warning \
         (failing on: {}).",
        t.checks,
        t.ok,
        t.warning,
        t.error,
        t.skipped,
        t.error_findings,
        t.warning_findings,
        report.scope.fail_on.as_str()
    );
    lines(out, &totals, width, "", "  ")?;
    if !report.incomplete.is_empty() {
        let text = format!(
            "Incomplete: {} (a check that could not run is not a pass; --allow-partial accepts it).",
            sanitize::line(&report.incomplete.join("; "))
        );
        lines(out, &text, width, "", "  ")?;
    }
    if report.scope.cached {
        lines(out, super::CACHED_NOTE, width, "", "  ")?;
    }
    Ok(())
}

/// Writes `text` wrapped to `width` (see `render::wrap`).
fn lines(
    out: &mut impl Write,
    text: &str,
    width: usize,
    first: &str,
    rest: &str,
) -> io::Result<()> {
    for l in wrap::wrap(text, width, first, rest) {
        writeln!(out, "{l}")?;
    }
    Ok(())
}

/// Since when a root cause has been failing: its own record, else the earliest of what it
/// explains (a Vault policy has no Events; the ExternalSecret it breaks has).
fn since_of(f: &Finding) -> (Option<&str>, Option<u32>) {
    if f.failing_since.is_some() || f.occurrences.is_some() {
        return (f.failing_since.as_deref(), f.occurrences);
    }
    f.effects
        .iter()
        .filter(|e| e.failing_since.is_some())
        .min_by(|a, b| a.failing_since.cmp(&b.failing_since))
        .map(|e| (e.failing_since.as_deref(), e.occurrences))
        .unwrap_or((None, None))
}

pub fn write_finding(
    out: &mut impl Write,
    n: usize,
    f: &Finding,
    color: bool,
    width: usize,
    now: Timestamp,
) -> io::Result<()> {
    let field = f
        .field
        .as_deref()
        .map(|x| format!(" ({})", sanitize::line(x)))
        .unwrap_or_default();
    let severity = format!("[{}]", f.severity.as_str());
    let head = format!(
        "{severity} {} {}{field}",
        sanitize::line(&f.code),
        sanitize::line(&f.object)
    );
    writeln!(out)?;
    let number = format!("{n}. ");
    let mut head_lines = wrap::wrap(&head, width, &number, "   ");
    if color && let Some(first) = head_lines.first_mut() {
        // Colour the severity only, after wrapping: escape codes take no columns.
        *first = first.replacen(&severity, &paint(&severity, f.severity, color), 1);
    }
    for l in head_lines {
        writeln!(out, "{l}")?;
    }
    lines(out, &sanitize::line(&f.message), width, "   ", "   ")?;
    let (since, occurrences) = since_of(f);
    if let Some(words) = since::describe_at(since, occurrences, now) {
        let when = since.map(|t| format!(", since {t}")).unwrap_or_default();
        lines(out, &format!("{words}{when}"), width, "   ", "     ")?;
    }
    for e in &f.evidence {
        lines(
            out,
            &format!("evidence: {}", sanitize::line(e)),
            width,
            "   ",
            "     ",
        )?;
    }
    if !f.affects.is_empty() {
        let text = format!("affects: {}", sanitize::line(&f.affects.join(", ")));
        lines(out, &text, width, "   ", "     ")?;
    }
    // One line per command: a step may list several, joined by "; ".
    for step in f.next.iter().flat_map(|s| s.split("; ")) {
        for l in wrap::wrap_step(&sanitize::line(step), width, "   next: ", "         ") {
            writeln!(out, "{l}")?;
        }
    }
    if !f.effects.is_empty() {
        writeln!(out, "   explains:")?;
        for e in &f.effects {
            let text = format!(
                "{} {} {}: {}",
                e.severity.as_str(),
                sanitize::line(&e.code),
                sanitize::line(&e.object),
                wrap::cause_first_brief(&sanitize::line(&e.message))
            );
            let mut effect_lines = wrap::wrap(&text, width, "     - ", "       ");
            if color && let Some(first) = effect_lines.first_mut() {
                let sev = e.severity.as_str();
                *first = first.replacen(sev, &paint(sev, e.severity, color), 1);
            }
            for l in effect_lines {
                writeln!(out, "{l}")?;
            }
        }
    }
    Ok(())
}

/// JUnit as Jenkins, GitLab and GitHub's test reporters read it: one `<testsuite>` named after
/// the command, one `<testcase>` per check.
fn write_junit(out: &mut impl Write, report: &DoctorReport) -> io::Result<()> {
    let failed = |c: &Check| {
        c.findings
            .iter()
            .any(|f| f.severity >= report.scope.fail_on)
    };
    let failures = report.checks.iter().filter(|c| failed(c)).count();
    let skipped = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Skipped)
        .count();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="kubectl-eso doctor" tests="{}" failures="{failures}" errors="0" skipped="{skipped}">"#,
        report.checks.len()
    )?;
    writeln!(
        out,
        r#"  <testsuite name="kubectl-eso doctor" tests="{}" failures="{failures}" errors="0" skipped="{skipped}">"#,
        report.checks.len()
    )?;
    for c in &report.checks {
        writeln!(
            out,
            r#"    <testcase classname="kubectl-eso.doctor" name="{}">"#,
            xml(&c.title)
        )?;
        if let Some(why) = &c.skipped_because {
            writeln!(out, r#"      <skipped message="{}"/>"#, xml(why))?;
        }
        let lines: Vec<String> = c
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{} {} {}: {} (next: {})",
                    f.severity.as_str(),
                    f.code,
                    f.object,
                    f.message,
                    f.next.join("; ")
                )
            })
            .collect();
        if failed(c) {
            writeln!(
                out,
                r#"      <failure message="{}" type="{}">{}</failure>"#,
                xml(&format!("{} finding(s)", c.findings.len())),
                c.status.as_str(),
                xml(&lines.join("\n"))
            )?;
        } else if !lines.is_empty() {
            writeln!(
                out,
                "      <system-out>{}</system-out>",
                xml(&lines.join("\n"))
            )?;
        }
        writeln!(out, "    </testcase>")?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

/// Escapes for attribute and text content alike, and drops what XML 1.0 cannot carry at all.
fn xml(text: &str) -> String {
    let clean = sanitize::text(text);
    let mut out = String::with_capacity(clean.len());
    for c in clean.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::doctor::*;

    fn report(severity: Status) -> DoctorReport {
        let mut r = bare(severity);
        r.findings = r.checks.iter().flat_map(|c| c.findings.clone()).collect();
        r
    }

    fn bare(severity: Status) -> DoctorReport {
        DoctorReport {
            api_version: "kubectl-eso/v1".into(),
            kind: DOCTOR_REPORT_KIND.into(),
            eso_api_version: "external-secrets.io/v1".into(),
            eso_version: None,
            scope: DoctorScope {
                namespace: None,
                all_namespaces: true,
                selector: None,
                probe: true,
                stale_after: "2h".into(),
                fail_on: Status::Error,
                allow_partial: false,
                cached: false,
            },
            findings: vec![],
            checks: vec![
                Check {
                    id: CheckId::Stores,
                    title: "Stores".into(),
                    status: severity,
                    checked: 2,
                    skipped_because: None,
                    findings: vec![Finding::new(
                        "store-not-ready",
                        severity,
                        "SecretStore prod/<vault> & \"co\"".into(),
                        "not Ready: \u{1b}[31mboom".into(),
                        "kubectl describe secretstore vault -n prod".into(),
                    )],
                },
                Check {
                    id: CheckId::Providers,
                    title: "Providers".into(),
                    status: Status::Skipped,
                    checked: 0,
                    skipped_because: Some("--no-probe".into()),
                    findings: vec![],
                },
            ],
            totals: Totals::default(),
            degraded: vec![],
            incomplete: vec![],
        }
    }

    fn render(r: &DoctorReport, f: DoctorFormat) -> String {
        let mut out = Vec::new();
        let now = "2026-11-22T12:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        if let Err(e) = write_at(&mut out, r, f, 80, now) {
            panic!("{e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn junit_escapes_and_fails_only_at_fail_on() {
        let text = render(&report(Status::Error), DoctorFormat::Junit);
        assert!(
            text.contains("&lt;vault&gt; &amp; &quot;co&quot;"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "{text}");
        assert_eq!(text.matches("<failure ").count(), 1, "{text}");
        assert!(
            text.contains(r#"<skipped message="--no-probe"/>"#),
            "{text}"
        );

        let text = render(&report(Status::Warning), DoctorFormat::Junit);
        assert_eq!(text.matches("<failure ").count(), 0, "{text}");
        assert!(
            text.contains("<system-out>warning store-not-ready SecretStore"),
            "{text}"
        );
        let mut strict = report(Status::Warning);
        strict.scope.fail_on = Status::Warning;
        let text = render(&strict, DoctorFormat::Junit);
        assert_eq!(text.matches("<failure ").count(), 1, "{text}");
    }

    #[test]
    fn checklist_names_object_and_next_step() {
        let text = render(
            &report(Status::Error),
            DoctorFormat::Checklist { color: false },
        );
        // Issue 12: the root cause comes first, with its code, then the checklist once.
        assert!(text.starts_with("Root causes first"), "{text}");
        assert!(
            text.contains("1. [error] store-not-ready SecretStore prod/<vault>"),
            "{text}"
        );
        assert!(
            text.contains("next: kubectl describe secretstore"),
            "{text}"
        );
        assert!(text.contains("Providers skipped: --no-probe"), "{text}");
        assert_eq!(text.matches("not Ready: ").count(), 1, "said once: {text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }

    #[test]
    fn issue_13_an_unreadable_resource_is_said_once_and_another_is_still_said() {
        let mut r = report(Status::Error);
        let denied = |ns: &str, cause: &str| crate::model::scope::Degraded {
            resource: "events".into(),
            namespace: Some(ns.into()),
            cause: cause.into(),
        };
        r.degraded = vec![
            denied("prod", "events is forbidden in prod"),
            denied("prod", "events is forbidden in prod"),
            denied("netbox", "events is forbidden in netbox"),
        ];
        let text = render(&r, DoctorFormat::Checklist { color: false });
        assert_eq!(
            text.matches("Could not read: events is forbidden in prod")
                .count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.matches("Could not read: events is forbidden in netbox")
                .count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn issue_13_an_explained_sdk_error_is_brief_and_keeps_its_cause() {
        let mut r = report(Status::Error);
        let dump = "not Ready: error processing spec.data[0] (key: k), err: GET https://v/secrets/k/ \
                    -- RESPONSE 404: 404 Not Found ERROR CODE: SecretNotFound -- { \"error\": { \
                    \"code\": \"SecretNotFound\", \"message\": \"A secret with (name/id) k was not \
                    found in this key vault. If you recently deleted it, recover it.\" } } --";
        let effect = Finding::new(
            "es-not-ready",
            Status::Error,
            "ExternalSecret prod/app".into(),
            dump.into(),
            String::new(),
        );
        r.findings[0].effects.push(effect);
        let text = render(&r, DoctorFormat::Checklist { color: false });
        assert!(
            text.contains("- error es-not-ready ExternalSecret prod/app: [HTTP 404,"),
            "{text}"
        );
        assert!(text.contains("SecretNotFound]"), "{text}");
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("was not found in this key vault."), "{text}");
        // The dump is left out of the checklist; JSON keeps the whole text.
        assert!(
            !text.contains("recover it") && !text.contains('{'),
            "{text}"
        );
        let json = render(&r, DoctorFormat::Json);
        assert!(json.contains("recover it"), "{json}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
