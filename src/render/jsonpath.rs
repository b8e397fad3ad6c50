//! `-o jsonpath=TEMPLATE` as kubectl reads it (issue 13): text outside braces is printed as is,
//! `{.path}` prints what the path selects (several results separated by spaces), `{"\n"}` is a
//! literal, and `{range .path}…{end}` repeats its body for each selected item with `.` / `@`
//! relative to that item. The paths themselves are evaluated by jsonpath-rust (RFC 9535, already
//! in the tree through kube), after kubectl's leading `.` becomes `$`. It works on the report's
//! JSON, the same document `-o json` prints, so a script sees the same field names.

use jsonpath_rust::JsonPath;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Path(String),
    Range(String, Vec<Node>),
}

/// Checks the template's syntax (at parse time, before anything is fetched).
pub fn validate(template: &str) -> Result<(), String> {
    parse(template).map(|_| ())
}

/// Prints `template` over `doc`. A path that selects nothing prints nothing, as kubectl with its
/// default `--allow-missing-template-keys`.
pub fn render(template: &str, doc: &Value) -> Result<String, String> {
    let nodes = parse(template)?;
    let mut out = String::new();
    write_nodes(&nodes, doc, &mut out)?;
    Ok(out)
}

fn write_nodes(nodes: &[Node], current: &Value, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Path(p) => {
                let values = select(p, current)?;
                let texts: Vec<String> = values.iter().map(|v| text(v)).collect();
                out.push_str(&texts.join(" "));
            }
            Node::Range(p, body) => {
                for item in select(p, current)? {
                    // `{range .items[*]}` yields the items; `{range .items}` walks the array itself.
                    match item {
                        Value::Array(items) if !p.ends_with("[*]") => {
                            for i in items {
                                write_nodes(body, i, out)?;
                            }
                        }
                        _ => write_nodes(body, item, out)?,
                    }
                }
            }
        }
    }
    Ok(())
}

fn select<'a>(path: &str, current: &'a Value) -> Result<Vec<&'a Value>, String> {
    let rfc = match path {
        "." | "@" | "$" => return Ok(vec![current]),
        p if p.starts_with('@') || p.starts_with('$') => format!("${}", &p[1..]),
        p if p.starts_with('.') || p.starts_with('[') => format!("${p}"),
        p => format!("$.{p}"),
    };
    current
        .query(&rfc)
        .map_err(|e| format!("jsonpath {{{path}}}: {e}"))
}

/// Strings as they are (escape sequences from outside removed: JSON escaped them, raw text does
/// not), everything else as compact JSON (kubectl prints maps as JSON too).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => crate::sanitize::text(s),
        other => other.to_string(),
    }
}

fn parse(template: &str) -> Result<Vec<Node>, String> {
    let mut stack: Vec<(Option<String>, Vec<Node>)> = vec![(None, Vec::new())];
    let mut rest = template;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            push(&mut stack, Node::Text(rest.to_string()));
            break;
        };
        if open > 0 {
            push(&mut stack, Node::Text(rest[..open].to_string()));
        }
        let inner_start = open + 1;
        let close = closing_brace(&rest[inner_start..])
            .ok_or_else(|| format!("jsonpath template {template:?}: unclosed '{{'"))?;
        let expr = rest[inner_start..inner_start + close].trim();
        rest = &rest[inner_start + close + 1..];
        if let Some(path) = expr.strip_prefix("range ") {
            stack.push((Some(path.trim().to_string()), Vec::new()));
        } else if expr == "end" {
            match stack.pop() {
                Some((Some(path), body)) if !stack.is_empty() => {
                    push(&mut stack, Node::Range(path, body))
                }
                _ => {
                    return Err(format!(
                        "jsonpath template {template:?}: {{end}} without {{range}}"
                    ));
                }
            }
        } else if let Some(lit) = literal(expr) {
            push(&mut stack, Node::Text(lit));
        } else if expr.is_empty() {
            return Err(format!("jsonpath template {template:?}: empty '{{}}'"));
        } else {
            // Parse the path now, so a typo is a usage error before anything is fetched.
            select(expr, &Value::Null)?;
            push(&mut stack, Node::Path(expr.to_string()));
        }
    }
    match stack.pop() {
        Some((None, nodes)) if stack.is_empty() => Ok(nodes),
        _ => Err(format!(
            "jsonpath template {template:?}: {{range}} without {{end}}"
        )),
    }
}

fn push(stack: &mut [(Option<String>, Vec<Node>)], node: Node) {
    if let Some((_, nodes)) = stack.last_mut() {
        nodes.push(node);
    }
}

/// The index of the `}` that closes an expression, skipping braces inside quotes.
fn closing_brace(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(_), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '}') => return Some(i),
            _ => {}
        }
        escaped = false;
    }
    None
}

/// `"…"` with kubectl's escapes (`\n`, `\t`, `\"`, `\\`), or `None` when `expr` is not a literal.
fn literal(expr: &str) -> Option<String> {
    let body = expr.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "kind": "ScopeReport",
            "externalSecrets": [
                {"namespace": "prod", "name": "a", "ready": {"status": "True"}},
                {"namespace": "shop", "name": "b", "ready": {"status": "False"}}
            ],
            "totals": {"failing": 1}
        })
    }

    fn r(t: &str) -> String {
        render(t, &doc()).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    #[test]
    fn issue_13_paths_select_like_kubectl() {
        assert_eq!(r("{.kind}"), "ScopeReport");
        assert_eq!(r("{.externalSecrets[*].name}"), "a b");
        assert_eq!(r("{.externalSecrets[0].name}"), "a");
        assert_eq!(r("failing={.totals.failing}"), "failing=1");
        assert_eq!(r("{.totals}"), "{\"failing\":1}");
        assert_eq!(
            r("{.externalSecrets[?(@.ready.status==\"False\")].name}"),
            "b"
        );
        // A missing key prints nothing (kubectl's default --allow-missing-template-keys).
        assert_eq!(r("{.nope}"), "");
        // A string from outside cannot repaint the terminal.
        let evil = json!({"name": "a\u{1b}[31mred"});
        assert_eq!(render("{.name}", &evil).ok().as_deref(), Some("ared"));
    }

    #[test]
    fn issue_13_range_and_literals() {
        assert_eq!(
            r("{range .externalSecrets[*]}{.namespace}/{.name}{\"\\n\"}{end}"),
            "prod/a\nshop/b\n"
        );
        assert_eq!(
            r("{range .externalSecrets}{@.name}{\"\\t\"}{end}"),
            "a\tb\t"
        );
    }

    #[test]
    fn issue_13_broken_templates_are_refused_before_any_request() {
        for bad in ["{.kind", "{range .a[*]}{.b}", "{end}", "{}", "{.a[}"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert!(validate("{.kind}").is_ok());
    }
}
