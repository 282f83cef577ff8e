//! `popsync status`: per feed what is stored, quarantined, where its cursor stands and
//! how its last pull went. The JSON form is for scripts and stays stable.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use crate::config::{Config, FeedName};
use crate::feeds::streams_of;
use crate::store::{FeedStatusRow, Store, StoreError};

/// One feed in the status report.
#[derive(Debug, Serialize)]
pub struct FeedStatus {
    pub configured: bool,
    /// Distinct stored records (nhc: certificate versions; mca: marriages and cremations).
    pub records: i64,
    pub quarantined: i64,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
    pub newest_record_at: Option<String>,
    /// `ok`, `failing`, `never_run` or `not_configured`.
    pub state: &'static str,
    /// Cursor per stream.
    pub cursors: BTreeMap<String, Option<String>>,
    /// When the daemon pulls it next: the running daemon's own answer when it is
    /// reachable, else when the schedule fires next.
    pub next_run_at: Option<String>,
    /// Seconds since every stream of the feed last pulled successfully: how far behind
    /// popsync may be. `None` until it has succeeded once.
    pub lag_secs: Option<u64>,
    /// Seconds since the newest record the department delivered was written: large
    /// with a small `lag_secs` means the department had nothing new.
    pub newest_record_age_secs: Option<u64>,
}

/// What the running daemon says about itself (`GET /daemon` on `[http] admin_listen`).
#[derive(Debug, Serialize)]
pub struct DaemonStatus {
    /// Whether a daemon answered on `[http] admin_listen`.
    pub running: bool,
    pub listen: String,
    /// The daemon's own view, when it answered.
    pub view: Option<crate::daemon::DaemonView>,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub feeds: BTreeMap<&'static str, FeedStatus>,
    pub tickets: BTreeMap<String, BTreeMap<String, i64>>,
    pub last_reconcile: Option<serde_json::Value>,
    /// Each feed's last `popsync verify`: when, whether it repaired, and its counts.
    pub last_verify: BTreeMap<String, serde_json::Value>,
    /// The last `popsync reconcile --full`: when, of which run, equal or not, counts.
    pub last_full_check: Option<serde_json::Value>,
    pub daemon: DaemonStatus,
}

fn newest(a: Option<String>, b: &Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if *b > a { b.clone() } else { a }),
        (a, b) => a.or(b.clone()),
    }
}

/// Builds the report from the store (and the config, for schedules).
pub async fn report(store: &Store, config: &Config) -> Result<StatusReport, StoreError> {
    let counts = store.record_counts().await?;
    let states: Vec<FeedStatusRow> = store.feed_states().await?;
    let mut feeds = BTreeMap::new();
    for (name, records, quarantined) in counts {
        let feed = FeedName::parse(name).expect("known feed");
        let cfg = config.feed(feed);
        let mut st = FeedStatus {
            configured: cfg.is_some(),
            records,
            quarantined,
            last_attempt_at: None,
            last_success_at: None,
            last_error: None,
            newest_record_at: None,
            state: "never_run",
            cursors: BTreeMap::new(),
            next_run_at: cfg
                .and_then(|c| crate::daemon::next_fire(&c.schedule))
                .map(crate::domain::format_timestamp),
            lag_secs: None,
            newest_record_age_secs: None,
        };
        let mut all_succeeded = true;
        for stream in streams_of(feed) {
            let row = states.iter().find(|s| s.stream == *stream);
            st.cursors
                .insert(stream.to_string(), row.and_then(|r| r.cursor.clone()));
            let Some(row) = row else {
                all_succeeded = false;
                continue;
            };
            st.last_attempt_at = newest(st.last_attempt_at.take(), &row.last_attempt_at);
            st.newest_record_at = newest(st.newest_record_at.take(), &row.newest_record_at);
            if row.last_success_at.is_none() {
                all_succeeded = false;
            }
            st.last_success_at = match (&st.last_success_at, &row.last_success_at) {
                (None, s) => s.clone(),
                (Some(a), Some(b)) if b < a => Some(b.clone()),
                (a, _) => a.clone(),
            };
            if row.last_error.is_some() {
                st.last_error = row.last_error.clone();
            }
        }
        if let Some(cfg) = cfg {
            let rows: Vec<&FeedStatusRow> = states
                .iter()
                .filter(|r| streams_of(feed).contains(&r.stream.as_str()))
                .collect();
            st.lag_secs =
                crate::daemon::seconds_since_success(&rows, cfg).map(|s| s.max(0.0) as u64);
            st.newest_record_age_secs =
                crate::daemon::seconds_since_newest_record(&rows).map(|s| s.max(0.0) as u64);
        }
        st.state = if cfg.is_none() {
            "not_configured"
        } else if st.last_error.is_some() {
            "failing"
        } else if all_succeeded {
            "ok"
        } else {
            "never_run"
        };
        feeds.insert(name, st);
    }
    let mut tickets: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (kind, status, n) in store.ticket_counts(None).await? {
        tickets.entry(status).or_default().insert(kind, n);
    }
    let last_reconcile = store.recent_runs(1).await?.into_iter().next().map(|(run_id, as_of, finished_at, summary)| {
        json!({"run_id": run_id, "as_of": as_of, "finished_at": finished_at, "total": summary["total"]})
    });
    let last_verify = store
        .last_verifies()
        .await?
        .into_iter()
        .map(|v| {
            let mut entry = json!({"finished_at": v.finished_at, "repair": v.repair});
            if let (Some(e), Ok(serde_json::Value::Object(c))) =
                (entry.as_object_mut(), serde_json::to_value(v.counts))
            {
                e.extend(c);
            }
            (v.feed, entry)
        })
        .collect();
    let last_full_check = store.last_full_check().await?.map(|c| {
        json!({"checked_at": c.checked_at, "as_of": c.as_of, "run_id": c.run_id, "equal": c.equal,
               "ticket_differences": c.ticket_differences, "registry_differences": c.registry_differences})
    });
    let daemon = daemon_status(config).await;
    if let Some(view) = &daemon.view {
        for (name, f) in feeds.iter_mut() {
            if let Some(v) = view.feeds.get(*name) {
                f.next_run_at = v.next_run_at.clone();
                if v.last_outcome.as_deref() == Some("failed") && f.last_error.is_none() {
                    f.last_error = v.last_error.clone();
                    f.state = "failing";
                }
            }
        }
    }
    Ok(StatusReport {
        feeds,
        tickets,
        last_reconcile,
        last_verify,
        last_full_check,
        daemon,
    })
}

/// Asks a daemon listening on `[http] admin_listen` for its view; a quick `running: false`
/// when none answers.
async fn daemon_status(config: &Config) -> DaemonStatus {
    let listen = config.http.admin_listen.clone();
    let mut addr: std::net::SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(_) => {
            return DaemonStatus {
                running: false,
                listen,
                view: None,
            }
        }
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let view = async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .ok()?;
        let resp = client
            .get(format!("http://{addr}/daemon"))
            .send()
            .await
            .ok()?;
        resp.error_for_status()
            .ok()?
            .json::<crate::daemon::DaemonView>()
            .await
            .ok()
    }
    .await;
    DaemonStatus {
        running: view.is_some(),
        listen,
        view,
    }
}

/// The human form.
pub fn render_text(r: &StatusReport) -> String {
    let mut out = String::new();
    out.push_str(
        "feed  state           records  quarantined  last success               newest record\n",
    );
    for (name, f) in &r.feeds {
        out.push_str(&format!(
            "{name:<5} {:<15} {:>7}  {:>11}  {:<25}  {}\n",
            f.state,
            f.records,
            f.quarantined,
            f.last_success_at.as_deref().unwrap_or("-"),
            f.newest_record_at.as_deref().unwrap_or("-")
        ));
        for (stream, cursor) in &f.cursors {
            out.push_str(&format!(
                "      cursor {stream}: {}\n",
                cursor.as_deref().unwrap_or("-")
            ));
        }
        if let Some(e) = &f.last_error {
            out.push_str(&format!("      last error: {e}\n"));
        }
        if let Some(n) = &f.next_run_at {
            out.push_str(&format!("      next scheduled pull: {n}\n"));
        }
        if let Some(lag) = f.lag_secs {
            let newest = f
                .newest_record_age_secs
                .map_or("-".to_string(), |s| format!("{s} s"));
            out.push_str(&format!(
                "      lag: last full success {lag} s ago; newest record {newest} old\n"
            ));
        }
    }
    match &r.daemon.view {
        Some(view) => {
            out.push_str(&format!(
                "daemon: running on {} since {}\n",
                r.daemon.listen, view.started_at
            ));
            for (name, v) in &view.feeds {
                out.push_str(&format!(
                    "  {name:<5} {}last poll {} ({} new, {} ms), failures in a row {}\n",
                    if v.pulling { "pulling now; " } else { "" },
                    v.last_outcome.as_deref().unwrap_or("not yet"),
                    v.last_pull_new_records,
                    v.last_pull_duration_ms,
                    v.consecutive_failures
                ));
            }
        }
        None => out.push_str(&format!(
            "daemon: not answering on {} (next runs shown are the schedules')\n",
            r.daemon.listen
        )),
    }
    if let Some(run) = &r.last_reconcile {
        out.push_str(&format!(
            "last reconciliation: run {} as of {} finished {}\n",
            run["run_id"],
            run["as_of"].as_str().unwrap_or("-"),
            run["finished_at"].as_str().unwrap_or("-")
        ));
    }
    for (feed, v) in &r.last_verify {
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        out.push_str(&format!(
            "last verify of {feed}: {} — served {}, stored {}, missing {}, changed {}, extra {}, repaired {}\n",
            v["finished_at"].as_str().unwrap_or("-"),
            n("served"),
            n("stored"),
            n("missing"),
            n("changed"),
            n("extra"),
            n("repaired")
        ));
    }
    if let Some(c) = &r.last_full_check {
        out.push_str(&format!(
            "last full check: {} of run {} as of {} — {} ({} ticket differences, {} registry differences)\n",
            c["checked_at"].as_str().unwrap_or("-"),
            c["run_id"],
            c["as_of"].as_str().unwrap_or("-"),
            if c["equal"] == true { "equal" } else { "DIFFERENT" },
            c["ticket_differences"],
            c["registry_differences"]
        ));
    }
    if let Some(open) = r.tickets.get("open") {
        let total: i64 = open.values().sum();
        out.push_str(&format!("open tickets: {total}\n"));
        for (k, n) in open {
            out.push_str(&format!("  {k:<24} {n}\n"));
        }
    }
    out
}
