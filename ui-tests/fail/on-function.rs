use hassette_runtime::prelude::*;

#[service(restart = "permanent")]
async fn serve(ctx: &ServiceContext) -> Result<(), BoxError> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {}
