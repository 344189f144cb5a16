//! Assembling the HTTP application (routes, limits, headers, metrics, request ids) and
//! serving it with graceful shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::ServiceExt;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::layer::layer_fn;
use tower::util::MapResponseLayer;
use tower::{Service, ServiceBuilder};
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, PathsBuilder};

use crate::api::problem::Problem;
use crate::core::roles::RoleIds;
use crate::core::Latchkey;
use crate::dialects::Mounts;
use crate::http::AppState;
use crate::logging::{self, RequestLog};

/// Request bodies above this are refused with 413 (CONTRACT.md "Errors").
pub const BODY_LIMIT: usize = 64 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The process-wide Prometheus recorder (metrics' recorder is global; tests build many apps).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .and_then(|b| b.install_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle());
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                })
                .ok();
            handle
        })
        .clone()
}

/// The future of a response from the middleware below: boxed once per request.
type Responding = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Sets up what the rest of a request relies on, around the whole application: the client
/// (address, user agent) for the core's audit log, the request for the log lines written while
/// serving it, and the access log line when it is done (debug; server errors always show).
/// One service for the three: as separate middleware each would box the request's future again.
#[derive(Clone)]
struct RequestScope<S> {
    inner: S,
    trusted: Arc<crate::proxy::Proxies>,
}

impl<S> Service<Request> for RequestScope<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Responding;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let (parts, body) = req.into_parts();
        let client = crate::http::client_info(&parts, &self.trusted);
        let log = RequestLog {
            id: parts.headers.get(REQUEST_ID).cloned(),
            method: parts.method.clone(),
            uri: parts.uri.clone(),
        };
        let inner = self.inner.call(Request::from_parts(parts, body));
        let served = async move {
            let res = inner.await?;
            // One line per request is an access log, and costs more than the request itself
            // on the hot path: debug (opt in with RUST_LOG=info,latchkey::server=debug).
            let status = res.status().as_u16();
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            if status >= 500 {
                tracing::warn!(http.status = status, latency_ms = ms, "request failed");
            } else {
                tracing::debug!(http.status = status, latency_ms = ms, "request completed");
            }
            Ok(res)
        };
        Box::pin(logging::REQUEST.scope(log, crate::core::audit::CLIENT.scope(client, served)))
    }
}

/// A request's metric handles, registered once per (route, method, status): the hot path
/// then costs two atomic updates, not a registry lookup and six label strings.
#[derive(Clone)]
struct RouteMetrics {
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

type RouteMetricsMap = HashMap<String, HashMap<(&'static str, u16), RouteMetrics>>;

fn route_metrics(route: &str, method: &'static str, status: u16) -> RouteMetrics {
    static MAP: OnceLock<RwLock<RouteMetricsMap>> = OnceLock::new();
    let map = MAP.get_or_init(Default::default);
    if let Some(m) = map
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(route)
        .and_then(|r| r.get(&(method, status)))
    {
        return m.clone();
    }
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    let m = RouteMetrics {
        requests: metrics::counter!("http_requests_total", &labels),
        duration: metrics::histogram!("http_request_duration_seconds", &labels),
    };
    map.write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(route.to_owned())
        .or_default()
        .insert((method, status), m.clone());
    m
}

/// The method as a label: anything but the standard methods is `OTHER`, so a client cannot
/// grow the label set (routes are templates and statuses are bounded already).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Counts and times each request by route template, method and status. It runs after routing
/// (it wraps every route, and the fallback), where the matched route is known.
#[derive(Clone)]
struct Metered<S>(S);

impl<S> Service<Request> for Metered<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Responding;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = method_label(req.method());
        let inner = self.0.call(req);
        Box::pin(async move {
            let res = inner.await?;
            let route = route.as_ref().map_or("unmatched", |m| m.as_str());
            let m = route_metrics(route, method, res.status().as_u16());
            m.requests.increment(1);
            m.duration.record(start.elapsed().as_secs_f64());
            Ok(res)
        })
    }
}

const API_CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
const DOCS_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; frame-ancestors 'none'",
);

/// The security headers every response carries; a handler's (or the docs') own value wins.
fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, API_CSP),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ] {
        h.entry(name).or_insert(value);
    }
    res
}

/// Request ids: random UUIDs (v4) from the thread-local CSPRNG, which costs no system call
/// per request (tower-http's `MakeRequestUuid` asks the OS each time).
#[derive(Clone, Copy, Default)]
struct MakeRequestId;

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut buf = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf))
            .ok()
            .map(RequestId::new)
    }
}

async fn openapi_json(State(doc): State<Arc<String>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], (*doc).clone())
}

/// Adds the two routes the document cannot describe from annotations: itself and `/docs`.
fn describe_self(doc: &mut utoipa::openapi::OpenApi) {
    let op = |summary: &str, ctype: &str| {
        OperationBuilder::new()
            .summary(Some(summary))
            .tag("operations")
            .response(
                "200",
                ResponseBuilder::new()
                    .description("OK")
                    .content(ctype, ContentBuilder::new().build())
                    .build(),
            )
            .build()
    };
    let extra = PathsBuilder::new()
        .path(
            "/openapi.json",
            PathItem::new(
                HttpMethod::Get,
                op("This OpenAPI 3.1 document", "application/json"),
            ),
        )
        .path(
            "/docs",
            PathItem::new(
                HttpMethod::Get,
                op(
                    "Interactive API docs (Swagger UI, served from the binary)",
                    "text/html",
                ),
            ),
        )
        .build();
    doc.paths.paths.extend(extra.paths);
}

/// The native API's OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = crate::api::router();
    describe_self(&mut doc);
    doc
}

/// Method and path of every route Latchkey itself serves at the root (the native API and the
/// operations endpoints): no dialect mount may shadow them.
pub fn root_routes() -> Vec<(String, String)> {
    let doc = openapi();
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
            ("HEAD", &item.head),
            ("OPTIONS", &item.options),
        ];
        for (m, op) in ops {
            if op.is_some() {
                out.push((m.to_owned(), path.clone()));
            }
        }
    }
    for (m, path) in crate::pages::PATHS {
        out.push(((*m).to_owned(), (*path).to_owned()));
    }
    for (m, path) in crate::pages::CONSOLE_PATHS {
        out.push(((*m).to_owned(), (*path).to_owned()));
    }
    out
}

/// The whole application, as one service: the layers wrap the router once, not each route.
pub fn app(
    state: AppState,
    opts: &HttpOptions,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send>
       + Clone
       + Send
       + Sync
       + 'static {
    let mounts = &opts.mounts;
    let (api, mut doc) = crate::api::router();
    describe_self(&mut doc);
    let doc = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let trusted = state.trusted_proxies.clone();

    let api = api
        .merge(crate::pages::router(&state.pages))
        .merge(mounts.router())
        .fallback(|| async { Problem::route_not_found() })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .with_state(state);

    let docs = swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: "/docs",
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/openapi.json"),
        title: Some("Latchkey API"),
    })
    .layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        DOCS_CSP,
    ))
    .route("/openapi.json", get(openapi_json).with_state(doc));

    // Metrics need the matched route, so they run after routing (on every route); the rest
    // wraps the router once. `Router::layer` would wrap each route in every layer, and a
    // request would then clone that stack layer by layer.
    let routes = docs.merge(api).layer(layer_fn(Metered));
    ServiceBuilder::new()
        .option_layer(opts.cors())
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestId))
        .layer(layer_fn(move |inner| RequestScope {
            inner,
            trusted: trusted.clone(),
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(MapResponseLayer::new(security_headers))
        .service(routes)
}

/// How the HTTP side is set up (beyond the core's configuration).
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub mounts: Mounts,
    /// Peers whose `X-Forwarded-For` is believed (addresses or networks).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins allowed by CORS; empty turns CORS off.
    pub cors_origins: Vec<String>,
    /// citizen-portal's role-id namespace (its origin's seeded ids by default).
    pub citizen_portal_role_ids: RoleIds,
    /// Where browsers and clients reach Latchkey; `None`: `http://` and the bound address.
    pub public_url: Option<String>,
    /// The effective configuration, as the console's settings page shows it (secrets left out).
    pub settings: Vec<crate::http::Setting>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            mounts: Mounts::default(),
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            citizen_portal_role_ids: RoleIds::parse(RoleIds::CITIZEN_PORTAL)
                .expect("the built-in citizen-portal role ids parse"),
            public_url: None,
            settings: Vec::new(),
        }
    }
}

/// Checks a public URL: `http://` or `https://`, a host, an optional port and path, no query,
/// fragment or user info; a trailing slash is dropped.
pub fn public_url(raw: &str) -> Result<String, String> {
    let s = raw.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| {
        let host = r.split('/').next().unwrap_or("");
        !host.is_empty()
            && !host.contains('@')
            && !r.contains(['?', '#'])
            && !r.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "invalid public URL '{raw}': expected http(s)://host[:port][/path], without a query or fragment"
        ))
    }
}

impl HttpOptions {
    /// Checks CORS origins: `*`, or `scheme://host[:port]` each.
    pub fn validate(&self) -> Result<(), String> {
        for o in &self.cors_origins {
            let ok = o == "*"
                || ((o.starts_with("http://") || o.starts_with("https://"))
                    && !o.ends_with('/')
                    && HeaderValue::from_str(o).is_ok()
                    && o.split("://")
                        .nth(1)
                        .is_some_and(|h| !h.is_empty() && !h.contains('/')));
            if !ok {
                return Err(format!(
                    "invalid CORS origin '{o}': expected * or scheme://host[:port], e.g. https://app.example.com"
                ));
            }
        }
        Ok(())
    }

    fn cors(&self) -> Option<CorsLayer> {
        if self.cors_origins.is_empty() {
            return None;
        }
        // Credentialed requests (cookies, `withCredentials`) only for origins named one by one:
        // the CORS protocol forbids credentials with a wildcard, and so would we.
        let wildcard = self.cors_origins.iter().any(|o| o == "*");
        let named: Vec<HeaderValue> = self
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        let credentials = if wildcard {
            AllowCredentials::from(false)
        } else {
            // Said only to the origins allowed: to any other it would be noise.
            AllowCredentials::predicate(move |origin, _| named.contains(origin))
        };
        let origin = if wildcard {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                self.cors_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        };
        Some(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([REQUEST_ID, header::RETRY_AFTER])
                .allow_credentials(credentials)
                .max_age(Duration::from_secs(600)),
        )
    }
}

/// Serves until `shutdown` flips, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    svc: Arc<Latchkey>,
    opts: &HttpOptions,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let public_url = match &opts.public_url {
        Some(u) => u.clone(),
        None => format!("http://{}", listener.local_addr()?),
    };
    let state = AppState {
        svc: svc.clone(),
        metrics: metrics_handle(),
        trusted_proxies: Arc::new(crate::proxy::Proxies::new(opts.trusted_proxies.clone())),
        citizen_portal_role_ids: Arc::new(opts.citizen_portal_role_ids.clone()),
        public_url: public_url.into(),
        pages: Arc::new(crate::pages::PagePaths::for_mounts(&opts.mounts)),
        settings: opts.settings.clone().into(),
    };
    let outbox = tokio::spawn(svc.clone().run_outbox(shutdown.clone()));
    let sync = tokio::spawn(svc.run_sync(shutdown.clone()));
    let app = app(state, opts);
    let result = axum::serve(
        listener,
        ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app),
    )
    .with_graceful_shutdown(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    })
    .await;
    let _ = sync.await;
    let _ = outbox.await;
    result
}
