//! Provider and controller messages can quote what they were given: Entra ID names the client id
//! ("The provided client secret keys for app '<id>' are expired"), and ESO copies such text into
//! its Events. Every value read from a Secret for this walk is therefore scrubbed (as is and
//! base64-encoded) from every string of the facts before anything is judged or printed.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::model::chain::{ChainFacts, Sensitive};

/// Values shorter than this are not scrubbed: they would blank out ordinary words.
const MIN_LEN: usize = 6;
const MARK: &str = "<redacted>";

pub fn redact(facts: ChainFacts, values: &[&Sensitive]) -> ChainFacts {
    redact_any(facts, values)
}

/// The same scrub over any report (doctor's, describe-chain's findings): every string of it.
pub fn redact_any<T: serde::Serialize + serde::de::DeserializeOwned>(
    facts: T,
    values: &[&Sensitive],
) -> T {
    let mut forms: Vec<String> = Vec::new();
    for v in values {
        let text = String::from_utf8_lossy(v.bytes()).into_owned();
        for t in [text.clone(), text.trim().to_string()] {
            if t.len() >= MIN_LEN {
                forms.push(STANDARD.encode(&t));
                forms.push(URL_SAFE_NO_PAD.encode(&t));
                forms.push(t);
            }
        }
    }
    if forms.is_empty() {
        return facts;
    }
    // Longest first, so a value containing another is replaced whole.
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    let Ok(mut tree) = serde_json::to_value(&facts) else {
        return facts;
    };
    scrub(&mut tree, &forms);
    serde_json::from_value(tree).unwrap_or(facts)
}

fn scrub(v: &mut Value, forms: &[String]) {
    match v {
        Value::String(s) => {
            for f in forms {
                if s.contains(f.as_str()) {
                    *s = s.replace(f.as_str(), MARK);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, forms)),
        Value::Object(o) => o.values_mut().for_each(|x| scrub(x, forms)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::chain::EventFacts;

    #[test]
    fn scrubs_plain_and_base64_forms_everywhere() {
        let id = "6f1c2a8e-0d4b-4c1e-9a77-3b1f0c2d9e10";
        let mut f = ChainFacts::default();
        f.provider.login_error = Some(format!("keys for app '{id}' are expired"));
        f.store.events.push(EventFacts {
            message: format!("token {}", STANDARD.encode(id)),
            ..EventFacts::default()
        });
        f.store.name = "akv".into();
        let secret = Sensitive::from_string(id.to_string());
        let out = redact(f, &[&secret, &Sensitive::from_string("ab".into())]);
        let text = serde_json::to_string(&out).unwrap_or_default();
        assert!(
            !text.contains(id) && !text.contains(&STANDARD.encode(id)),
            "{text}"
        );
        assert!(text.contains("for app '<redacted>'"), "{text}");
        assert_eq!(out.store.name, "akv");
    }
}
