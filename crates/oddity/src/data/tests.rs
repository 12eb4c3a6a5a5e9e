//! Tests across formats: fixtures, every reading path on the same data, and robustness.

use std::io::{Cursor, Write};

use proptest::prelude::*;

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../tests/data/ingest/", $name)).as_slice()
    };
}

fn open_bytes(
    label: Input,
    bytes: &[u8],
    options: &ReadOptions,
) -> Result<Box<dyn RecordSource>, DataError> {
    open_reader(label, Box::new(Cursor::new(bytes.to_vec())), options)
}

fn label(name: &str) -> Input {
    Input::Path(name.into())
}

fn read_bytes(name: &str, bytes: &[u8]) -> Result<Frame, DataError> {
    drain(open_bytes(
        Input::Path(name.into()),
        bytes,
        &ReadOptions::default(),
    )?)
}

fn read_with(name: &str, bytes: &[u8], options: &ReadOptions) -> Result<Frame, DataError> {
    drain(open_bytes(Input::Path(name.into()), bytes, options)?)
}

fn names(frame: &Frame) -> Vec<&str> {
    frame.schema.names().collect()
}

fn kinds(frame: &Frame) -> Vec<ColumnKind> {
    frame.schema.kinds().collect()
}

fn texts(values: &[Option<&str>]) -> ColumnData {
    ColumnData::Category(values.iter().map(|v| v.map(String::from)).collect())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Drains `source` in chunks of `size`, checking row numbering, and joins the chunks.
fn drain_in_chunks(mut source: Box<dyn RecordSource>, size: usize) -> Frame {
    let mut chunks = Vec::new();
    let mut expected_first_row = 1;
    while let Some(chunk) = source.next_chunk(size).unwrap() {
        assert!(chunk.n_rows() >= 1 && chunk.n_rows() <= size);
        assert_eq!(chunk.first_row, expected_first_row);
        expected_first_row += chunk.n_rows() as u64;
        chunks.push(chunk);
    }
    Frame::concat(Arc::clone(source.schema()), &chunks)
}

/// Numbers compared with NaN equal to NaN, so that frames with missing numbers compare.
fn assert_same_frames(left: &Frame, right: &Frame) {
    assert_eq!(left.schema, right.schema);
    assert_eq!(left.n_rows(), right.n_rows());
    for (a, b) in left.columns.iter().zip(&right.columns) {
        match (a, b) {
            (ColumnData::Number(a), ColumnData::Number(b)) => {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(a), bits(b));
            }
            _ => assert_eq!(a, b),
        }
    }
}

#[test]
fn mixed_types_fixture_infers_every_kind() {
    let frame = read_bytes("mixed_types.csv", fixture!("mixed_types.csv")).unwrap();

    assert_eq!(
        names(&frame),
        ["num", "cat", "flag", "when", "binary", "empty"]
    );
    use ColumnKind::*;
    assert_eq!(
        kinds(&frame),
        [Number, Category, Boolean, Timestamp, Number, Number]
    );
    let num = frame.column("num").unwrap().as_numbers().unwrap();
    assert_eq!(&num[..3], [1.5, -2000.0, 7.0]);
    assert!(num[3].is_nan());
    assert_eq!(
        frame.column("flag"),
        Some(&ColumnData::Boolean(vec![
            Some(true),
            Some(false),
            None,
            Some(true)
        ]))
    );
    let day = 86_400_000;
    let when = [
        19_723 * day,
        19_724 * day + 36_000_000,
        19_725 * day + 36_000_250,
        19_726 * day + 28_800_000,
    ];
    assert_eq!(
        frame.column("when"),
        Some(&ColumnData::Timestamp(when.map(Some).to_vec()))
    );
    assert!(
        frame
            .column("empty")
            .unwrap()
            .as_numbers()
            .unwrap()
            .iter()
            .all(|x| x.is_nan())
    );
}

#[test]
fn overrides_replace_inferred_kinds() {
    let options = ReadOptions {
        type_overrides: vec![("num".into(), ColumnKind::Category)],
        ..ReadOptions::default()
    };
    let frame = read_with("mixed_types.csv", fixture!("mixed_types.csv"), &options).unwrap();

    assert_eq!(
        frame.column("num"),
        Some(&texts(&[Some("1.5"), Some("-2e3"), Some("+7"), None]))
    );
}

#[test]
fn override_that_does_not_fit_a_value_is_an_error() {
    let options = ReadOptions {
        type_overrides: vec![("binary".into(), ColumnKind::Boolean)],
        ..ReadOptions::default()
    };
    let err = read_with("mixed_types.csv", fixture!("mixed_types.csv"), &options).unwrap_err();

    assert_eq!(
        err.to_string(),
        "mixed_types.csv: row 1 (line 2), column \"binary\": expected a boolean, got \"0\" \
         (override the type with --type binary=category)"
    );
}

#[test]
fn override_of_unknown_column_lists_the_real_ones() {
    let options = ReadOptions {
        type_overrides: vec![("amount".into(), ColumnKind::Category)],
        ..ReadOptions::default()
    };
    let err = read_with("one_column.csv", fixture!("one_column.csv"), &options).unwrap_err();

    assert_eq!(
        err.to_string(),
        "one_column.csv: column \"amount\": no such column to override; the columns are \"value\""
    );
}

#[test]
fn schema_hints_fix_kinds_and_ignore_absent_columns() {
    let options = ReadOptions {
        schema_hints: vec![
            ("num".into(), ColumnKind::Category),
            ("label".into(), ColumnKind::Category),
        ],
        ..ReadOptions::default()
    };
    let frame = read_with("mixed_types.csv", fixture!("mixed_types.csv"), &options).unwrap();

    assert_eq!(frame.column("label"), None);
    assert_eq!(
        frame.column("num"),
        Some(&texts(&[Some("1.5"), Some("-2e3"), Some("+7"), None]))
    );
}

#[test]
fn overrides_win_over_schema_hints() {
    let options = ReadOptions {
        type_overrides: vec![("binary".into(), ColumnKind::Category)],
        schema_hints: vec![
            ("binary".into(), ColumnKind::Boolean),
            ("num".into(), ColumnKind::Category),
        ],
        ..ReadOptions::default()
    };
    let frame = read_with("mixed_types.csv", fixture!("mixed_types.csv"), &options).unwrap();

    use ColumnKind::*;
    assert_eq!(
        kinds(&frame),
        [Category, Category, Boolean, Timestamp, Category, Number]
    );
}

#[test]
fn every_missing_token_reads_as_missing() {
    let mut text = String::from("x,c\n");
    for token in BUILTIN_MISSING.iter().chain(&["-999", " NA "]) {
        text.push_str(&format!("{token},{token}\n"));
    }
    text.push_str("1,a\n");
    let options = ReadOptions {
        extra_missing: vec!["-999".into()],
        ..ReadOptions::default()
    };

    let frame = read_with("m.csv", text.as_bytes(), &options).unwrap();

    let x = frame.columns[0].as_numbers().unwrap();
    assert_eq!(x.len(), BUILTIN_MISSING.len() + 3);
    assert!(x[..x.len() - 1].iter().all(|v| v.is_nan()));
    assert_eq!(kinds(&frame), [ColumnKind::Number, ColumnKind::Category]);
    assert!((0..x.len() - 1).all(|row| frame.columns[1].is_missing(row)));
}

#[test]
fn infinities_are_kept_and_nan_is_missing() {
    let frame = read_bytes("nan_inf.csv", fixture!("nan_inf.csv")).unwrap();

    let x = frame.column("x").unwrap().as_numbers().unwrap();
    let y = frame.column("y").unwrap().as_numbers().unwrap();
    assert_eq!(x[0], 1.0);
    assert!(x[1].is_nan());
    assert_eq!(&x[2..], [f64::INFINITY, f64::NEG_INFINITY]);
    assert_eq!(y[..2], [f64::INFINITY, f64::NEG_INFINITY]);
    assert!(y[2].is_nan());
    assert_eq!(y[3], 2.0);
}

#[test]
fn gzip_csv_is_detected_by_extension_and_by_magic() {
    let by_extension = read_bytes("sample.csv.gz", fixture!("sample.csv.gz")).unwrap();
    let by_magic = drain(
        open_bytes(
            Input::Stdin,
            fixture!("sample.csv.gz"),
            &ReadOptions::default(),
        )
        .unwrap(),
    )
    .unwrap();

    assert_eq!(names(&by_extension), ["id", "value", "label"]);
    assert_eq!(by_extension.n_rows(), 4);
    assert_eq!(
        by_extension.columns[1].as_numbers().unwrap()[3],
        f64::NEG_INFINITY
    );
    assert_same_frames(&by_extension, &by_magic);
}

#[test]
fn gzip_json_lines_from_stdin_are_sniffed() {
    let bytes = gzip(b"{\"a\":1}\n{\"a\":2}\n");

    let frame = drain(open_bytes(Input::Stdin, &bytes, &ReadOptions::default()).unwrap()).unwrap();

    assert_eq!(frame.columns[0], ColumnData::Number(vec![1.0, 2.0]));
}

#[test]
fn tsv_is_read_by_extension_and_by_sniffing() {
    let text = b"a\tb\n1,5\tx y\n2\tz\n";

    let by_extension = read_bytes("t.tsv", text).unwrap();
    let sniffed = drain(open_bytes(Input::Stdin, text, &ReadOptions::default()).unwrap()).unwrap();

    assert_eq!(by_extension.columns[0], texts(&[Some("1,5"), Some("2")]));
    assert_eq!(by_extension.columns[1], texts(&[Some("x y"), Some("z")]));
    assert_eq!(by_extension, sniffed);
}

#[test]
fn json_lines_fixture_reads_every_kind() {
    let frame = read_bytes("sample.jsonl", fixture!("sample.jsonl")).unwrap();

    assert_eq!(names(&frame), ["id", "score", "label", "ok", "at", "extra"]);
    use ColumnKind::*;
    assert_eq!(
        kinds(&frame),
        [Number, Number, Category, Boolean, Timestamp, Number]
    );
    let score = frame.column("score").unwrap().as_numbers().unwrap();
    assert_eq!((score[0], score[2]), (0.5, 1000.0));
    assert!(score[1].is_nan() && score[3].is_nan());
    assert_eq!(
        frame.columns[2],
        texts(&[Some("red"), Some("blue"), Some("red"), None])
    );
}

#[test]
fn bad_value_past_the_read_ahead_reports_the_spec_example() {
    let mut text = String::from("id,amount\n");
    for row in 1..=10_300 {
        let amount = if row == 10_234 {
            "\"12,50\"".to_owned()
        } else {
            format!("{row}.5")
        };
        text.push_str(&format!("{row},{amount}\n"));
    }
    let mut source = open_bytes(
        label("transactions.csv"),
        text.as_bytes(),
        &Default::default(),
    )
    .unwrap();

    let mut rows_before = 0;
    let err = loop {
        match source.next_chunk(1000) {
            Ok(Some(frame)) => rows_before += frame.n_rows(),
            Ok(None) => panic!("expected an error"),
            Err(err) => break err,
        }
    };

    assert_eq!(rows_before, 10_000);
    assert_eq!(
        err.to_string(),
        "transactions.csv: row 10234 (line 10235), column \"amount\": expected a number, \
         got \"12,50\" (override the type with --type amount=category)"
    );
}

#[cfg(not(feature = "parquet"))]
#[test]
fn parquet_without_the_feature_is_a_clear_error() {
    let err = read_bytes("x.parquet", b"PAR1").unwrap_err();
    assert!(matches!(err.kind, DataErrorKind::ParquetDisabled), "{err}");
}

#[test]
fn empty_file_is_a_clear_error() {
    let err = read_bytes("empty.csv", fixture!("empty.csv")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "empty.csv: empty input: no header and no data rows"
    );
}

#[test]
fn header_only_gives_schema_and_no_rows() {
    let mut source = open_bytes(
        label("header_only.csv"),
        fixture!("header_only.csv"),
        &Default::default(),
    )
    .unwrap();

    assert_eq!(
        source.schema().names().collect::<Vec<_>>(),
        ["id", "amount", "label"]
    );
    assert!(
        source
            .schema()
            .kinds()
            .all(|kind| kind == ColumnKind::Number)
    );
    assert!(source.next_chunk(10).unwrap().is_none());
    let frame = drain(source).unwrap();
    assert_eq!(frame.n_rows(), 0);
    assert_eq!(frame.n_columns(), 3);
}

#[test]
fn one_row_and_one_column_inputs_read() {
    let row = read_bytes("one_row.csv", fixture!("one_row.csv")).unwrap();
    let column = read_bytes("one_column.csv", fixture!("one_column.csv")).unwrap();

    use ColumnKind::*;
    assert_eq!(kinds(&row), [Number, Number, Category, Boolean, Timestamp]);
    assert_eq!(row.n_rows(), 1);
    assert_eq!(
        row.column("seen_at"),
        Some(&ColumnData::Timestamp(vec![Some(1_704_067_200_000)]))
    );
    assert_eq!(column.n_columns(), 1);
    assert_eq!(column.columns[0].as_numbers().unwrap()[3], 4.0);
}

#[test]
fn ragged_fixture_names_row_and_line() {
    let err = read_bytes("ragged.csv", fixture!("ragged.csv")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ragged.csv: row 2 (line 3): found 2 fields, the header has 3"
    );
}

#[test]
fn non_utf8_bytes_are_replaced() {
    let frame = read_bytes("non_utf8.csv", fixture!("non_utf8.csv")).unwrap();
    assert_eq!(
        frame.column("name"),
        Some(&texts(&[Some("caf\u{fffd}"), Some("ok")]))
    );
}

#[test]
fn ten_thousand_columns_read() {
    let n_columns = 10_000;
    let header: Vec<String> = (0..n_columns).map(|i| format!("c{i}")).collect();
    let row: Vec<String> = (0..n_columns).map(|i| i.to_string()).collect();
    let text = format!(
        "{}\n{}\n{}\n",
        header.join(","),
        row.join(","),
        row.join(",")
    );

    let frame = read_bytes("wide.csv", text.as_bytes()).unwrap();

    assert_eq!(frame.n_columns(), n_columns);
    assert_eq!(frame.n_rows(), 2);
    assert_eq!(
        frame.column("c9999").unwrap().as_numbers(),
        Some([9999.0, 9999.0].as_slice())
    );
}

#[test]
fn missing_file_error_names_the_path() {
    let err = read_all(
        &Input::from_arg("/no/such/dir/x.csv"),
        &ReadOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err.kind, DataErrorKind::Open(_)));
    assert!(
        err.to_string()
            .starts_with("/no/such/dir/x.csv: cannot open: "),
        "{err}"
    );
}

#[test]
fn zero_infer_rows_is_rejected() {
    let options = ReadOptions {
        infer_rows: 0,
        ..ReadOptions::default()
    };
    let err = read_with("x.csv", b"a\n1\n", &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.csv: infer_rows must be at least 1, got 0"
    );
}

#[test]
fn inputs_and_formats_display_and_parse() {
    assert_eq!(Input::from_arg("-").to_string(), "<stdin>");
    assert_eq!(Input::from_arg("a/b.csv").to_string(), "a/b.csv");
    for format in [Format::Csv, Format::Tsv, Format::JsonLines, Format::Parquet] {
        assert_eq!(format.to_string().parse::<Format>(), Ok(format));
    }
    assert_eq!("NDJSON".parse::<Format>(), Ok(Format::JsonLines));
    assert!("xlsx".parse::<Format>().is_err());
}

#[test]
fn open_reads_real_files_and_prefers_explicit_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.txt");
    std::fs::write(&path, "{\"a\":1}\n").unwrap();

    let sniffed = read_all(&Input::Path(path.clone()), &ReadOptions::default()).unwrap();
    let forced = ReadOptions {
        format: Some(Format::Csv),
        delimiter: Some(b'|'),
        ..ReadOptions::default()
    };
    let as_csv = read_all(&Input::Path(path), &forced).unwrap();

    assert_eq!(sniffed.columns[0], ColumnData::Number(vec![1.0]));
    assert_eq!(names(&as_csv), ["{\"a\":1}"]);
    assert_eq!(as_csv.n_rows(), 0);
}

/// Rows crossing the read-ahead boundary, with every kind and some missing values.
fn generated_csv(n_rows: usize) -> String {
    let mut text = String::from("id,score,label,flag,at\n");
    for i in 0..n_rows {
        let score = if i % 5 == 0 {
            "NA".to_owned()
        } else {
            format!("{}.25", i * 3)
        };
        let label = ["a", "b", ""][i % 3];
        let flag = ["true", "false", "null"][i % 3];
        text.push_str(&format!(
            "{i},{score},{label},{flag},2024-01-{:02}T10:00:00Z\n",
            i % 28 + 1
        ));
    }
    text
}

fn generated_jsonl(n_rows: usize) -> String {
    let mut text = String::new();
    for i in 0..n_rows {
        let score = if i % 5 == 0 {
            "null".to_owned()
        } else {
            format!("{}.25", i * 3)
        };
        text.push_str(&format!(
            "{{\"id\":{i},\"score\":{score},\"label\":\"{}\",\"flag\":{}}}\n",
            ["a", "b", "NA"][i % 3],
            ["true", "false", "null"][i % 3]
        ));
        if i % 10 == 0 {
            text.push('\n');
        }
    }
    text
}

#[test]
fn chunked_reading_matches_read_all_for_every_format() {
    let options = ReadOptions {
        infer_rows: 13,
        ..ReadOptions::default()
    };
    let inputs = [
        ("g.csv", generated_csv(100).into_bytes()),
        ("g.csv.gz", gzip(generated_csv(100).as_bytes())),
        ("g.jsonl", generated_jsonl(100).into_bytes()),
    ]
    .into_iter()
    .chain(parquet_input(100));

    for (name, bytes) in inputs {
        let all = read_with(name, &bytes, &options).unwrap();
        assert_eq!(all.n_rows(), 100, "{name}");
        for size in [1, 7, 1000] {
            let source = open_bytes(label(name), &bytes, &options).unwrap();
            assert_same_frames(&drain_in_chunks(source, size), &all);
        }
    }
}

#[cfg(feature = "parquet")]
fn parquet_input(n_rows: usize) -> Option<(&'static str, Vec<u8>)> {
    Some(("g.parquet", parquet_tests::sample_parquet(n_rows)))
}

#[cfg(not(feature = "parquet"))]
fn parquet_input(_n_rows: usize) -> Option<(&'static str, Vec<u8>)> {
    None
}

#[cfg(feature = "parquet")]
mod parquet_tests {
    use std::io::Seek;
    use std::sync::Arc;

    use parquet::data_type::{
        BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type,
    };
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    use super::*;

    const SCHEMA: &str = "
        message sample {
            REQUIRED INT64 id;
            OPTIONAL DOUBLE score;
            OPTIONAL BYTE_ARRAY label (UTF8);
            OPTIONAL BOOLEAN flag;
            OPTIONAL INT64 at (TIMESTAMP_MILLIS);
            OPTIONAL INT32 day (DATE);
            OPTIONAL BYTE_ARRAY amount (UTF8);
        }";

    fn levels(n_rows: usize, present: impl Fn(usize) -> bool) -> Vec<i16> {
        (0..n_rows).map(|i| i16::from(present(i))).collect()
    }

    /// A parquet file of `n_rows` rows in two row groups, every third score and label missing.
    pub(super) fn sample_parquet(n_rows: usize) -> Vec<u8> {
        let schema = Arc::new(parse_message_type(SCHEMA).unwrap());
        let file = tempfile::tempfile().unwrap();
        let mut writer =
            SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::default())).unwrap();
        let half = n_rows / 2;
        for (start, end) in [(0, half), (half, n_rows)] {
            let rows: Vec<usize> = (start..end).collect();
            let present = |i: usize| !i.is_multiple_of(3);
            let defs = levels(rows.len(), |k| present(rows[k]));
            let all = levels(rows.len(), |_| true);
            let mut group = writer.next_row_group().unwrap();
            let mut column_index = 0;
            while let Some(mut column) = group.next_column().unwrap() {
                match column_index {
                    0 => {
                        let ids: Vec<i64> = rows.iter().map(|&i| i as i64).collect();
                        column
                            .typed::<Int64Type>()
                            .write_batch(&ids, None, None)
                            .unwrap();
                    }
                    1 => {
                        let values: Vec<f64> = rows
                            .iter()
                            .filter(|&&i| present(i))
                            .map(|&i| i as f64 * 0.5)
                            .collect();
                        column
                            .typed::<DoubleType>()
                            .write_batch(&values, Some(&defs), None)
                            .unwrap();
                    }
                    2 => {
                        let values: Vec<ByteArray> = rows
                            .iter()
                            .filter(|&&i| present(i))
                            .map(|&i| ByteArray::from(["a", "b"][i % 2]))
                            .collect();
                        column
                            .typed::<ByteArrayType>()
                            .write_batch(&values, Some(&defs), None)
                            .unwrap();
                    }
                    3 => {
                        let values: Vec<bool> = rows.iter().map(|&i| i % 2 == 0).collect();
                        column
                            .typed::<BoolType>()
                            .write_batch(&values, Some(&all), None)
                            .unwrap();
                    }
                    4 => {
                        let values: Vec<i64> = rows.iter().map(|&i| i as i64 * 1000).collect();
                        column
                            .typed::<Int64Type>()
                            .write_batch(&values, Some(&all), None)
                            .unwrap();
                    }
                    5 => {
                        let values: Vec<i32> = rows.iter().map(|&i| i as i32).collect();
                        column
                            .typed::<Int32Type>()
                            .write_batch(&values, Some(&all), None)
                            .unwrap();
                    }
                    _ => {
                        let values: Vec<ByteArray> = rows
                            .iter()
                            .map(|&i| ByteArray::from(format!("{i}.5").as_str()))
                            .collect();
                        column
                            .typed::<ByteArrayType>()
                            .write_batch(&values, Some(&all), None)
                            .unwrap();
                    }
                }
                column.close().unwrap();
                column_index += 1;
            }
            group.close().unwrap();
        }
        let mut file = writer.into_inner().unwrap();
        let mut bytes = Vec::new();
        file.seek(std::io::SeekFrom::Start(0)).unwrap();
        std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
        bytes
    }

    #[test]
    fn parquet_round_trips_from_a_path_and_from_stdin() {
        let bytes = sample_parquet(10);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sample.pq");
        std::fs::write(&path, &bytes).unwrap();

        let from_path = read_all(&Input::Path(path), &ReadOptions::default()).unwrap();
        let from_stdin =
            drain(open_bytes(Input::Stdin, &bytes, &ReadOptions::default()).unwrap()).unwrap();

        use ColumnKind::*;
        assert_eq!(
            kinds(&from_path),
            [
                Number, Number, Category, Boolean, Timestamp, Timestamp, Number
            ]
        );
        let score = from_path.column("score").unwrap().as_numbers().unwrap();
        assert!(score[0].is_nan());
        assert_eq!((score[1], score[2]), (0.5, 1.0));
        assert!(from_path.columns[2].is_missing(3));
        assert_eq!(
            from_path.column("day"),
            Some(&ColumnData::Timestamp(
                (0..10).map(|d| Some(d * 86_400_000)).collect()
            ))
        );
        assert_eq!(
            from_path.column("amount").unwrap().as_numbers().unwrap()[9],
            9.5
        );
        assert_same_frames(&from_path, &from_stdin);
    }

    #[test]
    fn parquet_overrides_turn_numbers_into_categories() {
        let options = ReadOptions {
            type_overrides: vec![("id".into(), ColumnKind::Category)],
            ..ReadOptions::default()
        };
        let frame = read_with("s.parquet", &sample_parquet(3), &options).unwrap();
        assert_eq!(frame.columns[0], texts(&[Some("0"), Some("1"), Some("2")]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn corrupted_parquet_never_panics(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = sample_parquet(6);
            for (index, byte) in edits {
                let at = index.index(bytes.len());
                bytes[at] = byte;
            }
            if let Ok(source) = open_bytes(Input::Stdin, &bytes, &ReadOptions::default()) {
                let _ = drain(source);
            }
        }
    }

    #[test]
    fn truncated_parquet_is_an_error() {
        let bytes = sample_parquet(10);
        let err = read_bytes("s.parquet", &bytes[..bytes.len() / 2]).unwrap_err();
        assert!(matches!(err.kind, DataErrorKind::Parquet(_)), "{err}");
    }
}

fn any_format() -> impl Strategy<Value = Option<Format>> {
    prop_oneof![
        Just(None),
        Just(Some(Format::Csv)),
        Just(Some(Format::Tsv)),
        Just(Some(Format::JsonLines)),
        Just(Some(Format::Parquet)),
    ]
}

/// Bytes that look a little like each format, so that parsers get past their first check.
fn input_bytes() -> impl Strategy<Value = Vec<u8>> {
    let tabular = proptest::string::bytes_regex("(?s-u:[a-c0-9,\t\r\n\" .eE+-]{0,120})").unwrap();
    let json =
        proptest::string::bytes_regex(r#"(?s-u:[{}\[\]":,a-c0-9 \n.tfnul-]{0,120})"#).unwrap();
    let parquet = proptest::collection::vec(any::<u8>(), 0..120).prop_map(|mut bytes| {
        let mut framed = b"PAR1".to_vec();
        framed.append(&mut bytes);
        framed.extend_from_slice(b"PAR1");
        framed
    });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        tabular,
        json,
        parquet,
        proptest::collection::vec(any::<u8>(), 0..60).prop_map(|bytes| gzip(&bytes)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in input_bytes(),
        format in any_format(),
        has_header in any::<bool>(),
        infer_rows in 1usize..4,
        chunk in 1usize..5,
    ) {
        let options = ReadOptions { format, has_header, infer_rows, ..ReadOptions::default() };
        if let Ok(mut source) = open_bytes(Input::Stdin, &bytes, &options) {
            let n_columns = source.schema().len();
            while let Ok(Some(frame)) = source.next_chunk(chunk) {
                prop_assert_eq!(frame.n_columns(), n_columns);
                prop_assert!(frame.columns.iter().all(|c| c.len() == frame.n_rows()));
            }
        }
    }
}
