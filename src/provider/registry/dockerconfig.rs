//! Parses and validates pull-secret payloads (`.dockerconfigjson` and the legacy `.dockercfg`)
//! into per-registry entries whose credentials can never be printed, plus precise findings about
//! malformed entries. Pure: bytes in, data out, so every malformation is unit-tested without a server.
//! Findings name the registry key and field, never a value: a payload that fails to parse may
//! still hold a real password.

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

use super::redact::Redacted;
use super::reference::{RegistryKey, normalise_key};

/// Secret type of a `.dockerconfigjson` pull secret.
pub const TYPE_DOCKERCONFIGJSON: &str = "kubernetes.io/dockerconfigjson";
/// Secret type of a legacy `.dockercfg` pull secret.
pub const TYPE_DOCKERCFG: &str = "kubernetes.io/dockercfg";
/// Data key holding the payload of a [`TYPE_DOCKERCONFIGJSON`] Secret.
pub const KEY_DOCKERCONFIGJSON: &str = ".dockerconfigjson";
/// Data key holding the payload of a [`TYPE_DOCKERCFG`] Secret.
pub const KEY_DOCKERCFG: &str = ".dockercfg";

/// Fields a Docker config entry may carry (Docker's `AuthConfig`).
const KNOWN_FIELDS: &[&str] = &[
    "auth",
    "username",
    "password",
    "email",
    "serveraddress",
    "identitytoken",
    "registrytoken",
];

/// Which of the two payload layouts the bytes are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadFormat {
    /// `{"auths": {KEY: ENTRY}}`
    DockerConfigJson,
    /// `{KEY: ENTRY}` (legacy, no `auths` wrapper)
    DockerCfg,
}

impl PayloadFormat {
    /// The format for a Secret `type`, or `None` when the Secret is not a pull secret.
    pub fn from_secret_type(secret_type: &str) -> Option<PayloadFormat> {
        match secret_type {
            TYPE_DOCKERCONFIGJSON => Some(PayloadFormat::DockerConfigJson),
            TYPE_DOCKERCFG => Some(PayloadFormat::DockerCfg),
            _ => None,
        }
    }

    /// The Secret data key holding the payload.
    pub fn data_key(self) -> &'static str {
        match self {
            PayloadFormat::DockerConfigJson => KEY_DOCKERCONFIGJSON,
            PayloadFormat::DockerCfg => KEY_DOCKERCFG,
        }
    }
}

/// How a registry would be logged in to with an entry.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Credential {
    /// Username and password (from `auth` or the `username`/`password` fields).
    Basic {
        /// Read from the Secret: never serialized, never printed.
        #[serde(skip)]
        username: String,
        password: Redacted<String>,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token realm.
    IdentityToken {
        #[serde(skip)]
        username: Option<String>,
        token: Redacted<String>,
    },
    /// A bearer token sent to the registry as is (`registrytoken`).
    RegistryToken { token: Redacted<String> },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, password } => f
                .debug_struct("Basic")
                .field("username", &described_username(Some(username)))
                .field("password", password)
                .finish(),
            Credential::IdentityToken { username, token } => f
                .debug_struct("IdentityToken")
                .field("username", &described_username(username.as_deref()))
                .field("token", token)
                .finish(),
            Credential::RegistryToken { token } => f
                .debug_struct("RegistryToken")
                .field("token", token)
                .finish(),
        }
    }
}

impl Credential {
    /// The user name to show, when the credential has one.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credential::Basic { username, .. } => Some(username),
            Credential::IdentityToken { username, .. } => username.as_deref(),
            Credential::RegistryToken { .. } => None,
        }
    }

    /// Every string whose appearance in output would be a leak: the secret itself and the forms a
    /// server or a human might echo it in (base64 of `user:pass`). Used to scrub registry answers.
    pub fn secret_forms(&self) -> Vec<String> {
        match self {
            Credential::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                let mut forms = vec![
                    password.expose().clone(),
                    base64::engine::general_purpose::STANDARD.encode(&pair),
                    base64::engine::general_purpose::STANDARD.encode(password.expose()),
                ];
                forms.extend(scrubbable_username(username));
                forms
            }
            Credential::IdentityToken { token, username } => {
                let mut forms = vec![token.expose().clone()];
                forms.extend(username.as_deref().and_then(scrubbable_username));
                forms
            }
            Credential::RegistryToken { token } => vec![token.expose().clone()],
        }
    }
}

/// Usernames shorter than this are not scrubbed from registry answers: they would blank out
/// ordinary words. They are still never printed (see [`described_username`]).
const MIN_SCRUBBED_USERNAME: usize = 3;

fn scrubbable_username(username: &str) -> Option<String> {
    (username.chars().count() >= MIN_SCRUBBED_USERNAME).then(|| username.to_string())
}

/// What output may say about a username read from a Secret (issue 12: the username is secret
/// data too): whether it is set and how long it is, never its text.
pub fn described_username(username: Option<&str>) -> String {
    match username {
        Some(u) => format!("set ({} chars)", u.chars().count()),
        None => "<none>".to_string(),
    }
}

/// One entry of the `auths` map.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryEntry {
    /// The key as written in the payload, minus any `user:password@` (see
    /// [`super::matching::without_userinfo`]).
    pub key: String,
    /// The key normalised as runtimes do (`None` when the key is unusable).
    #[serde(skip)]
    pub normalised: Option<RegistryKey>,
    /// The normalised registry host (`docker.io` for Docker Hub), or the raw key when unusable.
    pub host: String,
    /// The user name, read from the Secret: never serialized nor printed (`described_username`).
    #[serde(skip)]
    pub username: Option<String>,
    /// What to log in with; `None` when the entry has no usable credentials (see the findings).
    pub credential: Option<Credential>,
}

impl std::fmt::Debug for RegistryEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryEntry")
            .field("key", &self.key)
            .field("normalised", &self.normalised)
            .field("host", &self.host)
            .field("username", &described_username(self.username.as_deref()))
            .field("credential", &self.credential)
            .finish()
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Warning,
    /// The entry (or the whole payload) cannot be used to log in.
    Error,
}

/// What is wrong with (or notable about) a payload or an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// `.dockerconfigjson` without an `auths` object.
    NoAuths,
    /// `auths` (or the legacy top level) is not a JSON object.
    AuthsNotObject,
    /// `auths` has no entries.
    EmptyAuths,
    /// The key does not name a registry host.
    BadRegistryKey,
    /// The entry is not a JSON object.
    EntryNotObject,
    /// A field that must be a string is not.
    FieldNotString,
    /// `auth` is not valid base64.
    BadBase64,
    /// Decoded `auth` is not UTF-8.
    AuthNotUtf8,
    /// Decoded `auth` has no `:` between user and password.
    AuthMissingColon,
    EmptyUsername,
    EmptyPassword,
    /// `auth` and the `username` field name different users (runtimes use `auth`).
    AuthDisagreesWithUsername,
    /// `auth` and the `password` field hold different passwords (runtimes use `auth`).
    AuthDisagreesWithPassword,
    /// The entry logs in with an OAuth2 refresh token.
    UsesIdentityToken,
    /// The entry sends a bearer token directly.
    UsesRegistryToken,
    /// A field Docker does not know (ignored by runtimes; often a typo).
    UnknownField,
    /// Neither `auth`, `username`/`password` nor a token.
    NoCredentials,
    /// Two keys normalise to the same registry; runtimes use one of them.
    DuplicateRegistry,
}

impl Problem {
    pub fn severity(self) -> Severity {
        use Problem::*;
        match self {
            UsesIdentityToken | UsesRegistryToken => Severity::Info,
            AuthDisagreesWithUsername
            | AuthDisagreesWithPassword
            | UnknownField
            | DuplicateRegistry => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// A fixed sentence; never built from payload values.
    pub fn describe(self) -> &'static str {
        use Problem::*;
        match self {
            NoAuths => "payload has no \"auths\" object",
            AuthsNotObject => "\"auths\" is not a JSON object",
            EmptyAuths => "\"auths\" has no registries",
            BadRegistryKey => "key does not name a registry host",
            EntryNotObject => "entry is not a JSON object",
            FieldNotString => "field is not a string",
            BadBase64 => "\"auth\" is not valid base64",
            AuthNotUtf8 => "decoded \"auth\" is not UTF-8 text",
            AuthMissingColon => "decoded \"auth\" has no ':' between username and password",
            EmptyUsername => "username is empty",
            EmptyPassword => "password is empty",
            AuthDisagreesWithUsername => {
                "\"auth\" names a different user than \"username\" (runtimes use \"auth\")"
            }
            AuthDisagreesWithPassword => {
                "\"auth\" holds a different password than \"password\" (runtimes use \"auth\")"
            }
            UsesIdentityToken => "entry uses an identity token (OAuth2 refresh-token flow)",
            UsesRegistryToken => "entry uses a registry token (sent as bearer token)",
            UnknownField => "unknown field (ignored by container runtimes)",
            NoCredentials => "entry has neither \"auth\", \"username\"/\"password\" nor a token",
            DuplicateRegistry => "another key names the same registry",
        }
    }
}

/// A typed finding about the payload: which registry key, which field, what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigFinding {
    /// The registry key as written (`None` for whole-payload problems).
    pub registry: Option<String>,
    /// The field concerned (`auth`, `password`, an unknown field's name...).
    pub field: Option<String>,
    pub problem: Problem,
    pub severity: Severity,
    pub message: String,
}

impl ConfigFinding {
    fn new(registry: Option<&str>, field: Option<&str>, problem: Problem) -> ConfigFinding {
        let mut message = String::new();
        if let Some(registry) = registry {
            message.push_str(&format!("registry {registry:?}: "));
        }
        if let Some(field) = field {
            message.push_str(&format!("field {field:?}: "));
        }
        message.push_str(problem.describe());
        ConfigFinding {
            registry: registry.map(str::to_string),
            field: field.map(str::to_string),
            problem,
            severity: problem.severity(),
            message,
        }
    }
}

/// A payload split into entries and findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DockerConfig {
    pub entries: Vec<RegistryEntry>,
    pub findings: Vec<ConfigFinding>,
}

impl DockerConfig {
    /// Whether an entry has an error finding (it cannot be used to log in).
    pub fn entry_is_broken(&self, key: &str) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Error && f.registry.as_deref() == Some(key))
    }
}

/// The payload is not JSON at all. Only the position is reported: the parser's own message may
/// quote the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pull secret payload is not valid JSON ({kind}) at line {line} column {column}")]
pub struct NotJson {
    pub kind: &'static str,
    pub line: usize,
    pub column: usize,
}

/// Parses a payload. `Err` only when it is not JSON; everything else is a finding.
pub fn parse(format: PayloadFormat, bytes: &[u8]) -> Result<DockerConfig, NotJson> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| NotJson {
        kind: match e.classify() {
            serde_json::error::Category::Eof => "ends early",
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax | serde_json::error::Category::Data => {
                "syntax error"
            }
        },
        line: e.line(),
        column: e.column(),
    })?;
    let mut config = DockerConfig::default();
    let auths = match format {
        PayloadFormat::DockerConfigJson => match root.as_object().and_then(|o| o.get("auths")) {
            None => {
                config
                    .findings
                    .push(ConfigFinding::new(None, None, Problem::NoAuths));
                return Ok(config);
            }
            Some(auths) => auths,
        },
        PayloadFormat::DockerCfg => &root,
    };
    let Some(auths) = auths.as_object() else {
        let field = (format == PayloadFormat::DockerConfigJson).then_some("auths");
        config
            .findings
            .push(ConfigFinding::new(None, field, Problem::AuthsNotObject));
        return Ok(config);
    };
    if auths.is_empty() {
        config
            .findings
            .push(ConfigFinding::new(None, None, Problem::EmptyAuths));
    }
    for (key, value) in auths {
        // A key written `https://user:password@host` carries a credential; only the rest is kept.
        let key = super::matching::without_userinfo(key);
        let key = key.as_ref();
        let entry = parse_entry(key, value, &mut config.findings);
        if let Some(normalised) = &entry.normalised
            && config
                .entries
                .iter()
                .any(|e| e.normalised.as_ref() == Some(normalised))
        {
            config.findings.push(ConfigFinding::new(
                Some(key),
                None,
                Problem::DuplicateRegistry,
            ));
        }
        config.entries.push(entry);
    }
    Ok(config)
}

/// Collects findings for one entry.
struct EntryFindings<'a> {
    key: &'a str,
    out: &'a mut Vec<ConfigFinding>,
}

impl EntryFindings<'_> {
    fn add(&mut self, field: Option<&str>, problem: Problem) {
        self.out
            .push(ConfigFinding::new(Some(self.key), field, problem));
    }

    /// A string field, or a finding when it has another JSON type.
    fn text(&mut self, fields: &Map<String, Value>, name: &str) -> Option<String> {
        match fields.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.add(Some(name), Problem::FieldNotString);
                None
            }
        }
    }
}

fn parse_entry(key: &str, value: &Value, out: &mut Vec<ConfigFinding>) -> RegistryEntry {
    let normalised = normalise_key(key);
    let mut entry = RegistryEntry {
        key: key.to_string(),
        host: normalised
            .as_ref()
            .map_or_else(|| key.to_string(), |k| k.host.clone()),
        normalised,
        username: None,
        credential: None,
    };
    let mut findings = EntryFindings { key, out };
    if entry.normalised.is_none() {
        findings.add(None, Problem::BadRegistryKey);
    }
    let Some(fields) = value.as_object() else {
        findings.add(None, Problem::EntryNotObject);
        return entry;
    };
    for name in fields.keys() {
        if !KNOWN_FIELDS.contains(&name.as_str()) {
            findings.add(Some(name), Problem::UnknownField);
        }
    }
    let auth = findings.text(fields, "auth");
    let username = findings.text(fields, "username");
    let password = findings.text(fields, "password");
    let identity_token = findings.text(fields, "identitytoken");
    let registry_token = findings.text(fields, "registrytoken");

    let from_auth = auth
        .as_deref()
        .and_then(|auth| decode_auth(auth, &mut findings));
    if let Some((auth_user, auth_pass)) = &from_auth {
        if username.as_deref().is_some_and(|u| u != auth_user) {
            findings.add(Some("username"), Problem::AuthDisagreesWithUsername);
        }
        if password.as_deref().is_some_and(|p| p != auth_pass.expose()) {
            findings.add(Some("password"), Problem::AuthDisagreesWithPassword);
        }
    }
    // A present `auth` of the wrong type already has its finding; it still means "use auth".
    let auth_was_given = fields.get("auth").is_some_and(|v| !v.is_null());
    let (user, pass) = match from_auth {
        Some((user, pass)) => (Some(user), Some(pass)),
        // A present but broken `auth` already has its finding; runtimes would not fall back.
        None if auth_was_given => (username, None),
        None => (username, password.map(Redacted::new)),
    };
    entry.username = user.clone().filter(|u| !u.is_empty());

    if let Some(token) = registry_token.filter(|t| !t.is_empty()) {
        findings.add(Some("registrytoken"), Problem::UsesRegistryToken);
        entry.credential = Some(Credential::RegistryToken {
            token: Redacted::new(token),
        });
        return entry;
    }
    if let Some(token) = identity_token.filter(|t| !t.is_empty()) {
        findings.add(Some("identitytoken"), Problem::UsesIdentityToken);
        entry.credential = Some(Credential::IdentityToken {
            username: entry.username.clone(),
            token: Redacted::new(token),
        });
        return entry;
    }
    if auth_was_given && pass.is_none() {
        return entry;
    }
    if user.is_none() && pass.is_none() {
        findings.add(None, Problem::NoCredentials);
        return entry;
    }
    let user = user.unwrap_or_default();
    let pass = pass.unwrap_or_else(|| Redacted::new(String::new()));
    let field = |name: &'static str| Some(if auth_was_given { "auth" } else { name });
    if user.is_empty() {
        findings.add(field("username"), Problem::EmptyUsername);
    }
    if pass.expose().is_empty() {
        findings.add(field("password"), Problem::EmptyPassword);
    }
    if !user.is_empty() && !pass.expose().is_empty() {
        entry.credential = Some(Credential::Basic {
            username: user,
            password: pass,
        });
    }
    entry
}

/// Decodes `auth` (base64 of `user:password`, split at the first colon as Docker does).
fn decode_auth(auth: &str, findings: &mut EntryFindings<'_>) -> Option<(String, Redacted<String>)> {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(auth.trim()) else {
        findings.add(Some("auth"), Problem::BadBase64);
        return None;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        findings.add(Some("auth"), Problem::AuthNotUtf8);
        return None;
    };
    let Some((user, pass)) = text.split_once(':') else {
        findings.add(Some("auth"), Problem::AuthMissingColon);
        return None;
    };
    Some((user.to_string(), Redacted::new(pass.to_string())))
}

#[cfg(test)]
#[path = "dockerconfig_tests.rs"]
mod tests;
