//! The `describe-chain` report. By default a vertical report in the manner of `kubectl describe`
//! and `cmctl status certificate` (issue 13): the verdict first (root cause, since when, who is
//! affected, what to run next), then each link as a block with its state and evidence, wrapped
//! to the terminal's width (`render::wrap`). `wide` keeps the table of the six links followed by
//! the verdict and the per-link details (remote refs, credentials, provider keys, target keys,
//! consumers, provider calls); JSON / YAML print the same `ChainReport`. Every string here came
//! from the model, which holds no secret value.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use jiff::Timestamp;

use super::structured::{write_json, write_yaml};
use super::table::{cell, new_table, status_cell, trimmed_lines};
use super::wrap;
use super::{Format, RenderOptions};
use crate::analysis::since;
use crate::model::chain::{ChainReport, LinkState};
use crate::sanitize;

pub fn write(out: &mut impl Write, report: &ChainReport, opts: &RenderOptions) -> io::Result<()> {
    write_at(out, report, opts, wrap::width())
}

/// [`write`] at a given terminal width (tests; the vertical report wraps to it).
pub fn write_at(
    out: &mut impl Write,
    report: &ChainReport,
    opts: &RenderOptions,
    width: usize,
) -> io::Result<()> {
    match opts.format {
        Format::Json => write_json(out, report),
        Format::Yaml => write_yaml(out, report),
        Format::Wide => write_table(out, report, opts),
        Format::Table => write_vertical(out, report, opts, width),
    }
}

/// Label column of the verdict block: values start after it and continue under it.
const LABEL: usize = 10;

fn field(
    out: &mut impl Write,
    label: &str,
    value: &str,
    width: usize,
    indent: &str,
) -> io::Result<()> {
    let first = format!("{indent}{:<w$}", format!("{label}:"), w = LABEL);
    let rest = " ".repeat(indent.len() + LABEL);
    for l in wrap::wrap(&sanitize::line(value), width, &first, &rest) {
        writeln!(out, "{l}")?;
    }
    Ok(())
}

fn since_text(
    failing_since: Option<&str>,
    occurrences: Option<u32>,
    now: Timestamp,
) -> Option<String> {
    let words = since::describe_at(failing_since, occurrences, now)?;
    Some(match failing_since {
        Some(t) => format!("{words}, since {t}"),
        None => words,
    })
}

fn write_vertical(
    out: &mut impl Write,
    r: &ChainReport,
    opts: &RenderOptions,
    width: usize,
) -> io::Result<()> {
    let v = &r.verdict;
    let mut head = match (v.state, v.link) {
        (LinkState::Ok, _) => "healthy".to_string(),
        (state, Some(link)) => format!("{} link {}", link.as_str(), state.as_str()),
        (state, None) => state.as_str().to_string(),
    };
    if let Some(code) = &v.code {
        head.push_str(&format!(" ({code})"));
    }
    let head = if opts.color && v.state == LinkState::Broken {
        head.red().to_string()
    } else {
        head
    };
    // The colour codes are not counted: the verdict head is short and never wrapped.
    writeln!(out, "{:<w$}{head}", "Verdict:", w = LABEL)?;
    let cause = v.cause.strip_prefix("healthy: ").unwrap_or(&v.cause);
    field(out, "Cause", &wrap::cause_first(cause), width, "")?;
    if let Some(s) = since_text(r.failing_since.as_deref(), r.occurrences, opts.now) {
        field(out, "Since", &s, width, "")?;
    }
    if !v.impact.is_empty() {
        field(out, "Affected", &v.impact.join(", "), width, "")?;
    }
    let steps: Vec<&String> = v.next.iter().collect();
    for (i, n) in steps.iter().enumerate() {
        let first = if i == 0 {
            format!("{:<w$}", "Next:", w = LABEL)
        } else {
            " ".repeat(LABEL)
        };
        let rest = " ".repeat(LABEL + 4);
        for l in wrap::wrap_step(&sanitize::line(n), width, &first, &rest) {
            writeln!(out, "{l}")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "Chain:")?;
    for l in &r.links {
        let mut state = l.state.as_str().to_string();
        if let Some(s) = since::describe_at(l.failing_since.as_deref(), l.occurrences, opts.now) {
            state.push_str(&format!(", {s}"));
        }
        let painted = if opts.color && l.state == LinkState::Broken {
            state.red().to_string()
        } else {
            state
        };
        writeln!(out, "  {}: {painted}", l.link.as_str())?;
        for line in wrap::wrap(&sanitize::line(&l.summary), width, "    ", "      ") {
            writeln!(out, "{line}")?;
        }
        if let Some(e) = &l.error {
            let e = wrap::cause_first(&sanitize::line(e));
            for line in wrap::wrap(&e, width, "    Error: ", "      ") {
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(())
}

/// `-o wide`: one unwrapped row per link, the verdict, then every detail.
fn write_table(out: &mut impl Write, r: &ChainReport, opts: &RenderOptions) -> io::Result<()> {
    let mut t = new_table(&["LINK", "STATE", "DETAILS", "ERROR"], opts.color);
    for l in &r.links {
        let bad = matches!(l.state, LinkState::Broken);
        let error = sanitize::line(l.error.as_deref().unwrap_or(""));
        t.add_row(vec![
            cell(l.link.as_str()),
            status_cell(l.state.as_str(), bad, opts.color),
            cell(&l.summary),
            cell(&error),
        ]);
    }
    out.write_all(trimmed_lines(&t).as_bytes())?;
    write_details(out, r)?;
    writeln!(out)?;
    write_verdict(out, r, opts.color, opts.now)
}

fn write_verdict(
    out: &mut impl Write,
    r: &ChainReport,
    color: bool,
    now: Timestamp,
) -> io::Result<()> {
    let v = &r.verdict;
    let head = match (v.state, v.link) {
        (LinkState::Ok, _) => "Verdict: healthy".to_string(),
        (state, Some(link)) => format!("Verdict: {} link {}", link.as_str(), state.as_str()),
        (state, None) => format!("Verdict: {}", state.as_str()),
    };
    if color && v.state == LinkState::Broken {
        writeln!(out, "{}", head.red())?;
    } else {
        writeln!(out, "{head}")?;
    }
    writeln!(out, "  {}", sanitize::line(&v.cause))?;
    if let Some(s) = since_text(r.failing_since.as_deref(), r.occurrences, now) {
        writeln!(out, "  {s}")?;
    }
    if !v.impact.is_empty() {
        writeln!(out, "  affected: {}", sanitize::line(&v.impact.join(", ")))?;
    }
    if !v.next.is_empty() {
        writeln!(out, "Next:")?;
        for n in &v.next {
            writeln!(out, "  {}", sanitize::line(n))?;
        }
    }
    Ok(())
}

fn write_details(out: &mut impl Write, r: &ChainReport) -> io::Result<()> {
    let f = &r.facts;
    let line = |out: &mut dyn Write, s: String| writeln!(out, "  {}", sanitize::line(&s));
    writeln!(out)?;
    writeln!(out, "Remote references:")?;
    for rr in &f.external_secret.remote_refs {
        line(
            out,
            format!(
                "{}: key {}{}{}{}",
                rr.source,
                rr.key,
                rr.property
                    .as_deref()
                    .map(|p| format!(" property {p}"))
                    .unwrap_or_default(),
                rr.version
                    .as_deref()
                    .map(|v| format!(" version {v}"))
                    .unwrap_or_default(),
                rr.secret_key
                    .as_deref()
                    .map(|k| format!(" -> {k}"))
                    .unwrap_or_default()
            ),
        )?;
    }
    if !f.store.settings.is_empty() {
        writeln!(out, "Store settings:")?;
        for (k, v) in &f.store.settings {
            line(out, format!("{k}: {v}"))?;
        }
    }
    if !f.credentials.is_empty() {
        writeln!(out, "Credentials:")?;
        for c in &f.credentials {
            let state = match (c.exists, c.key_present) {
                (Some(false), _) => "missing".to_string(),
                (_, Some(false)) => "key missing".to_string(),
                (Some(true), _) => match c.size {
                    Some(n) => format!("present, {n} bytes"),
                    None => "present".to_string(),
                },
                _ => "unknown".to_string(),
            };
            let key = c
                .key
                .as_deref()
                .map(|k| format!("[{k}]"))
                .unwrap_or_default();
            line(out, format!("{}: {}{key} {state}", c.purpose, c.object))?;
        }
    }
    if f.provider.probed {
        writeln!(out, "Provider keys:")?;
        for k in &f.provider.keys {
            let mut parts = vec![k.path.clone()];
            if !k.capabilities.is_empty() {
                parts.push(format!("capabilities [{}]", k.capabilities.join(", ")));
            }
            for (name, v) in [
                ("exists", k.exists),
                ("readable", k.readable),
                ("enabled", k.enabled),
            ] {
                if let Some(v) = v {
                    parts.push(format!("{name} {}", if v { "yes" } else { "no" }));
                }
            }
            if let Some(v) = &k.current_version {
                parts.push(format!("version {v}"));
            }
            if let Some(u) = &k.updated {
                parts.push(format!("updated {u}"));
            }
            if let Some(e) = &k.expires {
                parts.push(format!("expires {e}"));
            }
            line(out, parts.join(", "))?;
        }
        writeln!(out, "Provider calls:")?;
        for c in &f.provider.calls {
            line(out, c.clone())?;
        }
    }
    if !f.target.keys.is_empty() {
        writeln!(out, "Target keys:")?;
        for k in &f.target.keys {
            let m = match k.matches_provider {
                Some(true) => "matches provider: yes",
                Some(false) => "matches provider: no",
                None => "not compared",
            };
            line(out, format!("{} ({} bytes), {m}", k.name, k.size))?;
        }
    }
    if !f.consumers.items.is_empty() {
        writeln!(out, "Consumers:")?;
        for c in &f.consumers.items {
            let mut s = format!(
                "{}/{} via {} {}",
                c.kind,
                c.name,
                c.uses.join(","),
                c.state.as_deref().unwrap_or("")
            );
            if c.started_before_change == Some(true) {
                s.push_str(" (started before the Secret changed)");
            }
            line(out, s)?;
            if let Some(source) = &c.log_source {
                line(out, format!("  log ({source}):"))?;
            }
            for l in &c.log_lines {
                line(out, format!("    {l}"))?;
            }
        }
    }
    if !f.external_secret.events.is_empty() {
        writeln!(out, "Events:")?;
        for e in &f.external_secret.events {
            line(
                out,
                format!("{} {} x{}: {}", e.type_, e.reason, e.count, e.message),
            )?;
        }
    }
    Ok(())
}
