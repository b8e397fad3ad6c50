//! The `scope` report as a kubectl-style table with a summary and verdict under it, or as JSON /
//! YAML of the same `ScopeReport`.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use super::age::age;
use super::structured::{write_json, write_yaml};
use super::table::{cell, headline, new_table, shorten_middle, status_cell, trimmed_lines};
use super::{Format, RenderOptions};
use crate::model::scope::{
    ExternalSecretRow, ScopeReport, TargetState, VerdictLevel, WorkloadReport,
};
use crate::sanitize;

const ERROR_WIDTH: usize = 90;
const STORE_ERROR_WIDTH: usize = 200;

/// kubectl's list habits for scripts (issue 13): `-o name` and `--no-headers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Listing {
    pub names_only: bool,
    pub no_headers: bool,
}

/// `write`, or one of kubectl's script-friendly listings.
pub fn write_listing(
    out: &mut impl Write,
    report: &ScopeReport,
    opts: &RenderOptions,
    listing: Listing,
) -> io::Result<()> {
    if listing.names_only {
        for r in &report.external_secrets {
            writeln!(
                out,
                "externalsecret.external-secrets.io/{}",
                sanitize::line(&r.name)
            )?;
        }
        return Ok(());
    }
    if listing.no_headers && matches!(opts.format, Format::Table | Format::Wide) {
        if !report.external_secrets.is_empty() {
            let table = rows_table(report, opts, opts.format == Format::Wide);
            for line in table.lines().skip(1) {
                writeln!(out, "{line}")?;
            }
        }
        return Ok(());
    }
    write(out, report, opts)
}

pub fn write(out: &mut impl Write, report: &ScopeReport, opts: &RenderOptions) -> io::Result<()> {
    match opts.format {
        Format::Json => write_json(out, report),
        Format::Yaml => write_yaml(out, report),
        Format::Table | Format::Wide => write_table(out, report, opts),
    }
}

fn write_table(out: &mut impl Write, report: &ScopeReport, opts: &RenderOptions) -> io::Result<()> {
    let wide = opts.format == Format::Wide;
    if let Some(w) = &report.workload {
        write_workload(out, w)?;
    }
    // With nothing in scope at all, the verdict says so, once (issue 13).
    let nothing_here = report.summary.external_secrets == 0;
    if report.external_secrets.is_empty() && !nothing_here {
        let where_ = match &report.scope.namespace {
            Some(ns) => format!(" in namespace {}", sanitize::line(ns)),
            None => String::new(),
        };
        let what = if report.scope.failing_only {
            "failing ExternalSecrets"
        } else {
            "ExternalSecrets"
        };
        writeln!(out, "No {what} found{where_}.")?;
    } else if !nothing_here {
        out.write_all(rows_table(report, opts, wide).as_bytes())?;
    }
    if !nothing_here {
        writeln!(out)?;
    }
    write_summary(out, report, opts.color, wide)?;
    if report.scope.cached {
        writeln!(out, "{}", super::CACHED_NOTE)?;
    }
    Ok(())
}

fn rows_table(report: &ScopeReport, opts: &RenderOptions, wide: bool) -> String {
    let all_ns = report.scope.all_namespaces;
    let mut headers = Vec::new();
    if all_ns {
        headers.push("NAMESPACE");
    }
    headers.extend([
        "NAME",
        "STORE",
        "READY",
        "REASON",
        "FAILING",
        "LAST SYNC",
        "REFRESH",
        "TARGET",
    ]);
    if wide {
        headers.extend(["SECRET", "OWNER"]);
    }
    headers.push("ERROR");
    let mut t = new_table(&headers, opts.color);
    for r in &report.external_secrets {
        let mut cells = Vec::new();
        if all_ns {
            cells.push(cell(&r.namespace));
        }
        cells.push(cell(&r.name));
        cells.push(cell(
            &r.store
                .as_ref()
                .map(|s| s.short())
                .unwrap_or_else(|| "<none>".into()),
        ));
        cells.push(status_cell(
            &r.ready.status,
            r.ready.status != "True",
            opts.color,
        ));
        cells.push(cell(r.ready.reason.as_deref().unwrap_or("")));
        cells.push(cell(&failing_for(r, opts.now)));
        cells.push(cell(
            &r.last_sync
                .as_deref()
                .map(|t| age(t, opts.now))
                .unwrap_or_else(|| "<never>".into()),
        ));
        cells.push(cell(r.refresh_interval.as_deref().unwrap_or("")));
        let target_bad = matches!(r.target.state, TargetState::Missing | TargetState::Stale);
        cells.push(status_cell(r.target.state.as_str(), target_bad, opts.color));
        if wide {
            cells.push(cell(&r.target.name));
            cells.push(cell(
                &r.owned_by
                    .as_ref()
                    .map(|o| format!("ClusterExternalSecret/{o}"))
                    .unwrap_or_default(),
            ));
        }
        cells.push(cell(&if wide {
            error_text(r, false)
        } else {
            // The cause first, the SDK's dump left out, and only the text after the codes cut:
            // cutting the middle kept Key Vault's closing dashes and lost its SecretNotFound
            // (issue 13).
            let text = error_text(r, true);
            let (codes, rest) = text.split_at(code_prefix(&text).len());
            let room = ERROR_WIDTH.saturating_sub(codes.chars().count());
            format!("{codes}{}", shorten_middle(rest, room))
        }));
        t.add_row(cells);
    }
    trimmed_lines(&t)
}

/// The leading `[code] ` groups, which the cell is never cut in.
fn code_prefix(text: &str) -> &str {
    let mut rest = text;
    while rest.starts_with('[')
        && let Some(end) = rest.find("] ")
    {
        rest = &rest[end + 2..];
    }
    &text[..text.len() - rest.len()]
}

/// Issue 13: how long and how often, `3h12m (x17)`; empty for a row that is not failing.
fn failing_for(r: &ExternalSecretRow, now: jiff::Timestamp) -> String {
    if !r.failing {
        return String::new();
    }
    crate::analysis::since::describe_at(r.failing_since.as_deref(), r.occurrences, now)
        .map(|s| s.trim_start_matches("failing for ").to_string())
        .unwrap_or_else(|| "<unknown>".into())
}

/// The Event's message when there is one; ESO's fixed condition message otherwise. `brief`:
/// the provider's cause in front and the SDK's dump left out (`render::wrap::brief`).
fn error_text(r: &ExternalSecretRow, brief: bool) -> String {
    if !r.failing {
        return String::new();
    }
    let error = r
        .error
        .clone()
        .or_else(|| r.ready.message.clone())
        .unwrap_or_default();
    let error = if brief {
        super::wrap::cause_first_brief(&sanitize::line(&error))
    } else {
        error
    };
    // The root cause's code leads, the same doctor and describe-chain name (issue 12).
    match &r.root_cause {
        Some(root) => format!("[{}] {error}", root.code),
        None => error,
    }
}

fn write_workload(out: &mut impl Write, w: &WorkloadReport) -> io::Result<()> {
    writeln!(
        out,
        "{} in namespace {} uses:",
        sanitize::line(&w.workload.to_string()),
        sanitize::line(&w.namespace)
    )?;
    if w.secrets.is_empty() {
        writeln!(out, "  no Secrets")?;
    }
    for s in &w.secrets {
        let from = if s.external_secrets.is_empty() {
            "not produced by any ExternalSecret".to_string()
        } else {
            format!("from ExternalSecret {}", s.external_secrets.join(", "))
        };
        writeln!(
            out,
            "  Secret {} ({}) {}",
            sanitize::line(&s.name),
            s.uses.join(", "),
            sanitize::line(&from)
        )?;
    }
    writeln!(out)
}

fn write_summary(
    out: &mut impl Write,
    report: &ScopeReport,
    color: bool,
    wide: bool,
) -> io::Result<()> {
    let s = &report.summary;
    if s.external_secrets > 0 {
        writeln!(
            out,
            "Failing: {} of {} ExternalSecrets",
            s.failing, s.external_secrets
        )?;
    }
    if s.failing > 0 {
        writeln!(out, "By store:")?;
        for st in report.stores.iter().filter(|st| st.failing > 0) {
            let state = match (st.found, st.ready.status.as_str()) {
                (Some(false), _) => "not found".to_string(),
                (None, _) => "state unknown".to_string(),
                (_, "True") => "ready".to_string(),
                (_, status) => format!(
                    "not ready: {}",
                    st.ready.reason.as_deref().unwrap_or(if status == "False" {
                        "no reason"
                    } else {
                        "Unknown"
                    })
                ),
            };
            writeln!(
                out,
                "  {}: {} of {} failing ({})",
                sanitize::line(&st.store.to_string()),
                st.failing,
                st.external_secrets,
                sanitize::line(&state)
            )?;
            if let Some(error) = &st.error {
                // SDK errors run to kilobytes (Azure dumps the whole token response); wide keeps all.
                let error = sanitize::line(error);
                let error = if wide {
                    error
                } else {
                    headline(&error, STORE_ERROR_WIDTH)
                };
                writeln!(out, "    {error}")?;
            }
        }
        for c in s
            .by_store
            .iter()
            .filter(|c| c.store.is_none() && c.failing > 0)
        {
            writeln!(out, "  <no store>: {} of {} failing", c.failing, c.total)?;
        }
        writeln!(out, "By namespace:")?;
        for n in s.by_namespace.iter().filter(|n| n.failing > 0) {
            writeln!(
                out,
                "  {}: {} of {} failing",
                sanitize::line(&n.namespace),
                n.failing,
                n.total
            )?;
        }
    }
    if !report.cluster_external_secrets.is_empty() {
        writeln!(out, "ClusterExternalSecrets:")?;
        for c in &report.cluster_external_secrets {
            let mut failed_ns = String::new();
            if !c.provisioned_namespaces.is_empty() {
                failed_ns.push_str(&format!(
                    "; provisioned in {}",
                    c.provisioned_namespaces.join(", ")
                ));
            }
            if !c.failed_namespaces.is_empty() {
                failed_ns.push_str(&format!(
                    "; could not create in {}",
                    c.failed_namespaces.join(", ")
                ));
            }
            writeln!(
                out,
                "  {}: {} ExternalSecrets, {} failing{}",
                sanitize::line(&c.name),
                c.external_secrets.len(),
                c.failing,
                sanitize::line(&failed_ns)
            )?;
            for es in &c.external_secrets {
                writeln!(out, "    {}", sanitize::line(es))?;
            }
        }
    }
    if !report.push_secrets.is_empty() {
        writeln!(out, "PushSecrets:")?;
        for p in &report.push_secrets {
            writeln!(
                out,
                "  {}/{}: Ready={}{}, Secret {} -> {}{}",
                sanitize::line(&p.namespace),
                sanitize::line(&p.name),
                sanitize::line(&p.ready),
                p.reason
                    .as_deref()
                    .map(|r| format!(" ({})", sanitize::line(r)))
                    .unwrap_or_default(),
                sanitize::line(p.source.as_deref().unwrap_or("(none)")),
                sanitize::line(&p.stores.join(", ")),
                p.root_cause
                    .as_ref()
                    .map(|r| format!(
                        "; {}: {}",
                        sanitize::line(&r.code),
                        sanitize::line(&r.cause)
                    ))
                    .unwrap_or_default()
            )?;
        }
    }
    for c in &report.cluster_push_secrets {
        let failed: Vec<String> = c
            .failed_namespaces
            .iter()
            .map(|(ns, reason)| match reason {
                Some(r) => format!("{ns} ({r})"),
                None => ns.clone(),
            })
            .collect();
        writeln!(
            out,
            "ClusterPushSecret {}: provisioned in {}{}",
            sanitize::line(&c.name),
            sanitize::line(&if c.provisioned_namespaces.is_empty() {
                "(none)".to_string()
            } else {
                c.provisioned_namespaces.join(", ")
            }),
            if failed.is_empty() {
                String::new()
            } else {
                format!(
                    "; could not create in {}",
                    sanitize::line(&failed.join(", "))
                )
            }
        )?;
    }
    for d in &report.degraded {
        writeln!(out, "Not checked: {}", sanitize::line(&d.cause))?;
    }
    writeln!(out, "Verdict:")?;
    for v in &report.verdicts {
        let text = sanitize::line(&v.message);
        if color {
            match v.level {
                VerdictLevel::Store => writeln!(out, "  {}", text.red().bold())?,
                VerdictLevel::App => writeln!(out, "  {}", text.yellow())?,
                VerdictLevel::Healthy => writeln!(out, "  {}", text.green())?,
            }
        } else {
            writeln!(out, "  {text}")?;
        }
    }
    if !report.next.is_empty() {
        writeln!(out, "Next:")?;
        for n in &report.next {
            writeln!(out, "  {}", sanitize::line(n))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_13_the_codes_in_front_of_an_error_are_found_whole() {
        let text = "[es-not-ready] [HTTP 404, SecretNotFound] error processing spec.data[0]";
        assert_eq!(
            code_prefix(text),
            "[es-not-ready] [HTTP 404, SecretNotFound] "
        );
        // Near misses: no codes, or a bracket that is part of the text.
        assert_eq!(code_prefix("error processing spec.data[0]"), "");
        assert_eq!(code_prefix("[unclosed"), "");
    }
}
