//! Unit tests for `dockerconfig`: every malformation a pull secret can have, each reported with
//! its registry key and field, and no credential in any Debug / JSON form.

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
    let payload = format!(r#"{{"https://index.docker.io/v1/":{{"auth":"{auth}","email":"x"}}}}"#);
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
