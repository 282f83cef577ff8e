//! systemd notification: READY once the store is open and schedules are set,
//! `WATCHDOG=1` only while every loop has beaten recently, STOPPING on shutdown.
//! Outside systemd (no `NOTIFY_SOCKET`) the notifications are no-ops, but a stuck loop
//! is still reported in the log.

use std::time::Duration;

use sd_notify::NotifyState;

use crate::run::pull::Heartbeat;
use crate::shutdown::Shutdown;

/// A loop that has not beaten for this long is stuck. Loops beat at least every 5 s
/// while idle, and on every stored page and every retry while pulling; one request is
/// bounded by the feed's `timeout_secs` (60 by default) and one backoff step by
/// `retry_max_delay_secs` (60), so a healthy loop never goes this long without a beat.
pub const STUCK_AFTER: Duration = Duration::from_secs(120);

/// How often the loops are checked (and systemd pinged) at most, whatever `WatchdogSec=`
/// says: frequent checks mean systemd only restarts popsync once a loop has been stuck
/// for about `STUCK_AFTER` plus `WatchdogSec=`, never on one unlucky check.
const CHECK_EVERY_MAX: Duration = Duration::from_secs(15);

pub fn ready() {
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status("running")]);
}

pub fn stopping() {
    let _ = sd_notify::notify(
        false,
        &[NotifyState::Stopping, NotifyState::Status("stopping")],
    );
}

/// Pings the watchdog while every heartbeat is fresh; withholds the ping (and says
/// why, once per stuck episode) when one is not.
pub async fn run(beats: Vec<(String, Heartbeat)>, mut shutdown: Shutdown) -> &'static str {
    let mut usec = 0u64;
    let enabled = sd_notify::watchdog_enabled(false, &mut usec);
    let every = if enabled {
        Duration::from_micros(usec / 4).min(CHECK_EVERY_MAX)
    } else {
        CHECK_EVERY_MAX
    };
    let every = every.max(Duration::from_millis(100));
    let mut was_stuck = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = shutdown.recv() => break,
        }
        let stuck: Vec<&str> = beats
            .iter()
            .filter(|(_, h)| h.age() > STUCK_AFTER)
            .map(|(n, _)| n.as_str())
            .collect();
        if stuck.is_empty() {
            if enabled {
                let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
            }
            if was_stuck {
                tracing::info!("every loop makes progress again; watchdog pings resumed");
            }
            was_stuck = false;
        } else if !was_stuck {
            was_stuck = true;
            tracing::error!(
                loops = %stuck.join(","),
                stuck_after_secs = STUCK_AFTER.as_secs(),
                action = "systemd restarts popsync if this lasts past WatchdogSec; if it recurs, check the database (locks, disk) and the feeds' response times",
                "loops made no progress; withholding the watchdog ping"
            );
        }
    }
    "watchdog"
}
