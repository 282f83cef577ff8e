//! Issue 17, owners (包保责任人): a ticket assigned to a named member of its township's
//! staff over the API and the CLI, cleared again, filtered by, scoped like every other
//! change, audited with the name masked, kept in the ticket's history, and shown in the
//! CSV and JSON Lines exports.

use popsync::store::{AuditAction, AuditResult};
use popsync::tickets::TicketKind;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api::{popsync, spawn_app, App, TOWN_A, TOWN_B};

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

impl App {
    async fn assign(&self, token: &str, ticket: &str, body: Value) -> (StatusCode, Value) {
        self.post(token, &format!("/api/v1/tickets/{ticket}/assign"), body)
            .await
    }

    /// The IDs of a list's tickets.
    async fn listed(&self, token: &str, query: &str) -> Vec<String> {
        let (status, page) = self.get(token, &format!("/api/v1/tickets?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        page["tickets"]
            .as_array()
            .expect("tickets")
            .iter()
            .map(|t| t["ticket_id"].as_str().expect("id").to_string())
            .collect()
    }
}

#[tokio::test]
async fn an_owner_is_assigned_filtered_and_cleared_over_the_api_in_scope_and_audited() {
    let app = spawn_app().await;
    let death = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_A).await;
    let identity = app.ticket_id(TicketKind::IdentityMismatch, TOWN_A).await;
    let theirs = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_B).await;

    let (status, body) = app
        .assign(&app.token_a, &death, json!({"owner": " 张三 "}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ticket"]["owner"], "张三", "trimmed: {body}");
    assert_eq!(body["ticket"]["status"], "open", "the status is left alone");

    // Lists show the owner and filter by it; `none` is the unassigned.
    let (_, page) = app.get(&app.token_a, "/api/v1/tickets").await;
    let owners: Vec<(&str, &Value)> = page["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["ticket_id"].as_str().unwrap(), &t["owner"]))
        .collect();
    assert!(owners.contains(&(death.as_str(), &json!("张三"))), "{page}");
    assert!(
        owners.contains(&(identity.as_str(), &Value::Null)),
        "{page}"
    );
    assert_eq!(
        app.listed(&app.token_a, "owner=张三").await,
        std::slice::from_ref(&death)
    );
    let (_, page) = app
        .get(&app.token_a, "/api/v1/tickets?owner=%E5%BC%A0%E4%B8%89")
        .await;
    assert_eq!(page["total"], 1, "the total follows the filter: {page}");
    let unassigned = app.listed(&app.token_a, "owner=none").await;
    assert_eq!(unassigned.len(), 2, "{unassigned:?}");
    assert!(!unassigned.contains(&death));
    assert!(app.listed(&app.token_a, "owner=李四").await.is_empty());

    // The detail shows the owner; its history says who assigned whom, and when.
    let (_, detail) = app
        .get(&app.token_a, &format!("/api/v1/tickets/{death}"))
        .await;
    assert_eq!(detail["ticket"]["owner"], "张三");
    let last = detail["history"].as_array().and_then(|h| h.last()).unwrap();
    assert_eq!(
        (
            last["from_status"].as_str(),
            last["to_status"].as_str(),
            last["reason"].as_str()
        ),
        (Some("open"), Some("open"), Some("指派给 张三")),
        "{detail}"
    );
    assert!(last["actor"].as_str().unwrap().contains("城关镇-张三"));
    assert!(last["at"].as_str().unwrap().len() >= 19);

    // Reassigning names the previous owner; the same owner again records nothing.
    let (status, _) = app
        .assign(&app.token_a, &death, json!({"owner": "李四"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .assign(&app.token_a, &death, json!({"owner": "李四"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let history = app.store.ticket_events(&death).await.unwrap();
    let reasons: Vec<&str> = history.iter().map(|h| h.reason.as_str()).collect();
    assert_eq!(
        reasons,
        ["raised", "指派给 张三", "指派给 李四（原为 张三）"]
    );

    // Township B can neither assign A's ticket nor learn it exists, nor see its owner.
    let (status, body) = app
        .assign(&app.token_b, &death, json!({"owner": "王五"}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert!(!app
        .listed(&app.token_b, "owner=李四")
        .await
        .contains(&death));
    let (status, _) = app
        .assign(&app.token_b, &death, json!({"owner": null}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &app.token_a,
            &format!("/api/v1/tickets/{death}/assign?township={TOWN_B}"),
            json!({"owner": "王五"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.store
            .ticket(&death, None)
            .await
            .unwrap()
            .unwrap()
            .owner
            .map(|o| o.as_str().to_string()),
        Some("李四".to_string()),
        "nothing B tried changed it"
    );
    // B's own ticket, by the admin for B.
    let (status, body) = app
        .post(
            &app.admin,
            &format!("/api/v1/tickets/{theirs}/assign?township={TOWN_B}"),
            json!({"owner": "王五"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Names that would harm a list, a log or a printout are refused before anything changes.
    for bad in [
        json!({}),
        json!({"who": "张三"}),
        json!({"owner": 3}),
        json!({"owner": "张\u{0007}三"}),
        json!({"owner": "张\u{202e}三"}),
        json!({"owner": "=HYPERLINK(\"http://x\")"}),
        json!({"owner": "@张三"}),
        json!({"owner": "none"}),
        json!({"owner": "王".repeat(33)}),
    ] {
        let (status, body) = app.assign(&app.token_a, &identity, bad.clone()).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}: {body}"
        );
    }
    let (status, body) = app.get(&app.token_a, "/api/v1/tickets?owner=%3Dcmd").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    assert_eq!(app.store.ticket_events(&identity).await.unwrap().len(), 1);

    // Clearing: null or an empty name.
    let (status, body) = app
        .assign(&app.token_a, &death, json!({"owner": null}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ticket"]["owner"], Value::Null);
    assert_eq!(app.listed(&app.token_a, "owner=none").await.len(), 3);
    let history = app.store.ticket_events(&death).await.unwrap();
    assert_eq!(history.last().unwrap().reason, "取消指派（原为 李四）");

    // Audited, the owner's name masked; B's attempt as not found.
    let audit = app.store.audit_entries(None, 200).await.unwrap();
    let assigns: Vec<_> = audit
        .iter()
        .filter(|e| e.action == AuditAction::TicketAssign)
        .collect();
    let has = |target: String, result: &str, town: &str| {
        assigns.iter().any(|e| {
            e.target == target && e.result.as_str() == result && e.township.as_deref() == Some(town)
        })
    };
    assert!(
        has(format!("ticket {death} to 张*"), "ok", TOWN_A),
        "{assigns:#?}"
    );
    assert!(
        has(format!("ticket {death} to 李*"), "ok", TOWN_A),
        "{assigns:#?}"
    );
    assert!(
        has(format!("ticket {death} cleared"), "ok", TOWN_A),
        "{assigns:#?}"
    );
    assert!(
        has(format!("ticket {death} to 王*"), "not_found", TOWN_B),
        "{assigns:#?}"
    );
    assert!(
        has(format!("ticket {theirs} to 王*"), "ok", TOWN_B),
        "{assigns:#?}"
    );
    // (The fixture's token is named 城关镇-张三; only assignments are looked at.)
    for name in ["张三", "李四", "王五"] {
        assert!(
            assigns.iter().all(|e| !e.target.contains(name)),
            "an assignment's audit entry never holds {name} whole: {assigns:#?}"
        );
    }
}

#[tokio::test]
async fn the_cli_assigns_clears_and_exports_by_owner() {
    let app = spawn_app().await;
    let death = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_A).await;
    let identity = app.ticket_id(TicketKind::IdentityMismatch, TOWN_A).await;
    let config = &app.config_path;
    let out = popsync(
        config,
        &["tickets", "assign", &death, "--to", "张三", "--by", "镇长"],
    );
    assert!(out.contains("张三"), "{out}");
    popsync(config, &["tickets", "assign", &identity, "--to", "李四"]);

    let history = app.store.ticket_events(&death).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.reason, "指派给 张三");
    assert!(
        last.actor.starts_with("cli:") && last.actor.ends_with("(says: 镇长)"),
        "{last:?}"
    );

    // Refused: a bad name, an unknown ticket (audited as not found), nothing at all.
    let fails = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_popsync"))
            .arg("--config")
            .arg(config)
            .args(args)
            .output()
            .expect("popsync runs");
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = fails(&["tickets", "assign", &death, "--to", "=1+1"]);
    assert!(err.contains("公式"), "{err}");
    fails(&["tickets", "assign", "T-nope", "--to", "张三"]);
    fails(&["tickets", "assign", &death]);
    fails(&["tickets", "assign", &death, "--to", "张三", "--clear"]);
    let dir = tempfile::tempdir().unwrap();
    let unwritten = dir.path().join("unwritten.csv");
    fails(&[
        "tickets",
        "export",
        "--owner",
        "",
        "--output",
        unwritten.to_str().unwrap(),
    ]);
    assert!(!unwritten.exists());

    // Exports by owner: CSV with its 责任人 column, JSON Lines with `owner`.
    let csv_path = dir.path().join("zhang.csv");
    popsync(
        config,
        &[
            "tickets",
            "export",
            "--format",
            "csv",
            "--owner",
            "张三",
            "--output",
            csv_path.to_str().unwrap(),
        ],
    );
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().unwrap().clone();
    let owner_col = headers
        .iter()
        .position(|h| h == "责任人")
        .expect("an owner column");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!((&rows[0][0], &rows[0][owner_col]), (death.as_str(), "张三"));

    let jsonl_path = dir.path().join("all.jsonl");
    popsync(
        config,
        &[
            "tickets",
            "export",
            "--township",
            TOWN_A,
            "--output",
            jsonl_path.to_str().unwrap(),
        ],
    );
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let owner_of = |id: &str| {
        lines
            .iter()
            .find(|l| l["ticket_id"] == id)
            .map(|l| l.get("owner").cloned())
            .expect("exported")
    };
    assert_eq!(owner_of(&death), Some(json!("张三")));
    assert_eq!(owner_of(&identity), Some(json!("李四")));
    assert!(
        lines.iter().any(|l| l.get("owner").is_none()),
        "an unassigned ticket has no owner key"
    );
    // tickets.md fixes the keys a line has at least; the shared checker, where it is
    // installed, accepts the added `owner`.
    let checker = std::path::Path::new("../shared/tools/check-ticket-export");
    if checker.is_file() {
        let out = std::process::Command::new(checker)
            .arg(&jsonl_path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    let none_path = dir.path().join("none.jsonl");
    popsync(
        config,
        &[
            "tickets",
            "export",
            "--township",
            TOWN_A,
            "--owner",
            "none",
            "--output",
            none_path.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&none_path).unwrap().lines().count(),
        1
    );

    // Cleared by --clear and by an empty name.
    popsync(config, &["tickets", "assign", &death, "--clear"]);
    popsync(config, &["tickets", "assign", &identity, "--to", " "]);
    for t in [&death, &identity] {
        assert!(app
            .store
            .ticket(t, None)
            .await
            .unwrap()
            .unwrap()
            .owner
            .is_none());
    }

    let audit = app.store.audit_entries(Some(TOWN_A), 200).await.unwrap();
    let assigns: Vec<_> = audit
        .iter()
        .filter(|e| e.action == AuditAction::TicketAssign && e.actor.starts_with("cli:"))
        .map(|e| (e.target.clone(), e.result))
        .collect();
    assert!(
        assigns.contains(&(format!("ticket {death} to 张*"), AuditResult::Ok)),
        "{assigns:?}"
    );
    assert!(
        assigns.contains(&(format!("ticket {death} cleared"), AuditResult::Ok)),
        "{assigns:?}"
    );
    let all = app.store.audit_entries(None, 200).await.unwrap();
    assert!(
        all.iter().any(|e| e.action == AuditAction::TicketAssign
            && e.result == AuditResult::NotFound
            && e.target == "ticket T-nope to 张*"),
        "{all:?}"
    );
}
