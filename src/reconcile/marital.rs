//! Marital status as civil affairs implies it: marriages, divorces, annulments that
//! undo the marriage they annul, and a spouse's death.

use foldhash::{HashMap, HashMapExt};

use chrono::NaiveDate;

use super::view::View;
use crate::domain::IdNumber;
use crate::records::{Hyzk, Marriage, MarriageKind};

/// What the register's `hyzk` should say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implied {
    Married,
    Divorced,
    Widowed,
}

impl Implied {
    /// Whether a register's `hyzk` agrees.
    pub fn matches(self, hyzk: Option<&Hyzk>) -> bool {
        match (self, hyzk) {
            (Implied::Married, Some(h)) => h.is_married(),
            (Implied::Divorced, Some(h)) => *h == Hyzk::Divorced,
            (Implied::Widowed, Some(h)) => *h == Hyzk::Widowed,
            (_, None) => false,
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Implied::Married => "已婚",
            Implied::Divorced => "离婚",
            Implied::Widowed => "丧偶",
        }
    }
}

/// One person's marriage-register events, in date order.
pub struct MaritalHistory<'a> {
    pub events: Vec<(&'a Marriage, IdNumber)>,
}

impl<'a> MaritalHistory<'a> {
    /// Every person's history, by ID, from the marriage register rows in date order.
    pub fn index(marriages: &[&'a Marriage]) -> HashMap<IdNumber, MaritalHistory<'a>> {
        let mut histories: HashMap<IdNumber, MaritalHistory<'a>> = HashMap::new();
        for m in marriages {
            for (me, partner) in [(m.husband_id, m.wife_id), (m.wife_id, m.husband_id)] {
                histories
                    .entry(me)
                    .or_insert_with(|| MaritalHistory { events: Vec::new() })
                    .events
                    .push((m, partner));
            }
        }
        histories
    }

    /// The status the events dated on or before `cutoff` imply, counting a spouse's
    /// death dated on or before `cutoff`; `None` when they imply nothing.
    pub fn status(&self, view: &View<'_>, cutoff: NaiveDate) -> Option<Implied> {
        let mut events: Vec<Option<(&Marriage, IdNumber)>> = self
            .events
            .iter()
            .filter(|(m, _)| m.reg_date <= cutoff)
            .map(|e| Some(*e))
            .collect();
        // An annulment undoes the latest marriage of that couple before it.
        for i in 0..events.len() {
            let Some((m, partner)) = events[i] else {
                continue;
            };
            if m.kind != MarriageKind::Annulment {
                continue;
            }
            let undone = (0..i).rev().find(|&j| {
                events[j].is_some_and(|(mj, pj)| mj.kind == MarriageKind::Marriage && pj == partner)
            });
            if let Some(j) = undone {
                events[j] = None;
            }
            events[i] = None;
        }
        let mut state = None;
        let mut spouse: Option<(IdNumber, NaiveDate)> = None;
        for (m, partner) in events.into_iter().flatten() {
            match m.kind {
                MarriageKind::Marriage => {
                    state = Some(Implied::Married);
                    spouse = Some((partner, m.reg_date));
                }
                MarriageKind::Divorce => {
                    state = Some(Implied::Divorced);
                    spouse = None;
                }
                MarriageKind::Replacement | MarriageKind::Annulment => {}
            }
        }
        if let (Some(Implied::Married), Some((s, since))) = (state, spouse) {
            if view
                .deaths
                .get(&s)
                .is_some_and(|d| d.date >= since && d.date <= cutoff)
            {
                state = Some(Implied::Widowed);
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_outside_the_standard_agrees_with_no_status() {
        for implied in [Implied::Married, Implied::Divorced, Implied::Widowed] {
            assert!(!implied.matches(Some(&Hyzk::parse("2O"))), "{implied:?}");
            assert!(!implied.matches(None), "{implied:?}");
        }
        for married in ["20", "21", "22", "23"] {
            assert!(Implied::Married.matches(Some(&Hyzk::parse(married))));
        }
        assert!(Implied::Divorced.matches(Some(&Hyzk::parse("40"))));
        assert!(Implied::Widowed.matches(Some(&Hyzk::parse("30"))));
    }
}
