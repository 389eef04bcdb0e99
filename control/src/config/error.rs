//! Configuration errors, located: `FILE:LINE:COLUMN: what was expected`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based; 0 when the error is about the file as a whole.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

impl ConfigError {
    pub fn io(path: &Path, e: &std::io::Error) -> ConfigError {
        ConfigError { path: path.into(), line: 0, column: 0, message: format!("cannot read: {e}") }
    }

    pub fn toml(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
        let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
        ConfigError { path: path.into(), line, column, message: e.message().trim().to_string() }
    }

    pub fn at(path: &Path, text: &str, span: Range<usize>, message: String) -> ConfigError {
        let (line, column) = line_col(text, span.start);
        ConfigError { path: path.into(), line, column, message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.path.display(), self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn offsets_become_lines_and_columns() {
        let t = "a = 1\nbb = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 11), (2, 6));
    }
}
