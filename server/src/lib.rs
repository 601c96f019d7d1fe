//! The `confab` server: configuration, command line, and the HTTP and WebSocket
//! transport over the app. This is the only crate that speaks HTTP or WebSocket
//! as a server; everything it does is call `confab_app::App`.

pub mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod extract;
pub mod layers;
pub mod web;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use axum::serve::ListenerExt;
use confab_app::App;
use confab_store::{SledConfig, SledStore, Store};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::config::Config;

/// Builds the whole HTTP service over an app.
pub fn router(app: App, config: &Config, metrics: Option<PrometheusHandle>) -> Router {
    let api = api::routes()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(healthz))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed);
    let metrics_route = move || {
        let handle = metrics.clone();
        async move { handle.map(|h| h.render()).unwrap_or_default() }
    };
    let router = Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_route.clone()))
        .route("/api/v1/metrics", get(metrics_route))
        .route("/", get(web::index))
        .route("/{*path}", get(web::asset))
        .with_state(app);
    layers::apply(router, config)
}

async fn healthz() -> &'static str {
    "ok"
}

/// Installs the Prometheus recorder once per process.
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok()).clone()
}

/// Opens the store and the app on the configured data dir.
pub async fn open_app(config: &Config) -> anyhow::Result<(App, Arc<dyn Store>)> {
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("creating data dir {}", config.server.data_dir.display()))?;
    let store_dir = config.server.data_dir.join("store");
    let sled_config = SledConfig { cache_capacity: config.store.cache_mb * 1024 * 1024 };
    let store = SledStore::open(&store_dir, &sled_config).with_context(|| {
        format!("opening the store in {} (is another confab using it?)", store_dir.display())
    })?;
    let store: Arc<dyn Store> = Arc::new(store);
    let app = App::open(store.clone(), config.app.clone(), &config.server.data_dir)
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok((app, store))
}

/// Opens the data dir and serves until the process is told to stop.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let (app, store) = open_app(&config).await?;
    serve_app(config, app, store).await
}

/// Serves an opened app until the process is told to stop, then flushes the store.
pub async fn serve_app(config: Config, app: App, store: Arc<dyn Store>) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let (app, dir) = (app.clone(), config.server.data_dir.clone());
        tokio::spawn(async move {
            if let Err(e) = admin::serve_socket(app, dir).await {
                tracing::warn!(error = %e, "the admin socket is unavailable");
            }
        });
    }
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!("confab listening on http://{addr} with data in {}", config.server.data_dir.display());
    let metrics = metrics_handle();
    if let Some(handle) = metrics.clone() {
        // The recorder buffers every histogram sample until upkeep drains it into
        // its summary: without this, memory grows with every request and flush.
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    }
    tokio::spawn(return_freed_memory());
    let service = router(app, &config, metrics).into_make_service_with_connect_info::<SocketAddr>();
    // Frames are written as they come (no write buffer): without TCP_NODELAY, Nagle
    // would hold small frames back behind an unacknowledged segment.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, service).with_graceful_shutdown(shutdown_signal()).await?;
    tokio::task::spawn_blocking(move || store.flush()).await??;
    let _ = std::fs::remove_file(admin::socket_path(&config.server.data_dir));
    tracing::info!("confab stopped; store flushed");
    Ok(())
}

/// Hands memory that the server freed back to the system every few seconds.
///
/// glibc's allocator keeps freed memory in its per-thread arenas; after a burst of
/// sign-ups or connections the process stayed tens of MiB larger than what it still
/// had allocated (see docs/benchmarks.md, idle connections). `malloc_trim` releases
/// the free pages of every arena; it is cheap when there is nothing to release.
async fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
        loop {
            every.tick().await;
            #[allow(unsafe_code)]
            // SAFETY: malloc_trim only walks the allocator's own free lists.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
