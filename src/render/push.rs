//! `describe-chain pushsecret/NAME` (issue 14): the PushSecret's chain — source Secret (key names),
//! stores, what each store's provider said about writing — then its findings, root cause first,
//! in the doctor's finding format; or the same report as JSON / YAML. Everything that came from
//! the cluster or a provider is sanitised here.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::structured::{write_json, write_yaml};
use super::{Format, RenderOptions};
use crate::model::finding::Finding;
use crate::model::push::PushFacts;
use crate::sanitize;

/// The report `describe-chain pushsecret/NAME` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushChainReport {
    pub api_version: String,
    pub kind: String,
    pub push_secret: PushFacts,
    /// Root causes first, each with what it explains under it.
    pub findings: Vec<Finding>,
}

pub fn write(out: &mut impl Write, r: &PushChainReport, opts: &RenderOptions) -> io::Result<()> {
    match opts.format {
        Format::Json => write_json(out, r),
        Format::Yaml => write_yaml(out, r),
        Format::Table | Format::Wide => write_text(out, r, opts.color, opts.now),
    }
}

fn line(s: &str) -> String {
    sanitize::line(s)
}

fn write_text(
    out: &mut impl Write,
    r: &PushChainReport,
    color: bool,
    now: jiff::Timestamp,
) -> io::Result<()> {
    let p = &r.push_secret;
    writeln!(out, "PushSecret {}/{}", line(&p.namespace), line(&p.name))?;
    match &p.ready {
        Some(c) => writeln!(
            out,
            "  Ready: {} ({}){}",
            line(&c.status),
            line(c.reason.as_deref().unwrap_or("no reason")),
            c.message
                .as_deref()
                .map(|m| format!(": {}", line(m)))
                .unwrap_or_default()
        )?,
        None => writeln!(out, "  Ready: no condition (not reconciled by ESO)")?,
    }
    writeln!(
        out,
        "  deletionPolicy: {}, updatePolicy: {}",
        line(&p.deletion_policy),
        line(&p.update_policy)
    )?;
    if let Some(owner) = &p.owner_cluster_push_secret {
        writeln!(out, "  created by ClusterPushSecret {}", line(owner))?;
    }
    match (&p.source.secret, &p.source.generator) {
        (Some(s), _) => {
            let state = match (p.source.found, &p.source.error) {
                (Some(true), _) => format!("found, keys: {}", line(&p.source.keys.join(", "))),
                (Some(false), _) => "MISSING".to_string(),
                (None, Some(e)) => format!("not read: {}", line(e)),
                (None, None) => "not read".to_string(),
            };
            writeln!(out, "Source Secret {}: {state}", line(s))?;
        }
        (None, Some(g)) => writeln!(out, "Source: generator {} (not walked)", line(g))?,
        (None, None) => writeln!(out, "Source: none named")?,
    }
    for d in &p.data {
        writeln!(
            out,
            "  {} -> {}{}",
            line(
                d.secret_key
                    .as_deref()
                    .filter(|k| !k.is_empty())
                    .unwrap_or("(whole Secret)")
            ),
            line(&d.remote_key),
            d.property
                .as_deref()
                .map(|x| format!(" (property {})", line(x)))
                .unwrap_or_default()
        )?;
    }
    if p.stores.is_empty() {
        writeln!(out, "Stores: none resolved")?;
    }
    for s in &p.stores {
        let ready = s
            .ready
            .as_ref()
            .map(|c| format!("Ready={}", line(&c.status)))
            .unwrap_or_else(|| "no Ready condition".into());
        writeln!(
            out,
            "Store {} (by {}): {}{}",
            line(&s.store.short()),
            line(&s.chosen_by),
            if s.found == Some(false) {
                "MISSING".to_string()
            } else {
                ready
            },
            s.provider
                .as_deref()
                .map(|x| format!(", provider {}", line(x)))
                .unwrap_or_default()
        )?;
        let w = &s.write;
        if let Some(why) = &w.not_checked {
            writeln!(out, "  write permission: not checked: {}", line(why))?;
        }
        if let Some(who) = &w.identity {
            writeln!(out, "  asked as: {}", line(who))?;
        }
        if let Some(e) = &w.login_error {
            writeln!(out, "  login failed: {}", line(e))?;
        }
        for x in &w.paths {
            writeln!(
                out,
                "  {} {}: needs {}, has [{}]",
                if x.allowed { "ok    " } else { "DENIED" },
                line(&x.path),
                line(&x.needs),
                line(&x.capabilities.join(", "))
            )?;
        }
    }
    for e in p.events.iter().take(3) {
        writeln!(
            out,
            "Event {} {}: {}",
            line(&e.type_),
            line(&e.reason),
            line(&e.message)
        )?;
    }
    if r.findings.is_empty() {
        writeln!(out, "\nNo findings.")?;
    }
    for (i, f) in r.findings.iter().enumerate() {
        // Wrapped to the terminal as doctor's findings are (issue 13).
        super::doctor::write_finding(out, i + 1, f, color, super::wrap::width(), now)?;
    }
    Ok(())
}
