//! One `#[validate(...)]` rule: its name, options and message/code overrides.

use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Token};

use super::*;
use crate::model::*;

pub(crate) fn parse_rule(
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

pub(crate) fn check_regex(lit: &LitStr) -> syn::Result<()> {
    regex_syntax::Parser::new()
        .parse(&lit.value())
        .map(|_| ())
        .map_err(|e| syn::Error::new(lit.span(), format!("invalid regex: {e}")))
}
