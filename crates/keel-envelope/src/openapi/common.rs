//! [`CommonResponses`]: responses every operation can answer, added where missing.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Components, OpenApi, Ref, RefOr};
use utoipa::{Modify, PartialSchema, ToSchema};

use super::responses::Spec;
use crate::ErrorEnvelope;

/// Prefix of a reference to a response component.
const RESPONSE_REF: &str = "#/components/responses/";

/// A [`Modify`] documenting responses that any operation can answer (429 from a global
/// rate limit, 503 from load shedding) on every operation that does not document that
/// status itself, as references to response components it registers.
///
/// It also registers every keel-envelope response an operation refers to by name
/// (`(status = 401, response = Unauthenticated)` in `#[utoipa::path]`) and the
/// [`ErrorEnvelope`] schemas they use, so the document never holds a dangling reference
/// and the `components(...)` list need not repeat them.
///
/// Its builder is `const`, so a `const` names it in `#[openapi(modifiers(&COMMON))]`
/// (utoipa takes an identifier there). Modifiers run in order: put it after those that
/// add paths.
///
/// ```
/// use keel_envelope::openapi::CommonResponses;
/// use utoipa::OpenApi;
///
/// #[utoipa::path(get, path = "/items", responses((status = 200, description = "The items")))]
/// async fn list() {}
///
/// /// Every route sits behind a rate limiter and a connection cap.
/// const COMMON: CommonResponses = CommonResponses::new().on_every_operation(&[429, 503]);
///
/// #[derive(OpenApi)]
/// #[openapi(paths(list), modifiers(&COMMON))]
/// struct Api;
///
/// let json = serde_json::to_value(Api::openapi())?;
/// let responses = &json["paths"]["/items"]["get"]["responses"];
/// assert_eq!(responses["429"]["$ref"], "#/components/responses/RateLimited");
/// assert_eq!(responses["503"]["$ref"], "#/components/responses/ServiceUnavailable");
/// assert!(json["components"]["responses"]["RateLimited"]["headers"]["Retry-After"].is_object());
/// assert!(json["components"]["schemas"]["ErrorEnvelope"].is_object());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CommonResponses {
    statuses: &'static [u16],
    secured: &'static [u16],
    except: &'static [&'static str],
}

impl CommonResponses {
    /// No common responses; still registers the keel-envelope responses operations
    /// refer to.
    ///
    /// ```
    /// use utoipa::Modify;
    ///
    /// let mut doc = utoipa::openapi::OpenApi::default();
    /// keel_envelope::openapi::CommonResponses::new().modify(&mut doc);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            statuses: &[],
            secured: &[],
            except: &[],
        }
    }

    /// Documents each status with Keel's error response for it ([`RateLimited`] for 429,
    /// [`ServiceUnavailable`] for 503, …; [`ErrorResponse`] for a status without one of
    /// its own) on every operation that lacks it. Statuses outside 100–599 are not HTTP
    /// statuses and are skipped.
    ///
    /// [`RateLimited`]: super::RateLimited
    /// [`ServiceUnavailable`]: super::ServiceUnavailable
    /// [`ErrorResponse`]: super::ErrorResponse
    ///
    /// ```
    /// use keel_envelope::openapi::CommonResponses;
    ///
    /// const COMMON: CommonResponses = CommonResponses::new().on_every_operation(&[429, 503]);
    /// # let _ = COMMON;
    /// ```
    #[must_use]
    pub const fn on_every_operation(mut self, statuses: &'static [u16]) -> Self {
        self.statuses = statuses;
        self
    }

    /// Documents each status as [`on_every_operation`](Self::on_every_operation) does, but
    /// only on operations that require credentials: those with a security requirement
    /// (their own, or the document's when they have none) of which no alternative is
    /// empty (an empty requirement, `{}`, makes credentials optional, as on a health report
    /// that shows more to admins). Typically `&[401, 403]`: a missing or revoked token, a
    /// caller without the permission.
    ///
    /// ```
    /// use keel_envelope::openapi::CommonResponses;
    /// use utoipa::OpenApi;
    ///
    /// #[utoipa::path(get, path = "/me", security(("bearer" = [])),
    ///     responses((status = 200, description = "The caller")))]
    /// async fn me() {}
    ///
    /// #[utoipa::path(get, path = "/open", responses((status = 200, description = "Hi")))]
    /// async fn open() {}
    ///
    /// const COMMON: CommonResponses = CommonResponses::new().on_secured_operations(&[401, 403]);
    ///
    /// #[derive(OpenApi)]
    /// #[openapi(paths(me, open), modifiers(&COMMON))]
    /// struct Api;
    ///
    /// let json = serde_json::to_value(Api::openapi())?;
    /// let me = &json["paths"]["/me"]["get"]["responses"];
    /// assert_eq!(me["401"]["$ref"], "#/components/responses/Unauthenticated");
    /// assert_eq!(me["403"]["$ref"], "#/components/responses/Forbidden");
    /// assert!(json["paths"]["/open"]["get"]["responses"]["401"].is_null());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[must_use]
    pub const fn on_secured_operations(mut self, statuses: &'static [u16]) -> Self {
        self.secured = statuses;
        self
    }

    /// Leaves the operations of paths at or below one of `prefixes` alone, at segment
    /// boundaries (`/health` covers `/health` and `/health/live`, not `/healthz`): e.g.
    /// probes the rate limiter exempts. They still get their references registered.
    ///
    /// ```
    /// use keel_envelope::openapi::CommonResponses;
    ///
    /// const COMMON: CommonResponses = CommonResponses::new()
    ///     .on_every_operation(&[429])
    ///     .except_paths_under(&["/health"]);
    /// # let _ = COMMON;
    /// ```
    #[must_use]
    pub const fn except_paths_under(mut self, prefixes: &'static [&'static str]) -> Self {
        self.except = prefixes;
        self
    }

    /// (status, response component) for each valid status.
    fn responses(statuses: &[u16]) -> impl Iterator<Item = (String, &'static Spec)> + '_ {
        statuses
            .iter()
            .filter(|s| (100..=599).contains(*s))
            .filter_map(|&status| {
                let spec = Spec::for_status(status).or_else(|| Spec::named("ErrorResponse"));
                spec.map(|spec| (status.to_string(), spec))
            })
    }

    /// Adds the common statuses, and the secured ones when `operation` requires
    /// credentials (`global`: the document's security requirements).
    fn add_missing(&self, operation: &mut Operation, global: Option<&[SecurityRequirement]>) {
        let required = operation
            .security
            .as_deref()
            .or(global)
            .is_some_and(|alternatives| {
                !alternatives.is_empty()
                    && !alternatives
                        .iter()
                        .any(|r| *r == SecurityRequirement::default())
            });
        let secured = if required { self.secured } else { &[] };
        for (status, spec) in Self::responses(self.statuses).chain(Self::responses(secured)) {
            operation
                .responses
                .responses
                .entry(status)
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(spec.name)));
        }
    }
}

/// `path` is `prefix` or below it, at a segment boundary (`/health` covers `/health/live`,
/// not `/healthz`), as keel-ratelimit's `exempt_path_prefix` matches.
fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'))
}

/// Every operation of a path item.
fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// Registers `ErrorEnvelope` and the schemas it refers to, unless present.
fn register_error_schemas(components: &mut Components) {
    let mut schemas = vec![(ErrorEnvelope::name().into_owned(), ErrorEnvelope::schema())];
    ErrorEnvelope::schemas(&mut schemas);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let mut referenced: Vec<String> = Vec::new();
        let global = openapi.security.as_deref();
        for (path, item) in &mut openapi.paths.paths {
            let skip = self.except.iter().any(|prefix| is_under(path, prefix));
            for operation in operations(item) {
                if !skip {
                    self.add_missing(operation, global);
                }
                // No let chains: the crate's MSRV is 1.85.
                let names = operation
                    .responses
                    .responses
                    .values()
                    .filter_map(|r| match r {
                        RefOr::Ref(r) => r.ref_location.strip_prefix(RESPONSE_REF),
                        RefOr::T(_) => None,
                    });
                for name in names {
                    if !referenced.iter().any(|n| n == name) {
                        referenced.push(name.to_owned());
                    }
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Components::default);
        let mut uses_envelope = false;
        for name in &referenced {
            if let Some(spec) = Spec::named(name) {
                components
                    .responses
                    .entry(name.clone())
                    .or_insert_with(|| spec.response());
                uses_envelope = true;
            }
        }
        if uses_envelope {
            register_error_schemas(components);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::{ResponseBuilder, ResponsesBuilder};

    /// A document with `/a` (GET documents its own 503) and `/health` (GET, POST).
    fn doc() -> OpenApi {
        let own_503 = ResponsesBuilder::new()
            .response("200", ResponseBuilder::new().description("ok"))
            .response("503", ResponseBuilder::new().description("own"));
        let mut doc = OpenApi::default();
        let a = OperationBuilder::new().responses(own_503).build();
        doc.paths
            .paths
            .insert("/a".into(), PathItem::new(HttpMethod::Get, a));
        let mut health = PathItem::new(HttpMethod::Get, OperationBuilder::new().build());
        health.post = Some(OperationBuilder::new().build());
        doc.paths.paths.insert("/health".into(), health);
        doc
    }

    fn json(common: CommonResponses) -> serde_json::Value {
        let mut doc = doc();
        common.modify(&mut doc);
        serde_json::to_value(doc).unwrap_or_default()
    }

    #[test]
    fn adds_missing_statuses_and_keeps_documented_ones() {
        let j = json(CommonResponses::new().on_every_operation(&[429, 503]));
        let a = &j["paths"]["/a"]["get"]["responses"];
        assert_eq!(a["429"]["$ref"], "#/components/responses/RateLimited");
        assert_eq!(a["503"]["description"], "own");
        for method in ["get", "post"] {
            let r = &j["paths"]["/health"][method]["responses"];
            assert_eq!(
                r["503"]["$ref"],
                "#/components/responses/ServiceUnavailable"
            );
        }
        let responses = &j["components"]["responses"];
        assert_eq!(
            responses["RateLimited"]["headers"]["Retry-After"]["schema"]["type"],
            "integer"
        );
        assert!(responses["ServiceUnavailable"].is_object());
        for schema in [
            "ErrorEnvelope",
            "ErrorBody",
            "FieldError",
            "Meta",
            "Pagination",
        ] {
            assert!(j["components"]["schemas"][schema].is_object(), "{schema}");
        }
    }

    #[test]
    fn except_leaves_paths_alone_and_unknown_statuses_get_the_generic_response() {
        let common = CommonResponses::new()
            .on_every_operation(&[418, 1000, 99])
            .except_paths_under(&["/health"]);
        let j = json(common);
        assert_eq!(
            j["paths"]["/a"]["get"]["responses"]["418"]["$ref"],
            "#/components/responses/ErrorResponse"
        );
        assert!(j["paths"]["/a"]["get"]["responses"]["1000"].is_null());
        assert!(j["paths"]["/a"]["get"]["responses"]["99"].is_null());
        assert!(j["paths"]["/health"]["get"]["responses"]["418"].is_null());
        assert!(j["components"]["responses"]["ErrorResponse"].is_object());
    }

    #[test]
    fn secured_statuses_go_only_where_credentials_are_required() {
        use utoipa::openapi::security::SecurityRequirement as Req;
        let mut doc = doc();
        let bearer = || Req::new("bearer", Vec::<String>::new());
        let op = |security: Option<Vec<Req>>| {
            let mut op = OperationBuilder::new().build();
            op.security = security;
            op
        };
        let mut item = PathItem::new(HttpMethod::Get, op(Some(vec![bearer()])));
        item.post = Some(op(Some(vec![Req::default(), bearer()]))); // optional credentials
        item.put = Some(op(Some(Vec::new()))); // `security: []`: none needed
        item.delete = Some(op(None)); // inherits the document's
        doc.paths.paths.insert("/s".into(), item);
        let common = CommonResponses::new()
            .on_every_operation(&[429])
            .on_secured_operations(&[401, 403]);
        let statuses = |doc: &OpenApi, method: &str| {
            let j = serde_json::to_value(doc).unwrap_or_default();
            let r = &j["paths"]["/s"][method]["responses"];
            ["401", "403", "429"].map(|s| r[s]["$ref"].as_str().map(str::to_owned))
        };
        let mut without_global = doc.clone();
        common.modify(&mut without_global);
        let refs =
            |names: [&str; 3]| names.map(|n| (!n.is_empty()).then(|| format!("{RESPONSE_REF}{n}")));
        let all = refs(["Unauthenticated", "Forbidden", "RateLimited"]);
        let limited = refs(["", "", "RateLimited"]);
        assert_eq!(statuses(&without_global, "get"), all);
        assert_eq!(statuses(&without_global, "post"), limited);
        assert_eq!(statuses(&without_global, "put"), limited);
        assert_eq!(statuses(&without_global, "delete"), limited);
        // A document-wide requirement covers the operations without their own.
        doc.security = Some(vec![bearer()]);
        common.modify(&mut doc);
        assert_eq!(statuses(&doc, "delete"), all);
        assert_eq!(statuses(&doc, "put"), limited);
        assert!(
            serde_json::to_value(&doc).unwrap_or_default()["components"]["responses"]["Forbidden"]
                .is_object()
        );
    }

    #[test]
    fn prefixes_match_at_segment_boundaries() {
        for (path, prefix, expected) in [
            ("/health", "/health", true),
            ("/health/live", "/health", true),
            ("/healthz", "/health", false),
            ("/api/v1/x", "/api/", true),
            ("/ap", "/api", false),
        ] {
            assert_eq!(is_under(path, prefix), expected, "{path} under {prefix}");
        }
    }

    #[test]
    fn registers_referenced_keel_responses_only() {
        let mut doc = doc();
        if let Some(op) = doc.paths.paths.get_mut("/a").and_then(|i| i.get.as_mut()) {
            for (status, name) in [("401", "Unauthenticated"), ("402", "Custom")] {
                op.responses
                    .responses
                    .insert(status.into(), RefOr::Ref(Ref::from_response_name(name)));
            }
        }
        CommonResponses::new().modify(&mut doc);
        let j = serde_json::to_value(doc).unwrap_or_default();
        let responses = &j["components"]["responses"];
        assert!(responses["Unauthenticated"]["headers"]["WWW-Authenticate"].is_object());
        assert!(responses["Custom"].is_null(), "not ours to invent");
        assert!(j["components"]["schemas"]["ErrorEnvelope"].is_object());
    }

    #[test]
    fn an_existing_component_is_not_replaced() {
        let mut doc = doc();
        let mine = ResponseBuilder::new().description("mine").build();
        doc.components
            .get_or_insert_with(Components::default)
            .responses
            .insert("RateLimited".into(), mine.into());
        CommonResponses::new()
            .on_every_operation(&[429])
            .modify(&mut doc);
        let j = serde_json::to_value(doc).unwrap_or_default();
        assert_eq!(
            j["components"]["responses"]["RateLimited"]["description"],
            "mine"
        );
    }

    #[test]
    fn nothing_referenced_nothing_registered() {
        let j = json(CommonResponses::new());
        assert!(
            j["components"]["responses"].is_null()
                || j["components"]["responses"] == serde_json::json!({})
        );
        assert!(j["components"]["schemas"]["ErrorEnvelope"].is_null());
    }
}
