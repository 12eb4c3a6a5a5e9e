//! Command-line arguments and their translation into library options.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use oddity::data::{ColumnKind, Format, Input, ReadOptions};
use oddity::detector::{
    DETECTOR_NAMES, DetectorParams, IsolationForestParams, SplitKind, detector_by_name,
};
use oddity::pipeline::{FitOptions, WindowOptions};
use oddity::prep::{CategoryEncoding, ColumnSelection, Imputation, PrepConfig, Scaling};
use oddity::series::window::{WindowParams, WindowRepresentation};
use oddity::threshold::ThresholdRule;

const EXAMPLES: &str = "\
Examples:
  oddity detect transactions.csv --explain
  oddity fit train.parquet --exclude id -o fraud.oddity
  oddity score fraud.oddity new.jsonl --format csv > scored.csv
  oddity eval scored.csv --label is_fraud
  oddity fit flows.csv --label is_attack --detector forest -o attacks.oddity
  oddity inspect fraud.oddity
  cat metrics.csv | oddity detect - --contamination 0.01 --format ndjson
  oddity detect sensors.csv --window 32 --time timestamp --entity sensor

Exit codes:
  0  success (also when the output pipe is closed early)
  1  any other failure
  2  bad command line
  3  bad input data (the message names the file, row and column)
  4  unreadable, corrupted or incompatible model file";

/// Find anomalies in tabular data, explain them, and evaluate the result.
#[derive(Debug, Parser)]
#[command(name = "oddity", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Log decisions to stderr (-v debug, -vv trace).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit, score and threshold one input in one go; print the anomalies.
    #[command(
        after_help = "Example:\n  oddity detect transactions.csv --id id --label is_fraud --explain"
    )]
    Detect(DetectArgs),
    /// Fit a model on an input and save it.
    #[command(after_help = "Example:\n  oddity fit train.parquet --exclude id -o fraud.oddity")]
    Fit(FitArgs),
    /// Score an input with a saved model, streaming it chunk by chunk.
    #[command(
        after_help = "Example:\n  oddity score fraud.oddity new.jsonl --format csv > scored.csv"
    )]
    Score(ScoreArgs),
    /// Evaluate scores against labels: ROC-AUC, PR-AUC, P@k, F1, confusion matrix.
    #[command(after_help = "Example:\n  oddity eval scored.csv --label is_fraud")]
    Eval(EvalArgs),
    /// Score a stream record by record with an online detector that learns
    /// as it goes; adaptive threshold, one alert per incident.
    #[command(after_help = STREAM_EXAMPLES)]
    Stream(StreamArgs),
    /// Find anomalies in time series against their season: STL
    /// decomposition and a generalized ESD test on the residuals (seasonal
    /// hybrid ESD), each --value column tested on its own.
    #[command(after_help = SERIES_EXAMPLES)]
    Series(SeriesArgs),
    /// Print what a model file holds, as JSON, after verifying its checksum.
    Inspect(InspectArgs),
    /// Run detectors under a published benchmark protocol.
    #[command(subcommand)]
    Bench(BenchCommand),
}

const STREAM_EXAMPLES: &str = "\
Examples:
  oddity stream metrics.csv --exclude timestamp --checkpoint state.oddity > scores.ndjson
  tail -f metrics.csv | oddity stream - --model state.oddity --flush --anomalies-only
  oddity stream sensors.jsonl --detector hst --param n_trees=25 --format csv

Each output record is scored before the detector learns from it. A record with a
missing feature scores null and is not learned. `alert` is true on the first
anomaly of an incident; the incident closes after --cooldown quiet records.";

const SERIES_EXAMPLES: &str = "\
Examples:
  oddity series nyc_taxi.csv --value value --time timestamp
  oddity series metrics.csv --value cpu,memory --time ts --format ndjson > verdicts.ndjson
  oddity series counts.csv --value requests --period 24 --direction pos --max-anomalies 0.01

Without --period, the period is one day of points (a week for daily points),
inferred from the median spacing of --time (rows may come in any time order;
rows with the same time share a grid point). Gaps and
missing values are interpolated for the decomposition only and never flagged.
expected = seasonal + baseline (the median level, or the trend with
--baseline trend); residual = value - expected; score = the residual's
deviation in robust standard deviations (1.4826 x MAD).";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SeriesFormat {
    /// The anomalies, ranked, for people (default on a terminal).
    Table,
    Csv,
    /// One JSON object per point and column.
    Ndjson,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    Both,
    Pos,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BaselineArg {
    /// The median of the deseasonalised values (S-H-ESD's choice).
    Median,
    /// The STL trend (for series whose level wanders).
    Trend,
}

#[derive(Debug, Args)]
pub struct SeriesArgs {
    /// Input file, or - for stdin.
    pub input: String,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Numeric column to test (repeatable or comma-separated); each is
    /// tested on its own.
    #[arg(
        long = "value",
        value_delimiter = ',',
        required = true,
        value_name = "COLUMN"
    )]
    pub values: Vec<String>,
    /// Timestamp column that orders the points and sets the period.
    #[arg(long, value_name = "COLUMN")]
    pub time: Option<String>,
    /// Points per season (default: one day, from --time).
    #[arg(long, value_name = "N")]
    pub period: Option<usize>,
    /// Largest share of points that may be anomalies, in (0, 0.5].
    #[arg(long, default_value_t = 0.02, value_name = "FRACTION")]
    pub max_anomalies: f64,
    /// Significance level of the ESD test.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Which deviations count: both, pos (above expected), neg (below).
    #[arg(long, value_enum, default_value = "both")]
    pub direction: DirectionArg,
    /// What the season is added to for the expected value.
    #[arg(long, value_enum, default_value = "median")]
    pub baseline: BaselineArg,
    /// Seasonal loess span (odd, at least 7) letting the seasonal shape
    /// change over time (default: one fixed shape, "periodic").
    #[arg(long, value_name = "N")]
    pub seasonal_span: Option<usize>,
    /// Ground-truth column (1/true/anomaly = anomaly): copied to the
    /// output, and the table ends with an evaluation per column.
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<String>,
    /// Output format (default: table on a terminal, csv otherwise).
    #[arg(long, value_enum)]
    pub format: Option<SeriesFormat>,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Table: how many anomalies to list per column.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
    /// csv/ndjson: only the anomalies, not every point.
    #[arg(long)]
    pub anomalies_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StreamFormat {
    /// One JSON object per record.
    Ndjson,
    Csv,
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Input file, or - for stdin.
    pub input: String,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Online detector: rcf (random cut forest, Guha et al. 2016), hst
    /// (half-space trees, Tan et al. 2011; expects features in [0, 1]
    /// unless its `limits` parameter says otherwise) or cusum (per-feature
    /// CUSUM change points in level and spread, Page 1954; parameters
    /// drift, reset_threshold, warmup) or seasonal (robust median and
    /// spread of the same hour of the day, day of the week or hour of the
    /// week; needs --time; parameters season=hour_of_day|day_of_week|
    /// hour_of_week, history, min_history, utc_offset_minutes, scale_floor).
    #[arg(long, default_value = "rcf", value_name = "NAME")]
    pub detector: String,
    /// Set a detector parameter by name (repeatable), e.g. --param shingle_size=4.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    /// Report each score as an anomaly likelihood (Numenta's: how unusual
    /// the last 10 raw scores are for this stream, on a log scale from 0 to
    /// 1), judged against a fixed threshold of 0.5 unless a threshold flag
    /// says otherwise. Suits incidents that last a few records; lone
    /// spikes are diluted by the averaging.
    #[arg(long, conflicts_with = "model")]
    pub likelihood: bool,
    /// Keep one model (detector, likelihood, threshold) per value of this
    /// column, e.g. a host or customer id; never a feature.
    #[arg(long, value_name = "COLUMN", conflicts_with = "model")]
    pub entity: Option<String>,
    /// A timestamp column with each record's time: the seasonal detector's
    /// calendar, and gaps (a record after an unusually long silence gets
    /// gap_seconds in the output).
    #[arg(long, value_name = "COLUMN", conflicts_with = "model")]
    pub time: Option<String>,
    /// A silence longer than this many times the usual spacing of an
    /// entity's records is reported as a gap.
    #[arg(long, default_value_t = oddity::stream::DEFAULT_GAP_FACTOR, value_name = "FACTOR")]
    pub gap_factor: f64,
    /// Most entities kept at once; a new one beyond it replaces the one seen
    /// least recently.
    #[arg(long, default_value_t = oddity::stream::DEFAULT_MAX_ENTITIES, value_name = "N")]
    pub max_entities: usize,
    /// A memory budget for the per-entity models together, such as 256MiB
    /// or 2GB (bytes without a unit): when their states grow past it, the
    /// entities seen least recently are replaced.
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size, conflicts_with = "model")]
    pub max_entity_memory: Option<usize>,
    /// Records the threshold ignores while the detector is still learning.
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub warmup: u64,
    /// Quiet records in a row that close an incident.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub cooldown: u64,
    /// Most recent scores the adaptive threshold is fitted on.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub window: usize,
    /// Set the threshold by SPOT (Siffer et al. 2017) instead: flag a score
    /// that a normal score would exceed with probability below RISK (for
    /// example 1e-4), under a generalized Pareto tail fitted to the scores
    /// above their 0.98 quantile and refitted as the stream goes. Calibrates
    /// on 1,000 scores after the warm-up.
    #[arg(long, value_name = "RISK", conflicts_with_all = ["rule", "model"])]
    pub spot: Option<f64>,
    /// With --spot: judge each score against the mean of the last N normal
    /// scores (DSPOT), so that a drifting score level raises no alarms.
    #[arg(long, value_name = "N", requires = "spot")]
    pub spot_depth: Option<usize>,
    /// Continue from this saved stream state (detector, threshold, open
    /// incident); its columns and detector settings are used.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["params", "features", "exclude"])]
    pub model: Option<std::path::PathBuf>,
    /// Save the whole state here when the input ends (and every
    /// --checkpoint-every records); restoring it continues exactly.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<std::path::PathBuf>,
    /// Also save the state every N records.
    #[arg(long, value_name = "N", requires = "checkpoint")]
    pub checkpoint_every: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: StreamFormat,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Read and write record by record, flushing after each (for live
    /// pipes); column types are then inferred from the first record.
    #[arg(long)]
    pub flush: bool,
    /// Name the features that drive each anomaly.
    #[arg(long)]
    pub explain: bool,
    /// Only write anomalies.
    #[arg(long)]
    pub anomalies_only: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// ADBench protocol over a folder of labelled CSVs (numeric columns and
    /// `label`): subsample to 10,000 or resample to 1,000 points, stratified
    /// 70/30 split, min-max scaling fitted on train, seeds 1, 2, 3.
    #[command(
        after_help = "Example:\n  oddity bench tabular ../shared/data/tabular --detectors iforest,eif -o results.csv"
    )]
    Tabular(BenchTabularArgs),
    /// Numenta Anomaly Benchmark: stream every series of the corpus through
    /// oddity's NAB detector, optimise the threshold per profile as NAB
    /// v1.1 does, and print the scores beside the published scoreboard.
    #[command(
        after_help = "Example:\n  oddity bench nab ../shared/data/nab --seeds 1,2,3 -o nab.csv"
    )]
    Nab(BenchNabArgs),
    /// Numenta Anomaly Benchmark for the batch seasonal hybrid ESD method
    /// (`oddity series`): each series tested whole, each point scored, the
    /// threshold optimised per profile; also the ESD flags as they are,
    /// with the precision and recall of windows.
    #[command(
        after_help = "Example:\n  oddity bench nab-series ../shared/data/nab -o nab_series.csv"
    )]
    NabSeries(BenchNabSeriesArgs),
}

#[derive(Debug, Args)]
pub struct BenchNabSeriesArgs {
    /// NAB checkout: `data/`, `labels/combined_windows.json`, and optionally
    /// `config/profiles.json` and `scoreboard.csv`.
    pub dir: PathBuf,
    /// Largest share of points the test may flag, in (0, 0.5].
    #[arg(long, default_value_t = 0.02, value_name = "FRACTION")]
    pub max_anomalies: f64,
    /// Significance level of the ESD test.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// What the season is added to for the expected value.
    #[arg(long, value_enum, default_value = "median")]
    pub baseline: BaselineArg,
    /// Seasonal loess span (default: periodic).
    #[arg(long, value_name = "N")]
    pub seasonal_span: Option<usize>,
    /// Published scoreboard (default: DIR/scoreboard.csv).
    #[arg(long, value_name = "FILE")]
    pub scoreboard: Option<PathBuf>,
    /// Also write the per-profile results as CSV here.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchNabArgs {
    /// NAB checkout: `data/`, `labels/combined_windows.json`, and optionally
    /// `config/profiles.json` and `scoreboard.csv`.
    pub dir: PathBuf,
    /// The detector configuration as JSON (a file or inline text); fields
    /// left out keep their defaults, e.g. '{"context": []}'.
    #[arg(long, value_name = "JSON")]
    pub config: Option<String>,
    /// Set a parameter of the online detector, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Seeds of the detector's random generators; scores are reported per
    /// seed and on average.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Published scoreboard (default: DIR/scoreboard.csv).
    #[arg(long, value_name = "FILE")]
    pub scoreboard: Option<PathBuf>,
    /// Also write the per-seed, per-profile results as CSV here.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchTabularArgs {
    /// Folder of labelled CSVs (`odds_*` files are skipped).
    pub dir: PathBuf,
    /// Detectors to run (comma-separated names, as --detector takes).
    #[arg(long, value_delimiter = ',', default_value = "iforest")]
    pub detectors: Vec<String>,
    /// Novelty setting: fit on the training part's normal points only (the
    /// published values fit on every training point).
    #[arg(long)]
    pub normal_only: bool,
    /// Published ADBench ROC-AUC table (default: DIR/../reference/adbench_unsupervised_aucroc.csv).
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Seeds to average over.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Only datasets whose file name contains one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Also write the per-dataset results as CSV here.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Input format (default: from the file extension, else sniffed).
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<Format>,
    /// Field delimiter for CSV-like input, one character.
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<char>,
    /// The first line is data; columns are named x0, x1, ...
    #[arg(long)]
    pub no_header: bool,
    /// Override an inferred column type: NAME=number|category|boolean|timestamp.
    #[arg(long = "type", value_name = "NAME=KIND")]
    pub types: Vec<String>,
    /// An extra token that means "missing" (repeatable).
    #[arg(long, value_name = "TOKEN")]
    pub na: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ColumnArgs {
    /// Use only these columns as features (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub features: Option<Vec<String>>,
    /// Leave these columns out of the features (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub exclude: Vec<String>,
    /// Ground-truth column (1/true/anomaly = anomaly); never a feature.
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<String>,
    /// The label value that means anomaly, when it is not a usual word.
    #[arg(
        long,
        value_name = "VALUE",
        requires = "label",
        conflicts_with = "negative"
    )]
    pub positive: Option<String>,
    /// The label value that means normal; every other value is an anomaly.
    #[arg(long, value_name = "VALUE", requires = "label")]
    pub negative: Option<String>,
    /// Column that identifies each point in the output; never a feature.
    #[arg(long, value_name = "COLUMN")]
    pub id: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EncodeArg {
    Onehot,
    Frequency,
    Ordinal,
}

#[derive(Debug, Args)]
pub struct PrepArgs {
    /// Drop exact duplicate rows before fitting.
    #[arg(long)]
    pub drop_duplicates: bool,
    /// How missing numbers are filled.
    #[arg(long, value_enum, default_value = "median")]
    pub impute: ImputeArg,
    /// How numbers are scaled.
    #[arg(long, value_enum, default_value = "none")]
    pub scale: ScaleArg,
    /// How categories are encoded.
    #[arg(long, value_enum, default_value = "frequency")]
    pub encode: EncodeArg,
    /// One-hot: most categories per column before the rest become "(other)".
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_categories: usize,
    /// Use timestamp columns as features (hour of day, day of week).
    #[arg(long)]
    pub time_features: bool,
}

/// Sliding windows (collective anomalies), shared by `fit` and `detect`.
#[derive(Debug, Args)]
pub struct WindowArgs {
    /// Score sliding windows of this many consecutive rows instead of single
    /// rows, to find runs of points that are abnormal together (a flat-lined
    /// sensor, a changed shape). Every row gets the highest score of the
    /// windows that contain it; the input needs at least this many rows
    /// (per entity).
    #[arg(long, value_name = "ROWS")]
    pub window: Option<usize>,
    /// Rows between the starts of consecutive windows (1 to --window).
    #[arg(long, default_value_t = 1, value_name = "ROWS", requires = "window")]
    pub stride: usize,
    /// What the detector sees of a window: raw values, diff (first
    /// differences: level-invariant) or normalised (z-scored: shape only).
    #[arg(long, value_enum, default_value = "raw", requires = "window")]
    pub window_repr: WindowReprArg,
    /// Sort rows by this column (numbers or timestamps) before windowing;
    /// never a feature.
    #[arg(long, value_name = "COLUMN", requires = "window")]
    pub time: Option<String>,
    /// One series per value of this column (a host, a sensor); no window
    /// spans two. Never a feature.
    #[arg(long, value_name = "COLUMN", requires = "window")]
    pub entity: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum WindowReprArg {
    Raw,
    Diff,
    Normalised,
}

impl WindowArgs {
    /// The window options the flags describe; `None` without `--window`.
    pub fn options(&self) -> Option<WindowOptions> {
        let width = self.window?;
        Some(WindowOptions {
            params: WindowParams {
                width,
                stride: self.stride,
                representation: match self.window_repr {
                    WindowReprArg::Raw => WindowRepresentation::Raw,
                    WindowReprArg::Diff => WindowRepresentation::Diff,
                    WindowReprArg::Normalised => WindowRepresentation::Normalised,
                },
            },
            time: self.time.clone(),
            entity: self.entity.clone(),
        })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ImputeArg {
    Median,
    Mean,
    Zero,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScaleArg {
    None,
    Standard,
    Minmax,
    Robust,
}

#[derive(Debug, Args)]
pub struct DetectorArgs {
    /// Detector: iforest (Isolation Forest), eif (extended), ecod, copod,
    /// hbos, knn, lof, pca, mcd (robust Mahalanobis), kmeans, ocsvm (one-class
    /// SVM), dbscan, auto (an ensemble of iforest, hbos and knn; slower),
    /// autoencoder (reconstruction error), or lstm-autoencoder (an LSTM's
    /// reconstruction error of each window; needs --window). Training
    /// either autoencoder needs a build with --features autoencoder.
    /// Supervised, trained on --label: logistic, tree, forest (score =
    /// probability of an anomaly, threshold 0.5 unless a rule is given).
    #[arg(long, default_value = "iforest", value_name = "NAME")]
    pub detector: String,
    /// Set a detector parameter by name (repeatable), e.g. --param n_trees=200.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Isolation forests: number of trees (default 100).
    #[arg(long, value_name = "N")]
    pub trees: Option<usize>,
    /// Isolation forests: points per tree, "auto" (256), a count or a fraction in (0, 1].
    #[arg(long, value_name = "N")]
    pub max_samples: Option<String>,
    /// Extended forest: non-zero hyperplane coefficients minus one (default: all features).
    #[arg(long, value_name = "N")]
    pub extension_level: Option<usize>,
    /// Random seed; equal seeds give equal results on any number of threads.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Most training rows kept in memory; larger inputs are sampled uniformly.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_fit_rows: usize,
}

#[derive(Debug, Args)]
pub struct ThresholdArgs {
    /// Expected share of anomalies, in (0, 0.5].
    #[arg(long, value_name = "FRACTION", group = "rule")]
    pub contamination: Option<f64>,
    /// In (0, 1); higher flags more points (default rule: 0.5).
    #[arg(long, value_name = "S", group = "rule")]
    pub sensitivity: Option<f64>,
    /// An explicit raw-score threshold.
    #[arg(long, value_name = "SCORE", group = "rule")]
    pub threshold: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Ranked anomalies for people (default on a terminal).
    Table,
    Csv,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Ndjson,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format (default: table on a terminal, csv otherwise).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Explain each anomaly: contributing columns, values, typical ranges.
    #[arg(long)]
    pub explain: bool,
    /// Table: how many anomalies to list.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
    /// csv/json/ndjson: only the anomalies, not every point.
    #[arg(long)]
    pub anomalies_only: bool,
    /// csv/json/ndjson: copy every input column into the output.
    #[arg(long)]
    pub keep_columns: bool,
    /// Rows per chunk while streaming.
    #[arg(long, default_value_t = 65_536, value_name = "N")]
    pub chunk_rows: usize,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Input file, or - for stdin.
    pub input: String,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub columns: ColumnArgs,
    #[command(flatten)]
    pub prep: PrepArgs,
    #[command(flatten)]
    pub detector: DetectorArgs,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Also save the fitted model here.
    #[arg(long, value_name = "PATH")]
    pub save_model: Option<PathBuf>,
    /// Novelty detection: fit on this file of normal data (or - for
    /// stdin), then score the input as new data; the threshold is
    /// calibrated on the normal data's scores.
    #[arg(long, value_name = "FILE")]
    pub train: Option<String>,
    /// Novelty detection from a labelled input: fit only on rows that
    /// --label marks normal, then score and report the held-out rows
    /// (--holdout) as new data.
    #[arg(long, requires = "label")]
    pub normal_only: bool,
    /// Supervised detectors and --normal-only: share of rows (chosen by a
    /// seeded hash of the row number) kept out of fitting; only those rows
    /// are scored and reported. 0 fits and reports on every row.
    #[arg(long, default_value_t = 0.3, value_name = "FRACTION")]
    pub holdout: f64,
    /// Keep the parsed input in memory up to this many MiB so it is read
    /// only once; larger inputs are read a second time to score.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub memory_budget: usize,
}

#[derive(Debug, Args)]
pub struct FitArgs {
    /// Training input, or - for stdin.
    pub input: String,
    /// Where to write the model.
    #[arg(long, short, value_name = "PATH")]
    pub output: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub columns: ColumnArgs,
    #[command(flatten)]
    pub prep: PrepArgs,
    #[command(flatten)]
    pub detector: DetectorArgs,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Novelty detection from a labelled input: fit only on rows that
    /// --label marks normal (rows marked anomalous or unlabelled are read
    /// but not fitted on).
    #[arg(long, requires = "label")]
    pub normal_only: bool,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// A model written by `oddity fit`.
    pub model: PathBuf,
    /// Input to score, or - for stdin.
    pub input: String,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Id column (default: the model's).
    #[arg(long, value_name = "COLUMN")]
    pub id: Option<String>,
    /// Label column to copy into the output (default: the model's).
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<String>,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Scored file (for example the csv output of `oddity score`).
    pub input: String,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Ground-truth column.
    #[arg(long, value_name = "COLUMN")]
    pub label: String,
    /// The label value that means anomaly, when it is not a usual word.
    #[arg(long, value_name = "VALUE", conflicts_with = "negative")]
    pub positive: Option<String>,
    /// The label value that means normal; every other value is an anomaly.
    #[arg(long, value_name = "VALUE")]
    pub negative: Option<String>,
    /// Score column.
    #[arg(long, default_value = "score", value_name = "COLUMN")]
    pub score_column: String,
    /// Decision column for the confusion matrix; "none" to skip.
    #[arg(long, default_value = "is_anomaly", value_name = "COLUMN")]
    pub predicted_column: String,
    /// Precision at k (default: the number of true anomalies).
    #[arg(long, short)]
    pub k: Option<usize>,
    /// Output format: table or json.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A model file.
    pub model: PathBuf,
}

impl ReadArgs {
    pub fn to_options(&self) -> anyhow::Result<ReadOptions> {
        let delimiter = match self.delimiter {
            None => None,
            Some(c) if c.is_ascii() => Some(c as u8),
            Some(c) => bail!("--delimiter must be one ASCII character, got {c:?}"),
        };
        let type_overrides = self
            .types
            .iter()
            .map(|spec| {
                let (name, kind) = spec
                    .rsplit_once('=')
                    .with_context(|| format!("--type expects NAME=KIND, got {spec:?}"))?;
                let kind: ColumnKind = kind.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "--type {spec}: unknown kind {kind:?}; use number, category, boolean or timestamp"
                    )
                })?;
                Ok((name.to_string(), kind))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(ReadOptions {
            format: self.input_format,
            delimiter,
            has_header: !self.no_header,
            type_overrides,
            extra_missing: self.na.clone(),
            ..ReadOptions::default()
        })
    }
}

impl ThresholdArgs {
    /// The rule the flags ask for, if any.
    pub fn rule(&self) -> Option<ThresholdRule> {
        if let Some(c) = self.contamination {
            Some(ThresholdRule::Contamination(c))
        } else if let Some(s) = self.sensitivity {
            Some(ThresholdRule::Sensitivity(s))
        } else {
            self.threshold.map(ThresholdRule::Score)
        }
    }
}

/// A detector by name with its default parameters.
pub fn named_detector(name: &str) -> anyhow::Result<DetectorParams> {
    detector_by_name(name).with_context(|| {
        format!(
            "unknown detector {name:?}; the detectors are: {}",
            DETECTOR_NAMES.join(", ")
        )
    })
}

impl DetectorArgs {
    fn params(&self) -> anyhow::Result<DetectorParams> {
        let base = named_detector(&self.detector)?;
        let mut settings = Vec::new();
        let is_forest = matches!(base, DetectorParams::IsolationForest(_));
        let is_extended = matches!(
            base,
            DetectorParams::IsolationForest(IsolationForestParams {
                split: SplitKind::Hyperplane { .. },
                ..
            })
        );
        if let Some(trees) = self.trees {
            anyhow::ensure!(is_forest, "--trees applies to iforest and eif only");
            settings.push(("n_trees".to_string(), trees.to_string()));
        }
        if let Some(text) = &self.max_samples {
            anyhow::ensure!(is_forest, "--max-samples applies to iforest and eif only");
            let value = if text == "auto" {
                "\"auto\"".to_string()
            } else if let Ok(count) = text.parse::<usize>() {
                format!("{{\"count\":{count}}}")
            } else if let Ok(fraction) = text.parse::<f64>() {
                format!("{{\"fraction\":{fraction}}}")
            } else {
                bail!("--max-samples must be auto, a count or a fraction, got {text:?}")
            };
            settings.push(("max_samples".to_string(), value));
        }
        if let Some(level) = self.extension_level {
            anyhow::ensure!(is_extended, "--extension-level needs --detector eif");
            let value = format!("{{\"hyperplane\":{{\"extension_level\":{level}}}}}");
            settings.push(("split".to_string(), value));
        }
        // The seed goes to every detector that draws random numbers.
        if serde_json::to_string(&base)?.contains("\"seed\"") {
            settings.push(("seed".to_string(), self.seed.to_string()));
        }
        settings.extend(parse_settings(&self.params)?);
        Ok(base.with_settings(&settings)?)
    }
}

/// Fit options from the shared flag groups.
pub fn fit_options(
    columns: &ColumnArgs,
    prep: &PrepArgs,
    detector: &DetectorArgs,
    threshold: &ThresholdArgs,
    window: &WindowArgs,
    chunk_rows: usize,
) -> anyhow::Result<FitOptions> {
    let prep = PrepConfig {
        drop_duplicates: prep.drop_duplicates,
        impute: match prep.impute {
            ImputeArg::Median => Imputation::Median,
            ImputeArg::Mean => Imputation::Mean,
            ImputeArg::Zero => Imputation::Zero,
        },
        scale: match prep.scale {
            ScaleArg::None => Scaling::None,
            ScaleArg::Standard => Scaling::Standard,
            ScaleArg::Minmax => Scaling::MinMax,
            ScaleArg::Robust => Scaling::Robust,
        },
        encode: match prep.encode {
            EncodeArg::Onehot => CategoryEncoding::OneHot {
                max_categories: prep.max_categories,
            },
            EncodeArg::Frequency => CategoryEncoding::Frequency,
            EncodeArg::Ordinal => CategoryEncoding::Ordinal,
        },
        time_features: prep.time_features,
    };
    Ok(FitOptions {
        selection: selection(columns),
        prep,
        detector: detector.params()?,
        threshold: threshold.rule().unwrap_or_default(),
        max_fit_rows: detector.max_fit_rows,
        chunk_rows: chunk_rows.max(1),
        seed: detector.seed,
        window: window.options(),
    })
}

/// `-` is stdin, anything else a path.
/// The column selection the flags describe.
pub fn selection(columns: &ColumnArgs) -> ColumnSelection {
    ColumnSelection {
        features: columns.features.clone(),
        exclude: columns.exclude.clone(),
        label: columns.label.clone(),
        id: columns.id.clone(),
        positive_label: columns.positive.clone(),
        negative_label: columns.negative.clone(),
    }
}

/// Splits `NAME=VALUE` settings.
pub fn parse_settings(specs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    specs
        .iter()
        .map(|spec| {
            spec.split_once('=')
                .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
                .with_context(|| format!("--param expects NAME=VALUE, got {spec:?}"))
        })
        .collect()
}

pub fn input(text: &str) -> Input {
    Input::from_arg(text)
}

/// A size in bytes: a number, optionally fractional, with an optional unit
/// B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), in any
/// case.
pub fn parse_byte_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use B, KB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 512MiB or 2GB"))?;
    let bytes = value * multiplier;
    if !(bytes >= 1.0 && bytes < usize::MAX as f64) {
        return Err(format!("{text:?} must be at least one byte"));
    }
    Ok(bytes.round() as usize)
}

#[cfg(test)]
mod tests {
    use super::parse_byte_size;

    #[test]
    fn byte_sizes_parse_with_decimal_and_binary_units() {
        assert_eq!(parse_byte_size("4096"), Ok(4096));
        assert_eq!(parse_byte_size("2KB"), Ok(2000));
        assert_eq!(parse_byte_size("1.5 MiB"), Ok(1_572_864));
        assert_eq!(parse_byte_size("1gib"), Ok(1 << 30));
        assert!(
            parse_byte_size("12 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_byte_size("MB").unwrap_err().contains("not a size"));
        assert!(
            parse_byte_size("0")
                .unwrap_err()
                .contains("at least one byte")
        );
    }
}
