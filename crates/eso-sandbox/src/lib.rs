//! The sandbox behind `kubectl eso sandbox`: a simulated ESO controller and simulated providers (Vault, Azure Key
//! Vault, a container registry) on top of the simulated API server, loaded with incident scenarios.
//! See docs/ARCHITECTURE.md for the public API.

pub mod akv;
pub mod registry;
pub mod vault;
