//! Explanations: which input columns made a point anomalous, by how much,
//! what value they had, what the training data usually held there, and a
//! one-line reason a person can read.
//!
//! The shares come from the detector's own attribution
//! ([`crate::detector::Detector::attribute`]), summed from prepared outputs
//! back to the input column they came from (a one-hot category's outputs
//! count as one column), so the explanation is faithful to the model rather
//! than a separate surrogate. Values and ranges are quoted in the column's
//! own units, from the [`ColumnProfile`] fitted with the preparation.

use serde::{Deserialize, Serialize};

use crate::data::{ColumnData, Frame};
use crate::prep::{ColumnProfile, MISSING_CATEGORY, Preparation};

/// Columns whose share is below this are left out of the reason line.
const REASON_MIN_SHARE: f64 = 0.2;
/// Most columns the reason line names.
const REASON_MAX_COLUMNS: usize = 2;
/// A category whose training share is below this counts as rare.
const RARE_CATEGORY_SHARE: f64 = 0.01;

/// Where the point's value sits relative to the training data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Above the typical range (the training 95th percentile).
    Above,
    /// Below the typical range (the training 5th percentile).
    Below,
    /// Inside the typical range: anomalous in combination with others.
    Within,
    /// A category seen in less than 1 % of training rows.
    Rare,
    /// A category never seen in training.
    Unseen,
    /// The value is missing.
    Missing,
}

/// One column's part in a point's anomaly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub column: String,
    /// Share of the anomaly attributed to this column, in [0, 1].
    pub share: f64,
    /// The point's value, as text in the column's own units.
    pub value: String,
    /// What the training data usually held: the median or the most common value.
    pub expected: String,
    /// The typical range or the usual values, as text.
    pub typical: String,
    pub direction: Direction,
}

/// Why one point is anomalous.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Columns with a non-zero share, largest first.
    pub contributions: Vec<Contribution>,
    /// One line for a person.
    pub reason: String,
}

/// Builds the explanation of row `row` of `frame`.
///
/// `output_shares` are the detector's attribution over the prepared outputs;
/// `bound` maps preparation columns to `frame` columns
/// ([`Preparation::bind`]).
pub fn explain(
    preparation: &Preparation,
    output_shares: &[f64],
    frame: &Frame,
    bound: &[usize],
    row: usize,
) -> Explanation {
    let mut column_shares = vec![0.0; preparation.columns.len()];
    for (output, share) in preparation.outputs.iter().zip(output_shares) {
        column_shares[output.column] += share;
    }
    let mut contributions: Vec<Contribution> = column_shares
        .iter()
        .enumerate()
        .filter(|(_, share)| **share > 0.0)
        .map(|(index, &share)| {
            let column = &preparation.columns[index];
            let data = &frame.columns[bound[index]];
            describe(&column.name, column.profile.as_ref(), data, row, share)
        })
        .collect();
    contributions.sort_by(|a, b| {
        b.share
            .total_cmp(&a.share)
            .then_with(|| a.column.cmp(&b.column))
    });
    let reason = reason_line(&contributions);
    Explanation {
        contributions,
        reason,
    }
}

fn describe(
    name: &str,
    profile: Option<&ColumnProfile>,
    data: &ColumnData,
    row: usize,
    share: f64,
) -> Contribution {
    let contribution = |value: String, expected: String, typical: String, direction| Contribution {
        column: name.to_string(),
        share,
        value,
        expected,
        typical,
        direction,
    };
    match (data, profile) {
        (ColumnData::Number(values), Some(ColumnProfile::Number(p))) => {
            let value = values[row];
            let direction = if value.is_nan() {
                Direction::Missing
            } else if value > p.high {
                Direction::Above
            } else if value < p.low {
                Direction::Below
            } else {
                Direction::Within
            };
            let typical = format!("{} to {}", format_number(p.low), format_number(p.high));
            contribution(
                format_number(value),
                format_number(p.median),
                typical,
                direction,
            )
        }
        (ColumnData::Category(values), Some(ColumnProfile::Category { top, .. })) => {
            let value = values[row].as_deref().unwrap_or(MISSING_CATEGORY);
            let seen = top
                .iter()
                .find(|(name, _)| name == value)
                .map(|(_, share)| *share);
            let direction = if values[row].is_none() {
                Direction::Missing
            } else {
                match seen {
                    Some(share) if share >= RARE_CATEGORY_SHARE => Direction::Within,
                    Some(_) => Direction::Rare,
                    // The profile keeps only the most common values, so a
                    // value outside it was at most as common as the last.
                    None => Direction::Unseen,
                }
            };
            let expected = top
                .first()
                .map_or_else(String::new, |(name, _)| name.clone());
            let typical = top
                .iter()
                .take(3)
                .map(|(name, share)| format!("{name} ({:.0}%)", share * 100.0))
                .collect::<Vec<_>>()
                .join(", ");
            contribution(value.to_string(), expected, typical, direction)
        }
        (ColumnData::Boolean(values), Some(ColumnProfile::Boolean { true_share })) => {
            let value = values[row];
            let expected = *true_share >= 0.5;
            let direction = match value {
                None => Direction::Missing,
                Some(v)
                    if v != expected
                        && (true_share.min(1.0 - true_share)) < RARE_CATEGORY_SHARE =>
                {
                    Direction::Rare
                }
                Some(_) => Direction::Within,
            };
            let text = value.map_or_else(|| "(missing)".to_string(), |v| v.to_string());
            let typical = format!("true in {:.0}% of rows", true_share * 100.0);
            contribution(text, expected.to_string(), typical, direction)
        }
        (ColumnData::Timestamp(values), Some(ColumnProfile::Timestamp { hours })) => {
            let value = values[row];
            let text = value.map_or_else(|| "(missing)".to_string(), format_timestamp);
            let hour = value.map(|millis| millis.rem_euclid(86_400_000) as f64 / 3_600_000.0);
            let direction = match hour {
                None => Direction::Missing,
                Some(h) if h > hours.high => Direction::Above,
                Some(h) if h < hours.low => Direction::Below,
                Some(_) => Direction::Within,
            };
            let typical = format!(
                "hours {} to {}",
                format_number(hours.low),
                format_number(hours.high)
            );
            contribution(
                text,
                format!("hour {}", format_number(hours.median)),
                typical,
                direction,
            )
        }
        // No profile: the column had no usable training values.
        (data, _) => contribution(
            raw_text(data, row),
            String::new(),
            String::new(),
            Direction::Within,
        ),
    }
}

fn raw_text(data: &ColumnData, row: usize) -> String {
    match data {
        ColumnData::Number(values) => format_number(values[row]),
        ColumnData::Category(values) => values[row]
            .clone()
            .unwrap_or_else(|| MISSING_CATEGORY.into()),
        ColumnData::Boolean(values) => {
            values[row].map_or_else(|| "(missing)".into(), |v| v.to_string())
        }
        ColumnData::Timestamp(values) => {
            values[row].map_or_else(|| "(missing)".into(), format_timestamp)
        }
    }
}

fn reason_line(contributions: &[Contribution]) -> String {
    let parts: Vec<String> = contributions
        .iter()
        .enumerate()
        .filter(|(rank, c)| *rank == 0 || c.share >= REASON_MIN_SHARE)
        .take(REASON_MAX_COLUMNS)
        .map(|(_, c)| {
            let share = format!("{:.0}%", c.share * 100.0);
            match c.direction {
                Direction::Above => {
                    format!(
                        "{} = {} is above its typical range {} ({share})",
                        c.column, c.value, c.typical
                    )
                }
                Direction::Below => {
                    format!(
                        "{} = {} is below its typical range {} ({share})",
                        c.column, c.value, c.typical
                    )
                }
                Direction::Within => format!(
                    "{} = {} is unusual in combination with the other columns ({share})",
                    c.column, c.value
                ),
                Direction::Rare => {
                    format!("{} = {} is rare in training ({share})", c.column, c.value)
                }
                Direction::Unseen => {
                    format!(
                        "{} = {} is a value not common in training ({share})",
                        c.column, c.value
                    )
                }
                Direction::Missing => format!("{} is missing ({share})", c.column),
            }
        })
        .collect();
    if parts.is_empty() {
        "no column stands out: the point is isolated by the detector as a whole".to_string()
    } else {
        parts.join("; ")
    }
}

/// Formats a number for people: at most four decimals, no trailing zeros,
/// scientific notation for very large or very small magnitudes.
pub fn format_number(value: f64) -> String {
    if value.is_nan() {
        return "(missing)".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-3..1e9).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

fn format_timestamp(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis).map_or_else(
        || millis.to_string(),
        |time| time.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(format_number(12.5), "12.5");
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(1.234_567), "1.2346");
        assert_eq!(format_number(2.5e12), "2.500e12");
        assert_eq!(format_number(f64::NAN), "(missing)");
    }

    #[test]
    fn reason_names_the_top_column_and_its_range() {
        let contributions = vec![Contribution {
            column: "amount".into(),
            share: 0.8,
            value: "9000".into(),
            expected: "50".into(),
            typical: "10 to 120".into(),
            direction: Direction::Above,
        }];
        assert_eq!(
            reason_line(&contributions),
            "amount = 9000 is above its typical range 10 to 120 (80%)"
        );
    }
}
