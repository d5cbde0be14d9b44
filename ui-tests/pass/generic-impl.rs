// A generic impl block, with bounds inline and in a where clause, one service per type
// argument; the default name is the short type name.
use std::marker::PhantomData;

use hassette_runtime::prelude::*;

struct Worker<T, const N: usize> {
    _item: PhantomData<fn() -> T>,
}

#[service(restart = "transient", name = "worker")]
impl<T: Send + 'static, const N: usize> Worker<T, N>
where
    T: Default + std::fmt::Debug,
{
    fn new() -> Self {
        Worker { _item: PhantomData }
    }

    async fn on_initialize(&self) {
        let _ = format!("{:?} x{N}", T::default());
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

struct Plain<T>(T);

#[service(restart = "permanent")]
impl<T> Plain<T>
where
    T: Send + Sync + 'static,
{
    async fn serve(&self, ctx: &ServiceContext) {
        let _ = &self.0;
        ctx.cancelled().await;
    }
}

#[tokio::main]
async fn main() {
    assert_eq!(Plain::<u8>::display_name(), "Plain<u8>");
    let app = Hassette::builder()
        .service_named("a", Worker::<u8, 1>::new())
        .service_named("b", Worker::<String, 2>::new())
        .service(Plain(String::from("x")))
        .build()
        .unwrap();
    app.start().await.unwrap();
    assert!(app.shutdown().await.is_success());
}
