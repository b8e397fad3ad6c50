//! Judges each link of a gathered chain (ok / warning / broken / unknown, with the error recorded
//! on it) and names the verdict, as pure functions of the facts and `now`. The walk order is the
//! one the runbook follows; the verdict names the first broken link on the provider side, because
//! an ExternalSecret that is not Ready is the symptom and the store, credentials or provider the
//! cause.

pub mod compare;
pub mod redact;
mod verdict;
mod verdict_aws;

use jiff::Timestamp;

use crate::analysis::consumers::read_at_start;
use crate::analysis::duration::periodic_refresh;
use crate::analysis::since;
use crate::model::chain::*;

pub use verdict::verdict;

/// Pod states that mean the workload is not getting what it needs.
pub const FAILING_POD_STATES: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "Failed",
];

/// Login failures that mean the stored credential itself is bad (expired / wrong secret).
pub const CREDENTIAL_CODES: &[&str] = &["AADSTS7000222", "AADSTS7000215", "AADSTS7000216"];

pub fn analyse(facts: ChainFacts, now: Timestamp) -> ChainReport {
    let mut links = vec![
        external_secret(&facts.external_secret, now),
        store(&facts.store),
    ];
    // Per-entry stores (issue 14): one Store link each, after the chain's own.
    links.extend(facts.other_stores.iter().map(|s| {
        let mut l = store(s);
        l.summary = format!(
            "{} (per-entry sourceRef.storeRef; not probed here)",
            l.summary
        );
        l
    }));
    links.extend([
        credentials(&facts),
        provider(&facts, now),
        target(&facts),
        consumers(&facts.consumers),
    ]);
    for l in &mut links {
        date_failure(l, &facts, now);
    }
    let verdict = verdict(&facts, &links);
    // Issue 13: the verdict says since when: the ExternalSecret's failure (what ESO records),
    // else that of the link the verdict names.
    let dated = links
        .iter()
        .find(|l| l.link == LinkName::ExternalSecret && l.failing_since.is_some())
        .or_else(|| links.iter().find(|l| Some(l.link) == verdict.link));
    let (failing_since, occurrences) = match (verdict.state, dated) {
        (LinkState::Ok, _) | (_, None) => (None, None),
        (_, Some(l)) => (l.failing_since.clone(), l.occurrences),
    };
    ChainReport {
        api_version: crate::model::scope::REPORT_API_VERSION.to_string(),
        kind: CHAIN_REPORT_KIND.to_string(),
        links,
        verdict,
        failing_since,
        occurrences,
        findings: Vec::new(),
        facts,
    }
}

fn link(name: LinkName, state: LinkState, summary: String, error: Option<String>) -> LinkReport {
    LinkReport {
        link: name,
        state,
        summary,
        error,
        failing_since: None,
        occurrences: None,
    }
}

/// Issue 13: since when and how often a failing link has failed, from what the cluster recorded
/// for it (the ExternalSecret's and the store's Ready condition and Events, failing pods' starts).
fn date_failure(l: &mut LinkReport, f: &ChainFacts, now: Timestamp) {
    if matches!(l.state, LinkState::Ok | LinkState::Unknown) {
        return;
    }
    let failing = match l.link {
        LinkName::ExternalSecret => {
            let es = &f.external_secret;
            since::failing(es.ready.as_ref(), &es.events, now)
        }
        LinkName::Store => since::failing(f.store.ready.as_ref(), &f.store.events, now),
        LinkName::Consumers => {
            let workloads: Vec<String> = failing_consumers(&f.consumers)
                .iter()
                .map(|c| format!("{}/{}", c.kind, c.name))
                .collect();
            since::failing_since_started(
                f.consumers
                    .items
                    .iter()
                    .filter(|p| p.kind == "pod")
                    .filter(|p| p.workload.as_ref().is_some_and(|w| workloads.contains(w)))
                    .filter(|p| {
                        p.state
                            .as_deref()
                            .is_some_and(|s| FAILING_POD_STATES.contains(&s))
                    })
                    .map(|p| p.started.as_deref()),
                now,
            )
        }
        _ => None,
    };
    if let Some(x) = failing {
        l.failing_since = x.since;
        l.occurrences = x.occurrences;
    }
}

/// The newest Warning event's message: ESO's real error text lives only there.
pub fn last_warning(events: &[EventFacts]) -> Option<&str> {
    events
        .iter()
        .find(|e| e.type_ == "Warning")
        .map(|e| e.message.as_str())
}

fn external_secret(es: &ExternalSecretFacts, now: Timestamp) -> LinkReport {
    let mut notes = Vec::new();
    let interval = es.refresh_interval.as_deref().unwrap_or("1h");
    notes.push(format!(
        "refresh {interval}{}",
        es.refresh_policy
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default()
    ));
    if let Some(t) = &es.refresh_time {
        notes.push(format!(
            "last refresh {} ago",
            crate::render::age::age(t, now)
        ));
    }
    let pending = match (&es.synced_resource_version, es.generation) {
        (Some(rv), Some(g)) => rv
            .split('-')
            .next()
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|synced| synced != g),
        _ => false,
    };
    if pending {
        notes.push("spec changed since the last sync: a resync is pending".into());
    }
    let every = periodic_refresh(es.refresh_policy.as_deref(), es.refresh_interval.as_deref());
    let stale = match (&es.refresh_time, every) {
        (Some(t), Some(d)) => t.parse::<Timestamp>().ok().is_some_and(|t| {
            let twice = i64::try_from(d.as_secs())
                .unwrap_or(i64::MAX)
                .saturating_mul(2);
            now.as_second().saturating_sub(t.as_second()) > twice
        }),
        _ => false,
    };
    if stale {
        notes.push("the last refresh is more than two intervals old".into());
    }
    let ready = es.ready.as_ref();
    let (state, head, error) = match ready.map(|c| c.status.as_str()) {
        Some("True") => (
            if pending || stale {
                LinkState::Warning
            } else {
                LinkState::Ok
            },
            "Ready".to_string(),
            None,
        ),
        Some(s) => (
            LinkState::Broken,
            format!(
                "Ready={s} ({})",
                ready
                    .and_then(|c| c.reason.as_deref())
                    .unwrap_or("no reason")
            ),
            last_warning(&es.events)
                .or(ready.and_then(|c| c.message.as_deref()))
                .map(str::to_string),
        ),
        None => (
            LinkState::Unknown,
            "no Ready condition yet".to_string(),
            None,
        ),
    };
    let summary = format!("{}/{} {head}; {}", es.namespace, es.name, notes.join("; "));
    link(LinkName::ExternalSecret, state, summary, error)
}

pub fn store_label(s: &StoreFacts) -> String {
    match &s.namespace {
        Some(ns) => format!("{} {ns}/{}", s.kind, s.name),
        None => format!("{} {}", s.kind, s.name),
    }
}

fn store(s: &StoreFacts) -> LinkReport {
    let label = store_label(s);
    if s.generator.is_some() {
        return generator(s, label);
    }
    if let Some(e) = &s.error {
        let state = if e.starts_with("no permission") || e.starts_with("could not") {
            LinkState::Unknown
        } else {
            LinkState::Broken
        };
        return link(LinkName::Store, state, label, Some(e.clone()));
    }
    if s.found == Some(false) {
        let error = match &s.other_kind_exists {
            Some(other) => format!(
                "{label} does not exist, but a {other} named {} does: secretStoreRef.kind is wrong",
                s.name
            ),
            None => format!("{label} does not exist"),
        };
        return link(LinkName::Store, LinkState::Broken, label, Some(error));
    }
    if s.admits_namespace == Some(false) {
        let note = s.admission_note.clone().unwrap_or_default();
        return link(
            LinkName::Store,
            LinkState::Broken,
            label,
            Some(format!("{} does not admit this namespace: {note}", s.name)),
        );
    }
    let provider = s.provider.as_deref().unwrap_or("unknown provider");
    let ready = s.ready.as_ref();
    match ready.map(|c| c.status.as_str()) {
        Some("True") => link(
            LinkName::Store,
            LinkState::Ok,
            format!("{label} ({provider}) Ready"),
            None,
        ),
        Some(st) => link(
            LinkName::Store,
            LinkState::Broken,
            format!(
                "{label} ({provider}) Ready={st} ({})",
                ready
                    .and_then(|c| c.reason.as_deref())
                    .unwrap_or("no reason")
            ),
            last_warning(&s.events)
                .or(ready.and_then(|c| c.message.as_deref()))
                .map(str::to_string),
        ),
        None => link(
            LinkName::Store,
            LinkState::Warning,
            format!("{label} ({provider}) has no Ready condition"),
            None,
        ),
    }
}

/// The store link of an ExternalSecret made only of generators (issue 14): the generator, which
/// has no Ready condition of its own; missing, unreadable or of an unknown kind is broken.
fn generator(s: &StoreFacts, label: String) -> LinkReport {
    let runs = s.generator.as_deref().unwrap_or_default();
    if let Some(e) = &s.error {
        let state = if e.starts_with("no permission") || e.starts_with("could not") {
            LinkState::Unknown
        } else {
            LinkState::Broken
        };
        return link(LinkName::Store, state, label, Some(e.clone()));
    }
    if s.found == Some(false) {
        return link(
            LinkName::Store,
            LinkState::Broken,
            label.clone(),
            Some(format!(
                "generator {label} does not exist: dataFrom[].sourceRef.generatorRef names it"
            )),
        );
    }
    let what = if s.kind == runs {
        format!("generator {label}")
    } else {
        format!("generator {label} (runs {runs})")
    };
    let settings: Vec<String> = s.settings.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let summary = if settings.is_empty() {
        format!("{what}; no store needed")
    } else {
        format!("{what}: {}; no store needed", settings.join(", "))
    };
    link(LinkName::Store, LinkState::Ok, summary, None)
}

/// A login failure that the credential itself explains (expired or wrong client secret).
pub fn credential_rejected(p: &ProviderFacts) -> bool {
    p.login_code
        .as_deref()
        .is_some_and(|c| CREDENTIAL_CODES.contains(&c))
}

fn credentials(f: &ChainFacts) -> LinkReport {
    let creds = &f.credentials;
    let names: Vec<String> = creds
        .iter()
        .map(|c| match &c.key {
            Some(k) => format!("{}[{k}]", c.object),
            None => c.object.clone(),
        })
        .collect();
    let summary = if names.is_empty() {
        "no credentials referenced".to_string()
    } else {
        names.join(", ")
    };
    let broken = creds
        .iter()
        .find(|c| c.exists == Some(false) || c.key_present == Some(false));
    if let Some(c) = broken {
        return link(
            LinkName::Credentials,
            LinkState::Broken,
            summary,
            c.error.clone(),
        );
    }
    if credential_rejected(&f.provider) {
        return link(
            LinkName::Credentials,
            LinkState::Broken,
            summary,
            f.provider.login_error.clone(),
        );
    }
    if let Some(c) = creds.iter().find(|c| c.error.is_some()) {
        return link(
            LinkName::Credentials,
            LinkState::Unknown,
            summary,
            c.error.clone(),
        );
    }
    let state = if f.store.found == Some(true) {
        LinkState::Ok
    } else {
        LinkState::Unknown
    };
    link(LinkName::Credentials, state, summary, None)
}

fn provider(f: &ChainFacts, now: Timestamp) -> LinkReport {
    let p = &f.provider;
    let who = p
        .identity
        .clone()
        .unwrap_or_else(|| "the store's identity".into());
    if !p.probed && f.store.generator.is_some() && f.store.provider.is_none() {
        let runs = f.store.generator.as_deref().unwrap_or_default();
        let (state, why) = match runs {
            // These make their values inside ESO: there is nothing outside to ask.
            "Password" | "UUID" | "SSHKey" | "Fake" | "MFA" => (
                LinkState::Ok,
                format!("none: a {runs} generator makes its values inside ESO"),
            ),
            _ => (
                LinkState::Unknown,
                format!(
                    "not probed: the {runs} generator's provider cannot be checked without minting a credential"
                ),
            ),
        };
        return link(LinkName::Provider, state, why, None);
    }
    if !p.probed {
        return link(
            LinkName::Provider,
            LinkState::Unknown,
            not_probed_summary(p.skipped.as_deref()),
            p.error.clone(),
        );
    }
    if let Some(e) = &p.login_error {
        let state = if credential_rejected(p) {
            LinkState::Unknown
        } else {
            LinkState::Broken
        };
        return link(
            LinkName::Provider,
            state,
            format!("login as {who} failed"),
            Some(e.clone()),
        );
    }
    let mut summary = format!("logged in as {who}");
    // An ACRAccessToken generator (issue 14): the login is all that can be known without
    // minting a registry token.
    if f.store.generator.as_deref() == Some("ACRAccessToken") {
        summary.push_str(&format!(
            "; whether it may pull from {} cannot be known without minting an ACR token (not attempted)",
            f.store
                .settings
                .get("registry")
                .map(String::as_str)
                .unwrap_or("the registry")
        ));
        return link(LinkName::Provider, LinkState::Unknown, summary, None);
    }
    if !p.policies.is_empty() {
        summary.push_str(&format!("; policies [{}]", p.policies.join(", ")));
    }
    for k in &p.keys {
        if let Some(problem) = key_problem(k, now) {
            return link(
                LinkName::Provider,
                LinkState::Broken,
                summary,
                Some(problem),
            );
        }
    }
    if let Some(e) = &p.error {
        return link(
            LinkName::Provider,
            LinkState::Unknown,
            summary,
            Some(e.clone()),
        );
    }
    link(LinkName::Provider, LinkState::Ok, summary, None)
}

/// The Provider link of a probe that did not run: `not probed: WHY`, saying "not probed" once —
/// the trust rule's reasons already begin with it, another provider's reason already says it
/// (issue 15's "not probed: not probed: …").
pub fn not_probed_summary(skipped: Option<&str>) -> String {
    let why = skipped.unwrap_or("no usable store").trim();
    let mut rest = why;
    while let Some(r) = rest.strip_prefix("not probed:") {
        rest = r.trim_start();
    }
    if rest.contains("not probed") {
        // "the gcpsm provider is not probed by this tool …" says it already.
        return rest.to_string();
    }
    format!("not probed: {rest}")
}

/// AWS: what `iam:SimulatePrincipalPolicy` (asked with the user's keys) said of the refusal.
fn policy_simulation(k: &KeyFacts) -> String {
    let matched = k.policy_matched.join(", ");
    match k.policy_decision.as_deref() {
        Some("implicitDeny") => "; iam:SimulatePrincipalPolicy (your AWS keys): implicitDeny, \
             no statement of the identity's policies allows it"
            .to_string(),
        Some("explicitDeny") if !matched.is_empty() => format!(
            "; iam:SimulatePrincipalPolicy (your AWS keys): explicitDeny by a Deny statement in {matched}"
        ),
        Some("allowed") => "; iam:SimulatePrincipalPolicy (your AWS keys): the identity's \
             policies allow it, so a resource policy, permissions boundary or SCP denies it"
            .to_string(),
        Some(d) => format!("; iam:SimulatePrincipalPolicy (your AWS keys): {d}"),
        None => String::new(),
    }
}

/// What is wrong with one remote key, in one sentence; `None` when it is fine.
pub fn key_problem(k: &KeyFacts, now: Timestamp) -> Option<String> {
    let past = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .map(|t| t <= now)
    };
    if k.enabled == Some(false) {
        return Some(format!("secret {} is disabled", k.key));
    }
    if k.readable == Some(false) {
        return Some(format!(
            "no {} permission on {}{}{}",
            k.needs.as_deref().unwrap_or("read"),
            k.path,
            k.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
            policy_simulation(k)
        ));
    }
    if k.exists == Some(false) {
        // AWS: not in the store's region, which the probe's sentence names.
        if let (Some("RegionMismatch"), Some(e)) = (k.code.as_deref(), &k.error) {
            return Some(e.clone());
        }
        return Some(format!("{} does not exist", k.path));
    }
    if k.destroyed || k.deleted {
        return Some(format!("the current version of {} is deleted", k.path));
    }
    if past(&k.expires) == Some(true) {
        return Some(format!(
            "secret {} expired at {}",
            k.key,
            k.expires.as_deref().unwrap_or("")
        ));
    }
    if past(&k.not_before) == Some(false) {
        return Some(format!(
            "secret {} is not valid before {}",
            k.key,
            k.not_before.as_deref().unwrap_or("")
        ));
    }
    if k.property_exists == Some(false) {
        return Some(format!(
            "{} has no property {:?} (properties: {})",
            k.path,
            k.property.as_deref().unwrap_or(""),
            k.properties.join(", ")
        ));
    }
    if let Some(e) = &k.error {
        return Some(e.clone());
    }
    None
}

fn target(f: &ChainFacts) -> LinkReport {
    let t = &f.target;
    let kind = t.kind.as_deref().unwrap_or("Secret");
    let name = format!("{kind} {}/{}", f.external_secret.namespace, t.name);
    if let Some(e) = &t.error {
        return link(LinkName::Target, LinkState::Unknown, name, Some(e.clone()));
    }
    if t.exists == Some(false) {
        return link(
            LinkName::Target,
            LinkState::Broken,
            name.clone(),
            Some(format!("{name} does not exist: ESO has not written it")),
        );
    }
    let keys: Vec<String> = t
        .keys
        .iter()
        .map(|k| format!("{} ({} bytes)", k.name, k.size))
        .collect();
    let matches = t.matches_provider.as_deref().unwrap_or("not compared");
    let summary = format!(
        "{name} {}; keys {}; matches provider: {matches}",
        t.type_.as_deref().unwrap_or(""),
        keys.join(", ")
    );
    if matches == "no" || matches.starts_with("no (") {
        return link(
            LinkName::Target,
            LinkState::Broken,
            summary,
            Some(format!("{name} does not hold the provider's current value")),
        );
    }
    if t.owned_by_this == Some(false) {
        return link(
            LinkName::Target,
            LinkState::Warning,
            summary,
            Some(format!(
                "{name} is not owned by this ExternalSecret (owner: {})",
                t.owner.as_deref().unwrap_or("none")
            )),
        );
    }
    link(LinkName::Target, LinkState::Ok, summary, None)
}

pub fn failing_consumers(c: &ConsumersFacts) -> Vec<&ConsumerFacts> {
    c.items
        .iter()
        .filter(|i| i.kind != "pod")
        .filter(|i| {
            i.state
                .as_deref()
                .is_some_and(|s| FAILING_POD_STATES.contains(&s))
        })
        .collect()
}

fn consumers(c: &ConsumersFacts) -> LinkReport {
    let workloads: Vec<String> = c
        .items
        .iter()
        .filter(|i| i.kind != "pod")
        .map(|i| {
            format!(
                "{}/{} ({})",
                i.kind,
                i.name,
                i.state.as_deref().unwrap_or("no pods")
            )
        })
        .collect();
    let summary = if workloads.is_empty() {
        "no workload in the namespace uses the Secret".into()
    } else {
        workloads.join(", ")
    };
    let failing = failing_consumers(c);
    if !failing.is_empty() {
        let names: Vec<String> = failing
            .iter()
            .map(|i| {
                format!(
                    "{}/{} is in {}",
                    i.kind,
                    i.name,
                    i.state.as_deref().unwrap_or("")
                )
            })
            .collect();
        return link(
            LinkName::Consumers,
            LinkState::Broken,
            summary,
            Some(names.join("; ")),
        );
    }
    let restart: Vec<&ConsumerFacts> = c
        .items
        .iter()
        .filter(|i| i.started_before_change == Some(true) && read_at_start(&i.uses))
        .collect();
    if let Some(p) = restart.first() {
        return link(
            LinkName::Consumers,
            LinkState::Warning,
            summary,
            Some(format!(
                "{} pod(s) (e.g. {}) started before the Secret last changed and read it at start (env, envFrom or a subPath mount): restart needed",
                restart.len(),
                p.name
            )),
        );
    }
    if let Some(e) = c.errors.first() {
        return link(
            LinkName::Consumers,
            LinkState::Unknown,
            summary,
            Some(e.clone()),
        );
    }
    link(LinkName::Consumers, LinkState::Ok, summary, None)
}

#[cfg(test)]
mod tests;
