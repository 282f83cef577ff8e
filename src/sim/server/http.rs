//! The HTTP/1.1 layer: requests parsed from the socket, answers written with their
//! exact faults (a cut body keeps its full `Content-Length`, a reset is a real RST),
//! keep-alive connections, and the server task with its shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::routing::handle;
use super::SimState;

/// A request head as the feeds need it: path and query pairs percent-decoded, the
/// headers, and whether the connection closes after the answer.
pub(super) struct Request {
    pub(super) path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    close: bool,
}

impl Request {
    /// The value of header `name` (in any case), empty when absent.
    pub(super) fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }

    /// The value of query parameter `name`; the last one when it is repeated.
    pub(super) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the connection does with an answer: send it, send half its body under the
/// full `Content-Length` and close, or reset without a word.
pub(super) enum Action {
    Send,
    Cut,
    Reset,
}

/// An answer as routing decides it, before the connection writes it.
pub(super) struct Response {
    pub(super) status: u16,
    ctype: &'static str,
    pub(super) extra: Vec<(&'static str, String)>,
    body: Vec<u8>,
    pub(super) action: Action,
    pub(super) delay_ms: u64,
}

/// Content types of the feeds' answers (`mca` speaks GBK, errors included).
pub(super) const JSON: &str = "application/json; charset=utf-8";
pub(super) const CSV: &str = "text/csv; charset=GBK";
pub(super) const TEXT_GBK: &str = "text/plain; charset=GBK";

/// An answer sent whole and at once.
pub(super) fn resp(status: u16, ctype: &'static str, body: Vec<u8>) -> Response {
    Response {
        status,
        ctype,
        extra: Vec::new(),
        body,
        action: Action::Send,
        delay_ms: 0,
    }
}

/// A JSON answer.
pub(super) fn json(status: u16, v: serde_json::Value) -> Response {
    resp(status, JSON, serde_json::to_vec(&v).unwrap_or_default())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match h.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_head(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let _method = first.next()?;
    let target = first.next()?;
    let version = first.next().unwrap_or("HTTP/1.1");
    let (path, qs) = target.split_once('?').unwrap_or((target, ""));
    let query = qs
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let conn = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .map(|(_, v)| v.to_ascii_lowercase());
    let close = match conn.as_deref() {
        Some("close") => true,
        Some("keep-alive") => false,
        _ => version == "HTTP/1.0",
    };
    Some(Request {
        path: pct_decode(path),
        query,
        headers,
        close,
    })
}

/// Reads one request head (and discards any body); `None` at end of stream.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let req = parse_head(&head)?;
            let len: usize = req.header("content-length").parse().unwrap_or(0);
            while buf.len() < len {
                let mut chunk = [0u8; 4096];
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..len);
            return Some(req);
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn connection(mut sock: TcpStream, state: Arc<SimState>, mut stop: watch::Receiver<bool>) {
    let _ = sock.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let req = tokio::select! {
            r = read_request(&mut sock, &mut buf) => r,
            _ = stop.changed() => return,
        };
        let Some(req) = req else { return };
        let r = handle(&state, &req);
        if r.delay_ms > 0 {
            tokio::time::sleep(StdDuration::from_millis(r.delay_ms)).await;
        }
        if let Action::Reset = r.action {
            let _ = sock.set_zero_linger();
            drop(sock);
            return;
        }
        let close = req.close || matches!(r.action, Action::Cut);
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            r.status,
            reason(r.status),
            r.ctype,
            r.body.len()
        );
        for (k, v) in &r.extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let body: &[u8] = match r.action {
            Action::Cut => &r.body[..(r.body.len() / 2).max(1).min(r.body.len())],
            _ => &r.body,
        };
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        if sock.write_all(&out).await.is_err() {
            return;
        }
        let _ = sock.flush().await;
        if close {
            let _ = sock.shutdown().await;
            return;
        }
    }
}

/// Serves `state` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<SimState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            acc = listener.accept() => {
                match acc {
                    Ok((sock, _)) => {
                        tokio::spawn(connection(sock, state.clone(), rx.clone()));
                    }
                    Err(e) => {
                        // out of file descriptors and the like: back off, keep serving
                        tracing::warn!(error = %e, "sim: accept failed");
                        tokio::time::sleep(StdDuration::from_millis(50)).await;
                    }
                }
            }
        }
    }
    let _ = tx.send(true);
    Ok(())
}

/// A simulator serving on 127.0.0.1 in a tokio task.
pub struct SimServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it serves, for the edits tests make and the request counters.
    pub state: Arc<SimState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl SimServer {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds 127.0.0.1:0 and serves `state` in a tokio task.
pub async fn spawn(state: Arc<SimState>) -> std::io::Result<SimServer> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let st = state.clone();
    let task = tokio::spawn(async move {
        serve(listener, st, async move {
            let _ = rx.await;
        })
        .await
    });
    Ok(SimServer {
        addr,
        state,
        stop: Some(tx),
        task: Some(task),
    })
}
