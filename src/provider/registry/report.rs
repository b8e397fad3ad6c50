//! The answer to "does this pull secret log in, and can it pull these images?" as plain serde
//! data, one report type for table, JSON and YAML output, plus the function that fills it by
//! trying every entry. A malformed entry or an unreachable registry is a row, never an abort.

use serde::Serialize;

use super::dockerconfig::{ConfigFinding, DockerConfig, RegistryEntry};
use super::login::RegistryClient;
use super::outcome::{Check, Outcome};
use super::reference::{best_match, parse_image};

/// One `auths` entry and what logging in with it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryReport {
    /// The key as written in the pull secret.
    pub registry: String,
    /// The normalised host that was contacted (`docker.io` means `registry-1.docker.io`).
    pub host: String,
    /// Whether the entry has a username and its length (`set (13 chars)`), never the username.
    pub username: Option<String>,
    pub outcome: Outcome,
    pub message: String,
}

/// One image and whether this pull secret lets the kubelet pull it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageReport {
    /// The image as given.
    pub image: String,
    /// The image's normalised registry (empty when the reference is invalid).
    pub registry: String,
    pub entry_found: bool,
    /// The `auths` key used for it.
    pub entry: Option<String>,
    pub outcome: Outcome,
    pub message: String,
}

/// Everything `verify-regcred` learned about one pull secret's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RegcredReport {
    pub registries: Vec<RegistryReport>,
    pub images: Vec<ImageReport>,
    pub findings: Vec<ConfigFinding>,
}

impl RegcredReport {
    /// Exit 0 material: every registry logged in and every image can be pulled.
    pub fn all_ok(&self) -> bool {
        !self.registries.is_empty()
            && self
                .registries
                .iter()
                .all(|r| matches!(r.outcome, Outcome::Ok | Outcome::NotChecked))
            && self.images.iter().all(|i| i.outcome == Outcome::Ok)
    }
}

/// Tries every entry, then every image; requests go one after the other so a slow registry
/// cannot hide which one was slow and the output order is stable.
pub async fn verify(
    client: &RegistryClient,
    config: &DockerConfig,
    images: &[String],
) -> RegcredReport {
    let mut report = RegcredReport {
        findings: config.findings.clone(),
        ..RegcredReport::default()
    };
    for entry in &config.entries {
        let check = check_entry(client, config, entry).await;
        report.registries.push(RegistryReport {
            registry: entry.key.clone(),
            host: entry.host.clone(),
            username: entry
                .username
                .as_deref()
                .map(|u| super::dockerconfig::described_username(Some(u))),
            outcome: check.outcome,
            message: check.message,
        });
    }
    for image in images {
        report.images.push(check_image(client, config, image).await);
    }
    report
}

async fn check_entry(
    client: &RegistryClient,
    config: &DockerConfig,
    entry: &RegistryEntry,
) -> Check {
    if config.entry_is_broken(&entry.key) || entry.normalised.is_none() {
        let problems: Vec<&str> = config
            .findings
            .iter()
            .filter(|f| f.registry.as_deref() == Some(entry.key.as_str()))
            .filter(|f| f.severity == super::dockerconfig::Severity::Error)
            .map(|f| f.message.as_str())
            .collect();
        return Check::new(Outcome::InvalidEntry, problems.join("; "));
    }
    if entry.host.contains('*') {
        return Check::new(
            Outcome::NotChecked,
            "wildcard registry key: checked only through --image",
        );
    }
    client.login(&entry.host, entry.credential.as_ref()).await
}

async fn check_image(client: &RegistryClient, config: &DockerConfig, image: &str) -> ImageReport {
    let parsed = match parse_image(image) {
        Ok(parsed) => parsed,
        Err(e) => {
            return ImageReport {
                image: image.to_string(),
                registry: String::new(),
                entry_found: false,
                entry: None,
                outcome: Outcome::InvalidImage,
                message: e.to_string(),
            };
        }
    };
    let keys: Vec<_> = config
        .entries
        .iter()
        .map(|e| e.normalised.clone())
        .collect();
    let entry = best_match(&keys, &parsed).and_then(|i| config.entries.get(i));
    let mut report = ImageReport {
        image: image.to_string(),
        registry: parsed.registry.clone(),
        entry_found: entry.is_some(),
        entry: entry.map(|e| e.key.clone()),
        outcome: Outcome::Ok,
        message: String::new(),
    };
    if let Some(entry) = entry
        && config.entry_is_broken(&entry.key)
    {
        report.outcome = Outcome::InvalidEntry;
        report.message = format!("the entry {:?} for this registry is malformed", entry.key);
        return report;
    }
    let check = client
        .check_image(&parsed, entry.and_then(|e| e.credential.as_ref()))
        .await;
    report.outcome = match (entry, check.outcome) {
        // Without an entry the kubelet pulls anonymously; a refusal then means "no entry".
        (None, Outcome::Unauthorized | Outcome::Denied) => Outcome::NoEntry,
        (_, outcome) => outcome,
    };
    report.message = if entry.is_none() && report.outcome == Outcome::NoEntry {
        format!(
            "no entry in the pull secret for registry {} and anonymous pull is refused",
            parsed.registry
        )
    } else {
        check.message
    };
    report
}
