//! The verify-regcred report as kubectl-style tables with a verdict line, or as JSON / YAML of
//! the same `VerifyRegcredReport`. Every string that came from outside goes through `cell` or
//! `sanitize::line` before it reaches the terminal.

use std::io::{self, Write};

use super::VerifyRegcredReport;
use crate::provider::registry::{Outcome, Severity};
use crate::render::structured::{write_json, write_yaml};
use crate::render::table::{cell, new_table, status_cell, trimmed_lines, truncate};
use crate::render::{Format, RenderOptions};

const MESSAGE_WIDTH: usize = 70;

pub fn write(
    out: &mut impl Write,
    report: &VerifyRegcredReport,
    opts: &RenderOptions,
) -> io::Result<()> {
    match opts.format {
        Format::Json => write_json(out, report),
        Format::Yaml => write_yaml(out, report),
        Format::Table | Format::Wide => write_table(out, report, opts),
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Unauthorized => "unauthorized",
        Outcome::Denied => "denied",
        Outcome::NotFound => "not found",
        Outcome::Unreachable => "unreachable",
        Outcome::TlsError => "tls error",
        Outcome::UnexpectedResponse => "unexpected response",
        Outcome::InvalidEntry => "invalid entry",
        Outcome::NotChecked => "not checked",
        Outcome::NoEntry => "no entry",
        Outcome::InvalidImage => "invalid image",
    }
}

fn write_table(
    out: &mut impl Write,
    report: &VerifyRegcredReport,
    opts: &RenderOptions,
) -> io::Result<()> {
    let wide = opts.format == Format::Wide;
    let msg = |text: &str| {
        if wide {
            text.to_string()
        } else {
            truncate(text, MESSAGE_WIDTH)
        }
    };
    let from = match &report.external_secret {
        Some(es) => format!(" (target of ExternalSecret {})", crate::sanitize::line(es)),
        None => String::new(),
    };
    writeln!(
        out,
        "Secret {}/{}{from}, type {}",
        crate::sanitize::line(&report.namespace),
        crate::sanitize::line(&report.secret),
        crate::sanitize::line(&report.secret_type)
    )?;
    writeln!(out)?;
    if let Some(error) = &report.payload_error {
        writeln!(out, "Payload unreadable: {}", crate::sanitize::line(error))?;
    } else if report.registries.is_empty() {
        writeln!(out, "No registries in the pull secret.")?;
    } else {
        let headers: &[&str] = if wide {
            &["REGISTRY", "HOST", "USERNAME", "RESULT", "MESSAGE"]
        } else {
            &["REGISTRY", "USERNAME", "RESULT", "MESSAGE"]
        };
        let mut t = new_table(headers, opts.color);
        for r in &report.registries {
            let mut row = vec![cell(&r.registry)];
            if wide {
                row.push(cell(&r.host));
            }
            row.extend([
                cell(r.username.as_deref().unwrap_or("<none>")),
                status_cell(
                    outcome_word(r.outcome),
                    r.outcome != Outcome::Ok,
                    opts.color,
                ),
                cell(&msg(&r.message)),
            ]);
            t.add_row(row);
        }
        out.write_all(trimmed_lines(&t).as_bytes())?;
    }
    if !report.images.is_empty() {
        writeln!(out)?;
        let mut t = new_table(&["IMAGE", "ENTRY", "RESULT", "MESSAGE"], opts.color);
        for i in &report.images {
            t.add_row(vec![
                cell(&i.image),
                cell(i.entry.as_deref().unwrap_or("<none>")),
                status_cell(
                    outcome_word(i.outcome),
                    i.outcome != Outcome::Ok,
                    opts.color,
                ),
                cell(&msg(&i.message)),
            ]);
        }
        out.write_all(trimmed_lines(&t).as_bytes())?;
    }
    if !report.stuck_pods.is_empty() {
        writeln!(out)?;
        writeln!(out, "Pods using this Secret that cannot pull their image:")?;
        let headers: &[&str] = if wide {
            &["POD", "CONTAINER", "IMAGE", "REASON", "MESSAGE"]
        } else {
            &["POD", "CONTAINER", "REASON", "MESSAGE"]
        };
        let mut t = new_table(headers, opts.color);
        for p in &report.stuck_pods {
            let mut row = vec![cell(&p.pod), cell(&p.container)];
            if wide {
                row.push(cell(&p.image));
            }
            row.extend([
                status_cell(&p.reason, true, opts.color),
                cell(&msg(&p.message)),
            ]);
            t.add_row(row);
        }
        out.write_all(trimmed_lines(&t).as_bytes())?;
    }
    if let Some(error) = &report.pods_error {
        writeln!(out)?;
        writeln!(out, "Pods not checked: {}", crate::sanitize::line(error))?;
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
        writeln!(out, "Findings in the payload:")?;
        for f in &report.findings {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            writeln!(out, "  {level}: {}", crate::sanitize::line(&f.message))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", verdict(report))
}

fn verdict(report: &VerifyRegcredReport) -> String {
    if report.ok {
        return format!(
            "OK: every registry in {} accepts its credentials",
            crate::sanitize::line(&report.secret)
        );
    }
    let failed_registries = report
        .registries
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Ok | Outcome::NotChecked))
        .count();
    let failed_images = report
        .images
        .iter()
        .filter(|i| i.outcome != Outcome::Ok)
        .count();
    let mut parts = Vec::new();
    if report.payload_error.is_some() {
        parts.push("the payload cannot be read".to_string());
    }
    if failed_registries > 0 {
        parts.push(format!(
            "{failed_registries} of {} registries failed",
            report.registries.len()
        ));
    }
    if failed_images > 0 {
        parts.push(format!(
            "{failed_images} of {} images cannot be pulled",
            report.images.len()
        ));
    }
    if report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error)
    {
        parts.push("the payload has malformed entries".to_string());
    }
    if parts.is_empty() {
        parts.push("no registry could be checked".to_string());
    }
    format!("FAILED: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::super::StuckPod;
    use super::*;
    use crate::provider::registry::RegistryReport;

    fn report(outcome: Outcome) -> VerifyRegcredReport {
        VerifyRegcredReport {
            api_version: "kubectl-eso/v1".into(),
            kind: crate::cmd::verify_regcred::REGCRED_REPORT_KIND.into(),
            namespace: "prod".into(),
            secret: "regcred-order-service".into(),
            external_secret: None,
            secret_type: "kubernetes.io/dockerconfigjson".into(),
            payload_error: None,
            registries: vec![RegistryReport {
                registry: "127.0.0.1:5000".into(),
                host: "127.0.0.1:5000".into(),
                username: Some("set (13 chars)".into()),
                outcome,
                message: "authentication required".into(),
            }],
            images: Vec::new(),
            findings: Vec::new(),
            stuck_pods: vec![StuckPod {
                pod: "order-service-abc".into(),
                container: "app".into(),
                image: "127.0.0.1:5000/order-service:1.4.2".into(),
                reason: "ImagePullBackOff".into(),
                message: "Back-off pulling image".into(),
            }],
            pods_error: None,
            ok: outcome == Outcome::Ok,
        }
    }

    #[test]
    fn table_names_the_registry_result_and_stuck_pods() {
        let opts = RenderOptions {
            format: Format::Table,
            color: false,
            now: jiff::Timestamp::UNIX_EPOCH,
        };
        let mut out = Vec::new();
        write(&mut out, &report(Outcome::Unauthorized), &opts)
            .unwrap_or_else(|e| panic!("write: {e}"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("unauthorized"), "{text}");
        assert!(text.contains("order-service-abc"), "{text}");
        assert!(text.contains("FAILED: 1 of 1 registries failed"), "{text}");
        let mut ok_out = Vec::new();
        write(&mut ok_out, &report(Outcome::Ok), &opts).unwrap_or_else(|e| panic!("write: {e}"));
        assert!(String::from_utf8_lossy(&ok_out).contains("OK: every registry"));
    }
}
