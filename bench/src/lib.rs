//! Shared fixtures for the Criterion benches and latency reports.
