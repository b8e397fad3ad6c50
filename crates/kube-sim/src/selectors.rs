//! Label and field selectors with the apiserver's grammar and its 400s, so `-l`, `--field-selector`,
//! `kubectl describe`'s event query and ESO's selectableFields behave as on a real cluster.

use serde_json::Value;

use crate::resources::ResourceType;
use crate::status::ApiStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed `labelSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn set_values(rest: &str, whole: &str) -> Result<Vec<String>, ApiStatus> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| parse_error(whole, "found '', expected: '('"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn parse_error(whole: &str, detail: &str) -> ApiStatus {
    ApiStatus::bad_request(format!(
        "unable to parse requirement: {detail} in {whole:?}"
    ))
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, ApiStatus> {
        let mut reqs = vec![];
        for part in split_top(s) {
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement {
                    key: key.trim().to_string(),
                    op: Op::NotExists,
                }
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement {
                    key: k.trim().into(),
                    op: Op::NotEq(v.trim().into()),
                }
            } else if let Some((k, v)) = part.split_once("==") {
                Requirement {
                    key: k.trim().into(),
                    op: Op::Eq(v.trim().into()),
                }
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement {
                    key: k.trim().into(),
                    op: Op::Eq(v.trim().into()),
                }
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Requirement {
                    key: k.trim().into(),
                    op: Op::NotIn(set_values(rest, s)?),
                }
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Requirement {
                    key: k.trim().into(),
                    op: Op::In(set_values(rest, s)?),
                }
            } else {
                Requirement {
                    key: part.trim().into(),
                    op: Op::Exists,
                }
            };
            if !valid_key(&req.key) {
                return Err(parse_error(s, &format!("invalid label key {:?}", req.key)));
            }
            reqs.push(req);
        }
        Ok(Self { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Text every matching object's JSON contains (see [`needle`]): the values of `key=value`.
    pub fn needles(&self) -> impl Iterator<Item = &str> {
        self.reqs.iter().filter_map(|r| match &r.op {
            Op::Eq(v) => needle(v),
            _ => None,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| match &r.op {
            Op::Eq(v) => get(&r.key) == Some(v.as_str()),
            Op::NotEq(v) => get(&r.key) != Some(v.as_str()),
            Op::In(vs) => get(&r.key).is_some_and(|x| vs.iter().any(|v| v == x)),
            Op::NotIn(vs) => get(&r.key).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Op::Exists => get(&r.key).is_some(),
            Op::NotExists => get(&r.key).is_none(),
        })
    }
}

/// `value` if every object a `key=value` requirement matches has it, as it is, in its compact
/// serde_json serialisation: a string value is written with only `"`, `\` and control characters
/// escaped, and another value (a number, a boolean) as the text the requirement compares. Those
/// that need escaping, and the empty value (which an absent field matches), give none. A LIST with
/// a selector then parses only the objects that mention every needle (issue 16: a selector that
/// matches few of 100,000 Events parsed all of them).
fn needle(value: &str) -> Option<&str> {
    let plain = !value.is_empty() && !value.chars().any(|c| c == '"' || c == '\\' || c < ' ');
    plain.then_some(value)
}

/// A parsed `fieldSelector`, checked against the fields the type supports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

/// Where a selectable field lives in the object (`source` of core events is `source.component`).
fn field_path(field: &str) -> String {
    match field {
        "source" => "source.component".to_string(),
        "deprecatedSource" => "deprecatedSource.component".to_string(),
        f => f.to_string(),
    }
}

fn field_value(obj: &Value, field: &str) -> String {
    let mut cur = obj;
    for seg in field_path(field).split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl FieldSelector {
    /// `supported`: the type's selectable fields besides metadata.name / metadata.namespace.
    pub fn parse(s: &str, supported: &[String]) -> Result<Self, ApiStatus> {
        let mut reqs = vec![];
        for part in split_top(s) {
            let (field, negate, value) = if let Some((k, v)) = part.split_once("!=") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, false, v)
            } else {
                return Err(ApiStatus::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let field = field.trim().to_string();
            let known = matches!(field.as_str(), "metadata.name" | "metadata.namespace")
                || supported.contains(&field);
            if !known {
                return Err(ApiStatus::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            reqs.push((
                field,
                negate,
                value.trim().replace("\\,", ",").replace("\\=", "="),
            ));
        }
        Ok(Self { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Text every matching object's JSON contains (see [`needle`]): the values of `field=value`.
    pub fn needles(&self) -> impl Iterator<Item = &str> {
        self.reqs
            .iter()
            .filter(|(_, negate, _)| !negate)
            .filter_map(|(_, _, want)| needle(want))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs
            .iter()
            .all(|(field, negate, want)| (field_value(obj, field) == *want) != *negate)
    }
}

/// The field selectors a type accepts, for the version being served.
pub fn supported_fields(rt: &ResourceType, version: &str) -> Vec<String> {
    let mut out: Vec<String> = rt.builtin_fields.iter().map(|f| f.to_string()).collect();
    if let Some(v) = rt.version(version) {
        out.extend(v.selectable_fields.iter().cloned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_operators() {
        let obj = json!({"metadata": {"labels": {"app": "shop", "tier": "web"}}});
        let t = |s: &str| LabelSelector::parse(s).expect("parses").matches(&obj);
        assert!(t("app=shop"));
        assert!(t("app==shop,tier!=db"));
        assert!(t("tier in (web, api)"));
        assert!(!t("tier notin (web)"));
        assert!(t("app"));
        assert!(!t("!app"));
        assert!(t("!missing"));
        assert!(!t("app=other"));
        assert!(LabelSelector::parse("a b c").is_err());
    }

    #[test]
    fn field_selector_rejects_unsupported_fields_like_recording_57() {
        let err = FieldSelector::parse(
            "spec.target.creationPolicy=Owner",
            &["spec.secretStoreRef.name".into()],
        )
        .expect_err("unsupported");
        assert_eq!(
            err.message,
            "field label not supported: spec.target.creationPolicy"
        );
        assert_eq!(err.code, 400);
        let ok = FieldSelector::parse(
            "spec.secretStoreRef.name=vault,metadata.namespace!=x",
            &["spec.secretStoreRef.name".into()],
        )
        .expect("supported");
        assert!(ok.matches(&json!({"metadata": {"namespace": "prod"}, "spec": {"secretStoreRef": {"name": "vault"}}})));
        assert!(!ok.matches(
            &json!({"metadata": {"namespace": "x"}, "spec": {"secretStoreRef": {"name": "vault"}}})
        ));
    }

    #[test]
    fn every_matching_object_mentions_the_needles() {
        let objects = [
            json!({"metadata": {"name": "a", "namespace": "n", "labels": {"app": "shop", "v": "1"}},
                   "type": "Warning", "count": 3, "ok": true, "source": {"component": "eso"}}),
            json!({"metadata": {"name": "b", "namespace": "n", "labels": {"app": "say \"hi\""}},
                   "type": "Normal"}),
            json!({"metadata": {"name": "c"}}),
        ];
        let fields: Vec<String> = ["type", "count", "ok", "source"].map(String::from).into();
        let selectors = [
            ("app=shop", "type=Warning,count=3"),
            ("v=1", "ok=true,source=eso"),
            ("app!=shop", "type!=Warning"),
            ("", "metadata.namespace=,type="),
            ("", "metadata.name=c"),
            ("app in (shop)", "metadata.namespace=n"),
        ];
        let mut matched = 0;
        for (labels, field_sel) in selectors {
            let l = LabelSelector::parse(labels).expect("labels");
            let f = FieldSelector::parse(field_sel, &fields).expect("fields");
            for obj in &objects {
                if l.matches(obj) && f.matches(obj) {
                    matched += 1;
                    let json = obj.to_string();
                    for n in l.needles().chain(f.needles()) {
                        assert!(json.contains(n), "{labels} {field_sel}: {n} in {json}");
                    }
                }
            }
        }
        assert!(matched >= 6, "the selectors match some objects ({matched})");
        // Values that are written escaped, empty, or negated give no needle.
        let fields = ["type".to_string()];
        let none = FieldSelector::parse("type=a\"b,type=,type!=Normal", &fields).expect("parses");
        assert_eq!(none.needles().count(), 0);
        let some = FieldSelector::parse("type=Warning,metadata.name=a", &fields).expect("parses");
        assert_eq!(some.needles().collect::<Vec<_>>(), ["Warning", "a"]);
        let l = LabelSelector::parse("app=shop,tier!=db,x in (y)").expect("parses");
        assert_eq!(l.needles().collect::<Vec<_>>(), ["shop"]);
    }

    #[test]
    fn event_source_means_component() {
        let sel =
            FieldSelector::parse("source=external-secrets", &["source".into()]).expect("parses");
        assert!(sel.matches(&json!({"source": {"component": "external-secrets"}})));
    }
}
