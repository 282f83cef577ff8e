//! Cron schedules evaluated in China Standard Time, the zone the departments work in.

use chrono::{DateTime, FixedOffset};

use crate::domain::CST_OFFSET_SECS;

/// The next time the schedule fires after now.
pub fn next_fire(schedule: &cron::Schedule) -> Option<DateTime<FixedOffset>> {
    let cst = FixedOffset::east_opt(CST_OFFSET_SECS).expect("valid offset");
    schedule.upcoming(cst).next()
}
