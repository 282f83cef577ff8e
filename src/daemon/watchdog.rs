//! systemd notification: READY once the store is open and schedules are set,
//! `WATCHDOG=1` only while every loop has beaten recently, STOPPING on shutdown.
//! Outside systemd (no `NOTIFY_SOCKET`) these are no-ops.

use std::time::Duration;

use sd_notify::NotifyState;

use crate::shutdown::Shutdown;
use crate::sync::Heartbeat;

/// A loop that has not beaten for this long is stuck (loops beat at least every 5 s
/// while idle, and on every page or retry while pulling).
const STUCK_AFTER: Duration = Duration::from_secs(120);

pub fn ready() {
    let _ = sd_notify::notify(false, &[NotifyState::Ready]);
}

pub fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

/// Pings the watchdog at half its interval while every heartbeat is fresh.
pub async fn run(beats: Vec<(String, Heartbeat)>, mut shutdown: Shutdown) -> String {
    let mut usec = 0u64;
    let enabled = sd_notify::watchdog_enabled(false, &mut usec);
    let every = if enabled {
        Duration::from_micros(usec / 2)
    } else {
        Duration::from_secs(30)
    };
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
        } else {
            tracing::error!(loops = %stuck.join(","), action = "systemd will restart popsync if this persists; check the database and the feeds", "loops made no progress; withholding the watchdog ping");
        }
    }
    "watchdog".to_string()
}
