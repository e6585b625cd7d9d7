//! The webhook over HTTPS (rustls, HTTP/1.1): `POST /mutate` (pods that
//! opt in by annotation), `POST /mutate/namespace` (pods of namespaces
//! labelled `engram.io/inject=enabled`), `GET /healthz`. The certificate
//! and key are read from files and read again when either changes, so a
//! certificate cert-manager rotated is served without a restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::sidecar::Defaults;

/// The largest AdmissionReview read (the API server's are a pod and some
/// metadata; Kubernetes caps objects at 1.5 MiB).
const MAX_BODY: usize = 3 << 20;

/// What the injector serves with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub defaults: Defaults,
}

/// Serves until `shutdown` resolves. Logs `listening` with the bound
/// address.
pub async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    serve_on(listener, config, shutdown).await
}

/// [`serve`] on a bound listener (`config.listen` is not used).
pub async fn serve_on(
    listener: TcpListener,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let tls = engram_tls::server_config(&config.cert, &config.key, None, &[b"http/1.1"])?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    info!(addr = %listener.local_addr()?, "listening");
    let defaults = Arc::new(config.defaults);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => { warn!(%error, "accept failed"); continue; }
            },
            () = &mut shutdown => { info!("stopped"); return Ok(()); }
        };
        let acceptor = acceptor.clone();
        let defaults = defaults.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(stream) => stream,
                Err(error) => {
                    warn!(%peer, %error, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |request| {
                let defaults = defaults.clone();
                async move { Ok::<_, std::convert::Infallible>(route(request, &defaults).await) }
            });
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                warn!(%peer, %error, "connection failed");
            }
        });
    }
}

async fn route(request: Request<Incoming>, defaults: &Defaults) -> Response<Full<Bytes>> {
    let namespace = match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => return reply(StatusCode::OK, "text/plain", "ok".into()),
        (&Method::POST, "/mutate") => false,
        (&Method::POST, "/mutate/namespace") => true,
        (_, "/mutate" | "/mutate/namespace") => {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "POST an AdmissionReview".into(),
            );
        }
        _ => return reply(StatusCode::NOT_FOUND, "text/plain", "no such path".into()),
    };
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                error.to_string().into(),
            );
        }
    };
    match crate::admission::review(&body, defaults, namespace) {
        Ok(answer) => {
            let allowed = answer["response"]["allowed"].as_bool().unwrap_or(false);
            let patched = answer["response"]["patch"].is_string();
            // The uid and the decision only: a pod's content is the
            // customer's.
            info!(uid = %answer["response"]["uid"].as_str().unwrap_or_default(), allowed, patched, "admission review");
            let body = serde_json::to_vec(&answer).expect("a reply serializes");
            reply(StatusCode::OK, "application/json", body.into())
        }
        Err(error) => reply(
            StatusCode::BAD_REQUEST,
            "text/plain",
            error.into_bytes().into(),
        ),
    }
}

fn reply(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        content_type.parse().expect("a content type"),
    );
    response
}
