//! Code generation for `#[derive(Validate)]` and `#[derive(RedactedDebug)]`.

use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Fields, Ident};

use crate::model::*;
use crate::parse::*;

pub(crate) fn builder(base: &TokenStream2, opts: &[(Ident, Expr)]) -> TokenStream2 {
    let calls = opts.iter().map(|(k, v)| quote!(.#k(#v)));
    quote!(#base #(#calls)*)
}

/// Code that checks one rule against `__v` (a reference) and records at `__p`.
pub(crate) fn rule_code(
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

pub(crate) fn rejects_controls_itself(rule: &Rule) -> bool {
    matches!(
        rule,
        Rule::Email(_) | Rule::Username(_) | Rule::Phone(_) | Rule::Url(..) | Rule::NoControl(_)
    )
}

pub(crate) fn field_validate(
    f: &FieldInfo<'_>,
    fields: &[FieldInfo<'_>],
) -> syn::Result<TokenStream2> {
    let kv = quote!(::keel_validation);
    if f.attrs.rules.is_empty() {
        return Ok(TokenStream2::new());
    }
    let inner_opt = option_inner(f.ty);
    let is_option = inner_opt.is_some();
    // `Option<Option<T>>` (a PATCH field: absent, `null`, or a value): the rules see the
    // inner value only; absent and `null` skip them.
    let double_inner = inner_opt.and_then(option_inner);
    let value_ty = double_inner.or(inner_opt).unwrap_or(f.ty);
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
        let present = if double_inner.is_some() {
            quote!(::core::option::Option::Some(::core::option::Option::Some(
                __v
            )))
        } else {
            quote!(::core::option::Option::Some(__v))
        };
        quote! {{
            #path
            #req
            if let #present = &#access {
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

pub(crate) fn field_normalize(f: &FieldInfo<'_>) -> TokenStream2 {
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
    let mut normalizers = f.attrs.normalizers.iter().peekable();
    while let Some(n) = normalizers.next() {
        match n {
            // The usual pair on a name: one call that checks both in one pass over
            // a value already in normal form (same result as the two calls).
            Normalizer::Simple("collapse_whitespace")
                if matches!(normalizers.peek(), Some(Normalizer::Simple("title_case"))) =>
            {
                normalizers.next();
                text_steps.push(quote!(#kv::normalize::collapse_whitespace_title_case(__s);));
            }
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

pub(crate) fn expand_validate(input: &DeriveInput) -> syn::Result<TokenStream2> {
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

pub(crate) fn expand_debug(input: &DeriveInput) -> syn::Result<TokenStream2> {
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
