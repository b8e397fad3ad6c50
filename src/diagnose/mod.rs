//! Diagnosis shared by every command (issue 12): the finding codes (`catalogue`), rules that need
//! more than one check's facts, and the causal ranking that makes the first finding printed the
//! root cause. Pure: no I/O, no clock. The per-check rule families still live in
//! `analysis::doctor::*`; they build `model::finding::Finding`s with codes from `catalogue`.

pub mod aws_trust;
pub mod catalogue;
pub mod kubernetes;
pub mod provider;
pub mod rank;
pub mod similar;
pub mod vault_explain;
