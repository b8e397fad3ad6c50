//! The small part of ESO's Go `text/template` + sprig engine that secret templates actually use
//! (`{{ .key }}`, pipes through `lower`, `upper`, `b64enc`, `b64dec`, `toString`, `trim`, `quote`, and
//! `printf "%s:%s" .a .b`). The sandbox needs it to build `kubernetes.io/dockerconfigjson` Secrets the way
//! ESO does; anything outside this subset is an error, as a template error is in ESO.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;

/// Render `tpl` with `data` (secret keys to their values).
pub fn render(tpl: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "template: unclosed action".to_string())?;
        let action = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-');
        out.push_str(&eval_pipeline(action.trim(), data)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn eval_pipeline(action: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<String, String> {
    let mut stages = split_outside_quotes(action, '|').into_iter();
    let first = stages.next().unwrap_or_default();
    let mut value = eval_command(first.trim(), None, data)?;
    for stage in stages {
        value = eval_command(stage.trim(), Some(value), data)?;
    }
    Ok(value)
}

fn eval_command(
    cmd: &str,
    piped: Option<String>,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<String, String> {
    let words = split_outside_quotes(cmd, ' ')
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>();
    let Some(head) = words.first() else {
        return piped.ok_or_else(|| "template: empty command".to_string());
    };
    let mut args = words[1..]
        .iter()
        .map(|w| eval_operand(w, data))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(p) = piped {
        args.push(p);
    }
    if head.starts_with('.') || head.starts_with('"') {
        if !args.is_empty() {
            return Err(format!(
                "template: can't give argument to non-function {head}"
            ));
        }
        return eval_operand(head, data);
    }
    let one = |args: &[String]| -> Result<String, String> {
        args.first()
            .cloned()
            .ok_or_else(|| format!("template: wrong number of args for {head}: want 1 got 0"))
    };
    match head.as_str() {
        "lower" => Ok(one(&args)?.to_lowercase()),
        "upper" => Ok(one(&args)?.to_uppercase()),
        "trim" => Ok(one(&args)?.trim().to_string()),
        "toString" => one(&args),
        "quote" => Ok(format!("{:?}", one(&args)?)),
        "b64enc" => Ok(STANDARD.encode(one(&args)?)),
        "b64dec" => STANDARD
            .decode(one(&args)?)
            .map_err(|e| format!("template: b64dec: {e}"))
            .and_then(|b| {
                String::from_utf8(b).map_err(|_| "template: b64dec: not UTF-8".to_string())
            }),
        "printf" => printf(&args),
        other => Err(format!("template: function \"{other}\" not defined")),
    }
}

fn eval_operand(word: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<String, String> {
    if let Some(key) = word.strip_prefix('.') {
        // ESO exposes the secret keys at the top level; `.data.x` style lookups are not supported here.
        return data
            .get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .ok_or_else(|| format!("template: map has no entry for key \"{key}\""));
    }
    if word.len() >= 2 && word.starts_with('"') && word.ends_with('"') {
        return Ok(word[1..word.len() - 1].replace("\\\"", "\""));
    }
    Err(format!("template: unexpected operand {word}"))
}

fn printf(args: &[String]) -> Result<String, String> {
    let (fmt, rest) = args
        .split_first()
        .ok_or_else(|| "template: printf needs a format".to_string())?;
    let mut rest = rest.iter();
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('s') | Some('v') => {
                    out.push_str(rest.next().map(String::as_str).unwrap_or("%!s(MISSING)"))
                }
                Some('%') => out.push('%'),
                Some(other) => return Err(format!("template: printf verb %{other} not supported")),
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut in_quotes = false;
    let mut prev = '\0';
    for c in s.chars() {
        if c == '"' && prev != '\\' {
            in_quotes = !in_quotes;
        }
        if c == sep && !in_quotes {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(c);
        }
        prev = c;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> BTreeMap<String, Vec<u8>> {
        [
            ("registryName", "MyReg"),
            ("registryHost", "docker.io"),
            ("password", "pw"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
    }

    #[test]
    fn renders_the_eso_dockerconfigjson_example() {
        let tpl = r#"{"auths":{"{{ .registryName | lower }}.{{ .registryHost }}":{"username":"{{ .registryName }}","password":"{{ .password }}","auth":"{{ printf "%s:%s" .registryName .password | b64enc }}"}}}"#;
        let out = render(tpl, &data()).unwrap();
        assert_eq!(
            out,
            r#"{"auths":{"myreg.docker.io":{"username":"MyReg","password":"pw","auth":"TXlSZWc6cHc="}}}"#
        );
    }

    #[test]
    fn missing_key_and_unknown_function_are_errors() {
        assert!(
            render("{{ .nope }}", &data())
                .unwrap_err()
                .contains("no entry for key")
        );
        assert!(
            render("{{ .password | sha9 }}", &data())
                .unwrap_err()
                .contains("not defined")
        );
        assert!(render("{{ .password ", &data()).is_err());
    }
}
