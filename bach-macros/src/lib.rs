//! Procedural macros for bach.
//!
//! `#[bach::test]` turns an `async fn` into a `#[test]` whose body runs as
//! the primary task of a fresh, seeded simulation.

use proc_macro::TokenStream;
use quote::quote;
use syn::{
    parse::Parser, parse_macro_input, punctuated::Punctuated, spanned::Spanned, Expr, ExprLit,
    ItemFn, Lit, Meta, Token,
};

/// Runs an `async fn` test inside a bach simulation.
///
/// (This crate cannot run the example itself; `tests/tasks.rs` does.)
///
/// ```text
/// #[bach::test]
/// async fn sleeps() {
///     bach::time::sleep(std::time::Duration::from_secs(1)).await;
/// }
///
/// #[bach::test(seed = 7, time_limit = "10s")]
/// async fn seeded() {}
/// ```
///
/// Options: `seed = N` (otherwise `BACH_SEED`, or 0) and
/// `time_limit = "10s" | "250ms" | "5us" | "100ns"`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let input = parse_macro_input!(item as ItemFn);
    let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
    let args = match parser.parse(args) {
        Ok(args) => args,
        Err(err) => return err.to_compile_error().into(),
    };
    match expand(args, input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn expand(
    args: Punctuated<Meta, Token![,]>,
    input: ItemFn,
) -> syn::Result<proc_macro2::TokenStream> {
    if input.sig.asyncness.is_none() {
        return Err(syn::Error::new(
            input.sig.fn_token.span(),
            "#[bach::test] goes on an `async fn`",
        ));
    }
    let mut builder = quote! { ::bach::Simulation::new() };
    for arg in args {
        let Meta::NameValue(nv) = &arg else {
            return Err(syn::Error::new(
                arg.span(),
                "expected `seed = N` or `time_limit = \"10s\"`",
            ));
        };
        let key = nv
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        match key.as_str() {
            "seed" => {
                let value = &nv.value;
                builder = quote! { #builder.seed(#value) };
            }
            "time_limit" => {
                let nanos = parse_duration(&nv.value)?;
                builder =
                    quote! { #builder.time_limit(::core::time::Duration::from_nanos(#nanos)) };
            }
            other => {
                return Err(syn::Error::new(
                    nv.path.span(),
                    format!(
                        "unknown #[bach::test] option `{other}` (expected `seed` or `time_limit`)"
                    ),
                ))
            }
        }
    }
    let attrs = &input.attrs;
    let vis = &input.vis;
    let name = &input.sig.ident;
    let output = &input.sig.output;
    let body = &input.block;
    Ok(quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() #output {
            let mut __sim = #builder;
            let __handle = __sim.run(|| {
                ::bach::task::spawn(::bach::task::primary(async move #body))
            });
            let mut __handle = ::core::pin::pin!(__handle);
            let __waker = ::bach::__private::noop_waker();
            let mut __cx = ::core::task::Context::from_waker(&__waker);
            match ::core::future::Future::poll(__handle.as_mut(), &mut __cx) {
                ::core::task::Poll::Ready(Ok(output)) => output,
                ::core::task::Poll::Ready(Err(error)) => panic!("{}", error),
                ::core::task::Poll::Pending => unreachable!("the primary task completed"),
            }
        }
    })
}

fn parse_duration(expr: &Expr) -> syn::Result<u64> {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(s), ..
    }) = expr
    else {
        return Err(syn::Error::new(
            expr.span(),
            "time_limit takes a string such as \"10s\"",
        ));
    };
    let text = s.value();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| syn::Error::new(s.span(), format!("`{text}` does not start with a number")))?;
    let scale = match unit {
        "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "us" => 1_000,
        "ns" => 1,
        _ => {
            return Err(syn::Error::new(
                s.span(),
                format!("unknown unit in `{text}` (use s, ms, us or ns)"),
            ))
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| syn::Error::new(s.span(), format!("`{text}` is too long")))
}
