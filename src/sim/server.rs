//! Serving the world: a small HTTP/1.1 server over tokio (keep-alive, GET only),
//! its own so that each fault is exact — a cut body keeps its full
//! `Content-Length`, a reset is a real RST — and the live state behind it: `pis`
//! re-saves (fault mutations and test edits) and voided `nhc` versions.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use anyhow::{anyhow, bail};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::wire::{self, BirthWire, DeathWire, PisWire};
use super::world::{fmt_dt, fmt_rfc, NhcItem, PisEntry, World};
use super::{Credentials, FaultKind, Faults};

/// What changes while the world is served.
struct Live {
    world: World,
    /// Base `pis` indices re-saved (now in `tail`), sorted.
    removed: Vec<usize>,
    removed_set: HashSet<usize>,
    /// Re-saved records, in order of their new `modifiedTime`.
    tail: Vec<PisEntry>,
    /// Edits and re-saves so far: the simulated clock's seconds.
    clock: i64,
    /// Base `pis` indices kept out of every answer (also in `removed`, not in `tail`).
    hidden: Vec<usize>,
}

/// The served world behind a lock, the fault settings and request counters.
pub struct SimState {
    live: Mutex<Live>,
    faults: Faults,
    creds: Credentials,
    requests: AtomicU64,
    faulted: AtomicU64,
    pis_responses: AtomicU64,
    clock_base: NaiveDateTime,
}

impl SimState {
    pub fn new(world: World, faults: Faults, creds: Credentials) -> Arc<SimState> {
        let as_of = world.opts.as_of;
        let clock_base = (as_of - Duration::days(1))
            .and_time(NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default());
        Arc::new(SimState {
            live: Mutex::new(Live {
                world,
                removed: Vec::new(),
                removed_set: HashSet::new(),
                tail: Vec::new(),
                clock: 0,
                hidden: Vec::new(),
            }),
            faults,
            creds,
            requests: AtomicU64::new(0),
            faulted: AtomicU64::new(0),
            pis_responses: AtomicU64::new(0),
            clock_base,
        })
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        // a panic while holding the lock leaves consistent data: keep serving
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feed requests received (all endpoints, whatever their answer).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Re-saves the `pis` record `person_id` with `field` (its wire name) set to
    /// `value` and a new `modifiedTime`, moving it to the end of the order.
    pub fn pis_update(&self, person_id: &str, field: &str, value: &str) -> anyhow::Result<()> {
        let mut live = self.live();
        let base = self.clock_base;
        resave(&mut live, base, person_id, |w| {
            if w.set(field, value) {
                Ok(())
            } else {
                Err(anyhow!("unknown or read-only pis field {field:?}"))
            }
        })
    }

    /// Keeps `count` records spread evenly over the starting `pis` register out of
    /// every answer, as if a transaction holding them had not committed yet. Returns
    /// how many were hidden (records that tests or faults may re-save are left alone).
    pub fn pis_hide_spread(&self, count: usize) -> usize {
        let mut live = self.live();
        let candidates: Vec<usize> = (0..live.world.pis.len())
            .filter(|&i| live.world.pis[i].mutable && !live.removed_set.contains(&i))
            .collect();
        if count == 0 || candidates.is_empty() {
            return 0;
        }
        let step = (candidates.len() / count).max(1);
        let chosen: Vec<usize> = candidates.into_iter().step_by(step).take(count).collect();
        for &i in &chosen {
            live.hide(i);
        }
        chosen.len()
    }

    /// The `personId`s of served starting-register records that tests may edit.
    pub fn pis_editable_ids(&self) -> Vec<String> {
        let live = self.live();
        (0..live.world.pis.len())
            .filter(|&i| live.world.pis[i].mutable && !live.removed_set.contains(&i))
            .map(|i| live.world.pis[i].pid.clone())
            .collect()
    }

    /// The `personId`s of the records [`SimState::pis_hide_spread`] hid.
    pub fn pis_hidden(&self) -> Vec<String> {
        let live = self.live();
        live.hidden
            .iter()
            .map(|&i| live.world.pis[i].pid.clone())
            .collect()
    }

    /// Serves the hidden records again, with the `modifiedTime` they always had: older
    /// than what a sync has already read, so no cursor finds them.
    pub fn pis_reveal(&self) {
        let mut live = self.live();
        for i in std::mem::take(&mut live.hidden) {
            let k = live.removed.partition_point(|&r| r < i);
            live.removed.remove(k);
            live.removed_set.remove(&i);
        }
    }

    /// Changes field `field` of the `pis` record `person_id` in place, keeping its
    /// `modifiedTime` and its place: a vendor's fix that no cursor sees.
    pub fn pis_edit_in_place(
        &self,
        person_id: &str,
        field: &str,
        value: &str,
    ) -> anyhow::Result<()> {
        let mut live = self.live();
        let live = &mut *live;
        let entry = match live.tail.iter_mut().rev().find(|e| e.pid == person_id) {
            Some(e) => e,
            None => live
                .world
                .pis
                .iter_mut()
                .find(|e| e.pid == person_id)
                .ok_or_else(|| anyhow!("no pis record with personId {person_id:?}"))?,
        };
        let mut w: PisWire = serde_json::from_slice(&entry.bytes)?;
        if !w.set(field, value) {
            bail!("unknown or read-only pis field {field:?}");
        }
        entry.bytes = serde_json::to_vec(&w)?;
        Ok(())
    }

    /// Re-saves the `pis` record `person_id` with `delFlag` "1".
    pub fn pis_delete(&self, person_id: &str) -> anyhow::Result<()> {
        let mut live = self.live();
        let base = self.clock_base;
        resave(&mut live, base, person_id, |w| {
            w.del_flag = "1".into();
            Ok(())
        })
    }

    /// Adds a new VOID version of birth or death certificate `certificate_no`. Like a
    /// real department it is stamped after every item already served (and no earlier
    /// than the edit clock), so a reader polling `updatedSince` sees it.
    pub fn nhc_void(&self, certificate_no: &str) -> anyhow::Result<()> {
        let mut live = self.live();
        live.clock += 1;
        let newest = live
            .world
            .nhc_birth
            .iter()
            .chain(&live.world.nhc_death)
            .map(|x| x.at)
            .max()
            .unwrap_or(0);
        let at = (self.clock_base + Duration::seconds(live.clock))
            .and_utc()
            .timestamp()
            .max(newest + 1);
        let t = chrono::DateTime::<chrono::Utc>::from_timestamp(at, 0)
            .unwrap_or_default()
            .naive_utc();
        let find = |items: &[NhcItem]| {
            items
                .iter()
                .enumerate()
                .filter(|(_, x)| x.cert == certificate_no)
                .max_by_key(|(_, x)| x.version)
                .map(|(i, _)| i)
        };
        let (is_birth, i) = match find(&live.world.nhc_birth) {
            Some(i) => (true, i),
            None => match find(&live.world.nhc_death) {
                Some(i) => (false, i),
                None => {
                    live.clock -= 1;
                    bail!("no certificate {certificate_no:?}");
                }
            },
        };
        let items = if is_birth {
            &mut live.world.nhc_birth
        } else {
            &mut live.world.nhc_death
        };
        let old = &items[i];
        let version = old.version + 1;
        let bytes = if is_birth {
            let mut w: BirthWire = serde_json::from_slice(&old.bytes)?;
            w.version = version;
            w.status = "VOID".into();
            w.updated_at = fmt_rfc(t);
            serde_json::to_vec(&w)?
        } else {
            let mut w: DeathWire = serde_json::from_slice(&old.bytes)?;
            w.version = version;
            w.status = "VOID".into();
            w.updated_at = fmt_rfc(t);
            serde_json::to_vec(&w)?
        };
        let item = NhcItem {
            at,
            cert: certificate_no.to_string(),
            version,
            bytes,
        };
        let pos = items.partition_point(|x| (x.at, &x.cert) <= (at, &item.cert));
        items.insert(pos, item);
        Ok(())
    }
}

/// Re-saves one `pis` record with `edit` applied and the next clock time.
fn resave(
    live: &mut Live,
    base: NaiveDateTime,
    pid: &str,
    edit: impl FnOnce(&mut PisWire) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    enum At {
        Base(usize),
        Tail(usize),
    }
    let at = if let Some(i) = live.tail.iter().rposition(|e| e.pid == pid) {
        At::Tail(i)
    } else if let Some(i) = live
        .world
        .pis
        .iter()
        .enumerate()
        .position(|(i, e)| e.pid == pid && !live.removed_set.contains(&i))
    {
        At::Base(i)
    } else {
        bail!("no pis record with personId {pid:?}");
    };
    let old = match at {
        At::Base(i) => &live.world.pis[i],
        At::Tail(i) => &live.tail[i],
    };
    let mut w: PisWire = serde_json::from_slice(&old.bytes)?;
    let mutable = old.mutable;
    edit(&mut w)?;
    live.clock += 1;
    let mt = base + Duration::seconds(live.clock);
    w.modified_time = fmt_dt(mt);
    let entry = PisEntry {
        mt,
        pid: pid.to_string(),
        bytes: serde_json::to_vec(&w)?,
        mutable,
    };
    match at {
        At::Base(i) => {
            let k = live.removed.partition_point(|&r| r < i);
            live.removed.insert(k, i);
            live.removed_set.insert(i);
        }
        At::Tail(i) => {
            live.tail.remove(i);
        }
    }
    live.tail.push(entry);
    Ok(())
}

impl Live {
    /// Keeps base record `i` out of every answer: the offset walk skips it as it skips
    /// a re-saved record, but it is in no tail.
    fn hide(&mut self, i: usize) {
        let k = self.removed.partition_point(|&r| r < i);
        self.removed.insert(k, i);
        self.removed_set.insert(i);
        self.hidden.push(i);
    }

    /// One page of `pis` by offset over base records not re-saved, then the tail.
    fn pis_page(
        &self,
        since: Option<NaiveDateTime>,
        page_no: usize,
        size: usize,
    ) -> (usize, Vec<u8>) {
        let base = &self.world.pis;
        let start = since.map_or(0, |s| base.partition_point(|e| e.mt < s));
        let k0 = self.removed.partition_point(|&r| r < start);
        let base_n = base.len() - start - (self.removed.len() - k0);
        let t0 = since.map_or(0, |s| self.tail.partition_point(|e| e.mt < s));
        let total = base_n + self.tail.len() - t0;
        let off = (page_no - 1).saturating_mul(size);
        let mut out: Vec<&[u8]> = Vec::with_capacity(size.min(1000));
        let off2 = if off < base_n {
            let mut pos = start + off;
            let mut k = k0;
            while k < self.removed.len() && self.removed[k] <= pos {
                pos += 1;
                k += 1;
            }
            while pos < base.len() && out.len() < size {
                if !self.removed_set.contains(&pos) {
                    out.push(&base[pos].bytes);
                }
                pos += 1;
            }
            0
        } else {
            off - base_n
        };
        let mut j = t0 + off2;
        while j < self.tail.len() && out.len() < size {
            out.push(&self.tail[j].bytes);
            j += 1;
        }
        (total, out.join(&b","[..]))
    }

    /// Re-saves one random mutable base record, content unchanged.
    fn mutate(&mut self, rng: &mut SmallRng, base: NaiveDateTime) {
        let n = self.world.pis.len();
        if n == 0 {
            return;
        }
        for _ in 0..8 {
            let i = rng.random_range(0..n);
            if self.removed_set.contains(&i) || !self.world.pis[i].mutable {
                continue;
            }
            let pid = self.world.pis[i].pid.clone();
            let _ = resave(self, base, &pid, |_| Ok(()));
            return;
        }
    }
}

// ------------------------------------------------------------------ HTTP

struct Request {
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    close: bool,
}

impl Request {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

enum Action {
    Send,
    Cut,
    Reset,
}

struct Response {
    status: u16,
    ctype: &'static str,
    extra: Vec<(&'static str, String)>,
    body: Vec<u8>,
    action: Action,
    delay_ms: u64,
}

const JSON: &str = "application/json; charset=utf-8";
const CSV: &str = "text/csv; charset=GBK";
const TEXT_GBK: &str = "text/plain; charset=GBK";

fn resp(status: u16, ctype: &'static str, body: Vec<u8>) -> Response {
    Response {
        status,
        ctype,
        extra: Vec::new(),
        body,
        action: Action::Send,
        delay_ms: 0,
    }
}

fn json(status: u16, v: serde_json::Value) -> Response {
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
    pub addr: SocketAddr,
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

// ---------------------------------------------------------------- routing

#[derive(Clone, Copy, PartialEq, Eq)]
enum Feed {
    Psb,
    Mca,
    Nhc,
    Pis,
}

fn handle(state: &SimState, req: &Request) -> Response {
    let feed = match req.path.as_str() {
        "/api/hjxx/changes" => Feed::Psb,
        "/export/marriage.csv" | "/export/cremation.csv" => Feed::Mca,
        "/v2/birth-certificates" | "/v2/death-certificates" => Feed::Nhc,
        "/rkxx/list" => Feed::Pis,
        "/__health" => return resp(200, "text/plain", b"ok".to_vec()),
        _ => return json(404, serde_json::json!({"error": "not found"})),
    };
    state.requests.fetch_add(1, Ordering::Relaxed);
    let c = &state.creds;
    let authorised = match feed {
        Feed::Psb => req.header("authorization") == format!("Bearer {}", c.psb_token),
        Feed::Mca => req.header("x-api-key") == c.mca_key,
        Feed::Nhc => req.header("authorization") == format!("Bearer {}", c.nhc_token),
        Feed::Pis => req.header("x-auth-token") == c.pis_token,
    };
    if !authorised {
        return match feed {
            Feed::Psb => json(
                200,
                serde_json::json!({"code": 4010, "msg": "令牌无效", "data": null}),
            ),
            Feed::Mca => json(401, serde_json::json!({"error": "invalid api key"})),
            Feed::Nhc => json(401, serde_json::json!({"error": "unauthorized"})),
            Feed::Pis => json(401, serde_json::json!({"code": 401, "msg": "未授权"})),
        };
    }
    let mut cut = false;
    let mut delay_ms = 0;
    if let Some(k) = decide_fault(state, feed) {
        match k {
            FaultKind::ServerError => {
                let n = state.faulted.load(Ordering::Relaxed);
                let code = [500, 502, 503][(n % 3) as usize];
                return json(code, serde_json::json!({"error": "server error"}));
            }
            FaultKind::TooManyRequests => {
                let mut r = json(429, serde_json::json!({"error": "too many requests"}));
                r.extra.push(("Retry-After", "1".into()));
                return r;
            }
            FaultKind::PsbBusy => {
                return json(
                    200,
                    serde_json::json!({"code": 5001, "msg": "系统繁忙,请稍后再试", "data": null}),
                );
            }
            FaultKind::Reset => {
                let mut r = resp(200, JSON, Vec::new());
                r.action = Action::Reset;
                return r;
            }
            FaultKind::Slow => delay_ms = state.faults.slow_ms,
            FaultKind::CutBody => cut = true,
        }
    }
    let mut r = match feed {
        Feed::Psb => psb(state, req),
        Feed::Mca => mca(state, req),
        Feed::Nhc => nhc(state, req),
        Feed::Pis => pis(state, req),
    };
    if cut && r.status == 200 {
        r.action = Action::Cut;
    }
    r.delay_ms = delay_ms;
    r
}

/// Whether (and how) this feed request is faulted: deterministic in the fault
/// seed and the number of faultable requests so far.
fn decide_fault(state: &SimState, feed: Feed) -> Option<FaultKind> {
    let f = &state.faults;
    if f.rate <= 0.0 || f.kinds.is_empty() {
        return None;
    }
    let n = state.faulted.fetch_add(1, Ordering::Relaxed) + 1;
    let mut rng = SmallRng::seed_from_u64(f.seed.wrapping_mul(1_000_003).wrapping_add(n));
    if rng.random::<f64>() >= f.rate {
        return None;
    }
    let kinds: Vec<FaultKind> = f
        .kinds
        .iter()
        .copied()
        .filter(|k| *k != FaultKind::PsbBusy || feed == Feed::Psb)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    Some(kinds[rng.random_range(0..kinds.len())])
}

fn psb_bad(msg: &str) -> Response {
    json(
        400,
        serde_json::json!({"code": 4000, "msg": msg, "data": null}),
    )
}

fn psb(state: &SimState, req: &Request) -> Response {
    let limit: usize = match req.q("limit").unwrap_or("100").parse() {
        Ok(n) if (1..=1000).contains(&n) => n,
        _ => return psb_bad("limit 超出范围 (1-1000)"),
    };
    let live = state.live();
    let w = &live.world;
    let len = w.psb_len();
    let i = match req.q("cursor").unwrap_or("") {
        "" => 0,
        c => {
            let n = c
                .strip_prefix('c')
                .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<usize>().ok());
            match n {
                Some(n) if n <= len => n,
                _ => return psb_bad("cursor 无效"),
            }
        }
    };
    let j = (i + limit).min(len);
    let mut next = j;
    if state.faults.psb_rewind
        && j - i > 5
        && ((i as u64).wrapping_mul(2_654_435_761) >> 9) % 10 == 0
    {
        next -= 2;
    }
    let more = next < len;
    let mut body = Vec::with_capacity(64 + w.psb_off[j] - w.psb_off[i]);
    body.extend_from_slice("{\"code\":0,\"msg\":\"成功\",\"data\":{\"rows\":[".as_bytes());
    body.extend_from_slice(w.psb_slice(i, j));
    body.extend_from_slice(format!("],\"cursor\":\"c{next:08}\",\"more\":{more}}}}}").as_bytes());
    resp(200, JSON, body)
}

fn mca(state: &SimState, req: &Request) -> Response {
    let bad = |m: &str| resp(400, TEXT_GBK, wire::gbk(m));
    let parse = |s: Option<&str>| {
        s.filter(|s| s.len() == 10)
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    let (Some(from), Some(to)) = (parse(req.q("from")), parse(req.q("to"))) else {
        return bad("参数错误: from/to 须为 YYYY-MM-DD");
    };
    if to < from || (to - from).num_days() + 1 > 31 {
        return bad("参数错误: 查询区间不得超过31天");
    }
    let live = state.live();
    let (days, header) = if req.path.contains("marriage") {
        (&live.world.mca_marriage, wire::MARRIAGE_HEADER)
    } else {
        (&live.world.mca_cremation, wire::CREMATION_HEADER)
    };
    let mut body = wire::gbk(&format!("{header}\r\n"));
    for (_, lines) in days.range(from..=to) {
        body.extend_from_slice(lines);
    }
    resp(200, CSV, body)
}

fn parse_since_rfc(s: &str) -> Option<i64> {
    // a '+' left unencoded in the query arrives as a space
    let s = if s.contains('T') && s.matches(' ').count() == 1 {
        s.replace(' ', "+")
    } else {
        s.to_string()
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(&s) {
        let local = dt.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600)?);
        return Some(local.naive_local().and_utc().timestamp());
    }
    NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

fn nhc(state: &SimState, req: &Request) -> Response {
    let size: usize = match req.q("pageSize").unwrap_or("100").parse() {
        Ok(n) if (1..=500).contains(&n) => n,
        _ => return json(400, serde_json::json!({"error": "pageSize must be 1..500"})),
    };
    let live = state.live();
    let items = if req.path.contains("birth") {
        &live.world.nhc_birth
    } else {
        &live.world.nhc_death
    };
    let mut start = 0;
    if let Some(s) = req.q("updatedSince").filter(|s| !s.is_empty()) {
        let Some(at) = parse_since_rfc(s) else {
            return json(400, serde_json::json!({"error": "invalid updatedSince"}));
        };
        start = items.partition_point(|x| x.at < at);
    }
    if let Some(t) = req.q("pageToken").filter(|s| !s.is_empty()) {
        let n = t
            .strip_prefix("t-")
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<usize>().ok());
        match n {
            Some(n) if n <= items.len() => start = start.max(n),
            _ => return json(400, serde_json::json!({"error": "invalid pageToken"})),
        }
    }
    let end = (start + size).min(items.len());
    let mut body = b"{\"items\":[".to_vec();
    for (k, it) in items[start..end].iter().enumerate() {
        if k > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&it.bytes);
    }
    body.extend_from_slice(b"],\"nextPageToken\":");
    if end < items.len() {
        body.extend_from_slice(format!("\"t-{end:06}\"").as_bytes());
    } else {
        body.extend_from_slice(b"null");
    }
    body.push(b'}');
    resp(200, JSON, body)
}

fn pis(state: &SimState, req: &Request) -> Response {
    let bad = || {
        json(
            400,
            serde_json::json!({"code": 400, "msg": "pageNo>=1, pageSize 1..1000"}),
        )
    };
    let page_no: usize = match req.q("pageNo").unwrap_or("1").parse() {
        Ok(n) if n >= 1 => n,
        _ => return bad(),
    };
    let size: usize = match req.q("pageSize").unwrap_or("100").parse() {
        Ok(n) if (1..=1000).contains(&n) => n,
        _ => return bad(),
    };
    let since = match req.q("modifiedSince").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
            Ok(t) => Some(t),
            Err(_) => {
                return json(
                    400,
                    serde_json::json!({"code": 400, "msg": "modifiedSince 格式应为 YYYY-MM-DD HH:MM:SS"}),
                )
            }
        },
    };
    let mut live = state.live();
    let (total, rows) = live.pis_page(since, page_no, size);
    let mut body = format!("{{\"total\":{total},\"pageNo\":{page_no},\"list\":[").into_bytes();
    body.extend_from_slice(&rows);
    body.extend_from_slice(b"]}");
    // after the response is built, the register may re-save one record
    if state.faults.mutate_pis > 0.0 {
        let n = state.pis_responses.fetch_add(1, Ordering::Relaxed) + 1;
        let mut rng = SmallRng::seed_from_u64(state.faults.seed.wrapping_mul(7919).wrapping_add(n));
        if rng.random::<f64>() < state.faults.mutate_pis {
            live.mutate(&mut rng, state.clock_base);
        }
    }
    resp(200, JSON, body)
}
