//! The `confab` server: configuration, command line, and the HTTP and WebSocket
//! transport over the app. This is the only crate that speaks HTTP or WebSocket
//! as a server; everything it does is call `confab_app::App`.
//!
//! The public listener serves the API, the WebSocket and the web client; Prometheus
//! metrics are served only on `server.metrics_listen` (loopback by default, or
//! "off"). The data dir is owner-only: it is created `0700`, and the process creates
//! every file with umask `077`, so the store, the index, the models and the admin
//! socket are never readable by anyone else, not even for a moment.
//!
//! The store is sled in the data dir, or PostgreSQL with a `[cluster]` section
//! ([`open_store`]; docs/cluster.md); the data dir keeps everything else either way.

pub mod admin;
pub mod api;
pub mod cli;
pub mod cluster;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod error;
pub mod extract;
pub mod files;
pub mod layers;
pub mod lifecycle;
pub mod migrate;
pub mod slack;
pub mod web;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::{delete, get, post};
use axum::serve::ListenerExt;
use confab_app::App;
use confab_protocol::http::{Health, HealthStatus, StoreBackend};
use confab_store::{SledConfig, SledStore, Store, StoreError};
use confab_store_postgres::{LeaseConfig, NodeLockHeld, PgConfig, PgStore};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::config::Config;

/// Builds the whole HTTP service over an app.
pub fn router(app: App, config: &Config) -> Router {
    router_of_node(app, config, None)
}

/// [`router`] for a node of a cluster: writes to workspaces another node sequences
/// are forwarded there ([`cluster::forward`]).
pub fn router_of_node(app: App, config: &Config, node: Option<Arc<cluster::Node>>) -> Router {
    let api = api::routes()
        .route("/auth/reset_password", post(lifecycle::reset_password))
        .route("/me", delete(lifecycle::delete_me))
        .route("/me/export", get(lifecycle::export_me))
        .route("/workspaces/{ws}/export", get(lifecycle::export_workspace))
        .route("/workspaces/{ws}/erasure", get(lifecycle::erasure_policy).put(lifecycle::set_erasure_policy))
        .route("/workspaces/{ws}/retention", get(lifecycle::ws_retention).put(lifecycle::set_ws_retention))
        .route("/channels/{ch}/retention", get(lifecycle::ch_retention).put(lifecycle::set_ch_retention))
        .route("/channels/{ch}/retention", delete(lifecycle::clear_ch_retention))
        .route("/workspaces/{ws}/bots", get(slack::routes::list_bots).post(slack::routes::create_bot))
        .route("/workspaces/{ws}/bots/{bot}", delete(slack::routes::revoke_bot))
        .route("/workspaces/{ws}/webhooks", get(slack::routes::webhooks).post(slack::routes::new_webhook))
        .route("/workspaces/{ws}/webhooks/{hook}", delete(slack::routes::revoke_webhook))
        .route("/hooks/{ws}/{hook}/{secret}", post(slack::routes::post_webhook))
        .route("/channels/{ch}/files", post(files::upload).layer(files::upload_body_limit(config)))
        .route("/files/{id}", get(files::download).delete(files::delete))
        .route("/files/{id}/info", get(files::info))
        .route("/files/{id}/thumb", get(files::thumbnail))
        .route("/me/avatar", axum::routing::put(files::set_avatar).delete(files::remove_avatar))
        .route("/users/{user}/avatar", get(files::avatar))
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(healthz))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed);
    let router = Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/api/slack/{method}", get(slack::api::call).post(slack::api::call))
        .route("/", get(web::index))
        .route("/{*path}", get(web::asset))
        .with_state(app);
    let health = HealthCheck::new(store_backend(config), node.clone());
    let router = match node {
        Some(node) => router.layer(axum::middleware::from_fn_with_state(node, cluster::forward)),
        None => router,
    };
    let router = router
        .layer(axum::Extension(extract::TrustedProxies(Arc::new(config.server.trusted_proxies.clone()))))
        .layer(axum::Extension(health));
    layers::apply(router, config)
}

/// Where the configuration puts the store.
pub fn store_backend(config: &Config) -> StoreBackend {
    match config.cluster {
        Some(_) => StoreBackend::Postgres,
        None => StoreBackend::Sled,
    }
}

/// How long `/healthz` waits for the store's read before it calls the store down.
const HEALTH_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long one read of the store answers `/healthz`: the route is public, so a
/// flood of checks costs the store at most one read a second.
const HEALTH_READ_REUSED_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// What `/healthz` needs besides the app: where the store is, its last read, and
/// on a node of a cluster, the node (whose bus state it reports).
#[derive(Clone)]
struct HealthCheck {
    backend: StoreBackend,
    /// When the store was last read and whether it answered. Checks arriving while
    /// one reads wait for its answer instead of reading again.
    last_read: Arc<tokio::sync::Mutex<Option<(std::time::Instant, bool)>>>,
    node: Option<Arc<cluster::Node>>,
}

impl HealthCheck {
    fn new(backend: StoreBackend, node: Option<Arc<cluster::Node>>) -> HealthCheck {
        HealthCheck { backend, last_read: Arc::default(), node }
    }

    /// Whether the store answers a read (a point look-up of a user no one is).
    async fn store_reads(&self, store: &Arc<dyn Store>) -> bool {
        let mut last = self.last_read.lock().await;
        if let Some((at, answered)) = *last
            && at.elapsed() < HEALTH_READ_REUSED_FOR
        {
            return answered;
        }
        let probe = store.clone();
        let read = tokio::task::spawn_blocking(move || probe.user(confab_core::UserId::from_bytes([0; 16])));
        let answered = match tokio::time::timeout(HEALTH_READ_TIMEOUT, read).await {
            Ok(Ok(Ok(_))) => true,
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "/healthz: the store did not answer a read");
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "/healthz: the store's read panicked");
                false
            }
            Err(_) => {
                tracing::warn!("/healthz: the store did not answer a read within {HEALTH_READ_TIMEOUT:?}");
                false
            }
        };
        *last = Some((std::time::Instant::now(), answered));
        answered
    }
}

/// `200` when the store answers a read and writes go on; else `503`, with the same
/// body saying which failed. Once writes have stopped after a storage failure
/// (fail-stop), the process must be restarted, and a supervisor watching this check
/// can do it. A node of a cluster also says whether it is connected to the bus,
/// and since when: read from memory, so that the public check costs nothing more,
/// and not part of the status (a restart would not bring NATS back).
async fn healthz(
    axum::extract::State(app): axum::extract::State<App>,
    axum::Extension(check): axum::Extension<HealthCheck>,
) -> (axum::http::StatusCode, axum::Json<Health>) {
    let store_reads = check.store_reads(app.store()).await;
    let writes_stopped = app.writes_stopped() || app.store().writes_stopped();
    let (code, status) = match store_reads && !writes_stopped {
        true => (axum::http::StatusCode::OK, HealthStatus::Ok),
        false => (axum::http::StatusCode::SERVICE_UNAVAILABLE, HealthStatus::Unavailable),
    };
    let bus = check.node.as_ref().map(|node| node.bus_health());
    (code, axum::Json(Health { status, store: check.backend, store_reads, writes_stopped, bus }))
}

/// The metrics service: `GET /metrics` in Prometheus' text format.
pub fn metrics_router(metrics: Option<PrometheusHandle>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = metrics.clone();
            async move { handle.map(|h| h.render()).unwrap_or_default() }
        }),
    )
}

/// Creates the data dir owner-only (`0700`), or makes an existing one so, and makes
/// every file this process creates from now on owner-only (umask `077`).
pub fn secure_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        #[allow(unsafe_code)]
        // SAFETY: umask only sets the process's file mode creation mask.
        unsafe {
            libc::umask(0o077);
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating data dir {}", dir.display()))?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), "the data dir was readable by others; making it owner-only");
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making {} owner-only", dir.display()))?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    Ok(())
}

/// Installs the Prometheus recorder once per process.
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok()).clone()
}

/// Opens the store and the app on the configured data dir, to serve.
pub async fn open_app(config: &Config) -> anyhow::Result<(App, Arc<dyn Store>)> {
    let store = open_store(config, config.store.cache_mb)?;
    let node = config.cluster.as_ref().map(|c| c.node.as_str()).unwrap_or_default();
    let app = App::open(store.clone(), app_config(config, node), &config.server.data_dir)
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok((app, store))
}

/// The app's settings, with where file contents live: the directory the nodes of a
/// cluster share (`[cluster] blobs`), staged under `node`'s name, if set.
fn app_config(config: &Config, node: &str) -> confab_app::AppConfig {
    let mut app = config.app.clone();
    app.shared_files = config.cluster.as_ref().and_then(|c| c.shared_files(node));
    app
}

/// Opens a node of a cluster (`[cluster] bus`): the store with write leases, the
/// app, and the node's place on the bus.
async fn open_node(
    config: &Config,
    cluster: &config::ClusterSection,
) -> anyhow::Result<(App, Arc<dyn Store>, Arc<cluster::Node>)> {
    secure_data_dir(&config.server.data_dir)?;
    let pg = open_postgres(cluster, &cluster.node)?;
    let store: Arc<dyn Store> = pg.clone();
    let app = App::open(store.clone(), app_config(config, &cluster.node), &config.server.data_dir)
        .map_err(|e| anyhow::anyhow!(e))?;
    let node = cluster::join(&app, pg, cluster).await?;
    Ok((app, store, node))
}

/// An operator command's app, on a data dir no server holds.
pub struct CommandApp {
    pub app: App,
    pub store: Arc<dyn Store>,
    /// Beside a cluster, with its bus reachable.
    bus: Option<cluster::CommandBus>,
}

impl CommandApp {
    /// Makes what the command wrote durable, publishes its events for a cluster's
    /// nodes, and gives its write leases back so that the nodes take its workspaces
    /// at once.
    pub async fn finish(self) -> anyhow::Result<()> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.flush()).await??;
        if let Some(bus) = self.bus {
            bus.finish().await;
        }
        let app = self.app;
        tokio::task::spawn_blocking(move || app.leave_cluster()).await?;
        Ok(())
    }
}

/// Opens the store and the app for one operator command on a data dir no server
/// holds: no catch-up of derived data, no schedules, and the search index only if
/// `search_index` (see `App::open_for_command`). Call [`CommandApp::finish`] when the
/// command is done.
pub async fn open_app_for_command(config: &Config, search_index: bool) -> anyhow::Result<CommandApp> {
    // A command that does not rebuild the index reads the store once through (an
    // export, a backup) or touches a few keys: a page cache the size of a server's
    // would only grow its memory.
    let cache_mb = match search_index {
        true => config.store.cache_mb,
        false => config.store.cache_mb.min(COMMAND_CACHE_MB),
    };
    if let Some(cluster) = config.cluster.as_ref().filter(|c| c.bus.is_some()) {
        // A command beside a cluster's nodes takes leases like one of them.
        secure_data_dir(&config.server.data_dir)?;
        let name = format!("{}-command", cluster.node);
        let pg = open_postgres(cluster, &name)?;
        let store: Arc<dyn Store> = pg.clone();
        let app = App::open_for_command(
            store.clone(),
            app_config(config, &name),
            &config.server.data_dir,
            search_index,
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        let bus = cluster::join_for_command(&app, pg, cluster).await;
        return Ok(CommandApp { app, store, bus });
    }
    let store = open_store(config, cache_mb)?;
    let node = config.cluster.as_ref().map(|c| format!("{}-command", c.node)).unwrap_or_default();
    let app = App::open_for_command(
        store.clone(),
        app_config(config, &node),
        &config.server.data_dir,
        search_index,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    Ok(CommandApp { app, store, bus: None })
}

/// sled's page cache, in MiB, for an operator command that does not rebuild the index.
const COMMAND_CACHE_MB: u64 = 64;

/// The store: on PostgreSQL with a `[cluster]` section, else sled in the data dir
/// (which holds the search index, models, files and the admin socket either way).
fn open_store(config: &Config, cache_mb: u64) -> anyhow::Result<Arc<dyn Store>> {
    secure_data_dir(&config.server.data_dir)?;
    if let Some(cluster) = &config.cluster {
        return Ok(open_postgres(cluster, &cluster.node)?);
    }
    let store_dir = config.server.data_dir.join("store");
    let sled_config = SledConfig { cache_capacity: cache_mb * 1024 * 1024 };
    let store = SledStore::open(&store_dir, &sled_config).with_context(|| {
        format!("opening the store in {} (is another confab using it?)", store_dir.display())
    })?;
    Ok(Arc::new(store))
}

/// The store on PostgreSQL. Without a bus, held by this process alone: a second
/// node on the same database is refused here (the store's node lock). With one,
/// shared: each workspace is written by the node holding its write lease, taken
/// under the name `node`.
fn open_postgres(cluster: &config::ClusterSection, node: &str) -> anyhow::Result<Arc<PgStore>> {
    let leases = cluster.bus.as_ref().map(|_| {
        LeaseConfig::new(
            node,
            std::time::Duration::from_millis(cluster.lease_ttl_ms),
            std::time::Duration::from_millis(cluster.lease_renew_ms),
        )
    });
    let pg = PgConfig {
        connections: usize::try_from(cluster.store_connections).unwrap_or(8),
        exclusive: leases.is_none(),
        leases,
        ..PgConfig::new(cluster.store.clone())
    };
    let shown = confab_store_postgres::redact_password(&cluster.store);
    match PgStore::open(&pg) {
        Ok(store) => {
            tracing::info!(database = %shown, "the store is on PostgreSQL");
            Ok(Arc::new(store))
        }
        Err(StoreError::Backend(cause)) if cause.is::<NodeLockHeld>() => anyhow::bail!(
            "{cause} at {shown}; running several nodes on one database needs [cluster] bus \
             (docs/cluster.md)"
        ),
        Err(e) => {
            Err(anyhow::anyhow!(e)).with_context(|| format!("opening the store on PostgreSQL at {shown}"))
        }
    }
}

/// Opens the data dir and serves until the process is told to stop.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    if let Some(cluster) = config.cluster.clone().filter(|c| c.bus.is_some()) {
        let (app, store, node) = open_node(&config, &cluster).await?;
        return serve_node(config, app, store, Some(node)).await;
    }
    let (app, store) = open_app(&config).await?;
    serve_app(config, app, store).await
}

/// Serves an opened app until the process is told to stop, then flushes the store.
pub async fn serve_app(config: Config, app: App, store: Arc<dyn Store>) -> anyhow::Result<()> {
    serve_node(config, app, store, None).await
}

/// [`serve_app`], as a node of a cluster when `node` is given.
async fn serve_node(
    config: Config,
    app: App,
    store: Arc<dyn Store>,
    node: Option<Arc<cluster::Node>>,
) -> anyhow::Result<()> {
    // The admin socket is bound inside the data dir, which is owner-only before it.
    secure_data_dir(&config.server.data_dir)?;
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
    if let config::MetricsListen::At(at) = config.server.metrics_listen {
        // Metrics are auxiliary: a second server on the same host (whose default
        // metrics port is taken) still serves chat, and says why it has no metrics.
        match TcpListener::bind(at).await {
            Ok(listener) => {
                tracing::info!("confab metrics at http://{}/metrics", listener.local_addr()?);
                let service = metrics_router(metrics);
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, service).await {
                        tracing::warn!(error = %e, "the metrics listener stopped");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot serve metrics on {at} (server.metrics_listen)"),
        }
    }
    map_large_allocations();
    tokio::spawn(return_freed_memory(app.clone()));
    let app_for_shutdown = app.clone();
    let router = router_of_node(app, &config, node.clone());
    if let Some(node) = &node {
        node.serve_with(router.clone());
    }
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    // Frames are written as they come (no write buffer): without TCP_NODELAY, Nagle
    // would hold small frames back behind an unacknowledged segment.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, service).with_graceful_shutdown(shutdown_signal()).await?;
    tokio::task::spawn_blocking(move || store.flush()).await??;
    // A node of a cluster hands its workspaces over at once.
    let leaving = app_for_shutdown.clone();
    tokio::task::spawn_blocking(move || leaving.leave_cluster()).await?;
    let _ = std::fs::remove_file(admin::socket_path(&config.server.data_dir));
    tracing::info!("confab stopped; store flushed");
    Ok(())
}

/// Makes every allocation of 1 MiB or more its own mapping, returned to the system
/// when freed.
///
/// glibc raises its mmap threshold each time a large mapped block is freed (up to 32
/// MiB), after which argon2's 19 MiB working memory came from the per-thread arenas
/// of the blocking pool and stayed there: a flood of log-ins and sign-ups left the
/// process hundreds of MiB larger (docs/benchmarks.md, hostile clients). Fixing the
/// threshold keeps such buffers out of the arenas.
fn map_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        #[allow(unsafe_code)]
        // SAFETY: mallopt only changes the allocator's tuning parameters; it is called
        // before the server allocates for requests.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

/// Gives the memory glibc keeps in its free lists back to the system, every 10 s in
/// which nothing was written.
///
/// glibc's allocator keeps freed memory in its per-thread arenas; after a burst of
/// sign-ups or connections the process stayed tens of MiB larger than what it still
/// had allocated (see docs/benchmarks.md, idle connections). `malloc_trim` releases
/// the free pages of every arena; it is cheap when there is nothing to release.
///
/// Only when nothing is written: `malloc_trim` holds each arena's lock while it
/// `madvise`s the arena's free pages, and every thread allocating from that arena
/// waits. After a burst, one `madvise` was measured taking 14 s, and the whole write
/// path stopped with it. A server that is writing reuses those pages anyway.
async fn return_freed_memory(app: App) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
        let mut activity = app.write_activity();
        loop {
            every.tick().await;
            let now = app.write_activity();
            if std::mem::replace(&mut activity, now) != now {
                continue;
            }
            #[allow(unsafe_code)]
            // SAFETY: malloc_trim only walks the allocator's own free lists.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    drop(app);
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
