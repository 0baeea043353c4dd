//! OpenAPI (feature `utoipa`): the probes of the [axum router](crate::axum) as operations,
//! and the `application/health+json` body as schemas.
//!
//! [`HealthReport`], [`CheckResult`] and [`Status`] implement `utoipa::ToSchema`
//! (components `HealthReport`, `HealthCheckResult`, `HealthStatus`), written from what
//! their serializers emit: `status` is the only member the public sees, every other one
//! is optional. [`HealthPaths`] documents `GET /health/live`, `/health/ready`,
//! `/health/startup` and `/health` (and `/livez`, `/readyz`, `/startupz` when the router
//! serves them) under the prefix the router is mounted at; merge it with
//! [`OpenApi::merge`], or name it in `#[openapi(modifiers(&HEALTH))]`.
//!
//! ```
//! use keel_health::openapi::HealthPaths;
//! use utoipa::OpenApi;
//!
//! /// The router is nested at `/internal`, with the Kubernetes paths.
//! const HEALTH: HealthPaths = HealthPaths::new().nest("/internal").kubernetes_paths(true);
//!
//! #[derive(OpenApi)]
//! #[openapi(modifiers(&HEALTH))]
//! struct Api;
//!
//! let json = serde_json::to_value(Api::openapi())?;
//! let ready = &json["paths"]["/internal/health/ready"]["get"]["responses"];
//! assert_eq!(
//!     ready["503"]["content"]["application/health+json"]["schema"]["$ref"],
//!     "#/components/schemas/HealthReport"
//! );
//! assert!(json["paths"]["/internal/readyz"]["get"].is_object());
//! assert_eq!(json["components"]["schemas"]["HealthStatus"]["enum"], serde_json::json!(["pass", "warn", "fail"]));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::borrow::Cow;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    Components, ContentBuilder, KnownFormat, OpenApi, Ref, RefOr, ResponseBuilder,
    ResponsesBuilder, SchemaFormat,
};
use utoipa::{Modify, PartialSchema, ToSchema};

use crate::{CONTENT_TYPE, CheckResult, HealthReport, Probe, Status};

type Schemas = Vec<(String, RefOr<Schema>)>;

fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

fn strings(description: &str) -> ArrayBuilder {
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(description))
}

impl PartialSchema for Status {
    fn schema() -> RefOr<Schema> {
        string("`pass` (healthy), `warn` (degraded, still HTTP 200) or `fail` (HTTP 503).")
            .enum_values(Some(
                [Status::Pass, Status::Warn, Status::Fail].map(Status::as_str),
            ))
            .into()
    }
}

impl ToSchema for Status {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("HealthStatus")
    }
}

impl PartialSchema for CheckResult {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "One check's result (draft-inadarei-api-health-check).",
            ))
            .property("componentId", string("Registered component id."))
            .property(
                "componentType",
                string("Component type (`datastore`, `system`, `component`, …)."),
            )
            .property(
                "observedValue",
                ObjectBuilder::new()
                    .schema_type(SchemaType::AnyValue)
                    .description(Some(
                        "Observed value, any JSON value; the run time for `:responseTime` checks.",
                    )),
            )
            .property(
                "observedUnit",
                string("Unit of `observedValue` (`ms`, `s`, `percent`, …)."),
            )
            .property("status", reference::<Status>())
            .required("status")
            .property(
                "affectedEndpoints",
                strings("Endpoints affected while the check is not `pass`."),
            )
            .property(
                "time",
                string("When the check last ran (RFC 3339, UTC).")
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            )
            .required("time")
            .property("output", string("Why the check is not `pass`."))
            .into()
    }
}

impl ToSchema for CheckResult {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("HealthCheckResult")
    }

    fn schemas(schemas: &mut Schemas) {
        schemas.push((Status::name().into_owned(), Status::schema()));
    }
}

impl PartialSchema for HealthReport {
    fn schema() -> RefOr<Schema> {
        let checks = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Results by check name (`component:measurement`), in registration order; \
                 full reports add `uptime`.",
            ))
            .additional_properties(Some(ArrayBuilder::new().items(reference::<CheckResult>())));
        ObjectBuilder::new()
            .description(Some(
                "An `application/health+json` report (draft-inadarei-api-health-check). \
                 Callers the details policy does not admit get `status` only.",
            ))
            .property("status", reference::<Status>())
            .required("status")
            .property("version", string("Public version of the service's API."))
            .property("releaseId", string("Release of the service."))
            .property("serviceId", string("Identifier of the service."))
            .property(
                "description",
                string("Human-readable description of the service."),
            )
            .property(
                "output",
                string("Why the report fails independently of its checks (draining, starting)."),
            )
            .property(
                "notes",
                strings("Service state: `draining`, `starting`.").items(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["draining", "starting"])),
                ),
            )
            .property("checks", checks)
            .into()
    }
}

impl ToSchema for HealthReport {
    fn schemas(schemas: &mut Schemas) {
        schemas.push((
            <CheckResult as ToSchema>::name().into_owned(),
            CheckResult::schema(),
        ));
        CheckResult::schemas(schemas);
    }
}

/// The tag of the probes when [`HealthPaths::tag`] is not set.
const DEFAULT_TAG: &str = "health";

/// The health probes as OpenAPI operations, for the paths a
/// [`HealthRouter`](crate::axum::HealthRouter) serves.
///
/// Each probe is a `GET` answering 200 (`pass`, `warn`) or 503 (`fail`) with an
/// `application/health+json` [`HealthReport`] and `Cache-Control`. The builder is
/// `const`, so a `const` names it in `#[openapi(modifiers(&HEALTH))]`; as a
/// [`Modify`] it merges [`openapi`](Self::openapi) into the document.
///
/// ```
/// use keel_health::Probe;
/// use keel_health::openapi::HealthPaths;
///
/// const HEALTH: HealthPaths = HealthPaths::new()
///     .tag("operations")
///     .details_security(Probe::Readiness, "bearer")
///     .describe(Probe::Readiness, "PostgreSQL reachable; `fail` while draining.");
///
/// let doc = HEALTH.openapi();
/// let json = serde_json::to_value(&doc)?;
/// let ready = &json["paths"]["/health/ready"]["get"];
/// assert_eq!(ready["tags"], serde_json::json!(["operations"]));
/// assert_eq!(ready["description"], "PostgreSQL reachable; `fail` while draining.");
/// assert_eq!(ready["security"], serde_json::json!([{}, {"bearer": []}]));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HealthPaths {
    prefix: &'static str,
    kubernetes_paths: bool,
    tag: Option<&'static str>,
    security: [Option<&'static str>; 4],
    descriptions: [Option<&'static str>; 4],
}

impl Default for HealthPaths {
    fn default() -> Self {
        Self::new()
    }
}

const fn index(probe: Probe) -> usize {
    match probe {
        Probe::Liveness => 0,
        Probe::Readiness => 1,
        Probe::Startup => 2,
        Probe::Full => 3,
    }
}

/// (probe, operation id, summary, default description, what 503 means)
const PROBES: [(Probe, &str, &str, &str, &str); 4] = [
    (
        Probe::Liveness,
        "health_live",
        "Liveness probe",
        "Runs the liveness checks (none by default: answered from memory). \
         Not affected by startup or drain: a dependency outage never fails it.",
        "`fail`: a critical liveness check fails",
    ),
    (
        Probe::Readiness,
        "health_ready",
        "Readiness probe",
        "Runs the readiness checks. `fail` while draining for shutdown and until every \
         critical startup check has passed once.",
        "`fail`: a critical readiness check fails, or the instance is starting or draining",
    ),
    (
        Probe::Startup,
        "health_startup",
        "Startup probe",
        "Runs the startup checks until each critical one has passed once, then answers \
         `pass` from memory.",
        "`fail`: a critical startup check has not passed yet",
    ),
    (
        Probe::Full,
        "health_report",
        "Health report",
        "Runs every check and adds `uptime`. `notes` says when the instance is starting \
         or draining.",
        "`fail`: a critical check fails",
    ),
];

impl HealthPaths {
    /// The four probes at the router's paths (`/health/live`, …), tagged `health`.
    ///
    /// ```
    /// let doc = keel_health::openapi::HealthPaths::new().openapi();
    /// assert_eq!(doc.paths.paths.len(), 4);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            prefix: "",
            kubernetes_paths: false,
            tag: None,
            security: [None; 4],
            descriptions: [None; 4],
        }
    }

    /// The prefix the router is nested at (`Router::nest("/internal", …)`), without a
    /// trailing slash.
    ///
    /// ```
    /// let doc = keel_health::openapi::HealthPaths::new().nest("/internal").openapi();
    /// assert!(doc.paths.paths.contains_key("/internal/health/live"));
    /// ```
    #[must_use]
    pub const fn nest(mut self, prefix: &'static str) -> Self {
        self.prefix = prefix;
        self
    }

    /// Also documents `/livez`, `/readyz` and `/startupz`, as
    /// [`HealthRouter::kubernetes_paths`](crate::axum::HealthRouter::kubernetes_paths)
    /// serves them.
    ///
    /// ```
    /// let doc = keel_health::openapi::HealthPaths::new().kubernetes_paths(true).openapi();
    /// assert_eq!(doc.paths.paths.len(), 7);
    /// ```
    #[must_use]
    pub const fn kubernetes_paths(mut self, on: bool) -> Self {
        self.kubernetes_paths = on;
        self
    }

    /// Tags the operations `tag` instead of `health`; the application declares that
    /// tag itself (no tag object is added).
    ///
    /// ```
    /// let doc = keel_health::openapi::HealthPaths::new().tag("operations").openapi();
    /// assert!(doc.tags.is_none());
    /// ```
    #[must_use]
    pub const fn tag(mut self, tag: &'static str) -> Self {
        self.tag = Some(tag);
        self
    }

    /// Documents that callers of `probe` may authenticate with the security scheme named
    /// `scheme` (declared by the application) to see the details, and may also call
    /// anonymously: `security: [{}, {scheme: []}]`. For the probes whose
    /// [`DetailsPolicy`](crate::axum::DetailsPolicy) looks at credentials.
    ///
    /// ```
    /// use keel_health::{Probe, openapi::HealthPaths};
    ///
    /// let doc = HealthPaths::new().details_security(Probe::Full, "bearer").openapi();
    /// let security = |path: &str| doc.paths.paths[path].get.as_ref().and_then(|op| op.security.clone());
    /// assert_eq!(security("/health").map(|s| s.len()), Some(2));
    /// assert!(security("/health/live").is_none());
    /// ```
    #[must_use]
    pub const fn details_security(mut self, probe: Probe, scheme: &'static str) -> Self {
        self.security[index(probe)] = Some(scheme);
        self
    }

    /// Replaces the description of `probe`'s operation (say which checks it runs).
    ///
    /// ```
    /// use keel_health::{Probe, openapi::HealthPaths};
    ///
    /// let doc = HealthPaths::new().describe(Probe::Full, "Details with an admin token.").openapi();
    /// let full = doc.paths.paths["/health"].get.as_ref().and_then(|op| op.description.clone());
    /// assert_eq!(full.as_deref(), Some("Details with an admin token."));
    /// ```
    #[must_use]
    pub const fn describe(mut self, probe: Probe, description: &'static str) -> Self {
        self.descriptions[index(probe)] = Some(description);
        self
    }

    /// The probes as a document of their own: paths, the report schemas and (with the
    /// default tag) the `health` tag. Merge it ([`OpenApi::merge`]) or nest it
    /// ([`OpenApi::nest`]) into the application's.
    ///
    /// ```
    /// let doc = keel_health::openapi::HealthPaths::new().openapi();
    /// let schemas = doc.components.map(|c| c.schemas).unwrap_or_default();
    /// assert!(schemas.contains_key("HealthReport") && schemas.contains_key("HealthCheckResult"));
    /// ```
    #[must_use]
    pub fn openapi(&self) -> OpenApi {
        let mut doc = OpenApi::default();
        for (probe, id, summary, description, fail) in PROBES {
            let description = self.descriptions[index(probe)].unwrap_or(description);
            let operation = |suffix: &str| {
                let mut op = OperationBuilder::new()
                    .operation_id(Some(format!("{id}{suffix}")))
                    .tag(self.tag.unwrap_or(DEFAULT_TAG))
                    .summary(Some(summary))
                    .description(Some(description))
                    .responses(
                        ResponsesBuilder::new()
                            .response("200", report_response("`pass` or `warn`"))
                            .response("503", report_response(fail)),
                    );
                if let Some(scheme) = self.security[index(probe)] {
                    op = op
                        .security(SecurityRequirement::default())
                        .security(SecurityRequirement::new(scheme, Vec::<String>::new()));
                }
                PathItem::new(HttpMethod::Get, op)
            };
            let path = format!("{}{}", self.prefix, probe.path());
            doc.paths.paths.insert(path, operation(""));
            let kubernetes = match probe {
                Probe::Liveness => Some("/livez"),
                Probe::Readiness => Some("/readyz"),
                Probe::Startup => Some("/startupz"),
                Probe::Full => None,
            };
            if let (true, Some(k)) = (self.kubernetes_paths, kubernetes) {
                doc.paths
                    .paths
                    .insert(format!("{}{k}", self.prefix), operation("z"));
            }
        }
        let mut components = Components::default();
        let mut schemas = vec![(HealthReport::name().into_owned(), HealthReport::schema())];
        HealthReport::schemas(&mut schemas);
        components.schemas.extend(schemas);
        doc.components = Some(components);
        if self.tag.is_none() {
            let tag = TagBuilder::new()
                .name(DEFAULT_TAG)
                .description(Some("Liveness, readiness and startup probes (keel-health)"));
            doc.tags = Some(vec![tag.build()]);
        }
        doc
    }
}

fn report_response(description: &str) -> ResponseBuilder {
    let cache = HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(
            "`max-age=N`: how long the results stay fresh; `private, max-age=N` with details.",
        ))
        .build();
    let content = ContentBuilder::new()
        .schema(Some(reference::<HealthReport>()))
        .build();
    ResponseBuilder::new()
        .description(description)
        .header("Cache-Control", cache)
        .content(CONTENT_TYPE, content)
}

impl Modify for HealthPaths {
    fn modify(&self, openapi: &mut OpenApi) {
        openapi.merge(self.openapi());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(paths: HealthPaths, expected: &[(&str, &str)]) {
        let doc = paths.openapi();
        let mut found: Vec<(String, String)> = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let id = item.get.as_ref().and_then(|op| op.operation_id.clone());
                (path.clone(), id.unwrap_or_default())
            })
            .collect();
        found.sort();
        let mut expected: Vec<(String, String)> = expected
            .iter()
            .map(|(p, id)| ((*p).to_owned(), (*id).to_owned()))
            .collect();
        expected.sort();
        assert_eq!(found, expected);
    }

    #[test]
    fn paths_and_operation_ids() {
        check(
            HealthPaths::new(),
            &[
                ("/health", "health_report"),
                ("/health/live", "health_live"),
                ("/health/ready", "health_ready"),
                ("/health/startup", "health_startup"),
            ],
        );
        check(
            HealthPaths::new().nest("/ops").kubernetes_paths(true),
            &[
                ("/ops/health", "health_report"),
                ("/ops/health/live", "health_live"),
                ("/ops/health/ready", "health_ready"),
                ("/ops/health/startup", "health_startup"),
                ("/ops/livez", "health_livez"),
                ("/ops/readyz", "health_readyz"),
                ("/ops/startupz", "health_startupz"),
            ],
        );
    }

    #[test]
    fn merging_keeps_the_applications_paths_and_tags() {
        let mut doc = OpenApi::default();
        doc.paths.paths.insert(
            "/api".into(),
            PathItem::new(HttpMethod::Get, OperationBuilder::new()),
        );
        HealthPaths::new().modify(&mut doc);
        assert_eq!(doc.paths.paths.len(), 5);
        let tags: Vec<String> = doc
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(tags, ["health"]);
    }

    #[test]
    fn report_schema_requires_status_only() {
        let json = serde_json::to_value(HealthReport::schema()).unwrap_or_default();
        assert_eq!(json["required"], serde_json::json!(["status"]));
        let check = serde_json::to_value(CheckResult::schema()).unwrap_or_default();
        assert_eq!(check["required"], serde_json::json!(["status", "time"]));
        assert_eq!(check["properties"]["time"]["format"], "date-time");
    }
}
