#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Expr, Fields, GenericArgument, Ident, LitStr, PathArguments, Token, Type,
};

/// Implements `keel_validation::Validate` from `#[validate(...)]` and `#[normalize(...)]`.
#[proc_macro_derive(Validate, attributes(validate, normalize))]
pub fn derive_validate(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    match expand_validate(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Implements `Debug`, printing `[REDACTED]` for fields marked
/// `#[validate(sensitive)]` or validated with `#[validate(password)]`.
#[proc_macro_derive(RedactedDebug, attributes(validate, normalize))]
pub fn derive_redacted_debug(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    match expand_debug(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

const RULES: &str = "required, length, range, regex, username, email, phone, url, one_of, \
no_control_chars, allow_control_chars, must_match, custom, nested, each, min_items, max_items, \
password, sensitive";
const NORMALIZERS: &str = "trim, collapse_whitespace, nfc, nfkc, lowercase, uppercase, strip_html, \
title_case, email, phone, custom, nested";

// ---------------------------------------------------------------------------
// Parsed model
// ---------------------------------------------------------------------------

enum Rule {
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

struct RuleSpec {
    rule: Rule,
    message: Option<LitStr>,
    code: Option<LitStr>,
    span: Span,
}

enum Normalizer {
    Simple(&'static str),
    Email(&'static str),
    Phone(Vec<(Ident, Expr)>),
    Custom(syn::Path),
    Nested,
}

#[derive(Default)]
struct FieldAttrs {
    rules: Vec<RuleSpec>,
    normalizers: Vec<Normalizer>,
    sensitive: bool,
    allow_control: bool,
    rename: Option<String>,
    flatten: bool,
}

// ---------------------------------------------------------------------------
// Attribute parsing
// ---------------------------------------------------------------------------

fn err<T>(span: Span, msg: impl std::fmt::Display) -> syn::Result<T> {
    Err(syn::Error::new(span, msg))
}

/// `key = expr` pairs (or bare `key` meaning `key = true`), checked against `allowed`.
fn parse_opts(
    meta: &ParseNestedMeta<'_>,
    rule: &str,
    allowed: &[&str],
    message: &mut Option<LitStr>,
    code: &mut Option<LitStr>,
) -> syn::Result<Vec<(Ident, Expr)>> {
    let mut out = Vec::new();
    if !meta.input.peek(syn::token::Paren) {
        return Ok(out);
    }
    meta.parse_nested_meta(|inner| {
        let Some(key) = inner.path.get_ident().cloned() else {
            return err(inner.path.span(), "expected an option name");
        };
        let k = key.to_string();
        if k == "message" {
            *message = Some(inner.value()?.parse()?);
            return Ok(());
        }
        if k == "code" {
            *code = Some(inner.value()?.parse()?);
            return Ok(());
        }
        if !allowed.contains(&k.as_str()) {
            return err(
                key.span(),
                format!(
                    "unknown option `{k}` for `{rule}`; expected one of: {}, message, code",
                    allowed.join(", ")
                ),
            );
        }
        let value: Expr = if inner.input.peek(Token![=]) {
            inner.value()?.parse()?
        } else {
            syn::parse_quote!(true)
        };
        out.push((key, value));
        Ok(())
    })?;
    Ok(out)
}

fn parse_list<T: syn::parse::Parse>(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<T>> {
    let content;
    syn::parenthesized!(content in meta.input);
    let items = Punctuated::<T, Token![,]>::parse_terminated(&content)?;
    Ok(items.into_iter().collect())
}

fn parse_rule(
    meta: &ParseNestedMeta<'_>,
    attrs: &mut FieldAttrs,
    in_each: bool,
) -> syn::Result<()> {
    let span = meta.path.span();
    let Some(name) = meta.path.get_ident().map(ToString::to_string) else {
        return err(span, format!("expected a validation rule: {RULES}"));
    };
    let mut message = None;
    let mut code = None;
    let rule = match name.as_str() {
        "sensitive" if !in_each => {
            attrs.sensitive = true;
            return Ok(());
        }
        "allow_control_chars" if !in_each => {
            attrs.allow_control = true;
            return Ok(());
        }
        "required" => Rule::Required,
        "nested" => Rule::Nested,
        "length" => {
            let o = parse_opts(
                meta,
                "length",
                &["min", "max", "equal", "unit"],
                &mut message,
                &mut code,
            )?;
            if !o.iter().any(|(k, _)| k != "unit") {
                return err(
                    span,
                    "`length` needs at least one of `min`, `max`, `equal`, e.g. `length(min = 1, max = 50)`",
                );
            }
            Rule::Length(o)
        }
        "range" => {
            let o = parse_opts(
                meta,
                "range",
                &["min", "max", "gt", "lt"],
                &mut message,
                &mut code,
            )?;
            if o.is_empty() {
                return err(
                    span,
                    "`range` needs at least one of `min`, `max`, `gt`, `lt`, e.g. `range(min = 1, max = 10)`",
                );
            }
            Rule::Range(o)
        }
        "regex" => {
            if meta.input.peek(Token![=]) {
                let lit: LitStr = meta.value()?.parse()?;
                check_regex(&lit)?;
                Rule::RegexLit(lit)
            } else {
                let mut lit = None;
                let mut path = None;
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident("pattern") {
                        let l: LitStr = inner.value()?.parse()?;
                        check_regex(&l)?;
                        lit = Some(l);
                    } else if inner.path.is_ident("path") {
                        path = Some(inner.value()?.parse::<Expr>()?);
                    } else if inner.path.is_ident("message") {
                        message = Some(inner.value()?.parse()?);
                    } else if inner.path.is_ident("code") {
                        code = Some(inner.value()?.parse()?);
                    } else {
                        return err(inner.path.span(), "expected `pattern = \"...\"`, `path = STATIC_REGEX`, `message` or `code`");
                    }
                    Ok(())
                })?;
                match (lit, path) {
                    (Some(l), None) => Rule::RegexLit(l),
                    (None, Some(p)) => Rule::RegexPath(p),
                    _ => {
                        return err(
                            span,
                            "`regex` needs exactly one of `pattern = \"...\"` or `path = STATIC_REGEX`",
                        );
                    }
                }
            }
        }
        "username" => Rule::Username(parse_opts(
            meta,
            "username",
            &["min", "max"],
            &mut message,
            &mut code,
        )?),
        "email" => Rule::Email(parse_opts(
            meta,
            "email",
            &[
                "allow_smtputf8",
                "allow_quoted_local",
                "allow_domain_literal",
                "require_dot",
                "allow_special_use_domains",
                "max_local_chars",
            ],
            &mut message,
            &mut code,
        )?),
        "phone" => Rule::Phone(parse_opts(
            meta,
            "phone",
            &["default_calling_code", "min_digits", "max_digits"],
            &mut message,
            &mut code,
        )?),
        "url" => {
            let mut opts = Vec::new();
            let mut schemes = None;
            if meta.input.peek(syn::token::Paren) {
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident("schemes") {
                        schemes = Some(parse_list::<Expr>(&inner)?);
                    } else if inner.path.is_ident("message") {
                        message = Some(inner.value()?.parse()?);
                    } else if inner.path.is_ident("code") {
                        code = Some(inner.value()?.parse()?);
                    } else if inner.path.is_ident("require_host") || inner.path.is_ident("max_len") {
                        let key = inner.path.get_ident().cloned().ok_or_else(|| inner.error("expected an ident"))?;
                        opts.push((key, inner.value()?.parse()?));
                    } else {
                        return err(inner.path.span(), "unknown option for `url`; expected one of: schemes(...), require_host, max_len, message, code");
                    }
                    Ok(())
                })?;
            }
            Rule::Url(opts, schemes)
        }
        "one_of" => {
            let values = parse_list::<Expr>(meta)?;
            if values.is_empty() {
                return err(
                    span,
                    "`one_of` needs at least one value, e.g. `one_of(\"admin\", \"user\")`",
                );
            }
            Rule::OneOf(values)
        }
        "no_control_chars" => {
            let o = parse_opts(
                meta,
                "no_control_chars",
                &["allow_newlines"],
                &mut message,
                &mut code,
            )?;
            Rule::NoControl(!o.is_empty())
        }
        "must_match" => {
            let other = if meta.input.peek(Token![=]) {
                meta.value()?.parse::<Ident>()?
            } else {
                let mut other = None;
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident("other") {
                        other = Some(inner.value()?.parse::<Ident>()?);
                    } else if inner.path.is_ident("message") {
                        message = Some(inner.value()?.parse()?);
                    } else if inner.path.is_ident("code") {
                        code = Some(inner.value()?.parse()?);
                    } else if let Some(id) = inner.path.get_ident() {
                        other = Some(id.clone());
                    }
                    Ok(())
                })?;
                match other {
                    Some(o) => o,
                    None => {
                        return err(
                            span,
                            "`must_match` needs the other field: `must_match(other = password)`",
                        );
                    }
                }
            };
            Rule::MustMatch(other)
        }
        "custom" => {
            let path = if meta.input.peek(Token![=]) {
                meta.value()?.parse::<syn::Path>()?
            } else {
                let mut f = None;
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident("function") {
                        f = Some(inner.value()?.parse::<syn::Path>()?);
                    } else if inner.path.is_ident("message") {
                        message = Some(inner.value()?.parse()?);
                    } else if inner.path.is_ident("code") {
                        code = Some(inner.value()?.parse()?);
                    } else {
                        return err(
                            inner.path.span(),
                            "expected `function = path`, `message` or `code`",
                        );
                    }
                    Ok(())
                })?;
                match f {
                    Some(f) => f,
                    None => {
                        return err(
                            span,
                            "`custom` needs a function: `custom = my_check` or `custom(function = my_check)`",
                        );
                    }
                }
            };
            Rule::Custom(path)
        }
        "each" => {
            let mut inner_attrs = FieldAttrs::default();
            meta.parse_nested_meta(|inner| parse_rule(&inner, &mut inner_attrs, true))?;
            if inner_attrs.rules.is_empty() {
                return err(
                    span,
                    "`each` needs at least one rule, e.g. `each(length(max = 20))`",
                );
            }
            Rule::Each(inner_attrs.rules)
        }
        "min_items" => Rule::Items(Some(meta.value()?.parse()?), None),
        "max_items" => Rule::Items(None, Some(meta.value()?.parse()?)),
        "password" => {
            let mut policy = None;
            let mut context = Vec::new();
            if meta.input.peek(syn::token::Paren) {
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident("policy") {
                        policy = Some(inner.value()?.parse::<Expr>()?);
                    } else if inner.path.is_ident("context") {
                        context = parse_list::<Ident>(&inner)?;
                    } else if inner.path.is_ident("message") {
                        message = Some(inner.value()?.parse()?);
                    } else if inner.path.is_ident("code") {
                        code = Some(inner.value()?.parse()?);
                    } else {
                        return err(inner.path.span(), "unknown option for `password`; expected `policy = PATH`, `context(field, ...)`, `message` or `code`");
                    }
                    Ok(())
                })?;
            }
            if !in_each {
                attrs.sensitive = true;
            }
            Rule::Password(policy, context)
        }
        other => {
            return err(
                span,
                format!("unknown validation rule `{other}`; expected one of: {RULES}"),
            );
        }
    };
    attrs.rules.push(RuleSpec {
        rule,
        message,
        code,
        span,
    });
    Ok(())
}

fn check_regex(lit: &LitStr) -> syn::Result<()> {
    regex_syntax::Parser::new()
        .parse(&lit.value())
        .map(|_| ())
        .map_err(|e| syn::Error::new(lit.span(), format!("invalid regex: {e}")))
}

fn parse_normalizer(meta: &ParseNestedMeta<'_>, attrs: &mut FieldAttrs) -> syn::Result<()> {
    let span = meta.path.span();
    let Some(name) = meta.path.get_ident().map(ToString::to_string) else {
        return err(span, format!("expected a normalizer: {NORMALIZERS}"));
    };
    let n = match name.as_str() {
        "trim" => Normalizer::Simple("trim"),
        "collapse_whitespace" => Normalizer::Simple("collapse_whitespace"),
        "nfc" => Normalizer::Simple("nfc"),
        "nfkc" => Normalizer::Simple("nfkc"),
        "lowercase" => Normalizer::Simple("lowercase"),
        "uppercase" => Normalizer::Simple("uppercase"),
        "strip_html" => Normalizer::Simple("strip_html"),
        "title_case" => Normalizer::Simple("title_case"),
        "nested" => Normalizer::Nested,
        "email" => {
            let mut case = "All";
            if meta.input.peek(syn::token::Paren) {
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident("domain_only") {
                        case = "DomainOnly";
                    } else if inner.path.is_ident("keep_case") {
                        case = "Keep";
                    } else if inner.path.is_ident("lowercase") {
                        case = "All";
                    } else {
                        return err(
                            inner.path.span(),
                            "expected `lowercase` (default), `domain_only` or `keep_case`",
                        );
                    }
                    Ok(())
                })?;
            }
            Normalizer::Email(case)
        }
        "phone" => {
            let (mut m, mut c) = (None, None);
            Normalizer::Phone(parse_opts(
                meta,
                "phone",
                &["default_calling_code", "min_digits", "max_digits"],
                &mut m,
                &mut c,
            )?)
        }
        "custom" => Normalizer::Custom(meta.value()?.parse()?),
        other => {
            return err(
                span,
                format!("unknown normalizer `{other}`; expected one of: {NORMALIZERS}"),
            );
        }
    };
    attrs.normalizers.push(n);
    Ok(())
}

fn parse_serde_field(attr: &syn::Attribute, attrs: &mut FieldAttrs) -> syn::Result<()> {
    // Unknown serde options are serde's business: skip them quietly.
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("rename") {
            if meta.input.peek(Token![=]) {
                let lit: LitStr = meta.value()?.parse()?;
                attrs.rename = Some(lit.value());
            } else {
                meta.parse_nested_meta(|inner| {
                    let is_de = inner.path.is_ident("deserialize");
                    let lit: LitStr = inner.value()?.parse()?;
                    if is_de {
                        attrs.rename = Some(lit.value());
                    }
                    Ok(())
                })?;
            }
        } else if meta.path.is_ident("flatten") {
            attrs.flatten = true;
        } else {
            skip_meta(&meta)?;
        }
        Ok(())
    })
}

fn skip_meta(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        let _: TokenStream2 = content.parse()?;
    }
    Ok(())
}

fn parse_field_attrs(field: &syn::Field) -> syn::Result<FieldAttrs> {
    let mut attrs = FieldAttrs::default();
    for attr in &field.attrs {
        if attr.path().is_ident("validate") {
            attr.parse_nested_meta(|meta| parse_rule(&meta, &mut attrs, false))?;
        } else if attr.path().is_ident("normalize") {
            attr.parse_nested_meta(|meta| parse_normalizer(&meta, &mut attrs))?;
        } else if attr.path().is_ident("serde") {
            parse_serde_field(attr, &mut attrs)?;
        }
    }
    Ok(attrs)
}

struct StructAttrs {
    rename_all: Option<String>,
    custom: Vec<syn::Path>,
}

fn parse_struct_attrs(input: &DeriveInput) -> syn::Result<StructAttrs> {
    let mut out = StructAttrs {
        rename_all: None,
        custom: Vec::new(),
    };
    for attr in &input.attrs {
        if attr.path().is_ident("serde") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename_all") {
                    if meta.input.peek(Token![=]) {
                        let lit: LitStr = meta.value()?.parse()?;
                        check_rename_rule(&lit)?;
                        out.rename_all = Some(lit.value());
                    } else {
                        meta.parse_nested_meta(|inner| {
                            let is_de = inner.path.is_ident("deserialize");
                            let lit: LitStr = inner.value()?.parse()?;
                            if is_de {
                                check_rename_rule(&lit)?;
                                out.rename_all = Some(lit.value());
                            }
                            Ok(())
                        })?;
                    }
                } else {
                    skip_meta(&meta)?;
                }
                Ok(())
            })?;
        } else if attr.path().is_ident("validate") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("custom") {
                    if meta.input.peek(Token![=]) {
                        out.custom.push(meta.value()?.parse()?);
                    } else {
                        meta.parse_nested_meta(|inner| {
                            if inner.path.is_ident("function") {
                                out.custom.push(inner.value()?.parse()?);
                                Ok(())
                            } else {
                                err(inner.path.span(), "expected `function = path`")
                            }
                        })?;
                    }
                    Ok(())
                } else {
                    err(meta.path.span(), "on a struct, `#[validate(...)]` accepts only `custom = path` (a `fn(&Self, &Path<'_>, &mut ValidationErrors)`)")
                }
            })?;
        } else if attr.path().is_ident("normalize") {
            return err(
                attr.span(),
                "`#[normalize(...)]` goes on fields, not on the struct",
            );
        }
    }
    Ok(out)
}

const RENAME_RULES: &[&str] = &[
    "lowercase",
    "UPPERCASE",
    "PascalCase",
    "camelCase",
    "snake_case",
    "SCREAMING_SNAKE_CASE",
    "kebab-case",
    "SCREAMING-KEBAB-CASE",
];

fn check_rename_rule(lit: &LitStr) -> syn::Result<()> {
    if RENAME_RULES.contains(&lit.value().as_str()) {
        Ok(())
    } else {
        err(
            lit.span(),
            format!(
                "unknown rename_all rule; expected one of: {}",
                RENAME_RULES.join(", ")
            ),
        )
    }
}

/// serde's `rename_all` applied to a snake_case field name.
fn apply_rename(rule: &str, field: &str) -> String {
    let pascal = || {
        field
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect::<String>()
    };
    match rule {
        "lowercase" => field.to_ascii_lowercase(),
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => field.to_ascii_uppercase(),
        "PascalCase" => pascal(),
        "camelCase" => {
            let p = pascal();
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
                None => p,
            }
        }
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.replace('_', "-").to_ascii_uppercase(),
        _ => field.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Type helpers
// ---------------------------------------------------------------------------

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Reference(r) => last_segment(&r.elem),
        _ => None,
    }
}

fn first_generic(seg: &syn::PathSegment) -> Option<&Type> {
    match &seg.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

fn option_inner(ty: &Type) -> Option<&Type> {
    let seg = last_segment(ty)?;
    if seg.ident == "Option" {
        first_generic(seg)
    } else {
        None
    }
}

fn is_text_type(ty: &Type) -> bool {
    let Some(seg) = last_segment(ty) else {
        return false;
    };
    match seg.ident.to_string().as_str() {
        "String" | "str" => true,
        "Cow" => true,
        "Box" | "Sensitive" => first_generic(seg).is_some_and(is_text_type),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Code generation
// ---------------------------------------------------------------------------

struct FieldInfo<'a> {
    access: TokenStream2,
    json_name: Option<String>,
    ty: &'a Type,
    attrs: FieldAttrs,
    ident: Option<&'a Ident>,
}

fn collect_fields(input: &DeriveInput) -> syn::Result<Vec<FieldInfo<'_>>> {
    let Data::Struct(data) = &input.data else {
        return err(
            input.ident.span(),
            "`Validate` can only be derived for structs with named fields or newtype structs",
        );
    };
    let sattrs = parse_struct_attrs(input)?;
    match &data.fields {
        Fields::Named(named) => collect_all(named.named.iter().map(|f| {
            let ident = f
                .ident
                .as_ref()
                .ok_or_else(|| syn::Error::new(f.span(), "expected a named field"))?;
            let attrs = parse_field_attrs(f)?;
            let raw = ident.to_string();
            let raw = raw.strip_prefix("r#").unwrap_or(&raw).to_owned();
            let json_name = if attrs.flatten {
                None
            } else if let Some(r) = &attrs.rename {
                Some(r.clone())
            } else if let Some(rule) = &sattrs.rename_all {
                Some(apply_rename(rule, &raw))
            } else {
                Some(raw)
            };
            Ok(FieldInfo {
                access: quote!(self.#ident),
                json_name,
                ty: &f.ty,
                attrs,
                ident: Some(ident),
            })
        })),
        Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => {
            let f = &unnamed.unnamed[0];
            let attrs = parse_field_attrs(f)?;
            Ok(vec![FieldInfo {
                access: quote!(self.0),
                json_name: None,
                ty: &f.ty,
                attrs,
                ident: None,
            }])
        }
        _ => err(
            input.ident.span(),
            "`Validate` can only be derived for structs with named fields or newtype structs",
        ),
    }
}

/// Collects every item, or every error combined (so one compile reports all mistakes).
fn collect_all<T>(items: impl Iterator<Item = syn::Result<T>>) -> syn::Result<Vec<T>> {
    let mut out = Vec::new();
    let mut error: Option<syn::Error> = None;
    for item in items {
        match item {
            Ok(v) => out.push(v),
            Err(e) => match &mut error {
                Some(acc) => acc.combine(e),
                None => error = Some(e),
            },
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn builder(base: &TokenStream2, opts: &[(Ident, Expr)]) -> TokenStream2 {
    let calls = opts.iter().map(|(k, v)| quote!(.#k(#v)));
    quote!(#base #(#calls)*)
}

/// Code that checks one rule against `__v` (a reference) and records at `__p`.
fn rule_code(
    spec: &RuleSpec,
    fields: &[FieldInfo<'_>],
    sensitive: bool,
    field_is_option: bool,
) -> syn::Result<TokenStream2> {
    let kv = quote!(::keel_validation);
    let span = spec.span;
    let adjust = {
        let msg = spec
            .message
            .as_ref()
            .map(|m| quote!(let __x = __x.with_message(#m);));
        let code = spec
            .code
            .as_ref()
            .map(|c| quote!(let __x = __x.with_code(#c);));
        quote!(#code #msg)
    };
    let record = |check: TokenStream2| {
        quote_spanned! {span=>
            if let ::core::result::Result::Err(__x) = #check {
                #adjust
                __errors.add(&__p, __x);
            }
        }
    };
    Ok(match &spec.rule {
        Rule::Required => {
            if !field_is_option {
                return err(
                    span,
                    "`required` applies to `Option<T>` fields; for text use `length(min = 1)`",
                );
            }
            // Handled by the caller (needs the Option itself).
            TokenStream2::new()
        }
        Rule::Length(o) => {
            let o: Vec<(Ident, Expr)> = o
                .iter()
                .map(|(k, v)| {
                    if k == "unit" {
                        let unit = match v {
                            Expr::Lit(syn::ExprLit {
                                lit: syn::Lit::Str(s),
                                ..
                            }) => match s.value().as_str() {
                                "chars" => quote!(Chars),
                                "bytes" => quote!(Bytes),
                                "graphemes" => quote!(Graphemes),
                                _ => {
                                    return err(
                                        s.span(),
                                        "`unit` is one of \"chars\", \"bytes\", \"graphemes\"",
                                    );
                                }
                            },
                            other => {
                                return err(
                                    other.span(),
                                    "`unit` is one of \"chars\", \"bytes\", \"graphemes\"",
                                );
                            }
                        };
                        Ok((k.clone(), syn::parse_quote!(#kv::rules::LengthUnit::#unit)))
                    } else {
                        Ok((k.clone(), v.clone()))
                    }
                })
                .collect::<syn::Result<_>>()?;
            let b = builder(&quote!(#kv::rules::Length::new()), &o);
            record(quote!(#kv::rules::length(__v, &#b)))
        }
        Rule::Range(o) => {
            let b = builder(&quote!(#kv::rules::Range::new()), o);
            record(quote!(#kv::rules::range(__v, &#b)))
        }
        Rule::RegexLit(lit) => record(quote! {{
            static __RE: ::std::sync::LazyLock<::core::result::Result<#kv::__private::Regex, #kv::Error>> =
                ::std::sync::LazyLock::new(|| #kv::rules::compile_regex(#lit));
            match &*__RE {
                ::core::result::Result::Ok(__re) => #kv::rules::regex(__v, __re),
                ::core::result::Result::Err(_) => ::core::result::Result::Err(#kv::Violation::new("pattern_mismatch", "has an invalid format")),
            }
        }}),
        Rule::RegexPath(p) => record(quote! {{
            let __re: &#kv::__private::Regex = &#p;
            #kv::rules::regex(__v, __re)
        }}),
        Rule::Username(o) => {
            let b = builder(&quote!(#kv::rules::Username::new()), o);
            record(quote!(#kv::rules::username(__v, &#b)))
        }
        Rule::Email(o) => {
            let b = builder(&quote!(#kv::rules::EmailOptions::new()), o);
            record(quote!(#kv::rules::email(__v, &#b)))
        }
        Rule::Phone(o) => {
            let b = builder(&quote!(#kv::rules::PhoneOptions::new()), o);
            record(quote!(#kv::rules::phone(__v, &#b)))
        }
        Rule::Url(o, schemes) => {
            let mut b = builder(&quote!(#kv::rules::UrlOptions::new()), o);
            if let Some(s) = schemes {
                b = quote!(#b.schemes(&[#(#s),*]));
            }
            record(quote!(#kv::rules::url(__v, &#b)))
        }
        Rule::OneOf(values) => record(quote!(#kv::rules::one_of(__v, &[#(#values),*]))),
        Rule::NoControl(allow_newlines) => record(quote!(
            #kv::rules::no_control_chars(__v, &#kv::rules::ControlChars::new().allow_newlines(#allow_newlines))
        )),
        Rule::MustMatch(other) => {
            let Some(target) = fields.iter().find(|f| f.ident.is_some_and(|i| i == other)) else {
                return err(
                    other.span(),
                    format!("`must_match`: no field named `{other}` in this struct"),
                );
            };
            let name = target
                .json_name
                .clone()
                .unwrap_or_else(|| other.to_string());
            let access = &target.access;
            record(quote!(#kv::rules::must_match(__v, &#access, #name)))
        }
        Rule::Custom(path) => {
            let redact = sensitive.then(|| quote!(let __x = __x.redacted();));
            quote_spanned! {span=>
                if let ::core::result::Result::Err(__x) = #path(__v) {
                    let __x: #kv::Violation = __x;
                    #redact
                    #adjust
                    __errors.add(&__p, __x);
                }
            }
        }
        Rule::Nested => quote_spanned! {span=>
            #kv::Validate::validate_into(__v, &__p, __errors);
        },
        Rule::Each(inner) => {
            let mut body = TokenStream2::new();
            for r in inner {
                if matches!(r.rule, Rule::Required) {
                    return err(r.span, "`required` is not supported inside `each`");
                }
                body.extend(rule_code(r, fields, sensitive, false)?);
            }
            quote_spanned! {span=>
                for (__i, __v) in ::core::iter::IntoIterator::into_iter(__v).enumerate() {
                    let __p = __p.index(__i);
                    #body
                }
            }
        }
        Rule::Items(min, max) => {
            let min = min.as_ref().map_or(
                quote!(::core::option::Option::None),
                |m| quote!(::core::option::Option::Some(#m)),
            );
            let max = max.as_ref().map_or(
                quote!(::core::option::Option::None),
                |m| quote!(::core::option::Option::Some(#m)),
            );
            record(quote!(#kv::rules::items(__v, #min, #max)))
        }
        Rule::Password(policy, context) => {
            let policy = policy
                .clone()
                .unwrap_or_else(|| syn::parse_quote!(#kv::__private::DEFAULT_PASSWORD_POLICY));
            let mut ctx = Vec::new();
            for c in context {
                let Some(target) = fields.iter().find(|f| f.ident.is_some_and(|i| i == c)) else {
                    return err(
                        c.span(),
                        format!("`password(context(...))`: no field named `{c}` in this struct"),
                    );
                };
                let access = &target.access;
                ctx.push(quote!(#kv::rules::password::context_value(&#access)));
            }
            quote_spanned! {span=>
                {
                    let __policy: &#kv::PasswordPolicy = &#policy;
                    if let ::core::result::Result::Err(__xs) = __policy.check(__v, &[#(#ctx),*]) {
                        for __x in __xs {
                            #adjust
                            __errors.add(&__p, __x);
                        }
                    }
                }
            }
        }
    })
}

fn rejects_controls_itself(rule: &Rule) -> bool {
    matches!(
        rule,
        Rule::Email(_) | Rule::Username(_) | Rule::Phone(_) | Rule::Url(..) | Rule::NoControl(_)
    )
}

fn field_validate(f: &FieldInfo<'_>, fields: &[FieldInfo<'_>]) -> syn::Result<TokenStream2> {
    let kv = quote!(::keel_validation);
    if f.attrs.rules.is_empty() {
        return Ok(TokenStream2::new());
    }
    let inner_opt = option_inner(f.ty);
    let is_option = inner_opt.is_some();
    let value_ty = inner_opt.unwrap_or(f.ty);
    let mut body = TokenStream2::new();
    let implicit_control = is_text_type(value_ty)
        && !f.attrs.allow_control
        && !f
            .attrs
            .rules
            .iter()
            .any(|r| rejects_controls_itself(&r.rule))
        && f.attrs.rules.iter().any(|r| {
            !matches!(
                r.rule,
                Rule::Required | Rule::Nested | Rule::Each(_) | Rule::Items(..)
            )
        });
    if implicit_control {
        body.extend(quote! {
            if let ::core::result::Result::Err(__x) = #kv::rules::no_control_chars(__v, &#kv::rules::ControlChars::new()) {
                __errors.add(&__p, __x);
            }
        });
    }
    let mut required = None;
    for spec in &f.attrs.rules {
        if matches!(spec.rule, Rule::Required) {
            if !is_option {
                return err(
                    spec.span,
                    "`required` applies to `Option<T>` fields; for text use `length(min = 1)`",
                );
            }
            let m = spec
                .message
                .as_ref()
                .map(|m| quote!(let __x = __x.with_message(#m);));
            let c = spec
                .code
                .as_ref()
                .map(|c| quote!(let __x = __x.with_code(#c);));
            required = Some(quote!(#c #m));
            continue;
        }
        body.extend(rule_code(spec, fields, f.attrs.sensitive, is_option)?);
    }
    let access = &f.access;
    let path = match &f.json_name {
        Some(name) => quote!(let __p = __path.key(#name);),
        None => quote!(let __p = *__path;),
    };
    Ok(if is_option {
        let req = required.map(|adjust| {
            quote! {
                if let ::core::result::Result::Err(__x) = #kv::rules::required(&#access) {
                    #adjust
                    __errors.add(&__p, __x);
                }
            }
        });
        quote! {{
            #path
            #req
            if let ::core::option::Option::Some(__v) = &#access {
                #body
            }
        }}
    } else {
        quote! {{
            #path
            let __v = &#access;
            #body
        }}
    })
}

fn field_normalize(f: &FieldInfo<'_>) -> TokenStream2 {
    let kv = quote!(::keel_validation);
    let access = &f.access;
    let mut text_steps = Vec::new();
    let mut out = TokenStream2::new();
    let flush = |steps: &mut Vec<TokenStream2>, out: &mut TokenStream2| {
        if !steps.is_empty() {
            out.extend(quote! {
                #kv::TextMut::for_each_text(&mut #access, &mut |__s: &mut ::std::string::String| { #(#steps)* });
            });
            steps.clear();
        }
    };
    for n in &f.attrs.normalizers {
        match n {
            Normalizer::Simple(name) => {
                let id = format_ident!("{}", name);
                text_steps.push(quote!(#kv::normalize::#id(__s);));
            }
            Normalizer::Email(case) => {
                let id = format_ident!("{}", case);
                text_steps
                    .push(quote!(#kv::normalize::email_with(__s, #kv::normalize::EmailCase::#id);));
            }
            Normalizer::Phone(o) => {
                let b = builder(&quote!(#kv::rules::PhoneOptions::new()), o);
                text_steps.push(quote!(#kv::normalize::phone(__s, &#b);));
            }
            Normalizer::Custom(p) => text_steps.push(quote!(#p(__s);)),
            Normalizer::Nested => {
                flush(&mut text_steps, &mut out);
                out.extend(quote!(#kv::Validate::normalize(&mut #access);));
            }
        }
    }
    flush(&mut text_steps, &mut out);
    // `#[validate(nested)]` implies normalizing the nested value too.
    let nested_rule = f.attrs.rules.iter().any(|r| matches!(r.rule, Rule::Nested));
    let nested_norm = f
        .attrs
        .normalizers
        .iter()
        .any(|n| matches!(n, Normalizer::Nested));
    if nested_rule && !nested_norm {
        out.extend(quote!(#kv::Validate::normalize(&mut #access);));
    }
    out
}

fn expand_validate(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let fields = collect_fields(input)?;
    let sattrs = parse_struct_attrs(input)?;
    let name = &input.ident;
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    let mut validate = TokenStream2::new();
    let mut normalize = TokenStream2::new();
    for code in collect_all(fields.iter().map(|f| field_validate(f, &fields)))? {
        validate.extend(code);
    }
    for f in &fields {
        normalize.extend(field_normalize(f));
    }
    for c in &sattrs.custom {
        validate.extend(quote!(#c(self, __path, __errors);));
    }
    let kv = quote!(::keel_validation);
    Ok(quote! {
        #[automatically_derived]
        impl #impl_g #kv::Validate for #name #ty_g #where_g {
            #[allow(unused_variables, clippy::needless_borrow, clippy::redundant_closure_call)]
            fn normalize(&mut self) {
                #normalize
            }

            #[allow(unused_variables, clippy::needless_borrow, clippy::op_ref)]
            fn validate_into(&self, __path: &#kv::Path<'_>, __errors: &mut #kv::ValidationErrors) {
                #validate
            }
        }
    })
}

fn expand_debug(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let fields = collect_fields(input)?;
    let name = &input.ident;
    let name_str = name.to_string();
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    let body = match &input.data {
        Data::Struct(s) if matches!(s.fields, Fields::Named(_)) => {
            let entries = fields.iter().map(|f| {
                let ident = f.ident.map(ToString::to_string).unwrap_or_default();
                let ident = ident.strip_prefix("r#").unwrap_or(&ident).to_owned();
                let access = &f.access;
                if f.attrs.sensitive {
                    quote!(.field(#ident, &::core::format_args!("[REDACTED]")))
                } else {
                    quote!(.field(#ident, &#access))
                }
            });
            quote!(f.debug_struct(#name_str) #(#entries)* .finish())
        }
        _ => {
            let f = &fields[0];
            if f.attrs.sensitive {
                quote!(f.debug_tuple(#name_str).field(&::core::format_args!("[REDACTED]")).finish())
            } else {
                quote!(f.debug_tuple(#name_str).field(&self.0).finish())
            }
        }
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_g ::core::fmt::Debug for #name #ty_g #where_g {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                #body
            }
        }
    })
}
