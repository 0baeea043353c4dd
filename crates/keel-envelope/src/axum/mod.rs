//! axum integration (feature `axum`): envelopes as responses, and [`Json`] / [`Query`] /
//! [`Path`] extractors whose rejections are error envelopes with distinct codes.
//!
//! | failure | status | `error.code` |
//! |---|---|---|
//! | body is not JSON (syntax, EOF) | 400 | `MALFORMED_JSON` |
//! | body could not be read | 400 | `BAD_REQUEST` |
//! | missing or non-JSON `Content-Type` | 415 | `UNSUPPORTED_MEDIA_TYPE` |
//! | body over the limit (`DefaultBodyLimit`) | 413 | `PAYLOAD_TOO_LARGE` |
//! | wrong type, missing field, bad query value, bad path parameter | 422 | `VALIDATION_ERROR` + `fields` |
//! | path parameter not UTF-8 once percent-decoded | 400 | `BAD_REQUEST` + `fields` |
//! | route parameters and `Path` type disagree (a server bug) | 500 | `INTERNAL_ERROR` |
//! | not a JSON object where a struct or map is expected (`[null, null]`) | 422 | `VALIDATION_ERROR` + `fields` |
//!
//! ```
//! use axum::{Router, routing::post, http::StatusCode};
//! use keel_envelope::{Envelope, axum::Json};
//!
//! #[derive(serde::Deserialize, serde::Serialize)]
//! struct NewUser { email: String }
//!
//! async fn create(Json(user): Json<NewUser>) -> (StatusCode, Envelope<NewUser>) {
//!     (StatusCode::CREATED, Envelope::new(user))
//! }
//!
//! let app: Router = Router::new().route("/users", post(create));
//! ```

mod de_error;
mod json;
mod path;
mod query;
mod rejection;
mod response;
mod strict;

pub use json::Json;
pub use path::Path;
pub use query::Query;
pub use rejection::{Rejection, RejectionKind};
pub use response::{json_response, request_id_from_headers};
