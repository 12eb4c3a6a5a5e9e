//! End-to-end tests of the `oddity` binary: every subcommand, every output
//! format, the documented exit codes, and awkward inputs that must give a
//! result or an error naming what was wrong (never a panic).

#![allow(
    clippy::unwrap_used,
    reason = "in tests a failed unwrap is a failed assertion"
)]

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

const EXIT_BAD_DATA: i32 = 3;
const EXIT_BAD_MODEL: i32 = 4;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo() -> PathBuf {
    repo_root().join("examples/transactions.csv")
}

fn fixture(name: &str) -> PathBuf {
    repo_root()
        .join("crates/oddity/tests/data/ingest")
        .join(name)
}

fn oddity() -> Command {
    let mut command = Command::cargo_bin("oddity").expect("the oddity binary is built");
    command.arg("--quiet");
    command
}

fn stdout_of(command: &mut Command) -> String {
    let output = command.output().expect("runs");
    assert!(
        output.status.success(),
        "failed: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn write_file(dir: &TempDir, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("writes");
    path
}

#[test]
fn detect_on_demo_data_ranks_planted_frauds_first_with_explanations() {
    let text = stdout_of(oddity().args(["detect"]).arg(demo()).args([
        "--id",
        "id",
        "--label",
        "is_fraud",
        "--explain",
        "--format",
        "table",
        "--top",
        "5",
    ]));
    assert!(
        text.contains("5000 points scored by isolation_forest"),
        "{text}"
    );
    assert!(text.contains("ROC-AUC"), "{text}");
    assert!(text.contains("typical:"), "{text}");
    // The five highest-ranked rows are all labelled frauds (is_fraud = 1).
    let ranked: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with(char::is_numeric))
        .collect();
    assert_eq!(ranked.len(), 5, "{text}");
    for line in ranked {
        let columns: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(columns[3], "1", "{line}");
    }
}

#[test]
fn detect_csv_output_has_one_row_per_point() {
    let text = stdout_of(
        oddity()
            .arg("detect")
            .arg(demo())
            .args(["--id", "id", "--format", "csv"]),
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("row,id,score,probability,is_anomaly"));
    assert_eq!(lines.count(), 5000);
}

#[test]
fn detect_ndjson_and_json_agree() {
    let base = ["--id", "id", "--explain", "--anomalies-only"];
    let ndjson = stdout_of(
        oddity()
            .arg("detect")
            .arg(demo())
            .args(base)
            .args(["--format", "ndjson"]),
    );
    let json = stdout_of(
        oddity()
            .arg("detect")
            .arg(demo())
            .args(base)
            .args(["--format", "json"]),
    );
    let from_lines: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|line| serde_json::from_str(line).expect("valid json line"))
        .collect();
    let from_array: Vec<serde_json::Value> = serde_json::from_str(&json).expect("valid json");
    assert_eq!(from_lines, from_array);
    assert!(!from_lines.is_empty());
    for point in &from_lines {
        assert_eq!(point["is_anomaly"], true);
        assert!(
            point["explanation"]["reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty())
        );
    }
}

#[test]
fn results_do_not_depend_on_thread_count_or_stdin() {
    let args = ["--id", "id", "--format", "csv"];
    let one = stdout_of(
        oddity()
            .args(["--threads", "1", "detect"])
            .arg(demo())
            .args(args),
    );
    let two = stdout_of(
        oddity()
            .args(["--threads", "2", "detect"])
            .arg(demo())
            .args(args),
    );
    assert_eq!(one, two);
    let piped = stdout_of(
        oddity()
            .args(["detect", "-"])
            .args(args)
            .pipe_stdin(demo())
            .expect("demo data is readable"),
    );
    assert_eq!(one, piped);
}

#[test]
fn detect_gives_the_same_rows_whether_it_keeps_or_rereads_its_input() {
    // The input is kept in memory and fitted whole, kept and sampled, or
    // read a second time to score (a budget of 0 MiB): the same model and
    // the same output each time.
    for max_fit_rows in ["5000", "1000"] {
        let run = |budget: &str| {
            stdout_of(oddity().arg("detect").arg(demo()).args([
                "--id",
                "id",
                "--format",
                "csv",
                "--max-fit-rows",
                max_fit_rows,
                "--memory-budget",
                budget,
            ]))
        };
        assert_eq!(run("512"), run("0"), "--max-fit-rows {max_fit_rows}");
    }
}

#[test]
fn fit_score_eval_and_inspect_round_trip() {
    let dir = TempDir::new().unwrap();
    let model = dir.path().join("fraud.oddity");
    let scored = dir.path().join("scored.csv");
    oddity()
        .arg("fit")
        .arg(demo())
        .args([
            "--exclude",
            "timestamp",
            "--id",
            "id",
            "--label",
            "is_fraud",
            "-o",
        ])
        .arg(&model)
        .assert()
        .success();
    oddity()
        .arg("score")
        .arg(&model)
        .arg(demo())
        .args(["--format", "csv", "-o"])
        .arg(&scored)
        .assert()
        .success();
    let header = std::fs::read_to_string(&scored).unwrap();
    assert!(
        header.starts_with("row,id,is_fraud,score,probability,is_anomaly\n"),
        "{header}"
    );

    let report = stdout_of(
        oddity()
            .arg("eval")
            .arg(&scored)
            .args(["--label", "is_fraud", "--format", "json"]),
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["n_points"], 5000);
    assert_eq!(report["n_anomalies"], 50);
    assert!(report["roc_auc"].as_f64().unwrap() > 0.95, "{report}");
    assert!(report["confusion"]["true_positives"].as_u64().unwrap() > 0);

    let inspected = stdout_of(oddity().arg("inspect").arg(&model));
    let inspected: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(inspected["verified"], true);
    assert_eq!(inspected["detector"], "isolation_forest");
    assert_eq!(inspected["label_column"], "is_fraud");
    assert_eq!(inspected["training"]["n_rows_read"], 5000);
}

#[test]
fn supervised_detectors_need_a_label_and_report_on_held_out_rows() {
    let dir = TempDir::new().unwrap();
    let model = dir.path().join("forest.oddity");
    oddity()
        .arg("fit")
        .arg(demo())
        .args([
            "--exclude",
            "timestamp",
            "--id",
            "id",
            "--detector",
            "forest",
            "-o",
        ])
        .arg(&model)
        .assert()
        .failure()
        .stderr(predicate::str::contains("needs labels").and(predicate::str::contains("--label")));

    oddity()
        .arg("fit")
        .arg(demo())
        .args([
            "--exclude",
            "timestamp",
            "--id",
            "id",
            "--label",
            "is_fraud",
        ])
        .args(["--detector", "forest", "-o"])
        .arg(&model)
        .assert()
        .success();
    let inspected = stdout_of(oddity().arg("inspect").arg(&model));
    let inspected: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(inspected["detector"], "forest");
    assert_eq!(inspected["threshold"], 0.5);
    let features = inspected["features"].to_string();
    assert!(!features.contains("is_fraud"), "{features}");
    let scored = stdout_of(
        oddity()
            .arg("score")
            .arg(&model)
            .arg(demo())
            .args(["--format", "csv"]),
    );
    // The score is the probability of fraud.
    for line in scored.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[3], fields[4], "{line}");
    }

    // detect fits on 70 % and reports on the other 30 % only.
    let held_out = stdout_of(
        oddity()
            .arg("detect")
            .arg(demo())
            .args([
                "--exclude",
                "timestamp",
                "--id",
                "id",
                "--label",
                "is_fraud",
            ])
            .args(["--detector", "tree", "--format", "csv"]),
    );
    let n_rows = held_out.lines().count() - 1;
    assert!((1300..1700).contains(&n_rows), "{n_rows} rows reported");
}

#[test]
fn scoring_a_saved_model_matches_detect() {
    let dir = TempDir::new().unwrap();
    let model = dir.path().join("m.oddity");
    let detected = stdout_of(
        oddity()
            .arg("detect")
            .arg(demo())
            .args(["--id", "id", "--format", "csv", "--save-model"])
            .arg(&model),
    );
    let scored = stdout_of(
        oddity()
            .arg("score")
            .arg(&model)
            .arg(demo())
            .args(["--format", "csv"]),
    );
    assert_eq!(detected, scored);
}

#[test]
fn threshold_flags_change_decisions_without_refitting() {
    let dir = TempDir::new().unwrap();
    let model = dir.path().join("m.oddity");
    oddity()
        .arg("fit")
        .arg(demo())
        .args(["--label", "is_fraud", "-o"])
        .arg(&model)
        .assert()
        .success();
    let count = |extra: &[&str]| {
        let text = stdout_of(
            oddity()
                .arg("score")
                .arg(&model)
                .arg(demo())
                .args(["--format", "csv", "--anomalies-only"])
                .args(extra),
        );
        text.lines().count() - 1
    };
    assert_eq!(count(&["--contamination", "0.1"]), 500);
    assert_eq!(count(&["--contamination", "0.02"]), 100);
    assert!(count(&["--sensitivity", "0.9"]) > count(&["--sensitivity", "0.1"]));
}

#[test]
fn other_formats_are_read() {
    for name in [
        "sample.jsonl",
        "sample.csv.gz",
        "mixed_types.csv",
        "one_row.csv",
        "one_column.csv",
        "nan_inf.csv",
        "non_utf8.csv",
    ] {
        oddity()
            .arg("detect")
            .arg(fixture(name))
            .args(["--format", "csv"])
            .assert()
            .success();
    }
}

#[test]
fn parquet_input_gives_the_same_scores_as_csv() {
    let dir = TempDir::new().unwrap();
    let csv = write_file(&dir, "a.csv", b"x,y\n1,2\n2,3\n3,4\n4,5\n100,1\n");
    let parquet = dir.path().join("a.parquet");
    write_parquet(&parquet);
    let from_csv = stdout_of(oddity().arg("detect").arg(&csv).args(["--format", "csv"]));
    let from_parquet = stdout_of(
        oddity()
            .arg("detect")
            .arg(&parquet)
            .args(["--format", "csv"]),
    );
    assert_eq!(from_csv, from_parquet);
}

/// Writes the same table as `parquet_input_gives_the_same_scores_as_csv`'s
/// CSV, with two INT64 columns.
fn write_parquet(path: &Path) {
    use parquet::data_type::Int64Type;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    let schema =
        Arc::new(parse_message_type("message t { required int64 x; required int64 y; }").unwrap());
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema, Default::default()).unwrap();
    let mut group = writer.next_row_group().unwrap();
    for values in [[1i64, 2, 3, 4, 100], [2, 3, 4, 5, 1]] {
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<Int64Type>()
            .write_batch(&values, None, None)
            .unwrap();
        column.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn empty_and_header_only_files_are_data_errors_naming_the_file() {
    for name in ["empty.csv", "header_only.csv"] {
        oddity()
            .arg("detect")
            .arg(fixture(name))
            .assert()
            .code(EXIT_BAD_DATA)
            .stderr(predicate::str::contains(name))
            .stderr(predicate::str::contains("panicked").not());
    }
}

#[test]
fn ragged_rows_name_the_row() {
    oddity()
        .arg("detect")
        .arg(fixture("ragged.csv"))
        .assert()
        .code(EXIT_BAD_DATA)
        .stderr(predicate::str::contains("ragged.csv"))
        .stderr(predicate::str::contains("row"));
}

#[test]
fn a_value_of_the_wrong_type_names_row_and_column() {
    let dir = TempDir::new().unwrap();
    let mut text = String::from("amount,kind\n");
    for i in 0..20 {
        text.push_str(&format!("{i}.5,a\n"));
    }
    text.push_str("12;50,b\n");
    let path = write_file(&dir, "t.csv", text.as_bytes());
    let dir2 = TempDir::new().unwrap();
    let model = dir2.path().join("m.oddity");
    let train = write_file(&dir2, "train.csv", b"amount,kind\n1,a\n2,b\n3,a\n");
    oddity()
        .arg("fit")
        .arg(&train)
        .arg("-o")
        .arg(&model)
        .assert()
        .success();
    oddity()
        .arg("score")
        .arg(&model)
        .arg(&path)
        .assert()
        .code(EXIT_BAD_DATA)
        .stderr(predicate::str::contains("row 21"))
        .stderr(predicate::str::contains("column \"amount\""));
}

#[test]
fn constant_columns_and_many_columns_are_handled() {
    let dir = TempDir::new().unwrap();
    let constant = write_file(&dir, "c.csv", b"a,b\n1,1\n1,1\n1,1\n1,1\n");
    oddity()
        .arg("detect")
        .arg(&constant)
        .args(["--format", "csv"])
        .assert()
        .success();

    let n_columns = 10_000;
    let mut text: String = (0..n_columns)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for row in 0..5 {
        let line: Vec<String> = (0..n_columns)
            .map(|i| ((i + row) % 7).to_string())
            .collect();
        text.push_str(&line.join(","));
        text.push('\n');
    }
    let wide = write_file(&dir, "wide.csv", text.as_bytes());
    oddity()
        .arg("detect")
        .arg(&wide)
        .args(["--format", "csv"])
        .assert()
        .success();
}

#[test]
fn damaged_model_files_exit_with_the_model_code() {
    let dir = TempDir::new().unwrap();
    let model = dir.path().join("m.oddity");
    oddity()
        .arg("fit")
        .arg(demo())
        .arg("-o")
        .arg(&model)
        .assert()
        .success();
    let bytes = std::fs::read(&model).unwrap();

    let truncated = write_file(&dir, "truncated.oddity", &bytes[..bytes.len() / 2]);
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let corrupted = write_file(&dir, "corrupted.oddity", &flipped);
    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&99u32.to_le_bytes());
    let newer = write_file(&dir, "newer.oddity", &newer);
    let not_a_model = demo();

    for (path, expected) in [
        (truncated, "truncated"),
        (corrupted, "corrupted"),
        (newer, "newer"),
        (not_a_model, "not an oddity model file"),
    ] {
        oddity()
            .arg("inspect")
            .arg(&path)
            .assert()
            .code(EXIT_BAD_MODEL)
            .stderr(predicate::str::contains(expected));
    }
}

#[test]
fn unknown_column_is_named_with_the_choices() {
    oddity()
        .arg("detect")
        .arg(demo())
        .args(["--label", "fraud"])
        .assert()
        .code(EXIT_BAD_DATA)
        .stderr(predicate::str::contains("column \"fraud\" not found"))
        .stderr(predicate::str::contains("is_fraud"));
}

#[test]
fn bad_parameters_are_usage_errors_naming_the_limit() {
    oddity()
        .arg("detect")
        .arg(demo())
        .args(["--contamination", "0.9"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "contamination must be in (0, 0.5], got 0.9",
        ));
    oddity()
        .arg("detect")
        .arg(demo())
        .args(["--trees", "0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "n_trees must be at least 1, got 0",
        ));
    oddity().args(["detect", "--no-such-flag"]).assert().code(2);
}

#[test]
fn closing_the_output_pipe_early_is_not_an_error() {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("oddity"))
        .args(["--quiet", "detect"])
        .arg(demo())
        .args(["--format", "csv"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn help_shows_examples_and_exit_codes() {
    oddity()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains("Exit codes:"));
}

#[test]
fn eval_reads_textual_labels_with_positive() {
    let dir = TempDir::new().unwrap();
    let mut file = std::fs::File::create(dir.path().join("s.csv")).unwrap();
    writeln!(file, "score,kind,is_anomaly").unwrap();
    for (score, kind, flagged) in [
        (0.9, "smurf.", 1),
        (0.8, "normal.", 1),
        (0.3, "normal.", 0),
        (0.7, "smurf.", 0),
    ] {
        writeln!(file, "{score},{kind},{flagged}").unwrap();
    }
    drop(file);
    let text = stdout_of(oddity().arg("eval").arg(dir.path().join("s.csv")).args([
        "--label",
        "kind",
        "--positive",
        "smurf.",
        "--format",
        "json",
    ]));
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["roc_auc"], 0.75);
    assert_eq!(report["confusion"]["true_positives"], 1);
}

#[test]
fn detector_parameters_are_set_by_name() {
    let text = stdout_of(oddity().arg("detect").arg(demo()).args([
        "--detector",
        "eif",
        "--param",
        "n_trees=20",
        "--format",
        "table",
    ]));
    assert!(
        text.contains("scored by extended_isolation_forest"),
        "{text}"
    );
    oddity()
        .arg("detect")
        .arg(demo())
        .args(["--param", "n_tree=20"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("must be one of"))
        .stderr(predicate::str::contains("n_trees"));
    oddity()
        .arg("detect")
        .arg(demo())
        .args(["--detector", "nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("the detectors are: iforest, eif"));
}

#[test]
fn bench_tabular_runs_the_adbench_protocol_on_a_folder() {
    let dir = TempDir::new().unwrap();
    for name in ["one", "two"] {
        let mut text = String::from("x0,x1,label\n");
        for row in 0..300 {
            let anomaly = row % 30 == 0;
            let value = if anomaly { 40.0 } else { f64::from(row % 13) };
            text.push_str(&format!("{value},{},{}\n", row % 7, u8::from(anomaly)));
        }
        write_file(&dir, &format!("{name}.csv"), text.as_bytes());
    }
    let results = dir.path().join("results.csv");
    let text = stdout_of(
        oddity()
            .args(["bench", "tabular"])
            .arg(dir.path())
            .args(["--detectors", "iforest,eif", "--seeds", "1,2", "-o"])
            .arg(&results),
    );
    assert!(text.contains("mean isolation_forest: ROC-AUC"), "{text}");
    assert!(text.contains("mean extended_isolation_forest"), "{text}");
    let written = std::fs::read_to_string(&results).unwrap();
    assert_eq!(written.lines().count(), 1 + 2 * 2, "{written}");
}

/// A two-feature metric stream with a timestamp, one spike at row 1500.
fn metric_stream(n_rows: usize) -> String {
    let mut text = String::from("timestamp,cpu,latency\n");
    for row in 0..n_rows {
        // A deterministic wiggle: no two neighbouring rows are equal.
        let cpu = 50.0 + 10.0 * ((row as f64) * 0.37).sin() + ((row * 7919) % 13) as f64 * 0.3;
        let latency = if row == 1499 {
            900.0
        } else {
            100.0 + ((row * 104_729) % 17) as f64
        };
        text.push_str(&format!(
            "2024-01-01T{:02}:{:02}:{:02},{cpu:.3},{latency}\n",
            (row / 3600) % 24,
            (row / 60) % 60,
            row % 60
        ));
    }
    text
}

#[test]
fn stream_scores_every_record_flags_the_spike_and_resumes_exactly() {
    let dir = TempDir::new().unwrap();
    let data = write_file(&dir, "metrics.csv", metric_stream(2000).as_bytes());
    let lines = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let whole = lines(&stdout_of(oddity().args(["stream"]).arg(&data).args([
        "--explain",
        "--param",
        "n_trees=30",
    ])));
    assert_eq!(whole.len(), 2000);
    let spike = &whole[1499];
    assert_eq!(spike["row"], 1500);
    assert_eq!(spike["is_anomaly"], true, "{spike}");
    assert_eq!(spike["contributions"][0]["column"], "latency", "{spike}");
    // The timestamp orders the stream; it is not a feature.
    assert!(whole.iter().all(|record| record.get("timestamp").is_none()));

    // The first 1200 records, a checkpoint, then the rest from the state.
    let text = metric_stream(2000);
    let mut all: Vec<&str> = text.lines().collect();
    let header = all.remove(0);
    let head = format!("{header}\n{}\n", all[..1200].join("\n"));
    let tail = format!("{header}\n{}\n", all[1200..].join("\n"));
    let head_path = write_file(&dir, "head.csv", head.as_bytes());
    let tail_path = write_file(&dir, "tail.csv", tail.as_bytes());
    let state = dir.path().join("state.oddity");
    let mut resumed = lines(&stdout_of(
        oddity()
            .args(["stream"])
            .arg(&head_path)
            .args(["--explain", "--param", "n_trees=30", "--checkpoint"])
            .arg(&state),
    ));
    resumed.extend(lines(&stdout_of(
        oddity()
            .args(["stream"])
            .arg(&tail_path)
            .args(["--explain", "--model"])
            .arg(&state),
    )));
    let scores = |records: &[serde_json::Value]| -> Vec<String> {
        records
            .iter()
            .map(|record| {
                format!(
                    "{} {} {}",
                    record["score"], record["is_anomaly"], record["alert"]
                )
            })
            .collect()
    };
    assert_eq!(scores(&resumed), scores(&whole));
}

#[test]
fn stream_names_a_category_feature_and_refuses_a_batch_model() {
    let dir = TempDir::new().unwrap();
    let data = write_file(&dir, "hosts.csv", b"host,cpu\na,1\nb,2\n");
    oddity()
        .args(["stream"])
        .arg(&data)
        .assert()
        .failure()
        .stderr(predicate::str::contains("\"host\""));
    let model = dir.path().join("batch.oddity");
    oddity()
        .args(["fit"])
        .arg(demo())
        .args(["--id", "id", "--label", "is_fraud", "-o"])
        .arg(&model)
        .assert()
        .success();
    oddity()
        .args(["stream"])
        .arg(demo())
        .args(["--model"])
        .arg(&model)
        .assert()
        .code(EXIT_BAD_MODEL)
        .stderr(predicate::str::contains("not a stream model"));
}

/// A two-series NAB checkout in miniature: a daily cycle every 15 minutes,
/// one series with a planted level shift inside its window.
fn tiny_nab(dir: &TempDir) -> PathBuf {
    let root = dir.path().join("nab");
    std::fs::create_dir_all(root.join("data/synthetic")).unwrap();
    std::fs::create_dir_all(root.join("labels")).unwrap();
    // Every 15 minutes from 2014-01-01 00:00; 2000 points stay in January.
    let stamp = |i: i64| {
        let (day, hour, minute) = (1 + i / 96, (i % 96) / 4, (i % 4) * 15);
        format!("2014-01-{day:02} {hour:02}:{minute:02}:00")
    };
    for (name, shift) in [("calm.csv", false), ("shifted.csv", true)] {
        let mut text = String::from("timestamp,value\n");
        for i in 0..2000i64 {
            let base = 10.0 + ((i % 96) as f64 / 15.0).sin() + (i * 7919 % 13) as f64 * 0.05;
            let value = if shift && (1500..1600).contains(&i) {
                base + 20.0
            } else {
                base
            };
            text.push_str(&format!("{},{value}\n", stamp(i)));
        }
        std::fs::write(root.join("data/synthetic").join(name), text).unwrap();
    }
    let windows = format!(
        "{{\"synthetic/calm.csv\": [], \"synthetic/shifted.csv\": [[\"{}.000000\", \"{}.000000\"]]}}",
        stamp(1450),
        stamp(1550)
    );
    std::fs::write(root.join("labels/combined_windows.json"), windows).unwrap();
    root
}

#[test]
fn bench_nab_scores_a_corpus_and_writes_per_profile_rows() {
    let dir = TempDir::new().unwrap();
    let root = tiny_nab(&dir);
    let csv = dir.path().join("nab.csv");
    let text = stdout_of(
        oddity()
            .args(["bench", "nab"])
            .arg(&root)
            .args(["--seeds", "1,2", "-o"])
            .arg(&csv),
    );
    assert!(text.contains("2 series, 4000 points, 1 windows"), "{text}");
    assert!(text.contains("no published scoreboard"), "{text}");
    let rows = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(rows.len(), 1 + 2 * 3, "{rows:?}");
    // The planted shift is found at the start of its window on every
    // profile: a perfect normalised score.
    for row in &rows[1..] {
        let normalised: f64 = row.split(',').nth(3).unwrap().parse().unwrap();
        assert!(normalised > 90.0, "{row}");
    }

    oddity()
        .args(["bench", "nab"])
        .arg(&root)
        .args(["--config", "{\"spatial_tolerance\": -1}"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("spatial_tolerance"));
    oddity()
        .args(["bench", "nab"])
        .arg(dir.path().join("missing"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("missing"));
}

#[test]
fn stream_likelihood_scores_on_a_fixed_scale_and_flags_the_incident() {
    let dir = TempDir::new().unwrap();
    // The latency spike lasts eight records: an incident, not a blip.
    let text = metric_stream(2000)
        .lines()
        .enumerate()
        .map(|(line, row)| {
            if (1500..1508).contains(&line) {
                let cut = row.rfind(',').unwrap();
                format!("{},900", &row[..cut])
            } else {
                row.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let data = write_file(&dir, "metrics.csv", text.as_bytes());
    let state = dir.path().join("state.oddity");
    let output = stdout_of(
        oddity()
            .args(["stream"])
            .arg(&data)
            .args(["--likelihood", "--format", "csv", "--checkpoint"])
            .arg(&state),
    );
    let mut rows = output.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (score_at, flag_at) = (column("score"), column("is_anomaly"));
    let mut flagged = Vec::new();
    for (index, row) in rows.enumerate() {
        let cells: Vec<&str> = row.split(',').collect();
        let score: f64 = cells[score_at].parse().unwrap();
        assert!((0.0..=1.0).contains(&score), "{row}");
        if cells[flag_at] == "true" {
            flagged.push(index);
        }
    }
    assert!(!flagged.is_empty());
    assert!(
        flagged.iter().all(|i| (1499..1540).contains(i)),
        "{flagged:?}"
    );
    let inspected = stdout_of(oddity().args(["inspect"]).arg(&state));
    assert!(inspected.contains("likelihood_params"), "{inspected}");
}

#[test]
fn stream_keeps_one_model_per_entity() {
    let dir = TempDir::new().unwrap();
    // Two hosts around the same level: a steady one and a noisy one; the
    // steady one jumps by 3 once, well within the noisy one's swings.
    let mut text = String::from("host,load\n");
    for row in 0..4000 {
        let wiggle = ((row * 7919) % 101) as f64 / 100.0 - 0.5;
        if row % 2 == 0 {
            let load = if row == 3000 {
                53.0
            } else {
                50.0 + 0.2 * wiggle
            };
            text.push_str(&format!("steady,{load}\n"));
        } else {
            text.push_str(&format!("noisy,{}\n", 50.0 + 40.0 * wiggle));
        }
    }
    let data = write_file(&dir, "hosts.csv", text.as_bytes());
    let output = stdout_of(
        oddity()
            .args(["stream"])
            .arg(&data)
            .args(["--entity", "host"]),
    );
    let records: Vec<serde_json::Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 4000);
    assert_eq!(records[3000]["host"], "steady");
    assert_eq!(records[3000]["is_anomaly"], true, "{}", records[3000]);

    oddity()
        .args(["stream"])
        .arg(&data)
        .args(["--entity", "machine"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("machine"));
}

#[test]
fn stream_cusum_flags_a_planted_level_shift() {
    let dir = TempDir::new().unwrap();
    let mut text = String::from("value\n");
    for row in 0..1500 {
        // A deterministic wiggle of about one unit; the level rises by 8
        // at row 1200, after the threshold's warmup and first refits.
        let wiggle = ((row * 7919) % 13) as f64 * 0.15 + ((row as f64) * 0.37).sin() * 0.5;
        let level = if row >= 1200 { 18.0 } else { 10.0 };
        text.push_str(&format!("{:.3}\n", level + wiggle));
    }
    let data = write_file(&dir, "data.csv", text.as_bytes());

    let output = stdout_of(
        oddity()
            .args(["stream"])
            .arg(&data)
            .args(["--detector", "cusum"]),
    );

    let records: Vec<serde_json::Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 1500);
    let flagged = |range: std::ops::Range<usize>| {
        records[range]
            .iter()
            .filter(|record| record["is_anomaly"] == true)
            .count()
    };
    assert!(flagged(1200..1203) >= 1, "{:?}", &records[1198..1204]);
    let score = records[1200]["score"].as_f64().unwrap();
    assert!(score > 5.0, "{}", records[1200]);
    assert!(flagged(700..1200) <= 10, "{}", flagged(700..1200));
}

#[test]
fn stream_seasonal_flags_a_daytime_load_at_night_and_reports_gaps() {
    let dir = TempDir::new().unwrap();
    let mut text = String::from("at,load\n");
    let start = 1_795_996_800i64; // 2026-11-30 00:00 UTC
    let mut written = 0;
    let mut night_row = None;
    for hour_index in 0..60 * 24 {
        // Six hours on day 20 are missing: a gap before the next record.
        if (20 * 24 + 2..20 * 24 + 8).contains(&hour_index) {
            continue;
        }
        let hour = hour_index % 24;
        let wiggle = ((hour_index * 7919) % 13) as f64 * 0.3;
        let busy = (9..17).contains(&hour) || hour_index == 50 * 24 + 3;
        if hour_index == 50 * 24 + 3 {
            night_row = Some(written);
        }
        let load = if busy { 100.0 } else { 10.0 } + wiggle;
        let seconds = start + hour_index * 3600;
        let (day, hour_of_day) = (seconds / 86_400, (seconds % 86_400) / 3600);
        // 2026-11-30 is day 20_787 since the epoch; the series ends in
        // January 2027.
        let (year, month, day_of_month) = match day - 20_787 {
            0 => (2026, 11, 30),
            offset @ 1..=31 => (2026, 12, offset),
            offset => (2027, 1, offset - 31),
        };
        text.push_str(&format!(
            "{year}-{month:02}-{day_of_month:02}T{hour_of_day:02}:00:00Z,{load:.2}\n"
        ));
        written += 1;
    }
    let data = write_file(&dir, "hourly.csv", text.as_bytes());

    let output = stdout_of(oddity().args(["stream"]).arg(&data).args([
        "--detector",
        "seasonal",
        "--time",
        "at",
        "--explain",
    ]));
    let records: Vec<serde_json::Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), written);
    let night = &records[night_row.unwrap()];
    assert_eq!(night["is_anomaly"], true, "{night}");
    assert_eq!(night["contributions"][0]["column"], "load", "{night}");
    let gaps: Vec<&serde_json::Value> = records
        .iter()
        .filter(|record| !record["gap_seconds"].is_null())
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["gap_seconds"], 7.0 * 3600.0);

    // Without --time the seasonal detector is refused by name.
    oddity()
        .args(["stream"])
        .arg(&data)
        .args(["--detector", "seasonal"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--time"));
}

/// Rows of a CSV output as maps from column name to value.
/// The cells of every row of a CSV text after its header, split on commas
/// (no quoting).
fn csv_cells(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_string).collect())
        .collect()
}

fn csv_records(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|line| {
            header
                .iter()
                .map(|name| name.to_string())
                .zip(line.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

#[test]
fn novelty_detection_fits_on_normal_data_and_scores_new_data() {
    let dir = TempDir::new().unwrap();
    let demo_text = std::fs::read_to_string(demo()).unwrap();
    let mut lines = demo_text.lines();
    let header = lines.next().unwrap();
    let normal: Vec<&str> = lines.filter(|line| line.ends_with(",0")).collect();
    let normal_file = write_file(
        &dir,
        "normal.csv",
        format!("{header}\n{}\n", normal.join("\n")).as_bytes(),
    );

    // --train: fit on the normal file, score every row of the demo data.
    let scored = stdout_of(
        oddity()
            .arg("detect")
            .arg(demo())
            .arg("--train")
            .arg(&normal_file)
            .args([
                "--exclude",
                "timestamp",
                "--id",
                "id",
                "--label",
                "is_fraud",
            ])
            .args(["--detector", "knn", "--format", "csv"]),
    );
    let records = csv_records(&scored);
    assert_eq!(records.len(), 5000);
    let frauds: Vec<_> = records.iter().filter(|r| r["is_fraud"] == "1").collect();
    let caught = frauds.iter().filter(|r| r["is_anomaly"] == "1").count();
    assert!(
        caught * 10 >= frauds.len() * 9,
        "{caught} of {}",
        frauds.len()
    );

    // --normal-only: fit on the rows labelled normal, report the held-out
    // rows only, as new data.
    let held_out = stdout_of(
        oddity()
            .arg("detect")
            .arg(demo())
            .args([
                "--exclude",
                "timestamp",
                "--id",
                "id",
                "--label",
                "is_fraud",
            ])
            .args(["--normal-only", "--detector", "knn", "--format", "csv"]),
    );
    let records = csv_records(&held_out);
    assert!((1300..1700).contains(&records.len()), "{}", records.len());
    let mut normal_scores: Vec<f64> = records
        .iter()
        .filter(|r| r["is_fraud"] == "0")
        .map(|r| r["score"].parse().unwrap())
        .collect();
    normal_scores.sort_by(f64::total_cmp);
    let high_normal = normal_scores[normal_scores.len() * 95 / 100];
    let fraud_scores: Vec<f64> = records
        .iter()
        .filter(|r| r["is_fraud"] == "1")
        .map(|r| r["score"].parse().unwrap())
        .collect();
    assert!(!fraud_scores.is_empty());
    assert!(
        fraud_scores.iter().all(|&score| score > high_normal),
        "{fraud_scores:?} vs 95th percentile {high_normal}"
    );

    // --normal-only needs the label; a supervised detector refuses it.
    oddity()
        .arg("fit")
        .arg(demo())
        .args(["--normal-only", "-o"])
        .arg(dir.path().join("m.oddity"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("--label"));
    oddity()
        .arg("detect")
        .arg(demo())
        .args(["--exclude", "timestamp", "--label", "is_fraud"])
        .args(["--normal-only", "--detector", "tree"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("supervised"));
}

/// Two weeks of hourly points: `cpu` peaks sharply every day at noon,
/// `memory` is flat; both carry small deterministic noise. Planted: a cpu
/// spike at 03:00 on day 4 that is lower than every noon peak (an anomaly
/// only in its context), a cpu drop on day 9, and a memory spike on day 6.
/// Returns the CSV and the 1-based rows of the planted anomalies.
fn seasonal_csv() -> (String, Vec<usize>) {
    let mut text = String::from("time,cpu,memory,incident\n");
    let planted = [4 * 24 + 3, 9 * 24 + 15, 6 * 24 + 20];
    for i in 0..24 * 14 {
        let hour = (i % 24) as f64;
        let noise = 0.3 * (1.3 * (i * i) as f64).sin();
        let mut cpu = 20.0 + 20.0 * (-((hour - 12.0) / 1.5).powi(2)).exp() + noise;
        let mut memory = 50.0 + noise;
        if i == planted[0] {
            cpu += 8.0;
        }
        if i == planted[1] {
            cpu -= 6.0;
        }
        if i == planted[2] {
            memory += 5.0;
        }
        let incident = u8::from(planted.contains(&i));
        text.push_str(&format!(
            "2024-01-{:02}T{:02}:00:00Z,{cpu},{memory},{incident}\n",
            1 + i / 24,
            i % 24
        ));
    }
    (text, planted.iter().map(|i| i + 1).collect())
}

#[test]
fn series_flags_contextual_spikes_but_not_the_daily_peak() {
    let dir = TempDir::new().unwrap();
    let (text, planted) = seasonal_csv();
    let path = write_file(&dir, "metrics.csv", text.as_bytes());

    let out = stdout_of(oddity().args(["series"]).arg(&path).args([
        "--value",
        "cpu,memory",
        "--time",
        "time",
        "--format",
        "csv",
    ]));

    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2 * 24 * 14);
    let flagged = |series: &str| -> Vec<usize> {
        records
            .iter()
            .filter(|r| &r[column("column")] == series && &r[column("is_anomaly")] == "true")
            .map(|r| r[column("row")].parse().unwrap())
            .collect()
    };
    assert_eq!(flagged("cpu"), [planted[0], planted[1]]);
    assert_eq!(flagged("memory"), [planted[2]]);

    // A plain z-score over the cpu values would flag every noon peak
    // (z > 3) and miss the 03:00 spike; the seasonal test does the reverse.
    let cpu: Vec<f64> = records
        .iter()
        .filter(|r| &r[column("column")] == "cpu")
        .map(|r| r[column("value")].parse().unwrap())
        .collect();
    let mean = cpu.iter().sum::<f64>() / cpu.len() as f64;
    let sd = (cpu.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / cpu.len() as f64).sqrt();
    let z = |row: usize| (cpu[row - 1] - mean) / sd;
    assert!((0..14).all(|day| z(day * 24 + 13) > 3.0));
    assert!(z(planted[0]) < 3.0);

    // expected + residual = value on every row.
    for record in &records {
        let number = |name: &str| record[column(name)].parse::<f64>().unwrap();
        let gap = number("value") - number("expected") - number("residual");
        assert!(gap.abs() < 1e-9, "{record:?}");
    }
}

#[test]
fn series_ndjson_and_table_report_per_column_with_an_evaluation() {
    let dir = TempDir::new().unwrap();
    let (text, planted) = seasonal_csv();
    let path = write_file(&dir, "metrics.csv", text.as_bytes());

    let ndjson = stdout_of(oddity().args(["series"]).arg(&path).args([
        "--value",
        "cpu",
        "--value",
        "memory",
        "--time",
        "time",
        "--label",
        "incident",
        "--format",
        "ndjson",
        "--anomalies-only",
    ]));
    let records: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r["incident"] == true && r["is_anomaly"] == true)
    );
    assert_eq!(records[0]["row"], planted[0]);
    assert_eq!(records[0]["time"], "2024-01-05T03:00:00.000Z");
    assert!(records[0]["score"].as_f64().unwrap() > 5.0);

    let table = stdout_of(oddity().args(["series"]).arg(&path).args([
        "--value",
        "cpu,memory",
        "--time",
        "time",
        "--label",
        "incident",
        "--format",
        "table",
    ]));
    assert!(
        table.contains("column \"cpu\": 336 points, period 24 at 1h spacing, 2 anomalies"),
        "{table}"
    );
    assert!(table.contains("column \"memory\""), "{table}");
    assert_eq!(
        table.matches("evaluation against the label").count(),
        2,
        "{table}"
    );
    // One label column marks all three incidents: each column's flags are
    // all right, and each finds its own share of the incidents.
    assert_eq!(
        table.matches("precision          1.0000").count(),
        2,
        "{table}"
    );
    assert!(table.contains("recall             0.6667"), "{table}");
    assert!(table.contains("recall             0.3333"), "{table}");
}

#[test]
fn series_rows_out_of_time_order_give_the_same_verdicts() {
    let dir = TempDir::new().unwrap();
    let (text, _) = seasonal_csv();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    let path = write_file(&dir, "metrics.csv", text.as_bytes());
    let reversed = write_file(&dir, "reversed.csv", (lines.join("\n") + "\n").as_bytes());
    let flagged_times = |path: &Path| {
        let out = stdout_of(oddity().args(["series"]).arg(path).args([
            "--value",
            "cpu",
            "--time",
            "time",
            "--format",
            "ndjson",
            "--anomalies-only",
        ]));
        let mut times: Vec<String> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["time"].to_string())
            .collect();
        times.sort();
        times
    };

    let forward = flagged_times(&path);

    assert_eq!(forward.len(), 2);
    assert_eq!(flagged_times(&reversed), forward);
}

#[test]
fn series_without_times_needs_a_period_and_counts_it_in_rows() {
    let dir = TempDir::new().unwrap();
    let (text, planted) = seasonal_csv();
    let path = write_file(&dir, "metrics.csv", text.as_bytes());

    oddity()
        .args(["series"])
        .arg(&path)
        .args(["--value", "cpu"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("needs its period"));
    let out = stdout_of(oddity().args(["series"]).arg(&path).args([
        "--value",
        "cpu",
        "--period",
        "24",
        "--format",
        "csv",
        "--anomalies-only",
    ]));
    let rows: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(rows, [planted[0].to_string(), planted[1].to_string()]);
}

#[test]
fn series_bad_input_errors_name_the_file_row_and_column() {
    let dir = TempDir::new().unwrap();
    let (text, _) = seasonal_csv();
    let path = write_file(&dir, "metrics.csv", text.as_bytes());
    let run = |args: &[&str]| oddity().args(["series"]).arg(&path).args(args).assert();

    run(&["--value", "disk", "--time", "time"])
        .code(1)
        .stderr(predicate::str::contains(
            "column \"disk\" (--value) not found",
        ))
        .stderr(predicate::str::contains(
            "the columns are: time, cpu, memory, incident",
        ));

    let mut broken = text.clone();
    broken = broken.replacen(",50", ",fifty", 1);
    let bad = write_file(&dir, "bad.csv", broken.as_bytes());
    oddity()
        .args(["series"])
        .arg(&bad)
        .args(["--value", "memory", "--time", "time"])
        .assert()
        .code(EXIT_BAD_DATA)
        .stderr(predicate::str::contains("bad.csv: row 1"))
        .stderr(predicate::str::contains("column \"memory\""));

    let short: String = text.lines().take(40).map(|l| format!("{l}\n")).collect();
    let short = write_file(&dir, "short.csv", short.as_bytes());
    oddity()
        .args(["series"])
        .arg(&short)
        .args(["--value", "cpu", "--time", "time"])
        .assert()
        .code(EXIT_BAD_DATA)
        .stderr(predicate::str::contains("column \"cpu\""))
        .stderr(predicate::str::contains("at least two periods of 24"));

    run(&["--value", "cpu", "--time", "time", "--max-anomalies", "0.9"])
        .code(1)
        .stderr(predicate::str::contains(
            "max_anomalies must be above 0 and at most 0.5, got 0.9",
        ));
}

/// Two hosts' noisy sines (period 40, 600 steps each) in a shuffled row
/// order, with host a flat at 0 for steps 300 to 339: each flat value is
/// normal alone, the run is not.
fn flattened_hosts() -> String {
    let mut rows = Vec::new();
    for (host_index, host) in ["a", "b"].iter().enumerate() {
        for step in 0..600u64 {
            let flat = host_index == 0 && (300..340).contains(&step);
            let clean = if flat {
                0.0
            } else {
                (step as f64 * std::f64::consts::TAU / 40.0).sin()
            };
            // A deterministic wobble in place of noise.
            let wobble = 0.05 * ((step * 7919 + host_index as u64 * 104_729) % 13) as f64 / 13.0;
            rows.push(format!("{step},{host},{:.4}", clean + wobble));
        }
    }
    // A fixed permutation of the rows: the file is not in time order.
    let n = rows.len();
    let mut text = String::from("t,host,value\n");
    for index in 0..n {
        text.push_str(&rows[(index * 457) % n]);
        text.push('\n');
    }
    text
}

/// Steps and hosts of the anomalous rows in a CSV output with --keep-columns.
fn flagged_steps(csv: &str) -> Vec<(u64, String, u64, u64)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (t, host, flag) = (column("t"), column("host"), column("is_anomaly"));
    let (first, last) = (column("window_first_row"), column("window_last_row"));
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|fields| fields[flag] == "1")
        .map(|fields| {
            (
                fields[t].parse().unwrap(),
                fields[host].to_string(),
                fields[first].parse().unwrap(),
                fields[last].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn detect_with_windows_flags_a_flat_run_that_single_rows_miss() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, "hosts.csv", flattened_hosts().as_bytes());
    let windowed = stdout_of(oddity().args(["detect"]).arg(&path).args([
        "--window",
        "40",
        "--time",
        "t",
        "--entity",
        "host",
        "--keep-columns",
        "--format",
        "csv",
    ]));
    let flagged = flagged_steps(&windowed);
    assert!(!flagged.is_empty(), "{windowed}");
    // Every flagged row is host a's, within a window's reach of the run.
    for (step, host, first, last) in &flagged {
        assert_eq!(host, "a", "{flagged:?}");
        assert!((300 - 39..340 + 39).contains(step), "{flagged:?}");
        assert!(first != last);
    }
    // The middle of the run is flagged.
    assert!(flagged.iter().any(|(step, ..)| *step == 320), "{flagged:?}");

    // Row by row, the flat values are ordinary.
    let plain = stdout_of(oddity().args(["detect"]).arg(&path).args([
        "--features",
        "value",
        "--keep-columns",
        "--format",
        "csv",
    ]));
    let header = plain.lines().next().unwrap();
    assert!(!header.contains("window_first_row"), "{header}");
    let in_run = plain
        .lines()
        .skip(1)
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|f| f[2] == "a" && (300..340).contains(&f[1].parse::<u64>().unwrap()))
        .filter(|f| f[6] == "1")
        .count();
    assert_eq!(in_run, 0, "{plain}");
}

#[test]
fn fit_with_windows_then_score_windows_new_data_the_same_way() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, "hosts.csv", flattened_hosts().as_bytes());
    let model = dir.path().join("windows.oddity");
    let flags = [
        "--window",
        "40",
        "--stride",
        "2",
        "--window-repr",
        "diff",
        "--time",
        "t",
        "--entity",
        "host",
    ];
    oddity()
        .args(["fit"])
        .arg(&path)
        .arg("-o")
        .arg(&model)
        .args(flags)
        .assert()
        .success();
    let header = stdout_of(oddity().args(["inspect"]).arg(&model));
    assert!(header.contains("\"representation\": \"diff\""), "{header}");
    assert!(header.contains("\"entity_column\": \"host\""), "{header}");
    let scored = stdout_of(
        oddity()
            .args(["score"])
            .arg(&model)
            .arg(&path)
            .args(["--format", "csv"]),
    );
    // Isolation Forest scores new points as it scores training points, so
    // scoring the training file reproduces `detect` exactly.
    let detected = stdout_of(
        oddity()
            .args(["detect"])
            .arg(&path)
            .args(flags)
            .args(["--format", "csv"]),
    );
    assert_eq!(scored, detected);
    assert!(
        scored.starts_with("row,score,probability,is_anomaly,window_first_row,window_last_row\n")
    );
    let explained = stdout_of(oddity().args(["score"]).arg(&model).arg(&path).args([
        "--format",
        "ndjson",
        "--explain",
        "--anomalies-only",
    ]));
    let first: serde_json::Value = serde_json::from_str(explained.lines().next().unwrap()).unwrap();
    assert!(
        first["window"]["lags"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("value[t")
    );
    assert!(
        first["explanation"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("the window of rows")
    );
}

#[test]
fn window_errors_name_the_lengths_and_the_limits() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, "hosts.csv", flattened_hosts().as_bytes());
    oddity()
        .args(["detect"])
        .arg(&path)
        .args(["--window", "700", "--entity", "host"])
        .assert()
        .code(EXIT_BAD_DATA)
        .stderr(predicate::str::contains(
            "entity \"a\" has 600 rows, fewer than the window width 700",
        ));
    oddity()
        .args(["detect"])
        .arg(&path)
        .args(["--window", "1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "window must be from 2 to 4096 rows, got 1",
        ));
    // Window flags without --window are a bad command line.
    oddity()
        .args(["detect"])
        .arg(&path)
        .args(["--stride", "2"])
        .assert()
        .code(2);
}

/// Rows of three columns where `c` is `a + b` up to a small wiggle, with
/// row 123 breaking that rule while each of its values stays typical.
fn sum_rule_rows() -> String {
    let mut text = String::from("id,a,b,c\n");
    for row in 0..400 {
        let a = ((row * 7919) % 101) as f64 / 25.0 - 2.0;
        let b = ((row as f64) * 0.73).sin() * 2.0;
        let wiggle = ((row * 104_729) % 17) as f64 * 0.01;
        let c = if row == 123 { 3.5 } else { a + b + wiggle };
        let a = if row == 123 { -1.5 } else { a };
        let b = if row == 123 { -1.5 } else { b };
        text.push_str(&format!("r{row},{a:.4},{b:.4},{c:.4}\n"));
    }
    text
}

/// `detect`'s CSV output for `data` with `params`, and its rows.
#[cfg(feature = "autoencoder")]
fn detect_csv(data: &Path, params: &[&str]) -> (String, Vec<Vec<String>>) {
    let text = stdout_of(
        oddity()
            .arg("detect")
            .arg(data)
            .args(params)
            .args(["--format", "csv"]),
    );
    let rows = csv_cells(&text);
    (text, rows)
}

/// The row with the largest number in `column`.
#[cfg(feature = "autoencoder")]
fn top_row(rows: &[Vec<String>], column: usize) -> &Vec<String> {
    let value = |row: &Vec<String>| row[column].parse::<f64>().unwrap();
    rows.iter()
        .max_by(|a, b| value(a).total_cmp(&value(b)))
        .unwrap()
}

/// The CSV that `score` writes for `data` (with `score_params`) with the
/// model that `fit` saves from `data` with `fit_params`.
#[cfg(feature = "autoencoder")]
fn fit_then_score(
    dir: &TempDir,
    data: &Path,
    fit_params: &[&str],
    score_params: &[&str],
) -> String {
    let model = dir.path().join("fitted.oddity");
    stdout_of(
        oddity()
            .arg("fit")
            .arg(data)
            .args(fit_params)
            .arg("-o")
            .arg(&model),
    );
    stdout_of(
        oddity()
            .arg("score")
            .arg(&model)
            .arg(data)
            .args(score_params)
            .args(["--format", "csv"]),
    )
}

#[cfg(feature = "autoencoder")]
#[test]
fn autoencoder_flags_a_row_that_breaks_the_columns_rule() {
    let dir = TempDir::new().unwrap();
    let data = write_file(&dir, "rule.csv", sum_rule_rows().as_bytes());
    let params = ["--detector", "autoencoder", "--id", "id"];
    let (detected, rows) = detect_csv(&data, &params);
    assert_eq!(rows.len(), 400);
    let score = |row: &Vec<String>| row[2].parse::<f64>().unwrap();
    let top = top_row(&rows, 2);
    assert_eq!((top[1].as_str(), top[4].as_str()), ("r123", "1"), "{top:?}");
    // Far above every other row: the rule is learnt, not just the ranges.
    let runner_up = rows
        .iter()
        .filter(|row| row[1] != "r123")
        .map(score)
        .fold(0.0, f64::max);
    assert!(score(top) > 5.0 * runner_up, "{top:?} {runner_up}");

    // fit + score with the saved model gives the scores detect gave.
    let scored = fit_then_score(&dir, &data, &params, &["--id", "id"]);
    let scores = |text: &str| -> Vec<String> {
        text.lines()
            .skip(1)
            .map(|line| line.split(',').nth(2).unwrap().to_string())
            .collect()
    };
    assert_eq!(scores(&scored), scores(&detected));
}

#[cfg(not(feature = "autoencoder"))]
#[test]
fn autoencoder_training_without_the_feature_says_how_to_rebuild() {
    let dir = TempDir::new().unwrap();
    let data = write_file(&dir, "rule.csv", sum_rule_rows().as_bytes());
    oddity()
        .arg("detect")
        .arg(&data)
        .args(["--detector", "autoencoder"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "rebuild with --features autoencoder",
        ));
}

#[test]
fn stream_spot_flags_a_spike_after_its_calibration() {
    let dir = TempDir::new().unwrap();
    let mut text = String::from("value\n");
    for row in 0..3000 {
        let wiggle = ((row * 7919) % 13) as f64 * 0.15 + ((row as f64) * 0.37).sin() * 0.5;
        let spike = if row == 2500 { 25.0 } else { 0.0 };
        text.push_str(&format!("{:.3}\n", 10.0 + wiggle + spike));
    }
    let data = write_file(&dir, "data.csv", text.as_bytes());

    let output = stdout_of(
        oddity()
            .args(["stream"])
            .arg(&data)
            .args(["--warmup", "100", "--spot", "1e-3"]),
    );
    let records: Vec<serde_json::Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 3000);
    // Warm-up, then 1,000 scores of calibration: no threshold before.
    assert!(records[..1100].iter().all(|r| r["threshold"].is_null()));
    assert!(records[1100]["threshold"].is_number(), "{}", records[1100]);
    assert_eq!(records[2500]["is_anomaly"], true, "{}", records[2500]);
    let others = records
        .iter()
        .enumerate()
        .filter(|(row, r)| r["is_anomaly"] == true && *row != 2500)
        .count();
    assert!(others <= 20, "{others}");

    oddity()
        .args(["stream"])
        .arg(&data)
        .args(["--spot", "0.5"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "spot risk must be in (0, 1 - level), got 0.5",
        ));
    oddity()
        .args(["stream"])
        .arg(&data)
        .args(["--spot", "1e-3", "--contamination", "0.01"])
        .assert()
        .code(2);
    oddity()
        .args(["stream"])
        .arg(&data)
        .args(["--spot-depth", "10"])
        .assert()
        .code(2);
}

#[test]
fn stream_entities_stay_within_a_memory_budget() {
    let dir = TempDir::new().unwrap();
    let mut text = String::from("host,load\n");
    for row in 0..2000 {
        let wiggle = ((row * 7919) % 13) as f64 * 0.1;
        text.push_str(&format!("h{},{:.2}\n", row % 10, 5.0 + wiggle));
    }
    let data = write_file(&dir, "hosts.csv", text.as_bytes());

    // Without --quiet, so that the summary line is written.
    let run = |extra: &[&str]| {
        let output = Command::cargo_bin("oddity")
            .unwrap()
            .args(["stream"])
            .arg(&data)
            .args(["--entity", "host"])
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stderr).unwrap()
    };
    // The summary line: "... over N entities holding B bytes (R replaced ...".
    let summary = |stderr: &str| -> (usize, usize) {
        let after = stderr.split(" over ").nth(1).unwrap();
        let words: Vec<&str> = after.split_whitespace().collect();
        (words[0].parse().unwrap(), words[3].parse().unwrap())
    };
    let (all_entities, all_bytes) = summary(&run(&[]));
    assert_eq!(all_entities, 10);
    let budget = all_bytes * 3 / 10;
    let stderr = run(&["--max-entity-memory", &budget.to_string()]);
    let (kept, bytes) = summary(&stderr);
    assert!(kept <= 3, "{stderr}");
    assert!(bytes <= budget, "{stderr}");
    assert!(stderr.contains("--max-entity-memory"), "{stderr}");

    oddity()
        .args(["stream"])
        .arg(&data)
        .args(["--entity", "host", "--max-entity-memory", "12parsecs"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown unit"));
}

/// A noisy sine of period 32 (`row,value`), 800 rows, whose period at rows
/// 400 to 431 (0-based) is a sine of three times the frequency: each value
/// is in range, the shape is not.
#[cfg(feature = "autoencoder")]
fn sine_with_a_wrong_period() -> String {
    let mut csv = String::from("row,value\n");
    for row in 0..800_u32 {
        let phase = f64::from(row) * std::f64::consts::TAU / 32.0;
        let frequency = if (400..432).contains(&row) { 3.0 } else { 1.0 };
        // A deterministic wobble in place of noise.
        let wobble = 0.03 * (f64::from(row) * 1.7).sin();
        csv.push_str(&format!("{row},{}\n", (frequency * phase).sin() + wobble));
    }
    csv
}

#[cfg(feature = "autoencoder")]
#[test]
fn lstm_autoencoder_finds_a_period_of_the_wrong_shape() {
    let dir = TempDir::new().unwrap();
    let data = write_file(&dir, "sine.csv", sine_with_a_wrong_period().as_bytes());
    let params = [
        "--window",
        "32",
        "--detector",
        "lstm-autoencoder",
        "--time",
        "row",
        "--param",
        "hidden=16",
    ];
    let (detected, rows) = detect_csv(&data, &params);
    assert_eq!(rows.len(), 800);
    let top = top_row(&rows, 1);
    // The top row's window overlaps the planted period (1-based rows 401
    // to 432).
    let first: u64 = top[4].parse().unwrap();
    let last: u64 = top[5].parse().unwrap();
    assert!(first <= 432 && last >= 401, "{top:?}");

    // fit + score with the saved model gives the scores detect gave.
    assert_eq!(fit_then_score(&dir, &data, &params, &[]), detected);

    // Without windows it is an error that says what to add.
    oddity()
        .arg("detect")
        .arg(&data)
        .args(["--detector", "lstm-ae"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "scores sequences: give --window W",
        ));
    oddity()
        .arg("detect")
        .arg(&data)
        .args(["--window", "32", "--detector", "lstm-ae"])
        .args(["--param", "hidden=0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("hidden must be 1 to 4096, got 0"));
}
