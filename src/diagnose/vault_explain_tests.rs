//! Unit tests for `diagnose::vault_explain`: the policy language, Vault's matching and priority
//! rules, and each explanation with a hit and a near miss that must not fire (issue 12).

use super::*;

fn policy(name: &str, hcl: &str) -> VaultPolicyFacts {
    VaultPolicyFacts {
        name: name.into(),
        rules: parse_policy(hcl).expect("test policy parses"),
    }
}

fn explain(policies: Vec<VaultPolicyFacts>) -> VaultExplain {
    VaultExplain {
        policies,
        ..VaultExplain::default()
    }
}

#[test]
fn parses_hcl_with_comments_parameters_and_json() {
    let rules = parse_policy(
        r#"
        # ESO's read policy
        path "secret/data/shop/*" {
          capabilities = ["read", "list"] // trailing comment
          allowed_parameters = { "version" = [] }
        }
        /* block
           comment */
        path "secret/metadata/shop/*" { capabilities = ["list"] }
        "#,
    )
    .unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].path, "secret/data/shop/*");
    assert_eq!(rules[0].capabilities, vec!["read", "list"]);
    assert_eq!(rules[1].capabilities, vec!["list"]);
    let json = parse_policy(r#"{"path": {"kv/app": {"capabilities": ["Read"]}}}"#).unwrap();
    assert_eq!(json[0].path, "kv/app");
    assert_eq!(json[0].capabilities, vec!["read"]);
    assert!(parse_policy("path \"x\" { capabilities = [\"read\" ").is_err());
    assert!(parse_policy("path \"x").is_err());
}

#[test]
fn matching_globs_and_plus_segments() {
    assert!(pattern_matches("secret/data/app", "secret/data/app"));
    assert!(!pattern_matches("secret/data/app", "secret/data/app2"));
    assert!(pattern_matches("secret/data/app*", "secret/data/app2"));
    assert!(pattern_matches("secret/data/*", "secret/data/a/b"));
    assert!(pattern_matches("secret/+/app", "secret/data/app"));
    assert!(!pattern_matches("secret/+/app", "secret/data/x/app"));
    assert!(pattern_matches("secret/+/team-*", "secret/data/team-a/x"));
    assert!(!pattern_matches("secret/+/team-*", "secret/data/other"));
}

#[test]
fn the_most_specific_rule_wins_and_deny_beats_all() {
    let p = vec![
        policy("broad", r#"path "secret/*" { capabilities = ["read"] }"#),
        policy(
            "narrow",
            r#"path "secret/data/app" { capabilities = ["list"] }"#,
        ),
    ];
    // The exact path outranks the glob: Vault takes only the highest-priority match.
    let (caps, decided) = capabilities(&p, "secret/data/app");
    assert_eq!(caps, vec!["list"]);
    assert_eq!(decided.unwrap().0, "secret/data/app");
    let (caps, _) = capabilities(&p, "secret/data/other");
    assert_eq!(caps, vec!["read"]);
    // The same pattern in two policies: the union, unless one denies.
    let p = vec![
        policy("a", r#"path "secret/data/app" { capabilities = ["read"] }"#),
        policy("b", r#"path "secret/data/app" { capabilities = ["deny"] }"#),
    ];
    assert_eq!(capabilities(&p, "secret/data/app").0, vec!["deny"]);
    // A later first wildcard outranks an earlier one.
    let p = vec![
        policy("a", r#"path "secret/+/app" { capabilities = ["deny"] }"#),
        policy("b", r#"path "secret/data/a*" { capabilities = ["read"] }"#),
    ];
    assert_eq!(capabilities(&p, "secret/data/app").0, vec!["read"]);
}

#[test]
fn a_v1_style_rule_on_a_kv2_mount_is_named() {
    let x = explain(vec![policy(
        "eso-shop",
        r#"path "secret/shop/*" { capabilities = ["read"] }"#,
    )]);
    let e = denied_read(
        &x,
        &["eso-shop".into()],
        "secret",
        "v2",
        "shop/db",
        "secret/data/shop/db",
    );
    assert_eq!(e.code, Some(VAULT_POLICY_PATH_KV2_DATA));
    let cause = e.cause.unwrap();
    assert!(cause.contains("eso-shop"), "{cause}");
    assert!(cause.contains("secret/data/shop/db"), "{cause}");
    assert!(cause.contains("\"secret/shop/*\""), "{cause}");
}

#[test]
fn near_miss_a_rule_for_another_path_is_not_the_kv2_class() {
    // The v1-style path is not granted either: plain denial, naming the rule that applies.
    let x = explain(vec![policy(
        "eso-shop",
        r#"path "secret/data/billing/*" { capabilities = ["read"] }"#,
    )]);
    let e = denied_read(
        &x,
        &["eso-shop".into()],
        "secret",
        "v2",
        "shop/db",
        "secret/data/shop/db",
    );
    assert_eq!(e.code, None);
    assert!(e.cause.is_none());
    assert!(
        e.evidence[0].contains("no rule of the policies eso-shop matches"),
        "{:?}",
        e.evidence
    );
    // On a KV v1 store the data/ prefix is not expected: no kv2 class.
    let x = explain(vec![policy(
        "eso-shop",
        r#"path "kv/shop/*" { capabilities = ["list"] }"#,
    )]);
    let e = denied_read(
        &x,
        &["eso-shop".into()],
        "kv",
        "v1",
        "shop/db",
        "kv/shop/db",
    );
    assert_eq!(e.code, None);
    assert!(
        e.evidence[0].contains("(capabilities: list)"),
        "{:?}",
        e.evidence
    );
    // An explicit deny is a cause of its own.
    let x = explain(vec![policy(
        "eso-shop",
        r#"path "kv/shop/db" { capabilities = ["deny"] }"#,
    )]);
    let e = denied_read(
        &x,
        &["eso-shop".into()],
        "kv",
        "v1",
        "shop/db",
        "kv/shop/db",
    );
    assert!(
        e.cause
            .unwrap()
            .contains("policy eso-shop denies kv/shop/db")
    );
}

#[test]
fn unread_policies_are_said_with_the_command_that_reads_them() {
    let x = VaultExplain {
        policies_unread: vec!["policy eso-shop: permission denied (your token)".into()],
        ..VaultExplain::default()
    };
    let e = denied_read(
        &x,
        &["default".into(), "eso-shop".into()],
        "secret",
        "v2",
        "a",
        "secret/data/a",
    );
    assert_eq!(e.code, None);
    assert!(e.cause.is_none());
    // The probe's next step already lists `vault policy read`; the evidence says why not read.
    assert!(e.next.is_empty());
    assert_eq!(e.evidence, x.policies_unread);
}

fn role(names: &[&str], namespaces: &[&str], audience: Option<&str>) -> VaultExplain {
    VaultExplain {
        role: Some(VaultRoleFacts {
            path: "auth/kubernetes/role/eso".into(),
            exists: true,
            bound_service_account_names: names.iter().map(|s| s.to_string()).collect(),
            bound_service_account_namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            audience: audience.map(str::to_string),
            ..VaultRoleFacts::default()
        }),
        service_account: Some("external-secrets/external-secrets".into()),
        ..VaultExplain::default()
    }
}

#[test]
fn role_bindings_name_the_field_at_fault() {
    let e = role_binding(
        &role(&["external-secrets"], &["security"], None),
        "eso",
        "kubernetes",
    );
    assert_eq!(e.code, Some(VAULT_ROLE_BINDING_MISMATCH));
    assert!(
        e.cause
            .unwrap()
            .contains("binds namespaces [security], not external-secrets")
    );
    let e = role_binding(
        &role(&["eso-sa"], &["external-secrets"], None),
        "eso",
        "kubernetes",
    );
    assert!(e.cause.unwrap().contains("binds ServiceAccounts [eso-sa]"));
    let e = role_binding(
        &role(&["*"], &["external-*"], Some("vault")),
        "eso",
        "kubernetes",
    );
    assert!(e.cause.unwrap().contains("requires audience vault"));
}

#[test]
fn near_miss_globs_that_do_match_are_not_a_mismatch() {
    let e = role_binding(&role(&["external-*"], &["*"], None), "eso", "kubernetes");
    assert_eq!(e.code, None);
    assert!(e.cause.is_none());
    let mut x = role(&["external-secrets"], &["external-secrets"], Some("vault"));
    x.audiences = vec!["vault".into()];
    assert_eq!(role_binding(&x, "eso", "kubernetes").code, None);
}

#[test]
fn a_missing_role_and_an_unread_role() {
    let mut x = role(&[], &[], None);
    if let Some(r) = x.role.as_mut() {
        r.exists = false;
    }
    assert_eq!(
        role_binding(&x, "eso", "kubernetes").code,
        Some(VAULT_ROLE_MISSING)
    );
    let x = VaultExplain {
        role_unread: Some("role not read: no VAULT_TOKEN for this Vault".into()),
        ..VaultExplain::default()
    };
    let e = role_binding(&x, "eso", "kubernetes");
    assert_eq!(e.code, None);
    assert!(e.evidence[0].contains("no VAULT_TOKEN"), "{:?}", e.evidence);
}

#[test]
fn mount_version_and_type() {
    let kv2 = VaultExplain {
        mount: Some(mount_facts(
            "secret",
            &serde_json::json!({"type": "kv", "options": {"version": "2"}}),
        )),
        ..VaultExplain::default()
    };
    assert_eq!(
        mount(&kv2, "secret", "v1").code,
        Some(VAULT_KV_VERSION_MISMATCH)
    );
    // Near miss: the versions agree.
    assert_eq!(mount(&kv2, "secret", "v2").code, None);
    let kv1 = VaultExplain {
        mount: Some(mount_facts(
            "kv",
            &serde_json::json!({"type": "kv", "options": null}),
        )),
        ..VaultExplain::default()
    };
    assert_eq!(
        mount(&kv1, "kv", "v2").code,
        Some(VAULT_KV_VERSION_MISMATCH)
    );
    let missing = VaultExplain {
        mount: Some(VaultMountFacts {
            path: "secrte".into(),
            exists: false,
            ..VaultMountFacts::default()
        }),
        ..VaultExplain::default()
    };
    assert_eq!(
        mount(&missing, "secrte", "v2").code,
        Some(VAULT_MOUNT_MISSING)
    );
    let pki = VaultExplain {
        mount: Some(mount_facts("pki", &serde_json::json!({"type": "pki"}))),
        ..VaultExplain::default()
    };
    assert_eq!(mount(&pki, "pki", "v2").code, Some(VAULT_MOUNT_MISSING));
}

#[test]
fn role_facts_accept_lists_and_comma_strings() {
    let r = role_facts(
        "auth/kubernetes/role/eso",
        &serde_json::json!({
            "bound_service_account_names": ["a", "b"],
            "bound_service_account_namespaces": "x, y",
            "token_policies": ["eso"],
            "audience": ""
        }),
    );
    assert_eq!(r.bound_service_account_names, vec!["a", "b"]);
    assert_eq!(r.bound_service_account_namespaces, vec!["x", "y"]);
    assert_eq!(r.policies, vec!["eso"]);
    assert_eq!(r.audience, None);
}

#[test]
fn a_login_at_an_auth_path_with_nothing_mounted_is_named() {
    // Vault refuses the login with a bare 403; the auth mount table tells.
    let mut x = role(&["external-secrets"], &["external-secrets"], None);
    x.auth_mounts = Some(vec!["token".into(), "kubernetes".into()]);
    let e = role_binding(&x, "eso", "k8s");
    assert_eq!(e.code, Some(VAULT_AUTH_MOUNT_MISSING));
    let cause = e.cause.unwrap_or_default();
    assert!(cause.contains("auth/k8s/"), "{cause}");
    assert!(cause.contains("kubernetes/, token/"), "{cause}");
    // Near miss: the mount exists (given with slashes): the role's bindings decide.
    let e = role_binding(&x, "eso", "/kubernetes/");
    assert_ne!(e.code, Some(VAULT_AUTH_MOUNT_MISSING));
    // Near miss: the table was not read: nothing is concluded from its absence.
    x.auth_mounts = None;
    let e = role_binding(&x, "eso", "k8s");
    assert_ne!(e.code, Some(VAULT_AUTH_MOUNT_MISSING));
}

fn reviewer(may: Option<bool>, reviewer_jwt: Option<bool>) -> VaultExplain {
    VaultExplain {
        service_account: Some("platform/eso-vault".into()),
        reviewer_may_review: may,
        auth_config: reviewer_jwt.map(|set| crate::model::chain::VaultAuthConfigFacts {
            kubernetes_host: "https://10.0.0.1:443".into(),
            token_reviewer_jwt_set: set,
            disable_local_ca_jwt: None,
        }),
        ..VaultExplain::default()
    }
}

#[test]
fn issue12_a_tokenreview_refused_for_want_of_auth_delegator_names_the_binding() {
    // Vault reviews with ESO's own token and that ServiceAccount may not: the cause.
    let e = token_review(&reviewer(Some(false), Some(false)), "k8s-prod");
    assert_eq!(e.code, Some(VAULT_TOKENREVIEW_REFUSED));
    let cause = e.cause.unwrap_or_default();
    assert!(
        cause.contains("platform/eso-vault")
            && cause.contains("system:auth-delegator")
            && cause.contains("auth/k8s-prod has no token_reviewer_jwt"),
        "{cause}"
    );
    // Without the mount's config (no user token): the same refusal, conditional, and the
    // command that tells.
    let e = token_review(&reviewer(Some(false), None), "k8s-prod");
    assert_eq!(e.code, Some(VAULT_TOKENREVIEW_REFUSED));
    assert!(
        e.next
            .iter()
            .any(|n| n.contains("read auth/k8s-prod/config"))
    );
}

#[test]
fn issue12_near_misses_of_a_refused_tokenreview_do_not_blame_the_binding() {
    // A reviewer JWT is set: ESO's ServiceAccount need not review anything.
    let e = token_review(&reviewer(Some(false), Some(true)), "kubernetes");
    assert_eq!(e.cause, None);
    assert!(
        e.evidence
            .iter()
            .any(|f| f.contains("matters only without"))
    );
    // The ServiceAccount may review: the cause is elsewhere (host, CA, recreated).
    let e = token_review(&reviewer(Some(true), Some(false)), "kubernetes");
    assert_eq!((e.code, e.cause), (None, None));
    assert!(e.evidence.iter().any(|f| f.contains("kubernetes_host")));
    // Nothing asked: nothing claimed.
    let e = token_review(&reviewer(None, None), "kubernetes");
    assert_eq!((e.code, e.cause), (None, None));
}

/// Issue 12's near miss: Vault inside the cluster (kubernetes_host is the in-cluster name) with
/// no token_reviewer_jwt reviews with its own pod's ServiceAccount: ESO's missing grant is not
/// the cause, and no binding for ESO is suggested. With disable_local_ca_jwt it uses ESO's token
/// again, and the finding stands.
#[test]
fn issue12_an_in_cluster_vault_reviews_with_its_own_service_account() {
    let mut x = reviewer(Some(false), Some(false));
    if let Some(c) = x.auth_config.as_mut() {
        c.kubernetes_host = "https://kubernetes.default.svc:443".into();
    }
    let e = token_review(&x, "k8s-prod");
    assert_eq!(e.code, None, "{e:?}");
    assert!(
        e.evidence
            .iter()
            .any(|l| l.contains("its own pod's ServiceAccount")),
        "{e:?}"
    );
    if let Some(c) = x.auth_config.as_mut() {
        c.disable_local_ca_jwt = Some(true);
    }
    let e = token_review(&x, "k8s-prod");
    assert_eq!(e.code, Some(VAULT_TOKENREVIEW_REFUSED));
}

/// An in-cluster Vault often reaches the API server at KUBERNETES_SERVICE_HOST, the `kubernetes`
/// Service's ClusterIP, not by name: the same near miss. Another address (the near miss of the
/// near miss: a Vault outside the cluster at the API server's external address) keeps the finding.
#[test]
fn an_in_cluster_vault_at_the_api_service_ip_reviews_with_its_own_service_account() {
    // reviewer()'s kubernetes_host is https://10.0.0.1:443.
    let mut x = reviewer(Some(false), Some(false));
    x.api_service_ip = Some("10.0.0.1".into());
    let e = token_review(&x, "k8s-prod");
    assert_eq!(e.code, None, "{e:?}");
    x.api_service_ip = Some("10.96.0.1".into());
    let e = token_review(&x, "k8s-prod");
    assert_eq!(e.code, Some(VAULT_TOKENREVIEW_REFUSED), "{e:?}");
    x.api_service_ip = None;
    assert_eq!(
        token_review(&x, "k8s-prod").code,
        Some(VAULT_TOKENREVIEW_REFUSED)
    );
}

#[test]
fn in_cluster_api_addresses_are_recognised_by_name_and_service_ip() {
    for host in [
        "https://kubernetes.default.svc",
        "https://kubernetes.default.svc.cluster.local:443",
        "https://kubernetes.default.svc.corp.internal.",
        "https://kubernetes:443",
        "https://KUBERNETES.DEFAULT",
        "https://[fd00::1]:443",
    ] {
        assert!(in_cluster_api(host, Some("fd00::1")), "{host}");
    }
    for host in [
        "https://api.prod.example.com:6443",
        "https://kubernetes.default.example.com",
        "https://kubernetes-api.internal:443",
        "https://10.96.0.10:443",
        "https://10.96.0.1.nip.io",
    ] {
        assert!(!in_cluster_api(host, Some("10.96.0.1")), "{host}");
    }
    assert!(in_cluster_api("https://10.96.0.1:443", Some("10.96.0.1")));
    assert!(in_cluster_api("10.96.0.1", Some("10.96.0.1")));
}
