//! Simulated kube-apiserver.
