//! Freezing: the builder's structured records serialised once into the bytes each
//! feed serves (the `psb` arena with its row offsets and repeated rows, `nhc` items,
//! `mca` days, `pis` entries in order) and the served counts.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use rand::Rng;
use serde::Serialize;

use crate::sim::wire::{self, PisWire, PsbWire};
use crate::sim::{FeedCount, ServedCounts};

use super::builder::{fmt_dt, fmt_ymd, Builder, MCA, NHC, PIS, PSB};
use super::{NhcItem, PisEntry, World};

impl Builder {
    /// Freezes the records into the world: each feed's bytes in the order it serves
    /// them, the counts it serves, and the expected tickets the `INVALID_ID` rule kept.
    pub(super) fn finish(self) -> World {
        let Builder {
            o,
            tw,
            vills,
            persons,
            mut evs,
            pis,
            births,
            deaths,
            marr,
            crem,
            expected,
            dropped,
            mal,
            psb_repeats,
            mut rng,
            start,
            ..
        } = self;
        let county = o.county.clone();

        // psb: the snapshot, then events in the order they were recorded
        evs.sort_by_key(|e| e.djsj);
        let total = persons.iter().filter(|p| p.initial).count() + evs.len();
        let mut arena = Vec::with_capacity(total * 420);
        let mut off = Vec::with_capacity(total + psb_repeats + 1);
        let mut seq: u64 = 0;
        let start_dt = fmt_dt(start.and_time(NaiveTime::MIN));
        let start_ymd = fmt_ymd(start);
        let push_row = |arena: &mut Vec<u8>, off: &mut Vec<usize>, w: &PsbWire| {
            off.push(arena.len());
            let _ = serde_json::to_writer(&mut *arena, w);
            arena.push(b',');
        };
        for p in persons.iter().filter(|p| p.initial) {
            seq += 1;
            let lsh = format!("{county}{}{seq:08}", start.year());
            let name = p.csh_name.as_deref().unwrap_or(&p.name);
            let csrq = fmt_ymd(p.birth);
            let hh = format!("{county}{:06}", p.hh);
            let xb = p.sex.to_string();
            let w = PsbWire {
                lsh: &lsh,
                ywlx: "CSH",
                gmsfhm: &p.id,
                xm: name,
                xb: &xb,
                csrq: &csrq,
                mz: p.mz,
                hh: &hh,
                yhzgx: p.yhzgx,
                xzqh: &vills[p.vill0].0,
                qyd: None,
                qwd: None,
                fqsfhm: None,
                mqsfhm: None,
                csyxzmbh: None,
                swrq: None,
                ywrq: &start_ymd,
                djsj: &start_dt,
            };
            push_row(&mut arena, &mut off, &w);
        }
        let first_ev = off.len();
        let mut repeat_at: Vec<(usize, usize)> = Vec::new();
        if psb_repeats > 0 && evs.len() > 10 {
            for _ in 0..psb_repeats {
                let src = first_ev + rng.random_range(0..evs.len() - 5);
                repeat_at.push((src + rng.random_range(1..5), src));
            }
        }
        for (k, e) in evs.iter().enumerate() {
            seq += 1;
            let lsh = format!("{county}{}{seq:08}", e.djsj.year());
            let ywrq = fmt_ymd(e.ywrq);
            let djsj = fmt_dt(e.djsj);
            let w = PsbWire {
                lsh: &lsh,
                ywlx: e.ywlx,
                gmsfhm: &e.gmsfhm,
                xm: &e.xm,
                xb: &e.xb,
                csrq: &e.csrq,
                mz: e.mz,
                hh: &e.hh,
                yhzgx: e.yhzgx,
                xzqh: &e.xzqh,
                qyd: e.qyd.as_deref(),
                qwd: e.qwd.as_deref(),
                fqsfhm: e.fq.as_deref(),
                mqsfhm: e.mq.as_deref(),
                csyxzmbh: e.csyx.as_deref(),
                swrq: e.swrq.as_deref(),
                ywrq: &ywrq,
                djsj: &djsj,
            };
            push_row(&mut arena, &mut off, &w);
            let idx = first_ev + k;
            for &(at, src) in &repeat_at {
                if at == idx {
                    let row = arena[off[src]..off[src + 1]].to_vec();
                    off.push(arena.len());
                    arena.extend_from_slice(&row);
                }
            }
        }
        let psb_rows = off.len() - repeat_at.len();
        off.push(arena.len());
        arena.shrink_to_fit();

        let nhc_birth = nhc_items(births, |w| (w.certificate_no.as_deref(), w.version));
        let nhc_death = nhc_items(deaths, |w| (w.certificate_no.as_deref(), w.version));
        let mca_marriage = mca_days(&marr);
        let mca_cremation = mca_days(&crem);

        // pis: ordered by (modifiedTime, personId)
        let mut pis_out: Vec<PisEntry> = pis
            .iter()
            .filter(|r| !r.skip)
            .map(|r| {
                let w = PisWire {
                    person_id: r.pid.clone(),
                    sfzh: r.sfzh.clone(),
                    xm: r.xm.clone(),
                    xb: if r.xb == 1 {
                        "男".into()
                    } else {
                        "女".into()
                    },
                    csrq: r.csrq.clone(),
                    cun_code: vills[r.vill].0.clone(),
                    hyzk: r.hyzk.into(),
                    mq_sfzh: r.mq.clone(),
                    csyxzmbh: r.csyx.clone(),
                    zt: r.zt.to_string(),
                    modified_time: fmt_dt(r.mt),
                    del_flag: if r.del { "1".into() } else { "0".into() },
                };
                PisEntry {
                    mt: r.mt,
                    pid: r.pid.clone().unwrap_or_default(),
                    bytes: serde_json::to_vec(&w).unwrap_or_default(),
                    mutable: r.pid.is_some() && !r.nomutate && !r.malformed,
                }
            })
            .collect();
        pis_out.sort_by(|a, b| (a.mt, &a.pid).cmp(&(b.mt, &b.pid)));

        let served = ServedCounts {
            psb: FeedCount {
                records: psb_rows as u64,
                malformed: mal[PSB],
            },
            mca: FeedCount {
                records: (marr.len() + crem.len()) as u64,
                malformed: mal[MCA],
            },
            nhc: FeedCount {
                records: (nhc_birth.len() + nhc_death.len()) as u64,
                malformed: mal[NHC],
            },
            pis: FeedCount {
                records: pis_out.len() as u64,
                malformed: mal[PIS],
            },
        };
        let expected = expected
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !dropped.contains(i))
            .map(|(_, t)| t)
            .collect();
        World {
            opts: o,
            townships: tw,
            psb_arena: arena,
            psb_off: off,
            nhc_birth,
            nhc_death,
            mca_marriage,
            mca_cremation,
            pis: pis_out,
            expected,
            served,
        }
    }
}

/// The versions of one kind of `nhc` certificate as the feed serves them: ordered by
/// (updatedAt, certificateNo), each with that key, its version and its bytes.
/// `key` gives a version's certificate number and version.
fn nhc_items<W: Serialize>(
    mut versions: Vec<(NaiveDateTime, W)>,
    key: impl Fn(&W) -> (Option<&str>, u32),
) -> Vec<NhcItem> {
    let cert = |w: &W| key(w).0.unwrap_or_default().to_string();
    versions.sort_by_key(|(t, w)| (*t, cert(w)));
    versions
        .iter()
        .map(|(t, w)| NhcItem {
            at: t.and_utc().timestamp(),
            cert: cert(w),
            version: key(w).1,
            bytes: serde_json::to_vec(w).unwrap_or_default(),
        })
        .collect()
}

/// The GBK CSV lines of one `mca` export's rows, per day.
fn mca_days(rows: &[(NaiveDate, Vec<String>)]) -> BTreeMap<NaiveDate, Vec<u8>> {
    let mut days: BTreeMap<NaiveDate, Vec<u8>> = BTreeMap::new();
    for (d, f) in rows {
        days.entry(*d).or_default().extend(wire::csv_line_gbk(f));
    }
    days
}
