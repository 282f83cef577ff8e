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
}

impl<'s, T> IdWalk<'s, T> {
    pub fn new(items: &'s [(IdNumber, T)]) -> IdWalk<'s, T> {
        IdWalk { items, at: 0 }
    }

    /// The place of `id` in the list; `id` must not be before the one asked last.
    pub fn find(&mut self, id: &IdNumber) -> Option<usize> {
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
    /// The person's active records; `id` must not be before the one asked last.
    pub fn of(&mut self, id: &IdNumber) -> &'r [usize] {
        self.persons
            .find(id)
            .map_or(&[], |at| self.active.range(at))
    }
}
