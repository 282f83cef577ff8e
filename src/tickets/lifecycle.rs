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
                        let changed = t.evidence_digest != digest;
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
