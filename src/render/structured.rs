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
