//! Columnar chunks of rows: [`ColumnData`] and [`Frame`].

use std::sync::Arc;

use super::schema::{ColumnKind, Schema};

/// The values of one column, typed by its [`ColumnKind`].
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Missing values are NaN; ±inf are kept as read.
    Number(Vec<f64>),
    Category(Vec<Option<String>>),
    Boolean(Vec<Option<bool>>),
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp(Vec<Option<i64>>),
}

impl ColumnData {
    /// An empty column of `kind`.
    pub fn new(kind: ColumnKind) -> Self {
        Self::with_capacity(kind, 0)
    }

    /// An empty column of `kind` with room for `capacity` values.
    pub fn with_capacity(kind: ColumnKind, capacity: usize) -> Self {
        match kind {
            ColumnKind::Number => ColumnData::Number(Vec::with_capacity(capacity)),
            ColumnKind::Category => ColumnData::Category(Vec::with_capacity(capacity)),
            ColumnKind::Boolean => ColumnData::Boolean(Vec::with_capacity(capacity)),
            ColumnKind::Timestamp => ColumnData::Timestamp(Vec::with_capacity(capacity)),
        }
    }

    pub fn kind(&self) -> ColumnKind {
        match self {
            ColumnData::Number(_) => ColumnKind::Number,
            ColumnData::Category(_) => ColumnKind::Category,
            ColumnData::Boolean(_) => ColumnKind::Boolean,
            ColumnData::Timestamp(_) => ColumnKind::Timestamp,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ColumnData::Number(values) => values.len(),
            ColumnData::Category(values) => values.len(),
            ColumnData::Boolean(values) => values.len(),
            ColumnData::Timestamp(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values if this is a number column.
    pub fn as_numbers(&self) -> Option<&[f64]> {
        match self {
            ColumnData::Number(values) => Some(values),
            _ => None,
        }
    }

    /// Whether the value at `row` is missing (NaN counts as missing for numbers).
    ///
    /// # Panics
    /// If `row` is out of bounds.
    pub fn is_missing(&self, row: usize) -> bool {
        match self {
            ColumnData::Number(values) => values[row].is_nan(),
            ColumnData::Category(values) => values[row].is_none(),
            ColumnData::Boolean(values) => values[row].is_none(),
            ColumnData::Timestamp(values) => values[row].is_none(),
        }
    }

    /// Appends a missing value.
    pub fn push_missing(&mut self) {
        match self {
            ColumnData::Number(values) => values.push(f64::NAN),
            ColumnData::Category(values) => values.push(None),
            ColumnData::Boolean(values) => values.push(None),
            ColumnData::Timestamp(values) => values.push(None),
        }
    }

    /// Appends the value at `row` of `other`.
    ///
    /// # Panics
    /// If the kinds differ or `row` is out of bounds.
    pub fn push_from(&mut self, other: &ColumnData, row: usize) {
        match (self, other) {
            (ColumnData::Number(dst), ColumnData::Number(src)) => dst.push(src[row]),
            (ColumnData::Category(dst), ColumnData::Category(src)) => dst.push(src[row].clone()),
            (ColumnData::Boolean(dst), ColumnData::Boolean(src)) => dst.push(src[row]),
            (ColumnData::Timestamp(dst), ColumnData::Timestamp(src)) => dst.push(src[row]),
            (dst, src) => kind_mismatch(dst.kind(), src.kind()),
        }
    }

    /// Overwrites the value at `dst_row` with the value at `src_row` of `other`.
    ///
    /// # Panics
    /// If the kinds differ or either row is out of bounds.
    pub fn set_from(&mut self, dst_row: usize, other: &ColumnData, src_row: usize) {
        match (self, other) {
            (ColumnData::Number(dst), ColumnData::Number(src)) => dst[dst_row] = src[src_row],
            (ColumnData::Category(dst), ColumnData::Category(src)) => {
                dst[dst_row].clone_from(&src[src_row]);
            }
            (ColumnData::Boolean(dst), ColumnData::Boolean(src)) => dst[dst_row] = src[src_row],
            (ColumnData::Timestamp(dst), ColumnData::Timestamp(src)) => {
                dst[dst_row] = src[src_row];
            }
            (dst, src) => kind_mismatch(dst.kind(), src.kind()),
        }
    }

    /// Appends all values of `other`.
    ///
    /// # Panics
    /// If the kinds differ.
    pub fn extend_from(&mut self, other: &ColumnData) {
        match (self, other) {
            (ColumnData::Number(dst), ColumnData::Number(src)) => dst.extend_from_slice(src),
            (ColumnData::Category(dst), ColumnData::Category(src)) => dst.extend_from_slice(src),
            (ColumnData::Boolean(dst), ColumnData::Boolean(src)) => dst.extend_from_slice(src),
            (ColumnData::Timestamp(dst), ColumnData::Timestamp(src)) => dst.extend_from_slice(src),
            (dst, src) => kind_mismatch(dst.kind(), src.kind()),
        }
    }

    /// A new column of the values at `rows`.
    ///
    /// # Panics
    /// If `rows` is out of bounds.
    pub fn slice(&self, rows: std::ops::Range<usize>) -> ColumnData {
        match self {
            ColumnData::Number(values) => ColumnData::Number(values[rows].to_vec()),
            ColumnData::Category(values) => ColumnData::Category(values[rows].to_vec()),
            ColumnData::Boolean(values) => ColumnData::Boolean(values[rows].to_vec()),
            ColumnData::Timestamp(values) => ColumnData::Timestamp(values[rows].to_vec()),
        }
    }

    /// Moves all values of `other` to the end of this column, leaving
    /// `other` empty; unlike [`Self::extend_from`], text is not copied.
    ///
    /// # Panics
    /// If the kinds differ.
    pub fn append_moved(&mut self, other: &mut ColumnData) {
        match (self, other) {
            (ColumnData::Number(dst), ColumnData::Number(src)) => dst.append(src),
            (ColumnData::Category(dst), ColumnData::Category(src)) => dst.append(src),
            (ColumnData::Boolean(dst), ColumnData::Boolean(src)) => dst.append(src),
            (ColumnData::Timestamp(dst), ColumnData::Timestamp(src)) => dst.append(src),
            (dst, src) => kind_mismatch(dst.kind(), src.kind()),
        }
    }
}

fn kind_mismatch(dst: ColumnKind, src: ColumnKind) -> ! {
    panic!("cannot copy {src} values into a {dst} column: frames must share one schema")
}

/// A chunk of rows stored by column, all columns of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub schema: Arc<Schema>,
    /// One entry per schema field, in schema order.
    pub columns: Vec<ColumnData>,
    /// 1-based data-row number, in the source, of this frame's first row. Meaningful for frames a
    /// source yields and for their concatenation; frames built by sampling keep what they start
    /// with.
    pub first_row: u64,
}

impl Frame {
    /// A frame with the columns of `schema` and no rows, starting at row 1.
    pub fn empty(schema: Arc<Schema>) -> Self {
        Self::with_capacity(schema, 0)
    }

    /// Like [`Frame::empty`], with room for `capacity` rows in every column.
    pub fn with_capacity(schema: Arc<Schema>, capacity: usize) -> Self {
        let columns = schema
            .kinds()
            .map(|kind| ColumnData::with_capacity(kind, capacity))
            .collect();
        Frame {
            schema,
            columns,
            first_row: 1,
        }
    }

    /// A frame of the named columns, starting at row 1; the schema takes
    /// each column's kind. Columns must be of one length (not checked here;
    /// [`Frame::n_rows`] reads the first).
    pub fn from_columns(columns: Vec<(&str, ColumnData)>) -> Self {
        let fields = columns
            .iter()
            .map(|(name, data)| super::schema::Field::new(*name, data.kind()))
            .collect();
        Frame {
            schema: Arc::new(Schema::new(fields)),
            columns: columns.into_iter().map(|(_, data)| data).collect(),
            first_row: 1,
        }
    }

    /// Number of rows; 0 for a frame without columns.
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, ColumnData::len)
    }

    pub fn n_columns(&self) -> usize {
        self.columns.len()
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnData> {
        self.schema
            .index_of(name)
            .and_then(|index| self.columns.get(index))
    }

    /// Appends row `row` of `other`.
    ///
    /// # Panics
    /// If the column kinds differ or `row` is out of bounds.
    pub fn push_row_from(&mut self, other: &Frame, row: usize) {
        assert_eq!(
            self.columns.len(),
            other.columns.len(),
            "frames differ in column count"
        );
        for (dst, src) in self.columns.iter_mut().zip(&other.columns) {
            dst.push_from(src, row);
        }
    }

    /// Overwrites row `dst_row` with row `src_row` of `other`, as reservoir sampling needs.
    ///
    /// # Panics
    /// If the column kinds differ or either row is out of bounds.
    pub fn set_row_from(&mut self, dst_row: usize, other: &Frame, src_row: usize) {
        assert_eq!(
            self.columns.len(),
            other.columns.len(),
            "frames differ in column count"
        );
        for (dst, src) in self.columns.iter_mut().zip(&other.columns) {
            dst.set_from(dst_row, src, src_row);
        }
    }

    /// Appends all rows of `other`; `first_row` stays this frame's.
    ///
    /// # Panics
    /// If the column kinds differ.
    pub fn append(&mut self, other: &Frame) {
        assert_eq!(
            self.columns.len(),
            other.columns.len(),
            "frames differ in column count"
        );
        for (dst, src) in self.columns.iter_mut().zip(&other.columns) {
            dst.extend_from(src);
        }
    }

    /// Moves all rows of `other` to the end of this frame; `first_row`
    /// stays this frame's.
    ///
    /// # Panics
    /// If the column kinds differ.
    pub fn append_moved(&mut self, mut other: Frame) {
        assert_eq!(
            self.columns.len(),
            other.columns.len(),
            "frames differ in column count"
        );
        for (dst, src) in self.columns.iter_mut().zip(&mut other.columns) {
            dst.append_moved(src);
        }
    }

    /// A new frame of the rows at `rows`, numbered as they are here.
    ///
    /// # Panics
    /// If `rows` is out of bounds.
    pub fn slice(&self, rows: std::ops::Range<usize>) -> Frame {
        Frame {
            schema: self.schema.clone(),
            first_row: self.first_row + rows.start as u64,
            columns: self
                .columns
                .iter()
                .map(|column| column.slice(rows.clone()))
                .collect(),
        }
    }

    /// All rows of `frames` in order, in one frame of `schema`, starting where the first starts.
    ///
    /// # Panics
    /// If a frame's column kinds differ from `schema`.
    pub fn concat(schema: Arc<Schema>, frames: &[Frame]) -> Frame {
        let n_rows = frames.iter().map(Frame::n_rows).sum();
        let mut out = Frame::with_capacity(schema, n_rows);
        if let Some(first) = frames.first() {
            out.first_row = first.first_row;
        }
        for frame in frames {
            out.append(frame);
        }
        out
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the test's failure report"
)]
mod tests {
    use super::super::schema::Field;
    use super::*;

    fn two_column_frame() -> Frame {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", ColumnKind::Number),
            Field::new("c", ColumnKind::Category),
        ]));
        Frame {
            schema,
            columns: vec![
                ColumnData::Number(vec![1.0, 2.0, f64::NAN]),
                ColumnData::Category(vec![Some("a".into()), None, Some("c".into())]),
            ],
            first_row: 1,
        }
    }

    #[test]
    fn rows_copy_and_overwrite_across_frames() {
        let source = two_column_frame();
        let mut sample = Frame::empty(Arc::clone(&source.schema));

        sample.push_row_from(&source, 0);
        sample.push_row_from(&source, 1);
        sample.set_row_from(0, &source, 2);

        assert_eq!(sample.n_rows(), 2);
        assert!(sample.columns[0].is_missing(0));
        assert_eq!(
            sample.column("c"),
            Some(&ColumnData::Category(vec![Some("c".into()), None]))
        );
    }

    #[test]
    fn concat_keeps_order_and_first_row() {
        let mut second = two_column_frame();
        second.first_row = 4;
        let mut first = two_column_frame();
        first.first_row = 1;

        let all = Frame::concat(Arc::clone(&first.schema), &[first, second]);

        assert_eq!(all.n_rows(), 6);
        assert_eq!(all.first_row, 1);
        assert_eq!(all.columns[0].as_numbers().map(|v| v[3]), Some(1.0));
    }

    #[test]
    #[should_panic(expected = "frames must share one schema")]
    fn copying_between_different_kinds_panics() {
        let mut numbers = ColumnData::Number(vec![]);
        numbers.push_from(&ColumnData::Boolean(vec![Some(true)]), 0);
    }
}
