//! Queries only the township API needs. Each takes the township it serves and applies it
//! in the SQL itself, so that a township's caller can never read another's rows even if
//! a handler forgets to filter.

use std::collections::BTreeMap;

use sqlx::Row;

use super::tickets::{filtered, FILTER_SQL};
use super::{doing, Store, StoreError, TicketFilter};

impl Store {
    /// How many tickets match a filter, ignoring its `limit` and `offset`: the `total` a
    /// paged list reports.
    pub async fn count_tickets(&self, f: &TicketFilter) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM tickets WHERE {FILTER_SQL}");
        filtered(&sql, f)
            .fetch_one(&self.pool)
            .await
            .map_err(doing("counting tickets"))?
            .try_get(0)
            .map_err(doing("counting tickets"))
    }

    /// Open tickets per kind as they stood at `at` (an RFC 3339 timestamp such as a run's
    /// `finished_at`), within a township or the city: a ticket counts when its latest
    /// status change at or before `at` left it open. Runs store only city-wide counts,
    /// so this is how a township's chart is drawn without showing other townships' numbers.
    pub async fn open_by_kind_at(
        &self,
        township: Option<&str>,
        at: &str,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.kind, COUNT(*) FROM tickets t WHERE ($1 IS NULL OR t.township = $1)
             AND (SELECT e.to_status FROM ticket_events e WHERE e.ticket_id = t.ticket_id AND e.at <= $2
                  ORDER BY e.event_id DESC LIMIT 1) = 'open'
             GROUP BY t.kind ORDER BY t.kind",
        )
        .bind(township.map(str::to_string))
        .bind(at.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(doing("counting open tickets at a run"))?;
        rows.iter()
            .map(|r| {
                let d = || doing("counting open tickets at a run");
                Ok((r.try_get(0).map_err(d())?, r.try_get(1).map_err(d())?))
            })
            .collect()
    }
}
