//! The township API end to end: a real store (a SQLite file in a temporary folder, or a
//! fresh PostgreSQL database when `POPSYNC_TEST_DATABASE_URL` is set), the real router
//! on 127.0.0.1:0, reqwest as the client, tokens made by the real `popsync token`.

use std::collections::{BTreeMap, HashSet};

use popsync::api::{router, ApiState};
use popsync::config::CityConfig;
use popsync::domain::{
    format_timestamp, mask_id_str, normalise_id, now_local, IdNumber, TownshipCode,
};
use popsync::reconcile::{GoldenRecord, RecordRef, Unlinked};
use popsync::store::{Actor, RunRecord, Store};
use popsync::tickets::{self, Change, Evidence, Subject, TicketDraft, TicketKind};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const TOWN_A: &str = "349901001";
pub const TOWN_B: &str = "349901002";

/// A valid 18-digit ID from a 15-digit legacy one (the check character is computed).
pub fn id(legacy15: &str) -> String {
    normalise_id(legacy15)
}

/// People of the fixture: two in township A, two in B.
pub fn a1() -> String {
    id("349901500101123")
}
pub fn a2() -> String {
    id("349901620202234")
}
pub fn b1() -> String {
    id("349901710303345")
}
pub fn b2() -> String {
    id("349901880404456")
}

/// One running app: the store, the server's address and the tokens of the fixture.
pub struct App {
    pub base: String,
    pub store: Store,
    pub config_path: std::path::PathBuf,
    pub client: reqwest::Client,
    pub token_a: String,
    pub token_b: String,
    pub admin: String,
    pub revoked: String,
    /// The PostgreSQL server and database to drop when the test ends.
    pg_database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for App {
    /// A PostgreSQL test database is dropped with its test (on its own thread and
    /// runtime: `Drop` cannot await, and the test's runtime is shutting down).
    fn drop(&mut self) {
        let Some((base, name)) = self.pg_database.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            use sqlx::Connection;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

pub fn city() -> CityConfig {
    CityConfig {
        counties: vec!["349901".into()],
        townships: BTreeMap::from([
            (TOWN_A.to_string(), "城关镇".to_string()),
            (TOWN_B.to_string(), "东岭乡".to_string()),
        ]),
    }
}

/// A fresh database URL: a SQLite file in `dir`, or a new database on the PostgreSQL
/// server named by `POPSYNC_TEST_DATABASE_URL`.
/// Also returns, for PostgreSQL, the server URL and database name to drop afterwards.
async fn database_url(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    let Ok(base) = std::env::var("POPSYNC_TEST_DATABASE_URL") else {
        return (format!("sqlite://{}/popsync.db", dir.display()), None);
    };
    use sqlx::Connection;
    let name = format!("popsync_api_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("POPSYNC_TEST_DATABASE_URL is reachable");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("can create a test database");
    let mut url = reqwest::Url::parse(&base).expect("POPSYNC_TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    (url.to_string(), Some((base, name)))
}

/// Runs the real binary and returns its standard output.
pub fn popsync(config: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_popsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("popsync runs");
    assert!(
        out.status.success(),
        "popsync {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Starts the app with the fixture's tickets (one reconciliation run) and persons.
pub async fn spawn_app() -> App {
    spawn_app_with(popsync::config::InspectionConfig::default(), true).await
}

/// Starts the app with `inspection` (also written to its config file when it has a
/// date), the fixture's persons, and the fixture's tickets from one run on 2024-05-01
/// when `fixture_run` (a test of the burn-down writes its own runs instead).
pub async fn spawn_app_with(
    inspection: popsync::config::InspectionConfig,
    fixture_run: bool,
) -> App {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (url, pg_database) = database_url(dir.path()).await;
    let config_path = dir.path().join("popsync.toml");
    std::fs::write(
        &config_path,
        format!("[database]\nurl = \"{url}\"\n\n[city]\ncounties = [\"349901\"]\n\n[city.townships]\n{TOWN_A} = \"城关镇\"\n{TOWN_B} = \"东岭乡\"\n{}",
            inspection.date.map(|d| format!("\n[inspection]\ndate = \"{d}\"\n")).unwrap_or_default()),
    )
    .expect("config written");
    let store = Store::open(&url).await.expect("store opens");

    let token = |args: &[&str]| popsync(&config_path, args).trim().to_string();
    let token_a = token(&[
        "token",
        "create",
        "--township",
        TOWN_A,
        "--name",
        "城关镇-张三",
    ]);
    let token_b = token(&["token", "create", "--township", TOWN_B]);
    let admin = token(&["token", "create", "--admin", "--name", "市局-李四"]);
    let revoked = token(&[
        "token",
        "create",
        "--township",
        TOWN_A,
        "--name",
        "离职人员",
    ]);
    let listed = popsync(&config_path, &["token", "list"]);
    let revoked_id = listed
        .lines()
        .find(|l| l.contains("离职人员"))
        .and_then(|l| l.split_whitespace().next())
        .expect("token listed")
        .to_string();
    for t in [&token_a, &token_b, &admin, &revoked] {
        assert_eq!(t.len(), 64, "a token is 32 bytes of hex");
        assert!(
            !listed.contains(t.as_str()),
            "token list never shows a token"
        );
    }
    popsync(&config_path, &["token", "revoke", &revoked_id]);

    if fixture_run {
        run(&store, fixture_drafts(), "2024-05-01").await;
    }
    store
        .write_registry(persons().as_slice(), &unlinked(), &Default::default())
        .await
        .expect("registry written");

    let app = router(ApiState {
        store: store.clone(),
        city: city(),
        inspection,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("server runs") });
    App {
        base,
        store,
        config_path,
        client: reqwest::Client::new(),
        token_a,
        token_b,
        admin,
        revoked,
        pg_database,
        _dir: dir,
    }
}

pub fn draft(
    kind: TicketKind,
    township: &str,
    person: &str,
    village: &str,
    summary: &str,
) -> TicketDraft {
    let idn = IdNumber::parse(person).expect("valid fixture ID");
    TicketDraft {
        kind,
        township: TownshipCode::parse(township).expect("township"),
        subject: Subject::id(idn),
        evidence: vec![
            Evidence::new(
                "psb",
                format!("L{}", &person[14..]),
                format!("死亡注销 王某 男 身份证号 {person} 业务日期 2024-03-01"),
            ),
            Evidence::new("mca", "HH2024-00812", "火化 2024/3/2"),
            Evidence::new(
                "pis",
                format!("P{}", &person[14..]),
                format!("王某 男 身份证号 {person} 村居 {village} 状态 在册"),
            ),
        ],
        summary_zh: summary.to_string(),
        suggestion: None,
        person_key: Some(person.to_string()),
        village: Some(village.to_string()),
    }
}

/// The fixture's drafts: three tickets for A, two for B.
pub fn fixture_drafts() -> Vec<TicketDraft> {
    let mut invalid = draft(
        TicketKind::InvalidId,
        TOWN_A,
        &a2(),
        "349901001002",
        &format!("王某的身份证号“{}”无效，请核对户口簿后更正。", a2()),
    );
    invalid.subject = Subject {
        pis_person_id: Some("PA-3".into()),
        ..Subject::default()
    };
    vec![
        draft(
            TicketKind::DeathNotRecorded,
            TOWN_A,
            &a1(),
            "349901001001",
            "王某已于2024年3月1日死亡，但人口信息系统中仍为在册，请核实后注销。",
        ),
        draft(
            TicketKind::IdentityMismatch,
            TOWN_A,
            &a2(),
            "349901001002",
            "人口信息系统中的身份信息与公安户籍不符：姓名“王某”应为“王某某”。请按户籍更正。",
        ),
        invalid,
        draft(
            TicketKind::DeathNotRecorded,
            TOWN_B,
            &b1(),
            "349901002001",
            "李某已于2024年3月1日死亡，但人口信息系统中仍为在册，请核实后注销。",
        ),
        draft(
            TicketKind::ResidentMissing,
            TOWN_B,
            &b2(),
            "349901002003",
            "李某户籍在本乡镇，但人口信息系统中没有其在册记录，请核实后录入。",
        ),
    ]
}

/// One reconciliation run's lifecycle step, as `run::reconcile::run` does it: plan the
/// drafts against what is stored, apply, and record the run, now, with an empty summary
/// and each township's open tickets.
pub async fn run(store: &Store, drafts: Vec<TicketDraft>, as_of: &str) -> Vec<Change> {
    let now = format_timestamp(now_local());
    run_at(store, drafts, as_of, &now, &json!({})).await
}

/// `run`, finishing at `now` (RFC 3339) with the run's `summary`.
pub async fn run_at(
    store: &Store,
    drafts: Vec<TicketDraft>,
    as_of: &str,
    now: &str,
    summary: &Value,
) -> Vec<Change> {
    let existing = store.ticket_states().await.expect("ticket states");
    let changes = tickets::plan(&existing, drafts, &HashSet::new());
    let open = tickets::readiness::open_after(&existing, &changes);
    let actor = Actor {
        name: "test-run",
        now,
    };
    store
        .apply_ticket_changes(
            &changes,
            &[],
            &actor,
            Some(&RunRecord {
                as_of,
                started_at: now,
                summary,
                open: &open,
            }),
        )
        .await
        .expect("changes applied");
    changes
}

fn person(key: &str, township: &str, lsh: &'static str) -> GoldenRecord<'static> {
    let mut p = GoldenRecord::new(
        key,
        TownshipCode::parse(township),
        popsync::reconcile::PersonState::OnRegister,
        1,
    );
    p.push_field("name", "王某", "psb", lsh);
    p.links.push(RecordRef {
        source: "psb",
        key: lsh.into(),
    });
    p
}

fn persons() -> Vec<GoldenRecord<'static>> {
    vec![person(&a1(), TOWN_A, "LA1"), person(&b1(), TOWN_B, "LB1")]
}

fn unlinked() -> Vec<Unlinked<'static>> {
    vec![Unlinked {
        record: RecordRef {
            source: "pis",
            key: "RK0".into(),
        },
        reason: "invalid ID",
    }]
}

impl App {
    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_bytes(
        &self,
        token: &str,
        path: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        (
            res.status(),
            res.headers().clone(),
            res.bytes().await.expect("body").to_vec(),
        )
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The ID of the fixture ticket of `kind` in `township`.
    pub async fn ticket_id(&self, kind: TicketKind, township: &str) -> String {
        let (_, page) = self
            .get(
                &self.admin,
                &format!("/api/v1/tickets?township={township}&kind={kind}"),
            )
            .await;
        page["tickets"][0]["ticket_id"]
            .as_str()
            .expect("fixture ticket")
            .to_string()
    }

    pub async fn status_of(&self, ticket: &str) -> String {
        self.store
            .ticket(ticket, None)
            .await
            .expect("read")
            .expect("exists")
            .status
            .to_string()
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

#[tokio::test]
async fn a_township_sees_only_its_own_list_with_ids_masked() {
    let app = spawn_app().await;
    let (status, page) = app.get(&app.token_a, "/api/v1/tickets").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 3);
    assert_eq!(page["township"], TOWN_A);
    let tickets = page["tickets"].as_array().expect("tickets");
    assert!(tickets.iter().all(|t| t["township"] == TOWN_A));
    let text = page.to_string();
    for full in [a1(), a2(), b1(), b2()] {
        assert!(!text.contains(&full), "a list never shows a whole ID");
    }
    assert!(
        text.contains(&mask_id_str(&a1())),
        "the list shows the masked ID"
    );
    assert!(
        text.contains(&format!("身份证号“{}”无效", mask_id_str(&a2()))),
        "IDs inside summaries are masked too"
    );

    // Paging and filters.
    let (_, p1) = app
        .get(&app.token_a, "/api/v1/tickets?limit=2&offset=0")
        .await;
    let (_, p2) = app
        .get(&app.token_a, "/api/v1/tickets?limit=2&offset=2")
        .await;
    assert_eq!(
        (p1["total"].as_i64(), p1["tickets"].as_array().map(Vec::len)),
        (Some(3), Some(2))
    );
    assert_eq!(
        (p2["total"].as_i64(), p2["tickets"].as_array().map(Vec::len)),
        (Some(3), Some(1))
    );
    let (_, deaths) = app
        .get(&app.token_a, "/api/v1/tickets?kind=DEATH_NOT_RECORDED")
        .await;
    assert_eq!(deaths["total"], 1);
    let (_, village) = app
        .get(&app.token_a, "/api/v1/tickets?village=349901001002")
        .await;
    assert_eq!(village["total"], 2);
    let (_, dismissed) = app
        .get(&app.token_a, "/api/v1/tickets?status=dismissed")
        .await;
    assert_eq!(dismissed["total"], 0);
    for bad in [
        "kind=NOPE",
        "status=closed",
        "limit=0",
        "limit=abc",
        "offset=-1",
        "township=12",
    ] {
        let (status, body) = app
            .get(&app.token_a, &format!("/api/v1/tickets?{bad}"))
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}: {body}"
        );
    }

    // Counts and the chart are the township's own.
    let (_, counts) = app.get(&app.token_a, "/api/v1/counts").await;
    let open: i64 = counts["kinds"]
        .as_array()
        .expect("kinds")
        .iter()
        .map(|k| k["open"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(open, 3);
    let (_, runs) = app.get(&app.token_a, "/api/v1/runs").await;
    assert_eq!(
        runs["runs"][0]["open_by_kind"],
        json!({"DEATH_NOT_RECORDED": 1, "IDENTITY_MISMATCH": 1, "INVALID_ID": 1})
    );
    let (_, me) = app.get(&app.token_a, "/api/v1/me").await;
    assert_eq!(
        (
            me["township"].as_str(),
            me["township_name"].as_str(),
            me["is_admin"].as_bool()
        ),
        (Some(TOWN_A), Some("城关镇"), Some(false))
    );
}

/// For every endpoint: A's token on B's data is refused (403 for a list naming B, 404 for
/// one of B's things), an admin gets it, a revoked or unknown token gets 401.
#[tokio::test]
async fn every_endpoint_is_scoped_by_token() {
    let app = spawn_app().await;
    let b_ticket = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_B).await;
    let b_person = b1();

    let gets: Vec<(String, StatusCode)> = vec![
        (
            format!("/api/v1/tickets?township={TOWN_B}"),
            StatusCode::FORBIDDEN,
        ),
        (format!("/api/v1/tickets/{b_ticket}"), StatusCode::NOT_FOUND),
        (
            format!("/api/v1/tickets/{b_ticket}?township={TOWN_B}"),
            StatusCode::FORBIDDEN,
        ),
        (format!("/api/v1/persons/{b_person}"), StatusCode::NOT_FOUND),
        (
            format!("/api/v1/tickets.xlsx?township={TOWN_B}"),
            StatusCode::FORBIDDEN,
        ),
        (
            format!("/api/v1/tickets.csv?township={TOWN_B}"),
            StatusCode::FORBIDDEN,
        ),
        (
            format!("/api/v1/counts?township={TOWN_B}"),
            StatusCode::FORBIDDEN,
        ),
        (
            format!("/api/v1/runs?township={TOWN_B}"),
            StatusCode::FORBIDDEN,
        ),
        (
            format!("/api/v1/readiness?township={TOWN_B}"),
            StatusCode::FORBIDDEN,
        ),
        (
            format!("/api/v1/readiness/history?township={TOWN_B}"),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (path, refused) in &gets {
        let (status, _, body) = app.get_bytes(&app.token_a, path).await;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(status, *refused, "A's token on {path}: {body}");
        let code = if *refused == StatusCode::NOT_FOUND {
            "not_found"
        } else {
            "forbidden"
        };
        assert_eq!(error_code(&body), code, "{path}");
        assert!(
            !body.to_string().contains(&b_person),
            "a refusal reveals nothing"
        );

        let admin_path = if path.contains('?') {
            path.clone()
        } else {
            format!("{path}?township={TOWN_B}")
        };
        for p in [path.as_str(), admin_path.as_str()] {
            let (status, _, _) = app.get_bytes(&app.admin, p).await;
            assert_eq!(status, StatusCode::OK, "admin on {p}");
        }
        for token in [app.revoked.as_str(), "not-a-token", ""] {
            let (status, headers, body) = app.get_bytes(token, path).await;
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(
                (status, error_code(&body)),
                (StatusCode::UNAUTHORIZED, "unauthorized"),
                "token {token:?} on {path}"
            );
            assert_eq!(
                headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer")
            );
        }
    }
    // A's unscoped downloads hold A's tickets and none of B's.
    let (status, headers, csv) = app.get_bytes(&app.token_a, "/api/v1/tickets.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let csv = String::from_utf8(csv).expect("UTF-8 CSV");
    assert!(
        csv.starts_with('\u{feff}'),
        "CSV has a BOM for Excel and WPS"
    );
    assert!(csv.contains(&a1()) && !csv.contains(&b1()) && !csv.contains(&b2()));
    let (_, _, xlsx) = app.get_bytes(&app.token_a, "/api/v1/tickets.xlsx").await;
    assert_eq!(&xlsx[..2], b"PK", "an .xlsx is a zip");
    let (_, _, csv_b) = app
        .get_bytes(
            &app.admin,
            &format!("/api/v1/tickets.csv?township={TOWN_B}"),
        )
        .await;
    let csv_b = String::from_utf8(csv_b).expect("UTF-8 CSV");
    assert!(csv_b.contains(&b1()) && !csv_b.contains(&a1()));

    // Changes: A cannot touch B's ticket; revoked tokens cannot either; the admin can.
    for action in ["dismiss", "reopen"] {
        let path = format!("/api/v1/tickets/{b_ticket}/{action}");
        let (status, body) = app
            .post(&app.token_a, &path, json!({"reason": "不是本乡镇的"}))
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "A on {path}"
        );
        let (status, body) = app
            .post(
                &app.token_a,
                &format!("{path}?township={TOWN_B}"),
                json!({"reason": "x"}),
            )
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "A on {path}?township=B"
        );
        let (status, body) = app.post(&app.revoked, &path, json!({"reason": "x"})).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "revoked on {path}"
        );
        assert_eq!(
            app.status_of(&b_ticket).await,
            "open",
            "refused changes change nothing"
        );
    }
    let (status, body) = app
        .post(
            &app.admin,
            &format!("/api/v1/tickets/{b_ticket}/dismiss"),
            json!({"reason": "市局核实：本人已出国定居"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ticket"]["status"], "dismissed");
    let (status, body) = app
        .post(
            &app.admin,
            &format!("/api/v1/tickets/{b_ticket}/reopen"),
            json!({"reason": "复核后重新打开"}),
        )
        .await;
    assert_eq!(
        (status, body["ticket"]["status"].as_str()),
        (StatusCode::OK, Some("open"))
    );

    // B's own token sees B's ticket; the same ID through A's is a plain 404.
    let (status, _) = app
        .get(&app.token_b, &format!("/api/v1/tickets/{b_ticket}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(&app.token_a, "/api/v1/tickets/Tdoesnotexist").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a missing ticket looks the same as another township's"
    );

    // Unknown paths: 401 without a token, a JSON 404 with one.
    let (status, _) = app.get("", "/api/v1/nothing").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app.get(&app.token_a, "/api/v1/nothing").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = app
        .get(&app.token_a, &format!("/api/v1/tickets/{b_ticket}/dismiss"))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn a_dismissal_survives_the_next_run_and_the_audit_trail_has_it() {
    let app = spawn_app().await;
    let ticket = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_A).await;

    // Reading one ticket shows whole IDs and evidence per department, and is audited.
    let (status, detail) = app
        .get(&app.token_a, &format!("/api/v1/tickets/{ticket}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["ticket"]["subject"]["id_number"], a1());
    let departments: Vec<&str> = detail["ticket"]["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .filter_map(|e| e["department_zh"].as_str())
        .collect();
    assert_eq!(departments, ["公安", "民政", "人口库"]);
    assert_eq!(detail["history"][0]["to_status"], "open");

    // The person's golden record, audited with the key masked.
    let (status, person) = app
        .get(&app.token_a, &format!("/api/v1/persons/{}", a1()))
        .await;
    assert_eq!(status, StatusCode::OK, "{person}");
    assert_eq!(person["person"]["person_key"], a1());
    assert_eq!(person["links"][0]["record_key"], "LA1");
    let name = &person["person"]["record"]["fields"]["name"];
    assert_eq!(
        (
            name["value"].as_str(),
            name["source"].as_str(),
            name["record"].as_str()
        ),
        (Some("王某"), Some("psb"), Some("LA1")),
        "each field with the record it came from: {person}"
    );

    // Bad dismissals are refused before anything changes.
    let path = format!("/api/v1/tickets/{ticket}/dismiss");
    let (status, body) = app.post(&app.token_a, &path, json!({"reason": "  "})).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let (status, body) = app.post(&app.token_a, &path, json!({"why": "x"})).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );

    let (status, body) = app
        .post(
            &app.token_a,
            &path,
            json!({"reason": "已核实：本人长期在国外"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ticket"]["status"], "dismissed");
    let (status, body) = app
        .post(&app.token_a, &path, json!({"reason": "again"}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "conflict"),
        "a dismissed ticket cannot be dismissed again"
    );

    // The next run finds the same problem with the same evidence: it stays dismissed.
    let changes = run(&app.store, fixture_drafts(), "2024-05-02").await;
    assert!(
        !changes.iter().any(|c| matches!(c, Change::Reopen { ticket_id, .. } | Change::Refresh { ticket_id, .. } if *ticket_id == ticket)),
        "the lifecycle leaves a dismissed ticket alone"
    );
    assert_eq!(app.status_of(&ticket).await, "dismissed");
    let (_, page) = app.get(&app.token_a, "/api/v1/tickets?status=open").await;
    assert_eq!(page["total"], 2);
    let (_, runs) = app.get(&app.token_a, "/api/v1/runs").await;
    assert_eq!(
        runs["runs"][0]["open_by_kind"],
        json!({"IDENTITY_MISMATCH": 1, "INVALID_ID": 1}),
        "the newest run no longer counts it"
    );

    // History and audit trail: who dismissed it and why; the reads and the change.
    let (_, detail) = app
        .get(&app.token_a, &format!("/api/v1/tickets/{ticket}"))
        .await;
    let last = detail["history"]
        .as_array()
        .and_then(|h| h.last())
        .expect("history");
    assert_eq!(
        (last["to_status"].as_str(), last["reason"].as_str()),
        (Some("dismissed"), Some("已核实：本人长期在国外"))
    );
    assert!(last["actor"].as_str().unwrap_or("").contains("城关镇-张三"));

    let audit = app
        .store
        .audit_entries(Some(TOWN_A), 100)
        .await
        .expect("audit");
    let has = |action: &str, target: &str, result: &str| {
        audit.iter().any(|e| {
            e.action.as_str() == action
                && e.target == target
                && e.result.as_str() == result
                && e.actor.contains("城关镇-张三")
                && e.township.as_deref() == Some(TOWN_A)
        })
    };
    assert!(
        has("ticket.read", &format!("ticket {ticket}"), "ok"),
        "{audit:#?}"
    );
    assert!(
        has(
            "person.read",
            &format!("person {}", mask_id_str(&a1())),
            "ok"
        ),
        "{audit:#?}"
    );
    assert!(
        has("ticket.dismiss", &format!("ticket {ticket}"), "ok"),
        "{audit:#?}"
    );
    assert!(
        has("ticket.dismiss", &format!("ticket {ticket}"), "refused"),
        "the refused second dismissal is audited too"
    );
    let all = format!(
        "{:?}",
        app.store.audit_entries(None, 1000).await.expect("audit")
    );
    for full in [a1(), a2(), b1(), b2()] {
        assert!(
            !all.contains(&full),
            "the audit trail never holds a whole ID"
        );
    }
    let cli = popsync(
        &app.config_path,
        &["audit", "--township", TOWN_A, "--limit", "100"],
    );
    assert!(
        cli.contains("ticket.dismiss") && cli.contains("person.read") && cli.contains(&ticket),
        "{cli}"
    );
}

#[tokio::test]
async fn probing_another_townships_data_is_audited() {
    let app = spawn_app().await;
    let b_ticket = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_B).await;
    app.get(&app.token_a, &format!("/api/v1/tickets/{b_ticket}"))
        .await;
    app.get(&app.token_a, &format!("/api/v1/persons/{}", b1()))
        .await;
    let audit = app
        .store
        .audit_entries(Some(TOWN_A), 100)
        .await
        .expect("audit");
    assert!(audit.iter().any(|e| e.action.as_str() == "ticket.read"
        && e.result.as_str() == "not_found"
        && e.target == format!("ticket {b_ticket}")));
    assert!(audit.iter().any(|e| e.action.as_str() == "person.read"
        && e.result.as_str() == "not_found"
        && e.target == format!("person {}", mask_id_str(&b1()))));
    assert!(
        app.store
            .audit_entries(Some(TOWN_B), 100)
            .await
            .expect("audit")
            .iter()
            .all(|e| !e.actor.contains("城关镇")),
        "A's probes are filed under A, not B"
    );
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/", app.base))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let html = res.text().await.expect("html");
    assert!(html.contains("乡镇问题清单") && html.contains("/assets/app.js"));
    for asset in ["/assets/app.js", "/assets/app.css"] {
        let res = app
            .client
            .get(format!("{}{asset}", app.base))
            .send()
            .await
            .expect("asset");
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
    }
    let js = app
        .client
        .get(format!("{}/assets/app.js", app.base))
        .send()
        .await
        .expect("js")
        .text()
        .await
        .expect("js");
    assert!(
        !js.contains("innerHTML"),
        "the page builds its DOM with textContent only"
    );
}

#[tokio::test]
async fn a_township_sees_a_person_it_holds_a_ticket_about() {
    let app = spawn_app().await;
    // b1 is registered in township B: A may not read them …
    let path = format!("/api/v1/persons/{}", b1());
    assert_eq!(app.get(&app.token_a, &path).await.0, StatusCode::NOT_FOUND);
    // … until A is asked to correct a record of theirs.
    let mut drafts = fixture_drafts();
    drafts.push(draft(
        TicketKind::ResidenceMismatch,
        TOWN_A,
        &b1(),
        "349901001003",
        "李某的户籍在349901002，但人口信息系统把其登记在本乡镇，请核实后迁出或更正。",
    ));
    run(&app.store, drafts, "2024-05-03").await;
    let (status, body) = app.get(&app.token_a, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Issue 14: a refused request is audited, under the route's pattern: the path itself
/// can hold an ID number, and neither the audit trail nor the log may.
#[tokio::test]
async fn refused_requests_are_audited_by_route_never_by_path() {
    let app = spawn_app().await;
    let (status, _) = app
        .get(&app.revoked, &format!("/api/v1/persons/{}", b1()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("", "/api/v1/tickets").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let audit = app.store.audit_entries(None, 100).await.expect("audit");
    let refused: Vec<_> = audit
        .iter()
        .filter(|e| e.action.as_str() == "api.refused" && e.result.as_str() == "401")
        .collect();
    assert_eq!(refused.len(), 2, "{audit:?}");
    assert!(
        refused
            .iter()
            .any(|e| e.target == "GET /api/v1/persons/{key}"
                && e.actor == "api:unknown, revoked or expired token"),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|e| e.target == "GET /api/v1/tickets" && e.actor == "api:no bearer token"),
        "{refused:?}"
    );
    assert!(audit.iter().all(|e| !e.target.contains(&b1())));
}

/// Issue 14: a token can be given a lifetime; past it, it is refused like a revoked one.
/// `token list` shows when each token expires and when it was last used.
#[tokio::test]
async fn an_expired_token_is_refused_and_the_list_shows_use_and_expiry() {
    let app = spawn_app().await;
    let (status, _) = app.get(&app.token_a, "/api/v1/tickets").await;
    assert_eq!(status, StatusCode::OK);
    let lasting = popsync(
        &app.config_path,
        &[
            "token",
            "create",
            "--township",
            TOWN_B,
            "--name",
            "临时",
            "--expires-in",
            "90d",
        ],
    )
    .trim()
    .to_string();
    let (status, _) = app.get(&lasting, "/api/v1/tickets").await;
    assert_eq!(status, StatusCode::OK, "valid for 90 days");
    app.store
        .create_token(&popsync::store::NewToken {
            token_id: "tok_expired",
            token: &"x".repeat(64),
            township: Some(TOWN_A),
            is_admin: false,
            name: "过期",
            created_at: "2020-01-01T00:00:00+08:00",
            expires_at: Some("2020-04-01T00:00:00+08:00"),
        })
        .await
        .unwrap();
    let (status, _) = app.get(&"x".repeat(64), "/api/v1/tickets").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired");
    let listed = popsync(&app.config_path, &["token", "list"]);
    let line = |name: &str| {
        listed
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("城关镇-张三").contains(&chrono::Local::now().format("%Y-").to_string()),
        "last use shown: {listed}"
    );
    assert!(
        line("临时")
            .split_whitespace()
            .filter(|w| *w == "never")
            .count()
            == 0,
        "{listed}"
    );
    assert!(line("过期").contains("2020-04-01"), "{listed}");
    assert!(popsync_fails(
        &app.config_path,
        &["token", "create", "--admin", "--expires-in", "soon"]
    ));
}

fn popsync_fails(config: &std::path::Path, args: &[&str]) -> bool {
    !std::process::Command::new(env!("CARGO_BIN_EXE_popsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("popsync runs")
        .status
        .success()
}

/// Issue 14: every export is audited (CLI and API) with its count and destination, a
/// list read is audited, a 403 is audited, and the CLI's actor is the operating
/// system's user, whatever `$USER` or `--by` say (`--by` is kept as a claim beside it).
#[tokio::test]
async fn exports_lists_and_refusals_are_audited_under_the_real_user() {
    let app = spawn_app().await;
    let (status, _) = app.get(&app.token_a, "/api/v1/tickets").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get(&app.token_a, &format!("/api/v1/tickets?township={TOWN_B}"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("list.csv");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_popsync"))
            .env("USER", "mallory")
            .arg("--config")
            .arg(&app.config_path)
            .args(args)
            .output()
            .expect("popsync runs")
    };
    let exported = run(&[
        "tickets",
        "export",
        "--format",
        "csv",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(exported.status.success(), "{exported:?}");
    let ticket = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_A).await;
    let dismissed = run(&[
        "tickets",
        "dismiss",
        &ticket,
        "--reason",
        "已核实",
        "--by",
        "张三",
    ]);
    assert!(dismissed.status.success(), "{dismissed:?}");
    let missing = run(&["person", &id("349901720818892")]);
    assert!(!missing.status.success());

    let audit = app.store.audit_entries(None, 200).await.expect("audit");
    let find = |action: &'static str| audit.iter().filter(move |e| e.action.as_str() == action);
    assert!(
        find("tickets.list").any(|e| e.township.as_deref() == Some(TOWN_A)),
        "{audit:?}"
    );
    assert!(
        find("api.refused")
            .any(|e| e.result.as_str() == "403" && e.target == format!("township {TOWN_B}")),
        "{audit:?}"
    );
    let export = find("tickets.export")
        .find(|e| e.actor.starts_with("cli:"))
        .expect("the CLI export is audited");
    assert!(
        export.target.contains("list.csv") && export.target.contains("tickets (csv"),
        "{export:?}"
    );
    assert!(
        audit.iter().all(|e| !e.actor.contains("mallory")),
        "$USER is not trusted: {audit:?}"
    );
    let history = app.store.ticket_events(&ticket).await.expect("history");
    assert!(
        history
            .iter()
            .any(|h| h.actor.starts_with("cli:") && h.actor.ends_with("(says: 张三)")),
        "{history:?}"
    );
    assert!(
        find("person.read")
            .any(|e| e.actor.starts_with("cli:") && e.result.as_str() == "not_found"),
        "{audit:?}"
    );
}

/// Issue 14: on PostgreSQL, `deploy/postgres-audit-owner.sql` makes the audit trail
/// append-only by privilege: the service role still adds entries, and can neither
/// change, delete, truncate nor unprotect them.
#[tokio::test]
async fn the_postgres_audit_trail_is_append_only_by_privilege() {
    let Ok(admin) = std::env::var("POPSYNC_TEST_DATABASE_URL") else {
        return; // The PostgreSQL suite is skipped; `helpers::backends` says so.
    };
    let suffix = format!("{}_{}", std::process::id(), rand_tag());
    let (service, owner, db) = (
        format!("svc_{suffix}"),
        format!("aud_{suffix}"),
        format!("popsync_audit_{suffix}"),
    );
    let psql = |url: &str, args: &[&str]| {
        let out = std::process::Command::new("psql")
            .arg(url)
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-q"])
            .args(args)
            .output()
            .expect("psql runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, err) = psql(
        &admin,
        &[
            "-c",
            &format!("CREATE ROLE {service} LOGIN"),
            "-c",
            &format!("CREATE DATABASE {db} OWNER {service}"),
        ],
    );
    assert!(ok, "{err}");
    let mut url = reqwest::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{db}"));
    let admin_db = url.to_string();
    url.set_username(&service).unwrap();
    let service_url = url.to_string();

    let store = Store::open(&service_url)
        .await
        .expect("the service migrates its own database");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/postgres-audit-owner.sql");
    let (ok, err) = psql(
        &admin_db,
        &[
            "-v",
            &format!("service={service}"),
            "-v",
            &format!("owner={owner}"),
            "-f",
            script.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    store
        .audit(&popsync::store::AuditRow {
            at: "2026-12-07T00:00:00+08:00".into(),
            actor: "test".into(),
            township: None,
            action: popsync::store::AuditAction::PersonRead,
            target: "person 3499**********0000".into(),
            result: popsync::store::AuditResult::Ok,
        })
        .await
        .expect("the service still appends");
    store.close().await;
    for statement in [
        "UPDATE audit_log SET result = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change",
    ] {
        let (ok, err) = psql(&service_url, &["-c", statement]);
        assert!(!ok, "the service could run {statement:?}");
        assert!(
            err.contains("permission denied") || err.contains("must be owner"),
            "{statement}: {err}"
        );
    }
    let (ok, _) = psql(&service_url, &["-c", "SELECT count(*) FROM audit_log"]);
    assert!(ok, "the service still reads it");
    let _ = psql(
        &admin,
        &[
            "-c",
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            "-c",
            &format!("DROP ROLE IF EXISTS {service}"),
            "-c",
            &format!("DROP ROLE IF EXISTS {owner}"),
        ],
    );
}

fn rand_tag() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// Issue 14: the API publishes its OpenAPI 3.1 document, generated from the handlers,
/// without a token; schemathesis (`.ci/run`) then checks every answer against it.
#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let app = spawn_app().await;
    let (status, doc) = app.get("", "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for path in [
        "/api/v1/me",
        "/api/v1/tickets",
        "/api/v1/tickets.xlsx",
        "/api/v1/tickets.csv",
        "/api/v1/tickets/{id}",
        "/api/v1/tickets/{id}/dismiss",
        "/api/v1/tickets/{id}/reopen",
        "/api/v1/tickets/{id}/assign",
        "/api/v1/counts",
        "/api/v1/runs",
        "/api/v1/readiness",
        "/api/v1/readiness/history",
        "/api/v1/persons/{key}",
    ] {
        assert!(paths.contains(&path), "{path} is described: {paths:?}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["TicketList"].is_object());
    assert!(doc["components"]["schemas"]["Readiness"].is_object());
}
