//! What is emitted next to the errors of an invalid block: trait impls with default
//! bodies, so that uses of the type elsewhere (`Builder::service(Ticker)`) do not add
//! "the trait `Service` is not implemented" to the real mistakes.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemImpl;

use crate::args::Kind;

pub(crate) fn impls(kind: Kind, item: &ItemImpl, krate: &TokenStream) -> TokenStream {
    let self_ty = &item.self_ty;
    let generics = crate::expand::thread_safe_generics(&item.generics);
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let kind_impl = match kind {
        Kind::Service => quote! {
            #[automatically_derived]
            impl #impl_generics #krate::Service for #self_ty #where_clause {
                const RESTART_SPEC: #krate::RestartSpec =
                    #krate::RestartSpec::new(#krate::RestartType::Permanent);
                fn serve(
                    &self,
                    _: &#krate::ServiceContext,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<(), #krate::BoxError>,
                > + ::core::marker::Send {
                    ::core::future::ready(::core::result::Result::Ok(()))
                }
            }
        },
        Kind::Resource => quote! {
            #[automatically_derived]
            impl #impl_generics #krate::Resource for #self_ty #where_clause {}
        },
    };
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::Hooks for #self_ty #where_clause {}
        #kind_impl
    }
}
