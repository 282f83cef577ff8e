//! Configuration: the TOML file operators write, checked whole at start so that a
//! mistake is refused with the key named instead of surfacing at 3 a.m.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

mod inspection;
pub use inspection::InspectionConfig;

/// Where the configuration is read from when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/popsync/popsync.toml";

/// A configuration problem, always naming the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// A secret read from a file or the environment; its Debug form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The whole file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database: DatabaseConfig,
    city: RawCity,
    #[serde(default)]
    feeds: RawFeeds,
    #[serde(default)]
    reconcile: ReconcileConfig,
    #[serde(default)]
    verify: VerifyConfig,
    #[serde(default)]
    http: HttpConfig,
    #[serde(default)]
    daemon: DaemonConfig,
    #[serde(default)]
    inspection: InspectionConfig,
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (created on first use; a relative path is relative to the working
    /// directory) or `postgres://user@host/db`.
    pub url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCity {
    counties: Vec<String>,
    #[serde(default)]
    townships: BTreeMap<String, String>,
}

/// `[city]`: which county codes are this city's, and the townships' names.
#[derive(Debug, Clone)]
pub struct CityConfig {
    /// 6-digit county codes.
    pub counties: Vec<String>,
    /// 9-digit township code → name, for exports and pages.
    pub townships: BTreeMap<String, String>,
}

impl CityConfig {
    /// Whether a 12- or 9-digit division code lies in one of the city's counties.
    pub fn contains(&self, code: &str) -> bool {
        code.len() >= 6 && self.counties.iter().any(|c| code.starts_with(c.as_str()))
    }

    /// The township's name when configured, else its code.
    pub fn township_name<'a>(&'a self, code: &'a str) -> &'a str {
        self.townships.get(code).map(String::as_str).unwrap_or(code)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeeds {
    psb: Option<RawFeed>,
    mca: Option<RawFeed>,
    nhc: Option<RawFeed>,
    pis: Option<RawFeed>,
}

/// One `[feeds.NAME]` table as written; which secret keys are allowed depends on the feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    base_url: String,
    token_file: Option<PathBuf>,
    token_env: Option<String>,
    api_key_file: Option<PathBuf>,
    api_key_env: Option<String>,
    schedule: Option<String>,
    page_size: Option<u32>,
    overlap_days: Option<u32>,
    start_date: Option<NaiveDate>,
    timeout_secs: Option<u64>,
    max_retries: Option<u32>,
    retry_max_delay_secs: Option<u64>,
    stale_after_secs: Option<u64>,
    allow_http: Option<bool>,
    ca_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_key_file: Option<PathBuf>,
    max_response_bytes: Option<u64>,
    max_pages_per_pull: Option<u64>,
}

/// The four departments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeedName {
    Psb,
    Mca,
    Nhc,
    Pis,
}

impl FeedName {
    pub const ALL: [FeedName; 4] = [FeedName::Psb, FeedName::Mca, FeedName::Nhc, FeedName::Pis];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedName::Psb => "psb",
            FeedName::Mca => "mca",
            FeedName::Nhc => "nhc",
            FeedName::Pis => "pis",
        }
    }

    pub fn parse(s: &str) -> Option<FeedName> {
        FeedName::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl fmt::Display for FeedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One feed, checked: URL parsed, secret read, schedule parsed.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub name: FeedName,
    pub base_url: reqwest::Url,
    /// Bearer token (psb, nhc, pis) or API key (mca).
    pub secret: Secret,
    /// Cron expression with seconds (`sec min hour day month weekday`), for `popsync run`.
    pub schedule: cron::Schedule,
    /// The schedule as written, for status output.
    pub schedule_text: String,
    /// Records asked per request (psb ≤ 1000, nhc ≤ 500, pis ≤ 1000).
    pub page_size: u32,
    /// mca: days re-read before the last window end, for late uploads (default 7).
    pub overlap_days: u32,
    /// mca: the first day to read on a fresh store (default 2010-01-01).
    pub start_date: NaiveDate,
    /// One request's time limit.
    pub timeout_secs: u64,
    /// Attempts after the first before a transient fault fails the sync.
    pub max_retries: u32,
    /// Upper bound of one backoff delay (a `Retry-After` is honoured up to this too).
    pub retry_max_delay_secs: u64,
    /// Readiness fails when the feed has had no success for this long.
    pub stale_after_secs: u64,
    /// PEM certificates of an internal CA, trusted beside the system's roots
    /// (`ca_file`): government data-exchange platforms often sign with their own.
    pub ca_pem: Option<Vec<u8>>,
    /// The client certificate and its key, PEM, for mutual TLS (`client_cert_file`
    /// and `client_key_file`).
    pub client_identity_pem: Option<Vec<u8>>,
    /// The largest response body read, in bytes (default 64 MiB): a body past it
    /// fails the page instead of filling memory.
    pub max_response_bytes: u64,
    /// The most pages one pull of one stream asks for (default 100,000): a feed that
    /// never ends fails instead of running for ever.
    pub max_pages_per_pull: u64,
}

/// `[reconcile]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    /// An event is overdue once its date is this many days before the as-of date.
    #[serde(default = "default_grace")]
    pub grace_days: i64,
    /// Grace for `BIRTH_NOT_REGISTERED`.
    #[serde(default = "default_birth_grace")]
    pub birth_registration_grace_days: i64,
    /// When `popsync run` reconciles (besides after a sync that brought records).
    #[serde(default = "default_reconcile_schedule")]
    pub schedule: String,
    /// When `popsync run` makes the full check (`popsync reconcile --full`): the whole
    /// city recomputed in memory and compared with the stored tickets and registry, an
    /// ERROR and `popsync_reconcile_full_equal` 0 if they differ. Cron with seconds,
    /// checked at start; default weekly, Sunday 03:30, after the verify.
    #[serde(default = "default_full_schedule")]
    pub full_schedule: String,
    /// Buckets of cases recomputed at once (default 2): one bucket's reads and writes
    /// go on while another's rules run. `popsync reconcile --workers` overrides it.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Cases per bucket (default 50,000): a run holds a bucket per worker in memory.
    #[serde(default = "default_cases_per_bucket")]
    pub cases_per_bucket: usize,
}

/// `[verify]`: the whole comparison of each feed with the store that `popsync run`
/// makes on its own (docs/operations.md, "Verify").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// When `popsync run` reads every feed whole and compares it with the store: cron
    /// with seconds. Default weekly, Sunday 03:00, when the departments are quiet.
    #[serde(default = "default_verify_schedule")]
    pub schedule: String,
    /// Whether that verify stores what it finds missing or changed, as `--repair` does
    /// (a reconciliation follows). It never deletes.
    #[serde(default = "default_verify_repair")]
    pub repair: bool,
}

fn default_verify_schedule() -> String {
    "0 0 3 * * Sun".to_string()
}
fn default_verify_repair() -> bool {
    true
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig {
            schedule: default_verify_schedule(),
            repair: default_verify_repair(),
        }
    }
}

fn default_grace() -> i64 {
    30
}
fn default_birth_grace() -> i64 {
    60
}
fn default_reconcile_schedule() -> String {
    "0 30 2 * * *".to_string()
}
fn default_full_schedule() -> String {
    "0 30 3 * * Sun".to_string()
}
fn default_workers() -> usize {
    2
}
fn default_cases_per_bucket() -> usize {
    50_000
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            grace_days: default_grace(),
            birth_registration_grace_days: default_birth_grace(),
            schedule: default_reconcile_schedule(),
            full_schedule: default_full_schedule(),
            workers: default_workers(),
            cases_per_bucket: default_cases_per_bucket(),
        }
    }
}

/// `[http]`: two listeners, the townships' (API, page) and the operators' (metrics,
/// readiness, the daemon's view), each bounded against slow and greedy clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The townships' listener: `/healthz`, the API and the page.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The operators' listener: `/metrics`, `/readyz`, `/daemon` and `/healthz`.
    /// Loopback by default: townships never reach it.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: String,
    /// PEM certificate chain for TLS on `listen` (with `tls_key_file`); without both,
    /// `listen` speaks plain HTTP (behind a reverse proxy that terminates TLS).
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// A request head (and a TLS handshake) not complete within this many seconds is
    /// dropped: a client trickling bytes cannot hold a connection.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// A request not answered within this many seconds gets 408.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// Connections served at once per listener; more are closed at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_listen() -> String {
    "127.0.0.1:9464".to_string()
}
fn default_admin_listen() -> String {
    "127.0.0.1:9465".to_string()
}
fn default_header_read_timeout() -> u64 {
    10
}
fn default_request_timeout() -> u64 {
    60
}
fn default_max_connections() -> usize {
    256
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            admin_listen: default_admin_listen(),
            tls_cert_file: None,
            tls_key_file: None,
            header_read_timeout_secs: default_header_read_timeout(),
            request_timeout_secs: default_request_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

/// `[daemon]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// How long SIGTERM waits for work in flight before giving up on it.
    #[serde(default = "default_shutdown")]
    pub shutdown_timeout_secs: u64,
}

fn default_shutdown() -> u64 {
    30
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            shutdown_timeout_secs: default_shutdown(),
        }
    }
}

/// The checked configuration every command works from.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub city: CityConfig,
    /// Configured feeds, in psb, mca, nhc, pis order.
    pub feeds: Vec<FeedConfig>,
    pub reconcile: ReconcileConfig,
    pub reconcile_schedule: cron::Schedule,
    /// `[reconcile] full_schedule`, parsed.
    pub reconcile_full_schedule: cron::Schedule,
    pub verify: VerifyConfig,
    pub verify_schedule: cron::Schedule,
    pub http: HttpConfig,
    pub daemon: DaemonConfig,
    pub inspection: InspectionConfig,
}

impl Config {
    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path, &|name| std::env::var(name).ok())
    }

    /// Checks TOML text; `env` looks up environment variables (tests pass their own).
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string()
                + &e.span()
                    .map(|s| format!(" (at {})", line_col(text, s.start)))
                    .unwrap_or_default(),
        })?;
        check_database_url(&raw.database.url)?;
        if raw.city.counties.is_empty() {
            return Err(invalid(
                "city.counties",
                "must list at least one county code",
            ));
        }
        for c in &raw.city.counties {
            if c.len() != 6 || !c.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    "city.counties",
                    format!("{c:?} is not a 6-digit county code"),
                ));
            }
        }
        for code in raw.city.townships.keys() {
            if code.len() != 9 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    format!("city.townships.{code}"),
                    "must be a 9-digit township code",
                ));
            }
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut feeds = Vec::new();
        for (name, feed) in [
            (FeedName::Psb, raw.feeds.psb),
            (FeedName::Mca, raw.feeds.mca),
            (FeedName::Nhc, raw.feeds.nhc),
            (FeedName::Pis, raw.feeds.pis),
        ] {
            if let Some(feed) = feed {
                feeds.push(check_feed(name, feed, base, env)?);
            }
        }
        if raw.reconcile.grace_days < 0 || raw.reconcile.birth_registration_grace_days < 0 {
            return Err(invalid("reconcile.grace_days", "must not be negative"));
        }
        if !(1..=64).contains(&raw.reconcile.workers) {
            return Err(invalid("reconcile.workers", "must be 1 to 64"));
        }
        if raw.reconcile.cases_per_bucket == 0 {
            return Err(invalid("reconcile.cases_per_bucket", "must be at least 1"));
        }
        let reconcile_schedule = parse_schedule("reconcile.schedule", &raw.reconcile.schedule)?;
        let verify_schedule = parse_schedule("verify.schedule", &raw.verify.schedule)?;
        let reconcile_full_schedule =
            parse_schedule("reconcile.full_schedule", &raw.reconcile.full_schedule)?;
        let mut http = raw.http;
        for (key, addr) in [
            ("http.listen", &http.listen),
            ("http.admin_listen", &http.admin_listen),
        ] {
            addr.parse::<std::net::SocketAddr>()
                .map_err(|e| invalid(key, format!("{addr:?}: {e}")))?;
        }
        if http.listen == http.admin_listen {
            return Err(invalid(
                "http.admin_listen",
                "must differ from http.listen: operators' endpoints are not for townships",
            ));
        }
        match (&mut http.tls_cert_file, &mut http.tls_key_file) {
            (Some(cert), Some(key)) => {
                for (k, p) in [("http.tls_cert_file", cert), ("http.tls_key_file", key)] {
                    if p.is_relative() {
                        *p = base.join(&*p);
                    }
                    if !p.is_file() {
                        return Err(invalid(k, format!("cannot read {}", p.display())));
                    }
                }
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(invalid(
                    "http.tls_key_file",
                    "missing: tls_cert_file needs its key",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "http.tls_cert_file",
                    "missing: tls_key_file needs its certificate",
                ))
            }
        }
        if http.header_read_timeout_secs == 0 || http.request_timeout_secs == 0 {
            return Err(invalid(
                "http.header_read_timeout_secs",
                "timeouts are at least 1 second",
            ));
        }
        if http.max_connections == 0 {
            return Err(invalid("http.max_connections", "at least 1"));
        }
        raw.inspection.check()?;
        Ok(Config {
            database: raw.database,
            city: CityConfig {
                counties: raw.city.counties,
                townships: raw.city.townships,
            },
            feeds,
            reconcile: raw.reconcile,
            reconcile_schedule,
            reconcile_full_schedule,
            verify: raw.verify,
            verify_schedule,
            http,
            daemon: raw.daemon,
            inspection: raw.inspection,
        })
    }

    /// The configured feed of that name.
    pub fn feed(&self, name: FeedName) -> Option<&FeedConfig> {
        self.feeds.iter().find(|f| f.name == name)
    }
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    format!("line {line}")
}

fn check_database_url(url: &str) -> Result<(), ConfigError> {
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(())
    } else {
        Err(invalid(
            "database.url",
            format!("{url:?} must start with sqlite:// or postgres://"),
        ))
    }
}

/// Parses a cron schedule and refuses one that never fires.
pub fn parse_schedule(key: &str, text: &str) -> Result<cron::Schedule, ConfigError> {
    let schedule: cron::Schedule = text.parse().map_err(|e: cron::error::Error| {
        // The cron crate's message spans lines (the text, a caret, the cause): one
        // line reads better in the journal.
        let cause = e.to_string();
        let cause = cause
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "^" && *l != text.trim())
            .collect::<Vec<_>>()
            .join(" ");
        invalid(
            key,
            format!("{text:?} is not a cron schedule (sec min hour day month weekday): {cause}"),
        )
    })?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(invalid(key, format!("{text:?} never fires")));
    }
    Ok(schedule)
}

fn check_feed(
    name: FeedName,
    raw: RawFeed,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<FeedConfig, ConfigError> {
    let key = |k: &str| format!("feeds.{name}.{k}");
    let base_url = reqwest::Url::parse(&raw.base_url)
        .map_err(|e| invalid(key("base_url"), format!("{:?}: {e}", raw.base_url)))?;
    if !matches!(base_url.scheme(), "http" | "https") || base_url.host().is_none() {
        return Err(invalid(
            key("base_url"),
            format!("{:?} must be an http(s) URL", raw.base_url),
        ));
    }
    if base_url.scheme() == "http" && raw.allow_http != Some(true) {
        return Err(invalid(
            key("base_url"),
            format!(
                "{:?} is plain HTTP: personal data and the credentials would cross the network unencrypted; use https, or set {} = true for a trusted network",
                raw.base_url,
                key("allow_http")
            ),
        ));
    }
    let read_pem = |k: &str, path: &Path| -> Result<Vec<u8>, ConfigError> {
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        };
        std::fs::read(&path)
            .map_err(|e| invalid(key(k), format!("cannot read {}: {e}", path.display())))
    };
    let ca_pem = match &raw.ca_file {
        None => None,
        Some(path) => {
            let pem = read_pem("ca_file", path)?;
            match reqwest::Certificate::from_pem_bundle(&pem) {
                Ok(certs) if !certs.is_empty() => Some(pem),
                Ok(_) => return Err(invalid(key("ca_file"), "holds no PEM certificate")),
                Err(e) => return Err(invalid(key("ca_file"), format!("not a PEM bundle: {e}"))),
            }
        }
    };
    let client_identity_pem = match (&raw.client_cert_file, &raw.client_key_file) {
        (None, None) => None,
        (Some(cert), Some(k)) => {
            let mut pem = read_pem("client_cert_file", cert)?;
            pem.push(b'\n');
            pem.extend(read_pem("client_key_file", k)?);
            if let Err(e) = reqwest::Identity::from_pem(&pem) {
                return Err(invalid(
                    key("client_cert_file"),
                    format!("the certificate and key do not make a client identity: {e}"),
                ));
            }
            Some(pem)
        }
        (Some(_), None) => {
            return Err(invalid(
                key("client_key_file"),
                "missing: client_cert_file needs its key",
            ))
        }
        (None, Some(_)) => {
            return Err(invalid(
                key("client_cert_file"),
                "missing: client_key_file needs its certificate",
            ))
        }
    };
    let max_response_bytes = raw.max_response_bytes.unwrap_or(64 << 20);
    if max_response_bytes < 1024 {
        return Err(invalid(key("max_response_bytes"), "at least 1024"));
    }
    let max_pages_per_pull = raw.max_pages_per_pull.unwrap_or(100_000);
    if max_pages_per_pull == 0 {
        return Err(invalid(key("max_pages_per_pull"), "at least 1"));
    }
    let (file_key, env_key, file, var, wrong) = if name == FeedName::Mca {
        (
            "api_key_file",
            "api_key_env",
            raw.api_key_file,
            raw.api_key_env,
            raw.token_file.is_some() || raw.token_env.is_some(),
        )
    } else {
        (
            "token_file",
            "token_env",
            raw.token_file,
            raw.token_env,
            raw.api_key_file.is_some() || raw.api_key_env.is_some(),
        )
    };
    if wrong {
        return Err(invalid(
            key(file_key),
            format!("the {name} feed takes {file_key} or {env_key}"),
        ));
    }
    let secret = match (file, var) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                key(file_key),
                format!("give {file_key} or {env_key}, not both"),
            ))
        }
        (None, None) => {
            return Err(invalid(
                key(file_key),
                format!("missing: the secret comes from {file_key} or {env_key}"),
            ))
        }
        (Some(file), None) => {
            let path = if file.is_absolute() {
                file
            } else {
                base.join(file)
            };
            let text = std::fs::read_to_string(&path).map_err(|e| {
                invalid(
                    key(file_key),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let text = text.trim();
            if text.is_empty() {
                return Err(invalid(
                    key(file_key),
                    format!("{} is empty", path.display()),
                ));
            }
            Secret::new(text)
        }
        (None, Some(var)) => match env(&var) {
            Some(v) if !v.trim().is_empty() => Secret::new(v.trim()),
            _ => {
                return Err(invalid(
                    key(env_key),
                    format!("environment variable {var} is not set"),
                ))
            }
        },
    };
    let (max_page, default_page) = match name {
        FeedName::Psb => (1000, 1000),
        FeedName::Mca => (u32::MAX, 0),
        FeedName::Nhc => (500, 500),
        FeedName::Pis => (1000, 1000),
    };
    if name == FeedName::Mca && raw.page_size.is_some() {
        return Err(invalid(
            key("page_size"),
            "mca exports are read in date windows, not pages",
        ));
    }
    if name != FeedName::Mca && (raw.overlap_days.is_some() || raw.start_date.is_some()) {
        return Err(invalid(
            key("overlap_days"),
            "only the mca feed reads date windows",
        ));
    }
    let page_size = raw.page_size.unwrap_or(default_page);
    if name != FeedName::Mca && !(1..=max_page).contains(&page_size) {
        return Err(invalid(
            key("page_size"),
            format!("{page_size} is outside 1..={max_page}"),
        ));
    }
    let overlap_days = raw.overlap_days.unwrap_or(7);
    if overlap_days > 30 {
        return Err(invalid(key("overlap_days"), "at most 30"));
    }
    let schedule_text = raw.schedule.unwrap_or_else(|| "0 */15 * * * *".to_string());
    let schedule = parse_schedule(&key("schedule"), &schedule_text)?;
    let timeout_secs = raw.timeout_secs.unwrap_or(60);
    if timeout_secs == 0 {
        return Err(invalid(key("timeout_secs"), "must be at least 1"));
    }
    Ok(FeedConfig {
        name,
        base_url,
        secret,
        schedule,
        schedule_text,
        page_size,
        overlap_days,
        start_date: raw
            .start_date
            .unwrap_or(NaiveDate::from_ymd_opt(2010, 1, 1).expect("valid date")),
        timeout_secs,
        max_retries: raw.max_retries.unwrap_or(10),
        retry_max_delay_secs: raw.retry_max_delay_secs.unwrap_or(60),
        stale_after_secs: raw.stale_after_secs.unwrap_or(6 * 3600),
        ca_pem,
        client_identity_pem,
        max_response_bytes,
        max_pages_per_pull,
    })
}
