use axum_core::extract::rejection::BytesRejection;
use axum_core::extract::{FromRequest, Request};
use bytes::Bytes;
use http::{HeaderMap, header};
use serde::de::{DeserializeOwned, IgnoredAny};

use super::de_error::{field_error_at, to_field_error};
use super::strict::Strict;
use super::{Rejection, RejectionKind, request_id_from_headers};

/// A JSON body extractor whose rejections are keel error envelopes.
///
/// Like axum's `Json`, it needs a JSON `Content-Type` and honours `DefaultBodyLimit`;
/// unlike it, every failure is a typed [`Rejection`] rendered as an envelope, a wrong
/// type or missing field names its path (`items[2].sku`), and the submitted value is
/// never echoed in the error.
///
/// ```
/// use axum::{Router, routing::post};
/// use keel_envelope::{Envelope, axum::Json};
///
/// #[derive(serde::Deserialize)]
/// struct Login { email: String }
///
/// async fn login(Json(body): Json<Login>) -> Envelope<String> {
///     Envelope::new(body.email)
/// }
/// let app: Router = Router::new().route("/login", post(login));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = request_id_from_headers(req.headers()).map(str::to_owned);
        if !is_json_content_type(req.headers()) {
            return Err(Rejection::new(
                RejectionKind::UnsupportedMediaType,
                request_id,
            ));
        }
        let bytes = match Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) => return Err(Rejection::new(bytes_rejection_kind(&e), request_id)),
        };
        Self::from_bytes(&bytes).map_err(|kind| Rejection::new(kind, request_id))
    }
}

impl<T: DeserializeOwned> Json<T> {
    /// Deserializes a JSON body that has already been read.
    ///
    /// # Errors
    /// [`RejectionKind::MalformedJson`] for a syntax error, [`RejectionKind::InvalidField`]
    /// for a type or shape mismatch — including a JSON array where a struct is expected, at
    /// any depth (serde's derive would accept `[null, null]` for a struct of two options,
    /// or `{"address": ["x", "y"]}` for a nested one), reported with its path.
    ///
    /// ```
    /// use keel_envelope::axum::{Json, RejectionKind};
    /// let err = Json::<Vec<u8>>::from_bytes(b"[1, 2,").unwrap_err();
    /// assert!(matches!(err, RejectionKind::MalformedJson { .. }));
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Patch { name: Option<String> }
    /// let err = Json::<Patch>::from_bytes(b"[null]").unwrap_err();
    /// assert!(matches!(err, RejectionKind::InvalidField(_)));
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RejectionKind> {
        // `Strict`: a struct takes a JSON object only, at every depth (serde's derive also
        // takes the array form, which no API documents). The valid path runs without
        // path tracking (`serde_path_to_error` keeps a copy of every key it passes, about
        // doubling the cost); only a failed body is read again with it, to name the path.
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let value = match T::deserialize(Strict(&mut *de)) {
            Ok(value) => value,
            Err(e) if e.classify() == serde_json::error::Category::Data => {
                return Err(invalid::<T>(bytes, &e));
            }
            Err(e) => return Err(malformed(&e)),
        };
        // Trailing garbage after the value is a syntax error.
        de.end().map_err(|e| malformed(&e))?;
        Ok(Self(value))
    }
}

/// The rejection of a body whose first read failed with the data error `first`.
#[cold]
fn invalid<T: DeserializeOwned>(bytes: &[u8], first: &serde_json::Error) -> RejectionKind {
    // A type error can come before a syntax error further on: a body that is not JSON at
    // all keeps its own answer (400).
    if let Err(syntax) = serde_json::from_slice::<IgnoredAny>(bytes) {
        return malformed(&syntax);
    }
    // The same read again, with `serde_path_to_error` outside `Strict` to report where.
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(Strict(de)) {
        Err(err) => {
            RejectionKind::InvalidField(to_field_error(err.path(), &err.inner().to_string()))
        }
        // Deserialization is deterministic, so this does not happen; answer as the first
        // read did, without a path.
        Ok(_) => RejectionKind::InvalidField(field_error_at(
            crate::FieldPath::root(),
            &first.to_string(),
        )),
    }
}

fn malformed(e: &serde_json::Error) -> RejectionKind {
    RejectionKind::MalformedJson {
        line: e.line(),
        column: e.column(),
    }
}

pub(super) fn bytes_rejection_kind(e: &BytesRejection) -> RejectionKind {
    match e {
        BytesRejection::FailedToBufferBody(
            axum_core::extract::rejection::FailedToBufferBody::LengthLimitError(_),
        ) => RejectionKind::PayloadTooLarge,
        _ => RejectionKind::BodyUnreadable,
    }
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    let Some((ty, subtype)) = essence.split_once('/') else {
        return false;
    };
    ty.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ct: Option<&str>, expected: bool) {
        let mut h = HeaderMap::new();
        if let Some(ct) = ct {
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        }
        assert_eq!(is_json_content_type(&h), expected, "{ct:?}");
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Patch {
        first: Option<String>,
        last: Option<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Order {
        customer: Customer,
        lines: Vec<Line>,
        gift: Option<Address>,
        kind: Kind,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Customer {
        name: String,
        address: Address,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Address {
        city: String,
        zip: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Line {
        sku: String,
        qty: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Kind {
        Pickup,
        Ship { express: bool },
        Wrapped(Address),
    }

    /// `body` into an `Order` is a 422 at `field` (code `invalid_type`).
    fn check_refused(body: &str, field: &str) {
        let Err(RejectionKind::InvalidField(fe)) = Json::<Order>::from_bytes(body.as_bytes())
        else {
            panic!("{body} accepted");
        };
        assert_eq!(
            (fe.field.as_str(), fe.code.as_ref(), fe.message.as_ref()),
            (field, "invalid_type", "expected a JSON object"),
            "{body}"
        );
    }

    const ADDRESS: &str = r#"{"city":"London","zip":"SW1"}"#;

    fn order(customer_address: &str, line: &str, gift: &str, kind: &str) -> String {
        format!(
            r#"{{"customer":{{"name":"Ada","address":{customer_address}}},"lines":[{line}],"gift":{gift},"kind":{kind}}}"#
        )
    }

    #[test]
    fn a_struct_takes_an_object_only_at_every_depth() {
        let line = r#"{"sku":"a","qty":1}"#;
        assert!(
            Json::<Order>::from_bytes(order(ADDRESS, line, ADDRESS, r#""pickup""#).as_bytes())
                .is_ok()
        );
        assert!(
            Json::<Order>::from_bytes(
                order(ADDRESS, line, "null", r#"{"ship":{"express":true}}"#).as_bytes()
            )
            .is_ok()
        );
        assert!(
            Json::<Order>::from_bytes(
                order(
                    ADDRESS,
                    line,
                    "null",
                    &format!(r#"{{"wrapped":{ADDRESS}}}"#)
                )
                .as_bytes()
            )
            .is_ok()
        );

        check_refused(r#"[null, null, null, null]"#, "");
        check_refused(
            &order(r#"["London","SW1"]"#, line, "null", r#""pickup""#),
            "customer.address",
        );
        check_refused(
            &order(ADDRESS, r#"["a",1]"#, "null", r#""pickup""#),
            "lines[0]",
        );
        check_refused(&order(ADDRESS, line, r#"["x","y"]"#, r#""pickup""#), "gift");
        check_refused(
            &order(ADDRESS, line, "null", r#"{"ship":[true]}"#),
            "kind.ship",
        );
        check_refused(
            &order(ADDRESS, line, "null", r#"{"wrapped":["x","y"]}"#),
            "kind.wrapped",
        );
    }

    #[test]
    fn a_struct_takes_an_object_only() {
        for body in [&b"[null, null]"[..], b"null", b"\"x\"", b"1"] {
            let Err(RejectionKind::InvalidField(fe)) = Json::<Patch>::from_bytes(body) else {
                panic!("{body:?} accepted");
            };
            assert_eq!((fe.field.as_str(), fe.code.as_ref()), ("", "invalid_type"));
            assert_eq!(fe.message, "expected a JSON object");
        }
        // A syntax error keeps its own answer even where a type error comes first.
        for body in [&b"[null,"[..], b"{\"first\": 1, ", b"[1] x"] {
            let malformed = Json::<Patch>::from_bytes(body);
            assert!(
                matches!(malformed, Err(RejectionKind::MalformedJson { .. })),
                "{body:?}: {malformed:?}"
            );
        }
        assert!(Json::<Patch>::from_bytes(b" {\"first\": null}").is_ok());
        // Sequence targets still take arrays, maps objects only, tuples arrays.
        assert!(Json::<Vec<Option<u8>>>::from_bytes(b"[null, null]").is_ok());
        assert!(Json::<(u8, String)>::from_bytes(b"[1, \"x\"]").is_ok());
        assert!(
            Json::<std::collections::HashMap<String, u8>>::from_bytes(b"[[\"a\", 1]]").is_err()
        );
        assert!(Json::<serde_json::Value>::from_bytes(b"[{\"a\": [1]}]").is_ok());
    }

    #[test]
    fn content_types() {
        check(Some("application/json"), true);
        check(Some("Application/JSON; charset=utf-8"), true);
        check(Some("application/problem+json"), true);
        check(Some("application/+json"), false);
        check(Some("text/plain"), false);
        check(Some("application/jsonx"), false);
        check(None, false);
    }
}
