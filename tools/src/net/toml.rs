//! The TOML subset topology files are written in, read into tables of
//! keyed values with their line numbers; what the keys mean is
//! `topology`'s business. Supported: `[a.b]` headers of bare or quoted
//! keys, `key = value` with a bare key, basic strings (escapes `\"` `\\`
//! `\n` `\t` `\uXXXX`), literal strings, decimal integers, booleans, and
//! arrays of those that may span lines (comments and a trailing comma
//! allowed). The rest of TOML is refused by name, so that a user who
//! reaches for it learns it is not supported rather than that the file is
//! malformed.

use super::topology::ParseError;
use std::collections::HashMap;

/// A value and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub line: usize,
    pub data: Data,
}

/// What a value holds. Array elements are never arrays.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Str(String),
    Int(i64),
    Bool(bool),
    Array(Vec<Value>),
}

impl Data {
    /// How an error message names a value of the wrong type.
    pub fn describe(&self) -> String {
        match self {
            Data::Str(s) => format!("string {s:?}"),
            Data::Int(n) => format!("integer {n}"),
            Data::Bool(b) => format!("boolean {b}"),
            Data::Array(_) => "an array".into(),
        }
    }
}

/// `key = value`; the key's line is the value's.
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub value: Value,
}

/// A `[a.b]` table: its key path, the header's line and its entries in
/// file order.
#[derive(Debug)]
pub struct Table {
    pub path: Vec<String>,
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Table {
    /// The header as a user would write it, for messages.
    pub fn header(&self) -> String {
        let parts: Vec<String> = self.path.iter().map(|p| display_key(p)).collect();
        format!("[{}]", parts.join("."))
    }
}

/// A whole file: the entries before the first header, then the tables in
/// file order.
#[derive(Debug)]
pub struct Document {
    pub root: Vec<Entry>,
    pub tables: Vec<Table>,
}

/// Reads `text`, refusing duplicate tables and keys.
pub fn parse(text: &str) -> Result<Document, ParseError> {
    let mut r = Reader { text, pos: 0, line: 1 };
    let mut doc = Document { root: Vec::new(), tables: Vec::new() };
    let mut headers: HashMap<Vec<String>, usize> = HashMap::new();
    loop {
        r.skip_blanks();
        r.skip_comment();
        if r.newline() {
            continue;
        }
        match r.peek() {
            None => return Ok(doc),
            Some('[') => {
                let table = r.header()?;
                if let Some(first) = headers.insert(table.path.clone(), table.line) {
                    return Err(error(
                        table.line,
                        format!("table {} is defined twice (first on line {first})", table.header()),
                    ));
                }
                doc.tables.push(table);
            }
            Some(_) => {
                let entry = r.entry()?;
                let entries = doc.tables.last_mut().map_or(&mut doc.root, |t| &mut t.entries);
                if let Some(first) = entries.iter().find(|e| e.key == entry.key) {
                    let msg =
                        format!("key {} is set twice in this table (first on line {})", entry.key, first.value.line);
                    return Err(error(entry.value.line, msg));
                }
                entries.push(entry);
            }
        }
    }
}

fn error(line: usize, msg: impl Into<String>) -> ParseError {
    ParseError { line, msg: msg.into() }
}

fn is_bare(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn display_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(is_bare) {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// Ends a bare word in a value: what may follow a value on its line or in
/// an array.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ']' | '#')
}

/// A cursor over the text that counts lines as it passes newlines.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl Reader<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn err(&self, msg: impl Into<String>) -> ParseError {
        error(self.line, msg)
    }

    /// The next character as a message shows it.
    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the file".into(),
            Some('\n' | '\r') => "the end of the line".into(),
            Some(c) => format!("`{c}`"),
        }
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    fn skip_comment(&mut self) {
        if self.peek() == Some('#') {
            while !matches!(self.peek(), None | Some('\n' | '\r')) {
                self.bump();
            }
        }
    }

    /// Consumes one line ending (LF or CRLF), if that is what is next.
    fn newline(&mut self) -> bool {
        let len = if self.rest().starts_with('\n') {
            1
        } else if self.rest().starts_with("\r\n") {
            2
        } else {
            return false;
        };
        self.pos += len;
        self.line += 1;
        true
    }

    /// Blanks, comments and line endings, as allowed between array elements.
    fn skip_space(&mut self) {
        loop {
            self.skip_blanks();
            self.skip_comment();
            if !self.newline() {
                return;
            }
        }
    }

    /// Requires that nothing but a comment follows on the line.
    fn end_of_line(&mut self, after: &str) -> Result<(), ParseError> {
        self.skip_blanks();
        self.skip_comment();
        if self.peek().is_none() || self.newline() {
            Ok(())
        } else {
            Err(self.err(format!("expected the end of the line after {after}, found {}", self.found())))
        }
    }

    fn bare_word(&mut self, accept: fn(char) -> bool) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(accept) {
            self.bump();
        }
        &self.text[start..self.pos]
    }

    fn header(&mut self) -> Result<Table, ParseError> {
        let line = self.line;
        self.bump();
        if self.peek() == Some('[') {
            return Err(self.err("arrays of tables ([[...]]) are not supported"));
        }
        let mut path = Vec::new();
        loop {
            self.skip_blanks();
            path.push(self.header_key()?);
            self.skip_blanks();
            match self.peek() {
                Some('.') => self.bump(),
                Some(']') => break,
                None | Some('\n' | '\r') => return Err(self.err("unclosed table header: expected ]")),
                _ => return Err(self.unquoted()),
            };
        }
        self.bump();
        self.end_of_line("the table header")?;
        Ok(Table { path, line, entries: Vec::new() })
    }

    fn header_key(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Some('"') => self.basic_string(),
            Some('\'') => self.literal_string(),
            Some(c) if is_bare(c) => Ok(self.bare_word(is_bare).to_string()),
            Some('.' | ']') => Err(self.err("empty key in the table header")),
            None | Some('\n' | '\r') => Err(self.err("unclosed table header: expected a key and ]")),
            _ => Err(self.unquoted()),
        }
    }

    fn unquoted(&self) -> ParseError {
        let found = self.found();
        self.err(format!(
            "unexpected {found} in the table header; names with characters other than A-Za-z0-9_- must be quoted"
        ))
    }

    fn entry(&mut self) -> Result<Entry, ParseError> {
        let key = match self.peek() {
            Some('"' | '\'') => return Err(self.err("quoted keys are not supported")),
            Some(c) if is_bare(c) => self.bare_word(is_bare).to_string(),
            _ => return Err(self.err(format!("expected a key, a [table] or a comment, found {}", self.found()))),
        };
        self.skip_blanks();
        match self.peek() {
            Some('.') => return Err(self.err(format!("dotted keys ({key}.…) are not supported"))),
            Some('=') => self.bump(),
            _ => return Err(self.err(format!("expected = after key {key}, found {}", self.found()))),
        };
        self.skip_blanks();
        let value = match self.peek() {
            Some('[') => self.array()?,
            _ => self.value(None)?,
        };
        self.end_of_line("the value")?;
        Ok(Entry { key, value })
    }

    /// An array, whose elements may sit on the following lines.
    fn array(&mut self) -> Result<Value, ParseError> {
        let line = self.line;
        self.bump();
        let unclosed = || error(line, "unclosed [: this array is never closed with ]");
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => return Err(unclosed()),
                Some(']') => break,
                _ => items.push(self.value(Some(line))?),
            }
            self.skip_space();
            match self.peek() {
                None => return Err(unclosed()),
                Some(',') => self.bump(),
                Some(']') => break,
                _ => {
                    return Err(
                        self.err(format!("expected , or ] in the array opened on line {line}, found {}", self.found()))
                    )
                }
            };
        }
        self.bump();
        Ok(Value { line, data: Data::Array(items) })
    }

    /// A value other than an array; `in_array` is the line of the array
    /// holding it, if any.
    fn value(&mut self, in_array: Option<usize>) -> Result<Value, ParseError> {
        let line = self.line;
        let data = match self.peek() {
            Some('"') if self.rest().starts_with("\"\"\"") => {
                return Err(self.err("multi-line strings (\"\"\") are not supported"))
            }
            Some('\'') if self.rest().starts_with("'''") => {
                return Err(self.err("multi-line strings (''') are not supported"))
            }
            Some('"') => Data::Str(self.basic_string()?),
            Some('\'') => Data::Str(self.literal_string()?),
            Some('{') => return Err(self.err("inline tables ({...}) are not supported")),
            Some('[') => {
                let hint = in_array.map(|l| format!(" (or is the ] of the array opened on line {l} missing?)"));
                return Err(self.err(format!("nested arrays are not supported{}", hint.unwrap_or_default())));
            }
            None | Some('\n' | '\r' | '#' | ',' | ']') => {
                return Err(self.err(format!("expected a value, found {}", self.found())))
            }
            Some(_) => {
                let word = self.bare_word(|c| !ends_word(c));
                word_value(word, in_array).map_err(|msg| error(line, msg))?
            }
        };
        Ok(Value { line, data })
    }

    fn basic_string(&mut self) -> Result<String, ParseError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.string_char()? {
                '"' => return Ok(s),
                '\\' => s.push(self.escape()?),
                c if c == '\t' || !c.is_control() => s.push(c),
                c => return Err(self.err(format!("control character U+{:04X} in a string", c as u32))),
            }
        }
    }

    /// Reads the next character of a string, which must not end the line.
    fn string_char(&mut self) -> Result<char, ParseError> {
        match self.peek() {
            Some(c) if c != '\n' && c != '\r' => {
                self.pos += c.len_utf8();
                Ok(c)
            }
            _ => Err(self.unterminated()),
        }
    }

    fn literal_string(&mut self) -> Result<String, ParseError> {
        self.bump();
        let start = self.pos;
        loop {
            match self.peek() {
                Some('\'') => break,
                Some('\n' | '\r') | None => return Err(self.unterminated()),
                Some(_) => self.bump(),
            };
        }
        let s = self.text[start..self.pos].to_string();
        self.bump();
        Ok(s)
    }

    fn unterminated(&self) -> ParseError {
        self.err("unterminated string: a string must end on the line it starts")
    }

    /// The character a backslash escape stands for; the backslash is read.
    fn escape(&mut self) -> Result<char, ParseError> {
        match self.string_char()? {
            '"' => Ok('"'),
            '\\' => Ok('\\'),
            'n' => Ok('\n'),
            't' => Ok('\t'),
            'u' => {
                let hex = self.rest().get(..4).filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
                let code = hex.ok_or_else(|| self.err("\\u needs four hex digits"))?;
                let c = u32::from_str_radix(code, 16).ok().and_then(char::from_u32);
                let c = c.ok_or_else(|| self.err(format!("\\u{code} is not a Unicode character")))?;
                self.pos += 4;
                Ok(c)
            }
            c => Err(self.err(format!("unsupported escape \\{c} (supported: \\\" \\\\ \\n \\t \\uXXXX)"))),
        }
    }
}

/// An unquoted value: a boolean or a decimal integer. Anything else is
/// explained, naming the TOML type it looks like.
fn word_value(word: &str, in_array: Option<usize>) -> Result<Data, String> {
    match word {
        "true" => return Ok(Data::Bool(true)),
        "false" => return Ok(Data::Bool(false)),
        _ => {}
    }
    let unsigned = word.strip_prefix(['+', '-']).unwrap_or(word);
    let starts_numeric = unsigned.starts_with(|c: char| c.is_ascii_digit());
    if starts_numeric && unsigned.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return integer(word, unsigned).map(Data::Int);
    }
    if ["0x", "0o", "0b"].iter().any(|p| unsigned.starts_with(p)) {
        return Err(format!("{word}: only decimal integers are supported"));
    }
    if starts_numeric && (word.contains(':') || word.get(4..5) == Some("-")) {
        return Err(format!("{word}: dates and times are not supported"));
    }
    let float_word = matches!(unsigned, "inf" | "nan");
    if float_word || (starts_numeric && unsigned.contains(['.', 'e', 'E'])) {
        return Err(format!("{word}: floats are not supported"));
    }
    Err(match in_array {
        Some(line) => format!("expected a value or ] in the array opened on line {line}, found `{word}`"),
        None => format!("expected a value (string, integer, boolean or array), found `{word}`; strings need quotes"),
    })
}

/// A TOML decimal integer: underscores only between digits, no leading
/// zero. `unsigned` is `word` without its sign.
fn integer(word: &str, unsigned: &str) -> Result<i64, String> {
    if unsigned.ends_with('_') || unsigned.contains("__") {
        return Err(format!("{word}: an underscore in an integer must sit between digits"));
    }
    if unsigned.len() > 1 && unsigned.starts_with('0') {
        return Err(format!("{word}: leading zeros are not allowed in integers"));
    }
    let digits: String = word.chars().filter(|&c| c != '_').collect();
    digits.parse().map_err(|_| format!("{word}: integer out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(text: &str) -> Data {
        let doc = parse(text).unwrap();
        doc.root[0].value.data.clone()
    }

    fn err(text: &str) -> (usize, String) {
        let e = parse(text).unwrap_err();
        (e.line, e.msg)
    }

    fn s(v: &str) -> Data {
        Data::Str(v.into())
    }

    #[test]
    fn scalars() {
        assert_eq!(value_of(r#"k = "a\"b\\c\n\t\u00e9""#), s("a\"b\\c\n\té"));
        assert_eq!(value_of(r"k = 'C:\x\y'"), s(r"C:\x\y"));
        assert_eq!(value_of("k = -1_000 # c"), Data::Int(-1000));
        assert_eq!(value_of("k = +0"), Data::Int(0));
        assert_eq!(value_of("k = true"), Data::Bool(true));
        assert_eq!(value_of("k = \"\""), s(""));
    }

    #[test]
    fn arrays_span_lines_with_comments_and_trailing_commas() {
        let doc = parse("k = [ # open\n  \"a\", # one\n\n  'b',\r\n  3,\n]\nx = []\n").unwrap();
        let Data::Array(items) = &doc.root[0].value.data else { panic!("not an array") };
        let got: Vec<(usize, Data)> = items.iter().map(|v| (v.line, v.data.clone())).collect();
        assert_eq!(got, [(2, s("a")), (4, s("b")), (5, Data::Int(3))]);
        assert_eq!(doc.root[1].value, Value { line: 7, data: Data::Array(vec![]) });
    }

    #[test]
    fn tables_keep_file_order_and_quoted_keys() {
        let doc = parse("a = 1\n[ node . \"r{1..3}\" ]\nk = 2\n\n[bus.'x y'] # c\n").unwrap();
        assert_eq!(doc.root.len(), 1);
        let paths: Vec<(&[String], usize)> = doc.tables.iter().map(|t| (&t.path[..], t.line)).collect();
        assert_eq!(paths, [(&["node".to_string(), "r{1..3}".into()][..], 2), (&["bus".into(), "x y".into()][..], 5)]);
        assert_eq!(doc.tables[0].entries[0].key, "k");
        assert_eq!(doc.tables[0].header(), "[node.\"r{1..3}\"]");
    }

    #[test]
    fn unsupported_syntax_is_named() {
        assert_eq!(err("\n[[node]]").0, 2);
        assert!(err("[[node]]").1.contains("arrays of tables"));
        assert!(err("k = {a = 1}").1.contains("inline tables"));
        assert!(err("a.b = 1").1.contains("dotted keys"));
        assert!(err("\"a\" = 1").1.contains("quoted keys"));
        assert!(err("k = 1.5").1.contains("floats"));
        assert!(err("k = 1e3").1.contains("floats"));
        assert!(err("k = nan").1.contains("floats"));
        assert!(err("k = 1979-05-27").1.contains("dates"));
        assert!(err("k = 07:32:00").1.contains("dates"));
        assert!(err("k = 0x10").1.contains("decimal"));
        assert!(err("k = \"\"\"x\"\"\"").1.contains("multi-line"));
        assert!(err("k = '''x'''").1.contains("multi-line"));
        assert!(err("k = [[1]]").1.contains("nested arrays"));
        assert!(err(r#"k = "\x""#).1.contains("unsupported escape"));
    }

    #[test]
    fn malformed_input_reports_its_line() {
        assert_eq!(err("\n\nk = \"abc\n"), (3, "unterminated string: a string must end on the line it starts".into()));
        assert_eq!(err("k = \"a\\\nb\"").0, 1);
        assert_eq!(err("k = 'a\r\n'").0, 1);
        assert_eq!(err("k = ['a',\n 'b'\nj = 1").0, 3);
        assert!(err("k = ['a',\n 'b'\nj = 1").1.contains("opened on line 1"));
        assert_eq!(err("\nk = ['a',\n"), (2, "unclosed [: this array is never closed with ]".into()));
        assert_eq!(err("[node.a\nk = 1").0, 1);
        assert!(err("[node.a\n").1.contains("unclosed table header"));
        assert!(err("[node.a b]").1.contains("must be quoted"));
        assert!(err("[node.r{1..3}]").1.contains("must be quoted"));
        assert!(err("[node.]").1.contains("empty key"));
        assert!(err("k = 1 2").1.contains("end of the line"));
        assert!(err("k = abc").1.contains("strings need quotes"));
        assert!(err("k =").1.contains("expected a value"));
        assert!(err("k = 01").1.contains("leading zeros"));
        assert!(err("k = 99999999999999999999").1.contains("out of range"));
        assert!(err("k = \"\\ud800\"").1.contains("not a Unicode character"));
        assert!(err("k = \"\\u12\"").1.contains("four hex digits"));
        assert!(err("k = \"a\u{1}\"").1.contains("control character"));
        assert!(err("= 1").1.contains("expected a key"));
    }

    #[test]
    fn duplicates_name_the_first_line() {
        assert_eq!(err("[a.b]\n[a.\"b\"]"), (2, "table [a.b] is defined twice (first on line 1)".into()));
        assert_eq!(err("[a]\nk = 1\n\nk = 2"), (4, "key k is set twice in this table (first on line 2)".into()));
    }
}
