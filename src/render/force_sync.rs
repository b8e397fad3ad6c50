//! The `force-sync` report (table with a summary, or JSON / YAML of the same `ForceSyncReport`)
//! and its flux-style progress lines for stderr (`► annotating`, `◎ waiting`, `✔ synced`,
//! `✗ failed`). Everything that came from the cluster is sanitized before it is printed.

use std::io::{self, Write};

use super::structured::{write_json, write_yaml};
use super::table::{cell, new_table, shorten_middle, status_cell, trimmed_lines};
use super::{Format, RenderOptions};
use crate::model::force_sync::{ExternalSecretResult, ForceSyncReport, OutcomeKind, RestartResult};
use crate::sanitize;

const MESSAGE_WIDTH: usize = 100;

pub fn write(
    out: &mut impl Write,
    report: &ForceSyncReport,
    opts: &RenderOptions,
) -> io::Result<()> {
    match opts.format {
        Format::Json => write_json(out, report),
        Format::Yaml => write_yaml(out, report),
        Format::Table | Format::Wide => write_table(out, report, opts),
    }
}

fn write_table(
    out: &mut impl Write,
    report: &ForceSyncReport,
    opts: &RenderOptions,
) -> io::Result<()> {
    let wide = opts.format == Format::Wide;
    if report.external_secrets.is_empty() {
        writeln!(out, "No ExternalSecrets selected.")?;
        return Ok(());
    }
    let mut t = new_table(
        &[
            "NAMESPACE",
            "NAME",
            "STORE",
            "OUTCOME",
            "REFRESHED",
            "MESSAGE",
        ],
        opts.color,
    );
    for r in &report.external_secrets {
        let message = r.outcome.message.as_deref().unwrap_or("");
        let message = if wide {
            sanitize::line(message)
        } else {
            shorten_middle(&sanitize::line(message), MESSAGE_WIDTH)
        };
        t.add_row(vec![
            cell(&r.namespace),
            cell(&r.name),
            cell(r.store.as_deref().unwrap_or("<none>")),
            status_cell(
                r.outcome.kind.as_str(),
                r.outcome.kind.is_problem(),
                opts.color,
            ),
            cell(r.outcome.refresh_time.as_deref().unwrap_or("")),
            cell(&message),
        ]);
    }
    out.write_all(trimmed_lines(&t).as_bytes())?;
    if !report.restarts.is_empty() {
        writeln!(out)?;
        let mut t = new_table(
            &["NAMESPACE", "WORKLOAD", "SECRETS", "USES", "ACTION"],
            opts.color,
        );
        for r in &report.restarts {
            t.add_row(vec![
                cell(&r.namespace),
                cell(&r.workload),
                cell(&r.secrets.join(",")),
                cell(&r.uses.join(",")),
                status_cell(r.action.as_str(), r.action.is_problem(), opts.color),
            ]);
        }
        out.write_all(trimmed_lines(&t).as_bytes())?;
    }
    writeln!(out)?;
    for c in report.restarts.iter().filter_map(|r| r.log_check.as_ref()) {
        writeln!(out, "{}", log_check(c))?;
    }
    for r in &report.external_secrets {
        if let Some(hint) = &r.outcome.hint {
            writeln!(
                out,
                "hint: {}/{}: {}",
                sanitize::line(&r.namespace),
                sanitize::line(&r.name),
                sanitize::line(hint)
            )?;
        }
    }
    writeln!(out, "{}", summary_line(report))
}

pub fn summary_line(report: &ForceSyncReport) -> String {
    let s = &report.summary;
    let mut parts = Vec::new();
    if report.dry_run {
        parts.push(format!(
            "{} would be annotated",
            report
                .external_secrets
                .iter()
                .filter(|r| r.outcome.kind == OutcomeKind::WouldAnnotate)
                .count()
        ));
    } else if report.wait {
        parts.push(format!("{} synced", s.synced));
        parts.push(format!("{} failed", s.failed));
        parts.push(format!("{} timed out", s.timed_out));
    }
    parts.push(format!("{} cannot resync", s.cannot_resync));
    if s.not_found > 0 {
        parts.push(format!("{} not found", s.not_found));
    }
    let mut line = format!("{} selected: {}", s.selected, parts.join(", "));
    if !report.restarts.is_empty() {
        line.push_str(&format!("; {} workloads restarted", s.restarted));
    }
    line
}

/// Progress lines, one per step, as `flux reconcile` prints them.
pub fn annotating(r: &ExternalSecretResult, value: &str) -> String {
    format!(
        "► annotating ExternalSecret {}/{} with force-sync={value}",
        sanitize::line(&r.namespace),
        sanitize::line(&r.name)
    )
}

pub fn annotating_parent(parent: &str, children: usize, value: &str) -> String {
    format!(
        "► annotating ClusterExternalSecret {} with force-sync={value} (for its {children} ExternalSecrets)",
        sanitize::line(parent)
    )
}

pub fn annotating_many(count: usize, value: &str) -> String {
    format!("► annotating {count} ExternalSecrets with force-sync={value}")
}

pub fn waiting(count: usize, timeout_secs: u64) -> String {
    format!("◎ waiting for {count} ExternalSecret(s) to be reconciled (timeout {timeout_secs}s)")
}

pub fn outcome(r: &ExternalSecretResult) -> String {
    let who = format!(
        "{}/{}",
        sanitize::line(&r.namespace),
        sanitize::line(&r.name)
    );
    let msg = r
        .outcome
        .message
        .as_deref()
        .map(sanitize::line)
        .unwrap_or_default();
    match r.outcome.kind {
        OutcomeKind::Synced => format!(
            "✔ synced {who} at {}",
            r.outcome.refresh_time.as_deref().unwrap_or("<unknown>")
        ),
        OutcomeKind::Failed => format!("✗ failed: {who}: {msg}"),
        OutcomeKind::TimedOut => format!("✗ timed out: {who}: {msg}"),
        OutcomeKind::CannotResync => format!("✗ cannot resync {who}: {msg}"),
        OutcomeKind::NotFound => format!("✗ not found: {who}"),
        OutcomeKind::WouldAnnotate => format!("► would annotate {who} (dry run)"),
        OutcomeKind::Annotated => format!("✔ annotated {who} (not waiting)"),
    }
}

pub fn restarting(r: &RestartResult) -> String {
    format!(
        "► restarting {} in {}",
        sanitize::line(&r.workload),
        sanitize::line(&r.namespace)
    )
}

/// Issue 17: whether the restarted workload's new pods still log what the old ones did.
pub fn log_check(c: &crate::model::force_sync::LogCheck) -> String {
    let mark = if c.verified { "✔" } else { "✗" };
    format!("{mark} {}", sanitize::line(&c.message))
}

pub fn restart_done(r: &RestartResult) -> String {
    let who = format!(
        "{} in {}",
        sanitize::line(&r.workload),
        sanitize::line(&r.namespace)
    );
    let msg = r.message.as_deref().map(sanitize::line).unwrap_or_default();
    match r.action {
        crate::model::force_sync::RestartAction::Restarted => format!("✔ rolled out {who}"),
        crate::model::force_sync::RestartAction::WouldRestart => {
            format!("► would restart {who} (dry run)")
        }
        a if a.is_problem() => format!("✗ {}: {who}: {msg}", a.as_str()),
        a => format!("◎ {}: {who}", a.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::force_sync::*;

    fn report() -> ForceSyncReport {
        let results = vec![
            ExternalSecretResult {
                namespace: "prod".into(),
                name: "a".into(),
                store: Some("SecretStore/vault".into()),
                target: "a".into(),
                annotation: Some("1".into()),
                outcome: Outcome {
                    kind: OutcomeKind::Synced,
                    message: None,
                    refresh_time: Some("2026-11-22T12:00:00Z".into()),
                    hint: None,
                },
            },
            ExternalSecretResult {
                namespace: "prod".into(),
                name: "b\u{1b}[31m".into(),
                store: None,
                target: "b".into(),
                annotation: None,
                outcome: Outcome {
                    kind: OutcomeKind::CannotResync,
                    message: Some("refreshPolicy CreatedOnce".into()),
                    refresh_time: None,
                    hint: Some("do something".into()),
                },
            },
        ];
        let summary = crate::analysis::force_sync::summary(&results, &[]);
        ForceSyncReport {
            api_version: "kubectl-eso/v1".into(),
            kind: FORCE_SYNC_REPORT_KIND.into(),
            dry_run: false,
            wait: true,
            timeout_seconds: 60,
            restart: RestartMode::None,
            external_secrets: results,
            restarts: vec![],
            summary,
        }
    }

    fn opts(format: Format) -> RenderOptions {
        RenderOptions {
            format,
            color: false,
            now: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn table_shows_outcomes_hints_and_summary_without_escapes() {
        let mut out = Vec::new();
        write(&mut out, &report(), &opts(Format::Table))
            .map_err(|e| e.to_string())
            .ok();
        let s = String::from_utf8_lossy(&out);
        assert!(!s.contains('\u{1b}'), "{s}");
        assert!(
            s.contains("synced") && s.contains("2026-11-22T12:00:00Z"),
            "{s}"
        );
        assert!(s.contains("hint: prod/b: do something"), "{s}");
        assert!(
            s.contains("2 selected: 1 synced, 0 failed, 0 timed out, 1 cannot resync"),
            "{s}"
        );
    }

    #[test]
    fn json_lists_each_outcome_flat() {
        let mut out = Vec::new();
        write(&mut out, &report(), &opts(Format::Json))
            .map_err(|e| e.to_string())
            .ok();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v["kind"], "ForceSyncReport");
        assert_eq!(v["externalSecrets"][0]["outcome"], "synced");
        assert_eq!(v["externalSecrets"][1]["outcome"], "cannot-resync");
        assert_eq!(v["summary"]["cannotResync"], 1);
    }

    #[test]
    fn progress_lines_read_like_flux() {
        let r = report();
        assert_eq!(
            outcome(&r.external_secrets[0]),
            "✔ synced prod/a at 2026-11-22T12:00:00Z"
        );
        assert!(outcome(&r.external_secrets[1]).starts_with("✗ cannot resync prod/b:"));
        assert_eq!(
            annotating(&r.external_secrets[0], "17"),
            "► annotating ExternalSecret prod/a with force-sync=17"
        );
    }
}
