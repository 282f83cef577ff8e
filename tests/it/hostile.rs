//! Feeds that turn against popsync: a redirect to another host, an endless body, a
//! cursor that loops, pages that never end. Each is a small HTTP server on 127.0.0.1
//! that answers every request the same way and records what it was sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use popsync::config::{Config, FeedName};
use popsync::run::pull::sync_feeds;
use popsync::shutdown::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{fast, secret_file};

/// How the hostile server answers.
#[derive(Clone)]
enum Answer {
    /// These bytes, then the connection closes.
    Fixed(Vec<u8>),
    /// A 200 whose body never ends.
    Endless,
    /// A 200 JSON body made from the request's path and query.
    Json(fn(&str) -> String),
}

/// A server answering every request with `answer`; the request heads it received.
async fn hostile(answer: Answer) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (answer, seen) = (answer.clone(), seen.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                seen.lock().unwrap().push(head.clone());
                match answer {
                    Answer::Fixed(bytes) => {
                        let _ = sock.write_all(&bytes).await;
                    }
                    Answer::Json(body) => {
                        let target = head.split(' ').nth(1).unwrap_or("/");
                        let body = body(target);
                        let out = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = sock.write_all(out.as_bytes()).await;
                    }
                    Answer::Endless => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"list\":[")
                            .await;
                        let filler = vec![b' '; 64 * 1024];
                        while sock.write_all(&filler).await.is_ok() {}
                    }
                }
            });
        }
    });
    (addr, heads)
}

/// A config with the one feed `name` at `base_url` (plain HTTP allowed) and `extra`.
fn config(dir: &std::path::Path, name: &str, base_url: &str, extra: &str) -> Config {
    let secret = secret_file(dir, name, "feed-secret-value");
    let key = if name == "mca" {
        "api_key_file"
    } else {
        "token_file"
    };
    let text = format!(
        "[database]\nurl = \"sqlite://{}\"\n[city]\ncounties = [\"349901\"]\n[feeds.{name}]\nbase_url = \"{base_url}\"\nallow_http = true\n{key} = \"{}\"\nmax_retries = 1\n{extra}",
        dir.join("popsync.db").display(),
        secret.display()
    );
    Config::from_toml(&text, &dir.join("popsync.toml"), &|_| None).expect("config loads")
}

/// Pulls the one configured feed and returns its error, shown as an operator reads it.
async fn pull_error(config: &Config, feed: FeedName) -> String {
    let store = popsync::store::Store::open(&config.database.url)
        .await
        .unwrap();
    let reports = sync_feeds(&store, config, &[feed], fast(), &Shutdown::never()).await;
    store.close().await;
    // As operators see it: the error and its causes, each once.
    popsync::domain::masked_causes(reports[0].result.as_ref().expect_err("the pull fails"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_follow_a_redirect_to_another_host() {
    let (elsewhere, received) = hostile(Answer::Json(|_| "{}".into())).await;
    let location = format!("http://{elsewhere}/rkxx/list?pageNo=1");
    let (feed, _) = hostile(Answer::Fixed(
        format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").into_bytes(),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "pis", &format!("http://{feed}"), "");
    let error = pull_error(&config, FeedName::Pis).await;
    assert!(
        received.lock().unwrap().is_empty(),
        "the other host was asked: {:?}",
        received.lock().unwrap()
    );
    assert!(
        error.contains(&format!("redirects to http://{}", elsewhere.ip()))
            && error.contains("not followed"),
        "{error}"
    );
    assert!(!error.contains("feed-secret-value"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_fails_the_page_at_its_limit() {
    let (feed, _) = hostile(Answer::Endless).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "pis",
        &format!("http://{feed}"),
        "max_response_bytes = 1048576\n",
    );
    let t0 = std::time::Instant::now();
    let error = pull_error(&config, FeedName::Pis).await;
    assert!(
        error.contains("larger than max_response_bytes (1048576 bytes)"),
        "{error}"
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(20),
        "it stopped at the limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_or_page_token_handed_back_again_stops_the_pull() {
    let (psb, _) = hostile(Answer::Json(|_| {
        r#"{"code":0,"msg":"成功","data":{"rows":[],"cursor":"c00000001","more":true}}"#.into()
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let error = pull_error(
        &config(dir.path(), "psb", &format!("http://{psb}"), ""),
        FeedName::Psb,
    )
    .await;
    assert!(error.contains("cursor \"c00000001\" again"), "{error}");

    let (nhc, _) = hostile(Answer::Json(|_| {
        r#"{"items":[],"nextPageToken":"t-1"}"#.into()
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let error = pull_error(
        &config(dir.path(), "nhc", &format!("http://{nhc}"), ""),
        FeedName::Nhc,
    )
    .await;
    assert!(error.contains("page token \"t-1\" again"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_that_never_end_stop_at_the_page_limit() {
    // Every page is full, whatever is asked: a register that never ends.
    let (pis, asked) = hostile(Answer::Json(|_| {
        let row = |id: &str| {
            format!(
                r#"{{"personId":"{id}","sfzh":"","xm":"某","xb":"男","csrq":"2000-01-01","cunCode":"349901001001","zt":"1","delFlag":"0","modifiedTime":"2014-01-01 00:00:00"}}"#
            )
        };
        format!(r#"{{"total":2,"pageNo":1,"list":[{},{}]}}"#, row("RK1"), row("RK2"))
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "pis",
        &format!("http://{pis}"),
        "page_size = 2\nmax_pages_per_pull = 5\n",
    );
    let error = pull_error(&config, FeedName::Pis).await;
    assert!(error.contains("more than 5 pages in one pull"), "{error}");
    assert_eq!(asked.lock().unwrap().len(), 5);
}
