//! The `describe-chain` report: a table of the six links (state, what was found, the error on the
//! link) followed by the verdict, or the same `ChainReport` as JSON / YAML. `wide` adds the
//! per-link details (remote refs, credentials, provider keys, target keys, consumers, provider
//! calls). Every string here came from the model, which holds no secret value.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use super::structured::{write_json, write_yaml};
use super::table::{cell, new_table, shorten_middle, status_cell, trimmed_lines};
use super::{Format, RenderOptions};
use crate::model::chain::{ChainReport, LinkState};
use crate::sanitize;

const ERROR_WIDTH: usize = 110;

pub fn write(out: &mut impl Write, report: &ChainReport, opts: &RenderOptions) -> io::Result<()> {
    match opts.format {
        Format::Json => write_json(out, report),
        Format::Yaml => write_yaml(out, report),
        Format::Table | Format::Wide => write_table(out, report, opts),
    }
}

fn write_table(out: &mut impl Write, r: &ChainReport, opts: &RenderOptions) -> io::Result<()> {
    let wide = opts.format == Format::Wide;
    let mut t = new_table(&["LINK", "STATE", "DETAILS", "ERROR"], opts.color);
    for l in &r.links {
        let bad = matches!(l.state, LinkState::Broken);
        let error = l.error.as_deref().unwrap_or("");
        let error = if wide {
            sanitize::line(error)
        } else {
            shorten_middle(&sanitize::line(error), ERROR_WIDTH)
        };
        t.add_row(vec![
            cell(l.link.as_str()),
            status_cell(l.state.as_str(), bad, opts.color),
            cell(&l.summary),
            cell(&error),
        ]);
    }
    out.write_all(trimmed_lines(&t).as_bytes())?;
    if wide {
        write_details(out, r)?;
    }
    writeln!(out)?;
    write_verdict(out, r, opts.color)
}

fn write_verdict(out: &mut impl Write, r: &ChainReport, color: bool) -> io::Result<()> {
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
