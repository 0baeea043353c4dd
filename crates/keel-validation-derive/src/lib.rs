#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod expand;
mod model;
mod parse;

use proc_macro::TokenStream;
use syn::DeriveInput;

use expand::{expand_debug, expand_validate};

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
