//! Malformed records per feed, each an extra record, counted so that a client's
//! quarantine can be checked.

use chrono::{Datelike, Duration, NaiveDate};

use crate::sim::ids;
use crate::sim::world::{letter_for, Builder, MCA, NHC, PIS, PSB};

impl Builder {
    /// A few malformed records per feed; each is an extra record, so quarantining it
    /// leaves the world as it was.
    pub(crate) fn malformed(&mut self) {
        self.malformed_psb();
        self.malformed_mca();
        self.malformed_nhc();
        self.malformed_pis();
    }

    fn malformed_psb(&mut self) {
        // a CS row whose gmsfhm fails its check, and one whose mqsfhm does
        for bad_mother in [false, true] {
            let Some((d, mother, child)) = self.overdue_newborn(90, Some(1)) else {
                continue;
            };
            let ywrq = d + self.days(3, 20);
            self.cs_row(child, mother, ywrq, None);
            if let Some(e) = self.evs.last_mut() {
                if bad_mother {
                    e.mq = e.mq.as_deref().map(ids::with_wrong_check);
                } else {
                    e.gmsfhm = ids::with_wrong_check(&e.gmsfhm);
                }
                e.malformed = true;
                self.mal[PSB] += 1;
            }
        }
        // a QR row with an impossible birth date, and one without its address
        for missing_xzqh in [false, true] {
            let m = self.overdue_day(45);
            let vill = self.random_vill();
            let hh = self.new_hh();
            self.newcomer(m, vill, hh, true);
            if let Some(e) = self.evs.last_mut() {
                if missing_xzqh {
                    e.xzqh = String::new();
                } else {
                    let y = &e.csrq[..4];
                    e.csrq = format!("{y}0230");
                }
                e.malformed = true;
                self.mal[PSB] += 1;
            }
        }
    }

    fn malformed_mca(&mut self) {
        // marriages: no registration number, a party's ID failing its check, an impossible date
        for case in 0..3 {
            let r = self.overdue_day(60);
            let Some(man) = self.pick_single(1, r) else {
                continue;
            };
            let woman = if case == 0 {
                self.outsider(2)
            } else {
                match self.pick_single(2, r) {
                    Some(w) => w,
                    None => self.outsider(2),
                }
            };
            let day = if case == 2 {
                NaiveDate::from_ymd_opt(r.year(), 2, 28).unwrap_or(r)
            } else {
                r
            };
            self.marriage_row("结婚", day, man, woman);
            if let Some((_, f)) = self.marr.last_mut() {
                match case {
                    0 => f[0] = String::new(),
                    1 => f[5] = ids::with_wrong_check(&f[5]),
                    _ => f[6] = format!("{}/2/30", day.year()),
                }
                self.mal[MCA] += 1;
            }
        }
        // cremations: an impossible death date, no number, an ID failing its check
        for case in 0..3 {
            let dd = self.overdue_day(60);
            let Some(p) = self.pick(|_| true) else {
                continue;
            };
            let before = self.crem.len();
            let mut d = dd;
            while self.crem.len() == before {
                self.death_records(p, d, false, true, false, false);
                d -= Duration::days(5);
            }
            if let Some((_, f)) = self.crem.last_mut() {
                match case {
                    0 => {
                        let y = dd.year() - 1;
                        f[4] = format!("{y}/4/31");
                    }
                    1 => f[0] = String::new(),
                    _ => f[3] = ids::with_wrong_check(&f[3]),
                }
                self.mal[MCA] += 1;
            }
        }
    }

    fn malformed_nhc(&mut self) {
        for case in 0..3 {
            let Some((d, mother, child)) = self.overdue_newborn(90, Some(2)) else {
                continue;
            };
            let no = self.new_cert(letter_for(d.year()));
            let t = self.at_work(d);
            let mut w = self.birth_wire(child, mother, &no, true, t);
            match case {
                0 => w.birth_date = format!("{}-02-30", d.year()),
                1 => w.certificate_no = None,
                _ => w.mother_id_no = ids::with_wrong_check(&w.mother_id_no),
            }
            self.births.push((t, w));
            self.mal[NHC] += 1;
        }
        for case in 0..3 {
            let dd = self.overdue_day(60);
            let Some(p) = self.pick(|_| true) else {
                continue;
            };
            self.death_records(p, dd, false, false, true, false);
            if let Some((_, w)) = self.deaths.last_mut() {
                match case {
                    0 => w.death_date = format!("{}-04-31", dd.year()),
                    1 => w.certificate_no = None,
                    _ => w.id_no = w.id_no.as_deref().map(ids::with_wrong_check),
                }
                self.mal[NHC] += 1;
            }
        }
    }

    fn malformed_pis(&mut self) {
        for case in 0..2 {
            let Some(p) = self.pick(|_| true) else {
                continue;
            };
            let r = self.main_pis(p);
            let j = self.copy_pis(r);
            let md = self.day(self.start, self.asof - Duration::days(40));
            self.pis[j].mt = self.at_work(md);
            if case == 0 {
                let y = &self.pis[j].csrq[..4];
                self.pis[j].csrq = format!("{y}-02-30");
            } else {
                self.pis[j].pid = None;
            }
            self.pis[j].malformed = true;
            self.pis[j].nomutate = true;
            self.mal[PIS] += 1;
        }
    }
}
