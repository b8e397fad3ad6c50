//! The only code that talks to secret providers and registries (Vault, Azure Key Vault, container
//! registries), so the rest of the product works on plain data and can be tested without servers.

pub mod azure;
pub mod registry;
pub mod vault;
