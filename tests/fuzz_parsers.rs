//! Issue 18: one fuzz target per parser that takes outside input — event and error text
//! sanitizing, the redaction boundary over learned values, Go and flag durations, the force-sync annotation, dockerconfigjson payloads,
//! ExternalSecret / store specs (as `describe-chain` extracts them and as `scope` deserializes and
//! judges them), Vault remote keys and registry keys / image references. Each runs a fixed number
//! of iterations under plain `cargo test` on stable Rust: a small mutation engine (seeds from real
//! objects, a dictionary of hostile tokens, byte-level mutations, random JSON over ESO's own field
//! names) driven by a seeded `fastrand`, so a failure is reproducible. `FUZZ_ITERATIONS` and
//! `FUZZ_SEED` change the run (e.g. a longer nightly run); the seed is printed on failure.
//!
//! Each target asserts no panic and its invariant: sanitized text has no control characters and
//! is capped, parsed durations stay in range, the annotation always changes and stays positive,
//! a Vault key that is not refused reaches the server as exactly the path that was checked.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use kubectl_eso::analysis::duration::{GO_MAX_DURATION, parse_go_duration, periodic_refresh};
use kubectl_eso::provider::registry::dockerconfig::{self, PayloadFormat};
use kubectl_eso::provider::registry::reference::{normalise_key, parse_image};
use kubectl_eso::provider::vault::{RemoteKey, VaultStore, refused_key};
use kubectl_eso::sanitize::{self, MAX_OUTSIDE_BYTES};
use serde_json::{Map, Value, json};

/// Room for the "… [cut: N bytes in all]" marker.
const MARKER_ROOM: usize = 48;

fn iterations() -> usize {
    std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Runs `target` on `iterations()` generated inputs; a panic names the seed and the input.
fn fuzz<T: std::fmt::Debug>(
    name: &str,
    mut generate: impl FnMut(&mut fastrand::Rng) -> T,
    target: impl Fn(&T),
) {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            name.bytes().fold(0xcbf29ce484222325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
            })
        });
    let mut rng = fastrand::Rng::with_seed(seed);
    for i in 0..iterations() {
        let input = generate(&mut rng);
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let shown: String = format!("{input:?}").chars().take(2000).collect();
            panic!("fuzz target {name} failed at iteration {i} (FUZZ_SEED={seed}): {shown}");
        }
    }
}

/// Tokens that have broken parsers like these before.
const DICTIONARY: &[&str] = &[
    "\u{1b}]0;pwned\u{7}",
    "\u{1b}[31m",
    "\u{1b}[",
    "\u{1b}]8;;http://x\u{1b}\\",
    "\u{1b}P",
    "\u{9b}2J",
    "\u{9d}0;t\u{9c}",
    "\u{202e}",
    "\u{2066}",
    "\r\n",
    "\t",
    "\0",
    "..",
    "/../",
    "./",
    "//",
    "%2e%2e",
    "%2f",
    "%",
    "\\",
    "?",
    "#",
    " ",
    "é",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "null",
    "9223372036854775807",
    "18446744073709551616",
    "99999999999999999999999999999999999999",
    "3000000000000000h",
    "2562047h47m16.854775807s",
    "1e400",
    "h",
    "m",
    "s",
    "ms",
    "µs",
    "ns",
    "-",
    ".",
    "0",
    "300000000000y",
    "https://",
    "[::1]",
    ":5000",
    "@",
    "*",
];

fn mutate(rng: &mut fastrand::Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.usize(1..=8) {
        let at = rng.usize(0..=data.len());
        match rng.u8(0..6) {
            0 if !data.is_empty() => {
                let i = rng.usize(0..data.len());
                data[i] ^= 1 << rng.u8(0..8);
            }
            1 => data.insert(at, rng.u8(..)),
            2 | 3 => {
                let token = DICTIONARY[rng.usize(0..DICTIONARY.len())].as_bytes();
                data.splice(at..at, token.iter().copied());
            }
            4 if !data.is_empty() => {
                let start = rng.usize(0..data.len());
                let end = (start + rng.usize(1..=16)).min(data.len());
                data.drain(start..end);
            }
            _ => {
                // Repeat a token many times: long inputs and deep nesting.
                let token = DICTIONARY[rng.usize(0..DICTIONARY.len())].as_bytes();
                for _ in 0..rng.usize(1..=64) {
                    data.splice(at..at, token.iter().copied());
                }
            }
        }
    }
    data
}

fn text_from(rng: &mut fastrand::Rng, seeds: &[&str]) -> String {
    let seed = seeds[rng.usize(0..seeds.len())];
    String::from_utf8_lossy(&mutate(rng, seed.as_bytes())).into_owned()
}

fn no_control(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
}

const EVENT_SEEDS: &[&str] = &[
    "error processing spec.data[0] (key: order-service), err: Error making API request.\n\nURL: GET \
     https://vault:8200/v1/registry-creds/data/order-service\nCode: 403. Errors:\n\n* 1 error occurred:\n\t* permission denied\n",
    "could not get secret data from provider",
    "AADSTS7000222: The provided client secret keys for app '6f1c2a8e' are expired.",
    "",
];

#[test]
fn issue_18_fuzz_event_text_sanitizing() {
    fuzz(
        "sanitize",
        |rng| {
            let mut s = text_from(rng, EVENT_SEEDS);
            if rng.u8(0..50) == 0 {
                s = s.repeat(MAX_OUTSIDE_BYTES / s.len().max(1) + 2);
            }
            s
        },
        |input| {
            let line = sanitize::line(input);
            assert!(no_control(&line), "line kept a control character: {line:?}");
            assert!(
                line.len() <= MAX_OUTSIDE_BYTES + MARKER_ROOM,
                "{}",
                line.len()
            );
            let text = sanitize::text(input);
            assert!(
                no_control(&text.replace(['\n', '\t'], "")),
                "text kept a control character: {text:?}"
            );
            assert!(
                text.len() <= MAX_OUTSIDE_BYTES + MARKER_ROOM,
                "{}",
                text.len()
            );
            if input.len() <= MAX_OUTSIDE_BYTES {
                assert_eq!(sanitize::line(&line), line, "line is not idempotent");
            }
        },
    );
}

/// A credential the run learned, from an alphabet that survives control-sequence stripping
/// unchanged (the boundary strips those before matching), multibyte characters included.
fn random_credential(rng: &mut fastrand::Rng) -> String {
    const ALPHABET: &[char] = &[
        'a', 'Z', '0', '9', 'q', 'x', '-', '_', '.', ':', '/', '@', '+', '=', ' ', '"', '\\', '%',
        'é', '€', '😀',
    ];
    let len = rng.usize(kubectl_eso::redact::MIN_LEN..=40);
    (0..len)
        .map(|_| ALPHABET[rng.usize(0..ALPHABET.len())])
        .collect()
}

/// Event text with a learned credential quoted in one of the forms it travels in.
fn text_quoting(rng: &mut fastrand::Rng, secret: &str) -> (String, String) {
    use base64::Engine;
    let form = match rng.u8(0..5) {
        0 => base64::engine::general_purpose::STANDARD.encode(secret),
        1 => secret.bytes().map(|b| format!("{b:02x}")).collect(),
        2 => {
            let quoted = serde_json::to_string(secret).unwrap_or_default();
            quoted[1..quoted.len() - 1].to_string()
        }
        3 => secret
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect(),
        _ => secret.to_string(),
    };
    let mut text = text_from(rng, EVENT_SEEDS);
    let mut at = rng.usize(0..=text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.insert_str(at, &form);
    (text, form)
}

#[test]
fn issue_18_fuzz_redaction_boundary() {
    fuzz(
        "redact",
        |rng| {
            let secret = random_credential(rng);
            let (text, form) = text_quoting(rng, &secret);
            (secret, form, text)
        },
        |(secret, form, text)| {
            let mut r = kubectl_eso::redact::Redactor::new();
            r.learn_str(secret);
            for keep_colour in [false, true] {
                let out = if keep_colour {
                    r.redact_keep_colour(text)
                } else {
                    r.redact(text)
                };
                assert!(!out.contains(form.as_str()), "{form:?} in {out:?}");
                assert!(!out.contains(secret.as_str()), "{secret:?} in {out:?}");
                if !keep_colour {
                    assert!(
                        no_control(&out.replace(['\n', '\t'], "")),
                        "control character kept: {out:?}"
                    );
                }
            }
        },
    );
}

#[test]
fn issue_18_fuzz_registry_error_cleaner() {
    let secrets = vec![
        "s3cr3t-pass-FUZZ".to_string(),
        "czNjcjN0LXBhc3M=".to_string(),
    ];
    let seeds = [
        "unauthorized: s3cr3t-pass-FUZZ is wrong",
        "s3cr3t-\u{1b}[0mpass-FUZZ",
        "s3cr3t-pa\u{1b}]0;x\u{7}ss-FUZZ Basic czNjcjN0LXBhc3M=",
        "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
    ];
    fuzz(
        "registry-clean",
        |rng| text_from(rng, &seeds),
        |input| {
            let cleaned = kubectl_eso::provider::registry::challenge::clean(input, &secrets);
            assert!(no_control(&cleaned), "{cleaned:?}");
            for s in &secrets {
                assert!(!cleaned.contains(s.as_str()), "secret in {cleaned:?}");
            }
        },
    );
}

#[test]
fn issue_18_fuzz_durations() {
    let seeds = [
        "1h",
        "1h0m0s",
        "15m",
        "0",
        "500ms",
        "1.5h",
        "30",
        "2m",
        "3000000000000000h",
    ];
    fuzz(
        "durations",
        |rng| text_from(rng, &seeds),
        |input| {
            if let Some(d) = parse_go_duration(input) {
                assert!(d <= GO_MAX_DURATION, "{d:?}");
            }
            if let Some(every) = periodic_refresh(None, Some(input)) {
                // What scope's staleness rule does with it must not overflow.
                let _ = every.saturating_mul(2);
                assert!(!every.is_zero());
            }
            let max = Duration::from_secs(24 * 3600);
            match kubectl_eso::config::parse_duration_flag("--timeout", input, max, "30s") {
                Ok(Some(d)) => assert!(d <= max && !d.is_zero(), "{d:?}"),
                Ok(None) => {}
                Err(e) => {
                    let m = e.to_string();
                    assert!(no_control(&m), "{m:?}");
                }
            }
        },
    );
}

#[test]
fn issue_18_fuzz_force_sync_annotation() {
    let seeds = [
        "1764000000",
        "9223372036854775807",
        "-9223372036854775808",
        "0",
        "abc",
    ];
    let now: jiff::Timestamp = "2026-11-22T10:30:00Z".parse().unwrap_or_default();
    fuzz(
        "force-sync-annotation",
        |rng| text_from(rng, &seeds),
        |existing| {
            let value = kubectl_eso::analysis::force_sync::annotation_value(now, Some(existing));
            assert_ne!(
                value.as_str(),
                existing.trim(),
                "the annotation did not change"
            );
            let n: i64 = value.parse().unwrap_or(-1);
            assert!(n > 0, "annotation {value:?} for {existing:?}");
        },
    );
}

const DOCKERCONFIG_SEEDS: &[&str] = &[
    r#"{"auths":{"registry.internal:5000":{"username":"u","password":"p","auth":"dTpw"}}}"#,
    r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw","identitytoken":"t"}}}"#,
    r#"{"auths":{"[::1]:5000":{"registrytoken":"t"},"*.example.com":{"auth":"Og=="}}}"#,
    r#"{"registry.internal":{"auth":"dTpw","email":"a@b"}}"#,
    r#"{"auths":{"":{}}}"#,
];

#[test]
fn issue_18_fuzz_dockerconfigjson() {
    fuzz(
        "dockerconfigjson",
        |rng| {
            let seed = DOCKERCONFIG_SEEDS[rng.usize(0..DOCKERCONFIG_SEEDS.len())];
            (rng.bool(), mutate(rng, seed.as_bytes()))
        },
        |(legacy, bytes)| {
            let format = if *legacy {
                PayloadFormat::DockerCfg
            } else {
                PayloadFormat::DockerConfigJson
            };
            if let Ok(config) = dockerconfig::parse(format, bytes) {
                if let Err(e) = serde_json::to_string(&config) {
                    panic!("parsed config does not serialize: {e}");
                }
                // Keys and usernames stay as written (the output boundary sanitizes them); what
                // the parser itself says is clean, and a key with control characters is never
                // used for a request.
                for f in &config.findings {
                    assert!(no_control(&f.message), "{:?}", f.message);
                }
                for entry in &config.entries {
                    // Surrounding white space is trimmed, as runtimes read keys.
                    if !no_control(entry.key.trim()) {
                        assert!(entry.normalised.is_none(), "{:?} was normalised", entry.key);
                    }
                }
            }
        },
    );
}

/// ESO's field names, so random JSON lands on the paths the extractors read.
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "uid",
    "generation",
    "annotations",
    "labels",
    "ownerReferences",
    "spec",
    "status",
    "data",
    "dataFrom",
    "remoteRef",
    "extract",
    "find",
    "key",
    "property",
    "version",
    "secretKey",
    "secretStoreRef",
    "target",
    "template",
    "creationPolicy",
    "refreshInterval",
    "refreshPolicy",
    "refreshTime",
    "conditions",
    "type",
    "reason",
    "message",
    "lastTransitionTime",
    "syncedResourceVersion",
    "provider",
    "vault",
    "azurekv",
    "server",
    "path",
    "auth",
    "kubernetes",
    "role",
    "mountPath",
    "tokenSecretRef",
    "count",
    "lastTimestamp",
    "eventTime",
    "creationTimestamp",
    "involvedObject",
];

fn random_string(rng: &mut fastrand::Rng) -> String {
    let seeds = [
        "1h",
        "Ready",
        "True",
        "False",
        "prod",
        "order-service",
        "../../sys/policy/root",
        "2026-11-22T10:30:00Z",
        "external-secrets.io/v1",
        "ClusterSecretStore",
        "SecretStore",
        "CreatedOnce",
        "Periodic",
        "3000000000000000h",
    ];
    text_from(rng, &seeds)
}

fn random_json(rng: &mut fastrand::Rng, depth: usize) -> Value {
    match rng.u8(0..if depth == 0 { 4 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.bool()),
        2 => match rng.u8(0..3) {
            0 => json!(rng.i64(..)),
            1 => json!(rng.f64() * 1e300),
            _ => json!(rng.u64(..)),
        },
        3 => json!(random_string(rng)),
        4 => Value::Array(
            (0..rng.usize(0..4))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.usize(0..6) {
                let k = KEYS[rng.usize(0..KEYS.len())];
                m.insert(k.to_string(), random_json(rng, depth - 1));
            }
            Value::Object(m)
        }
    }
}

/// A plausible ExternalSecret, then random subtrees grafted onto it.
fn random_external_secret(rng: &mut fastrand::Rng) -> Value {
    let mut es = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "es", "namespace": "prod", "uid": "u-1", "generation": 1},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
            "target": {"name": "t"},
            "data": [{"secretKey": "k", "remoteRef": {"key": "a", "property": "p"}}],
            "dataFrom": [{"extract": {"key": "b"}}]
        },
        "status": {
            "refreshTime": "2026-11-22T09:30:00Z",
            "syncedResourceVersion": "1-abc",
            "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "ok"}]
        }
    });
    let paths = [
        "/spec/refreshInterval",
        "/spec/refreshPolicy",
        "/spec/data/0/remoteRef/key",
        "/spec/data",
        "/spec/dataFrom/0",
        "/spec/secretStoreRef",
        "/spec/target",
        "/status/refreshTime",
        "/status/conditions/0/message",
        "/status/conditions",
        "/metadata/generation",
        "/metadata",
        "/spec",
    ];
    for _ in 0..rng.usize(1..=4) {
        let path = paths[rng.usize(0..paths.len())];
        let value = if rng.bool() {
            json!(random_string(rng))
        } else {
            random_json(rng, 3)
        };
        if let Some(slot) = es.pointer_mut(path) {
            *slot = value;
        }
    }
    es
}

fn for_each_string(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| for_each_string(x, f)),
        Value::Object(m) => m.values().for_each(|x| for_each_string(x, f)),
        _ => {}
    }
}

#[test]
fn issue_18_fuzz_external_secret_and_store_specs() {
    let now: jiff::Timestamp = "2026-11-22T10:30:00Z".parse().unwrap_or_default();
    fuzz("es-spec", random_external_secret, |es| {
        use kubectl_eso::kube::chain::extract;
        // describe-chain's reading: every string sanitized and capped.
        let facts = extract::external_secret(es);
        let events = extract::events(std::slice::from_ref(es), 10);
        let (_, settings) = extract::provider_settings(es);
        let shown = json!({"facts": facts, "events": events, "settings": settings});
        for_each_string(&shown, &mut |s| {
            assert!(no_control(&s.replace(['\n', '\t'], "")), "{s:?}");
            assert!(s.len() <= MAX_OUTSIDE_BYTES + MARKER_ROOM, "{}", s.len());
        });
        let report = kubectl_eso::analysis::chain::analyse(
            kubectl_eso::model::chain::ChainFacts {
                external_secret: facts,
                ..Default::default()
            },
            now,
        );
        let _ = serde_json::to_string(&report);
        // scope's and doctor's reading: typed, then judged (refreshInterval arithmetic).
        if let Ok(typed) =
            serde_json::from_value::<kubectl_eso::model::eso::ExternalSecret>(es.clone())
        {
            let snapshot = kubectl_eso::model::scope::ScopeSnapshot {
                eso_api_version: "external-secrets.io/v1".into(),
                namespace: Some("prod".into()),
                external_secrets: vec![typed],
                secret_stores: Ok(Vec::new()),
                cluster_secret_stores: Ok(Vec::new()),
                cluster_external_secrets: Ok(Vec::new()),
                secrets: Ok(Vec::new()),
                events: Ok(Vec::new()),
                store_events: Vec::new(),
                workload: None,
                secret_stores_elsewhere: Vec::new(),
            };
            let opts = kubectl_eso::analysis::scope::ScopeOptions {
                selector: None,
                store: None,
                failing_only: false,
            };
            let _ = kubectl_eso::analysis::scope::analyse(&snapshot, &opts, now);
        }
    });
}

#[test]
fn issue_18_fuzz_vault_remote_keys_reach_the_server_as_checked() {
    let store = VaultStore {
        server: "http://127.0.0.1:8200".into(),
        namespace: None,
        mount: "secret".into(),
        kv_version: "v2".into(),
    };
    let seeds = [
        "order-service",
        "team/db",
        "secret/team/db",
        "../../sys/policy/root",
        "a.b",
    ];
    fuzz(
        "vault-keys",
        |rng| text_from(rng, &seeds),
        |key| {
            let k = RemoteKey {
                key: key.clone(),
                ..RemoteKey::default()
            };
            if refused_key(&store, &k).is_some() {
                return;
            }
            let path = store.data_path(key);
            let url = format!("{}/v1/{path}", store.server);
            let parsed = match reqwest::Url::parse(&url) {
                Ok(u) => u,
                Err(e) => panic!("{url:?} is not a URL: {e}"),
            };
            let sent = percent_encoding::percent_decode_str(parsed.path()).decode_utf8_lossy();
            assert_eq!(
                sent,
                format!("/v1/{path}"),
                "the request would read another path"
            );
            assert!(
                parsed.query().is_none() && parsed.fragment().is_none(),
                "{parsed}"
            );
        },
    );
}

#[test]
fn issue_18_fuzz_registry_keys_and_image_references() {
    let seeds = [
        "https://index.docker.io/v1/",
        "registry.internal:5000",
        "[::1]:5000",
        "*.example.com/team",
        "registry.internal:5000/order-service:1.4.2",
        "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef",
    ];
    fuzz(
        "registry-keys",
        |rng| text_from(rng, &seeds),
        |input| {
            if let Some(k) = normalise_key(input) {
                assert!(no_control(&k.host) && !k.host.contains(' '), "{k:?}");
                assert_eq!(k.host, k.host.to_ascii_lowercase());
            }
            if let Ok(image) = parse_image(input) {
                assert!(
                    no_control(&image.registry) && !image.repository.is_empty(),
                    "{image:?}"
                );
            }
        },
    );
}

/// A ClusterSecretStore with random grafts: provider settings as describe-chain shows them, and
/// `spec.conditions` (namespace lists, regexes, selectors) as doctor judges them.
fn random_store(rng: &mut fastrand::Rng) -> Value {
    let mut store = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "vault"},
        "spec": {
            "provider": {"vault": {
                "server": "https://vault.internal:8200", "path": "secret", "version": "v2",
                "namespace": "team", "caBundle": "LS0t",
                "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "eso"}}
            }},
            "conditions": [{
                "namespaces": ["prod"],
                "namespaceRegexes": ["^team-.*$"],
                "namespaceSelector": {"matchLabels": {"env": "prod"}}
            }]
        }
    });
    let paths = [
        "/spec/provider/vault/server",
        "/spec/provider/vault/auth",
        "/spec/provider/vault",
        "/spec/provider",
        "/spec/conditions/0/namespaces/0",
        "/spec/conditions/0/namespaceRegexes/0",
        "/spec/conditions/0/namespaceSelector",
        "/spec/conditions",
    ];
    for _ in 0..rng.usize(1..=4) {
        let path = paths[rng.usize(0..paths.len())];
        let value = if rng.bool() {
            let seeds = [
                "(a|b)*",
                "[",
                "^prod$",
                ".{1000}{1000}",
                "\\",
                "https://x",
                "prod",
            ];
            json!(text_from(rng, &seeds))
        } else {
            random_json(rng, 3)
        };
        if let Some(slot) = store.pointer_mut(path) {
            *slot = value;
        }
    }
    store
}

#[test]
fn issue_18_fuzz_store_specs() {
    use kubectl_eso::analysis::store_conditions::{admits_namespace, conditions_of};
    use kubectl_eso::kube::chain::extract;
    let labels: std::collections::BTreeMap<String, String> =
        [("env".to_string(), "prod".to_string())].into();
    fuzz("store-spec", random_store, |store| {
        let (_, settings) = extract::provider_settings(store);
        for (k, v) in &settings {
            assert!(
                no_control(k) && no_control(&v.replace(['\n', '\t'], "")),
                "{k}: {v:?}"
            );
            assert!(v.len() <= MAX_OUTSIDE_BYTES + MARKER_ROOM, "{}", v.len());
        }
        let conditions = conditions_of(store);
        for ns in ["prod", "team-a", ""] {
            let (_, note) = admits_namespace(conditions, ns, Some(&labels));
            if let Some(note) = note {
                assert!(no_control(&note), "{note:?}");
            }
            let _ = admits_namespace(conditions, ns, None);
        }
    });
}
