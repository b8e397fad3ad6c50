//! Simulated Azure Key Vault secrets REST API and Entra ID token endpoint (placeholder until implemented).
