//! The township page in a real browser: headless Chromium loads the page from the real
//! server, and the test works it as a person would, through the Chrome DevTools Protocol:
//! it types the token into the sign-in form, presses the page's own links and buttons,
//! waits on `<body data-state>` (see `app.js`) and reads the DOM the page ends with. A
//! token is never put in an address, except to check that the page refuses it there.
//! Skipped, with a message, where Chromium is not installed.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use popsync::domain::mask_id_str;
use popsync::tickets::TicketKind;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::api::{a1, b1, spawn_app, App, TOWN_A, TOWN_B};

pub(crate) mod picture;
mod readiness;
mod screens;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The longest any one wait on the browser may take: its start, one protocol call, or
/// the page reaching a state. The page answers in milliseconds; this is for a loaded CI.
const WAIT: Duration = Duration::from_secs(20);

/// How often a wait looks at the page again.
const POLL: Duration = Duration::from_millis(50);

fn chromium_missing() -> bool {
    if Path::new(CHROMIUM).exists() {
        return false;
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED browser test: {CHROMIUM} is not installed (apt-get install -y chromium)"
    );
    true
}

/// One headless Chromium with one tab, driven over the DevTools Protocol. Chromium is
/// killed when this is dropped (a failed assertion included), and its profile removed.
struct Browser {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The tab's DevTools session: commands sent with it go to the page.
    session: String,
    next_id: u64,
    base: String,
    /// Chromium's stderr so far, shown when something fails.
    log: Arc<Mutex<String>>,
    chromium: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium on a fresh profile with DevTools on a free port, connects to it and
    /// opens one blank tab for pages of `base` (the server's address).
    async fn launch(base: &str) -> Browser {
        let profile = tempfile::tempdir().expect("a profile folder");
        // The page does all of a download up to the browser saving the file; Chromium is
        // told not to save it (`download_restrictions`), so no save is still running when
        // Chromium is closed. The page records in its DOM what it handed to the browser
        // (name, size, first bytes).
        std::fs::create_dir_all(profile.path().join("Default")).expect("profile folder");
        let prefs = json!({
            "download": {"prompt_for_download": false},
            "download_restrictions": 3,
            "safebrowsing": {"enabled": false},
        });
        std::fs::write(
            profile.path().join("Default/Preferences"),
            prefs.to_string(),
        )
        .expect("preferences written");
        let mut chromium = tokio::process::Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .env("HOME", profile.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");

        // Chromium names its DevTools address on stderr once it listens (port 0 lets it
        // pick a free one). Its stderr is read to the end afterwards, so a full pipe never
        // stalls it, and kept for failure messages.
        let log = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(chromium.stderr.take().expect("stderr piped")).lines();
        let listening = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().expect("log").push_str(&format!("{line}\n"));
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return Some(url.trim().to_string());
                }
            }
            None
        })
        .await;
        let Ok(Some(ws_url)) = listening else {
            panic!(
                "chromium named no DevTools address within {WAIT:?}; its stderr:\n{}",
                log.lock().expect("log")
            );
        };
        let drained = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                drained.lock().expect("log").push_str(&format!("{line}\n"));
            }
        });

        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(&ws_url))
            .await
            .unwrap_or_else(|_| panic!("no DevTools connection to {ws_url} within {WAIT:?}"))
            .unwrap_or_else(|e| panic!("DevTools connection to {ws_url}: {e}"));
        let mut browser = Browser {
            ws,
            session: String::new(),
            next_id: 0,
            base: base.to_string(),
            log,
            chromium,
            _profile: profile,
        };
        let target = browser
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await
            .unwrap_or_else(|e| panic!("a tab: {e}{}", browser.log()));
        let attached = browser
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await
            .unwrap_or_else(|e| panic!("attaching to the tab: {e}{}", browser.log()));
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session ID")
            .to_string();
        browser
    }

    /// Chromium's stderr so far, to end a failure message with.
    fn log(&self) -> String {
        format!("\nchromium's stderr:\n{}", self.log.lock().expect("log"))
    }

    /// Sends one DevTools command (to the tab when `session` is given, else to the
    /// browser) and returns its result. Events are skipped: the test looks at the page
    /// itself instead of following them. A protocol error, a closed connection or no
    /// answer within `WAIT` is an `Err` with what happened.
    async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        let ws = &mut self.ws;
        let exchange = async {
            ws.send(Message::text(command.to_string()))
                .await
                .map_err(|e| format!("sending {method}: {e}"))?;
            while let Some(frame) = ws.next().await {
                let frame = frame.map_err(|e| format!("awaiting {method}: {e}"))?;
                let Message::Text(text) = frame else { continue };
                let reply: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("a DevTools message that is not JSON: {e}"))?;
                if reply["id"] != json!(id) {
                    continue;
                }
                return match reply.get("error") {
                    Some(error) => Err(format!("{method}: {error}")),
                    None => Ok(reply["result"].clone()),
                };
            }
            Err(format!("the DevTools connection closed awaiting {method}"))
        };
        tokio::time::timeout(WAIT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer to {method} within {WAIT:?}")))
    }

    /// Sends one DevTools command to the tab.
    async fn page(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let session = self.session.clone();
        self.call(Some(&session), method, params).await
    }

    /// Runs `js` in the page and returns its value (a promise awaited), or the exception
    /// it threw. While a document is being replaced there is briefly nothing to run it in;
    /// that is an `Err` too, which the waits below take as "not yet".
    async fn try_eval(&mut self, js: &str) -> Result<Value, String> {
        let result = self
            .page(
                "Runtime.evaluate",
                json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(thrown) = result.get("exceptionDetails") {
            let text = thrown["exception"]["description"]
                .as_str()
                .or(thrown["text"].as_str())
                .unwrap_or("an exception");
            return Err(text.to_string());
        }
        Ok(result["result"]
            .get("value")
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// Runs `js` in the page and returns its value; a thrown exception fails the test.
    async fn eval(&mut self, js: &str) -> Value {
        match self.try_eval(js).await {
            Ok(value) => value,
            Err(e) => panic!("{js}\nfailed in the page: {e}{}", self.log()),
        }
    }

    /// Runs `js` in the page and returns the string it gives.
    async fn text(&mut self, js: &str) -> String {
        match self.eval(js).await {
            Value::String(s) => s,
            other => panic!("{js} gave {other}, not a string"),
        }
    }

    /// Waits until `js` gives `true` in the page, at most `WAIT`; `what` names the wait in
    /// the failure, which shows the page's state and DOM.
    async fn wait_for(&mut self, js: &str, what: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.try_eval(js).await == Ok(Value::Bool(true)) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let state = self
                    .try_eval("document.body && document.body.getAttribute('data-state')")
                    .await;
                let dom = match self.try_eval("document.documentElement.outerHTML").await {
                    Ok(Value::String(dom)) => dom,
                    other => format!("(none: {other:?})"),
                };
                panic!(
                    "waited {WAIT:?} for {what}; the page's state is {state:?}; DOM:\n{dom}{}",
                    self.log()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the page says (`<body data-state>`) it is in `state`. The page turns
    /// to `loading` as soon as a request goes out, so a state reached is the answer to
    /// the last thing done, not the one before it.
    async fn wait_state(&mut self, state: &str) {
        let js = format!(
            "document.body !== null && document.body.getAttribute('data-state') === {}",
            json!(state)
        );
        self.wait_for(&js, &format!("the page in state {state:?}"))
            .await;
    }

    /// Asks the tab to go to `url` and waits until the document there has loaded.
    async fn navigate(&mut self, url: &str, loaded: &str) {
        let went = self.page("Page.navigate", json!({"url": url})).await;
        match went {
            Ok(r) if r.get("errorText").is_none() => {}
            other => panic!("navigating to {url}: {other:?}{}", self.log()),
        }
        self.wait_for(loaded, &format!("{url} to load")).await;
    }

    /// Loads `path` (what follows the server's address) as a new document, as typing it
    /// into the address bar of this tab would; the tab's sessionStorage carries over. It
    /// goes through `about:blank` first, so an address that differs from the current one
    /// only in its fragment is loaded afresh rather than scrolled to.
    async fn goto(&mut self, path: &str) {
        self.navigate("about:blank", "location.href === 'about:blank'")
            .await;
        let loaded = format!(
            "location.origin === {} && document.readyState === 'complete'",
            json!(self.base)
        );
        let url = format!("{}{path}", self.base);
        self.navigate(&url, &loaded).await;
    }

    /// The element `selector` names, as a script expression that throws when there is no
    /// such element or a person could not see it (it or a parent is `hidden`).
    fn visible(selector: &str) -> String {
        let s = json!(selector);
        format!(
            "(() => {{ const e = document.querySelector({s}); \
             if (!e) throw new Error('no element ' + {s}); \
             if (e.closest('[hidden]')) throw new Error({s} + ' is hidden'); \
             return e; }})()"
        )
    }

    /// Types `value` into the visible field `selector`.
    async fn fill(&mut self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const e = {}; e.value = {}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}})); }})()",
            Self::visible(selector),
            json!(value)
        );
        self.eval(&js).await;
    }

    /// Clicks the visible element `selector` (a button submits its form, a link follows
    /// its address), as a person would.
    async fn click(&mut self, selector: &str) {
        let js = format!("{}.click()", Self::visible(selector));
        self.eval(&js).await;
    }

    /// Signs in through the page's form: the token typed into its field, its button
    /// pressed. The caller waits for the state that should follow.
    async fn sign_in(&mut self, token: &str) {
        self.fill("#token-input", token).await;
        self.click("#sign-in-form button[type=submit]").await;
    }

    /// The page's DOM as it is now.
    async fn dom(&mut self) -> String {
        self.text("document.documentElement.outerHTML").await
    }

    /// Asks Chromium to close and waits (at most `WAIT`) until it has; should it not,
    /// dropping its handle kills it.
    async fn close(mut self) {
        let _ = self.call(None, "Browser.close", json!({})).await;
        let _ = tokio::time::timeout(WAIT, self.chromium.wait()).await;
    }
}

/// One of the page's status attributes (on `#download-status`), as the page set it.
async fn download_status(browser: &mut Browser, attribute: &str) -> String {
    let js = format!(
        "document.getElementById('download-status').getAttribute({}) || ''",
        json!(attribute)
    );
    browser.text(&js).await
}

/// A token put in an address is refused: the page signs nobody in with it, takes it out
/// of the address and keeps nothing of it, and says why beside the sign-in form.
async fn refuses_token_in_address(browser: &mut Browser, token: &str) {
    browser.wait_state("signed-out").await;
    let href = browser.text("location.href").await;
    assert!(
        !href.contains(token) && !href.contains("token="),
        "the token is taken out of the address: {href}"
    );
    assert_eq!(
        browser.eval("sessionStorage.length").await,
        json!(0),
        "nothing is kept in sessionStorage"
    );
    let dom = browser.dom().await;
    assert!(
        dom.contains("data-code=\"token_in_address\"") && dom.contains("链接中不能带令牌"),
        "the sign-in form says why:\n{dom}"
    );
    assert!(!dom.contains(token), "the token is not in the page");
}

/// The first token the fixture made for `township` (B has only one) was never used: it
/// was not presented to the API (its last use is unset) and no audit entry names it.
async fn never_used(app: &App, township: &str) {
    let tokens = app.store.list_tokens().await.expect("tokens");
    let row = tokens
        .iter()
        .find(|t| t.township.as_deref() == Some(township))
        .expect("the township's token is listed");
    assert_eq!(
        row.last_used_at, None,
        "the API never saw {}'s token",
        row.name
    );
    let audit = app.store.audit_entries(None, 1000).await.expect("audit");
    let actor = format!("({})", row.token_id);
    assert!(
        !audit.iter().any(|e| e.actor.contains(&actor)),
        "no audit entry by {}: {audit:#?}",
        row.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_township_works_its_list_in_the_browser() {
    if chromium_missing() {
        return;
    }
    let app = spawn_app().await;
    let token = app.token_a.clone();
    let own = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_A).await;
    let other = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_B).await;
    let mut browser = Browser::launch(&app.base).await;

    // Without a token: the sign-in form.
    browser.goto("/").await;
    browser.wait_state("signed-out").await;
    assert!(browser.dom().await.contains("访问令牌"));

    // A valid token in a link, in the fragment or in the query, signs nobody in.
    browser.goto(&format!("/#token={}", app.token_b)).await;
    refuses_token_in_address(&mut browser, &app.token_b).await;
    browser
        .goto(&format!("/?token={}#township={TOWN_A}", app.token_b))
        .await;
    refuses_token_in_address(&mut browser, &app.token_b).await;
    let href = browser.text("location.href").await;
    assert!(
        href.ends_with(&format!("/#township={TOWN_A}")),
        "what holds no secret stays: {href}"
    );
    never_used(&app, TOWN_B).await;

    // A revoked token is sent back to sign in.
    browser.goto("/").await;
    browser.wait_state("signed-out").await;
    browser.sign_in(&app.revoked).await;
    browser.wait_state("signed-out").await;
    let dom = browser.dom().await;
    assert!(dom.contains("data-code=\"unauthorized\""), "{dom}");

    // Signed in: the township's open tickets grouped by kind, IDs masked, the chart.
    browser.sign_in(&token).await;
    browser.wait_state("list").await;
    let dom = browser.dom().await;
    assert!(dom.contains("城关镇"), "the header names the township");
    for kind in ["DEATH_NOT_RECORDED", "IDENTITY_MISMATCH", "INVALID_ID"] {
        assert!(
            dom.contains(&format!("class=\"group\" data-kind=\"{kind}\"")),
            "group {kind} shown:\n{dom}"
        );
    }
    assert!(dom.contains("死亡未注销（1）"), "groups carry their counts");
    assert!(dom.contains(&format!("data-ticket=\"{own}\"")));
    assert!(
        !dom.contains(&format!("data-ticket=\"{other}\"")),
        "another township's ticket is not listed"
    );
    assert!(
        dom.contains(&mask_id_str(&a1())) && !dom.contains(&a1()),
        "the list masks IDs"
    );
    assert!(
        dom.contains("id=\"chart-svg\"") && dom.contains("<rect"),
        "the chart is drawn"
    );
    assert!(!dom.contains(&token), "the token does not stay in the page");
    let href = browser.text("location.href").await;
    assert!(!href.contains(&token), "nor in the address: {href}");

    // One ticket, opened from the list: the whole ID and each department's evidence side
    // by side.
    browser.click(&format!("tr[data-ticket=\"{own}\"] a")).await;
    browser.wait_state("detail").await;
    let dom = browser.dom().await;
    assert!(dom.contains(&a1()), "the detail view shows the whole ID");
    for source in ["psb", "mca", "nhc", "pis"] {
        assert!(
            dom.contains(&format!("data-source=\"{source}\"")),
            "a column for {source}"
        );
    }
    assert!(
        dom.contains("公安")
            && dom.contains("民政")
            && dom.contains("卫健")
            && dom.contains("人口库")
    );
    assert!(
        dom.contains("HH2024-00812"),
        "the cremation record is shown"
    );

    // Dismiss it with a reason, through the page's own form.
    browser.fill("#dismiss-reason", "已核实：长期在国外").await;
    browser.click("#dismiss-form button[type=submit]").await;
    browser.wait_state("detail").await;
    let dom = browser.dom().await;
    assert!(
        dom.contains("data-action=\"dismiss:ok\""),
        "the dismissal went through:\n{dom}"
    );
    assert!(
        dom.contains("data-status=\"dismissed\""),
        "the page shows the new status"
    );
    assert!(
        dom.contains("已核实：长期在国外"),
        "the history shows the reason"
    );
    assert_eq!(app.status_of(&own).await, "dismissed");

    // And open it again, with its reason.
    browser.fill("#reopen-reason", "误驳回，重新核实").await;
    browser.click("#reopen-form button[type=submit]").await;
    browser.wait_state("detail").await;
    let dom = browser.dom().await;
    assert!(
        dom.contains("data-action=\"reopen:ok\"") && dom.contains("data-status=\"open\""),
        "the ticket is open again:\n{dom}"
    );
    assert!(dom.contains("误驳回，重新核实"), "the history shows why");
    assert_eq!(app.status_of(&own).await, "open");

    // Back to the list, and download the spreadsheet: fetched with the token, handed to
    // the browser to save under the township's name.
    browser.click("#back").await;
    browser.wait_state("list").await;
    browser.click("#download-xlsx").await;
    browser
        .wait_for(
            "document.getElementById('download-status').dataset.state === 'done'",
            "the spreadsheet",
        )
        .await;
    assert!(
        browser.dom().await.contains("data-action=\"download:ok\""),
        "the download finished"
    );
    assert_eq!(
        download_status(&mut browser, "data-magic").await,
        "PK",
        "an .xlsx (a zip) was handed over"
    );
    let name = download_status(&mut browser, "data-name").await;
    assert!(
        name.starts_with("城关镇-问题清单-") && name.ends_with(".xlsx"),
        "named for the township: {name:?}"
    );
    let bytes: u64 = download_status(&mut browser, "data-bytes")
        .await
        .parse()
        .unwrap_or(0);
    assert!(bytes > 1000, "a real workbook, {bytes} bytes");

    // And the CSV, with the byte-order mark that lets Excel read it as UTF-8.
    browser.click("#download-csv").await;
    browser
        .wait_for(
            "document.getElementById('download-status').dataset.state === 'done'",
            "the CSV",
        )
        .await;
    assert_eq!(download_status(&mut browser, "data-magic").await, "BOM");
    let name = download_status(&mut browser, "data-name").await;
    assert!(
        name.starts_with("城关镇-问题清单-") && name.ends_with(".csv"),
        "named for the township: {name:?}"
    );

    // A token put into the address of a signed-in tab signs it out; its own token goes
    // too, so a reload cannot sign in behind the form.
    browser
        .eval(&format!(
            "location.hash = {}",
            json!(format!("token={}", app.token_b))
        ))
        .await;
    refuses_token_in_address(&mut browser, &app.token_b).await;

    // Another township's ticket by address, once signed in: not found, nothing of it shown.
    browser.goto(&format!("/#ticket={other}")).await;
    browser.wait_state("signed-out").await;
    browser.sign_in(&token).await;
    browser.wait_state("not-found").await;
    let dom = browser.dom().await;
    assert!(dom.contains("data-code=\"not_found\""));
    assert!(
        !dom.contains(&b1()) && !dom.contains(&mask_id_str(&b1())),
        "nothing of B's ticket leaks"
    );
    browser.close().await;

    // The audit trail has the page's reads, the changes, the downloads and the probe, and
    // nothing by the token that was only ever put in addresses.
    let audit = app
        .store
        .audit_entries(Some(TOWN_A), 100)
        .await
        .expect("audit");
    let has = |action: &str, result: &str| {
        audit.iter().any(|e| {
            e.action.as_str() == action
                && e.result.as_str() == result
                && e.actor.contains("城关镇-张三")
        })
    };
    assert!(
        has("tickets.list", "ok")
            && has("ticket.read", "ok")
            && has("ticket.dismiss", "ok")
            && has("ticket.reopen", "ok")
            && has("tickets.export", "ok")
            && has("ticket.read", "not_found"),
        "{audit:#?}"
    );
    let exports = audit
        .iter()
        .filter(|e| e.action.as_str() == "tickets.export" && e.actor.contains("城关镇-张三"))
        .count();
    assert_eq!(exports, 2, "both downloads audited: {audit:#?}");
    never_used(&app, TOWN_B).await;
}
