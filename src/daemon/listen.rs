//! The daemon's HTTP listeners, made for a network that hostile clients share: a
//! request head (and a TLS handshake) must arrive within `header_read_timeout_secs`,
//! a request must be answered within `request_timeout_secs`, at most
//! `max_connections` are served at once (the rest are closed at once), and the
//! townships' listener speaks TLS when `[http] tls_cert_file`/`tls_key_file` are set.
//! axum's own `serve` has none of these bounds, so connections are served here with
//! hyper directly.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::HttpConfig;
use crate::shutdown::Shutdown;

/// The bounds every connection of a listener is held to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn of(http: &HttpConfig) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(http.header_read_timeout_secs),
            request_timeout: Duration::from_secs(http.request_timeout_secs),
            max_connections: http.max_connections,
        }
    }
}

/// The TLS acceptor of `[http] tls_cert_file` and `tls_key_file`, when both are set.
pub fn tls_acceptor(http: &HttpConfig) -> anyhow::Result<Option<TlsAcceptor>> {
    let (Some(cert), Some(key)) = (&http.tls_cert_file, &http.tls_key_file) else {
        return Ok(None);
    };
    Ok(Some(acceptor(cert, key)?))
}

fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| {
            format!(
                "config key `http.tls_cert_file`: {} holds no PEM certificate chain",
                cert.display()
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| {
            format!(
                "config key `http.tls_key_file`: {} holds no PEM private key",
                key.display()
            )
        })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("config key `http.tls_cert_file`: the certificate and key do not match")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Answers 408 for a request that takes longer than the listener allows.
async fn within(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timed out\n").into_response(),
    }
}

/// Serves `app` on `listener` until shutdown; connections in flight then finish their
/// current request.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    name: &'static str,
    mut shutdown: Shutdown,
) {
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.request_timeout,
        within,
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.recv() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(listener = name, error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("popsync_http_connections_refused_total", "listener" => name)
                .increment(1);
            drop(stream);
            continue;
        };
        let (app, tls, watcher) = (app.clone(), tls.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _slot = slot;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let service = TowerToHyperService::new(app);
            let served = match tls {
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await
                }
                Some(tls) => {
                    let handshake =
                        tokio::time::timeout(limits.header_read_timeout, tls.accept(stream));
                    let Ok(Ok(stream)) = handshake.await else {
                        return;
                    };
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await
                }
            };
            if let Err(e) = served {
                tracing::debug!(listener = name, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
