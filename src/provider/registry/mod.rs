//! Container registry access for `kubectl eso verify-regcred`: parse a pull secret's payload,
//! log in to each registry the way a container runtime does, and check that images can be pulled,
//! without any credential ever reaching output.
//!
//! Pure parts ([`dockerconfig`], [`reference`], [`challenge`]) are separate from the one module
//! doing I/O ([`login`] on top of `transport`); [`report`] holds the plain serde result and the
//! function filling it.

pub mod challenge;
pub mod dockerconfig;
pub mod login;
pub mod matching;
pub mod outcome;
pub mod redact;
pub mod reference;
pub mod report;
mod transport;

pub use dockerconfig::{
    ConfigFinding, Credential, DockerConfig, NotJson, PayloadFormat, Problem, RegistryEntry,
    Severity, parse,
};
pub use login::{ClientError, ClientOptions, RegistryClient};
pub use outcome::{Check, Outcome};
pub use redact::Redacted;
pub use reference::{ImageRef, ImageRefError, parse_image};
pub use report::{ImageReport, RegcredReport, RegistryReport, verify};
