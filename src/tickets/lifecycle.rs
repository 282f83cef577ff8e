//! The ticket lifecycle, pure: the stored tickets and this run's drafts in, the
//! changes to make out. open → resolved / withdrawn / dismissed; one problem is one
//! ticket for ever (a recurrence reopens it).

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::{TicketDraft, TicketKind};
use crate::domain::TownshipCode;

/// A ticket's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Open,
    Resolved,
    Withdrawn,
    Dismissed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Resolved => "resolved",
            Status::Withdrawn => "withdrawn",
            Status::Dismissed => "dismissed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "open" => Status::Open,
            "resolved" => Status::Resolved,
            "withdrawn" => Status::Withdrawn,
            "dismissed" => Status::Dismissed,
            _ => return None,
        })
    }

    pub fn zh(self) -> &'static str {
        match self {
            Status::Open => "待处理",
            Status::Resolved => "已解决",
            Status::Withdrawn => "已撤回",
            Status::Dismissed => "已驳回",
        }
    }
}

impl serde::Serialize for Status {
    /// As its text, the form the store, the exports and the API all use.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the lifecycle needs to know of a stored ticket.
#[derive(Clone, Debug)]
pub struct ExistingTicket {
    pub ticket_id: String,
    pub kind: TicketKind,
    pub township: TownshipCode,
    pub subject_key: String,
    pub status: Status,
    pub evidence_digest: String,
    /// The evidence digest when it was dismissed.
    pub dismissed_digest: Option<String>,
    /// Certificates the stored evidence rests on.
    pub certificates: Vec<String>,
    /// What the ticket says and suggests, as stored: a run rewrites an open ticket
    /// whose wording changed even when its evidence did not (a likely correction that
    /// no longer holds must not stay on the township's list).
    pub summary_zh: String,
    pub suggestion: Option<String>,
}

/// One change to the stored tickets.
#[derive(Clone, Debug)]
pub enum Change {
    /// A problem seen for the first time.
    Open {
        ticket_id: String,
        draft: TicketDraft,
        digest: String,
    },
    /// Still there; the evidence is refreshed when it changed.
    Refresh {
        ticket_id: String,
        draft: TicketDraft,
        digest: String,
        changed: bool,
    },
    /// Back after it was resolved or withdrawn, or its evidence changed after a dismissal.
    Reopen {
        ticket_id: String,
        from: Status,
        draft: TicketDraft,
        digest: String,
        reason: &'static str,
    },
    Resolve {
        ticket_id: String,
    },
    Withdraw {
        ticket_id: String,
    },
}

/// The stable ID of the ticket for one (kind, township, subject).
pub fn ticket_id(kind: TicketKind, township: TownshipCode, subject_key: &str) -> String {
    let d = Sha256::digest(format!("{kind}|{township}|{subject_key}").as_bytes());
    format!("T{}", crate::domain::hex(&d[..8]))
}

/// A digest of a draft's evidence: what "the evidence changed" means.
pub fn evidence_digest(draft: &TicketDraft) -> String {
    let mut h = Sha256::new();
    for e in &draft.evidence {
        h.update(e.source.as_bytes());
        h.update([0]);
        h.update(e.record.as_bytes());
        h.update([0]);
        h.update(e.detail.as_bytes());
        h.update([1]);
    }
    crate::domain::hex(&h.finalize()[..16])
}

/// Decides what happens to every stored ticket and every draft.
pub fn plan(
    existing: &[ExistingTicket],
    drafts: Vec<TicketDraft>,
    voided: &HashSet<String>,
) -> Vec<Change> {
    let by_key: HashMap<(TicketKind, TownshipCode, &str), &ExistingTicket> = existing
        .iter()
        .map(|t| ((t.kind, t.township, t.subject_key.as_str()), t))
        .collect();
    let mut found: HashSet<&str> = HashSet::new();
    let mut changes = Vec::new();
    for draft in drafts {
        let key = draft.subject_key();
        let digest = evidence_digest(&draft);
        match by_key.get(&(draft.kind, draft.township, key.as_str())) {
            None => changes.push(Change::Open {
                ticket_id: ticket_id(draft.kind, draft.township, &key),
                draft,
                digest,
            }),
            Some(t) => {
                found.insert(t.ticket_id.as_str());
                let ticket_id = t.ticket_id.clone();
                match t.status {
                    Status::Open => {
                        let changed = t.evidence_digest != digest
                            || t.summary_zh != draft.summary_zh
                            || t.suggestion.as_deref()
                                != draft.suggestion.as_ref().map(|s| s.as_str());
                        changes.push(Change::Refresh {
                            ticket_id,
                            draft,
                            digest,
                            changed,
                        });
                    }
                    Status::Dismissed if t.dismissed_digest.as_deref() == Some(digest.as_str()) => {
                    }
                    Status::Dismissed => changes.push(Change::Reopen {
                        ticket_id,
                        from: t.status,
                        draft,
                        digest,
                        reason: "evidence changed after dismissal",
                    }),
                    Status::Resolved | Status::Withdrawn => changes.push(Change::Reopen {
                        ticket_id,
                        from: t.status,
                        draft,
                        digest,
                        reason: "found again",
                    }),
                }
            }
        }
    }
    for t in existing {
        if found.contains(t.ticket_id.as_str())
            || !matches!(t.status, Status::Open | Status::Dismissed)
        {
            continue;
        }
        if t.certificates.iter().any(|c| voided.contains(c)) {
            changes.push(Change::Withdraw {
                ticket_id: t.ticket_id.clone(),
            });
        } else if t.status == Status::Open {
            changes.push(Change::Resolve {
                ticket_id: t.ticket_id.clone(),
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IdNumber;
    use crate::tickets::{Evidence, Subject};

    fn draft(summary: &str, suggestion: Option<&str>) -> TicketDraft {
        TicketDraft {
            kind: TicketKind::InvalidId,
            township: TownshipCode::parse("349901003").expect("a township"),
            subject: Subject {
                pis_person_id: Some("RK1".into()),
                ..Subject::default()
            },
            evidence: vec![Evidence::new("pis", "RK1", "身份证号 34990119900101123X")],
            summary_zh: summary.into(),
            suggestion: suggestion.map(|s| IdNumber::parse(s).expect("an ID")),
            person_key: None,
            village: None,
        }
    }

    fn stored(d: &TicketDraft) -> ExistingTicket {
        ExistingTicket {
            ticket_id: ticket_id(d.kind, d.township, &d.subject_key()),
            kind: d.kind,
            township: d.township,
            subject_key: d.subject_key(),
            status: Status::Open,
            evidence_digest: evidence_digest(d),
            dismissed_digest: None,
            certificates: Vec::new(),
            summary_zh: d.summary_zh.clone(),
            suggestion: d.suggestion.map(|s| s.to_string()),
        }
    }

    fn refreshed(existing: &ExistingTicket, found: TicketDraft) -> bool {
        match plan(std::slice::from_ref(existing), vec![found], &HashSet::new()).as_slice() {
            [Change::Refresh { changed, .. }] => *changed,
            other => panic!("expected one refresh, got {other:?}"),
        }
    }

    /// Same evidence, other words: the township's list must not keep a likely
    /// correction that no longer holds (a run used to leave the words as opened).
    #[test]
    fn an_open_ticket_found_again_with_other_words_is_rewritten() {
        let with = draft("身份证号校验位错误", Some("349901199001011231"));
        let existing = stored(&with);
        assert!(!refreshed(&existing, with.clone()), "nothing changed");
        assert!(refreshed(&existing, draft("身份证号校验位错误", None)));
        assert!(refreshed(
            &existing,
            draft("另一句话", Some("349901199001011231"))
        ));
    }
}
