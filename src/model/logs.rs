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
    pub lines: Vec<String>,
}
