//! The credentials link as ESO builds it: static keys as given, or a ServiceAccount token
//! exchanged at STS with `AssumeRoleWithWebIdentity` (unsigned, as every SDK sends it); then each
//! of `additionalRoles` and finally `role` (with `externalID`) assumed with `AssumeRole`, each
//! hop signed with the previous hop's credentials. One STS call per hop, once per store. A refusal
//! names the hop, the role and AWS's own code (`AccessDenied` on a trust policy that does not
//! admit the caller, `InvalidIdentityToken` for an OIDC issuer or audience AWS does not know...).

use super::errors::{AwsError, xml_text};
use super::{AwsCreds, AwsLogin, AwsOutcome, AwsStore, Call};

const SESSION_NAME: &str = "kubectl-eso-probe";

pub(super) async fn credentials(
    call: &mut Call<'_>,
    store: &AwsStore,
    login: &AwsLogin<'_>,
    out: &mut AwsOutcome,
) -> Option<AwsCreds> {
    let mut creds = match login {
        AwsLogin::Static(c) => {
            call.scrub.extend(secrets_of(c));
            out.identity = Some("the access key from the store's secretRef".into());
            AwsCreds {
                access_key_id: c.access_key_id.clone(),
                secret_access_key: c.secret_access_key.clone(),
                session_token: c.session_token.clone(),
            }
        }
        AwsLogin::WebIdentity { role_arn, token } => {
            call.scrub.push(token.to_string());
            let form = [
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleArn", role_arn),
                ("RoleSessionName", SESSION_NAME),
                ("WebIdentityToken", token),
            ];
            match exchange(
                call,
                store,
                None,
                &form,
                "AssumeRoleWithWebIdentity",
                role_arn,
            )
            .await
            {
                Ok((c, arn)) => {
                    out.identity = Some(arn.unwrap_or_else(|| role_arn.to_string()));
                    c
                }
                Err(e) => {
                    fail(out, "AssumeRoleWithWebIdentity", role_arn, &e);
                    return None;
                }
            }
        }
    };
    if matches!(login, AwsLogin::Static(_))
        && store.additional_roles.is_empty()
        && store.role.is_none()
    {
        // ESO makes no STS call with bare static keys; the probe makes one (always allowed, no
        // IAM permission needed) so a wrong or deleted key is named as such, and the identity
        // shows in the report. No answer from STS (a private endpoint setup) is not an error.
        match caller_identity(call, store, &creds).await {
            Ok(Some(arn)) => out.identity = Some(arn),
            Ok(None) => {}
            Err(e) => {
                fail(out, "GetCallerIdentity", "the access key", &e);
                return None;
            }
        }
    }
    let hops = store
        .additional_roles
        .iter()
        .map(|r| (r.as_str(), None))
        .chain(
            store
                .role
                .as_deref()
                .map(|r| (r, store.external_id.as_deref())),
        );
    for (role, external_id) in hops {
        let mut form = vec![
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", role),
            ("RoleSessionName", SESSION_NAME),
        ];
        if let Some(id) = external_id {
            form.push(("ExternalId", id));
        }
        match exchange(call, store, Some(&creds), &form, "AssumeRole", role).await {
            Ok((c, arn)) => {
                out.identity = Some(arn.unwrap_or_else(|| role.to_string()));
                creds = c;
            }
            Err(e) => {
                fail(out, "AssumeRole", role, &e);
                return None;
            }
        }
    }
    Some(creds)
}

fn secrets_of(c: &AwsCreds) -> Vec<String> {
    let mut s = vec![c.access_key_id.clone(), c.secret_access_key.clone()];
    s.extend(c.session_token.clone());
    s
}

fn fail(out: &mut AwsOutcome, action: &str, role: &str, e: &AwsError) {
    let role = crate::sanitize::line(role);
    let why = match e.code.as_str() {
        "AccessDenied" if action == "AssumeRoleWithWebIdentity" => format!(
            "the trust policy of role {role} does not admit this ServiceAccount's token (check its \
             sub condition system:serviceaccount:NAMESPACE:NAME and aud sts.amazonaws.com)"
        ),
        "AccessDenied" => format!(
            "the caller may not assume role {role}: its trust policy (or the caller's \
             sts:AssumeRole permission, or the externalID) refuses it"
        ),
        "InvalidIdentityToken" | "IDPRejectedClaim" => format!(
            "STS rejects the ServiceAccount token for role {role}: the cluster's OIDC issuer is \
             not an IAM identity provider of the account, or the audience is not one it accepts"
        ),
        "ExpiredTokenException" | "ExpiredToken" => "the credentials have expired".to_string(),
        "InvalidClientTokenId" | "UnrecognizedClientException" => {
            "AWS does not know the access key (deleted, deactivated, or from another partition)"
                .to_string()
        }
        "SignatureDoesNotMatch" => {
            "the secret access key does not belong to the access key id".to_string()
        }
        _ if action == "GetCallerIdentity" => "STS refused the access key".to_string(),
        _ => format!("{action} for role {role} failed"),
    };
    out.login_error = Some(format!("sts:{action} on {role}: {why} ({})", e.line()));
    out.login_code = Some(e.code.clone());
}

/// `Ok(None)` when STS did not answer at all.
async fn caller_identity(
    call: &Call<'_>,
    store: &AwsStore,
    creds: &AwsCreds,
) -> Result<Option<String>, AwsError> {
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let a = match call
        .post(
            &store.endpoints.sts,
            "sts",
            Some(creds),
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body.as_bytes().to_vec(),
            "sts GetCallerIdentity",
        )
        .await
    {
        Ok(a) => a,
        Err(e) if e.code == "NoAnswer" => return Ok(None),
        Err(e) => return Err(e),
    };
    if a.status >= 300 {
        return Err(call.error(&a));
    }
    Ok(xml_text(&a.body, "Arn").map(|s| crate::sanitize::line(&s)))
}

/// One STS call; the new credentials and the assumed role's ARN.
async fn exchange(
    call: &mut Call<'_>,
    store: &AwsStore,
    signer: Option<&AwsCreds>,
    form: &[(&str, &str)],
    action: &str,
    role: &str,
) -> Result<(AwsCreds, Option<String>), AwsError> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let a = call
        .post(
            &store.endpoints.sts,
            "sts",
            signer,
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body.into_bytes(),
            &format!("sts {action} {role}"),
        )
        .await?;
    if a.status >= 300 {
        return Err(call.error(&a));
    }
    let creds = match (
        xml_text(&a.body, "AccessKeyId"),
        xml_text(&a.body, "SecretAccessKey"),
    ) {
        (Some(id), Some(secret)) => AwsCreds {
            access_key_id: id,
            secret_access_key: secret,
            session_token: xml_text(&a.body, "SessionToken"),
        },
        _ => {
            return Err(AwsError {
                status: a.status,
                code: "InvalidAnswer".into(),
                message: format!("STS answered {action} without credentials"),
            });
        }
    };
    call.scrub.extend(secrets_of(&creds));
    let arn = a
        .body
        .find("<AssumedRoleUser>")
        .and_then(|i| xml_text(&a.body[i..], "Arn"))
        .map(|s| crate::sanitize::line(&s));
    Ok((creds, arn))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's refusals of a web identity, which moto never gives (see tests/aws_moto.rs).
    #[test]
    fn issue15_web_identity_refusals_name_the_trust_policy_or_the_issuer() {
        let role = "arn:aws:iam::1:role/eso";
        let denied = crate::provider::aws::errors::parse(
            403,
            None,
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>",
            &[],
        );
        let mut out = AwsOutcome::default();
        fail(&mut out, "AssumeRoleWithWebIdentity", role, &denied);
        assert_eq!(out.login_code.as_deref(), Some("AccessDenied"));
        let e = out.login_error.unwrap_or_default();
        assert!(
            e.starts_with(
                "sts:AssumeRoleWithWebIdentity on arn:aws:iam::1:role/eso: the trust policy"
            ),
            "{e}"
        );
        assert!(e.contains("system:serviceaccount:NAMESPACE:NAME"), "{e}");

        let issuer = crate::provider::aws::errors::parse(
            400,
            None,
            "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>No OpenIDConnect provider found in your account for https://oidc.eks.eu-west-1.amazonaws.com/id/X</Message></Error></ErrorResponse>",
            &[],
        );
        let mut out = AwsOutcome::default();
        fail(&mut out, "AssumeRoleWithWebIdentity", role, &issuer);
        assert_eq!(out.login_code.as_deref(), Some("InvalidIdentityToken"));
        assert!(
            out.login_error
                .unwrap_or_default()
                .contains("OIDC issuer is not an IAM identity provider"),
        );
    }
}
