//! Pagination: the `meta.pagination` member and the `page`/`limit` query parameters.

use serde::{Deserialize, Serialize};

use crate::{FieldError, FieldPath};

/// `meta.pagination` of a list response.
///
/// ```
/// use keel_envelope::Pagination;
///
/// let p = Pagination::new(1, 20, 57).unwrap();
/// assert_eq!(p.total_pages, 3);
/// assert!(Pagination::new(1, 0, 57).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// 1-based page number.
    pub page: u64,
    /// Items per page.
    pub limit: u64,
    /// Items in the whole collection.
    pub total: u64,
    /// Number of pages (`ceil(total / limit)`; 0 when the collection is empty).
    pub total_pages: u64,
}

impl Pagination {
    /// Pagination for `page` (1-based) of `limit` items out of `total`.
    ///
    /// # Errors
    /// [`PageError`] when `page` is 0 or `limit` is 0.
    pub fn new(page: u64, limit: u64, total: u64) -> Result<Self, PageError> {
        if page == 0 {
            return Err(PageError::Page { min: 1 });
        }
        if limit == 0 {
            return Err(PageError::Limit {
                min: 1,
                max: u64::MAX,
            });
        }
        // div_ceil cannot overflow, unlike (total + limit - 1) / limit.
        let total_pages = total.div_ceil(limit);
        Ok(Self {
            page,
            limit,
            total,
            total_pages,
        })
    }
}

/// Bounds for [`PageRequest::resolve`]: default and maximum `limit`.
///
/// ```
/// use keel_envelope::PageBounds;
/// let b = PageBounds::default();
/// assert_eq!((b.default_limit, b.max_limit), (20, 100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageBounds {
    /// `limit` when the client sends none.
    pub default_limit: u64,
    /// Largest accepted `limit`.
    pub max_limit: u64,
}

impl PageBounds {
    /// The largest accepted `page`: the last one whose offset, `(page - 1) * max_limit`,
    /// still fits a PostgreSQL `bigint` whatever `limit` the client picks. Document it
    /// as the `page` parameter's `maximum`.
    ///
    /// ```
    /// use keel_envelope::PageBounds;
    /// assert_eq!(PageBounds::default().max_page(), 92_233_720_368_547_759);
    /// ```
    pub const fn max_page(&self) -> u64 {
        let max_limit = if self.max_limit == 0 {
            1
        } else {
            self.max_limit
        };
        i64::MAX as u64 / max_limit + 1
    }
}

impl Default for PageBounds {
    fn default() -> Self {
        Self {
            default_limit: 20,
            max_limit: 100,
        }
    }
}

/// [`PageBounds`] known at compile time, and (feature `utoipa`) the `page` and `limit`
/// query parameters documented with exactly those bounds, so the OpenAPI document and the
/// checks cannot drift apart.
///
/// ```
/// use keel_envelope::{PageParams, PageRequest};
///
/// /// The bounds of one list endpoint: `#[utoipa::path(params(UserPage))]` documents them.
/// type UserPage = PageParams<20, 100>;
///
/// let page = PageRequest { page: Some(2), limit: None }.resolve(&UserPage::BOUNDS).unwrap();
/// assert_eq!((page.limit, page.offset()), (20, 20));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageParams<const DEFAULT_LIMIT: u64, const MAX_LIMIT: u64>;

impl<const DEFAULT_LIMIT: u64, const MAX_LIMIT: u64> PageParams<DEFAULT_LIMIT, MAX_LIMIT> {
    /// `PageBounds { default_limit: DEFAULT_LIMIT, max_limit: MAX_LIMIT }`.
    pub const BOUNDS: PageBounds = PageBounds {
        default_limit: DEFAULT_LIMIT,
        max_limit: MAX_LIMIT,
    };
}

#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
impl<const DEFAULT_LIMIT: u64, const MAX_LIMIT: u64> utoipa::IntoParams
    for PageParams<DEFAULT_LIMIT, MAX_LIMIT>
{
    /// `page` (integer, 1 to [`PageBounds::max_page`]) and `limit` (integer, 1 to
    /// `MAX_LIMIT`), both optional, in the query unless the route says otherwise.
    fn into_params(
        parameter_in_provider: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::Required;
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};

        let param = |name: &str, description: String, max: u64| {
            let schema = ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::Integer))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1))
                .maximum(Some(max));
            ParameterBuilder::new()
                .name(name)
                .parameter_in(parameter_in_provider().unwrap_or(ParameterIn::Query))
                .description(Some(description))
                .required(Required::False)
                .schema(Some(schema))
                .build()
        };
        vec![
            param(
                "page",
                "1-based page (default 1)".to_owned(),
                Self::BOUNDS.max_page(),
            ),
            param(
                "limit",
                format!("Items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})"),
                MAX_LIMIT,
            ),
        ]
    }
}

/// The `page` and `limit` query parameters as the client sent them.
///
/// Deserialize it (e.g. with `keel_envelope::axum::Query`), then [`resolve`](Self::resolve)
/// it against [`PageBounds`]: an out-of-range value is an error, never silently clamped.
///
/// ```
/// use keel_envelope::{PageBounds, PageRequest};
///
/// let req = PageRequest { page: Some(2), limit: None };
/// let page = req.resolve(&PageBounds::default()).unwrap();
/// assert_eq!((page.page, page.limit, page.offset()), (2, 20, 20));
///
/// let bad = PageRequest { page: Some(1), limit: Some(500) };
/// assert!(bad.resolve(&PageBounds::default()).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// 1-based page; defaults to 1.
    #[serde(default)]
    pub page: Option<u64>,
    /// Items per page; defaults to [`PageBounds::default_limit`].
    #[serde(default)]
    pub limit: Option<u64>,
}

impl PageRequest {
    /// Applies defaults and checks bounds.
    ///
    /// # Errors
    /// [`PageError`] when `page` is 0 or `limit` is outside `1..=max_limit`.
    pub fn resolve(&self, bounds: &PageBounds) -> Result<Page, PageError> {
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(PageError::Page { min: 1 });
        }
        if page > bounds.max_page() {
            return Err(PageError::PageTooLarge {
                max: bounds.max_page(),
            });
        }
        let limit = self.limit.unwrap_or(bounds.default_limit);
        if limit == 0 || limit > bounds.max_limit {
            return Err(PageError::Limit {
                min: 1,
                max: bounds.max_limit,
            });
        }
        // page ≤ max_page and limit ≤ max_limit: the offset fits an i64; checked anyway.
        let offset = (page - 1)
            .checked_mul(limit)
            .filter(|o| i64::try_from(*o).is_ok())
            .ok_or(PageError::PageTooLarge {
                max: bounds.max_page(),
            })?;
        Ok(Page {
            page,
            limit,
            offset,
        })
    }
}

/// A resolved, in-bounds page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: u64,
    /// Items per page.
    pub limit: u64,
    offset: u64,
}

impl Page {
    /// Items to skip: `(page - 1) * limit`, known to fit an `i64`.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The SQL `LIMIT` and `OFFSET` (PostgreSQL `bigint`) of this page. The offset is
    /// known to fit; a `limit` set above `i64::MAX` after resolving saturates.
    ///
    /// ```
    /// use keel_envelope::{PageBounds, PageRequest};
    /// let page = PageRequest { page: Some(3), limit: Some(10) }.resolve(&PageBounds::default()).unwrap();
    /// assert_eq!(page.sql_limit_offset(), (10, 20));
    /// ```
    pub fn sql_limit_offset(&self) -> (i64, i64) {
        let limit = i64::try_from(self.limit).unwrap_or(i64::MAX);
        (limit, i64::try_from(self.offset).unwrap_or(i64::MAX))
    }

    /// `meta.pagination` for this page of a collection of `total` items.
    pub fn pagination(&self, total: u64) -> Pagination {
        Pagination {
            page: self.page,
            limit: self.limit,
            total,
            total_pages: total.div_ceil(self.limit),
        }
    }
}

/// A `page` or `limit` outside its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PageError {
    /// `page` is below `min`.
    Page {
        /// Smallest accepted page.
        min: u64,
    },
    /// `page` is above [`PageBounds::max_page`] (its offset would overflow).
    PageTooLarge {
        /// Largest accepted page.
        max: u64,
    },
    /// `limit` is outside `min..=max`.
    Limit {
        /// Smallest accepted limit.
        min: u64,
        /// Largest accepted limit.
        max: u64,
    },
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Page { min } => write!(f, "page must be at least {min}"),
            Self::PageTooLarge { max } => write!(f, "page must be at most {max}"),
            Self::Limit { min, max } => write!(f, "limit must be between {min} and {max}"),
        }
    }
}

impl std::error::Error for PageError {}

impl PageError {
    /// The error as a field error on `page` or `limit`, for a 422 envelope.
    ///
    /// ```
    /// # use keel_envelope::PageError;
    /// let fe = PageError::Limit { min: 1, max: 100 }.to_field_error();
    /// assert_eq!((fe.field.as_str(), fe.code.as_ref()), ("limit", "out_of_range"));
    /// ```
    pub fn to_field_error(&self) -> FieldError {
        match self {
            Self::Page { min } => FieldError::new(
                &FieldPath::root().key("page"),
                "out_of_range",
                self.to_string(),
            )
            .with_param("min", *min),
            Self::PageTooLarge { max } => FieldError::new(
                &FieldPath::root().key("page"),
                "out_of_range",
                self.to_string(),
            )
            .with_param("max", *max),
            Self::Limit { min, max } => FieldError::new(
                &FieldPath::root().key("limit"),
                "out_of_range",
                self.to_string(),
            )
            .with_param("min", *min)
            .with_param("max", *max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(page: Option<u64>, limit: Option<u64>, expected: Result<(u64, u64, u64), PageError>) {
        let got = PageRequest { page, limit }
            .resolve(&PageBounds::default())
            .map(|p| (p.page, p.limit, p.offset()));
        assert_eq!(got, expected);
    }

    #[test]
    fn resolve_table() {
        check(None, None, Ok((1, 20, 0)));
        check(Some(3), Some(10), Ok((3, 10, 20)));
        check(Some(0), None, Err(PageError::Page { min: 1 }));
        check(None, Some(0), Err(PageError::Limit { min: 1, max: 100 }));
        check(None, Some(101), Err(PageError::Limit { min: 1, max: 100 }));
        let max = PageBounds::default().max_page();
        check(
            Some(u64::MAX),
            Some(100),
            Err(PageError::PageTooLarge { max }),
        );
        check(
            Some(9_223_372_036_854_775_806),
            Some(1),
            Err(PageError::PageTooLarge { max }),
        );
        check(Some(max), Some(100), Ok((max, 100, (max - 1) * 100)));
        assert_eq!(
            PageError::PageTooLarge { max }.to_string(),
            "page must be at most 92233720368547759"
        );
    }

    #[test]
    fn sql_limit_offset_fits_bigint_at_the_largest_page() {
        let bounds = PageBounds::default();
        let last = PageRequest {
            page: Some(bounds.max_page()),
            limit: Some(bounds.max_limit),
        };
        let (limit, offset) = last.resolve(&bounds).unwrap().sql_limit_offset();
        assert_eq!(limit, 100);
        assert_eq!(
            u64::try_from(offset).unwrap(),
            (bounds.max_page() - 1) * 100
        );
        let mut edited = PageRequest::default().resolve(&bounds).unwrap();
        edited.limit = u64::MAX;
        assert_eq!(edited.sql_limit_offset(), (i64::MAX, 0));
    }

    #[test]
    fn page_params_bounds_are_the_const_arguments() {
        assert_eq!(PageParams::<20, 100>::BOUNDS, PageBounds::default());
        let b = PageParams::<5, 10>::BOUNDS;
        assert_eq!((b.default_limit, b.max_limit), (5, 10));
    }

    #[cfg(feature = "utoipa")]
    #[test]
    fn page_params_document_the_bounds_they_check() {
        use utoipa::IntoParams;
        let params = PageParams::<5, 10>::into_params(|| None);
        let json = serde_json::to_value(&params).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"name": "page", "in": "query", "description": "1-based page (default 1)",
                 "required": false, "schema": {"type": "integer", "format": "int64",
                 "minimum": 1, "maximum": PageParams::<5, 10>::BOUNDS.max_page()}},
                {"name": "limit", "in": "query", "description": "Items per page (default 5, at most 10)",
                 "required": false, "schema": {"type": "integer", "format": "int64",
                 "minimum": 1, "maximum": 10}},
            ])
        );
        let in_path =
            PageParams::<5, 10>::into_params(|| Some(utoipa::openapi::path::ParameterIn::Path));
        assert!(
            in_path
                .iter()
                .all(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Path)
        );
    }

    #[test]
    fn total_pages() {
        assert_eq!(Pagination::new(1, 20, 0).unwrap().total_pages, 0);
        assert_eq!(Pagination::new(1, 20, 40).unwrap().total_pages, 2);
        assert_eq!(Pagination::new(1, 20, 41).unwrap().total_pages, 3);
        assert_eq!(
            Pagination::new(1, 1, u64::MAX).unwrap().total_pages,
            u64::MAX
        );
    }
}
