//! The benchmark's baseline: a bare axum server answering `GET /hello` with a small JSON
//! body, on the same runtime and allocator Latchkey uses. Not part of Latchkey; `bench/run.sh`
//! measures it in the same run so Latchkey's figures can be given as ratios.
//!
//! Usage: `bench_baseline 127.0.0.1:18080`

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".to_owned());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let app = Router::new().route(
                "/hello",
                get(|| async { Json(json!({ "message": "hello", "ok": true })) }),
            );
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            axum::serve(listener, app).await
        })
}
