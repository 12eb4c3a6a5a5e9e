//! One function per subcommand.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use oddity::data::{self, ColumnData, Frame, Input, ReadOptions, RecordSource};
use oddity::detector::Detector;
use oddity::eval;
use oddity::explain::format_number;
use oddity::model_file;
use oddity::pipeline::{
    ExplainWhich, FrameSource, Holdout, Model, ScoredPoint, TrainingRows, labels_from_column,
};
use serde_json::json;

use crate::args::{
    BenchCommand, BenchNabArgs, BenchTabularArgs, Cli, Command, DetectArgs, EvalArgs, FitArgs,
    InspectArgs, OutputArgs, OutputFormat, ScoreArgs, StreamArgs, StreamFormat, fit_options, input,
    named_detector, parse_settings, selection,
};
use crate::output::{Passthrough, PointWriter, RunSummary};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Detect(args) => detect(args, quiet),
        Command::Fit(args) => fit(args, quiet),
        Command::Score(args) => score(args, quiet),
        Command::Eval(args) => evaluate(args),
        Command::Stream(args) => stream(args, quiet),
        Command::Series(args) => crate::series::series(&args),
        Command::Inspect(args) => inspect(&args),
        Command::Bench(BenchCommand::Tabular(args)) => bench_tabular(&args),
        Command::Bench(BenchCommand::Nab(args)) => bench_nab(&args),
        Command::Bench(BenchCommand::NabSeries(args)) => crate::series::bench_nab_series(&args),
    }
}

/// A spinner on stderr counting rows; hidden when stderr is not a terminal.
fn progress(quiet: bool, message: &'static str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} {msg}: {human_pos} rows ({per_sec})")
        .expect("the template is valid");
    bar.set_style(style);
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn fit_model(
    input: &Input,
    read: &ReadOptions,
    options: &oddity::pipeline::FitOptions,
    quiet: bool,
) -> anyhow::Result<Model> {
    let mut source = data::open(input, read)?;
    let bar = progress(quiet, "fitting");
    let model = Model::fit(source.as_mut(), options, &mut |rows| bar.set_position(rows))?;
    bar.finish_and_clear();
    Ok(model)
}

fn fit(args: FitArgs, quiet: bool) -> anyhow::Result<()> {
    let read = args.read.to_options()?;
    let options = fit_options(
        &args.columns,
        &args.prep,
        &args.detector,
        &args.threshold,
        &args.window,
        65_536,
    )?;
    let model = if args.normal_only {
        let mut source = data::open(&input(&args.input), &read)?;
        let bar = progress(quiet, "fitting");
        let training = TrainingRows {
            holdout: None,
            normal_only: true,
        };
        let (model, _) =
            Model::fit_retaining(source.as_mut(), &options, 0, training, &mut |rows| {
                bar.set_position(rows)
            })?;
        bar.finish_and_clear();
        model
    } else {
        fit_model(&input(&args.input), &read, &options, quiet)?
    };
    model.save(&args.output)?;
    if !quiet {
        eprintln!(
            "wrote {}: {} on {} rows ({} features), threshold {} ({})",
            args.output.display(),
            model.detector.name(),
            model.training.n_rows_fitted,
            model.training.n_features,
            format_number(model.threshold),
            model.options.threshold,
        );
    }
    Ok(())
}

/// Stdin can be read only once; `detect` reads its input twice (fit, then
/// score), so stdin is first copied to a temporary file.
fn rereadable(input: Input) -> anyhow::Result<(Input, Option<tempfile::TempPath>)> {
    match input {
        Input::Stdin => {
            let mut file =
                tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
            std::io::copy(&mut std::io::stdin().lock(), &mut file).context("cannot read stdin")?;
            let path = file.into_temp_path();
            Ok((Input::Path(path.to_path_buf()), Some(path)))
        }
        other => Ok((other, None)),
    }
}

fn detect(args: DetectArgs, quiet: bool) -> anyhow::Result<()> {
    let read = args.read.to_options()?;
    let options = fit_options(
        &args.columns,
        &args.prep,
        &args.detector,
        &args.threshold,
        &args.window,
        args.output.chunk_rows,
    )?;
    if let Some(train) = &args.train {
        return detect_novelties(&args, train, &read, &options, quiet);
    }
    // A supervised detector, or one fitted on normal rows only, is judged
    // on rows it did not learn from.
    anyhow::ensure!(
        (0.0..1.0).contains(&args.holdout),
        "--holdout must be in [0, 1), got {}",
        args.holdout
    );
    let judged_on_new_rows = options.detector.is_supervised() || args.normal_only;
    let holdout = if judged_on_new_rows && args.holdout > 0.0 {
        Some(Holdout {
            fraction: args.holdout,
            seed: options.seed,
        })
    } else {
        None
    };
    let (source_input, _spooled) = rereadable(input(&args.input))?;
    let mut source = data::open(&source_input, &read)?;
    let schema = source.schema().clone();
    let bar = progress(quiet, "fitting");
    let budget = args.memory_budget.saturating_mul(1 << 20);
    let training = TrainingRows {
        holdout,
        normal_only: args.normal_only,
    };
    let (model, retained) =
        Model::fit_retaining(source.as_mut(), &options, budget, training, &mut |rows| {
            bar.set_position(rows)
        })?;
    bar.finish_and_clear();
    if let Some(holdout) = holdout
        && !quiet
    {
        eprintln!(
            "{}: fitted on {} {}rows; scoring and reporting only the held-out rows \
             (--holdout {}, seed {})",
            model.detector.name(),
            model.training.n_rows_fitted,
            if args.normal_only { "normal " } else { "" },
            holdout.fraction,
            holdout.seed,
        );
    }
    drop(source);
    if let Some(path) = &args.save_model {
        model.save(path)?;
    }
    // Score what was kept in memory, or read the input a second time.
    let source: Box<dyn RecordSource> = match retained {
        Some(frames) => Box::new(FrameSource::new(source_input, schema, frames)),
        None => open_for_model(&model, &source_input, read)?,
    };
    // Held-out rows are new to the model, so they are not scored in sample.
    let scope = match holdout {
        Some(holdout) => Scope::HeldOut(holdout),
        None => Scope::InSample,
    };
    score_with(&model, source, &args.input, &args.output, scope, quiet)
}

/// Novelty detection in one command: fits on `train` (normal data only),
/// then scores the input as new data, so neighbour methods do not leave
/// points out of their own neighbourhoods and the threshold is calibrated
/// on the normal data's scores.
fn detect_novelties(
    args: &DetectArgs,
    train: &str,
    read: &ReadOptions,
    options: &oddity::pipeline::FitOptions,
    quiet: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !(train == "-" && args.input == "-"),
        "--train and the input cannot both be stdin"
    );
    anyhow::ensure!(
        !options.detector.is_supervised(),
        "--train fits an unsupervised detector on normal data; the {} detector is supervised \
         (give it labelled data with --label instead)",
        options.detector.name()
    );
    anyhow::ensure!(
        !args.normal_only,
        "--normal-only chooses the normal rows of a labelled input; with --train the training \
         file is normal data already"
    );
    let model = fit_model(&input(train), read, options, quiet)?;
    if !quiet {
        eprintln!(
            "{}: fitted on {} rows of {train} (normal data); scoring {} as new data",
            model.detector.name(),
            model.training.n_rows_fitted,
            args.input,
        );
    }
    if let Some(path) = &args.save_model {
        model.save(path)?;
    }
    let source = open_for_model(&model, &input(&args.input), read.clone())?;
    score_with(&model, source, &args.input, &args.output, Scope::New, quiet)
}

/// Which rows `score_with` scores, and how.
#[derive(Clone, Copy, Debug)]
enum Scope {
    /// New data: every row.
    New,
    /// The data the model was fitted on (`detect`): every row, in sample.
    InSample,
    /// Only the rows the fit held out.
    HeldOut(Holdout),
}

/// The rows of `frame` and their points that `holdout` holds out.
fn held_out(
    holdout: Holdout,
    frame: &Frame,
    points: Vec<ScoredPoint>,
) -> (Frame, Vec<ScoredPoint>) {
    let mut kept = Frame::with_capacity(frame.schema.clone(), frame.n_rows());
    let mut kept_points = Vec::new();
    for (row, point) in points.into_iter().enumerate() {
        if holdout.contains(point.row) {
            kept.push_row_from(frame, row);
            kept_points.push(point);
        }
    }
    kept.first_row = frame.first_row;
    (kept, kept_points)
}

fn score(args: ScoreArgs, quiet: bool) -> anyhow::Result<()> {
    let mut model = Model::load(&args.model)?;
    if let Some(rule) = args.threshold.rule() {
        model.set_threshold(rule)?;
    }
    if args.id.is_some() {
        model.options.selection.id = args.id.clone();
    }
    if args.label.is_some() {
        model.options.selection.label = args.label.clone();
    }
    let read = args.read.to_options()?;
    let source = open_for_model(&model, &input(&args.input), read)?;
    score_with(&model, source, &args.input, &args.output, Scope::New, quiet)
}

/// Opens an input so that the model's columns are read with the kinds they
/// had in training (unless the user overrides them).
fn open_for_model(
    model: &Model,
    source_input: &Input,
    mut read: ReadOptions,
) -> anyhow::Result<Box<dyn RecordSource>> {
    read.schema_hints = model.read_overrides();
    Ok(data::open(source_input, &read)?)
}

pub(crate) fn open_output(path: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    })
}

fn score_with(
    model: &Model,
    mut source: Box<dyn RecordSource>,
    shown_input: &str,
    output: &OutputArgs,
    scope: Scope,
    quiet: bool,
) -> anyhow::Result<()> {
    let schema = source.schema().clone();
    let mut scorer = model.scorer(&schema)?;
    if matches!(scope, Scope::InSample) {
        scorer = scorer.in_sample();
    }

    let format = output.format.unwrap_or(
        if output.output.is_none() && std::io::stdout().is_terminal() {
            OutputFormat::Table
        } else {
            OutputFormat::Csv
        },
    );
    let explain = match (format, output.explain) {
        (OutputFormat::Table, _) | (_, true) => ExplainWhich::Anomalies,
        _ => ExplainWhich::None,
    };
    let locate = |name: &Option<String>| {
        name.as_ref()
            .and_then(|name| schema.index_of(name).map(|index| (name.clone(), index)))
    };
    let passthrough = Passthrough {
        id: locate(&model.options.selection.id),
        label: locate(&model.options.selection.label),
        all: output.keep_columns.then(|| {
            schema
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.clone(), i))
                .collect()
        }),
    };
    let has_label = passthrough.label.is_some();
    let mut writer = PointWriter::new(
        open_output(output.output.as_deref())?,
        format,
        passthrough,
        output.anomalies_only,
        output.explain,
        output.top,
    )
    .with_windows(model.options.window.is_some());
    let mut labelled: Vec<(bool, f64, bool)> = Vec::new();
    let bar = progress(quiet, "scoring");
    while let Some(frame) = next_frame(source.as_mut(), model, output.chunk_rows)? {
        let points = scorer.score(&frame, explain)?;
        let n_rows = frame.n_rows() as u64;
        let (frame, points) = match scope {
            Scope::HeldOut(holdout) => held_out(holdout, &frame, points),
            Scope::New | Scope::InSample => (frame, points),
        };
        if has_label {
            labelled.extend(
                points
                    .iter()
                    .filter_map(|p| p.label.map(|label| (label, p.score, p.is_anomaly))),
            );
        }
        writer.write_chunk(&frame, points)?;
        bar.inc(n_rows);
    }
    bar.finish_and_clear();
    let summary = RunSummary {
        input: shown_input.to_string(),
        detector: model.detector.name().to_string(),
        threshold: model.threshold,
        rule: model.options.threshold.to_string(),
    };
    let (n_points, n_anomalies) = writer.counts();
    let mut out = writer.finish(&summary)?;
    if format == OutputFormat::Table && !labelled.is_empty() {
        let labels: Vec<bool> = labelled.iter().map(|l| l.0).collect();
        let scores: Vec<f64> = labelled.iter().map(|l| l.1).collect();
        let predicted: Vec<bool> = labelled.iter().map(|l| l.2).collect();
        let report = eval::evaluate(&labels, &scores, Some(&predicted), None)?;
        writeln!(out)?;
        write_report(&mut out, &report)?;
        out.flush()?;
    }
    if format != OutputFormat::Table && !quiet && std::io::stderr().is_terminal() {
        eprintln!("{n_points} points scored, {n_anomalies} anomalies");
    }
    Ok(())
}

/// The next chunk to score; for a windowed model, the whole rest of the
/// input in one frame, since windows span chunks and rows may need sorting
/// by time.
fn next_frame(
    source: &mut dyn RecordSource,
    model: &Model,
    chunk_rows: usize,
) -> anyhow::Result<Option<Frame>> {
    if model.options.window.is_none() {
        return Ok(source.next_chunk(chunk_rows.max(1))?);
    }
    let mut frames = Vec::new();
    while let Some(frame) = source.next_chunk(chunk_rows.max(1))? {
        frames.push(frame);
    }
    if frames.is_empty() {
        return Ok(None);
    }
    Ok(Some(Frame::concat(source.schema().clone(), &frames)))
}

pub(crate) fn write_report(
    out: &mut (impl Write + ?Sized),
    report: &eval::Report,
) -> std::io::Result<()> {
    let metric =
        |value: Option<f64>| value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"));
    writeln!(
        out,
        "evaluation against the label ({} points, {} anomalies)",
        report.n_points, report.n_anomalies
    )?;
    writeln!(out, "  ROC-AUC            {}", metric(report.roc_auc))?;
    writeln!(
        out,
        "  PR-AUC (AP)        {}",
        metric(report.average_precision)
    )?;
    if let Some((k, value)) = report.precision_at_k {
        writeln!(out, "  precision at {k:<5} {value:.4}")?;
    }
    writeln!(out, "  precision          {}", metric(report.precision))?;
    writeln!(out, "  recall             {}", metric(report.recall))?;
    writeln!(out, "  F1                 {}", metric(report.f1))?;
    if let Some(c) = &report.confusion {
        writeln!(
            out,
            "  confusion matrix   predicted anomaly  predicted normal"
        )?;
        writeln!(
            out,
            "    actual anomaly   {:>17}  {:>16}",
            c.true_positives, c.false_negatives
        )?;
        writeln!(
            out,
            "    actual normal    {:>17}  {:>16}",
            c.false_positives, c.true_negatives
        )?;
    }
    for note in &report.notes {
        writeln!(out, "  note: {note}")?;
    }
    Ok(())
}

fn column_index(source: &dyn RecordSource, name: &str, flag: &str) -> anyhow::Result<usize> {
    source.schema().index_of(name).with_context(|| {
        let names: Vec<&str> = source.schema().names().collect();
        format!(
            "{}: column \"{name}\" ({flag}) not found; the columns are: {}",
            source.input(),
            names.join(", ")
        )
    })
}

fn evaluate(args: EvalArgs) -> anyhow::Result<()> {
    let read = args.read.to_options()?;
    let mut source = data::open(&input(&args.input), &read)?;
    let label_index = column_index(source.as_ref(), &args.label, "--label")?;
    let score_index = column_index(source.as_ref(), &args.score_column, "--score-column")?;
    let predicted_index = match args.predicted_column.as_str() {
        "none" => None,
        name => source.schema().index_of(name),
    };
    let mut labels = Vec::new();
    let mut scores = Vec::new();
    let mut predicted = Vec::new();
    let mut n_unlabelled = 0u64;
    while let Some(frame) = source.next_chunk(65_536)? {
        let chunk_labels = labels_from_column(
            &frame.columns[label_index],
            args.positive.as_deref(),
            args.negative.as_deref(),
        )
        .map_err(|message| oddity::Error::Label {
            column: args.label.clone(),
            message,
        })?;
        let ColumnData::Number(chunk_scores) = &frame.columns[score_index] else {
            bail!(
                "{}: column \"{}\" is not numeric; pass the score column with --score-column",
                args.input,
                args.score_column
            );
        };
        let chunk_predicted = predicted_index
            .map(|index| labels_from_column(&frame.columns[index], None, None))
            .transpose()
            .map_err(|message| oddity::Error::Label {
                column: args.predicted_column.clone(),
                message,
            })?;
        for row in 0..frame.n_rows() {
            let Some(label) = chunk_labels[row] else {
                n_unlabelled += 1;
                continue;
            };
            let score = chunk_scores[row];
            if !score.is_finite() {
                bail!(
                    "{}: row {}, column \"{}\": score must be a finite number, got {}",
                    args.input,
                    frame.first_row + row as u64,
                    args.score_column,
                    format_number(score)
                );
            }
            labels.push(label);
            scores.push(score);
            if let Some(decisions) = &chunk_predicted {
                predicted.push(decisions[row].unwrap_or(false));
            }
        }
    }
    let predicted =
        (predicted_index.is_some() && predicted.len() == labels.len()).then_some(predicted);
    let report = eval::evaluate(&labels, &scores, predicted.as_deref(), args.k)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        OutputFormat::Json | OutputFormat::Ndjson => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        OutputFormat::Table | OutputFormat::Csv => write_report(&mut out, &report)?,
    }
    if n_unlabelled > 0 {
        writeln!(
            out,
            "  note: {n_unlabelled} rows without a label were left out"
        )?;
    }
    out.flush()?;
    Ok(())
}

fn inspect(args: &InspectArgs) -> anyhow::Result<()> {
    let summary = model_file::read_header_only(&args.model)?;
    // Decoding the payload too proves the whole file is usable, not only
    // its checksum.
    let is_stream = summary
        .header
        .get("kind")
        .and_then(serde_json::Value::as_str)
        == Some(oddity::stream::STREAM_MODEL_KIND);
    let n_features = if is_stream {
        oddity::stream::StreamModel::load(&args.model)?
            .feature_names()
            .len()
    } else {
        Model::load(&args.model)?.detector.n_features()
    };
    let mut document = json!({
        "path": args.model.display().to_string(),
        "format_version": summary.format_version,
        "payload_bytes": summary.payload_len,
        "verified": true,
        "n_features": n_features,
    });
    if let (Some(document), Some(header)) = (document.as_object_mut(), summary.header.as_object()) {
        for (key, value) in header {
            document.insert(key.clone(), value.clone());
        }
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    serde_json::to_writer_pretty(&mut out, &document)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

fn bench_tabular(args: &BenchTabularArgs) -> anyhow::Result<()> {
    use oddity::benchmark::{AdbenchProtocol, PublishedTable, adbench_files, read_labelled_csv};

    let detectors = args
        .detectors
        .iter()
        .map(|name| named_detector(name))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(supervised) = detectors.iter().find(|params| params.is_supervised()) {
        bail!(
            "bench tabular runs the unsupervised ADBench protocol; {} is supervised \
             (see bench/supervised_kdd.py for a supervised comparison)",
            supervised.name()
        );
    }
    let reference = args.reference.clone().unwrap_or_else(|| {
        args.dir
            .join("../reference/adbench_unsupervised_aucroc.csv")
    });
    let published_roc = PublishedTable::read_adbench(&reference)
        .map_err(|error| eprintln!("oddity: no published values: {error}"))
        .ok();
    let published_ap =
        PublishedTable::read_adbench(&reference.with_file_name("adbench_unsupervised_aucpr.csv"))
            .ok();
    let protocol = AdbenchProtocol {
        seeds: args.seeds.clone(),
        normal_only: args.normal_only,
        ..AdbenchProtocol::default()
    };
    let files: Vec<_> = adbench_files(&args.dir)?
        .into_iter()
        .filter(|path| {
            args.only.is_empty()
                || args
                    .only
                    .iter()
                    .any(|part| path.to_string_lossy().contains(part.as_str()))
        })
        .collect();
    anyhow::ensure!(
        !files.is_empty(),
        "{}: no labelled CSV files",
        args.dir.display()
    );

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    writeln!(
        out,
        "{:<20} {:<26} {:>8} {:>9} {:>8} {:>9} {:>8} {:>8}",
        "dataset", "detector", "ROC-AUC", "published", "PR-AUC", "published", "fit s", "score s"
    )?;
    let mut results = Vec::new();
    for path in &files {
        let data = match read_labelled_csv(path) {
            Ok(data) => data,
            Err(error) => {
                writeln!(out, "{:<20} skipped: {error}", path.display())?;
                continue;
            }
        };
        for detector in &detectors {
            let mut result = protocol.run(&data, detector)?;
            result.published_roc_auc = published_roc
                .as_ref()
                .and_then(|t| t.get(&result.dataset, &result.detector));
            result.published_average_precision = published_ap
                .as_ref()
                .and_then(|t| t.get(&result.dataset, &result.detector));
            let shown =
                |value: Option<f64>| value.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
            writeln!(
                out,
                "{:<20} {:<26} {:>8.3} {:>9} {:>8.3} {:>9} {:>8.3} {:>8.3}",
                result.dataset,
                result.detector,
                result.roc_auc,
                shown(result.published_roc_auc),
                result.average_precision,
                shown(result.published_average_precision),
                result.fit_seconds,
                result.score_seconds,
            )?;
            out.flush()?;
            results.push(result);
        }
    }
    writeln!(out)?;
    for detector in &detectors {
        let name = detector.name();
        let mine: Vec<_> = results.iter().filter(|r| r.detector == name).collect();
        if mine.is_empty() {
            continue;
        }
        let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len().max(1) as f64;
        let with_published: Vec<_> = mine
            .iter()
            .filter(|r| r.published_roc_auc.is_some())
            .collect();
        write!(
            out,
            "mean {name}: ROC-AUC {:.3}, PR-AUC {:.3} over {} datasets",
            mean(mine.iter().map(|r| r.roc_auc).collect()),
            mean(mine.iter().map(|r| r.average_precision).collect()),
            mine.len(),
        )?;
        if !with_published.is_empty() {
            write!(
                out,
                "; on the {} with a published value: ours {:.3}, published {:.3}",
                with_published.len(),
                mean(with_published.iter().map(|r| r.roc_auc).collect()),
                mean(
                    with_published
                        .iter()
                        .filter_map(|r| r.published_roc_auc)
                        .collect()
                ),
            )?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    if let Some(path) = &args.output {
        let mut writer = csv_writer(path)?;
        for result in &results {
            writer.serialize(result)?;
        }
        writer.flush()?;
    }
    Ok(())
}

fn csv_writer(path: &Path) -> anyhow::Result<csv::Writer<File>> {
    csv::Writer::from_path(path).with_context(|| format!("cannot create {}", path.display()))
}

fn stream(args: StreamArgs, quiet: bool) -> anyhow::Result<()> {
    use oddity::online::{ONLINE_DETECTOR_NAMES, online_detector_by_name};
    use oddity::stream::{LIKELIHOOD_THRESHOLD, StreamModel, StreamOptions, StreamThresholdParams};
    use oddity::threshold::ThresholdRule;

    let mut read = args.read.to_options()?;
    if args.flush {
        // Inferring types reads ahead; a live pipe must not wait for rows
        // that have not arrived yet.
        read.infer_rows = 1;
    }
    let loaded = match &args.model {
        Some(path) => Some(StreamModel::load(path)?),
        None => None,
    };
    if let Some(model) = &loaded {
        read.schema_hints.extend(
            model
                .feature_names()
                .iter()
                .map(|name| (name.clone(), oddity::data::ColumnKind::Number)),
        );
    }
    let mut source = data::open(&input(&args.input), &read)?;
    let schema = source.schema().clone();
    let mut model = match loaded {
        Some(model) => model,
        None => {
            let base = online_detector_by_name(&args.detector).with_context(|| {
                format!(
                    "unknown online detector {:?}; the online detectors are: {}",
                    args.detector,
                    ONLINE_DETECTOR_NAMES.join(", ")
                )
            })?;
            let detector = base.with_settings(&parse_settings(&args.params)?)?;
            let options = StreamOptions {
                selection: selection(&args.columns),
                detector,
                threshold: StreamThresholdParams {
                    rule: args.threshold.rule().unwrap_or(if args.likelihood {
                        ThresholdRule::Score(LIKELIHOOD_THRESHOLD)
                    } else {
                        ThresholdRule::default()
                    }),
                    window: args.window,
                    warmup: args.warmup,
                    cooldown: args.cooldown,
                    spot: args.spot.map(|risk| oddity::spot::SpotParams {
                        risk,
                        depth: args.spot_depth.unwrap_or(0),
                        ..oddity::spot::SpotParams::default()
                    }),
                    ..StreamThresholdParams::default()
                },
                likelihood: args
                    .likelihood
                    .then(oddity::online::AnomalyLikelihoodParams::default),
                entity: args.entity.clone(),
                max_entities: args.max_entities,
                max_bytes: args.max_entity_memory,
                time: args.time.clone(),
                gap_factor: args.gap_factor,
            };
            StreamModel::new(options, &schema)?
        }
    };
    let binding = model.bind(&schema)?;
    let mut out = open_output(args.output.as_deref())?;
    let columns = StreamColumns {
        id: model.options.selection.id.clone(),
        // An entity column that is also the id is written once.
        entity: model
            .options
            .entity
            .clone()
            .filter(|entity| model.options.selection.id.as_ref() != Some(entity)),
        label: model.options.selection.label.clone(),
        gaps: model.options.time.is_some(),
    };
    if args.format == StreamFormat::Csv {
        let mut header = vec!["row"];
        header.extend(columns.id.as_deref());
        header.extend(columns.entity.as_deref());
        header.extend(["score", "threshold", "is_anomaly", "alert"]);
        if columns.gaps {
            header.push("gap_seconds");
        }
        header.extend(columns.label.as_deref());
        if args.explain {
            header.push("top_features");
        }
        let mut csv = csv::Writer::from_writer(&mut out);
        csv.write_record(&header)?;
        csv.flush()?;
    }
    let bar = progress(quiet || args.flush, "streaming");
    let chunk_rows = if args.flush { 1 } else { 1024 };
    let mut since_checkpoint = 0u64;
    while let Some(frame) = source.next_chunk(chunk_rows)? {
        let points = model.process(&frame, &binding, args.explain)?;
        for point in &points {
            if args.anomalies_only && !point.decision.is_anomaly {
                continue;
            }
            write_stream_point(&mut out, args.format, point, &columns, args.explain)?;
        }
        if args.flush {
            out.flush()?;
        }
        bar.set_position(model.n_records());
        since_checkpoint += points.len() as u64;
        if let (Some(path), Some(every)) = (&args.checkpoint, args.checkpoint_every)
            && since_checkpoint >= every
        {
            model.save(path)?;
            since_checkpoint = 0;
        }
    }
    bar.finish_and_clear();
    out.flush()?;
    if let Some(path) = &args.checkpoint {
        model.save(path)?;
    }
    if !quiet {
        eprintln!(
            "streamed {} records with {}: {} incidents{}{}",
            model.n_records(),
            model.detector_name(),
            model.n_incidents(),
            model
                .options
                .entity
                .as_ref()
                .map(|_| format!(
                    " over {} entities holding {} bytes ({} replaced to stay within \
                     --max-entities{})",
                    model.n_entities(),
                    model.state_bytes(),
                    model.n_replaced(),
                    if model.options.max_bytes.is_some() {
                        " and --max-entity-memory"
                    } else {
                        ""
                    }
                ))
                .unwrap_or_default(),
            args.checkpoint
                .as_ref()
                .map(|path| format!(", state saved to {}", path.display()))
                .unwrap_or_default(),
        );
    }
    Ok(())
}

/// The input columns a stream's output repeats beside each score.
struct StreamColumns {
    id: Option<String>,
    entity: Option<String>,
    label: Option<String>,
    /// Records have times, so gaps before them are reported.
    gaps: bool,
}

/// The silence before a record that followed a gap, in seconds.
fn gap_seconds(point: &oddity::stream::StreamPoint) -> Option<f64> {
    point.gap_ms.map(|gap| gap as f64 / 1000.0)
}

fn write_stream_point(
    out: &mut dyn Write,
    format: StreamFormat,
    point: &oddity::stream::StreamPoint,
    columns: &StreamColumns,
    explain: bool,
) -> anyhow::Result<()> {
    let finite = |value: f64| value.is_finite().then_some(value);
    match format {
        StreamFormat::Ndjson => {
            let mut record = serde_json::Map::new();
            record.insert("row".into(), json!(point.row));
            if let Some(name) = &columns.id {
                record.insert(name.clone(), json!(point.id));
            }
            if let Some(name) = &columns.entity {
                record.insert(name.clone(), json!(point.entity));
            }
            record.insert("score".into(), json!(finite(point.score)));
            record.insert("threshold".into(), json!(point.decision.threshold));
            record.insert("is_anomaly".into(), json!(point.decision.is_anomaly));
            record.insert("alert".into(), json!(point.decision.alert));
            if columns.gaps {
                record.insert("gap_seconds".into(), json!(gap_seconds(point)));
            }
            if let Some(name) = &columns.label {
                record.insert(name.clone(), json!(point.label));
            }
            if let Some(contributions) = &point.contributions {
                let named: Vec<_> = contributions
                    .iter()
                    .map(|(column, share)| json!({"column": column, "share": share}))
                    .collect();
                record.insert("contributions".into(), json!(named));
            }
            serde_json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")?;
        }
        StreamFormat::Csv => {
            let number = |value: Option<f64>| value.map(format_number).unwrap_or_default();
            let mut fields = vec![point.row.to_string()];
            if columns.id.is_some() {
                fields.push(point.id.clone().unwrap_or_default());
            }
            if columns.entity.is_some() {
                fields.push(point.entity.clone().unwrap_or_default());
            }
            fields.push(number(finite(point.score)));
            fields.push(number(point.decision.threshold));
            fields.push(point.decision.is_anomaly.to_string());
            fields.push(point.decision.alert.to_string());
            if columns.gaps {
                fields.push(number(gap_seconds(point)));
            }
            if columns.label.is_some() {
                fields.push(point.label.map(|l| l.to_string()).unwrap_or_default());
            }
            if explain {
                let top = point
                    .contributions
                    .iter()
                    .flatten()
                    .map(|(column, share)| format!("{column}:{share:.3}"))
                    .collect::<Vec<_>>()
                    .join(";");
                fields.push(top);
            }
            let mut csv = csv::WriterBuilder::new().from_writer(&mut *out);
            csv.write_record(&fields)?;
            csv.flush()?;
        }
    }
    Ok(())
}

fn bench_nab(args: &BenchNabArgs) -> anyhow::Result<()> {
    use oddity::nab::{
        CorpusSweep, NabDetectorParams, PROBATIONARY_PERCENT, load_corpus_data, load_windows,
    };

    let mut params = match &args.config {
        None => NabDetectorParams::default(),
        Some(text) => {
            let text = if Path::new(text).is_file() {
                std::fs::read_to_string(text).with_context(|| format!("reading {text}"))?
            } else {
                text.clone()
            };
            serde_json::from_str(&text).context("--config is not a NAB detector configuration")?
        }
    };
    params.detector = params
        .detector
        .with_settings(&parse_settings(&args.params)?)?;
    params.validate()?;
    anyhow::ensure!(!args.seeds.is_empty(), "--seeds needs at least one seed");

    let corpus = load_corpus_data(args.dir.join("data"))?;
    let windows = load_windows(args.dir.join("labels/combined_windows.json"))?;
    let profiles = nab_profiles(&args.dir)?;

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    writeln!(out, "{}", nab_corpus_line(&corpus, &windows))?;
    writeln!(out, "configuration: {}", serde_json::to_string(&params)?)?;
    writeln!(
        out,
        "{:<6} {:>18} {:>18} {:>18} {:>9}",
        "seed", "standard", "low FP", "low FN", "seconds"
    )?;
    let mut csv_rows = Vec::new();
    let mut totals = [0.0; 3];
    // A deterministic detector gives the same scores for every seed.
    let seeds = if params.detector.is_randomised() {
        &args.seeds[..]
    } else {
        &args.seeds[..1]
    };
    for &seed in seeds {
        let mut seeded = params.clone();
        if params.detector.is_randomised() {
            seeded.detector = params
                .detector
                .with_settings(&[("seed".to_string(), seed.to_string())])?;
        }
        let start = std::time::Instant::now();
        let results = seeded.score_corpus(&corpus)?;
        let seconds = start.elapsed().as_secs_f64();
        let sweep = CorpusSweep::new(&results, &windows, PROBATIONARY_PERCENT)?;
        write!(out, "{seed:<6}")?;
        for (slot, profile) in profiles.iter().enumerate() {
            let best = sweep.optimise_threshold(profile);
            totals[slot] += best.normalised;
            let cell = format!("{:.1} @{:.4}", best.normalised, best.threshold);
            write!(out, " {cell:>18}")?;
            csv_rows.push(format!(
                "{seed},{},{},{},{},{},{},{},{seconds:.3}",
                profile.name(),
                best.threshold,
                best.normalised,
                best.raw,
                best.counts.true_positives,
                best.counts.false_positives,
                best.counts.false_negatives
            ));
        }
        writeln!(out, " {seconds:>9.1}")?;
        out.flush()?;
    }
    let n_seeds = seeds.len() as f64;
    let means = totals.map(|total| total / n_seeds);
    writeln!(
        out,
        "{:<6} {:>18.1} {:>18.1} {:>18.1}",
        "mean", means[0], means[1], means[2]
    )?;

    let scoreboard_path = args
        .scoreboard
        .clone()
        .unwrap_or_else(|| args.dir.join("scoreboard.csv"));
    let entry = oddity::nab::PublishedScore {
        detector: format!("oddity (mean of {} seeds)", seeds.len()),
        scores: means,
    };
    write_scoreboard(&mut out, &scoreboard_path, vec![entry])?;
    out.flush()?;

    if let Some(path) = &args.output {
        let header = "seed,profile,threshold,normalised,raw,true_positives,false_positives,\
                      false_negatives,seconds";
        write_lines(path, header, &csv_rows)?;
    }
    Ok(())
}

/// Writes `header` and then `rows`, one per line, to a new file at `path`.
pub(crate) fn write_lines(path: &Path, header: &str, rows: &[String]) -> anyhow::Result<()> {
    let mut file =
        BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?);
    writeln!(file, "{header}")?;
    for row in rows {
        writeln!(file, "{row}")?;
    }
    file.flush()?;
    Ok(())
}

/// The first line of a NAB run: what the corpus holds.
pub(crate) fn nab_corpus_line(
    corpus: &std::collections::BTreeMap<String, oddity::nab::SeriesData>,
    windows: &oddity::nab::CorpusWindows,
) -> String {
    format!(
        "NAB corpus: {} series, {} points, {} windows; probation {:.0}%",
        corpus.len(),
        corpus.values().map(|s| s.values.len()).sum::<usize>(),
        windows.n_windows(),
        oddity::nab::PROBATIONARY_PERCENT * 100.0
    )
}

/// NAB's three profiles in scoreboard order (standard, then the two
/// rewards), from `dir/config/profiles.json` when present.
pub(crate) fn nab_profiles(dir: &Path) -> anyhow::Result<Vec<oddity::nab::Profile>> {
    use oddity::nab::{Profile, load_profiles};

    let profiles_path = dir.join("config/profiles.json");
    let profiles = if profiles_path.is_file() {
        load_profiles(&profiles_path)?
    } else {
        Profile::nab_profiles().to_vec()
    };
    let order = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"];
    let profiles: Vec<Profile> = order
        .iter()
        .filter_map(|name| profiles.iter().find(|p| p.name() == *name).cloned())
        .collect();
    anyhow::ensure!(
        profiles.len() == order.len(),
        "{}: needs the profiles {}",
        profiles_path.display(),
        order.join(", ")
    );
    Ok(profiles)
}

/// The published scoreboard with `entries` ranked among it by the
/// standard profile, or a line saying why there is none.
pub(crate) fn write_scoreboard(
    out: &mut impl Write,
    scoreboard_path: &Path,
    entries: Vec<oddity::nab::PublishedScore>,
) -> anyhow::Result<()> {
    match oddity::nab::load_scoreboard(scoreboard_path) {
        Ok(mut published) => {
            published.extend(entries);
            published.sort_by(|a, b| b.scores[0].total_cmp(&a.scores[0]));
            writeln!(out)?;
            writeln!(
                out,
                "{:<4} {:<28} {:>9} {:>9} {:>9}",
                "rank", "detector", "standard", "low FP", "low FN"
            )?;
            for (rank, entry) in published.iter().enumerate() {
                writeln!(
                    out,
                    "{:<4} {:<28} {:>9.1} {:>9.1} {:>9.1}",
                    rank + 1,
                    entry.detector,
                    entry.scores[0],
                    entry.scores[1],
                    entry.scores[2]
                )?;
            }
        }
        Err(error) => writeln!(out, "no published scoreboard: {error}")?,
    }
    Ok(())
}
