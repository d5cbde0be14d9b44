// The least a service can say: its restart policy and `serve`. Everything else keeps
// the defaults of `RestartSpec::new`, and the name is the type's.
use hassette_runtime::prelude::*;

struct Once;

#[service(restart = "temporary")]
impl Once {
    async fn serve(&self) {}
}

struct Zero;

#[service(restart = "permanent", backoff(base = "0s", max = "0s", multiplier = 1))]
impl Zero {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::main]
async fn main() {
    assert_eq!(Once::RESTART_SPEC, RestartSpec::new(RestartType::Temporary));
    assert_eq!(Once::display_name(), "Once");
    assert!(<Once as Hooks>::DEPENDS_ON.is_empty());
    assert_eq!(Zero::RESTART_SPEC.backoff_base, std::time::Duration::ZERO);
    assert_eq!(Zero::RESTART_SPEC.backoff_multiplier, 1.0);

    let app = Hassette::builder().service(Once).service(Zero).build().unwrap();
    app.start().await.unwrap();
    assert!(app.shutdown().await.is_success());
}
