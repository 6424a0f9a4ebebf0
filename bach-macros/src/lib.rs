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
/// (This crate cannot run the examples itself; `tests/tasks.rs` and
/// `tests/explore_macro.rs` do.)
///
/// ```text
/// #[bach::test]
/// async fn sleeps() {
///     bach::time::sleep(std::time::Duration::from_secs(1)).await;
/// }
///
/// #[bach::test(seed = 7, time_limit = "10s")]
/// async fn seeded() {}
///
/// #[bach::test(seeds = 1000)]              // a sweep over seeds 0..1000
/// async fn many_seeds() {}
///
/// #[bach::test(interleavings = "pct", executions = 500)]
/// async fn explored() {}
///
/// #[bach::test(fuzz)]                      // bolero drives every choice
/// async fn fuzzed() {}
/// ```
///
/// Options:
/// * `seed = N` — the seed (otherwise `BACH_SEED`, or 0);
/// * `seeds = N` — run seeds `0..N` on all cores (`bach::check::Sweep`;
///   `BACH_SEEDS=a..b` overrides the range); failures name their seeds;
/// * `interleavings` — explore task interleavings with `bach::check::Explorer`
///   (depth-first); `interleavings = "dfs" | "random" | "pct" | "pct:<depth>"`
///   picks the strategy and `executions = N` caps the executions (default
///   1000). With `seeds`, each seed's run explores one random schedule
///   instead. A failure prints its `BACH_REPLAY=<token>`;
/// * `fuzz` — bolero drives every choice (`bach::check::fuzz` inside
///   `bolero::check!()`; needs bach's `bolero` feature); `fuzz =
///   "exhaustive"` enumerates every schedule and discrete choice with
///   bolero's exhaustive engine (`bach::check::fuzz_choices`);
/// * `time_limit = "10s" | "250ms" | "5us" | "100ns"` — simulated time limit;
/// * `pcap` or `pcap = "dir"` — write pcapng captures (to
///   `target/bach/pcaps` by default).
///
/// Tests that run many executions (`seeds`, `interleavings`, `fuzz`) must
/// return `()`.
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

const OPTIONS: &str =
    "`seed = N`, `seeds = N`, `interleavings`, `executions = N`, `fuzz`, `time_limit = \"10s\"` or `pcap`";

/// How the test body runs.
enum Mode {
    Once,
    Sweep(Expr),
    Explore(proc_macro2::TokenStream),
    Fuzz { exhaustive: bool },
}

fn string_value(expr: &Expr, what: &str) -> syn::Result<String> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        _ => Err(syn::Error::new(
            expr.span(),
            format!("{what} takes a string"),
        )),
    }
}

fn strategy(
    expr: Option<&Expr>,
    executions: &proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let Some(expr) = expr else {
        return Ok(quote! { ::bach::check::Strategy::Dfs });
    };
    let text = string_value(expr, "interleavings")?;
    Ok(match text.as_str() {
        "dfs" => quote! { ::bach::check::Strategy::Dfs },
        "random" => quote! { ::bach::check::Strategy::Random(#executions) },
        "pct" => quote! { ::bach::check::Strategy::Pct(2) },
        other => match other.strip_prefix("pct:").map(str::parse::<usize>) {
            Some(Ok(depth)) if depth >= 1 => quote! { ::bach::check::Strategy::Pct(#depth) },
            _ => {
                return Err(syn::Error::new(
                    expr.span(),
                    format!("unknown strategy `{other}` (expected \"dfs\", \"random\", \"pct\" or \"pct:<depth>\")"),
                ))
            }
        },
    })
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
    let mut configure = quote! {};
    let mut seed = None;
    let mut seeds = None;
    let mut interleavings: Option<Option<Expr>> = None;
    let mut executions = None;
    let mut fuzz: Option<bool> = None;
    for arg in args {
        let key = arg
            .path()
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        match (key.as_str(), &arg) {
            ("seed", Meta::NameValue(nv)) => seed = Some(nv.value.clone()),
            ("seeds", Meta::NameValue(nv)) => seeds = Some(nv.value.clone()),
            ("executions", Meta::NameValue(nv)) => executions = Some(nv.value.clone()),
            ("interleavings", Meta::Path(_)) => interleavings = Some(None),
            ("interleavings", Meta::NameValue(nv)) => interleavings = Some(Some(nv.value.clone())),
            ("fuzz", Meta::Path(_)) => fuzz = Some(false),
            ("fuzz", Meta::NameValue(nv)) => match string_value(&nv.value, "fuzz")?.as_str() {
                "exhaustive" => fuzz = Some(true),
                other => {
                    return Err(syn::Error::new(
                        nv.value.span(),
                        format!(
                        "unknown fuzz mode `{other}` (expected `fuzz` or `fuzz = \"exhaustive\"`)"
                    ),
                    ))
                }
            },
            ("time_limit", Meta::NameValue(nv)) => {
                let nanos = parse_duration(&nv.value)?;
                configure = quote! {
                    #configure .time_limit(::core::time::Duration::from_nanos(#nanos))
                };
            }
            ("pcap", Meta::Path(_)) => {
                configure = quote! { #configure .pcap_dir("target/bach/pcaps") };
            }
            ("pcap", Meta::NameValue(nv)) => {
                let dir = string_value(&nv.value, "pcap")?;
                configure = quote! { #configure .pcap_dir(#dir) };
            }
            _ => {
                return Err(syn::Error::new(
                    arg.span(),
                    format!(
                        "unknown or malformed #[bach::test] option `{key}` (expected {OPTIONS})"
                    ),
                ))
            }
        }
    }
    if let (Some(seed), Some(_)) = (&seed, &seeds) {
        return Err(syn::Error::new(
            seed.span(),
            "`seed` and `seeds` cannot be combined: `seeds = N` runs seeds 0..N",
        ));
    }
    let explorer_seed = match (&seed, &interleavings, &seeds) {
        (Some(value), Some(_), None) => quote! { .seed((#value) as u64) },
        (Some(value), _, _) => {
            configure = quote! { .seed(#value) #configure };
            quote! {}
        }
        _ => quote! {},
    };
    let executions = match &executions {
        Some(value) => quote! { (#value) as u64 },
        None => quote! { 1000u64 },
    };
    let mode = match (seeds, interleavings, fuzz) {
        (Some(_), _, Some(_)) => {
            return Err(syn::Error::new(
                input.sig.ident.span(),
                "`seeds` and `fuzz` cannot be combined: the fuzzer decides every choice",
            ))
        }
        (_, Some(_), Some(_)) => {
            return Err(syn::Error::new(
                input.sig.ident.span(),
                "`fuzz` already explores interleavings; drop `interleavings`",
            ))
        }
        (Some(seeds), interleavings, None) => {
            if interleavings.is_some() {
                configure = quote! { #configure .interleavings(true) };
            }
            Mode::Sweep(seeds)
        }
        (None, Some(which), None) => Mode::Explore(strategy(which.as_ref(), &executions)?),
        (None, None, Some(exhaustive)) => Mode::Fuzz { exhaustive },
        (None, None, None) => Mode::Once,
    };
    let attrs = &input.attrs;
    let vis = &input.vis;
    let name = &input.sig.ident;
    let output = &input.sig.output;
    let body = &input.block;
    if !matches!(mode, Mode::Once) && !matches!(output, syn::ReturnType::Default) {
        return Err(syn::Error::new(
            output.span(),
            "tests that run many executions (`seeds`, `interleavings`, `fuzz`) must return `()`",
        ));
    }
    let spawn = quote! {
        || {
            ::bach::task::spawn(::bach::task::primary(async move #body));
        }
    };
    let run = match mode {
        Mode::Once => {
            return Ok(quote! {
                #[::core::prelude::v1::test]
                #(#attrs)*
                #vis fn #name() #output {
                    let mut __sim = ::bach::Simulation::new() #configure;
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
        Mode::Sweep(seeds) => quote! {
            ::bach::check::Sweep::new(0..(#seeds) as u64)
                .simulation(|__sim: ::bach::Simulation| __sim #configure)
                .run(#spawn)
                .assert_ok();
        },
        Mode::Explore(strategy) => quote! {
            ::bach::check::Explorer::new()
                #explorer_seed
                .strategy(#strategy)
                .max_executions(#executions)
                .simulation(|__sim: ::bach::Simulation| __sim #configure)
                .run(#spawn);
        },
        Mode::Fuzz { exhaustive: false } => quote! {
            ::bach::__private::bolero::check!().run(|| ::bach::check::fuzz_with(
                ::bach::Simulation::new() #configure,
                #spawn,
            ));
        },
        Mode::Fuzz { exhaustive: true } => quote! {
            ::bach::__private::bolero::check!().exhaustive().run(|| ::bach::check::fuzz_choices_with(
                ::bach::Simulation::new() #configure,
                #spawn,
            ));
        },
    };
    Ok(quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() {
            #run
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
