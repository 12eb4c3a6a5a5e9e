//! Rendering scored points: a ranked table for people, CSV, one JSON array,
//! or one JSON object per line for pipes.

use std::collections::BinaryHeap;
use std::io::Write;

use oddity::data::Frame;
use oddity::explain::{Explanation, format_number};
use oddity::pipeline::{ScoredPoint, WindowSpan, cell_text};
use serde_json::{Map, Value, json};

use crate::args::OutputFormat;

/// Columns of the input copied next to each point.
#[derive(Debug, Default, Clone)]
pub struct Passthrough {
    /// (output name, column index in the input) of the id column.
    pub id: Option<(String, usize)>,
    /// (output name, column index) of the label column.
    pub label: Option<(String, usize)>,
    /// Every input column, when asked for.
    pub all: Option<Vec<(String, usize)>>,
}

impl Passthrough {
    fn columns(&self) -> Vec<(String, usize)> {
        if let Some(all) = &self.all {
            return all.clone();
        }
        self.id.iter().chain(self.label.iter()).cloned().collect()
    }
}

/// A point ready to print, with the input values it carries.
#[derive(Debug, Clone)]
pub struct Row {
    pub point: ScoredPoint,
    pub carried: Vec<(String, String)>,
}

impl PartialEq for Row {
    fn eq(&self, other: &Self) -> bool {
        self.point.score.total_cmp(&other.point.score).is_eq() && self.point.row == other.point.row
    }
}
impl Eq for Row {}
impl PartialOrd for Row {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Row {
    /// Reversed so that a max-heap keeps the lowest score on top: the heap
    /// then holds the `top` highest scores, earliest row first among ties.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .point
            .score
            .total_cmp(&self.point.score)
            .then(self.point.row.cmp(&other.point.row))
    }
}

/// Everything a writer needs to know about the run, for headers and summaries.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub input: String,
    pub detector: String,
    pub threshold: f64,
    pub rule: String,
}

/// Receives scored points chunk by chunk and renders them.
pub struct PointWriter<W: Write> {
    out: W,
    format: OutputFormat,
    passthrough: Passthrough,
    anomalies_only: bool,
    explain: bool,
    top: usize,
    /// Whether points come from a windowed model and carry a window span.
    windows: bool,
    header_written: bool,
    /// One CSV line, reused from point to point.
    line: String,
    n_written: u64,
    n_points: u64,
    n_anomalies: u64,
    best: BinaryHeap<Row>,
}

impl<W: Write> PointWriter<W> {
    pub fn new(
        out: W,
        format: OutputFormat,
        passthrough: Passthrough,
        anomalies_only: bool,
        explain: bool,
        top: usize,
    ) -> Self {
        PointWriter {
            out,
            format,
            passthrough,
            anomalies_only,
            explain,
            top,
            windows: false,
            header_written: false,
            line: String::new(),
            n_written: 0,
            n_points: 0,
            n_anomalies: 0,
            best: BinaryHeap::new(),
        }
    }

    /// Adds the window span columns (`window_first_row`, `window_last_row`)
    /// that a windowed model's points carry.
    pub fn with_windows(mut self, windows: bool) -> Self {
        self.windows = windows;
        self
    }

    /// Writes (or, for the table, ranks) one chunk of points.
    pub fn write_chunk(&mut self, frame: &Frame, points: Vec<ScoredPoint>) -> std::io::Result<()> {
        let columns = self.passthrough.columns();
        for (row_in_chunk, point) in points.into_iter().enumerate() {
            self.n_points += 1;
            self.n_anomalies += u64::from(point.is_anomaly);
            if self.anomalies_only && !point.is_anomaly {
                continue;
            }
            if self.format == OutputFormat::Table && !point.is_anomaly {
                continue;
            }
            let carried_cells = || {
                columns
                    .iter()
                    .map(|(_, index)| cell_text(&frame.columns[*index], row_in_chunk))
            };
            let row = |point| Row {
                point,
                carried: columns
                    .iter()
                    .map(|(name, _)| name.clone())
                    .zip(carried_cells())
                    .collect(),
            };
            match self.format {
                OutputFormat::Table => {
                    self.best.push(row(point));
                    if self.best.len() > self.top {
                        self.best.pop();
                    }
                }
                OutputFormat::Csv => self.write_csv(&point, carried_cells())?,
                OutputFormat::Json => {
                    let prefix = if self.n_written == 0 { "[\n" } else { ",\n" };
                    self.out.write_all(prefix.as_bytes())?;
                    serde_json::to_writer(&mut self.out, &json_row(&row(point)))?;
                }
                OutputFormat::Ndjson => {
                    serde_json::to_writer(&mut self.out, &json_row(&row(point)))?;
                    self.out.write_all(b"\n")?;
                }
            }
            self.n_written += 1;
        }
        Ok(())
    }

    /// Points seen and anomalies among them.
    pub fn counts(&self) -> (u64, u64) {
        (self.n_points, self.n_anomalies)
    }

    fn csv_header(&self) -> Vec<String> {
        let mut header = vec!["row".to_string()];
        header.extend(self.passthrough.columns().into_iter().map(|(name, _)| name));
        header.extend(["score", "probability", "is_anomaly"].map(String::from));
        if self.windows {
            header.extend(["window_first_row", "window_last_row"].map(String::from));
        }
        if self.explain {
            header.extend(["reason", "top_columns"].map(String::from));
        }
        header
    }

    /// Writes one point as a CSV line, with the `carried` input values
    /// after its row number. The line is built in a reused buffer: at a
    /// million points, a string per field cost more than formatting them.
    fn write_csv(
        &mut self,
        point: &ScoredPoint,
        carried: impl Iterator<Item = String>,
    ) -> std::io::Result<()> {
        use std::fmt::Write as _;

        if !self.header_written {
            let header = self.csv_header();
            write_csv_record(&mut self.out, header.iter().map(String::as_str))?;
            self.header_written = true;
        }
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        // Writing into a `String` cannot fail, hence the ignored results.
        let _ = write!(line, "{}", point.row);
        for value in carried {
            line.push(',');
            push_csv_field(&mut line, &value);
        }
        let _ = write!(
            line,
            ",{},{},{}",
            point.score,
            point.probability,
            u8::from(point.is_anomaly)
        );
        if self.windows {
            match point.window.as_deref() {
                Some(span) => {
                    let _ = write!(line, ",{},{}", span.first_row, span.last_row);
                }
                None => line.push_str(",,"),
            }
        }
        if self.explain {
            let (reason, top) =
                point
                    .explanation
                    .as_ref()
                    .map_or((String::new(), String::new()), |e| {
                        let top = e
                            .contributions
                            .iter()
                            .take(3)
                            .map(|c| format!("{}:{:.3}", c.column, c.share))
                            .collect::<Vec<_>>()
                            .join(";");
                        (e.reason.clone(), top)
                    });
            line.push(',');
            push_csv_field(&mut line, &reason);
            line.push(',');
            push_csv_field(&mut line, &top);
        }
        line.push('\n');
        let written = self.out.write_all(line.as_bytes());
        self.line = line;
        written
    }
}

fn json_row(row: &Row) -> Value {
    let point = &row.point;
    let mut object = Map::new();
    object.insert("row".into(), json!(point.row));
    for (name, value) in &row.carried {
        object.insert(name.clone(), json!(value));
    }
    object.insert("score".into(), json!(point.score));
    object.insert("probability".into(), json!(point.probability));
    object.insert("is_anomaly".into(), json!(point.is_anomaly));
    if let Some(window) = &point.window {
        let mut span = json!({"first_row": window.first_row, "last_row": window.last_row});
        if !window.lags.is_empty() {
            span["lags"] = json!(
                window
                    .lags
                    .iter()
                    .map(|lag| json!({"name": lag.name, "share": lag.share}))
                    .collect::<Vec<_>>()
            );
        }
        object.insert("window".into(), span);
    }
    if let Some(explanation) = &point.explanation {
        object.insert("explanation".into(), json!(explanation));
    }
    Value::Object(object)
}

impl<W: Write> PointWriter<W> {
    /// Finishes the output: closes the JSON array, or prints the table.
    pub fn finish(mut self, summary: &RunSummary) -> std::io::Result<W> {
        match self.format {
            OutputFormat::Table => self.write_table(summary)?,
            OutputFormat::Csv if !self.header_written => {
                let header = self.csv_header();
                write_csv_record(&mut self.out, header.iter().map(String::as_str))?;
            }
            OutputFormat::Json => {
                let closing = if self.n_written == 0 { "[]\n" } else { "\n]\n" };
                self.out.write_all(closing.as_bytes())?;
            }
            _ => {}
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_table(&mut self, summary: &RunSummary) -> std::io::Result<()> {
        let rows = std::mem::take(&mut self.best).into_sorted_vec();
        let share = if self.n_points == 0 {
            0.0
        } else {
            100.0 * self.n_anomalies as f64 / self.n_points as f64
        };
        writeln!(
            self.out,
            "{}: {} points scored by {}, {} anomalies ({share:.2}%) above threshold {} ({})",
            summary.input,
            self.n_points,
            summary.detector,
            self.n_anomalies,
            format_number(summary.threshold),
            summary.rule,
        )?;
        if rows.is_empty() {
            writeln!(self.out, "no anomalies")?;
            return Ok(());
        }
        if rows.len() < self.n_anomalies as usize {
            writeln!(
                self.out,
                "showing the {} highest-scoring anomalies (--top)",
                rows.len()
            )?;
        }
        writeln!(self.out)?;
        let carried_names: Vec<String> = rows[0]
            .carried
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        let mut header = vec!["rank".to_string(), "row".to_string()];
        header.extend(carried_names);
        header.extend(["score", "prob", "why"].map(String::from));
        let mut lines: Vec<Vec<String>> = vec![header];
        for (rank, row) in rows.iter().enumerate() {
            let mut line = vec![(rank + 1).to_string(), row.point.row.to_string()];
            line.extend(row.carried.iter().map(|(_, value)| value.clone()));
            line.push(format!("{:.4}", row.point.score));
            line.push(format!("{:.3}", row.point.probability));
            line.push(
                row.point
                    .explanation
                    .as_ref()
                    .map_or_else(String::new, |e| e.reason.clone()),
            );
            lines.push(line);
        }
        let widths = column_widths(&lines);
        for (index, line) in lines.iter().enumerate() {
            write_aligned(&mut self.out, line, &widths)?;
            if index > 0
                && self.explain
                && let Some(explanation) = &rows[index - 1].point.explanation
            {
                write_contributions(&mut self.out, explanation)?;
                if let Some(window) = &rows[index - 1].point.window {
                    write_lags(&mut self.out, window)?;
                }
            }
        }
        Ok(())
    }
}

fn column_widths(lines: &[Vec<String>]) -> Vec<usize> {
    let n_columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    (0..n_columns)
        .map(|column| {
            lines
                .iter()
                .filter_map(|line| line.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect()
}

fn write_aligned(out: &mut impl Write, line: &[String], widths: &[usize]) -> std::io::Result<()> {
    let last = line.len().saturating_sub(1);
    let mut text = String::new();
    for (index, (cell, width)) in line.iter().zip(widths).enumerate() {
        if index == last {
            text.push_str(cell);
        } else {
            text.push_str(&format!("{cell:<width$}  "));
        }
    }
    writeln!(out, "{}", text.trim_end())
}

fn write_contributions(out: &mut impl Write, explanation: &Explanation) -> std::io::Result<()> {
    for contribution in explanation.contributions.iter().take(5) {
        writeln!(
            out,
            "        {:>5.1}%  {} = {}  (typical: {}; expected {})",
            contribution.share * 100.0,
            contribution.column,
            contribution.value,
            if contribution.typical.is_empty() {
                "-"
            } else {
                &contribution.typical
            },
            if contribution.expected.is_empty() {
                "-"
            } else {
                &contribution.expected
            },
        )?;
    }
    Ok(())
}

fn write_lags(out: &mut impl Write, window: &WindowSpan) -> std::io::Result<()> {
    let lags: Vec<String> = window
        .lags
        .iter()
        .take(5)
        .map(|lag| format!("{} {:.1}%", lag.name, lag.share * 100.0))
        .collect();
    if lags.is_empty() {
        return Ok(());
    }
    writeln!(out, "        by lag: {}", lags.join(", "))
}

/// Appends `field` to `line` as a CSV field: quoted, with quotes doubled,
/// when it holds a comma, a quote or a line break.
fn push_csv_field(line: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&field.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(field);
    }
}

/// Writes one CSV record, quoting fields that need it.
pub fn write_csv_record<'a>(
    out: &mut impl Write,
    fields: impl Iterator<Item = &'a str>,
) -> std::io::Result<()> {
    let mut line = String::new();
    for (index, field) in fields.enumerate() {
        if index > 0 {
            line.push(',');
        }
        push_csv_field(&mut line, field);
    }
    line.push('\n');
    out.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_and_quotes_are_quoted() {
        let mut out = Vec::new();
        write_csv_record(&mut out, ["a", "b,c", "say \"hi\""].into_iter()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a,\"b,c\",\"say \"\"hi\"\"\"\n"
        );
    }
}
