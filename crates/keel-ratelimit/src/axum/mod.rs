//! Axum.
