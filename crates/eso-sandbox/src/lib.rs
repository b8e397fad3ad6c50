//! Simulated ESO, providers and scenarios.
