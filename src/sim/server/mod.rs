//! Serving the world: a small HTTP/1.1 server over tokio (keep-alive, GET only),
//! its own so that each fault is exact — a cut body keeps its full
//! `Content-Length`, a reset is a real RST — and the live state behind it: `pis`
//! re-saves (fault mutations and test edits) and voided `nhc` versions.
//!
//! This file holds the live state and the edits tests make; beside it are `http`
//! (the connection loop, request parsing and the server task), `routing` (which
//! feed, its credentials, its fault) and `pages` (each feed's answer).

mod http;
mod pages;
mod routing;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{anyhow, bail};
use chrono::{Duration, NaiveDateTime, NaiveTime};
use rand::rngs::SmallRng;
use rand::Rng;

use super::wire::{BirthWire, DeathWire, PisWire};
use super::world::{fmt_dt, fmt_rfc, NhcItem, PisEntry, World};
use super::{Credentials, Faults};

pub use http::{serve, spawn, SimServer};

/// What changes while the world is served.
struct Live {
    world: World,
    /// Base `pis` indices re-saved (now in `tail`), sorted.
    removed: Vec<usize>,
    removed_set: HashSet<usize>,
    /// Re-saved records, in order of their new `modifiedTime`.
    tail: Vec<PisEntry>,
    /// Edits and re-saves so far: the simulated clock's seconds.
    clock: i64,
    /// Base `pis` indices kept out of every answer (also in `removed`, not in `tail`).
    hidden: Vec<usize>,
}

/// The served world behind a lock, the fault settings and request counters.
pub struct SimState {
    live: Mutex<Live>,
    faults: Faults,
    creds: Credentials,
    requests: AtomicU64,
    faulted: AtomicU64,
    pis_responses: AtomicU64,
    clock_base: NaiveDateTime,
}

impl SimState {
    /// Serves `world` with `faults` to clients holding `creds`. The edit clock starts
    /// at 20:00 the day before the as-of date, after every generated `pis` time, and
    /// ticks a second per edit or re-save.
    pub fn new(world: World, faults: Faults, creds: Credentials) -> Arc<SimState> {
        let as_of = world.opts.as_of;
        let clock_base = (as_of - Duration::days(1))
            .and_time(NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default());
        Arc::new(SimState {
            live: Mutex::new(Live {
                world,
                removed: Vec::new(),
                removed_set: HashSet::new(),
                tail: Vec::new(),
                clock: 0,
                hidden: Vec::new(),
            }),
            faults,
            creds,
            requests: AtomicU64::new(0),
            faulted: AtomicU64::new(0),
            pis_responses: AtomicU64::new(0),
            clock_base,
        })
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        // a panic while holding the lock leaves consistent data: keep serving
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feed requests received (all endpoints, whatever their answer).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Re-saves the `pis` record `person_id` with `field` (its wire name) set to
    /// `value` and a new `modifiedTime`, moving it to the end of the order.
    pub fn pis_update(&self, person_id: &str, field: &str, value: &str) -> anyhow::Result<()> {
        let mut live = self.live();
        let base = self.clock_base;
        resave(&mut live, base, person_id, |w| {
            if w.set(field, value) {
                Ok(())
            } else {
                Err(anyhow!("unknown or read-only pis field {field:?}"))
            }
        })
    }

    /// Keeps `count` records spread evenly over the starting `pis` register out of
    /// every answer, as if a transaction holding them had not committed yet. Returns
    /// how many were hidden (records that tests or faults may re-save are left alone).
    pub fn pis_hide_spread(&self, count: usize) -> usize {
        let mut live = self.live();
        let candidates: Vec<usize> = (0..live.world.pis.len())
            .filter(|&i| live.world.pis[i].mutable && !live.removed_set.contains(&i))
            .collect();
        if count == 0 || candidates.is_empty() {
            return 0;
        }
        let step = (candidates.len() / count).max(1);
        let chosen: Vec<usize> = candidates.into_iter().step_by(step).take(count).collect();
        for &i in &chosen {
            live.hide(i);
        }
        chosen.len()
    }

    /// The `personId`s of served starting-register records that tests may edit.
    pub fn pis_editable_ids(&self) -> Vec<String> {
        let live = self.live();
        (0..live.world.pis.len())
            .filter(|&i| live.world.pis[i].mutable && !live.removed_set.contains(&i))
            .map(|i| live.world.pis[i].pid.clone())
            .collect()
    }

    /// The `personId`s of the records [`SimState::pis_hide_spread`] hid.
    pub fn pis_hidden(&self) -> Vec<String> {
        let live = self.live();
        live.hidden
            .iter()
            .map(|&i| live.world.pis[i].pid.clone())
            .collect()
    }

    /// Serves the hidden records again, with the `modifiedTime` they always had: older
    /// than what a sync has already read, so no cursor finds them.
    pub fn pis_reveal(&self) {
        let mut live = self.live();
        for i in std::mem::take(&mut live.hidden) {
            let k = live.removed.partition_point(|&r| r < i);
            live.removed.remove(k);
            live.removed_set.remove(&i);
        }
    }

    /// Changes field `field` of the `pis` record `person_id` in place, keeping its
    /// `modifiedTime` and its place: a vendor's fix that no cursor sees.
    pub fn pis_edit_in_place(
        &self,
        person_id: &str,
        field: &str,
        value: &str,
    ) -> anyhow::Result<()> {
        let mut live = self.live();
        let live = &mut *live;
        let entry = match live.tail.iter_mut().rev().find(|e| e.pid == person_id) {
            Some(e) => e,
            None => live
                .world
                .pis
                .iter_mut()
                .find(|e| e.pid == person_id)
                .ok_or_else(|| anyhow!("no pis record with personId {person_id:?}"))?,
        };
        let mut w: PisWire = serde_json::from_slice(&entry.bytes)?;
        if !w.set(field, value) {
            bail!("unknown or read-only pis field {field:?}");
        }
        entry.bytes = serde_json::to_vec(&w)?;
        Ok(())
    }

    /// Re-saves the `pis` record `person_id` with `delFlag` "1".
    pub fn pis_delete(&self, person_id: &str) -> anyhow::Result<()> {
        let mut live = self.live();
        let base = self.clock_base;
        resave(&mut live, base, person_id, |w| {
            w.del_flag = "1".into();
            Ok(())
        })
    }

    /// Adds a new VOID version of birth or death certificate `certificate_no`. Like a
    /// real department it is stamped after every item already served (and no earlier
    /// than the edit clock), so a reader polling `updatedSince` sees it.
    pub fn nhc_void(&self, certificate_no: &str) -> anyhow::Result<()> {
        let mut live = self.live();
        live.clock += 1;
        let newest = live
            .world
            .nhc_birth
            .iter()
            .chain(&live.world.nhc_death)
            .map(|x| x.at)
            .max()
            .unwrap_or(0);
        let at = (self.clock_base + Duration::seconds(live.clock))
            .and_utc()
            .timestamp()
            .max(newest + 1);
        let t = chrono::DateTime::<chrono::Utc>::from_timestamp(at, 0)
            .unwrap_or_default()
            .naive_utc();
        let find = |items: &[NhcItem]| {
            items
                .iter()
                .enumerate()
                .filter(|(_, x)| x.cert == certificate_no)
                .max_by_key(|(_, x)| x.version)
                .map(|(i, _)| i)
        };
        let (is_birth, i) = match find(&live.world.nhc_birth) {
            Some(i) => (true, i),
            None => match find(&live.world.nhc_death) {
                Some(i) => (false, i),
                None => {
                    live.clock -= 1;
                    bail!("no certificate {certificate_no:?}");
                }
            },
        };
        let items = if is_birth {
            &mut live.world.nhc_birth
        } else {
            &mut live.world.nhc_death
        };
        let old = &items[i];
        let version = old.version + 1;
        let bytes = if is_birth {
            let mut w: BirthWire = serde_json::from_slice(&old.bytes)?;
            w.version = version;
            w.status = "VOID".into();
            w.updated_at = fmt_rfc(t);
            serde_json::to_vec(&w)?
        } else {
            let mut w: DeathWire = serde_json::from_slice(&old.bytes)?;
            w.version = version;
            w.status = "VOID".into();
            w.updated_at = fmt_rfc(t);
            serde_json::to_vec(&w)?
        };
        let item = NhcItem {
            at,
            cert: certificate_no.to_string(),
            version,
            bytes,
        };
        let pos = items.partition_point(|x| (x.at, &x.cert) <= (at, &item.cert));
        items.insert(pos, item);
        Ok(())
    }
}

/// Re-saves one `pis` record with `edit` applied and the next clock time.
fn resave(
    live: &mut Live,
    base: NaiveDateTime,
    pid: &str,
    edit: impl FnOnce(&mut PisWire) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    enum At {
        Base(usize),
        Tail(usize),
    }
    let at = if let Some(i) = live.tail.iter().rposition(|e| e.pid == pid) {
        At::Tail(i)
    } else if let Some(i) = live
        .world
        .pis
        .iter()
        .enumerate()
        .position(|(i, e)| e.pid == pid && !live.removed_set.contains(&i))
    {
        At::Base(i)
    } else {
        bail!("no pis record with personId {pid:?}");
    };
    let old = match at {
        At::Base(i) => &live.world.pis[i],
        At::Tail(i) => &live.tail[i],
    };
    let mut w: PisWire = serde_json::from_slice(&old.bytes)?;
    let mutable = old.mutable;
    edit(&mut w)?;
    live.clock += 1;
    let mt = base + Duration::seconds(live.clock);
    w.modified_time = fmt_dt(mt);
    let entry = PisEntry {
        mt,
        pid: pid.to_string(),
        bytes: serde_json::to_vec(&w)?,
        mutable,
    };
    match at {
        At::Base(i) => {
            let k = live.removed.partition_point(|&r| r < i);
            live.removed.insert(k, i);
            live.removed_set.insert(i);
        }
        At::Tail(i) => {
            live.tail.remove(i);
        }
    }
    live.tail.push(entry);
    Ok(())
}

impl Live {
    /// Keeps base record `i` out of every answer: the offset walk skips it as it skips
    /// a re-saved record, but it is in no tail.
    fn hide(&mut self, i: usize) {
        let k = self.removed.partition_point(|&r| r < i);
        self.removed.insert(k, i);
        self.removed_set.insert(i);
        self.hidden.push(i);
    }

    /// One page of `pis` by offset over base records not re-saved, then the tail.
    fn pis_page(
        &self,
        since: Option<NaiveDateTime>,
        page_no: usize,
        size: usize,
    ) -> (usize, Vec<u8>) {
        let base = &self.world.pis;
        let start = since.map_or(0, |s| base.partition_point(|e| e.mt < s));
        let k0 = self.removed.partition_point(|&r| r < start);
        let base_n = base.len() - start - (self.removed.len() - k0);
        let t0 = since.map_or(0, |s| self.tail.partition_point(|e| e.mt < s));
        let total = base_n + self.tail.len() - t0;
        let off = (page_no - 1).saturating_mul(size);
        let mut out: Vec<&[u8]> = Vec::with_capacity(size.min(1000));
        let off2 = if off < base_n {
            let mut pos = start + off;
            let mut k = k0;
            while k < self.removed.len() && self.removed[k] <= pos {
                pos += 1;
                k += 1;
            }
            while pos < base.len() && out.len() < size {
                if !self.removed_set.contains(&pos) {
                    out.push(&base[pos].bytes);
                }
                pos += 1;
            }
            0
        } else {
            off - base_n
        };
        let mut j = t0 + off2;
        while j < self.tail.len() && out.len() < size {
            out.push(&self.tail[j].bytes);
            j += 1;
        }
        (total, out.join(&b","[..]))
    }

    /// Re-saves one random mutable base record, content unchanged.
    fn mutate(&mut self, rng: &mut SmallRng, base: NaiveDateTime) {
        let n = self.world.pis.len();
        if n == 0 {
            return;
        }
        for _ in 0..8 {
            let i = rng.random_range(0..n);
            if self.removed_set.contains(&i) || !self.world.pis[i].mutable {
                continue;
            }
            let pid = self.world.pis[i].pid.clone();
            let _ = resave(self, base, &pid, |_| Ok(()));
            return;
        }
    }
}
