//! ESO's own logs as evidence (issue 17), as pure functions over the lines already read and
//! redacted: parse ESO's structured JSON (controller-runtime's zap encoder: `level`, `msg`, `error`,
//! and the object under its kind as `{"name","namespace"}` or `"namespace/name"`), keep the lines
//! about the objects a finding concerns and attach them to it as evidence, and recognise the
//! patterns that are causes of their own: a provider rate-limiting ESO, a store that fails
//! validation while nothing else shows it, leader election lost, webhook certificate errors, and
//! two controllers reconciling the same objects.

pub mod managed_by;
pub mod redact;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::diagnose::catalogue::*;
use crate::model::doctor::Status;
use crate::model::finding::Finding;
use crate::model::logs::{LogAbout, PodLog, about_of};
use crate::model::refs::{StoreKind, StoreRef};
use crate::sanitize;

/// What a line is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    ExternalSecret { namespace: String, name: String },
    Store(StoreRef),
}

/// One parsed line of ESO's JSON log.
#[derive(Debug, Clone, PartialEq)]
pub struct EsoLine {
    pub level: String,
    pub msg: String,
    pub error: String,
    pub subject: Option<Subject>,
    /// The redacted line as printed, shortened for a report.
    pub text: String,
}

/// How much of one line a report shows.
const EXCERPT_CHARS: usize = 300;
/// Lines attached to one finding.
const LINES_PER_FINDING: usize = 3;

fn excerpt(text: &str) -> String {
    let clean = sanitize::line(text);
    if clean.chars().count() <= EXCERPT_CHARS {
        return clean;
    }
    let mut out: String = clean.chars().take(EXCERPT_CHARS).collect();
    out.push('…');
    out
}

/// What a line names, as the analysis compares it.
pub fn subject_of(about: &LogAbout) -> Option<Subject> {
    match about.kind.as_str() {
        "ExternalSecret" => Some(Subject::ExternalSecret {
            namespace: about.namespace.clone()?,
            name: about.name.clone(),
        }),
        "SecretStore" => Some(Subject::Store(StoreRef {
            kind: StoreKind::SecretStore,
            namespace: about.namespace.clone(),
            name: about.name.clone(),
        })),
        "ClusterSecretStore" => Some(Subject::Store(StoreRef {
            kind: StoreKind::ClusterSecretStore,
            namespace: None,
            name: about.name.clone(),
        })),
        _ => None,
    }
}

/// A JSON log line, or `None` for anything else (klog text, a panic trace).
pub fn parse(text: &str) -> Option<EsoLine> {
    let v: Value = serde_json::from_str(text.trim()).ok()?;
    let obj = v.as_object()?;
    let s = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(EsoLine {
        level: s("level"),
        msg: s("msg"),
        error: s("error"),
        subject: about_of(text).as_ref().and_then(subject_of),
        text: excerpt(text),
    })
}

/// A cause recognised in the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pattern {
    RateLimited,
    StoreValidation,
    LeaderElectionLost,
    WebhookCertificate,
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// The pattern a line shows, if any. `component` is the pod's `app.kubernetes.io/name`.
pub fn pattern(line: &str, component: &str) -> Option<Pattern> {
    let l = line.to_ascii_lowercase();
    if contains_any(
        &l,
        &[
            "leaderelection lost",
            "leader election lost",
            "failed to renew lease",
        ],
    ) {
        return Some(Pattern::LeaderElectionLost);
    }
    if contains_any(
        &l,
        &[
            "rate limit",
            "ratelimit",
            "too many requests",
            "throttlingexception",
            "requestlimitexceeded",
            "toomanyrequests",
            "status code 429",
            "statuscode=429",
            "code: 429",
        ],
    ) {
        return Some(Pattern::RateLimited);
    }
    let webhook_side = component.contains("webhook") || component.contains("cert-controller");
    if contains_any(
        &l,
        &[
            "x509:",
            "tls: bad certificate",
            "tls: failed to verify certificate",
            "certificate has expired",
            "ca cert not yet ready",
            "unable to update webhook",
            "failed calling webhook",
        ],
    ) && (webhook_side || l.contains("webhook"))
    {
        return Some(Pattern::WebhookCertificate);
    }
    if contains_any(
        &l,
        &[
            "unable to validate store",
            "could not validate provider",
            "invalidproviderconfig",
        ],
    ) {
        return Some(Pattern::StoreValidation);
    }
    None
}

/// The lines about `subject`, newest last, at most `LINES_PER_FINDING`, as evidence strings.
fn evidence_for(logs: &[PodLog], wanted: &dyn Fn(&Subject) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for log in logs {
        for l in &log.lines {
            let subject = l.about.as_ref().and_then(subject_of);
            let debug = parse(&l.text).is_some_and(|p| p.level == "debug");
            if subject.as_ref().is_some_and(wanted) && !debug {
                let line = format!(
                    "ESO log ({}{}): {}",
                    sanitize::line(&log.pod),
                    if log.previous { ", previous" } else { "" },
                    excerpt(&l.text)
                );
                // A controller retrying logs the same line again and again, each with its own
                // time: one line per message, the newest.
                let key = without_time(&line);
                out.retain(|o| without_time(o) != key);
                out.push(line);
            }
        }
    }
    let skip = out.len().saturating_sub(LINES_PER_FINDING);
    out.drain(..skip);
    out
}

/// A log line without its time fields (`"ts":1796460855.49`, `"time":"…"`), to tell repeats.
fn without_time(line: &str) -> String {
    static TIME: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#""(?:ts|time|timestamp)":(?:"[^"]*"|[0-9.eE+-]+)"#).ok()
    });
    match TIME.as_ref() {
        Some(re) => re.replace_all(line, "").into_owned(),
        None => line.to_string(),
    }
}

fn store_matches(a: &StoreRef, b: &StoreRef) -> bool {
    a.kind == b.kind && a.name == b.name && (a.namespace == b.namespace || b.namespace.is_none())
}

/// Attach the lines concerning each finding's ExternalSecret or store to it (and its effects).
pub fn attach(findings: &mut [Finding], logs: &[PodLog]) {
    for f in findings.iter_mut() {
        attach(&mut f.effects, logs);
        let lines = if let Some((ns, name)) = f.about.external_secret.clone() {
            evidence_for(
                logs,
                &|s| matches!(s, Subject::ExternalSecret { namespace, name: n } if *namespace == ns && *n == name),
            )
        } else if let Some(store) = f.about.store.clone() {
            evidence_for(
                logs,
                &|s| matches!(s, Subject::Store(r) if store_matches(r, &store)),
            )
        } else {
            Vec::new()
        };
        for l in lines {
            if !f.evidence.contains(&l) {
                f.evidence.push(l);
            }
        }
    }
}

fn subject_text(s: &Subject) -> String {
    match s {
        Subject::ExternalSecret { namespace, name } => {
            format!(
                "ExternalSecret {}/{}",
                sanitize::line(namespace),
                sanitize::line(name)
            )
        }
        Subject::Store(r) => sanitize::line(&r.to_string()),
    }
}

fn logs_command(log: &PodLog) -> String {
    format!(
        "kubectl logs {} -n {} -c {}{} --since=1h",
        sanitize::line(&log.pod),
        sanitize::line(&log.namespace),
        sanitize::line(&log.container),
        if log.previous { " --previous" } else { "" }
    )
}

/// A pattern seen about one object (or none) by one ESO installation.
type PatternKey = (Pattern, Option<Subject>, String);

/// The findings the lines show on their own. `explained` are the stores already named by other
/// findings: a store validation error there is evidence, not a second finding.
pub fn findings(logs: &[PodLog], explained: &[StoreRef]) -> Vec<Finding> {
    // (pattern, subject, installation) -> (first pod log seen, lines)
    let mut seen: BTreeMap<PatternKey, (PodLog, Vec<String>)> = BTreeMap::new();
    // subject -> the ESO installations whose controller reconciles it
    let mut reconcilers: BTreeMap<Subject, BTreeSet<String>> = BTreeMap::new();
    for log in logs {
        for line in &log.lines {
            let l = &line.text;
            let subject = line.about.as_ref().and_then(subject_of);
            let parsed = parse(l);
            if let Some(s) = subject.clone()
                && log.component == "external-secrets"
            {
                reconcilers
                    .entry(s)
                    .or_default()
                    .insert(log.workload.clone());
            }
            let Some(p) = pattern(l, &log.component) else {
                continue;
            };
            if p == Pattern::StoreValidation
                && matches!(&subject, Some(Subject::Store(r)) if explained.iter().any(|e| store_matches(e, r)))
            {
                continue;
            }
            let key = (p, subject, log.workload.clone());
            let entry = seen.entry(key).or_insert_with(|| (log.clone(), Vec::new()));
            let text = excerpt(parsed.as_ref().map_or(l.as_str(), |p| p.text.as_str()));
            if !entry.1.contains(&text) {
                entry.1.push(text);
            }
        }
    }
    let mut out = Vec::new();
    for ((p, subject, _), (log, lines)) in seen {
        out.push(pattern_finding(p, subject.as_ref(), &log, &lines));
    }
    for (subject, workloads) in reconcilers.into_iter().filter(|(_, w)| w.len() > 1) {
        let names: Vec<String> = workloads.iter().map(|w| sanitize::line(w)).collect();
        let mut f = Finding::new(
            ESO_LOG_TWO_CONTROLLERS,
            Status::Error,
            subject_text(&subject),
            format!(
                "{} ESO controllers reconcile it ({}): they overwrite each other's Secret and status",
                names.len(),
                names.join(", ")
            ),
            "kubectl get deploy -A -l app.kubernetes.io/name=external-secrets".into(),
        )
        .then("keep one controller, or give each its own scope (--namespace / --controller-class)".into())
        .about_controller();
        for w in names {
            f = f.evidence(format!("ESO log: reconciled by {w}"));
        }
        out.push(f);
    }
    out
}

fn pattern_finding(
    p: Pattern,
    subject: Option<&Subject>,
    log: &PodLog,
    lines: &[String],
) -> Finding {
    let object = subject.map_or_else(
        || {
            format!(
                "Pod {}/{}",
                sanitize::line(&log.namespace),
                sanitize::line(&log.pod)
            )
        },
        subject_text,
    );
    let (code, severity, message, next) = match p {
        Pattern::RateLimited => (
            ESO_LOG_PROVIDER_RATE_LIMITED,
            Status::Warning,
            "the provider is rate-limiting ESO: syncs are delayed or fail until the limit clears".to_string(),
            "raise refreshInterval on the ExternalSecrets of this store, or spread them out".to_string(),
        ),
        Pattern::StoreValidation => (
            ESO_LOG_STORE_VALIDATION,
            Status::Error,
            "ESO cannot validate this store between requeues (only its log says so)".to_string(),
            logs_command(log),
        ),
        Pattern::LeaderElectionLost => (
            ESO_LOG_LEADER_ELECTION_LOST,
            Status::Error,
            "the ESO controller lost leader election: it stops reconciling until it restarts and wins it again"
                .to_string(),
            format!(
                "kubectl get lease -n {} ; check the API server's latency and the controller's restarts",
                sanitize::line(&log.namespace)
            ),
        ),
        Pattern::WebhookCertificate => (
            ESO_LOG_WEBHOOK_CERTIFICATE,
            Status::Error,
            "ESO's webhook certificate is rejected or not ready: ExternalSecrets and stores cannot be created or changed"
                .to_string(),
            format!(
                "kubectl rollout restart deploy -n {} -l app.kubernetes.io/name=external-secrets-cert-controller",
                sanitize::line(&log.namespace)
            ),
        ),
    };
    let mut f = Finding::new(code, severity, object, message, next).then(logs_command(log));
    match subject {
        Some(Subject::ExternalSecret { namespace, name }) => f = f.about_es(namespace, name),
        Some(Subject::Store(r)) => f = f.about_store(r),
        None => f = f.about_controller(),
    }
    for l in lines.iter().rev().take(LINES_PER_FINDING).rev() {
        f = f.evidence(format!(
            "ESO log ({}{}): {l}",
            sanitize::line(&log.pod),
            if log.previous { ", previous" } else { "" }
        ));
    }
    f
}

#[cfg(test)]
mod tests;
