//! Feed simulator: a deterministic synthetic city served over HTTP exactly as
//! `feeds.md` describes, with fault injection.
