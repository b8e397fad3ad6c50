//! A finding: one cause, with a stable code, the object and field at fault, the evidence (facts,
//! never values), what it affects and the commands to run next. Every command is a view of the
//! same findings (issue 12): doctor prints them all, root causes first with their effects under
//! them; describe-chain the ones of one chain; scope each row's first. Codes are declared once,
//! in `diagnose::catalogue`, and documented in `docs/findings.md`.

use serde::{Deserialize, Serialize};

use super::doctor::Status;
use super::refs::StoreRef;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Stable, kebab-case: `store-kind-mismatch`, `vault-kv-version-mismatch`, …
    pub code: String,
    /// `warning` or `error`.
    pub severity: Status,
    /// The object at fault, kubectl style: `ExternalSecret prod/order-service-regcred`.
    pub object: String,
    /// The field at fault, when one is: `spec.secretStoreRef.kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// One sentence of cause.
    #[serde(rename = "cause")]
    pub message: String,
    /// Facts that support the cause (names, states, counts; never a value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// What it breaks: ExternalSecrets, Secrets, workloads (kubectl style).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affects: Vec<String>,
    /// What to run next, copy-pasteable; the first is the fix or the command that finds it.
    pub next: Vec<String>,
    /// Since when the object has been failing (issue 13), RFC 3339, when the cluster recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// How many times the failure was recorded (Warning Events' counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u32>,
    /// Findings this one explains (set by ranking): shown under it, not beside it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Finding>,
    /// What the finding is about, for ranking (not printed).
    #[serde(skip)]
    pub about: About,
}

/// The objects a finding concerns, so ranking can tell which findings explain which.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct About {
    /// (namespace, name) of the ExternalSecret.
    pub external_secret: Option<(String, String)>,
    pub store: Option<StoreRef>,
    /// (namespace, name) of the target Secret.
    pub target: Option<(String, String)>,
    /// Only the ExternalSecrets of this namespace (a store refusing one namespace).
    pub namespace: Option<String>,
    /// The whole controller: explains every ExternalSecret's symptoms.
    pub controller: bool,
    /// (namespace, name) of the PushSecret (issue 14).
    pub push_secret: Option<(String, String)>,
    /// The cause was read from the provider's own configuration (a Vault policy, role or mount)
    /// or the secret's own state there (deleted, expired), so it is sharper than what an error
    /// text says: describe-chain's verdict takes it.
    pub from_provider_config: bool,
}

impl Finding {
    pub fn new(
        code: &str,
        severity: Status,
        object: String,
        message: String,
        next: String,
    ) -> Finding {
        Finding {
            code: code.to_string(),
            severity,
            object,
            field: None,
            message,
            evidence: Vec::new(),
            affects: Vec::new(),
            next: if next.is_empty() {
                Vec::new()
            } else {
                vec![next]
            },
            failing_since: None,
            occurrences: None,
            effects: Vec::new(),
            about: About::default(),
        }
    }

    /// Since when and how often (issue 13).
    pub fn failing(mut self, since: Option<String>, occurrences: Option<u32>) -> Finding {
        self.failing_since = since;
        self.occurrences = occurrences;
        self
    }

    pub fn field(mut self, field: &str) -> Finding {
        self.field = Some(field.to_string());
        self
    }

    pub fn evidence(mut self, fact: String) -> Finding {
        self.evidence.push(fact);
        self
    }

    pub fn affects(mut self, what: String) -> Finding {
        if !self.affects.contains(&what) {
            self.affects.push(what);
        }
        self
    }

    pub fn then(mut self, command: String) -> Finding {
        self.next.push(command);
        self
    }

    pub fn about_es(mut self, namespace: &str, name: &str) -> Finding {
        self.about.external_secret = Some((namespace.to_string(), name.to_string()));
        self
    }

    pub fn about_store(mut self, store: &StoreRef) -> Finding {
        self.about.store = Some(store.clone());
        self
    }

    pub fn about_target(mut self, namespace: &str, name: &str) -> Finding {
        self.about.target = Some((namespace.to_string(), name.to_string()));
        self
    }

    pub fn about_namespace(mut self, namespace: &str) -> Finding {
        self.about.namespace = Some(namespace.to_string());
        self
    }

    pub fn about_push_secret(mut self, namespace: &str, name: &str) -> Finding {
        self.about.push_secret = Some((namespace.to_string(), name.to_string()));
        self
    }

    pub fn about_controller(mut self) -> Finding {
        self.about.controller = true;
        self
    }
}
