// A framework that re-exports the runtime: its users name the framework's path with
// `crate = "..."` and never `hassette_runtime` itself.
mod framework {
    pub use ::hassette_runtime as hassette;
}

use framework::hassette::{self, BoxError, Hassette, ServiceContext};

struct Pinger;

#[hassette::service(restart = "permanent", crate = "crate::framework::hassette")]
impl Pinger {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

struct Cache;

#[hassette::resource(crate = "framework::hassette", shutdown_timeout = "1s")]
impl Cache {
    async fn on_initialize(&self) {}
}

#[tokio::main]
async fn main() {
    let app = Hassette::builder()
        .resource(Cache)
        .service(Pinger)
        .build()
        .unwrap();
    app.start().await.unwrap();
    assert!(app.shutdown().await.is_success());
}
