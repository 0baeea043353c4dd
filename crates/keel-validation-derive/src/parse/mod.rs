//! Attribute parsing: field and struct attributes, serde renames, type shapes.

mod rule;

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Expr, Fields, GenericArgument, Ident, LitStr, PathArguments, Token, Type,
};

use crate::model::*;
pub(crate) use rule::parse_rule;

/// `key = expr` pairs (or bare `key` meaning `key = true`), checked against `allowed`.
pub(crate) fn parse_opts(
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

pub(crate) fn parse_list<T: syn::parse::Parse>(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<T>> {
    let content;
    syn::parenthesized!(content in meta.input);
    let items = Punctuated::<T, Token![,]>::parse_terminated(&content)?;
    Ok(items.into_iter().collect())
}

pub(crate) fn parse_normalizer(
    meta: &ParseNestedMeta<'_>,
    attrs: &mut FieldAttrs,
) -> syn::Result<()> {
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

pub(crate) fn parse_serde_field(attr: &syn::Attribute, attrs: &mut FieldAttrs) -> syn::Result<()> {
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

pub(crate) fn skip_meta(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        let _: TokenStream2 = content.parse()?;
    }
    Ok(())
}

pub(crate) fn parse_field_attrs(field: &syn::Field) -> syn::Result<FieldAttrs> {
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

pub(crate) fn parse_struct_attrs(input: &DeriveInput) -> syn::Result<StructAttrs> {
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

pub(crate) const RENAME_RULES: &[&str] = &[
    "lowercase",
    "UPPERCASE",
    "PascalCase",
    "camelCase",
    "snake_case",
    "SCREAMING_SNAKE_CASE",
    "kebab-case",
    "SCREAMING-KEBAB-CASE",
];

pub(crate) fn check_rename_rule(lit: &LitStr) -> syn::Result<()> {
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
pub(crate) fn apply_rename(rule: &str, field: &str) -> String {
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

pub(crate) fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Reference(r) => last_segment(&r.elem),
        _ => None,
    }
}

pub(crate) fn first_generic(seg: &syn::PathSegment) -> Option<&Type> {
    match &seg.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

pub(crate) fn option_inner(ty: &Type) -> Option<&Type> {
    let seg = last_segment(ty)?;
    if seg.ident == "Option" {
        first_generic(seg)
    } else {
        None
    }
}

pub(crate) fn is_text_type(ty: &Type) -> bool {
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

pub(crate) fn collect_fields(input: &DeriveInput) -> syn::Result<Vec<FieldInfo<'_>>> {
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
pub(crate) fn collect_all<T>(items: impl Iterator<Item = syn::Result<T>>) -> syn::Result<Vec<T>> {
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
