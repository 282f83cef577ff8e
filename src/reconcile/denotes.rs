//! Who denotes whom, found once per reconciliation before the rules and the golden
//! records, which both read it: the pairing of births, and for each PIS record the
//! birth and the person it denotes and where that person stands in the household
//! register.

use super::births::{denote_births, pair_births, Birth};
use super::view::View;
use crate::domain::IdNumber;

/// Who denotes whom: births paired across departments, and the birth and person each
/// PIS record denotes. The rules and the golden records both read it, so it is built
/// first and both can be built from it at once.
pub struct Denotations<'a> {
    /// Every current birth certificate and `CS` row, paired where they are one birth.
    pub births: Vec<Birth<'a>>,
    /// Per PIS record (not deleted): the birth it denotes.
    pub pis_birth: Vec<Option<usize>>,
    /// Per PIS record: the person ID it denotes (valid `sfzh`, or its birth's child).
    pub pis_person: Vec<Option<IdNumber>>,
    /// Per PIS record: the place among the view's household-register persons of the
    /// person it denotes, or [`NOT_IN_PSB`]. Found once here: the rules and the golden
    /// records both ask it of a million records.
    pis_psb: Vec<u32>,
}

/// A PIS record denotes no person the household register knows.
const NOT_IN_PSB: u32 = u32::MAX;

/// The place among the view's household-register persons of each ID's person, or
/// [`NOT_IN_PSB`]: the IDs sorted, then walked beside the persons, who are in ID
/// order. Looked up one by one in the view's hash index, a million IDs took about
/// 0.5 s (3.4% of a first reconciliation's CPU samples).
fn psb_places(view: &View<'_>, ids: &[Option<IdNumber>]) -> Vec<u32> {
    let mut sorted: Vec<(IdNumber, u32)> = ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| Some(((*id)?, i as u32)))
        .collect();
    sorted.sort_unstable();
    let mut places = vec![NOT_IN_PSB; ids.len()];
    let mut persons = view.psb.walk();
    for (id, i) in sorted {
        if let Some(at) = persons.find(&id) {
            places[i as usize] = at as u32;
        }
    }
    places
}

/// The place of `id`'s person among the view's household-register persons, or
/// [`NOT_IN_PSB`].
fn psb_place_of(view: &View<'_>, id: Option<IdNumber>) -> u32 {
    id.and_then(|id| view.psb.position(&id))
        .map_or(NOT_IN_PSB, |at| at as u32)
}

impl<'a> Denotations<'a> {
    /// Pairs the view's births and finds what each PIS record denotes. The births are
    /// paired on one core while the other reads the records' own IDs and finds their
    /// persons in the household register; only records without an ID wait for the
    /// births.
    pub fn new(view: &View<'a>) -> Denotations<'a> {
        let ((births, pis_birth), (mut pis_person, mut pis_psb)) = crate::parallel::join(
            || {
                let births = pair_births(view);
                let pis_birth = denote_births(&births, view.pis);
                (births, pis_birth)
            },
            || {
                let own: Vec<Option<IdNumber>> = view
                    .pis
                    .iter()
                    .map(|r| {
                        (!r.id_norm.is_empty())
                            .then(|| IdNumber::parse(&r.id_norm).ok())
                            .flatten()
                    })
                    .collect();
                let places = psb_places(view, &own);
                (own, places)
            },
        );
        for (i, r) in view.pis.iter().enumerate() {
            if r.id_norm.is_empty() {
                pis_person[i] = pis_birth[i].and_then(|b| births[b].child_id());
                pis_psb[i] = psb_place_of(view, pis_person[i]);
            }
        }
        Denotations {
            births,
            pis_birth,
            pis_person,
            pis_psb,
        }
    }

    /// Where the person PIS record `i` denotes stands among the view's
    /// household-register persons, if the register knows them.
    pub fn psb_place(&self, i: usize) -> Option<usize> {
        let at = self.pis_psb[i];
        (at != NOT_IN_PSB).then_some(at as usize)
    }
}
