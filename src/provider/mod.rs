//! The only code that talks to secret providers and registries (Vault, Azure Key Vault, AWS
//! Secrets Manager and Parameter Store, other Kubernetes API servers for ESO's kubernetes
//! provider, container registries), so the rest of the product works
//! on plain data and can be tested without servers.

pub mod aws;
pub mod azure;
pub mod kubeconfig;
pub mod kubernetes;
pub mod registry;
pub mod vault;
pub mod x509;
