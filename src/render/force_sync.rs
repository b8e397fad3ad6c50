//! The `force-sync` report (table with a summary, or JSON / YAML of the same `ForceSyncReport`)
//! and its flux-style progress lines for stderr (`► annotating`, `◎ waiting`, `✔ synced`,
//! `✗ failed`). Everything that came from the cluster is sanitized before it is printed.

use std::io::{self, Write};

use super::structured::{write_json, write_yaml};
use super::table::{cell, new_table, shorten_middle, status_cell, trimmed_lines};
use super::{Format, RenderOptions};
use crate::model::force_sync::{
    ExternalSecretResult, ForceSyncReport, OutcomeKind, RestartAction, RestartResult,
};
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
    // One hint, the objects it is for: five ExternalSecrets on one broken store get it once.
    let mut hints: Vec<(&str, Vec<String>)> = Vec::new();
    for r in &report.external_secrets {
        if let Some(hint) = &r.outcome.hint {
            let who = format!("{}/{}", r.namespace, r.name);
            match hints.iter_mut().find(|(h, _)| h == hint) {
                Some((_, whos)) => whos.push(who),
                None => hints.push((hint, vec![who])),
            }
        }
    }
    for (hint, whos) in &hints {
        writeln!(
            out,
            "hint: {}: {}",
            sanitize::line(&objects(whos)),
            sanitize::line(hint)
        )?;
    }
    writeln!(out, "{}", summary_line(report))
}

/// How many names a grouped line lists before it says "and N more".
const LISTED: usize = 5;

/// `prod/a`, or `3 ExternalSecrets (prod/a, prod/b, prod/c)`, or with more than five of them the
/// first five and "and N more".
pub fn objects(whos: &[String]) -> String {
    match whos {
        [one] => one.clone(),
        _ => {
            let mut listed = whos
                .iter()
                .take(LISTED)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if whos.len() > LISTED {
                listed.push_str(&format!(" and {} more", whos.len() - LISTED));
            }
            format!("{} ({listed})", plural(whos.len(), "ExternalSecret"))
        }
    }
}

fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{n} {noun}s"),
    }
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
        let count = |a: RestartAction| report.restarts.iter().filter(|r| r.action == a).count();
        let mut restarts = vec![match report.dry_run {
            true => format!(
                "{} would be restarted",
                plural(count(RestartAction::WouldRestart), "workload")
            ),
            false => format!("{} restarted", plural(s.restarted, "workload")),
        }];
        for (action, words) in [
            (
                RestartAction::SkippedUnchanged,
                "not restarted (the Secret did not change)",
            ),
            (RestartAction::LeftToReloader, "left to Reloader"),
        ] {
            let n = count(action);
            if n > 0 {
                restarts.push(format!("{n} {words}"));
            }
        }
        line.push_str(&format!("; {}", restarts.join(", ")));
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

/// One progress line for many ExternalSecrets that share an outcome and its message (issue 13:
/// five ExternalSecrets on a store that is not Ready are one line, not five).
pub fn outcome_group(results: &[&ExternalSecretResult]) -> String {
    match results {
        [] => String::new(),
        [one] => outcome(one),
        [first, ..] => {
            let whos: Vec<String> = results
                .iter()
                .map(|r| {
                    format!(
                        "{}/{}",
                        sanitize::line(&r.namespace),
                        sanitize::line(&r.name)
                    )
                })
                .collect();
            let who = objects(&whos);
            let msg = first
                .outcome
                .message
                .as_deref()
                .map(sanitize::line)
                .unwrap_or_default();
            match first.outcome.kind {
                OutcomeKind::WouldAnnotate => format!("► would annotate {who} (dry run)"),
                OutcomeKind::NotFound => format!("✗ not found: {who}"),
                kind if msg.is_empty() => format!("✗ {}: {who}", kind.as_str()),
                kind => format!("✗ {}: {who}: {msg}", kind.as_str()),
            }
        }
    }
}

/// `r` grouped by outcome and message, in the order each group first appears.
pub fn group_outcomes<'a>(
    results: impl IntoIterator<Item = &'a ExternalSecretResult>,
) -> Vec<Vec<&'a ExternalSecretResult>> {
    let mut groups: Vec<Vec<&ExternalSecretResult>> = Vec::new();
    for r in results {
        let same = |g: &&mut Vec<&ExternalSecretResult>| {
            g[0].outcome.kind == r.outcome.kind && g[0].outcome.message == r.outcome.message
        };
        match groups.iter_mut().find(|g| same(g)) {
            Some(g) => g.push(r),
            None => groups.push(vec![r]),
        }
    }
    groups
}

/// Dry-run restarts above the per-object limit: one line of totals per action.
pub fn restart_totals(actions: &[RestartAction]) -> Vec<String> {
    let mut seen: Vec<(RestartAction, usize)> = Vec::new();
    for a in actions {
        match seen.iter_mut().find(|(b, _)| b == a) {
            Some((_, n)) => *n += 1,
            None => seen.push((*a, 1)),
        }
    }
    seen.into_iter()
        .map(|(a, n)| match a {
            RestartAction::WouldRestart => {
                format!("► would restart {} (dry run)", plural(n, "workload"))
            }
            a => format!("◎ {}: {}", a.as_str(), plural(n, "workload")),
        })
        .collect()
}

pub fn restarting(r: &RestartResult) -> String {
    format!(
        "► restarting {} in {}",
        sanitize::line(&r.workload),
        sanitize::line(&r.namespace)
    )
}

pub fn restart_done(r: &RestartResult) -> String {
    let who = format!(
        "{} in {}",
        sanitize::line(&r.workload),
        sanitize::line(&r.namespace)
    );
    let msg = r.message.as_deref().map(sanitize::line).unwrap_or_default();
    match r.action {
        RestartAction::Restarted => format!("✔ rolled out {who}"),
        RestartAction::WouldRestart => {
            format!("► would restart {who} (dry run)")
        }
        a if a.is_problem() => format!("✗ {}: {who}: {msg}", a.as_str()),
        RestartAction::LeftToReloader if !msg.is_empty() => {
            format!("◎ {}: {who}: {msg}", RestartAction::LeftToReloader.as_str())
        }
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

    fn blocked(name: &str) -> ExternalSecretResult {
        ExternalSecretResult {
            namespace: "prod".into(),
            name: name.into(),
            store: Some("SecretStore/vault".into()),
            target: name.into(),
            annotation: None,
            outcome: Outcome {
                kind: OutcomeKind::CannotResync,
                message: Some("SecretStore/vault is not ready (InvalidProviderConfig)".into()),
                refresh_time: None,
                hint: Some(
                    "fix the store first: kubectl eso scope --store SecretStore/vault -A".into(),
                ),
            },
        }
    }

    fn restart(action: RestartAction) -> RestartResult {
        RestartResult {
            namespace: "prod".into(),
            workload: "deployment/web".into(),
            secrets: vec!["a".into()],
            uses: vec!["env".into()],
            action,
            message: None,
        }
    }

    /// Issue 13: five ExternalSecrets on one store that is not Ready printed five identical
    /// progress lines and five identical hints.
    #[test]
    fn issue_13_one_cause_is_said_once_for_all_its_objects() {
        let results: Vec<ExternalSecretResult> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|n| blocked(n))
            .collect();
        let groups = group_outcomes(&results);
        assert_eq!(groups.len(), 1);
        assert_eq!(
            outcome_group(&groups[0]),
            "✗ cannot resync: 6 ExternalSecrets (prod/a, prod/b, prod/c, prod/d, prod/e and 1 more): \
             SecretStore/vault is not ready (InvalidProviderConfig)"
        );
        let mut r = report();
        r.external_secrets = results;
        r.summary = crate::analysis::force_sync::summary(&r.external_secrets, &[]);
        let mut out = Vec::new();
        write(&mut out, &r, &opts(Format::Table))
            .map_err(|e| e.to_string())
            .ok();
        let s = String::from_utf8_lossy(&out);
        assert_eq!(s.matches("hint:").count(), 1, "{s}");
        assert!(s.contains("hint: 6 ExternalSecrets (prod/a, prod/b"), "{s}");
        // One object keeps the short form.
        assert_eq!(
            outcome_group(&[&r.external_secrets[0]]),
            outcome(&r.external_secrets[0])
        );
    }

    /// Issue 13: "1 workloads restarted"; a dry run said "0 restarted".
    #[test]
    fn issue_13_restart_totals_count_right_and_say_what_a_dry_run_would_do() {
        let mut r = report();
        r.restarts = vec![restart(RestartAction::Restarted)];
        r.summary = crate::analysis::force_sync::summary(&r.external_secrets, &r.restarts);
        assert!(
            summary_line(&r).ends_with("; 1 workload restarted"),
            "{}",
            summary_line(&r)
        );
        r.restarts.push(restart(RestartAction::SkippedUnchanged));
        r.restarts.push(restart(RestartAction::LeftToReloader));
        r.summary = crate::analysis::force_sync::summary(&r.external_secrets, &r.restarts);
        assert!(
            summary_line(&r).ends_with(
                "; 1 workload restarted, 1 not restarted (the Secret did not change), 1 left to Reloader"
            ),
            "{}",
            summary_line(&r)
        );
        r.dry_run = true;
        r.restarts = vec![restart(RestartAction::WouldRestart)];
        r.summary = crate::analysis::force_sync::summary(&r.external_secrets, &r.restarts);
        let line = summary_line(&r);
        assert!(line.ends_with("; 1 workload would be restarted"), "{line}");
        assert_eq!(
            restart_totals(&[
                RestartAction::WouldRestart,
                RestartAction::SkippedRefreshesItself,
                RestartAction::WouldRestart
            ]),
            vec![
                "► would restart 2 workloads (dry run)".to_string(),
                "◎ skipped: volume refreshes itself: 1 workload".to_string()
            ]
        );
    }
}
