//! The parsed model of `#[validate(...)]` / `#[normalize(...)]` attributes.

use proc_macro2::{Span, TokenStream as TokenStream2};
use syn::{Expr, Ident, LitStr, Type};

pub(crate) const RULES: &str = "required, length, range, regex, username, email, phone, url, one_of, \
no_control_chars, allow_control_chars, must_match, custom, nested, each, min_items, max_items, \
password, sensitive";
pub(crate) const NORMALIZERS: &str = "trim, collapse_whitespace, nfc, nfkc, lowercase, uppercase, strip_html, \
title_case, email, phone, custom, nested";

// ---------------------------------------------------------------------------
// Parsed model
// ---------------------------------------------------------------------------

pub(crate) enum Rule {
    Required,
    Length(Vec<(Ident, Expr)>),
    Range(Vec<(Ident, Expr)>),
    RegexLit(LitStr),
    RegexPath(Expr),
    Username(Vec<(Ident, Expr)>),
    Email(Vec<(Ident, Expr)>),
    Phone(Vec<(Ident, Expr)>),
    Url(Vec<(Ident, Expr)>, Option<Vec<Expr>>),
    OneOf(Vec<Expr>),
    NoControl(bool),
    MustMatch(Ident),
    Custom(syn::Path),
    Nested,
    Each(Vec<RuleSpec>),
    Items(Option<Expr>, Option<Expr>),
    Password(Option<Expr>, Vec<Ident>),
}

pub(crate) struct RuleSpec {
    pub(crate) rule: Rule,
    pub(crate) message: Option<LitStr>,
    pub(crate) code: Option<LitStr>,
    pub(crate) span: Span,
}

pub(crate) enum Normalizer {
    Simple(&'static str),
    Email(&'static str),
    Phone(Vec<(Ident, Expr)>),
    Custom(syn::Path),
    Nested,
}

#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub(crate) rules: Vec<RuleSpec>,
    pub(crate) normalizers: Vec<Normalizer>,
    pub(crate) sensitive: bool,
    pub(crate) allow_control: bool,
    pub(crate) rename: Option<String>,
    pub(crate) flatten: bool,
}

pub(crate) struct StructAttrs {
    pub(crate) rename_all: Option<String>,
    pub(crate) custom: Vec<syn::Path>,
}

pub(crate) struct FieldInfo<'a> {
    pub(crate) access: TokenStream2,
    pub(crate) json_name: Option<String>,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: FieldAttrs,
    pub(crate) ident: Option<&'a Ident>,
}

pub(crate) fn err<T>(span: Span, msg: impl std::fmt::Display) -> syn::Result<T> {
    Err(syn::Error::new(span, msg))
}
