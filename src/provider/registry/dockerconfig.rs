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
        username: String,
        password: Redacted<String>,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token realm.
    IdentityToken {
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
                .field("username", username)
                .field("password", password)
                .finish(),
            Credential::IdentityToken { username, token } => f
                .debug_struct("IdentityToken")
                .field("username", username)
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
                vec![
                    password.expose().clone(),
                    base64::engine::general_purpose::STANDARD.encode(&pair),
                    base64::engine::general_purpose::STANDARD.encode(password.expose()),
                ]
            }
            Credential::IdentityToken { token, .. } | Credential::RegistryToken { token } => {
                vec![token.expose().clone()]
            }
        }
    }
}

/// One entry of the `auths` map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryEntry {
    /// The key exactly as written in the payload.
    pub key: String,
    /// The key normalised as runtimes do (`None` when the key is unusable).
    #[serde(skip)]
    pub normalised: Option<RegistryKey>,
    /// The normalised registry host (`docker.io` for Docker Hub), or the raw key when unusable.
    pub host: String,
    /// The user name, shown to users.
    pub username: Option<String>,
    /// What to log in with; `None` when the entry has no usable credentials (see the findings).
    pub credential: Option<Credential>,
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
mod tests {
    use super::*;

    const PASSWORD: &str = "Pa55-w0rd-canary";

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn parse_json(payload: &str) -> DockerConfig {
        parse(PayloadFormat::DockerConfigJson, payload.as_bytes())
            .unwrap_or_else(|e| panic!("unexpected: {e}"))
    }

    fn problems(config: &DockerConfig) -> Vec<(Option<&str>, Option<&str>, Problem)> {
        config
            .findings
            .iter()
            .map(|f| (f.registry.as_deref(), f.field.as_deref(), f.problem))
            .collect()
    }

    fn assert_no_leak(config: &DockerConfig, secrets: &[&str]) {
        let outputs = [
            format!("{config:?}"),
            format!("{config:#?}"),
            serde_json::to_string(config).unwrap_or_default(),
        ];
        for output in outputs {
            for secret in secrets {
                assert!(!output.contains(secret), "leaked {secret:?} in {output}");
            }
        }
    }

    #[test]
    fn a_good_auth_entry_gives_basic_credentials() {
        let auth = b64(&format!("robot:{PASSWORD}"));
        let config = parse_json(&format!(
            r#"{{"auths":{{"https://registry.internal:5000/":{{"auth":"{auth}"}}}}}}"#
        ));
        assert_eq!(problems(&config), vec![]);
        let entry = &config.entries[0];
        assert_eq!(entry.key, "https://registry.internal:5000/");
        assert_eq!(entry.host, "registry.internal:5000");
        assert_eq!(entry.username.as_deref(), Some("robot"));
        match &entry.credential {
            Some(Credential::Basic { username, password }) => {
                assert_eq!(username, "robot");
                assert_eq!(password.expose(), PASSWORD);
            }
            other => panic!("unexpected credential {other:?}"),
        }
        assert_no_leak(&config, &[PASSWORD, &auth]);
    }

    #[test]
    fn username_and_password_fields_work_without_auth() {
        let config = parse_json(&format!(
            r#"{{"auths":{{"quay.io":{{"username":"bob","password":"{PASSWORD}","email":"b@x"}}}}}}"#
        ));
        assert_eq!(problems(&config), vec![]);
        assert_eq!(
            config.entries[0]
                .credential
                .as_ref()
                .and_then(Credential::username),
            Some("bob")
        );
        assert_no_leak(&config, &[PASSWORD]);
    }

    #[test]
    fn legacy_dockercfg_has_no_auths_wrapper() {
        let auth = b64(&format!("u:{PASSWORD}"));
        let payload =
            format!(r#"{{"https://index.docker.io/v1/":{{"auth":"{auth}","email":"x"}}}}"#);
        let config =
            parse(PayloadFormat::DockerCfg, payload.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(problems(&config), vec![]);
        assert_eq!(config.entries[0].host, "docker.io");
        assert_eq!(
            PayloadFormat::from_secret_type("kubernetes.io/dockercfg"),
            Some(PayloadFormat::DockerCfg)
        );
        assert_eq!(PayloadFormat::from_secret_type("Opaque"), None);
    }

    #[test]
    fn not_json_reports_position_without_content() {
        let err = parse(
            PayloadFormat::DockerConfigJson,
            format!("{{\"auths\": {{\"r\": {{\"auth\": {PASSWORD}}}}}}}").as_bytes(),
        );
        let err = match err {
            Err(e) => e,
            Ok(c) => panic!("expected an error, got {c:?}"),
        };
        assert_eq!(err.line, 1);
        assert!(err.column > 20, "column {}", err.column);
        assert!(!err.to_string().contains(PASSWORD));
        assert!(err.to_string().contains("line 1 column"));
        let eof = parse(PayloadFormat::DockerConfigJson, b"{\n\"auths\": {");
        assert!(matches!(
            eof,
            Err(NotJson {
                kind: "ends early",
                line: 2,
                ..
            })
        ));
    }

    #[test]
    fn missing_or_wrong_auths_is_a_payload_finding() {
        assert_eq!(
            problems(&parse_json(r#"{"credHelpers":{}}"#)),
            vec![(None, None, Problem::NoAuths)]
        );
        assert_eq!(
            problems(&parse_json(r#"{"auths":[]}"#)),
            vec![(None, Some("auths"), Problem::AuthsNotObject)]
        );
        assert_eq!(
            problems(&parse_json(r#"{"auths":{}}"#)),
            vec![(None, None, Problem::EmptyAuths)]
        );
        assert_eq!(
            problems(&parse_json(r#"[1]"#)),
            vec![(None, None, Problem::NoAuths)]
        );
    }

    #[test]
    fn each_malformed_entry_is_reported_with_key_and_field() {
        let no_colon = b64(PASSWORD);
        let empty_pass = b64("robot:");
        let empty_user = b64(&format!(":{PASSWORD}"));
        let payload = format!(
            r#"{{"auths":{{
                "a.example":"{PASSWORD}",
                "b.example":{{"auth":"%%%{PASSWORD}"}},
                "c.example":{{"auth":"{no_colon}"}},
                "d.example":{{"auth":"{empty_pass}"}},
                "e.example":{{"auth":"{empty_user}"}},
                "f.example":{{"username":"u","password":""}},
                "g.example":{{"username":"u","password":"{PASSWORD}","passwrod":"{PASSWORD}"}},
                "h.example":{{"auth":42}},
                "i.example":{{"email":"x@y"}}
            }}}}"#
        );
        let config = parse_json(&payload);
        let got = problems(&config);
        let want = vec![
            (Some("a.example"), None, Problem::EntryNotObject),
            (Some("b.example"), Some("auth"), Problem::BadBase64),
            (Some("c.example"), Some("auth"), Problem::AuthMissingColon),
            (Some("d.example"), Some("auth"), Problem::EmptyPassword),
            (Some("e.example"), Some("auth"), Problem::EmptyUsername),
            (Some("f.example"), Some("password"), Problem::EmptyPassword),
            (Some("g.example"), Some("passwrod"), Problem::UnknownField),
            (Some("h.example"), Some("auth"), Problem::FieldNotString),
            (Some("i.example"), None, Problem::NoCredentials),
        ];
        assert_eq!(got, want);
        for entry in &config.entries {
            if entry.key != "g.example" {
                assert!(entry.credential.is_none(), "{}", entry.key);
            }
        }
        assert!(config.entry_is_broken("b.example"));
        assert!(!config.entry_is_broken("g.example"));
        assert_no_leak(&config, &[PASSWORD, &no_colon, &empty_user]);
        for finding in &config.findings {
            assert!(!finding.message.contains(PASSWORD));
        }
    }

    #[test]
    fn auth_disagreeing_with_fields_is_a_warning_and_auth_wins() {
        let auth = b64(&format!("robot:{PASSWORD}"));
        let config = parse_json(&format!(
            r#"{{"auths":{{"r.example":{{"auth":"{auth}","username":"other","password":"stale-old-pass"}}}}}}"#
        ));
        assert_eq!(
            problems(&config),
            vec![
                (
                    Some("r.example"),
                    Some("username"),
                    Problem::AuthDisagreesWithUsername
                ),
                (
                    Some("r.example"),
                    Some("password"),
                    Problem::AuthDisagreesWithPassword
                ),
            ]
        );
        assert_eq!(config.entries[0].username.as_deref(), Some("robot"));
        assert_no_leak(&config, &[PASSWORD, "stale-old-pass", &auth]);
    }

    #[test]
    fn tokens_choose_the_flow_and_stay_hidden() {
        let config = parse_json(
            r#"{"auths":{
                "id.example":{"username":"00000000-0000-0000-0000-000000000000","identitytoken":"refresh-canary"},
                "rt.example":{"registrytoken":"bearer-canary"}
            }}"#,
        );
        assert_eq!(
            problems(&config),
            vec![
                (
                    Some("id.example"),
                    Some("identitytoken"),
                    Problem::UsesIdentityToken
                ),
                (
                    Some("rt.example"),
                    Some("registrytoken"),
                    Problem::UsesRegistryToken
                ),
            ]
        );
        assert!(matches!(
            config.entries[0].credential,
            Some(Credential::IdentityToken { .. })
        ));
        assert!(matches!(
            config.entries[1].credential,
            Some(Credential::RegistryToken { .. })
        ));
        assert_no_leak(&config, &["refresh-canary", "bearer-canary"]);
    }

    #[test]
    fn two_keys_for_one_registry_are_flagged() {
        let auth = b64("u:p");
        let config = parse_json(&format!(
            r#"{{"auths":{{"docker.io":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#
        ));
        assert_eq!(
            problems(&config),
            vec![(
                Some("https://index.docker.io/v1/"),
                None,
                Problem::DuplicateRegistry
            )]
        );
    }

    #[test]
    fn secret_forms_cover_password_and_its_base64() {
        let cred = Credential::Basic {
            username: "u".into(),
            password: Redacted::new(PASSWORD.into()),
        };
        let forms = cred.secret_forms();
        assert!(forms.contains(&PASSWORD.to_string()));
        assert!(forms.contains(&b64(&format!("u:{PASSWORD}"))));
    }
}
