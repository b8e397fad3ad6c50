//! The link states and the verdict as pure functions: fixtures of gathered facts for each incident
//! and each failed lookup, judged at a fixed `now`, without any server.

use super::verdict::missing_policy_guess;
use super::*;

fn now() -> Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap_or_default()
}

fn ready(status: &str, reason: &str) -> Option<ConditionFacts> {
    Some(ConditionFacts {
        status: status.into(),
        reason: Some(reason.into()),
        ..ConditionFacts::default()
    })
}

/// A healthy Vault chain: prod/order-service-regcred on SecretStore prod/vault.
fn healthy() -> ChainFacts {
    ChainFacts {
        external_secret: ExternalSecretFacts {
            namespace: "prod".into(),
            name: "order-service-regcred".into(),
            ready: ready("True", "SecretSynced"),
            refresh_interval: Some("1h".into()),
            refresh_time: Some("2026-11-22T11:30:00Z".into()),
            generation: Some(1),
            synced_resource_version: Some("1-abc".into()),
            store_kind: Some("SecretStore".into()),
            store_name: Some("vault".into()),
            target_name: "regcred-order-service".into(),
            remote_refs: vec![RemoteRefFacts {
                source: "dataFrom[0]".into(),
                key: "order-service".into(),
                extract: true,
                ..RemoteRefFacts::default()
            }],
            ..ExternalSecretFacts::default()
        },
        generators: Vec::new(),
        other_stores: Vec::new(),
        store: StoreFacts {
            kind: "SecretStore".into(),
            name: "vault".into(),
            namespace: Some("prod".into()),
            found: Some(true),
            ready: ready("True", "Valid"),
            provider: Some("vault".into()),
            settings: [
                ("role", "external-secrets-operator"),
                ("mountPath", "kubernetes"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..StoreFacts::default()
        },
        credentials: vec![CredentialFacts {
            purpose: "serviceAccount".into(),
            object: "ServiceAccount external-secrets/external-secrets".into(),
            exists: Some(true),
            ..CredentialFacts::default()
        }],
        provider: ProviderFacts {
            probed: true,
            probe_as: "eso".into(),
            role: Some("external-secrets-operator".into()),
            policies: vec!["default".into(), "eso-default".into()],
            keys: vec![KeyFacts {
                key: "order-service".into(),
                path: "registry-creds/data/order-service".into(),
                readable: Some(true),
                exists: Some(true),
                ..KeyFacts::default()
            }],
            ..ProviderFacts::default()
        },
        target: TargetFacts {
            name: "regcred-order-service".into(),
            exists: Some(true),
            owned_by_this: Some(true),
            ..TargetFacts::default()
        },
        consumers: ConsumersFacts {
            items: vec![ConsumerFacts {
                kind: "deployment".into(),
                name: "order-service".into(),
                uses: vec!["imagePullSecrets".into()],
                state: Some("Running".into()),
                ..ConsumerFacts::default()
            }],
            errors: Vec::new(),
        },
    }
}

fn state_of(r: &ChainReport, link: LinkName) -> LinkState {
    r.links
        .iter()
        .find(|l| l.link == link)
        .map(|l| l.state)
        .unwrap_or(LinkState::Unknown)
}

#[test]
fn a_healthy_chain_is_ok_everywhere() {
    let r = analyse(healthy(), now());
    assert!(r.links.iter().all(|l| l.state == LinkState::Ok), "{r:#?}");
    assert_eq!(r.verdict.state, LinkState::Ok);
    assert!(r.verdict.next.is_empty());
    assert!(!r.any_broken());
}

/// Incident B: the policy granting read on the key was removed from the role.
#[test]
fn incident_b_names_role_policies_and_path() {
    let mut f = healthy();
    f.external_secret.ready = ready("False", "SecretSyncedError");
    f.provider.policies = [
        "default",
        "eso-default",
        "eso-inventory-service",
        "eso-payment-service",
        "eso-user-service",
    ]
    .map(String::from)
    .to_vec();
    f.provider.keys[0].readable = Some(false);
    f.provider.keys[0].exists = None;
    f.consumers.items[0].state = Some("ImagePullBackOff".into());
    let r = analyse(f, now());
    assert_eq!(r.verdict.link, Some(LinkName::Provider));
    assert_eq!(
        r.verdict.cause,
        "role external-secrets-operator grants policies [default, eso-default, eso-inventory-service, \
         eso-payment-service, eso-user-service]; none allows read on registry-creds/data/order-service"
    );
    assert_eq!(
        r.verdict.next,
        [
            "vault policy read eso-order-service",
            "vault read auth/kubernetes/role/external-secrets-operator",
            "kubectl eso force-sync order-service-regcred -n prod",
            "kubectl rollout restart deployment/order-service -n prod",
        ]
    );
    assert_eq!(
        r.verdict.impact,
        ["deployment/order-service (ImagePullBackOff)"]
    );
    assert_eq!(state_of(&r, LinkName::Consumers), LinkState::Broken);
}

#[test]
fn a_missing_store_and_a_wrong_kind_are_store_links() {
    let mut f = healthy();
    f.store = StoreFacts {
        kind: "SecretStore".into(),
        name: "vault".into(),
        namespace: Some("prod".into()),
        found: Some(false),
        other_kind_exists: Some("ClusterSecretStore".into()),
        ..StoreFacts::default()
    };
    f.provider = ProviderFacts {
        skipped: Some("the store could not be read".into()),
        ..ProviderFacts::default()
    };
    let r = analyse(f, now());
    assert_eq!(r.verdict.link, Some(LinkName::Store));
    assert!(
        r.verdict.cause.contains("secretStoreRef.kind is wrong"),
        "{}",
        r.verdict.cause
    );
    assert_eq!(state_of(&r, LinkName::Provider), LinkState::Unknown);
}

#[test]
fn a_cluster_store_that_denies_the_namespace_is_broken() {
    let mut f = healthy();
    f.store.kind = "ClusterSecretStore".into();
    f.store.namespace = None;
    f.store.admits_namespace = Some(false);
    f.store.admission_note = Some("no entry of spec.conditions admits namespace prod".into());
    let r = analyse(f, now());
    assert_eq!(r.verdict.link, Some(LinkName::Store));
    assert!(
        r.verdict.cause.contains("does not admit"),
        "{}",
        r.verdict.cause
    );
}

#[test]
fn a_missing_credentials_key_beats_the_not_ready_store() {
    let mut f = healthy();
    f.store.ready = ready("False", "InvalidProviderConfig");
    f.credentials = vec![CredentialFacts {
        purpose: "clientSecret".into(),
        object: "Secret external-secrets/akv-sp-credentials".into(),
        key: Some("ClientSecret".into()),
        exists: Some(true),
        key_present: Some(false),
        error: Some(
            "Secret external-secrets/akv-sp-credentials has no key \"ClientSecret\"".into(),
        ),
        ..CredentialFacts::default()
    }];
    let r = analyse(f, now());
    assert_eq!(r.verdict.link, Some(LinkName::Credentials));
    assert!(
        r.verdict.next.contains(
            &"kubectl describe secret akv-sp-credentials -n external-secrets".to_string()
        ),
        "{:?}",
        r.verdict.next
    );
}

#[test]
fn failed_lookups_are_unknown_and_still_count_as_findings() {
    let mut f = healthy();
    f.credentials[0].exists = None;
    f.credentials[0].error = Some(
        "no permission to create tokens for serviceaccount external-secrets in external-secrets (TokenRequest)"
            .into(),
    );
    f.provider = ProviderFacts {
        skipped: Some("no token could be requested".into()),
        ..ProviderFacts::default()
    };
    let r = analyse(f, now());
    assert_eq!(state_of(&r, LinkName::Credentials), LinkState::Unknown);
    assert_eq!(r.verdict.state, LinkState::Unknown);
    assert!(
        r.verdict.cause.contains("TokenRequest"),
        "{}",
        r.verdict.cause
    );
}

#[test]
fn key_vault_causes_are_plain_words() {
    let cases = [
        ("SecretNotFound", Some(false), None, "has no secret named"),
        ("SecretDisabled", Some(true), Some(false), "is disabled"),
        ("ForbiddenByRbac", None, None, "Key Vault Secrets User"),
        ("AccessDenied", None, None, "access policies"),
        ("ForbiddenByFirewall", None, None, "firewall"),
    ];
    for (code, exists, enabled, want) in cases {
        let mut f = healthy();
        f.store.provider = Some("azurekv".into());
        f.store.settings = [(
            "vaultUrl".to_string(),
            "https://hybridops.vault.azure.net/".to_string(),
        )]
        .into();
        f.provider.keys = vec![KeyFacts {
            key: "netbox-db-password".into(),
            path: "/secrets/netbox-db-password".into(),
            exists,
            enabled,
            readable: (code.starts_with("Forbidden") || code == "AccessDenied").then_some(false),
            code: Some(code.into()),
            error: Some(format!("HTTP 4xx {code}")),
            ..KeyFacts::default()
        }];
        let r = analyse(f, now());
        assert_eq!(r.verdict.link, Some(LinkName::Provider), "{code}");
        assert!(
            r.verdict.cause.contains(want),
            "{code}: {}",
            r.verdict.cause
        );
        assert!(
            r.verdict.cause.contains("hybridops"),
            "{code}: {}",
            r.verdict.cause
        );
    }
}

#[test]
fn an_expired_client_secret_is_the_credentials_link() {
    let mut f = healthy();
    f.store.ready = ready("False", "InvalidProviderConfig");
    f.provider.login_error =
        Some("Entra ID refused the credentials: AADSTS7000222: expired".into());
    f.provider.login_code = Some("AADSTS7000222".into());
    f.provider.keys.clear();
    let r = analyse(f, now());
    assert_eq!(r.verdict.link, Some(LinkName::Credentials));
    assert!(r.verdict.cause.contains("client secret has expired"));
    assert_eq!(state_of(&r, LinkName::Provider), LinkState::Unknown);
}

#[test]
fn expiry_is_judged_against_the_given_now() {
    let k = KeyFacts {
        key: "k".into(),
        path: "/secrets/k".into(),
        exists: Some(true),
        expires: Some("2026-11-22T11:00:00Z".into()),
        ..KeyFacts::default()
    };
    assert!(key_problem(&k, now()).is_some_and(|p| p.contains("expired")));
    let later = KeyFacts {
        expires: Some("2026-11-23T00:00:00Z".into()),
        ..k
    };
    assert_eq!(key_problem(&later, now()), None);
}

#[test]
fn a_rotation_blocked_by_created_once_says_so() {
    let mut f = healthy();
    f.external_secret.refresh_policy = Some("CreatedOnce".into());
    f.target.matches_provider = Some("no (password differs)".into());
    f.consumers.items.push(ConsumerFacts {
        kind: "deployment".into(),
        name: "netbox".into(),
        uses: vec!["env".into()],
        state: Some("Running".into()),
        ..ConsumerFacts::default()
    });
    f.consumers.items.push(ConsumerFacts {
        kind: "pod".into(),
        name: "netbox-1".into(),
        uses: vec!["env".into()],
        state: Some("Running".into()),
        started_before_change: Some(true),
        workload: Some("deployment/order-service".into()),
        ..ConsumerFacts::default()
    });
    let r = analyse(f, now());
    assert_eq!(r.verdict.link, Some(LinkName::Target));
    assert!(
        r.verdict.cause.contains("CreatedOnce"),
        "{}",
        r.verdict.cause
    );
    assert!(
        r.verdict
            .next
            .iter()
            .any(|n| n.contains("refreshPolicy: Periodic")),
        "{:?}",
        r.verdict.next
    );
    assert_eq!(state_of(&r, LinkName::Consumers), LinkState::Warning);
    assert!(
        r.verdict
            .next
            .iter()
            .any(|n| n.starts_with("kubectl rollout restart deployment/netbox -n prod")),
        "{:?}",
        r.verdict.next
    );
}

#[test]
fn a_stale_or_pending_sync_is_a_warning() {
    let mut f = healthy();
    f.external_secret.refresh_time = Some("2026-11-22T08:00:00Z".into());
    let r = analyse(f, now());
    assert_eq!(state_of(&r, LinkName::ExternalSecret), LinkState::Warning);
    let mut f = healthy();
    f.external_secret.generation = Some(2);
    let r = analyse(f, now());
    assert!(
        r.links[0].summary.contains("resync is pending"),
        "{}",
        r.links[0].summary
    );
}

#[test]
fn the_missing_policy_is_guessed_from_the_others_naming() {
    let p: Vec<String> = ["default", "eso-default", "eso-payment-service"]
        .map(String::from)
        .to_vec();
    assert_eq!(
        missing_policy_guess(&p, "registry-creds/order-service").as_deref(),
        Some("eso-order-service")
    );
    assert_eq!(missing_policy_guess(&["default".to_string()], "x"), None);
}

#[test]
fn a_child_of_a_cluster_external_secret_is_resynced_through_its_parent() {
    let mut f = healthy();
    f.external_secret.ready = ready("False", "SecretSyncedError");
    f.external_secret.owner_cluster_external_secret = Some("shared-db".into());
    f.provider.keys[0].readable = Some(false);
    let r = analyse(f, now());
    assert!(
        r.verdict
            .next
            .iter()
            .any(|n| n.starts_with("kubectl annotate clusterexternalsecret shared-db force-sync=")),
        "{:?}",
        r.verdict.next
    );
    assert!(
        !r.verdict
            .next
            .iter()
            .any(|n| n.contains("kubectl eso force-sync"))
    );
}

#[test]
fn issue_13_no_force_sync_while_the_store_is_not_ready() {
    let mut f = healthy();
    f.store.ready = ready("False", "InvalidProviderConfig");
    f.provider.login_error =
        Some("Entra ID refused the credentials: AADSTS7000222: expired".into());
    f.provider.login_code = Some("AADSTS7000222".into());
    f.credentials = vec![CredentialFacts {
        purpose: "clientId".into(),
        object: "Secret external-secrets/akv-sp-credentials".into(),
        key: Some("client-id".into()),
        exists: Some(true),
        key_present: Some(true),
        ..CredentialFacts::default()
    }];
    let r = analyse(f, now());
    let next = &r.verdict.next;
    // force-sync refuses an ExternalSecret whose store is not Ready: say what comes first.
    let sync: Vec<&String> = next.iter().filter(|n| n.contains("force-sync")).collect();
    assert_eq!(sync.len(), 1, "{next:?}");
    assert!(
        sync[0].starts_with(
            "after fixing the store (kubectl get secretstore vault -n prod shows READY True): \
             kubectl eso force-sync order-service-regcred -n prod"
        ),
        "{next:?}"
    );
    // No placeholder: the shell reads the client id from the Secret, the tool never prints it.
    assert!(next.iter().all(|n| !n.contains('<')), "{next:?}");
    assert!(
        next.iter().any(|n| n.contains(
            "az ad app credential reset --id \"$(kubectl get secret akv-sp-credentials -n \
             external-secrets -o jsonpath='{.data.client-id}' | base64 -d)\""
        )),
        "{next:?}"
    );

    // With the store Ready, force-sync is suggested as is.
    let mut f = healthy();
    f.external_secret.ready = ready("False", "SecretSyncedError");
    let r = analyse(f, now());
    assert!(
        r.verdict
            .next
            .iter()
            .any(|n| n == "kubectl eso force-sync order-service-regcred -n prod"),
        "{:?}",
        r.verdict.next
    );
}

#[test]
fn issue_13_key_vault_next_steps_have_no_placeholders() {
    for code in ["ForbiddenByRbac", "AccessDenied"] {
        let mut f = healthy();
        f.store.provider = Some("azurekv".into());
        f.store.settings = [(
            "vaultUrl".to_string(),
            "https://hybridops.vault.azure.net/".to_string(),
        )]
        .into();
        f.credentials = vec![CredentialFacts {
            purpose: "clientId".into(),
            object: "Secret external-secrets/akv-sp".into(),
            key: Some("client.id".into()),
            exists: Some(true),
            key_present: Some(true),
            ..CredentialFacts::default()
        }];
        f.provider.keys = vec![KeyFacts {
            key: "netbox-db-password".into(),
            path: "/secrets/netbox-db-password".into(),
            readable: Some(false),
            code: Some(code.into()),
            error: Some(format!("HTTP 403 {code}")),
            ..KeyFacts::default()
        }];
        let r = analyse(f, now());
        let next = &r.verdict.next;
        assert!(next.iter().all(|n| !n.contains("<")), "{code}: {next:?}");
        assert!(
            next.iter().any(|n| n.contains("{.data.client\\.id}")),
            "{code}: {next:?}"
        );
    }
}

#[test]
fn issue_13_a_healthy_verdict_does_not_say_healthy_twice() {
    // The renderer heads it "Verdict: healthy"; the cause says what was checked, not "healthy:" again.
    let r = analyse(healthy(), now());
    assert_eq!(r.verdict.state, LinkState::Ok);
    assert!(!r.verdict.cause.contains("healthy"), "{}", r.verdict.cause);
    assert!(
        r.verdict
            .cause
            .starts_with("prod/order-service-regcred is synced"),
        "{}",
        r.verdict.cause
    );
}

/// Issue 14: an ExternalSecret made only of a Password generator has no store and no provider to
/// ask, and is healthy; before, describe-chain said "names no store".
#[test]
fn issue14_password_generator_chain_is_ok() {
    let mut f = healthy();
    f.external_secret.store_kind = None;
    f.external_secret.store_name = None;
    f.external_secret.remote_refs.clear();
    f.store = StoreFacts {
        kind: "Password".into(),
        name: "session-key".into(),
        namespace: Some("prod".into()),
        found: Some(true),
        generator: Some("Password".into()),
        ..StoreFacts::default()
    };
    f.credentials.clear();
    f.provider = ProviderFacts {
        skipped: Some("the store could not be read".into()),
        ..ProviderFacts::default()
    };
    f.target.matches_provider = None;
    let r = analyse(f, now());
    assert_eq!(state_of(&r, LinkName::Store), LinkState::Ok, "{r:#?}");
    assert_eq!(state_of(&r, LinkName::Provider), LinkState::Ok, "{r:#?}");
    let store = r.links.iter().find(|l| l.link == LinkName::Store);
    assert!(store.is_some_and(|l| l.summary.contains("generator Password prod/session-key")));
    assert!(!r.any_broken());
}

/// Issue 14: a generatorRef naming nothing is the broken store link, with generator next steps.
#[test]
fn issue14_missing_generator_is_a_broken_store_link() {
    let mut f = healthy();
    f.external_secret.ready = ready("False", "SecretSyncedError");
    f.store = StoreFacts {
        kind: "VaultDynamicSecret".into(),
        name: "order-service-registry".into(),
        namespace: Some("prod".into()),
        found: Some(false),
        generator: Some("VaultDynamicSecret".into()),
        ..StoreFacts::default()
    };
    let r = analyse(f, now());
    assert_eq!(state_of(&r, LinkName::Store), LinkState::Broken);
    assert_eq!(r.verdict.link, Some(LinkName::Store));
    assert!(
        r.verdict
            .cause
            .contains("generator VaultDynamicSecret prod/order-service-registry does not exist"),
        "{}",
        r.verdict.cause
    );
    assert!(
        r.verdict
            .next
            .iter()
            .any(|n| n == "kubectl get vaultdynamicsecrets.generators.external-secrets.io -n prod"),
        "{:?}",
        r.verdict.next
    );
    assert!(!r.verdict.next.iter().any(|n| n.contains("secretStoreRef")));
}

/// Issue 14: a per-entry store that is not Ready is its own broken Store link, and the verdict
/// names it (not the ExternalSecret's healthy default store) and the sourceRef field.
#[test]
fn issue14_a_broken_per_entry_store_is_named() {
    let mut f = healthy();
    f.external_secret.ready = ready("False", "SecretSyncedError");
    f.other_stores = vec![StoreFacts {
        kind: "SecretStore".into(),
        name: "vault-old".into(),
        namespace: Some("prod".into()),
        found: Some(false),
        ..StoreFacts::default()
    }];
    let r = analyse(f, now());
    let stores: Vec<&LinkReport> = r
        .links
        .iter()
        .filter(|l| l.link == LinkName::Store)
        .collect();
    assert_eq!(stores.len(), 2, "{r:#?}");
    assert_eq!(stores[0].state, LinkState::Ok);
    assert_eq!(stores[1].state, LinkState::Broken);
    assert_eq!(r.verdict.link, Some(LinkName::Store));
    assert!(
        r.verdict.cause.starts_with("SecretStore prod/vault-old"),
        "{}",
        r.verdict.cause
    );
    assert!(
        r.verdict
            .next
            .iter()
            .any(|n| n.contains("sourceRef.storeRef")),
        "{:?}",
        r.verdict.next
    );
}

/// Issue 14: an ACRAccessToken generator whose Entra login works is not called healthy (the
/// registry token is never minted), and one whose service principal secret expired is the broken
/// credentials link, as for a Key Vault store.
#[test]
fn issue14_acr_access_token_login_is_probed_and_the_pull_left_unknown() {
    let acr = |login_error: Option<&str>, code: Option<&str>| {
        let mut f = healthy();
        f.external_secret.store_kind = None;
        f.external_secret.store_name = None;
        f.external_secret.remote_refs.clear();
        f.store = StoreFacts {
            kind: "ACRAccessToken".into(),
            name: "acr".into(),
            namespace: Some("prod".into()),
            found: Some(true),
            generator: Some("ACRAccessToken".into()),
            provider: Some("azurekv".into()),
            settings: [("registry".to_string(), "myregistry.azurecr.io".to_string())].into(),
            ..StoreFacts::default()
        };
        f.provider = ProviderFacts {
            probed: true,
            identity: Some("the service principal from the store's authSecretRef".into()),
            login_error: login_error.map(str::to_string),
            login_code: code.map(str::to_string),
            ..ProviderFacts::default()
        };
        f.target.matches_provider = None;
        analyse(f, now())
    };
    let ok = acr(None, None);
    assert_eq!(
        state_of(&ok, LinkName::Provider),
        LinkState::Unknown,
        "{ok:#?}"
    );
    let p = ok.links.iter().find(|l| l.link == LinkName::Provider);
    assert!(
        p.is_some_and(|l| l.summary.contains("myregistry.azurecr.io")
            && l.summary.starts_with("logged in as")),
        "{p:?}"
    );
    assert!(!ok.any_broken(), "{ok:#?}");

    let expired = acr(
        Some("AADSTS7000222: the provided client secret keys are expired"),
        Some("AADSTS7000222"),
    );
    assert_eq!(
        state_of(&expired, LinkName::Credentials),
        LinkState::Broken,
        "{expired:#?}"
    );
    assert!(expired.any_broken());
}

/// Issue 14: a `target.manifest` ExternalSecret reports `ResourceSynced*` reasons instead of
/// `SecretSynced*`; they are read like ESO's Secret reasons (Ready decides, the reason is shown).
#[test]
fn issue14_resource_reasons_are_read_like_secret_reasons() {
    let mut f = healthy();
    f.external_secret.ready = ready("True", "ResourceSynced");
    let r = analyse(f, now());
    assert_eq!(state_of(&r, LinkName::ExternalSecret), LinkState::Ok);

    let mut f = healthy();
    f.external_secret.ready = ready("False", "ResourceSyncedError");
    let r = analyse(f, now());
    assert_eq!(state_of(&r, LinkName::ExternalSecret), LinkState::Broken);
    let es = r.links.iter().find(|l| l.link == LinkName::ExternalSecret);
    assert!(
        es.is_some_and(|l| l.summary.contains("Ready=False (ResourceSyncedError)")),
        "{es:?}"
    );
}

/// Issue 14, near miss of the Password case: an ECRAuthorizationToken, GCRAccessToken or Webhook
/// generator calls a provider this tool cannot ask without minting, so it is never called healthy.
#[test]
fn issue14_token_generators_are_not_probed_and_not_healthy() {
    for kind in ["ECRAuthorizationToken", "GCRAccessToken", "Webhook"] {
        let mut f = healthy();
        f.external_secret.store_kind = None;
        f.external_secret.store_name = None;
        f.external_secret.remote_refs.clear();
        f.store = StoreFacts {
            kind: kind.into(),
            name: "registry".into(),
            namespace: Some("prod".into()),
            found: Some(true),
            generator: Some(kind.into()),
            ..StoreFacts::default()
        };
        f.credentials.clear();
        f.provider = ProviderFacts::default();
        f.target.matches_provider = None;
        let r = analyse(f, now());
        assert_eq!(
            state_of(&r, LinkName::Store),
            LinkState::Ok,
            "{kind}: {r:#?}"
        );
        assert_eq!(
            state_of(&r, LinkName::Provider),
            LinkState::Unknown,
            "{kind}: {r:#?}"
        );
        let p = r.links.iter().find(|l| l.link == LinkName::Provider);
        assert!(
            p.is_some_and(|l| l.summary.starts_with("not probed") && l.summary.contains(kind)),
            "{p:?}"
        );
    }
}

#[test]
fn issue_13_a_key_vault_without_a_known_url_is_read_from_the_store() {
    for code in ["SecretNotFound", "SecretDisabled", "ForbiddenByFirewall"] {
        let mut f = healthy();
        f.store.kind = "ClusterSecretStore".into();
        f.store.name = "akv-hybridops".into();
        f.store.namespace = None;
        f.store.provider = Some("azurekv".into());
        f.store.settings.clear();
        f.provider.keys = vec![KeyFacts {
            key: "netbox-db-password".into(),
            path: "/secrets/netbox-db-password".into(),
            exists: (code == "SecretNotFound").then_some(false),
            code: Some(code.into()),
            error: Some(format!("HTTP 4xx {code}")),
            ..KeyFacts::default()
        }];
        let r = analyse(f, now());
        let next = &r.verdict.next;
        assert!(
            next.iter()
                .all(|n| !n.contains('<') && !n.contains("KIND/NAME")),
            "{code}: {next:?}"
        );
        assert!(
            next[0].contains(
                "\"$(echo \"$(kubectl get clustersecretstore akv-hybridops -o \
                 jsonpath='{.spec.provider.azurekv.vaultUrl}')\" | cut -d/ -f3 | cut -d. -f1)\""
            ),
            "{code}: {next:?}"
        );
    }
}

/// Issue 15: a probe the trust rule refused already says "not probed: …"; the Provider link says
/// it once.
#[test]
fn issue15_the_provider_link_says_not_probed_once() {
    let mut f = healthy();
    f.provider = ProviderFacts {
        probed: false,
        skipped: Some(
            "not probed: the host k8s.example:6443 is named by a namespaced SecretStore".into(),
        ),
        probe_as: "eso".into(),
        ..ProviderFacts::default()
    };
    let r = analyse(f, now());
    let p = r.links.iter().find(|l| l.link == LinkName::Provider);
    let summary = p.map(|l| l.summary.clone()).unwrap_or_default();
    assert_eq!(summary.matches("not probed").count(), 1, "{summary}");
    assert!(
        summary.starts_with("not probed: the host k8s.example:6443"),
        "{summary}"
    );
    // Near miss: a reason without the prefix gets it.
    assert_eq!(
        crate::analysis::chain::not_probed_summary(Some("--no-probe")),
        "not probed: --no-probe"
    );
}

/// Issue 15: a store of a provider this tool does not probe (GCP, Akeyless, 1Password, …) is never
/// called ok: the Provider link is unknown and names the provider.
#[test]
fn issue15_unprobed_providers_are_named_and_never_ok() {
    for provider in [
        "gcpsm",
        "akeyless",
        "onepassword",
        "bitwardensecretsmanager",
        "doppler",
    ] {
        let store = serde_json::json!({"spec": {"provider": {provider: {}}}});
        let why = crate::kube::chain::probe::not_probed_provider(&store);
        let mut f = healthy();
        f.store.provider = Some(provider.into());
        f.provider = ProviderFacts {
            probed: false,
            skipped: Some(why),
            probe_as: "eso".into(),
            ..ProviderFacts::default()
        };
        let r = analyse(f, now());
        assert_eq!(
            state_of(&r, LinkName::Provider),
            LinkState::Unknown,
            "{provider}"
        );
        let p = r.links.iter().find(|l| l.link == LinkName::Provider);
        let summary = p.map(|l| l.summary.clone()).unwrap_or_default();
        assert!(
            summary.contains(&format!(
                "the {provider} provider is not probed by this tool"
            )),
            "{summary}"
        );
        assert_eq!(summary.matches("not probed").count(), 1, "{summary}");
    }
}

/// Issue 14: a VaultDynamicSecret that POSTs is refused an `update`, not a read: the verdict
/// names the capability ESO's call needs; a plain key still says read (the near miss).
#[test]
fn issue14_a_refused_dynamic_write_names_the_capability_it_needs() {
    let mut f = healthy();
    f.external_secret.ready = ready("False", "SecretSyncedError");
    f.provider.keys[0].readable = Some(false);
    f.provider.keys[0].exists = None;
    f.provider.keys[0].needs = Some("update".into());
    let r = analyse(f.clone(), now());
    assert!(
        r.verdict
            .cause
            .ends_with("none allows update on registry-creds/data/order-service"),
        "{}",
        r.verdict.cause
    );
    f.provider.keys[0].needs = None;
    let r = analyse(f, now());
    assert!(
        r.verdict
            .cause
            .ends_with("none allows read on registry-creds/data/order-service"),
        "{}",
        r.verdict.cause
    );
    let k = KeyFacts {
        key: "k".into(),
        path: "pki/issue/web".into(),
        readable: Some(false),
        needs: Some("update".into()),
        ..KeyFacts::default()
    };
    assert_eq!(
        key_problem(&k, now()).as_deref(),
        Some("no update permission on pki/issue/web")
    );
}

#[test]
fn issue15_an_aws_refusal_says_what_the_policy_simulation_found() {
    let denied = KeyFacts {
        key: "billing/stripe".into(),
        path: "billing/stripe".into(),
        readable: Some(false),
        code: Some("AccessDeniedException".into()),
        error: Some("secretsmanager:GetSecretValue denied".into()),
        ..KeyFacts::default()
    };
    // Without the user's keys nothing was simulated: the refusal alone.
    assert_eq!(
        key_problem(&denied, now()).as_deref(),
        Some("no read permission on billing/stripe (secretsmanager:GetSecretValue denied)")
    );
    let implicit = KeyFacts {
        policy_decision: Some("implicitDeny".into()),
        ..denied.clone()
    };
    let p = key_problem(&implicit, now()).unwrap_or_default();
    assert!(
        p.ends_with("implicitDeny, no statement of the identity's policies allows it"),
        "{p}"
    );
    let explicit = KeyFacts {
        policy_decision: Some("explicitDeny".into()),
        policy_matched: vec!["deny-billing".into()],
        ..denied.clone()
    };
    let p = key_problem(&explicit, now()).unwrap_or_default();
    assert!(
        p.ends_with("explicitDeny by a Deny statement in deny-billing"),
        "{p}"
    );
    let allowed = KeyFacts {
        policy_decision: Some("allowed".into()),
        ..denied
    };
    let p = key_problem(&allowed, now()).unwrap_or_default();
    assert!(
        p.contains("resource policy, permissions boundary or SCP"),
        "{p}"
    );
}

#[test]
fn issue15_denied_action_is_read_from_aws_refusal() {
    let denied = |e: &str| {
        KeyFacts {
            error: Some(e.to_string()),
            ..KeyFacts::default()
        }
        .aws_denied()
    };
    let e = "secretsmanager:GetSecretValue denied: HTTP 400 AccessDeniedException: User: arn:aws:iam::1:user/eso \
             is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:eu-west-1:1:secret:billing/stripe-aWbedU \
             because no identity-based policy allows the secretsmanager:GetSecretValue action; DescribeSecret refused (AccessDeniedException)";
    assert_eq!(
        denied(e),
        Some((
            "secretsmanager:GetSecretValue".to_string(),
            "arn:aws:secretsmanager:eu-west-1:1:secret:billing/stripe-aWbedU".to_string()
        ))
    );
    // Near miss: a refusal that names a bare name, not an ARN, is not simulated.
    assert_eq!(
        denied("User: x is not authorized to perform: ssm:GetParameter on resource: db"),
        None
    );
    assert_eq!(denied("Access to KMS is not allowed"), None);
}

#[test]
fn issue15_a_key_in_another_region_says_so_rather_than_missing() {
    let elsewhere = KeyFacts {
        key: "arn:aws:secretsmanager:us-east-1:1:secret:db-x".into(),
        path: "arn:aws:secretsmanager:us-east-1:1:secret:db-x".into(),
        exists: Some(false),
        code: Some("RegionMismatch".into()),
        error: Some(
            "no secret db-x in region eu-west-1: the key is an ARN in region us-east-1".into(),
        ),
        ..KeyFacts::default()
    };
    let p = key_problem(&elsewhere, now()).unwrap_or_default();
    assert!(p.contains("ARN in region us-east-1"), "{p}");
    // Near miss: a plainly missing key keeps the short sentence.
    let missing = KeyFacts {
        code: Some("ResourceNotFoundException".into()),
        ..elsewhere
    };
    assert_eq!(
        key_problem(&missing, now()).as_deref(),
        Some("arn:aws:secretsmanager:us-east-1:1:secret:db-x does not exist")
    );
}

/// Issue 12: a login refused for a role that does not exist lists the roles instead of reading
/// the missing one; any other refusal (the near miss) still reads the role.
#[test]
fn issue12_a_missing_vault_role_lists_the_roles() {
    let mut f = healthy();
    f.provider.login_error =
        Some("login at auth/kubernetes/login failed: HTTP 400: invalid role name \"external-secrets-operator\"".into());
    let r = analyse(f.clone(), now());
    assert!(
        r.verdict
            .next
            .contains(&"vault list auth/kubernetes/role".to_string()),
        "{:?}",
        r.verdict.next
    );
    assert!(
        !r.verdict
            .next
            .iter()
            .any(|n| n.starts_with("vault read auth/"))
    );
    f.provider.login_error =
        Some("login at auth/kubernetes/login failed: HTTP 403: permission denied".into());
    let r = analyse(f, now());
    assert!(
        r.verdict
            .next
            .contains(&"vault read auth/kubernetes/role/external-secrets-operator".to_string())
    );
}
