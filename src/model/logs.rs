//! Container log lines as read (issue 17): which pod and container printed them, whether from the
//! instance before its last restart, and the lines themselves — already passed through the log
//! redaction (`analysis::eso_logs::redact`) by the reader, so no value is held past the read.

use serde::{Deserialize, Serialize};

/// One container's recent lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodLog {
    pub namespace: String,
    pub pod: String,
    /// `namespace/app.kubernetes.io/instance/app.kubernetes.io/name`: one ESO installation's component.
    pub workload: String,
    /// The `app.kubernetes.io/name` label: `external-secrets`, `external-secrets-webhook`, ...
    pub component: String,
    pub container: String,
    /// From the container instance before its last restart.
    pub previous: bool,
    /// Redacted lines, oldest first.
    pub lines: Vec<LogLine>,
}

/// One redacted line, and the ESO object it names (read from the line before redaction: a name
/// that happens to equal a learned value must not stop the line from reaching its finding).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<LogAbout>,
}

/// `ExternalSecret`, `SecretStore` or `ClusterSecretStore`, as ESO's JSON logger names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogAbout {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// The object an ESO JSON line is about: the value under its kind, `{"name","namespace"}` (zap's
/// encoding of a NamespacedName) or `"namespace/name"`; `None` for any other line.
pub fn about_of(raw: &str) -> Option<LogAbout> {
    let v: serde_json::Value = serde_json::from_str(raw.trim()).ok()?;
    let obj = v.as_object()?;
    for kind in ["ExternalSecret", "SecretStore", "ClusterSecretStore"] {
        let (namespace, name) = match obj.get(kind) {
            Some(serde_json::Value::Object(o)) => (
                o.get("namespace")
                    .and_then(serde_json::Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                o.get("name")?.as_str()?.to_string(),
            ),
            Some(serde_json::Value::String(s)) => match s.split_once('/') {
                Some((ns, name)) => (Some(ns.to_string()), name.to_string()),
                None => (None, s.clone()),
            },
            _ => continue,
        };
        return Some(LogAbout {
            kind: kind.to_string(),
            namespace,
            name,
        });
    }
    None
}
