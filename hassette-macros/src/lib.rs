//! The `#[service]` and `#[resource]` attributes (in progress).
use proc_macro::TokenStream;

#[proc_macro_attribute]
pub fn service(_args: TokenStream, input: TokenStream) -> TokenStream {
    input
}

#[proc_macro_attribute]
pub fn resource(_args: TokenStream, input: TokenStream) -> TokenStream {
    input
}
