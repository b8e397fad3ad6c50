//! Issue 12: when Vault refuses a kubernetes-auth login with a bare "permission denied", the usual
//! cause is on the Kubernetes side — Vault, without a `token_reviewer_jwt`, sends the TokenReview
//! with ESO's own token, and that ServiceAccount is not bound to `system:auth-delegator`. One
//! SubjectAccessReview (what `kubectl auth can-i --as` asks; nothing is stored) tells whether it may.
//! Asked only for such a refusal; a refused SubjectAccessReview is recorded, never fatal.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::model::chain::ProviderFacts;

/// Fills `reviewer_may_review` (or `reviewer_unchecked`) of a Vault kubernetes login refused
/// without a reason.
pub async fn check(client: &Client, provider: &mut ProviderFacts) {
    let bare = provider
        .login_error
        .as_deref()
        .is_some_and(|e| e.contains("permission denied"));
    let Some(x) = provider.vault.as_mut().filter(|_| bare) else {
        return;
    };
    let Some((ns, name)) = x
        .service_account
        .as_deref()
        .and_then(|s| s.split_once('/'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
    else {
        return;
    };
    let sar = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!("system:serviceaccount:{ns}:{name}")),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                group: Some("authentication.k8s.io".into()),
                resource: Some("tokenreviews".into()),
                verb: Some("create".into()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    // An in-cluster Vault often reaches the API server at the `kubernetes` Service's ClusterIP
    // (KUBERNETES_SERVICE_HOST), not by name: read it so the diagnosis can tell. Unreadable: the
    // diagnosis goes by the name alone.
    if x.auth_config
        .as_ref()
        .is_some_and(|c| !c.token_reviewer_jwt_set)
    {
        let services: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(client.clone(), "default");
        if let Ok(svc) = services.get("kubernetes").await {
            x.api_service_ip = svc
                .spec
                .and_then(|s| s.cluster_ip)
                .filter(|ip| !ip.is_empty() && ip != "None");
        }
    }
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    match api.create(&PostParams::default(), &sar).await {
        Ok(answer) => {
            x.reviewer_may_review = answer.status.map(|s| s.allowed);
        }
        Err(e) => {
            x.reviewer_unchecked = Some(format!(
                "whether ServiceAccount {ns}/{name} may create tokenreviews could not be asked \
                 ({}): kubectl auth can-i create tokenreviews.authentication.k8s.io \
                 --as=system:serviceaccount:{ns}:{name} tells",
                crate::kube::list::status_code(&e)
                    .map(|c| format!("HTTP {c}"))
                    .unwrap_or_else(|| "no answer".into())
            ));
        }
    }
}
