//! Lists sorted by ID and the forward walks that read them: the rules ask a million
//! IDs of them in ID order, so a walk reads each list once, front to back, where a
//! search or a hash lookup per ID would read it a million times.

use crate::domain::IdNumber;

/// Finds IDs asked for in ascending order in a list sorted by ID, by walking forward
/// instead of searching or hashing: asked a million times in ID order, it reads the
/// list once, front to back.
pub struct IdWalk<'s, T> {
    items: &'s [(IdNumber, T)],
    at: usize,
    /// The ID asked last. A walk never steps back, so an ID asked after a larger one
    /// would be reported missing although the list holds it: debug builds stop there.
    #[cfg(debug_assertions)]
    last: Option<IdNumber>,
}

impl<'s, T> IdWalk<'s, T> {
    pub fn new(items: &'s [(IdNumber, T)]) -> IdWalk<'s, T> {
        IdWalk {
            items,
            at: 0,
            #[cfg(debug_assertions)]
            last: None,
        }
    }

    /// The place of `id` in the list; `id` must not be before the one asked last.
    pub fn find(&mut self, id: &IdNumber) -> Option<usize> {
        #[cfg(debug_assertions)]
        {
            debug_assert!(
                self.last.is_none_or(|last| last <= *id),
                "IdWalk asked for {id:?} after {:?}: IDs must be asked in ascending order",
                self.last
            );
            self.last = Some(*id);
        }
        while self.items.get(self.at).is_some_and(|(p, _)| p < id) {
            self.at += 1;
        }
        (self.items.get(self.at)?.0 == *id).then_some(self.at)
    }
}

/// Active PIS records per person ID, kept flat: every record index in person order,
/// and each person, in ID order, with where their records start: a sorted vector
/// instead of a hash map of persons to ranges, which held each ID in a table kept
/// partly empty. A lookup is a binary search.
pub struct ActiveRecords {
    records: Vec<usize>,
    persons: Vec<(IdNumber, u32)>,
}

impl ActiveRecords {
    /// From (person ID, record index) pairs in any order.
    pub fn new(mut pairs: Vec<(IdNumber, usize)>) -> ActiveRecords {
        pairs.sort_unstable();
        let mut persons: Vec<(IdNumber, u32)> = Vec::new();
        let mut records = Vec::with_capacity(pairs.len());
        for (n, &(id, i)) in pairs.iter().enumerate() {
            if persons.last().is_none_or(|(last, _)| *last != id) {
                persons.push((id, n as u32));
            }
            records.push(i);
        }
        persons.shrink_to_fit();
        ActiveRecords { records, persons }
    }

    /// The person's active records, in register order.
    pub fn of(&self, id: &IdNumber) -> &[usize] {
        match self.persons.binary_search_by(|(p, _)| p.cmp(id)) {
            Ok(at) => self.range(at),
            Err(_) => &[],
        }
    }

    pub fn contains(&self, id: &IdNumber) -> bool {
        !self.of(id).is_empty()
    }

    /// Finds persons asked for in ID order by walking forward, not searching: a rule
    /// that walks the household register in ID order asks a million times.
    pub fn walk(&self) -> ActiveWalk<'_> {
        ActiveWalk {
            active: self,
            persons: IdWalk::new(&self.persons),
        }
    }

    /// The records of the person at `at` of `persons`.
    fn range(&self, at: usize) -> &[usize] {
        let start = self.persons[at].1 as usize;
        let end = self
            .persons
            .get(at + 1)
            .map_or(self.records.len(), |(_, next)| *next as usize);
        &self.records[start..end]
    }
}

/// [`ActiveRecords`] read in ID order.
pub struct ActiveWalk<'r> {
    active: &'r ActiveRecords,
    persons: IdWalk<'r, u32>,
}

impl<'r> ActiveWalk<'r> {
    /// The person's active records; `id` must not be before the one asked last (the
    /// walk beneath asserts it in debug builds).
    pub fn of(&mut self, id: &IdNumber) -> &'r [usize] {
        self.persons
            .find(id)
            .map_or(&[], |at| self.active.range(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> IdNumber {
        IdNumber::parse(s).unwrap()
    }

    /// Three IDs in ascending order (each with its right check character).
    fn ids() -> [IdNumber; 3] {
        let mut v = [
            id("349901197208188924"),
            id("34990120101223537X"),
            id("11010519491231002X"),
        ];
        v.sort();
        v
    }

    #[test]
    fn id_walk_finds_ids_asked_in_order_and_again() {
        let [a, b, c] = ids();
        let items = [(a, ()), (c, ())];
        let mut w = IdWalk::new(&items);
        assert_eq!(w.find(&a), Some(0));
        assert_eq!(w.find(&a), Some(0), "the same ID may be asked twice");
        assert_eq!(w.find(&b), None);
        assert_eq!(w.find(&c), Some(1));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "ascending order")]
    fn id_walk_asked_out_of_order_stops_in_debug_builds() {
        let [a, _, c] = ids();
        let items = [(a, ()), (c, ())];
        let mut w = IdWalk::new(&items);
        w.find(&c);
        // Without the assertion this would answer `None`: `a` is behind the walk.
        w.find(&a);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "ascending order")]
    fn active_walk_asked_out_of_order_stops_in_debug_builds() {
        let [a, b, _] = ids();
        let active = ActiveRecords::new(vec![(b, 1), (a, 0)]);
        let mut w = active.walk();
        assert_eq!(w.of(&b), &[1]);
        w.of(&a);
    }
}
