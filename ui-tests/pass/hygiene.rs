// The generated code names everything by absolute path: a module that shadows the
// prelude (`Result`, `Ok`, `Option`, `Box`, `Send`, `Future`, ...) or has no prelude at
// all still compiles.
#![allow(dead_code, non_camel_case_types, non_snake_case)]

mod shadowing {
    use ::hassette_runtime::{resource, service, ServiceContext};

    pub struct Result;
    pub struct Option;
    pub struct Box;
    pub struct Vec;
    pub struct String;
    pub struct Duration;
    pub struct Cow;
    pub trait Send {}
    pub trait Sync {}
    pub trait Future {}
    pub trait Error {}
    pub fn Ok() {}
    pub fn Err() {}
    pub fn Some() {}
    mod core {}
    mod std {}
    mod hassette_runtime {}

    pub struct Shadowed;

    #[service(
        restart = "permanent",
        backoff(base = "1s"),
        fatal(::std::fmt::Error),
        depends_on(Store),
        name = "shadowed"
    )]
    impl Shadowed {
        async fn on_initialize(&self, __hassette_ctx: &ServiceContext) {}

        async fn serve(&self, ctx: &ServiceContext) -> ::core::result::Result<(), ::hassette_runtime::BoxError> {
            ctx.cancelled().await;
            ::core::result::Result::Ok(())
        }
    }

    pub struct Store;

    #[resource(startup_timeout = "1s")]
    impl Store {
        async fn on_shutdown(&self) {}
    }
}

mod bare {
    #![no_implicit_prelude]

    pub struct Bare;

    #[::hassette_runtime::service(restart = "temporary", ready = "manual")]
    impl Bare {
        async fn serve(&self, ctx: &::hassette_runtime::ServiceContext) {
            ctx.mark_ready();
            ctx.cancelled().await;
        }
    }
}

#[tokio::main]
async fn main() {
    let app = hassette_runtime::Hassette::builder()
        .resource(shadowing::Store)
        .service(shadowing::Shadowed)
        .service(bare::Bare)
        .build()
        .unwrap();
    app.start().await.unwrap();
    assert!(app.shutdown().await.is_success());
}
