//! Printing, and nothing else: every command has one report type that the table, wide, JSON and
//! YAML writers all print, so the formats cannot drift apart. Writers take `&mut impl Write` and
//! the colour decision and `now` as parameters, which keeps them testable byte for byte.

pub mod age;
pub mod chain;
pub mod doctor;
pub mod force_sync;
pub mod jsonpath;
pub mod push;
pub mod scope;
pub mod structured;
pub mod table;
pub mod wrap;

use jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Wide,
    Json,
    Yaml,
}

/// How to print: the format, whether to colour, and the time ages are measured from.
/// The line the human outputs of `--cached` runs end with (issue 16).
pub const CACHED_NOTE: &str = "Read from the API server's watch cache (--cached): possibly a few \
                               seconds stale.";

#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub format: Format,
    pub color: bool,
    pub now: Timestamp,
}
