//! Ticket endpoints: the township's list (masked, paged), one ticket with its evidence
//! and history (unmasked, audited), dismiss, reopen and assign (audited), spreadsheet downloads
//! (audited: they carry whole IDs), counts and the open-per-kind history for the chart.

use std::collections::BTreeMap;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::{Caller, Scoped};
use super::mask::mask_subject;
use super::schema::{
    ChangedTicket, Counts, ErrorBody, EvidenceItem, KindCount, KindName, Me, RunOpen, Runs,
    TicketDetail, TicketHead, TicketList, TicketSummary, TicketWithHistory, TownshipName,
};
use super::{ApiError, ApiState};
use crate::domain::{mask_ids_in, today_local};
use crate::store::{Actor, AuditAction, AuditResult, OwnerFilter, TicketFilter};
use crate::tickets::export::{self, ExportFormat, ListTitle};
use crate::tickets::{assignment_target, Owner, Status, Ticket, TicketKind};

/// The default and largest page of a list.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;
/// The longest reason a dismissal may carry.
const MAX_REASON_CHARS: usize = 500;

/// Query parameters of the list and the downloads.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 9-digit township code. Admin tokens only (a township token may name only its own).
    pub township: Option<String>,
    /// A ticket kind, e.g. `DEATH_NOT_RECORDED`.
    pub kind: Option<String>,
    /// `open`, `dismissed`, `resolved`, `withdrawn` or `all`.
    pub status: Option<String>,
    /// 12-digit village code.
    pub village: Option<String>,
    /// Only tickets assigned to this person (包保责任人); `none` for those nobody owns.
    pub owner: Option<String>,
    /// 1 to 500 (the list only; default 50).
    pub limit: Option<i64>,
    /// 0 or more (the list only).
    pub offset: Option<i64>,
}

/// `?township=` (and, for the chart's runs, `?limit=`), for endpoints that take
/// nothing else.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScopeQuery {
    /// 9-digit township code. Admin tokens only.
    pub township: Option<String>,
    /// For the chart's runs only: 1 to 100 (default 10).
    pub limit: Option<i64>,
}

/// The body of a dismissal or reopening.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReasonBody {
    /// Why, in the township's words; 1 to 500 characters.
    pub reason: String,
}

/// The body of an assignment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AssignBody {
    /// The owner's name (1 to 32 characters, trimmed; no control characters, not
    /// starting with `=`, `+`, `-` or `@`); `null` or `""` clears the owner. Required.
    #[serde(deserialize_with = "Option::deserialize")]
    pub owner: Option<String>,
}

/// Query parameters, or a JSON `bad_request` saying what is wrong with them.
pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(format!("查询参数有误：{}", e.body_text())))
}

/// A JSON body, or a `bad_request` showing the `shape` it should have.
fn json_body<T>(body: Result<Json<T>, JsonRejection>, shape: &str) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request(format!("请求体应为 {shape}：{}", e.body_text())))
}

/// The filter a list or download runs with: the caller's scope and checked values.
async fn filter(
    caller: &Caller,
    state: &ApiState,
    q: &ListQuery,
) -> Result<TicketFilter, ApiError> {
    let township = caller.scope_audited(state, q.township.as_deref()).await?;
    let kind = match q.kind.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(k) => Some(
            TicketKind::parse(k)
                .ok_or_else(|| ApiError::bad_request(format!("未知的问题类型 {k:?}")))?,
        ),
    };
    let status = match q.status.as_deref().filter(|s| !s.is_empty() && *s != "all") {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "未知的状态 {s:?}（open、dismissed、resolved、withdrawn 或 all）"
            ))
        })?),
    };
    let village = q
        .village
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if village.as_deref().is_some_and(|v| v.len() > 32) {
        return Err(ApiError::bad_request("village 太长"));
    }
    let owner = match q.owner.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(o) => Some(OwnerFilter::parse(o).map_err(|e| ApiError::bad_request(e.to_string()))?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit 应在 1 到 {MAX_LIMIT} 之间"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::bad_request("offset 不能为负数"));
    }
    Ok(TicketFilter {
        township,
        kind,
        status,
        village,
        owner,
        limit: Some(limit),
        offset,
    })
}

/// What a list and a detail both show of a ticket.
fn head(t: &Ticket, state: &ApiState) -> TicketHead {
    TicketHead {
        ticket_id: t.ticket_id.clone(),
        kind: t.kind.to_string(),
        kind_zh: t.kind.zh().to_string(),
        township: t.township.to_string(),
        township_name: state.city.township_name(t.township.as_str()).to_string(),
        village: t.village.clone(),
        status: t.status.to_string(),
        status_zh: t.status.zh().to_string(),
        owner: t.owner.as_ref().map(|o| o.as_str().to_string()),
        opened_at: t.opened_at.clone(),
        updated_at: t.updated_at.clone(),
    }
}

/// A ticket as a list shows it: every ID number masked, no evidence details.
fn list_item(t: &Ticket, state: &ApiState) -> TicketSummary {
    TicketSummary {
        head: head(t, state),
        subject: mask_subject(&t.subject),
        summary_zh: mask_ids_in(&t.summary_zh),
        evidence_count: t.evidence.len(),
        has_suggestion: t.suggestion.is_some(),
    }
}

/// A ticket in full, for its detail view: IDs whole, evidence per department.
fn detail_item(t: &Ticket, state: &ApiState) -> TicketDetail {
    let evidence = t
        .evidence
        .iter()
        .map(|e| EvidenceItem {
            source: e.source.clone(),
            department_zh: export::department_zh(&e.source).to_string(),
            record: e.record.clone(),
            detail: e.detail.clone(),
        })
        .collect();
    TicketDetail {
        head: head(t, state),
        subject: t.subject.clone(),
        summary_zh: t.summary_zh.clone(),
        suggestion: t.suggestion.clone(),
        person_key: t.person_key.clone(),
        evidence,
        can_dismiss: t.status == Status::Open,
        can_reopen: t.status == Status::Dismissed,
    }
}

/// `GET /api/v1/me`: who the token belongs to, for the page's header.
#[utoipa::path(get, path = "/api/v1/me", tag = "tickets",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(caller: Caller, State(state): State<ApiState>) -> Result<Json<Me>, ApiError> {
    let o = &caller.owner;
    let kinds = TicketKind::ALL
        .iter()
        .map(|k| KindName {
            kind: k.as_str().to_string(),
            kind_zh: k.zh().to_string(),
        })
        .collect();
    let townships = if o.is_admin {
        state
            .city
            .townships
            .iter()
            .map(|(code, name)| TownshipName {
                township: code.clone(),
                township_name: name.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Json(Me {
        token_id: o.token_id.clone(),
        name: o.name.clone(),
        is_admin: o.is_admin,
        township: o.township.clone(),
        township_name: o
            .township
            .as_deref()
            .map(|t| state.city.township_name(t).to_string()),
        kinds,
        townships,
    }))
}

/// `GET /api/v1/tickets`: one page of the caller's tickets, with the total.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(ListQuery),
    responses((status = 200, body = TicketList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    caller: Caller,
    State(state): State<ApiState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<TicketList>, ApiError> {
    let f = filter(&caller, &state, &query(q)?).await?;
    let total = state.store.count_tickets(&f).await?;
    let tickets = state.store.list_tickets(&f).await?;
    // A list shows names beside masked IDs: who read which township's list is kept.
    let target = format!("{} of {total} tickets", tickets.len());
    caller
        .audit(
            &state,
            f.township.clone(),
            AuditAction::TicketsList,
            target,
            AuditResult::Ok,
        )
        .await?;
    Ok(Json(TicketList {
        tickets: tickets.iter().map(|t| list_item(t, &state)).collect(),
        township: f.township,
        total,
        limit: f.limit,
        offset: f.offset,
    }))
}

/// `GET /api/v1/tickets/{id}`: one ticket in full with its history. Audited, because it
/// shows whole ID numbers; asked for outside the caller's township it is "not found".
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's ID"), ScopeQuery),
    responses((status = 200, body = TicketWithHistory), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn detail(
    Scoped { caller, scope, .. }: Scoped,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<TicketWithHistory>, ApiError> {
    let target = format!("ticket {}", mask_ids_in(&id));
    let Some(t) = state.store.ticket(&id, scope.as_deref()).await? else {
        caller
            .audit(
                &state,
                scope,
                AuditAction::TicketRead,
                target,
                AuditResult::NotFound,
            )
            .await?;
        return Err(ApiError::not_found("没有这个工单"));
    };
    // Only reached with the ticket already proven to lie within the caller's scope.
    let history = state.store.ticket_events(&t.ticket_id).await?;
    caller
        .audit(
            &state,
            Some(t.township.to_string()),
            AuditAction::TicketRead,
            target,
            AuditResult::Ok,
        )
        .await?;
    Ok(Json(TicketWithHistory {
        ticket: detail_item(&t, &state),
        history: history.into_iter().map(Into::into).collect(),
    }))
}

/// `POST /api/v1/tickets/{id}/dismiss`.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/dismiss", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's ID"), ScopeQuery),
    request_body = ReasonBody,
    responses((status = 200, body = ChangedTicket), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn dismiss(
    scoped: Scoped,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<ReasonBody>, JsonRejection>,
) -> Result<Json<ChangedTicket>, ApiError> {
    change(scoped, state, id, body, Status::Dismissed).await
}

/// `POST /api/v1/tickets/{id}/reopen`.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/reopen", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's ID"), ScopeQuery),
    request_body = ReasonBody,
    responses((status = 200, body = ChangedTicket), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reopen(
    scoped: Scoped,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<ReasonBody>, JsonRejection>,
) -> Result<Json<ChangedTicket>, ApiError> {
    change(scoped, state, id, body, Status::Open).await
}

/// Dismisses or reopens a ticket by hand, scoped in the store's UPDATE itself, and
/// audits the attempt whatever its result.
async fn change(
    Scoped { caller, scope, .. }: Scoped,
    state: ApiState,
    id: String,
    body: Result<Json<ReasonBody>, JsonRejection>,
    to: Status,
) -> Result<Json<ChangedTicket>, ApiError> {
    let body = json_body(body, r#"{"reason": "…"}"#)?;
    let reason = body.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request("请填写原因"));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(format!(
            "原因不能超过 {MAX_REASON_CHARS} 个字"
        )));
    }
    let action = if to == Status::Dismissed {
        AuditAction::TicketDismiss
    } else {
        AuditAction::TicketReopen
    };
    let target = format!("ticket {}", mask_ids_in(&id));
    let Some(before) = state.store.ticket(&id, scope.as_deref()).await? else {
        caller
            .audit(&state, scope, action, target, AuditResult::NotFound)
            .await?;
        return Err(ApiError::not_found("没有这个工单"));
    };
    let now = crate::domain::format_timestamp(crate::domain::now_local());
    let who = caller.actor();
    let actor = Actor {
        name: &who,
        now: &now,
    };
    let done = state
        .store
        .set_ticket_status_by_hand(&id, scope.as_deref(), to, &actor, reason)
        .await?;
    caller
        .audit(
            &state,
            Some(before.township.to_string()),
            action,
            target,
            if done {
                AuditResult::Ok
            } else {
                AuditResult::Refused
            },
        )
        .await?;
    if !done {
        let need = if to == Status::Dismissed {
            "待处理"
        } else {
            "已驳回"
        };
        return Err(ApiError::Conflict(format!(
            "工单当前为“{}”，只有“{need}”的工单可以这样操作",
            before.status.zh()
        )));
    }
    let after = state
        .store
        .ticket(&id, scope.as_deref())
        .await?
        .ok_or_else(|| ApiError::not_found("没有这个工单"))?;
    Ok(Json(ChangedTicket {
        ticket: list_item(&after, &state),
    }))
}

/// `POST /api/v1/tickets/{id}/assign`: gives a ticket an owner (包保责任人) or clears
/// it, in any status. Scoped in the store's query itself (another township's ticket is
/// "not found"); recorded in the ticket's history and audited, the name masked there.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/assign", tag = "tickets",
    params(("id" = String, Path, description = "The ticket's ID"), ScopeQuery),
    request_body = AssignBody,
    responses((status = 200, body = ChangedTicket), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn assign(
    Scoped { caller, scope, .. }: Scoped,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<AssignBody>, JsonRejection>,
) -> Result<Json<ChangedTicket>, ApiError> {
    let body = json_body(body, r#"{"owner": "姓名"} 或 {"owner": null}"#)?;
    let owner = Owner::parse_or_clear(body.owner.as_deref())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let now = crate::domain::format_timestamp(crate::domain::now_local());
    let who = caller.actor();
    let actor = Actor {
        name: &who,
        now: &now,
    };
    let target = assignment_target(&id, owner.as_ref());
    let Some(done) = state
        .store
        .assign_ticket(&id, scope.as_deref(), owner.as_ref(), &actor)
        .await?
    else {
        caller
            .audit(
                &state,
                scope,
                AuditAction::TicketAssign,
                target,
                AuditResult::NotFound,
            )
            .await?;
        return Err(ApiError::not_found("没有这个工单"));
    };
    caller
        .audit(
            &state,
            Some(done.township.to_string()),
            AuditAction::TicketAssign,
            target,
            AuditResult::Ok,
        )
        .await?;
    let after = state
        .store
        .ticket(&id, scope.as_deref())
        .await?
        .ok_or_else(|| ApiError::not_found("没有这个工单"))?;
    Ok(Json(ChangedTicket {
        ticket: list_item(&after, &state),
    }))
}

/// `GET /api/v1/tickets.xlsx`.
#[utoipa::path(get, path = "/api/v1/tickets.xlsx", tag = "tickets", params(ListQuery),
    responses((status = 200, description = "The caller's list as a spreadsheet",
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        body = Vec<u8>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn export_xlsx(
    caller: Caller,
    State(state): State<ApiState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    download(caller, state, q, ExportFormat::Xlsx).await
}

/// `GET /api/v1/tickets.csv`.
#[utoipa::path(get, path = "/api/v1/tickets.csv", tag = "tickets", params(ListQuery),
    responses((status = 200, description = "The caller's list as CSV (UTF-8 with BOM)",
        content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn export_csv(
    caller: Caller,
    State(state): State<ApiState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    download(caller, state, q, ExportFormat::Csv).await
}

/// The caller's whole list (filters as for the list, no paging) as a spreadsheet, the
/// same file `popsync tickets export` writes. Audited: it carries whole IDs.
async fn download(
    caller: Caller,
    state: ApiState,
    q: Result<Query<ListQuery>, QueryRejection>,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    let mut f = filter(
        &caller,
        &state,
        &ListQuery {
            limit: None,
            offset: None,
            ..query(q)?
        },
    )
    .await?;
    f.limit = None;
    f.offset = 0;
    let tickets = state.store.list_tickets(&f).await?;
    let n = tickets.len();
    let as_of = match state.store.latest_as_of().await? {
        Some(as_of) => as_of,
        None => today_local().to_string(),
    };
    let mut title = ListTitle::new(&state.city, f.township.as_deref(), as_of);
    if format == ExportFormat::Xlsx {
        let summary = state
            .store
            .summary(
                f.township.as_deref(),
                today_local(),
                &state.city,
                &state.inspection,
            )
            .await?;
        title = title.with_summary(summary);
    }
    let city = state.city.clone();
    let bytes =
        tokio::task::spawn_blocking(move || export::to_bytes(format, &tickets, &city, &title))
            .await
            .map_err(|e| {
                ApiError::Export(export::ExportError::Io {
                    path: "download".into(),
                    source: std::io::Error::other(e),
                })
            })??;
    let target = format!("{} export of {n} tickets", format.extension());
    caller
        .audit(
            &state,
            f.township.clone(),
            AuditAction::TicketsExport,
            target,
            AuditResult::Ok,
        )
        .await?;
    let code = f.township.as_deref().unwrap_or("city");
    let ascii = format!("popsync-{code}-{}.{}", today_local(), format.extension());
    let name = match f.township.as_deref() {
        Some(t) => format!(
            "{}-问题清单-{}.{}",
            state.city.township_name(t),
            today_local(),
            format.extension()
        ),
        None => format!("全市-问题清单-{}.{}", today_local(), format.extension()),
    };
    let mut headers = HeaderMap::new();
    let content_type = match format {
        ExportFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ExportFormat::Csv => "text/csv; charset=utf-8",
        ExportFormat::Jsonl => "application/jsonl",
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encode(&name)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok((headers, bytes).into_response())
}

/// RFC 5987 encoding of a file name: everything but unreserved ASCII as `%XX`.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET /api/v1/counts`: tickets per kind and status within the caller's scope.
#[utoipa::path(get, path = "/api/v1/counts", tag = "tickets", params(ScopeQuery),
    responses((status = 200, body = Counts), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn counts(
    Scoped { scope, .. }: Scoped,
    State(state): State<ApiState>,
) -> Result<Json<Counts>, ApiError> {
    let rows = state.store.ticket_counts(scope.as_deref()).await?;
    let mut by_kind: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (kind, status, n) in rows {
        by_kind.entry(kind).or_default().insert(status, n);
    }
    let kinds = TicketKind::ALL
        .iter()
        .filter_map(|k| {
            let c = by_kind.get(k.as_str())?;
            let get = |s: Status| c.get(s.as_str()).copied().unwrap_or(0);
            Some(KindCount {
                kind: k.as_str().to_string(),
                kind_zh: k.zh().to_string(),
                open: get(Status::Open),
                dismissed: get(Status::Dismissed),
                resolved: get(Status::Resolved),
                withdrawn: get(Status::Withdrawn),
                total: c.values().sum(),
            })
        })
        .collect();
    Ok(Json(Counts {
        township_name: scope
            .as_deref()
            .map(|t| state.city.township_name(t).to_string()),
        township: scope,
        kinds,
    }))
}

/// `GET /api/v1/runs`: open tickets per kind after each recent run, newest first, for
/// the chart. City-wide for an admin (the run's own summary); a township's own counts,
/// read from the ticket histories in its scope, for anyone else.
#[utoipa::path(get, path = "/api/v1/runs", tag = "tickets", params(ScopeQuery),
    responses((status = 200, body = Runs), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn runs(
    Scoped { scope, query, .. }: Scoped,
    State(state): State<ApiState>,
) -> Result<Json<Runs>, ApiError> {
    let limit = query.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit 应在 1 到 100 之间"));
    }
    let mut runs = Vec::new();
    for (run_id, as_of, finished_at, summary) in state.store.recent_runs(limit).await? {
        let open_by_kind = match scope.as_deref() {
            None => summary
                .get("open_by_kind")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
            Some(t) => state.store.open_by_kind_at(Some(t), &finished_at).await?,
        };
        runs.push(RunOpen {
            run_id,
            as_of,
            finished_at,
            open_by_kind,
        });
    }
    Ok(Json(Runs {
        township: scope,
        runs,
    }))
}
