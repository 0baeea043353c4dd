//! Operational endpoints: Prometheus metrics.

use axum::extract::State;
use axum::response::Response;

use crate::state::AppState;

/// Prometheus metrics (text exposition format). Pool figures come from keel-db-pool's
/// `metrics` feature; the user cache's from keel-cache's, sampled here at scrape time.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(cache) = state.users.cache() {
        cache.record_metrics();
    }
    state.metrics.response()
}
