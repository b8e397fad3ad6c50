//! The credentials of an AWS store, resolved as ESO resolves them (pkg/provider/aws/auth): the
//! static keys `auth.secretRef` names (it wins when `auth.jwt` is set too), else IRSA — the
//! ServiceAccount of `auth.jwt.serviceAccountRef`, whose `eks.amazonaws.com/role-arn` annotation
//! names the role and whose token is requested for `eks.amazonaws.com/audience` (default
//! `sts.amazonaws.com`) plus the ref's own audiences — else ESO's own ServiceAccount, which is
//! what ESO's pod-level default credentials are when it runs with IRSA. Node roles and EKS Pod
//! Identity cannot be reproduced from outside the pod: those stores say so instead of guessing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use serde_json::Value;

use super::{Ctx, ESO_NAMESPACE, ESO_SERVICE_ACCOUNT, ProbeAuth, str_at, unavailable};

const ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";
const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

pub(super) async fn resolve(ctx: &mut Ctx<'_>, a: &Value, request: bool) -> Option<ProbeAuth> {
    let auth = a.get("auth").cloned().unwrap_or(Value::Null);
    if let Some(r) = auth.get("secretRef") {
        return static_keys(ctx, r).await;
    }
    let (ns, name, extra) = match auth.pointer("/jwt/serviceAccountRef") {
        Some(r) => (
            ctx.ref_namespace(r),
            str_at(r, "/name").unwrap_or_default().to_string(),
            r.get("audiences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect::<Vec<_>>(),
        ),
        None => (
            ESO_NAMESPACE.to_string(),
            ESO_SERVICE_ACCOUNT.to_string(),
            Vec::new(),
        ),
    };
    let own = auth.pointer("/jwt/serviceAccountRef").is_none();
    let annotations = annotations(ctx, &ns, &name).await;
    let role_arn = annotations.get(ROLE_ANNOTATION).cloned();
    if own && role_arn.is_none() {
        return unavailable(&format!(
            "the store has no auth: ESO uses its pod's default AWS credentials, and its \
             ServiceAccount {ns}/{name} has no {ROLE_ANNOTATION} annotation (a node role or EKS \
             Pod Identity cannot be reproduced from outside the pod; try --probe-as me)"
        ));
    }
    let mut audiences = vec![
        annotations
            .get(AUDIENCE_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| DEFAULT_AUDIENCE.to_string()),
    ];
    audiences.extend(extra);
    let (token, _) = ctx
        .service_account(&ns, &name, Some(audiences), request && role_arn.is_some())
        .await;
    if let Some(fact) = ctx.out.last_mut() {
        fact.purpose = "serviceAccount (IRSA)".into();
        if let Some(r) = &role_arn {
            fact.keys
                .push(crate::sanitize::line(&format!("{ROLE_ANNOTATION}={r}")));
        }
    }
    let Some(role_arn) = role_arn else {
        if let Some(fact) = ctx.out.last_mut()
            && fact.exists == Some(true)
        {
            fact.error = Some(format!(
                "ServiceAccount {ns}/{name} has no {ROLE_ANNOTATION} annotation: ESO cannot \
                 know which IAM role to assume"
            ));
        }
        return unavailable(&format!(
            "ServiceAccount {ns}/{name} has no {ROLE_ANNOTATION} annotation"
        ));
    };
    match token {
        Some(token) => Some(ProbeAuth::AwsWebIdentity {
            role_arn,
            token,
            service_account: format!("{ns}/{name}"),
        }),
        None if request => unavailable(&format!(
            "no token could be requested for serviceaccount {ns}/{name}{}",
            ctx.why_no_token()
        )),
        None => None,
    }
}

async fn static_keys(ctx: &mut Ctx<'_>, r: &Value) -> Option<ProbeAuth> {
    let id = match r.get("accessKeyIDSecretRef") {
        Some(s) => ctx.secret_key("accessKeyID", s).await,
        None => None,
    };
    let secret = match r.get("secretAccessKeySecretRef") {
        Some(s) => ctx.secret_key("secretAccessKey", s).await,
        None => None,
    };
    let token = match r.get("sessionTokenSecretRef") {
        Some(s) => match ctx.secret_key("sessionToken", s).await {
            Some(t) => Some(t),
            None => return unavailable("the session token Secret is unusable"),
        },
        None => None,
    };
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Some(ProbeAuth::AwsStatic {
            access_key_id,
            secret_access_key,
            session_token: token,
        }),
        _ => unavailable("the access key id or secret access key is unusable"),
    }
}

/// The ServiceAccount's annotations (empty when it cannot be read: `service_account` records why).
async fn annotations(ctx: &Ctx<'_>, ns: &str, name: &str) -> BTreeMap<String, String> {
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(sa)) => sa.metadata.annotations.unwrap_or_default(),
        _ => BTreeMap::new(),
    }
}
