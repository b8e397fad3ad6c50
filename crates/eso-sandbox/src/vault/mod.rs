//! Simulated HashiCorp Vault / OpenBao HTTP API (placeholder until implemented).
