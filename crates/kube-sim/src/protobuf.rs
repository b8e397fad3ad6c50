//! Just enough of the Kubernetes protobuf wire format to read the request bodies kubectl's typed
//! clients send as `application/vnd.kubernetes.protobuf` (client-go does not fall back to JSON on a 415):
//! `kubectl create token`, `auth can-i`, `create namespace/secret/configmap/serviceaccount`,
//! `create role/rolebinding/clusterrole/clusterrolebinding` (the grants a diagnosis prints).
//! Responses are always JSON, which client-go accepts. Field numbers come from k8s.io/api's generated.proto.

use serde_json::{Map, Value, json};

#[derive(Clone, Copy)]
enum Ty {
    Str,

    Int,
    Bool,
    Time,
    Msg(&'static [Field]),
    MapStr,
    MapBytes,
    MapExtra,
}

#[derive(Clone, Copy)]
struct Field {
    num: u64,
    name: &'static str,
    ty: Ty,
    repeated: bool,
}

const fn f(num: u64, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        ty,
        repeated: false,
    }
}

const fn rep(num: u64, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        ty,
        repeated: true,
    }
}

const OWNER_REF: &[Field] = &[
    f(5, "apiVersion", Ty::Str),
    f(1, "kind", Ty::Str),
    f(3, "name", Ty::Str),
    f(4, "uid", Ty::Str),
    f(6, "controller", Ty::Bool),
    f(7, "blockOwnerDeletion", Ty::Bool),
];

const OBJECT_META: &[Field] = &[
    f(1, "name", Ty::Str),
    f(2, "generateName", Ty::Str),
    f(3, "namespace", Ty::Str),
    f(5, "uid", Ty::Str),
    f(6, "resourceVersion", Ty::Str),
    f(7, "generation", Ty::Int),
    f(8, "creationTimestamp", Ty::Time),
    f(11, "labels", Ty::MapStr),
    f(12, "annotations", Ty::MapStr),
    rep(13, "ownerReferences", Ty::Msg(OWNER_REF)),
    rep(14, "finalizers", Ty::Str),
];

const BOUND_REF: &[Field] = &[
    f(1, "kind", Ty::Str),
    f(2, "apiVersion", Ty::Str),
    f(3, "name", Ty::Str),
    f(4, "uid", Ty::Str),
];
const TOKEN_REQUEST_SPEC: &[Field] = &[
    rep(1, "audiences", Ty::Str),
    f(4, "expirationSeconds", Ty::Int),
    f(3, "boundObjectRef", Ty::Msg(BOUND_REF)),
];
const TOKEN_REVIEW_SPEC: &[Field] = &[f(1, "token", Ty::Str), rep(2, "audiences", Ty::Str)];
const RESOURCE_ATTRS: &[Field] = &[
    f(1, "namespace", Ty::Str),
    f(2, "verb", Ty::Str),
    f(3, "group", Ty::Str),
    f(4, "version", Ty::Str),
    f(5, "resource", Ty::Str),
    f(6, "subresource", Ty::Str),
    f(7, "name", Ty::Str),
];
const NON_RESOURCE_ATTRS: &[Field] = &[f(1, "path", Ty::Str), f(2, "verb", Ty::Str)];
const SSAR_SPEC: &[Field] = &[
    f(1, "resourceAttributes", Ty::Msg(RESOURCE_ATTRS)),
    f(2, "nonResourceAttributes", Ty::Msg(NON_RESOURCE_ATTRS)),
];
const SAR_SPEC: &[Field] = &[
    f(1, "resourceAttributes", Ty::Msg(RESOURCE_ATTRS)),
    f(2, "nonResourceAttributes", Ty::Msg(NON_RESOURCE_ATTRS)),
    f(3, "user", Ty::Str),
    rep(4, "groups", Ty::Str),
    f(5, "extra", Ty::MapExtra),
    f(6, "uid", Ty::Str),
];
const SSRR_SPEC: &[Field] = &[f(1, "namespace", Ty::Str)];
const NAMESPACE_SPEC: &[Field] = &[rep(1, "finalizers", Ty::Str)];
const OBJECT_REF: &[Field] = &[
    f(1, "kind", Ty::Str),
    f(2, "namespace", Ty::Str),
    f(3, "name", Ty::Str),
    f(4, "uid", Ty::Str),
    f(5, "apiVersion", Ty::Str),
];
const LOCAL_REF: &[Field] = &[f(1, "name", Ty::Str)];
// k8s.io/api/rbac/v1
const POLICY_RULE: &[Field] = &[
    rep(1, "verbs", Ty::Str),
    rep(2, "apiGroups", Ty::Str),
    rep(3, "resources", Ty::Str),
    rep(4, "resourceNames", Ty::Str),
    rep(5, "nonResourceURLs", Ty::Str),
];
const RBAC_SUBJECT: &[Field] = &[
    f(1, "kind", Ty::Str),
    f(2, "apiGroup", Ty::Str),
    f(3, "name", Ty::Str),
    f(4, "namespace", Ty::Str),
];
const ROLE_REF: &[Field] = &[
    f(1, "apiGroup", Ty::Str),
    f(2, "kind", Ty::Str),
    f(3, "name", Ty::Str),
];

fn with_meta(spec: Option<&'static [Field]>) -> Vec<Field> {
    let mut v = vec![f(1, "metadata", Ty::Msg(OBJECT_META))];
    if let Some(spec) = spec {
        v.push(f(2, "spec", Ty::Msg(spec)));
    }
    v
}

/// The message layout of each kind this decoder understands.
fn schema_for(kind: &str) -> Option<Vec<Field>> {
    Some(match kind {
        "TokenRequest" => with_meta(Some(TOKEN_REQUEST_SPEC)),
        "TokenReview" => with_meta(Some(TOKEN_REVIEW_SPEC)),
        "SelfSubjectAccessReview" => with_meta(Some(SSAR_SPEC)),
        "SubjectAccessReview" => with_meta(Some(SAR_SPEC)),
        "SelfSubjectRulesReview" => with_meta(Some(SSRR_SPEC)),
        "Namespace" => with_meta(Some(NAMESPACE_SPEC)),
        "Secret" => {
            let mut v = with_meta(None);
            v.extend([
                f(2, "data", Ty::MapBytes),
                f(3, "type", Ty::Str),
                f(4, "stringData", Ty::MapStr),
                f(5, "immutable", Ty::Bool),
            ]);
            v
        }
        "ConfigMap" => {
            let mut v = with_meta(None);
            v.extend([
                f(2, "data", Ty::MapStr),
                f(3, "binaryData", Ty::MapBytes),
                f(4, "immutable", Ty::Bool),
            ]);
            v
        }
        "Role" | "ClusterRole" => {
            let mut v = with_meta(None);
            v.push(rep(2, "rules", Ty::Msg(POLICY_RULE)));
            v
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let mut v = with_meta(None);
            v.extend([
                rep(2, "subjects", Ty::Msg(RBAC_SUBJECT)),
                f(3, "roleRef", Ty::Msg(ROLE_REF)),
            ]);
            v
        }
        "ServiceAccount" => {
            let mut v = with_meta(None);
            v.extend([
                rep(2, "secrets", Ty::Msg(OBJECT_REF)),
                rep(3, "imagePullSecrets", Ty::Msg(LOCAL_REF)),
                f(4, "automountServiceAccountToken", Ty::Bool),
            ]);
            v
        }
        _ => return None,
    })
}

/// One decoded field: number, length-delimited payload (empty otherwise), varint value.
type RawField<'a> = (u64, &'a [u8], u64);

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first().ok_or("truncated varint")?;
            self.buf = rest;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err("varint too long".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err("truncated field".into());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// (field number, wire type, payload for length-delimited, varint value otherwise)
    fn next(&mut self) -> Result<Option<RawField<'a>>, String> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => Ok(Some((num, &[], self.varint()?))),
            1 => self.take(8).map(|_| Some((num, &[][..], 0))),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
                Ok(Some((num, self.take(len)?, 0)))
            }
            5 => self.take(4).map(|_| Some((num, &[][..], 0))),
            w => Err(format!("unsupported wire type {w}")),
        }
    }
}

fn map_entry(bytes: &[u8], value_ty: Ty) -> Result<(String, Value), String> {
    let mut r = Reader { buf: bytes };
    let (mut k, mut v) = (String::new(), Value::Null);
    while let Some((num, payload, _)) = r.next()? {
        match num {
            1 => k = String::from_utf8_lossy(payload).into_owned(),
            2 => v = scalar(value_ty, payload, 0)?,
            _ => {}
        }
    }
    Ok((k, v))
}

fn scalar(ty: Ty, payload: &[u8], int: u64) -> Result<Value, String> {
    use base64::Engine;
    Ok(match ty {
        Ty::Str => json!(String::from_utf8_lossy(payload)),
        Ty::MapBytes => json!(base64::engine::general_purpose::STANDARD.encode(payload)),
        Ty::Int => json!(int as i64),
        Ty::Bool => json!(int != 0),
        Ty::Time => {
            let mut r = Reader { buf: payload };
            let mut secs = 0i64;
            while let Some((num, _, v)) = r.next()? {
                if num == 1 {
                    secs = v as i64;
                }
            }
            jiff::Timestamp::from_second(secs)
                .map(|t| json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
                .unwrap_or(Value::Null)
        }
        Ty::Msg(fields) => decode_message(fields, payload)?,
        Ty::MapStr => json!(String::from_utf8_lossy(payload)),
        Ty::MapExtra => {
            let mut r = Reader { buf: payload };
            let mut items = vec![];
            while let Some((num, p, _)) = r.next()? {
                if num == 1 {
                    items.push(json!(String::from_utf8_lossy(p)));
                }
            }
            Value::Array(items)
        }
    })
}

fn decode_message(fields: &[Field], bytes: &[u8]) -> Result<Value, String> {
    let mut out = Map::new();
    let mut r = Reader { buf: bytes };
    while let Some((num, payload, int)) = r.next()? {
        let Some(field) = fields.iter().find(|f| f.num == num) else {
            continue;
        };
        match field.ty {
            Ty::MapStr | Ty::MapBytes | Ty::MapExtra => {
                let value_ty = match field.ty {
                    Ty::MapStr => Ty::Str,
                    other => other,
                };
                let (k, v) = map_entry(payload, value_ty)?;
                let entry = out.entry(field.name).or_insert_with(|| json!({}));
                if let Some(m) = entry.as_object_mut() {
                    m.insert(k, v);
                }
            }
            ty => {
                let v = scalar(ty, payload, int)?;
                if field.repeated {
                    let entry = out.entry(field.name).or_insert_with(|| json!([]));
                    if let Some(a) = entry.as_array_mut() {
                        a.push(v);
                    }
                } else {
                    out.insert(field.name.to_string(), v);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

/// Decode a `k8s\0`-framed protobuf body into the JSON object it stands for.
/// Err for kinds this decoder does not know (the caller answers 415).
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or("missing k8s protobuf magic")?;
    let mut r = Reader { buf: rest };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((num, payload, _)) = r.next()? {
        match num {
            1 => {
                let mut tm = Reader { buf: payload };
                while let Some((n, p, _)) = tm.next()? {
                    match n {
                        1 => api_version = String::from_utf8_lossy(p).into_owned(),
                        2 => kind = String::from_utf8_lossy(p).into_owned(),
                        _ => {}
                    }
                }
            }
            2 => raw = payload,
            _ => {}
        }
    }
    let schema =
        schema_for(&kind).ok_or_else(|| format!("no protobuf decoder for kind {kind:?}"))?;
    let mut obj = decode_message(&schema, raw)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_token_request_like_kubectl_sends() {
        let meta = field(1, b"default");
        let mut spec = field(1, b"vault");
        spec.extend([(4 << 3) as u8, 0xd8, 0x04]);
        let mut raw = field(1, &meta);
        raw.extend(field(2, &spec));
        let mut tm = field(1, b"authentication.k8s.io/v1");
        tm.extend(field(2, b"TokenRequest"));
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &tm));
        body.extend(field(2, &raw));
        let v = decode(&body).expect("decodes");
        assert_eq!(v["kind"], "TokenRequest");
        assert_eq!(v["metadata"]["name"], "default");
        assert_eq!(v["spec"]["audiences"], json!(["vault"]));
        assert_eq!(v["spec"]["expirationSeconds"], 600);
    }

    #[test]
    fn decodes_a_role_binding_like_kubectl_create_rolebinding_sends() {
        let subject = [
            field(1, b"User"),
            field(2, b"rbac.authorization.k8s.io"),
            field(3, b"eso"),
        ]
        .concat();
        let role_ref = [
            field(1, b"rbac.authorization.k8s.io"),
            field(2, b"Role"),
            field(3, b"r"),
        ]
        .concat();
        let raw = [
            field(1, &field(1, b"rb")),
            field(2, &subject),
            field(3, &role_ref),
        ]
        .concat();
        let tm = [
            field(1, b"rbac.authorization.k8s.io/v1"),
            field(2, b"RoleBinding"),
        ]
        .concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm), field(2, &raw)].concat();
        let v = decode(&body).expect("decodes");
        assert_eq!(v["subjects"][0]["name"], "eso");
        assert_eq!(v["roleRef"]["kind"], "Role");
        let rule = [
            field(1, b"get"),
            field(2, b""),
            field(3, b"secrets"),
            field(4, b"db"),
        ]
        .concat();
        let raw = [field(1, &field(1, b"r")), field(2, &rule)].concat();
        let tm = [field(1, b"rbac.authorization.k8s.io/v1"), field(2, b"Role")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm), field(2, &raw)].concat();
        let v = decode(&body).expect("decodes");
        assert_eq!(v["rules"][0]["resourceNames"], json!(["db"]));
        assert_eq!(v["rules"][0]["apiGroups"], json!([""]));
    }

    #[test]
    fn maps_and_unknown_kinds() {
        let entry = [field(1, b"password"), field(2, b"x")].concat();
        let mut raw = field(1, &field(1, b"s"));
        raw.extend(field(2, &entry));
        let mut tm = field(1, b"v1");
        tm.extend(field(2, b"Secret"));
        let body = [b"k8s\0".to_vec(), field(1, &tm), field(2, &raw)].concat();
        let v = decode(&body).expect("decodes");
        assert_eq!(v["data"]["password"], "eA==");
        let mut tm = field(1, b"apps/v1");
        tm.extend(field(2, b"Deployment"));
        assert!(decode(&[b"k8s\0".to_vec(), field(1, &tm)].concat()).is_err());
        assert!(decode(b"{}").is_err());
    }
}
