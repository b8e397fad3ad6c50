//! Identity behaviour against a real Store, checked against the recorded kube-apiserver answers
//! (recordings 36-39, 43-44 and 50-53): the exact strings clients and Vault/OpenBao depend on.

use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::*;
use crate::Store;

const ADMIN: &str = "admin-token-for-tests";

fn store_with_readonly() -> Store {
    let store = Store::new(ADMIN.to_string());
    for obj in [
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "external-secrets", "namespace": "external-secrets"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "readonly", "namespace": "prod"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "netbox"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "externalsecrets-reader", "namespace": "prod"},
               "rules": [{"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets"], "verbs": ["get", "list"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "readonly-externalsecrets-reader", "namespace": "prod"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "externalsecrets-reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "readonly", "namespace": "prod"}]}),
    ] {
        if let Err(e) = store.create(obj) {
            panic!("seeding the store failed: {e}");
        }
    }
    store
}

fn token_for(store: &Store, ns: &str, sa: &str, spec: Value) -> String {
    let authn = store.authenticator();
    match token_request(store, &authn, ns, sa, json!({"spec": spec})) {
        Ok(answer) => answer["status"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        Err(e) => panic!("TokenRequest failed: {e}"),
    }
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        h.insert(http::header::AUTHORIZATION, v);
    }
    h
}

fn readonly_user(store: &Store) -> UserInfo {
    let token = token_for(store, "prod", "readonly", json!({}));
    match store.authenticator().authenticate(store, &bearer(&token)) {
        Ok(u) => u,
        Err(e) => panic!("readonly token did not authenticate: {e:?}"),
    }
}

fn ssar(store: &Store, user: &UserInfo, attrs: Value) -> Value {
    self_subject_access_review(store, user, json!({"spec": {"resourceAttributes": attrs}}))["status"].clone()
}

#[test]
fn token_request_answers_like_recording_36() {
    let store = store_with_readonly();
    let authn = store.authenticator();
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": ["vault"], "expirationSeconds": 600}});
    let answer = token_request(&store, &authn, "external-secrets", "external-secrets", body)
        .unwrap_or_default();
    assert_eq!(answer["kind"], "TokenRequest");
    assert_eq!(answer["metadata"]["name"], "external-secrets");
    assert_eq!(
        answer["spec"],
        json!({"audiences": ["vault"], "expirationSeconds": 600, "boundObjectRef": null})
    );
    let token = answer["status"]["token"].as_str().unwrap_or_default();
    let claims = jwt::split(token).map(|(_, c, _)| c).unwrap_or_default();
    assert_eq!(claims["iss"], API_AUDIENCE);
    assert_eq!(
        claims["sub"],
        "system:serviceaccount:external-secrets:external-secrets"
    );
    assert_eq!(claims["aud"], json!(["vault"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        600
    );
    assert_eq!(
        claims["kubernetes.io"]["serviceaccount"]["name"],
        "external-secrets"
    );
    let expiry = answer["status"]["expirationTimestamp"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        expiry
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_second())
            .ok(),
        claims["exp"].as_i64()
    );

    let default = token_request(&store, &authn, "prod", "readonly", json!({})).unwrap_or_default();
    assert_eq!(default["spec"]["audiences"], json!([API_AUDIENCE]));
    assert_eq!(default["spec"]["expirationSeconds"], 3600);
}

#[test]
fn token_request_rejects_short_expiry_and_missing_service_account() {
    let store = store_with_readonly();
    let authn = store.authenticator();
    let short = token_request(
        &store,
        &authn,
        "prod",
        "readonly",
        json!({"spec": {"expirationSeconds": 10}}),
    );
    let err = short.err().map(|e| (e.code, e.message)).unwrap_or_default();
    assert_eq!(err.0, 422);
    assert_eq!(
        err.1,
        "TokenRequest.authentication.k8s.io \"readonly\" is invalid: spec.expirationSeconds: Invalid value: 10: may not specify a duration less than 10 minutes"
    );
    let missing = token_request(&store, &authn, "prod", "nobody", json!({}));
    assert_eq!(
        missing.err().map(|e| e.message),
        Some("serviceaccounts \"nobody\" not found".to_string())
    );
}

#[test]
fn token_review_matches_recordings_37_38_39() {
    let store = store_with_readonly();
    let authn = store.authenticator();
    let token = token_for(
        &store,
        "external-secrets",
        "external-secrets",
        json!({"audiences": ["vault"], "expirationSeconds": 600}),
    );
    let sa_uid = store
        .get(
            "v1",
            "ServiceAccount",
            Some("external-secrets"),
            "external-secrets",
        )
        .and_then(|s| s.pointer("/metadata/uid").cloned())
        .unwrap_or_default();

    let ok = token_review(
        &authn,
        &store,
        json!({"spec": {"token": token, "audiences": ["vault"]}}),
    );
    assert_eq!(ok["kind"], "TokenReview");
    assert_eq!(ok["metadata"], json!({"creationTimestamp": null}));
    let status = &ok["status"];
    assert_eq!(status["authenticated"], true);
    assert_eq!(status["audiences"], json!(["vault"]));
    assert_eq!(
        status["user"]["username"],
        "system:serviceaccount:external-secrets:external-secrets"
    );
    assert_eq!(status["user"]["uid"], sa_uid);
    assert_eq!(
        status["user"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:external-secrets",
            "system:authenticated"
        ])
    );
    let credential = status["user"]["extra"]["authentication.kubernetes.io/credential-id"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        credential.starts_with("JTI=") && credential.len() == 40,
        "{credential}"
    );

    let wrong_audience = token_review(&authn, &store, json!({"spec": {"token": token}}));
    assert_eq!(
        wrong_audience["status"],
        json!({"user": {}, "error": "[invalid bearer token, token audiences [\"vault\"] is invalid for the target audiences [\"https://kubernetes.default.svc.cluster.local\"]]"})
    );
    assert!(wrong_audience["status"].get("authenticated").is_none());

    let garbage = token_review(
        &authn,
        &store,
        json!({"spec": {"token": "this-is-not-a-valid-token", "audiences": ["vault"]}}),
    );
    assert_eq!(
        garbage["status"],
        json!({"user": {}, "error": "invalid bearer token"})
    );

    let admin_review = token_review(&authn, &store, json!({"spec": {"token": ADMIN}}));
    assert_eq!(admin_review["status"]["authenticated"], true);
    assert_eq!(admin_review["status"]["user"]["username"], "admin");
}

#[test]
fn deleting_the_service_account_invalidates_its_tokens() {
    let store = store_with_readonly();
    let token = token_for(&store, "prod", "readonly", json!({}));
    assert!(
        store
            .authenticator()
            .authenticate(&store, &bearer(&token))
            .is_ok()
    );
    if let Err(e) = store.delete("v1", "ServiceAccount", Some("prod"), "readonly") {
        panic!("delete failed: {e}");
    }
    let review = token_review(
        &store.authenticator(),
        &store,
        json!({"spec": {"token": token}}),
    );
    assert_eq!(
        review["status"]["error"],
        "[invalid bearer token, service account token has been invalidated]"
    );
    assert_eq!(
        store.authenticator().authenticate(&store, &bearer(&token)),
        Err(AuthnError::Unauthorized("Unauthorized".to_string()))
    );
}

#[test]
fn tokens_from_another_server_are_not_accepted() {
    let store = store_with_readonly();
    let other = Store::new(ADMIN.to_string());
    let foreign = other
        .authenticator()
        .issue_token("prod", "readonly", "x", &[API_AUDIENCE.to_string()], 600)
        .0;
    let review = token_review(
        &store.authenticator(),
        &store,
        json!({"spec": {"token": foreign}}),
    );
    assert_eq!(
        review["status"]["error"],
        "[invalid bearer token, go-jose/go-jose: error in cryptographic primitive]"
    );
}

#[test]
fn authentication_covers_admin_anonymous_bad_token_and_audience() {
    let store = store_with_readonly();
    let authn = store.authenticator();
    let admin = authn
        .authenticate(&store, &bearer(ADMIN))
        .unwrap_or_default();
    assert_eq!(
        admin.groups,
        vec![
            "system:masters".to_string(),
            "system:authenticated".to_string()
        ]
    );
    let anonymous = authn
        .authenticate(&store, &HeaderMap::new())
        .unwrap_or_default();
    assert_eq!(
        (anonymous.username.as_str(), anonymous.groups.as_slice()),
        (
            "system:anonymous",
            &["system:unauthenticated".to_string()][..]
        )
    );
    assert!(matches!(
        authn.authenticate(&store, &bearer("nope")),
        Err(AuthnError::Unauthorized(_))
    ));
    // A token minted for Vault only is not valid against the API server itself.
    let vault_only = token_for(&store, "prod", "readonly", json!({"audiences": ["vault"]}));
    assert!(matches!(
        authn.authenticate(&store, &bearer(&vault_only)),
        Err(AuthnError::Unauthorized(_))
    ));
    let user = readonly_user(&store);
    assert_eq!(user.username, "system:serviceaccount:prod:readonly");
}

#[test]
fn access_reviews_match_recordings_50_51_52() {
    let store = store_with_readonly();
    let readonly = readonly_user(&store);
    let list_secrets = json!({"namespace": "prod", "verb": "list", "resource": "secrets"});
    assert_eq!(
        ssar(&store, &admin(), list_secrets.clone()),
        json!({"allowed": true})
    );
    assert_eq!(
        ssar(&store, &readonly, list_secrets),
        json!({"allowed": false})
    );
    let list_es = json!({"namespace": "prod", "verb": "list", "group": "external-secrets.io", "resource": "externalsecrets"});
    assert_eq!(
        ssar(&store, &readonly, list_es),
        json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding \"readonly-externalsecrets-reader/prod\" of Role \"externalsecrets-reader\" to ServiceAccount \"readonly/prod\""})
    );
    let es_netbox = json!({"namespace": "netbox", "verb": "list", "group": "external-secrets.io", "resource": "externalsecrets"});
    assert_eq!(ssar(&store, &readonly, es_netbox)["allowed"], false);
    let patch_es = json!({"namespace": "prod", "verb": "patch", "group": "external-secrets.io", "resource": "externalsecrets"});
    assert_eq!(ssar(&store, &readonly, patch_es)["allowed"], false);
    let whole = self_subject_access_review(
        &store,
        &readonly,
        json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}),
    );
    assert_eq!(whole["kind"], "SelfSubjectAccessReview");
    assert_eq!(whole["spec"]["resourceAttributes"]["resource"], "pods");
}

#[test]
fn cluster_role_bindings_and_groups_grant_access() {
    let store = store_with_readonly();
    for obj in [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "secret-reader"},
               "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["db"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "sa-secret-reader"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "secret-reader"},
               "subjects": [{"kind": "Group", "name": "system:serviceaccounts:prod"}]}),
    ] {
        if let Err(e) = store.create(obj) {
            panic!("seeding failed: {e}");
        }
    }
    let readonly = readonly_user(&store);
    let get = |name: &str| RequestAttributes {
        verb: "get".into(),
        resource: "secrets".into(),
        namespace: Some("netbox".into()),
        name: Some(name.into()),
        ..RequestAttributes::default()
    };
    let allowed = authorize(&store, &readonly, &get("db"));
    assert_eq!(
        allowed.reason.as_deref(),
        Some(
            "RBAC: allowed by ClusterRoleBinding \"sa-secret-reader\" of ClusterRole \"secret-reader\" to Group \"system:serviceaccounts:prod\""
        )
    );
    assert!(!authorize(&store, &readonly, &get("other")).allowed);
}

#[test]
fn rules_review_matches_recording_53() {
    let store = store_with_readonly();
    let readonly = readonly_user(&store);
    let answer =
        self_subject_rules_review(&store, &readonly, json!({"spec": {"namespace": "prod"}}));
    assert_eq!(answer["spec"], json!({}));
    assert_eq!(answer["metadata"], json!({"creationTimestamp": null}));
    let expected = json!({
        "resourceRules": [
            {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
            {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
            {"verbs": ["get", "list"], "apiGroups": ["external-secrets.io"], "resources": ["externalsecrets"]}
        ],
        "nonResourceRules": [
            {"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]},
            {"verbs": ["get"], "nonResourceURLs": ["/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/"]},
            {"verbs": ["get"], "nonResourceURLs": ["/.well-known", "/.well-known/*"]}
        ],
        "incomplete": false
    });
    assert_eq!(answer["status"], expected);
}

#[test]
fn impersonation_needs_permission() {
    let store = store_with_readonly();
    let mut as_readonly = bearer(ADMIN);
    as_readonly.insert(
        "impersonate-user",
        HeaderValue::from_static("system:serviceaccount:prod:readonly"),
    );
    let user = store
        .authenticator()
        .authenticate(&store, &as_readonly)
        .unwrap_or_default();
    assert_eq!(user.username, "system:serviceaccount:prod:readonly");
    assert_eq!(
        user.groups,
        vec![
            "system:serviceaccounts".to_string(),
            "system:serviceaccounts:prod".to_string(),
            "system:authenticated".to_string()
        ]
    );
    assert_eq!(
        ssar(
            &store,
            &user,
            json!({"namespace": "prod", "verb": "list", "resource": "secrets"})
        ),
        json!({"allowed": false})
    );

    let token = token_for(&store, "prod", "readonly", json!({}));
    let mut escalate = bearer(&token);
    escalate.insert("impersonate-user", HeaderValue::from_static("admin"));
    assert_eq!(
        store.authenticator().authenticate(&store, &escalate),
        Err(AuthnError::Forbidden(
            "users \"admin\" is forbidden: User \"system:serviceaccount:prod:readonly\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope".to_string()
        ))
    );
}

#[test]
fn discovery_is_open_and_token_reviews_are_delegated() {
    let store = store_with_readonly();
    let anonymous = store
        .authenticator()
        .authenticate(&store, &HeaderMap::new())
        .unwrap_or_default();
    let discovery = RequestAttributes {
        verb: "get".into(),
        name: Some("/apis/apps/v1".into()),
        ..RequestAttributes::default()
    };
    assert!(authorize(&store, &anonymous, &discovery).allowed);
    let list_es = RequestAttributes {
        verb: "list".into(),
        api_group: "external-secrets.io".into(),
        resource: "externalsecrets".into(),
        namespace: Some("prod".into()),
        ..RequestAttributes::default()
    };
    assert!(!authorize(&store, &anonymous, &list_es).allowed);
    let review = RequestAttributes {
        verb: "create".into(),
        api_group: "authentication.k8s.io".into(),
        resource: "tokenreviews".into(),
        ..RequestAttributes::default()
    };
    assert!(authorize(&store, &readonly_user(&store), &review).allowed);
    assert!(!authorize(&store, &anonymous, &review).allowed);
}

#[test]
fn strict_token_review_needs_auth_delegator_like_a_real_cluster() {
    let store = store_with_readonly();
    let review = RequestAttributes {
        verb: "create".into(),
        api_group: "authentication.k8s.io".into(),
        resource: "tokenreviews".into(),
        ..RequestAttributes::default()
    };
    let user = readonly_user(&store);
    store.set_strict_token_review(true);
    assert!(!authorize(&store, &user, &review).allowed);
    // The bootstrap ClusterRole of a real cluster, bound to the user's group.
    for obj in [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:auth-delegator"},
               "rules": [{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
                         {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "reviewer"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
               "subjects": [{"kind": "Group", "name": "system:authenticated"}]}),
    ] {
        if let Err(e) = store.create(obj) {
            panic!("seeding failed: {e}");
        }
    }
    let allowed = authorize(&store, &user, &review);
    assert!(
        allowed
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("system:auth-delegator")),
        "{allowed:?}"
    );
}
