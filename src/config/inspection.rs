//! `[inspection]`: the provincial inspection that `popsync readiness` counts down to,
//! and the numbers of its score and sampling, checked at start like the rest of the file
//! (docs/operations.md, "Before the inspection"; the model in docs/decisions.md,
//! "Readiness").

use chrono::NaiveDate;
use serde::Deserialize;

use super::{invalid, ConfigError};

/// `[inspection]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionConfig {
    /// The day the inspectors come, `"YYYY-MM-DD"`. Without it readiness still shows
    /// each township's standing, with `days_left` null and no pace verdict.
    #[serde(default, deserialize_with = "inspection_date")]
    pub date: Option<NaiveDate>,
    /// What information work is worth in the inspection's score, in points.
    #[serde(default = "default_inspection_points")]
    pub points: f64,
    /// Points deducted per error the inspectors find, until none are left.
    #[serde(default = "default_deduction_per_error")]
    pub deduction_per_error: f64,
    /// Register records the inspectors draw per township (1 to 10,000).
    #[serde(default = "default_sample_size")]
    pub sample_size: u32,
    /// A ticket open longer than this many days is overdue.
    #[serde(default = "default_fix_within_days")]
    pub fix_within_days: u32,
}

/// `inspection.date`, refused naming the key (the TOML parser's own message does not).
fn inspection_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    let text = String::deserialize(d)?;
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map(Some)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "inspection.date {text:?} is not a day (\"YYYY-MM-DD\"): {e}"
            ))
        })
}

fn default_inspection_points() -> f64 {
    16.0
}
fn default_deduction_per_error() -> f64 {
    1.0
}
fn default_sample_size() -> u32 {
    50
}
fn default_fix_within_days() -> u32 {
    14
}

impl Default for InspectionConfig {
    fn default() -> Self {
        InspectionConfig {
            date: None,
            points: default_inspection_points(),
            deduction_per_error: default_deduction_per_error(),
            sample_size: default_sample_size(),
            fix_within_days: default_fix_within_days(),
        }
    }
}

impl InspectionConfig {
    /// Refuses numbers the readiness model cannot use, naming the key.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if !(self.points.is_finite() && self.points > 0.0) {
            return Err(invalid("inspection.points", "must be a positive number"));
        }
        if !(self.deduction_per_error.is_finite()
            && self.deduction_per_error > 0.0
            && self.deduction_per_error <= self.points)
        {
            return Err(invalid(
                "inspection.deduction_per_error",
                "must be positive and at most inspection.points",
            ));
        }
        if !(1..=10_000).contains(&self.sample_size) {
            return Err(invalid("inspection.sample_size", "must be 1 to 10000"));
        }
        if !(1..=366).contains(&self.fix_within_days) {
            return Err(invalid("inspection.fix_within_days", "must be 1 to 366"));
        }
        Ok(())
    }
}
