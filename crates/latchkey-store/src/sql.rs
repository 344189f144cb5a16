//! A tiny SQL builder that numbers `$n` placeholders.
//!
//! sqlx's `QueryBuilder` asks the driver for its placeholder syntax, and the `Any` driver
//! answers `?`, which PostgreSQL rejects. `$n` is understood by both backends, so dynamic
//! queries (filters, keyset pages) are built here.

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryScalar};
use sqlx::Any;

#[derive(Debug, Clone)]
enum Value {
    Int(i64),
    Text(String),
    Bool(bool),
    /// NULL typed as each column needs it (PostgreSQL refuses a text NULL for a bigint).
    NullInt,
    NullText,
}

#[derive(Debug, Clone, Default)]
pub struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn bind(&mut self, v: Value) {
        self.values.push(v);
        self.text.push('$');
        self.text.push_str(&self.values.len().to_string());
    }

    pub fn bind_int(&mut self, v: i64) {
        self.bind(Value::Int(v));
    }

    pub fn bind_text(&mut self, v: String) {
        self.bind(Value::Text(v));
    }

    pub fn bind_bool(&mut self, v: bool) {
        self.bind(Value::Bool(v));
    }

    pub fn bind_opt_text(&mut self, v: Option<&str>) {
        self.bind(v.map_or(Value::NullText, |s| Value::Text(s.to_owned())));
    }

    pub fn bind_opt_int(&mut self, v: Option<i64>) {
        self.bind(v.map_or(Value::NullInt, Value::Int));
    }

    /// Appends another fragment, renumbering its placeholders.
    pub fn append(&mut self, other: &Sql) {
        let base = self.values.len();
        let mut chars = other.text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                let n: usize = n.parse().unwrap_or(0);
                self.text.push('$');
                self.text.push_str(&(n + base).to_string());
            } else {
                self.text.push(c);
            }
        }
        self.values.extend(other.values.iter().cloned());
    }

    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for v in &self.values {
            q = match v {
                Value::Int(i) => q.bind(*i),
                Value::Text(s) => q.bind(s.as_str()),
                Value::Bool(b) => q.bind(*b),
                Value::NullInt => q.bind(None::<i64>),
                Value::NullText => q.bind(None::<&str>),
            };
        }
        q
    }

    pub fn query_scalar<T>(&self) -> QueryScalar<'_, Any, T, AnyArguments<'_>>
    where
        (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut q = sqlx::query_scalar(&self.text);
        for v in &self.values {
            q = match v {
                Value::Int(i) => q.bind(*i),
                Value::Text(s) => q.bind(s.as_str()),
                Value::Bool(b) => q.bind(*b),
                Value::NullInt => q.bind(None::<i64>),
                Value::NullText => q.bind(None::<&str>),
            };
        }
        q
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_fragments_are_renumbered() {
        let mut f = Sql::new();
        f.push(" WHERE a = ");
        f.bind_int(1);
        f.push(" AND b = ");
        f.bind_text("x".into());
        let mut s = Sql::new();
        s.push("SELECT $0 + ");
        s.bind_int(5);
        s.append(&f);
        assert_eq!(s.text, "SELECT $0 + $1 WHERE a = $2 AND b = $3");
        assert_eq!(s.values.len(), 3);
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("a%b_c\\"), "a\\%b\\_c\\\\");
    }
}
