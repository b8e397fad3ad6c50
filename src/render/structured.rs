//! JSON and YAML straight from a report's serde form, so both carry exactly the same data.
//! Strings that came from the cluster were already cleaned of escape sequences by the analysis;
//! both serializers escape whatever control characters remain.

use std::io::{self, Write};

use serde::Serialize;

pub fn write_json<T: Serialize>(out: &mut impl Write, report: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
    writeln!(out)
}

pub fn write_yaml<T: Serialize>(out: &mut impl Write, report: &T) -> io::Result<()> {
    let text = serde_saphyr::to_string(report).map_err(io::Error::other)?;
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_format_lets_a_raw_escape_byte_through() {
        let value = serde_json::json!({"reason": "\u{1b}]0;pwned\u{7}\u{1b}[31mred", "n": 1});
        for write in [
            write_json::<serde_json::Value>,
            write_yaml::<serde_json::Value>,
        ] {
            let mut out = Vec::new();
            if let Err(e) = write(&mut out, &value) {
                panic!("{e}");
            }
            assert!(
                !out.contains(&0x1b) && !out.contains(&0x07),
                "{}",
                String::from_utf8_lossy(&out)
            );
        }
    }

    #[test]
    fn yaml_and_json_read_back_to_the_same_value() {
        let value = serde_json::json!({"apiVersion": "kubectl-eso/v1", "list": ["a", "b: c"], "n": null, "t": true});
        let (mut j, mut y) = (Vec::new(), Vec::new());
        assert!(write_json(&mut j, &value).is_ok() && write_yaml(&mut y, &value).is_ok());
        let from_j: serde_json::Value = serde_json::from_slice(&j).unwrap_or_default();
        let from_y: serde_json::Value =
            serde_saphyr::from_str(&String::from_utf8_lossy(&y)).unwrap_or_default();
        assert_eq!(from_j, value);
        assert_eq!(from_y, value);
    }
}
