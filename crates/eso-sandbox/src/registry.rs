//! A small Docker Registry v2 fake for regcred scenarios (placeholder until implemented).
