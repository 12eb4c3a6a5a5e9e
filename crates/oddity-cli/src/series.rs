//! `oddity series` and `oddity bench nab-series`: seasonal hybrid ESD on
//! whole time series.

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};

use anyhow::{Context, bail};
use oddity::data::{self, ColumnData, ColumnKind, DataError, DataErrorKind, Frame, Input};
use oddity::eval;
use oddity::explain::format_number;
use oddity::nab::{CorpusSweep, PROBATIONARY_PERCENT, SeriesResult, Window};
use oddity::pipeline::labels_from_column;
use oddity::series::SeriesError;
use oddity::series::esd::{Direction, EsdParams};
use oddity::series::seasonal::{self, Baseline, SeasonalEsdParams, SeriesOutcome};
use oddity::series::stl::SeasonalSmoother;
use rayon::prelude::*;
use serde_json::json;

use crate::args::{BaselineArg, BenchNabSeriesArgs, DirectionArg, SeriesArgs, SeriesFormat, input};
use crate::commands::{
    nab_corpus_line, nab_profiles, open_output, write_lines, write_report, write_scoreboard,
};

/// The detector's parameters from the shared flags.
fn detector_params(
    period: Option<usize>,
    max_anomalies: f64,
    alpha: f64,
    direction: DirectionArg,
    baseline: BaselineArg,
    seasonal_span: Option<usize>,
) -> SeasonalEsdParams {
    SeasonalEsdParams {
        period,
        seasonal: seasonal_span.map_or(SeasonalSmoother::Periodic, SeasonalSmoother::Span),
        baseline: match baseline {
            BaselineArg::Median => Baseline::Median,
            BaselineArg::Trend => Baseline::Trend,
        },
        robust_stl: true,
        esd: EsdParams {
            max_anomalies,
            alpha,
            direction: match direction {
                DirectionArg::Both => Direction::Both,
                DirectionArg::Pos => Direction::Positive,
                DirectionArg::Neg => Direction::Negative,
            },
            robust: true,
        },
    }
}

/// One tested column.
struct Tested<'a> {
    column: &'a str,
    values: &'a [f64],
    outcome: SeriesOutcome,
}

pub fn series(args: &SeriesArgs) -> anyhow::Result<()> {
    let params = detector_params(
        args.period,
        args.max_anomalies,
        args.alpha,
        args.direction,
        args.baseline,
        args.seasonal_span,
    );
    params.esd.validate()?;
    let source = input(&args.input);
    let frame = read_series(&source, args)?;
    let shown = source.to_string();

    let timestamps = match &args.time {
        Some(name) => Some(timestamps(&frame, name, &shown)?),
        None => None,
    };
    let labels = match &args.label {
        Some(name) => {
            let index = frame.schema.index_of(name).with_context(|| {
                let names: Vec<&str> = frame.schema.names().collect();
                format!(
                    "{shown}: column \"{name}\" (--label) not found; the columns are: {}",
                    names.join(", ")
                )
            })?;
            let labels =
                labels_from_column(&frame.columns[index], None, None).map_err(|message| {
                    oddity::Error::Label {
                        column: name.clone(),
                        message,
                    }
                })?;
            Some(labels)
        }
        None => None,
    };

    let mut tested = Vec::with_capacity(args.values.len());
    for column in &args.values {
        let index = frame
            .schema
            .index_of(column)
            .expect("reading checked that every --value column exists");
        let values = frame.columns[index]
            .as_numbers()
            .expect("every --value column is read as numbers");
        let outcome = seasonal::detect(values, timestamps.as_deref(), &params)
            .map_err(|error| located(error, &shown, column))?;
        tracing::debug!(column, period = outcome.period, "series tested");
        tested.push(Tested {
            column,
            values,
            outcome,
        });
    }

    let format = args.format.unwrap_or(
        if args.output.is_none() && std::io::stdout().is_terminal() {
            SeriesFormat::Table
        } else {
            SeriesFormat::Csv
        },
    );
    let mut out = open_output(args.output.as_deref())?;
    let rows = Rows {
        first_row: frame.first_row,
        timestamps: timestamps.as_deref(),
        labels: labels.as_deref(),
        label_name: args.label.as_deref(),
    };
    match format {
        SeriesFormat::Table => write_table(&mut out, &shown, &tested, &rows, args.top)?,
        SeriesFormat::Csv => write_csv(&mut out, &tested, &rows, args.anomalies_only)?,
        SeriesFormat::Ndjson => write_ndjson(&mut out, &tested, &rows, args.anomalies_only)?,
    }
    out.flush()?;
    Ok(())
}

/// Reads the whole input with the value columns as numbers and the time
/// column as timestamps, so that a bad cell is an error naming its row.
fn read_series(source: &Input, args: &SeriesArgs) -> anyhow::Result<Frame> {
    let mut read = args.read.to_options()?;
    let mut wanted: Vec<(&str, &str, ColumnKind)> = args
        .values
        .iter()
        .map(|name| (name.as_str(), "--value", ColumnKind::Number))
        .collect();
    if let Some(name) = &args.time {
        wanted.push((name, "--time", ColumnKind::Timestamp));
    }
    for (name, _, kind) in &wanted {
        read.type_overrides.push(((*name).to_string(), *kind));
    }
    match data::read_all(source, &read) {
        Ok(frame) => Ok(frame),
        Err(DataError {
            kind: DataErrorKind::UnknownOverrideColumn { available },
            column: Some(column),
            input,
            ..
        }) => {
            let flag = wanted
                .iter()
                .find(|(name, _, _)| *name == column)
                .map_or("--type", |(_, flag, _)| flag);
            bail!(
                "{input}: column \"{column}\" ({flag}) not found; the columns are: {}",
                available.join(", ")
            )
        }
        Err(error) => Err(error.into()),
    }
}

/// The time column's values; a missing timestamp is an error naming its row.
fn timestamps(frame: &Frame, name: &str, shown: &str) -> anyhow::Result<Vec<i64>> {
    let index = frame
        .schema
        .index_of(name)
        .expect("reading checked that the --time column exists");
    let ColumnData::Timestamp(times) = &frame.columns[index] else {
        bail!("{shown}: column \"{name}\" (--time) is not a timestamp column");
    };
    times
        .iter()
        .enumerate()
        .map(|(row, time)| {
            time.ok_or_else(|| {
                anyhow::anyhow!(
                    "{shown}: row {}, column \"{name}\" (--time): the timestamp is missing",
                    frame.first_row + row as u64
                )
            })
        })
        .collect()
}

/// A series error with the input and column.
fn located(error: SeriesError, shown: &str, column: &str) -> anyhow::Error {
    anyhow::Error::new(error).context(format!("{shown}: column \"{column}\""))
}

/// What every output row shares.
struct Rows<'a> {
    first_row: u64,
    timestamps: Option<&'a [i64]>,
    labels: Option<&'a [Option<bool>]>,
    label_name: Option<&'a str>,
}

impl Rows<'_> {
    fn time(&self, index: usize) -> Option<String> {
        self.timestamps.map(|t| data::format_timestamp(t[index]))
    }
}

/// A number for CSV: empty when missing.
fn cell(value: f64) -> String {
    if value.is_finite() {
        value.to_string()
    } else {
        String::new()
    }
}

fn write_csv(
    out: &mut dyn Write,
    tested: &[Tested<'_>],
    rows: &Rows<'_>,
    anomalies_only: bool,
) -> anyhow::Result<()> {
    let mut header = vec!["row", "time", "column", "value", "expected", "residual"];
    header.extend(["trend", "seasonal", "score", "statistic", "is_anomaly"]);
    if rows.timestamps.is_none() {
        header.retain(|h| *h != "time");
    }
    header.extend(rows.label_name);
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(&header)?;
    for series in tested {
        for (index, point) in series.outcome.points.iter().enumerate() {
            if anomalies_only && !point.is_anomaly {
                continue;
            }
            let mut record = vec![(rows.first_row + index as u64).to_string()];
            record.extend(rows.time(index));
            record.push(series.column.to_string());
            for value in [
                series.values[index],
                point.expected,
                point.residual,
                point.trend,
                point.seasonal,
                point.score,
                point.statistic.unwrap_or(f64::NAN),
            ] {
                record.push(cell(value));
            }
            record.push(point.is_anomaly.to_string());
            if let Some(labels) = rows.labels {
                record.push(labels[index].map(|l| l.to_string()).unwrap_or_default());
            }
            writer.write_record(&record)?;
        }
    }
    writer.flush()?;
    Ok(())
}

fn write_ndjson(
    out: &mut dyn Write,
    tested: &[Tested<'_>],
    rows: &Rows<'_>,
    anomalies_only: bool,
) -> anyhow::Result<()> {
    let finite = |value: f64| value.is_finite().then_some(value);
    for series in tested {
        for (index, point) in series.outcome.points.iter().enumerate() {
            if anomalies_only && !point.is_anomaly {
                continue;
            }
            let mut record = serde_json::Map::new();
            record.insert("row".into(), json!(rows.first_row + index as u64));
            if let Some(time) = rows.time(index) {
                record.insert("time".into(), json!(time));
            }
            record.insert("column".into(), json!(series.column));
            record.insert("value".into(), json!(finite(series.values[index])));
            record.insert("expected".into(), json!(finite(point.expected)));
            record.insert("residual".into(), json!(finite(point.residual)));
            record.insert("trend".into(), json!(finite(point.trend)));
            record.insert("seasonal".into(), json!(finite(point.seasonal)));
            record.insert("score".into(), json!(finite(point.score)));
            record.insert("statistic".into(), json!(point.statistic));
            record.insert("is_anomaly".into(), json!(point.is_anomaly));
            if let (Some(name), Some(labels)) = (rows.label_name, rows.labels) {
                record.insert(name.into(), json!(labels[index]));
            }
            serde_json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

fn write_table(
    out: &mut dyn Write,
    shown: &str,
    tested: &[Tested<'_>],
    rows: &Rows<'_>,
    top: usize,
) -> anyhow::Result<()> {
    for (n, series) in tested.iter().enumerate() {
        if n > 0 {
            writeln!(out)?;
        }
        let outcome = &series.outcome;
        let n_anomalies = outcome.esd.n_anomalies;
        writeln!(
            out,
            "{shown}, column \"{}\": {} points, period {}{}, {} anomalies (up to {} tested)",
            series.column,
            outcome.points.len(),
            outcome.period,
            spacing_note(outcome, rows.timestamps.is_some()),
            n_anomalies,
            outcome.esd.steps.len()
        )?;
        let mut ranked: Vec<usize> = (0..outcome.points.len())
            .filter(|&i| outcome.points[i].is_anomaly)
            .collect();
        ranked.sort_by(|&a, &b| outcome.points[b].score.total_cmp(&outcome.points[a].score));
        if !ranked.is_empty() {
            let time_width = if rows.timestamps.is_some() { 24 } else { 0 };
            writeln!(
                out,
                "  {:>4} {:>8} {:<time_width$} {:>12} {:>12} {:>12} {:>8}",
                "rank",
                "row",
                if time_width > 0 { "time" } else { "" },
                "value",
                "expected",
                "residual",
                "score"
            )?;
        }
        for (rank, &index) in ranked.iter().take(top).enumerate() {
            let point = &outcome.points[index];
            let time_width = if rows.timestamps.is_some() { 24 } else { 0 };
            writeln!(
                out,
                "  {:>4} {:>8} {:<time_width$} {:>12} {:>12} {:>12} {:>8.2}",
                rank + 1,
                rows.first_row + index as u64,
                rows.time(index).unwrap_or_default(),
                format_number(series.values[index]),
                format_number(point.expected),
                format_number(point.residual),
                point.score
            )?;
        }
        if ranked.len() > top {
            writeln!(out, "  ... {} more (--top)", ranked.len() - top)?;
        }
        if outcome.n_filled > 0 {
            writeln!(
                out,
                "  note: {} missing or absent grid points were interpolated for the decomposition",
                outcome.n_filled
            )?;
        }
        if let Some(labels) = rows.labels {
            let mut truth = Vec::new();
            let mut scores = Vec::new();
            let mut predicted = Vec::new();
            for (point, label) in outcome.points.iter().zip(labels) {
                if let (Some(label), true) = (label, point.residual.is_finite()) {
                    truth.push(*label);
                    scores.push(point.score);
                    predicted.push(point.is_anomaly);
                }
            }
            let report = eval::evaluate(&truth, &scores, Some(&predicted), None)?;
            write_report(&mut *out, &report)?;
        }
    }
    Ok(())
}

/// ` (one day at 30m spacing)` when the period was inferred from times.
fn spacing_note(outcome: &SeriesOutcome, has_times: bool) -> String {
    if !has_times {
        return String::new();
    }
    let seconds = outcome.spacing_ms as f64 / 1000.0;
    let spacing = if seconds >= 3600.0 && seconds % 3600.0 == 0.0 {
        format!("{}h", seconds / 3600.0)
    } else if seconds >= 60.0 && seconds % 60.0 == 0.0 {
        format!("{}m", seconds / 60.0)
    } else {
        format!("{seconds}s")
    };
    format!(" at {spacing} spacing")
}

/// Windows found and precision of flags, over a corpus: the share of
/// windows with at least one flagged point, and the share of flagged
/// points inside a window.
#[derive(Debug, Default, Clone, Copy)]
struct WindowCounts {
    windows: usize,
    windows_found: usize,
    flagged: usize,
    flagged_in_windows: usize,
}

impl WindowCounts {
    fn add(&mut self, timestamps: &[i64], flags: &[bool], windows: &[Window]) {
        self.windows += windows.len();
        self.windows_found += windows
            .iter()
            .filter(|w| {
                timestamps
                    .iter()
                    .zip(flags)
                    .any(|(t, &f)| f && (w.start..=w.end).contains(t))
            })
            .count();
        for (t, _) in timestamps.iter().zip(flags).filter(|(_, f)| **f) {
            self.flagged += 1;
            if windows.iter().any(|w| (w.start..=w.end).contains(t)) {
                self.flagged_in_windows += 1;
            }
        }
    }

    fn recall(&self) -> f64 {
        self.windows_found as f64 / self.windows.max(1) as f64
    }

    fn precision(&self) -> f64 {
        self.flagged_in_windows as f64 / self.flagged.max(1) as f64
    }
}

/// A non-negative score squashed into [0, 1) for NAB's threshold sweep,
/// keeping its order (a ratio of 1 becomes 0.5).
fn squash(score: f64) -> f64 {
    score / (1.0 + score)
}

pub fn bench_nab_series(args: &BenchNabSeriesArgs) -> anyhow::Result<()> {
    use oddity::nab::{load_corpus_data, load_windows};

    let params = detector_params(
        None,
        args.max_anomalies,
        args.alpha,
        DirectionArg::Both,
        args.baseline,
        args.seasonal_span,
    );
    params.esd.validate()?;
    let corpus = load_corpus_data(args.dir.join("data"))?;
    let windows = load_windows(args.dir.join("labels/combined_windows.json"))?;
    let profiles = nab_profiles(&args.dir)?;

    let start = std::time::Instant::now();
    let outcomes: Vec<(String, anyhow::Result<SeriesOutcome>)> = corpus
        .par_iter()
        .map(|(name, data)| {
            let outcome = seasonal::detect(&data.values, Some(&data.timestamps), &params)
                .with_context(|| name.clone());
            (name.clone(), outcome)
        })
        .collect();
    let seconds = start.elapsed().as_secs_f64();

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    writeln!(out, "{}", nab_corpus_line(&corpus, &windows))?;
    writeln!(out, "configuration: {}", serde_json::to_string(&params)?)?;

    // Three ways to score a point for NAB: its robust deviation, the ratio
    // of its ESD statistic to the critical value (0 when untested), and
    // the flag itself.
    let mut methods: [BTreeMap<String, SeriesResult>; 3] = Default::default();
    let mut counts = WindowCounts::default();
    let mut n_untested = 0;
    for (name, outcome) in outcomes {
        let data = &corpus[&name];
        let n_points = data.values.len();
        let (deviation, ratio, flags) = match outcome {
            Ok(outcome) => {
                let mut ratio = vec![0.0; n_points];
                for step in &outcome.esd.steps {
                    ratio[step.index] = squash(step.statistic / step.critical);
                }
                let deviation = outcome.points.iter().map(|p| squash(p.score)).collect();
                let flags: Vec<bool> = outcome.points.iter().map(|p| p.is_anomaly).collect();
                (deviation, ratio, flags)
            }
            Err(error) => {
                // A series the method cannot test (too short for two
                // periods) raises nothing, as a detector that stays silent.
                writeln!(out, "not tested: {error:#}")?;
                n_untested += 1;
                (
                    vec![0.0; n_points],
                    vec![0.0; n_points],
                    vec![false; n_points],
                )
            }
        };
        counts.add(&data.timestamps, &flags, windows.get(&name).unwrap_or(&[]));
        let flags = flags.iter().map(|&f| f64::from(u8::from(f))).collect();
        for (method, scores) in methods.iter_mut().zip([deviation, ratio, flags]) {
            let result = SeriesResult {
                timestamps: data.timestamps.clone(),
                scores,
            };
            method.insert(name.clone(), result);
        }
    }

    writeln!(
        out,
        "{:<34} {:>18} {:>18} {:>18}",
        "method", "standard", "low FP", "low FN"
    )?;
    let mut csv_rows = Vec::new();
    let mut entries = Vec::new();
    let labels = [
        ("deviation", "deviation, threshold optimised"),
        ("ratio", "R / lambda, threshold optimised"),
        ("flags", "ESD flags as they are"),
    ];
    for ((key, label), results) in labels.into_iter().zip(&methods) {
        let sweep = CorpusSweep::new(results, &windows, PROBATIONARY_PERCENT)?;
        let optimise = key != "flags";
        write!(out, "{label:<34}")?;
        let mut scores = [0.0; 3];
        for (slot, profile) in profiles.iter().enumerate() {
            let best = if optimise {
                sweep.optimise_threshold(profile)
            } else {
                sweep.score(profile, 0.5)
            };
            scores[slot] = best.normalised;
            let cell = format!("{:.1} @{:.4}", best.normalised, best.threshold);
            write!(out, " {cell:>18}")?;
            csv_rows.push(format!(
                "{key},{},{},{},{},{},{},{},{},{seconds:.3}",
                profile.name(),
                best.threshold,
                best.normalised,
                best.raw,
                counts.windows,
                counts.windows_found,
                counts.flagged,
                counts.flagged_in_windows
            ));
        }
        writeln!(out)?;
        if optimise {
            entries.push(oddity::nab::PublishedScore {
                detector: format!("oddity S-H-ESD {key}"),
                scores,
            });
        }
    }
    writeln!(
        out,
        "ESD flags: {} points flagged, {} of {} windows found (recall {:.3}), \
         {} flags inside windows (precision {:.3}); {n_untested} series not tested; {seconds:.1} s",
        counts.flagged,
        counts.windows_found,
        counts.windows,
        counts.recall(),
        counts.flagged_in_windows,
        counts.precision()
    )?;
    let scoreboard_path = args
        .scoreboard
        .clone()
        .unwrap_or_else(|| args.dir.join("scoreboard.csv"));
    write_scoreboard(&mut out, &scoreboard_path, entries)?;
    out.flush()?;

    if let Some(path) = &args.output {
        let header = "method,profile,threshold,normalised,raw,windows,windows_found,flagged,\
                      flagged_in_windows,seconds";
        write_lines(path, header, &csv_rows)?;
    }
    Ok(())
}
