//! Unit tests of the Key Vault state machine: challenge, token checks, versions, disabled / expired /
//! nbf secrets, the three denial kinds, paging and the 429 fault.

use super::*;
use crate::akv::state::{AccessGrant, Principal, normalize};
use jiff::SignedDuration;
use std::collections::BTreeMap;

const TENANT: &str = "2ed1d494-6c5a-4c5d-aa24-479446fb844d";
const READER: &str = "11111111-aaaa-4aaa-8aaa-111111111111";
const GET_ONLY: &str = "22222222-bbbb-4bbb-8bbb-222222222222";

fn now() -> Timestamp {
    Timestamp::from_second(1_790_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn hkey() -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, &[9; 32])
}

fn ep() -> Endpoints {
    Endpoints::new(4443)
}

fn version(value: &str) -> SecretVersion {
    SecretVersion {
        value: value.to_owned(),
        enabled: true,
        ..SecretVersion::default()
    }
}

fn vault(name: &str, model: PermissionModel) -> VaultState {
    VaultState {
        name: name.to_owned(),
        location: "westeurope".to_owned(),
        permission_model: model,
        subscription_id: "sub-1".to_owned(),
        resource_group: "RG-Hybrid".to_owned(),
        secrets: BTreeMap::from([(
            "netbox-db-password".to_owned(),
            vec![version("canary-old"), version("canary-current")],
        )]),
        ..VaultState::default()
    }
}

fn state() -> AkvState {
    let mut hybridops = vault("hybridops", PermissionModel::AccessPolicy);
    hybridops.secrets.insert(
        "disabled-one".to_owned(),
        vec![SecretVersion {
            enabled: false,
            ..version("canary-disabled")
        }],
    );
    hybridops.secrets.insert(
        "expired-one".to_owned(),
        vec![SecretVersion {
            exp: Some(now() - SignedDuration::from_hours(1)),
            nbf: Some(now() - SignedDuration::from_hours(48)),
            content_type: Some("text/plain".to_owned()),
            tags: BTreeMap::from([("owner".to_owned(), "netbox".to_owned())]),
            ..version("canary-expired")
        }],
    );
    let mut s = AkvState {
        tenant_id: TENANT.to_owned(),
        vaults: vec![
            hybridops,
            vault("rbacvault", PermissionModel::Rbac),
            VaultState {
                firewall_blocks: true,
                ..vault("walled", PermissionModel::AccessPolicy)
            },
        ],
        principals: [READER, GET_ONLY]
            .iter()
            .map(|id| Principal {
                client_id: (*id).to_owned(),
                ..Principal::default()
            })
            .collect(),
        access: ["hybridops", "walled"]
            .iter()
            .map(|v| AccessGrant {
                principal: READER.to_owned(),
                vault: (*v).to_owned(),
                permissions: vec![Permission::Get, Permission::List],
            })
            .chain([AccessGrant {
                principal: GET_ONLY.to_owned(),
                vault: "hybridops".to_owned(),
                permissions: vec![Permission::Get],
            }])
            .collect(),
        oidc_issuers: Vec::new(),
    };
    normalize(&mut s, now());
    s
}

fn token_for(appid: &str, tenant: &str, aud: &str, exp_offset: i64) -> String {
    let claims = serde_json::json!({
        "aud": aud, "iss": Endpoints::token_issuer(tenant), "appid": appid,
        "oid": format!("oid-of-{appid}"), "exp": now().as_second() + exp_offset,
    });
    format!("Bearer {}", jwt::sign_hs256(&claims, &hkey()))
}

fn good(appid: &str) -> String {
    token_for(appid, TENANT, &ep().resource(), 600)
}

fn call(
    s: &AkvState,
    faults: &Faults,
    vault: &str,
    path_query: &str,
    auth: Option<&str>,
) -> ApiResponse {
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    let req = VaultRequest {
        vault,
        method: "GET",
        path,
        query: form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        authorization: auth,
        client_addr: "10.1.2.3",
    };
    handle(s, faults, &ep(), &hkey(), &req, now())
}

fn get(s: &AkvState, vault: &str, path_query: &str, appid: &str) -> ApiResponse {
    call(s, &Faults::default(), vault, path_query, Some(&good(appid)))
}

fn message(resp: &ApiResponse) -> &str {
    resp.body["error"]["message"].as_str().unwrap_or_default()
}

#[test]
fn missing_bearer_gets_the_challenge() {
    let resp = call(
        &state(),
        &Faults::default(),
        "hybridops",
        "/secrets/x?api-version=7.6",
        None,
    );
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.header("www-authenticate"),
        Some(
            format!(
                "Bearer authorization=\"https://127.0.0.1:4443/{TENANT}\", resource=\"https://vault.sandbox.azurestack.test\""
            )
            .as_str()
        )
    );
    assert!(message(&resp).starts_with("AKV10000"));
}

#[test]
fn bad_tokens_are_401_with_the_reason() {
    let s = state();
    let f = Faults::default();
    let path = "/secrets/netbox-db-password?api-version=7.6";
    let cases = [
        (
            token_for(READER, TENANT, "https://vault.azure.net", 600),
            "AKV10022",
        ),
        (
            token_for(READER, "other-tenant", &ep().resource(), 600),
            "AKV10032",
        ),
        (
            token_for(READER, TENANT, &ep().resource(), -5),
            "[TokenExpired]",
        ),
        (
            "Bearer not.a.token".to_owned(),
            "[BearerReadAccessTokenFailed]",
        ),
    ];
    for (auth, expected) in cases {
        let resp = call(&s, &f, "hybridops", path, Some(&auth));
        assert_eq!(resp.status, 401, "{expected}");
        assert!(message(&resp).starts_with(expected), "{}", message(&resp));
        assert!(resp.header("www-authenticate").is_some());
    }
}

#[test]
fn get_returns_current_or_named_version_with_attributes() {
    let s = state();
    let versions = &s.vaults[0].secrets["netbox-db-password"];
    let (old_id, current_id) = (
        versions[0].version.clone().unwrap_or_default(),
        versions[1].version.clone().unwrap_or_default(),
    );
    let resp = get(
        &s,
        "hybridops",
        "/secrets/NetBox-DB-Password?api-version=7.6",
        READER,
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["value"], "canary-current");
    assert_eq!(
        resp.body["id"],
        format!(
            "https://hybridops.vault.sandbox.azurestack.test/secrets/netbox-db-password/{current_id}"
        )
    );
    assert_eq!(resp.body["attributes"]["enabled"], true);
    assert_eq!(resp.body["attributes"]["created"], now().as_second());
    assert_eq!(
        resp.body["attributes"]["recoveryLevel"],
        "Recoverable+Purgeable"
    );

    let old = get(
        &s,
        "hybridops",
        &format!("/secrets/netbox-db-password/{old_id}?api-version=7.6"),
        READER,
    );
    assert_eq!(old.body["value"], "canary-old");
    assert_eq!(old.body["attributes"]["created"], now().as_second() - 60);
}

#[test]
fn missing_secret_or_version_is_404_secret_not_found() {
    let s = state();
    for path in [
        "/secrets/nope",
        "/secrets/netbox-db-password/0123456789abcdef0123456789abcdef",
    ] {
        let resp = get(&s, "hybridops", &format!("{path}?api-version=7.6"), READER);
        assert_eq!(
            (resp.status, resp.error_code()),
            (404, Some("SecretNotFound"))
        );
        assert!(message(&resp).starts_with("A secret with (name/id) "));
    }
}

#[test]
fn disabled_secret_is_403_secret_disabled() {
    let resp = get(
        &state(),
        "hybridops",
        "/secrets/disabled-one?api-version=7.6",
        READER,
    );
    assert_eq!(resp.status, 403);
    assert_eq!(resp.error_code(), Some("Forbidden"));
    assert_eq!(resp.inner_error_code(), Some("SecretDisabled"));
    assert_eq!(
        message(&resp),
        "Operation get is not allowed on a disabled secret."
    );
}

#[test]
fn expired_secret_is_still_served_with_its_exp() {
    let resp = get(
        &state(),
        "hybridops",
        "/secrets/expired-one?api-version=7.6",
        READER,
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["attributes"]["exp"], now().as_second() - 3600);
    assert_eq!(
        resp.body["attributes"]["nbf"],
        now().as_second() - 48 * 3600
    );
    assert_eq!(resp.body["contentType"], "text/plain");
    assert_eq!(resp.body["tags"]["owner"], "netbox");
}

#[test]
fn access_policy_denial_names_caller_permission_and_vault() {
    let s = state();
    let list = get(&s, "hybridops", "/secrets?api-version=7.6", GET_ONLY);
    assert_eq!(
        (list.status, list.inner_error_code()),
        (403, Some("AccessDenied"))
    );
    assert_eq!(
        message(&list),
        format!(
            "The user, group or application 'appid={GET_ONLY};oid=oid-of-{GET_ONLY};iss=https://sts.windows.net/{TENANT}/' does not have secrets list permission on key vault 'hybridops;location=westeurope'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"
        )
    );
    let stranger = get(
        &s,
        "hybridops",
        "/secrets/netbox-db-password?api-version=7.6",
        "33333333-0000-4000-8000-333333333333",
    );
    assert!(message(&stranger).contains("does not have secrets get permission"));
}

#[test]
fn rbac_denial_has_the_multi_line_message() {
    let resp = get(
        &state(),
        "rbacvault",
        "/secrets/netbox-db-password?api-version=7.6",
        READER,
    );
    assert_eq!(
        (resp.status, resp.inner_error_code()),
        (403, Some("ForbiddenByRbac"))
    );
    let text = message(&resp);
    assert!(text.starts_with(
        "Caller is not authorized to perform action on resource.\r\nIf role assignments"
    ));
    assert!(text.contains("\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\n"));
    assert!(text.contains("Resource: '/subscriptions/sub-1/resourcegroups/rg-hybrid/providers/microsoft.keyvault/vaults/rbacvault/secrets/netbox-db-password'"));
    assert!(text.contains("\r\nAssignment: (not found)\r\n"));
}

#[test]
fn firewall_denial_names_the_client_address() {
    let resp = get(
        &state(),
        "walled",
        "/secrets/netbox-db-password?api-version=7.6",
        READER,
    );
    assert_eq!(
        (resp.status, resp.inner_error_code()),
        (403, Some("ForbiddenByFirewall"))
    );
    assert!(message(&resp).contains("Client address: 10.1.2.3\r\n"));
    assert!(!resp.body.to_string().contains("canary"));
}

#[test]
fn lists_carry_no_values_and_page_with_next_link() {
    let s = state();
    let all = get(&s, "hybridops", "/secrets?api-version=7.6", READER);
    assert_eq!(all.body["value"].as_array().map(Vec::len), Some(3));
    assert!(!all.body.to_string().contains("canary"));
    assert_eq!(all.body["nextLink"], Value::Null);

    let first = get(
        &s,
        "hybridops",
        "/secrets/netbox-db-password/versions?api-version=7.6&maxresults=1",
        READER,
    );
    assert_eq!(first.body["value"].as_array().map(Vec::len), Some(1));
    let next = first.body["nextLink"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let prefix = "https://hybridops.vault.sandbox.azurestack.test";
    assert!(next.starts_with(prefix), "{next}");
    let second = get(&s, "hybridops", &next[prefix.len()..], READER);
    assert_eq!(second.body["value"].as_array().map(Vec::len), Some(1));
    assert_ne!(first.body["value"][0]["id"], second.body["value"][0]["id"]);
    assert_eq!(second.body["nextLink"], Value::Null);
}

#[test]
fn throttle_fault_answers_429_with_retry_after() {
    let faults = Faults {
        throttle_retry_after: Some(7),
    };
    let resp = call(
        &state(),
        &faults,
        "hybridops",
        "/secrets/netbox-db-password?api-version=7.6",
        Some(&good(READER)),
    );
    assert_eq!((resp.status, resp.header("retry-after")), (429, Some("7")));
}

#[test]
fn bad_names_and_missing_api_version_are_400() {
    let s = state();
    let bad = get(
        &s,
        "hybridops",
        "/secrets/db_password?api-version=7.6",
        READER,
    );
    assert_eq!((bad.status, bad.error_code()), (400, Some("BadParameter")));
    let no_version = get(&s, "hybridops", "/secrets/netbox-db-password", READER);
    assert_eq!(no_version.status, 400);
}

#[test]
fn compound_identity_policy_refuses_app_only_callers() {
    let mut s = state();
    s.vaults[0].permission_model = PermissionModel::CompoundIdentity;
    let resp = get(
        &s,
        "hybridops",
        "/secrets/netbox-db-password?api-version=7.6",
        READER,
    );
    assert_eq!(
        (resp.status, resp.inner_error_code()),
        (403, Some("ForbiddenByPolicy"))
    );
    assert!(
        message(&resp).starts_with(&format!("The policy requires the caller 'appid={READER};"))
    );
}

#[test]
fn answers_carry_key_vault_headers() {
    let resp = get(
        &state(),
        "hybridops",
        "/secrets/netbox-db-password?api-version=7.6",
        READER,
    );
    assert_eq!(resp.header("x-ms-keyvault-region"), Some("westeurope"));
    assert_eq!(
        resp.header("x-ms-keyvault-network-info"),
        Some("conn_type=Ipv4;addr=10.1.2.3;act_addr_fam=InterNetwork;")
    );
}

#[test]
fn issue12_a_soft_deleted_secret_is_not_found_by_name_but_served_as_deleted() {
    let mut s = state();
    let hybridops = s.vaults.iter_mut().find(|v| v.name == "hybridops");
    let Some(v) = hybridops else {
        panic!("no hybridops vault");
    };
    let versions = v.secrets.remove("netbox-db-password").unwrap_or_default();
    v.deleted_secrets.insert(
        "netbox-db-password".into(),
        crate::akv::state::DeletedSecret {
            deleted_date: now(),
            scheduled_purge_date: now(),
            versions,
        },
    );
    let live = get(
        &s,
        "hybridops",
        "/secrets/netbox-db-password?api-version=7.4",
        READER,
    );
    assert_eq!(
        (live.status, live.error_code()),
        (404, Some("SecretNotFound"))
    );
    let deleted = get(
        &s,
        "hybridops",
        "/deletedsecrets/netbox-db-password?api-version=7.4",
        READER,
    );
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["deletedDate"], now().as_second());
    assert!(deleted.body.get("value").is_none(), "{}", deleted.body);
    // Near miss: a name never deleted is not found among the deleted either.
    let never = get(
        &s,
        "hybridops",
        "/deletedsecrets/nope?api-version=7.4",
        READER,
    );
    assert_eq!(
        (never.status, never.error_code()),
        (404, Some("SecretNotFound"))
    );
}
