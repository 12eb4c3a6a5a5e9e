//! Column kinds, fields and schemas: the fixed shape every chunk of a source shares.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of values a column holds; decides its [`ColumnData`](super::ColumnData) variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// 64-bit floats; missing values are NaN.
    Number,
    /// Free text, kept as given.
    Category,
    /// `true` or `false`, case-insensitive; 0 and 1 are numbers, not booleans.
    Boolean,
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp,
}

impl ColumnKind {
    /// Every kind, in the order used for messages.
    pub const ALL: [ColumnKind; 4] = [
        ColumnKind::Number,
        ColumnKind::Category,
        ColumnKind::Boolean,
        ColumnKind::Timestamp,
    ];

    /// The lowercase word used in schemas, flags and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Number => "number",
            ColumnKind::Category => "category",
            ColumnKind::Boolean => "boolean",
            ColumnKind::Timestamp => "timestamp",
        }
    }

    /// The word with its article, as in "expected a number".
    pub(crate) fn with_article(self) -> &'static str {
        match self {
            ColumnKind::Number => "a number",
            ColumnKind::Category => "a category",
            ColumnKind::Boolean => "a boolean",
            ColumnKind::Timestamp => "a timestamp",
        }
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that names no [`ColumnKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown column kind {0:?}, expected one of number, category, boolean, timestamp")]
pub struct UnknownColumnKind(pub String);

impl FromStr for ColumnKind {
    type Err = UnknownColumnKind;

    /// Accepts the words of [`ColumnKind::as_str`], case-insensitive.
    fn from_str(word: &str) -> Result<Self, Self::Err> {
        ColumnKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(word.trim()))
            .ok_or_else(|| UnknownColumnKind(word.to_owned()))
    }
}

/// A type override as written on a command line, `name=kind`, that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeOverrideError {
    /// No `=` between the column name and the kind.
    #[error("type override {0:?} must look like name=kind, e.g. amount=category")]
    MissingEquals(String),
    /// The part after the last `=` is not a kind.
    #[error(transparent)]
    UnknownKind(#[from] UnknownColumnKind),
}

/// Splits `name=kind` at its last `=` (column names may contain `=`, kinds never do).
///
/// ```
/// # use oddity::data::{parse_type_override, ColumnKind};
/// let (name, kind) = parse_type_override("amount=category").expect("valid override");
/// assert_eq!((name.as_str(), kind), ("amount", ColumnKind::Category));
/// ```
pub fn parse_type_override(spec: &str) -> Result<(String, ColumnKind), TypeOverrideError> {
    let (name, kind) = spec
        .rsplit_once('=')
        .ok_or_else(|| TypeOverrideError::MissingEquals(spec.to_owned()))?;
    Ok((name.to_owned(), kind.parse()?))
}

/// One named, typed column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub kind: ColumnKind,
}

impl Field {
    pub fn new(name: impl Into<String>, kind: ColumnKind) -> Self {
        Field {
            name: name.into(),
            kind,
        }
    }
}

/// The ordered columns of a source; names are unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Self {
        Schema { fields }
    }

    /// Position of the column called `name`; a linear scan.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|field| field.name == name)
    }

    /// Column names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.fields.iter().map(|field| field.name.as_str())
    }

    /// Column kinds in order.
    pub fn kinds(&self) -> impl Iterator<Item = ColumnKind> + '_ {
        self.fields.iter().map(|field| field.kind)
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the test's failure report"
)]
mod tests {
    use super::*;

    #[test]
    fn kind_words_round_trip_through_display_and_from_str() {
        for kind in ColumnKind::ALL {
            assert_eq!(kind.to_string().parse::<ColumnKind>(), Ok(kind));
        }
        assert_eq!("Number".parse::<ColumnKind>(), Ok(ColumnKind::Number));
    }

    #[test]
    fn unknown_kind_word_is_named_in_the_error() {
        let err = "float".parse::<ColumnKind>().expect_err("not a kind");
        assert!(err.to_string().contains("\"float\""), "{err}");
    }

    #[test]
    fn kind_serializes_as_lowercase_word() {
        let json = serde_json::to_string(&Field::new("t", ColumnKind::Timestamp)).unwrap();
        assert_eq!(json, r#"{"name":"t","kind":"timestamp"}"#);
        let back: Field = serde_json::from_str(&json).unwrap();
        assert_eq!(back.kind, ColumnKind::Timestamp);
    }

    #[test]
    fn type_override_splits_at_last_equals() {
        assert_eq!(
            parse_type_override("a=b=boolean"),
            Ok(("a=b".to_owned(), ColumnKind::Boolean))
        );
        assert!(matches!(
            parse_type_override("amount"),
            Err(TypeOverrideError::MissingEquals(_))
        ));
        assert!(matches!(
            parse_type_override("amount=float"),
            Err(TypeOverrideError::UnknownKind(_))
        ));
    }

    #[test]
    fn schema_finds_columns_by_name() {
        let schema = Schema::new(vec![
            Field::new("a", ColumnKind::Number),
            Field::new("b", ColumnKind::Category),
        ]);
        assert_eq!(schema.index_of("b"), Some(1));
        assert_eq!(schema.index_of("c"), None);
        assert_eq!(schema.names().collect::<Vec<_>>(), ["a", "b"]);
    }
}
