//! The `syscalls.master` parser: text in, validated `Table` out.
//!
//! Two levels: physical lines are joined into logical lines (continuations,
//! comments and the preamble are handled there), and each logical line becomes
//! one checked `Entry`. Everything the generator relies on — numbering, C
//! types, annotations and the names derived from a line — is validated here,
//! so a mistake in a table is reported as `file:line: what is wrong` and never
//! as a compile error in generated code. Pure and std-only: it is shared by
//! `build.rs` and the tests.

// build.rs and the tests each use a different part of this module.
#![allow(dead_code)]

use std::fmt;

/// Argument slots per call (NetBSD's `SYS_MAXSYSARGS`). A table may lower
/// this with `Table::check_max_args` (Linux passes six).
pub const MAXARGS: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// A parsed table: its entries in ascending number order.
#[derive(Clone, Debug)]
pub struct Table {
    pub file: String,
    pub entries: Vec<Entry>,
}

/// The type column of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An ordinary call.
    Std,
    /// A call that cannot fail. Recorded only: the typed API stays uniform.
    NoErr,
    /// No `SYS_` number constant.
    NoDef,
    /// No argument struct: the handler receives the raw slots.
    NoArgs,
    /// Like `NoArgs`, for variadic calls; no typed `rump_sys_*` call.
    Indir,
    /// Comment only.
    Obsol,
    /// Comment only.
    Unimpl,
    /// Comment only.
    Excl,
    /// Succeeds without a handler; the prototype is optional.
    Ignored,
    /// Comment only.
    Extern,
    /// `COMPAT_xx`: an old version of a call, named `compat_xx_*`.
    Compat(String),
}

impl Kind {
    fn from_keyword(word: &str) -> Option<Kind> {
        Some(match word {
            "STD" => Kind::Std,
            "NOERR" => Kind::NoErr,
            "NODEF" => Kind::NoDef,
            "NOARGS" => Kind::NoArgs,
            "INDIR" => Kind::Indir,
            "OBSOL" => Kind::Obsol,
            "UNIMPL" => Kind::Unimpl,
            "EXCL" => Kind::Excl,
            "IGNORED" => Kind::Ignored,
            "EXTERN" => Kind::Extern,
            _ => {
                let ver = word.strip_prefix("COMPAT_")?;
                if ver.is_empty() || !ver.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Kind::Compat(ver.to_string())
            }
        })
    }

    /// Types whose text after the keywords is a comment, never a prototype.
    fn comment_only(&self) -> bool {
        matches!(self, Kind::Obsol | Kind::Unimpl | Kind::Excl | Kind::Extern)
    }
}

/// One numbered line of the table.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The physical line the entry starts on.
    pub line: usize,
    pub number: u32,
    pub kind: Kind,
    /// `MODULAR modname`: accepted for NetBSD compatibility, not used.
    pub modular: Option<String>,
    /// `RUMP`: the rump kernel implements the call.
    pub rump: bool,
    pub proto: Option<Proto>,
    /// The text of a comment-only line.
    pub comment: String,
}

/// `{ ret|prefix|version|name(args); } [alias]`
#[derive(Clone, Debug)]
pub struct Proto {
    pub ret: CType,
    /// The return type as written, normalised like `Arg::ctext`.
    pub ret_text: String,
    pub prefix: String,
    pub version: Option<u32>,
    pub name: String,
    pub args: Vec<Arg>,
    pub alias: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Arg {
    pub name: String,
    pub ctype: CType,
    /// The C type as written, normalised to single spaces (`const char *`).
    pub ctext: String,
    pub marshal: Marshal,
    /// Written after NetBSD's varargs marker (`int flags, ... mode_t mode`):
    /// the C prototype ends in `...` here.
    pub variadic: bool,
}

impl Arg {
    pub fn is_pad(&self) -> bool {
        self.marshal == Marshal::Pad
    }
}

/// Integer types a C scalar maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    I32,
    U32,
    I64,
    U64,
    Isize,
    Usize,
}

impl Scalar {
    pub fn rust(self) -> &'static str {
        match self {
            Scalar::I32 => "i32",
            Scalar::U32 => "u32",
            Scalar::I64 => "i64",
            Scalar::U64 => "u64",
            Scalar::Isize => "isize",
            Scalar::Usize => "usize",
        }
    }

    pub fn signed(self) -> bool {
        matches!(self, Scalar::I32 | Scalar::I64 | Scalar::Isize)
    }
}

/// What a pointer points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pointee {
    Void,
    Char,
    Scalar(Scalar),
    /// `struct X`: `X` must exist in the table's types module once a typed
    /// call or a sized annotation refers to it.
    Struct(String),
    /// `sigset_t`: no Rust type; passed as `c_void`.
    Sigset,
    /// `char **` / `char * const *` (argv-style), passed opaquely.
    CharPtr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CType {
    /// Return types only.
    Void,
    Scalar(Scalar),
    Ptr {
        is_const: bool,
        to: Pointee,
    },
}

impl CType {
    pub fn is_ptr(&self) -> bool {
        matches!(self, CType::Ptr { .. })
    }
}

/// How an argument travels, resolved from its annotation. Argument references
/// are slot indices (padding counted); element sizes come from the pointee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marshal {
    Value,
    Pad,
    Opaque,
    InStr,
    InBytes {
        len: usize,
    },
    OutBytes {
        len: usize,
    },
    OutBytesToRet {
        len: usize,
    },
    /// `_In_` (`elems` = 1) or `_In_reads_(N)` with a literal N.
    In {
        elems: u64,
    },
    Out {
        elems: u64,
    },
    InOut {
        elems: u64,
    },
    InArray {
        count: usize,
    },
    OutArray {
        count: usize,
    },
    InOutArray {
        count: usize,
    },
    InIov {
        count: usize,
    },
    OutIov {
        count: usize,
    },
}

impl Entry {
    fn compat_prefix(&self) -> String {
        match &self.kind {
            Kind::Compat(v) => format!("compat_{v}_"),
            _ => String::new(),
        }
    }

    /// The name users see: the alias if given, else the prototype's name.
    pub fn visible_name(&self) -> Option<&str> {
        let p = self.proto.as_ref()?;
        Some(p.alias.as_deref().unwrap_or(&p.name))
    }

    /// The `SYS_` constant's identifier without `SYS_`: `read`, `__stat50`,
    /// `compat_43_ocreat`. `None` for NODEF lines and lines without a
    /// prototype.
    pub fn sys_ident(&self) -> Option<String> {
        let p = self.proto.as_ref()?;
        if self.kind == Kind::NoDef {
            return None;
        }
        let base = match (&p.alias, p.version) {
            (Some(alias), _) => alias.clone(),
            (None, Some(v)) => format!("__{}{}", p.name, v),
            (None, None) => p.name.clone(),
        };
        Some(format!("{}{}", self.compat_prefix(), base))
    }

    /// The kernel function: `sys_read`, `sys___stat50`, `compat_43_sys_creat`.
    pub fn handler(&self) -> Option<String> {
        let p = self.proto.as_ref()?;
        let base = match p.version {
            Some(v) => format!("{}___{}{}", p.prefix, p.name, v),
            None => format!("{}_{}", p.prefix, p.name),
        };
        Some(format!("{}{}", self.compat_prefix(), base))
    }

    /// The argument struct, `<handler>_args`; `None` where the handler takes
    /// the raw slots (NOARGS, INDIR).
    pub fn args_struct(&self) -> Option<String> {
        if matches!(self.kind, Kind::NoArgs | Kind::Indir) {
            return None;
        }
        Some(format!("{}_args", self.handler()?))
    }

    /// Whether the line gets a typed `rump_sys_<visible name>` call: RUMP
    /// lines of the current ABI with a fixed argument list.
    pub fn typed_call(&self) -> bool {
        self.rump && self.proto.is_some() && !matches!(self.kind, Kind::Indir | Kind::Compat(_))
    }
}

impl Table {
    /// Checks every prototype against a lower slot limit than `MAXARGS`.
    pub fn check_max_args(&self, max: usize) -> Result<(), ParseError> {
        for e in &self.entries {
            if let Some(p) = &e.proto {
                if p.args.len() > max {
                    return Err(self.error(e.line, too_many(p.args.len(), max)));
                }
            }
        }
        Ok(())
    }

    fn error(&self, line: usize, msg: String) -> ParseError {
        ParseError { file: self.file.clone(), line, msg }
    }

    /// The line each typed call comes from: for a name on several RUMP lines,
    /// the highest version.
    pub fn typed_calls(&self) -> Vec<&Entry> {
        let mut best: Vec<&Entry> = Vec::new();
        for e in self.entries.iter().filter(|e| e.typed_call()) {
            let name = e.visible_name();
            let version = |e: &Entry| e.proto.as_ref().and_then(|p| p.version).unwrap_or(0);
            match best.iter_mut().find(|b| b.visible_name() == name) {
                Some(b) if version(e) > version(b) => *b = e,
                Some(_) => {}
                None => best.push(e),
            }
        }
        best.sort_by_key(|e| e.number);
        best
    }
}

fn too_many(n: usize, max: usize) -> String {
    format!("too many arguments: {n} slots, at most {max}")
}

pub fn parse(file: &str, text: &str) -> Result<Table, ParseError> {
    let err = |line: usize, msg: String| ParseError { file: file.to_string(), line, msg };
    let mut entries: Vec<Entry> = Vec::new();
    for (line, logical) in logical_lines(text).map_err(|(l, m)| err(l, m))? {
        let e = parse_entry(line, &logical).map_err(|m| err(line, m))?;
        if let Some(prev) = entries.last() {
            if e.number == prev.number {
                return Err(err(line, format!("duplicate syscall number {}", e.number)));
            }
            if e.number < prev.number {
                return Err(err(line, format!("syscall number {} out of order (after {})", e.number, prev.number)));
            }
        }
        entries.push(e);
    }
    let table = Table { file: file.to_string(), entries };
    check_names(&table)?;
    Ok(table)
}

/// Names derived from different lines must not collide in generated code.
fn check_names(t: &Table) -> Result<(), ParseError> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut check = |what: &str, name: Option<String>, line: usize| match name {
        Some(n) => match seen.iter().find(|(s, _)| *s == n) {
            Some((_, other)) => Err(t.error(line, format!("{what} `{n}` also comes from line {other}"))),
            None => {
                seen.push((n, line));
                Ok(())
            }
        },
        None => Ok(()),
    };
    for e in &t.entries {
        check("handler", e.handler(), e.line)?;
        check("constant", e.sys_ident().map(|s| format!("SYS_{s}")), e.line)?;
    }
    let version = |e: &Entry| e.proto.as_ref().and_then(|p| p.version);
    let calls: Vec<&Entry> = t.entries.iter().filter(|e| e.typed_call()).collect();
    for (i, e) in calls.iter().enumerate() {
        if let Some(o) = calls[..i].iter().find(|o| o.visible_name() == e.visible_name() && version(o) == version(e)) {
            let name = e.visible_name().unwrap_or_default();
            return Err(
                t.error(e.line, format!("`rump_sys_{name}` also comes from line {} with the same version", o.line))
            );
        }
    }
    Ok(())
}

/// Joins `\` continuations and drops the preamble, blank lines, `;` comments
/// and `#` lines. Yields (first physical line, text).
fn logical_lines(text: &str) -> Result<Vec<(usize, String)>, (usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim() == "%%").map_or(0, |i| i + 1);
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in lines.iter().enumerate().skip(start) {
        let lineno = i + 1;
        let raw = raw.trim_end();
        let (body, continues) = match raw.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        let (first, mut acc) = pending.take().unwrap_or((lineno, String::new()));
        acc.push_str(body);
        if continues {
            acc.push(' ');
            pending = Some((first, acc));
            continue;
        }
        let t = acc.trim();
        if t == "%%" {
            return Err((lineno, "second `%%` separator".to_string()));
        }
        if t.is_empty() || t.starts_with(';') || t.starts_with('#') {
            continue;
        }
        out.push((first, t.to_string()));
    }
    if pending.is_some() {
        return Err((lines.len(), "`\\` continues past the end of the file".to_string()));
    }
    Ok(out)
}

/// Splits off the next whitespace-separated word, stopping before `{`.
fn next_word(s: &mut &str) -> Option<String> {
    let t = s.trim_start();
    let end = t.find(|c: char| c.is_whitespace() || c == '{').unwrap_or(t.len());
    if end == 0 {
        *s = t;
        return None;
    }
    *s = &t[end..];
    Some(t[..end].to_string())
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn parse_entry(line: usize, text: &str) -> Result<Entry, String> {
    let mut rest = text;
    let num_word = next_word(&mut rest).ok_or("missing syscall number")?;
    if !num_word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("syscall number `{num_word}` is not a decimal number"));
    }
    let number: u32 = num_word.parse().map_err(|_| format!("syscall number `{num_word}` is too large"))?;
    let kind_word = next_word(&mut rest).ok_or("missing syscall type after the number")?;
    let kind = Kind::from_keyword(&kind_word).ok_or_else(|| format!("unknown syscall type `{kind_word}`"))?;

    let (mut modular, mut rump) = (None, false);
    loop {
        let mut peek = rest;
        match next_word(&mut peek).as_deref() {
            Some("RUMP") if !rump => rump = true,
            Some("MODULAR") if modular.is_none() => {
                let m = next_word(&mut peek).ok_or("`MODULAR` needs a module name")?;
                modular = Some(m);
            }
            _ => break,
        }
        rest = peek;
    }
    let rest = rest.trim();

    let mut entry = Entry { line, number, kind, modular, rump, proto: None, comment: String::new() };
    let wants_proto = !entry.kind.comment_only() && (entry.kind != Kind::Ignored || rest.starts_with('{'));
    if !wants_proto {
        if rump {
            return Err("`RUMP` on a line without a prototype".to_string());
        }
        entry.comment = rest.to_string();
        return Ok(entry);
    }
    if entry.kind == Kind::Ignored && rump {
        return Err("`RUMP` on an IGNORED line, which succeeds without a handler".to_string());
    }
    let body = rest.strip_prefix('{').ok_or_else(|| match rest {
        "" => format!("missing `{{ prototype; }}` after `{kind_word}`"),
        _ => format!("expected `{{` before `{}`", rest.split_whitespace().next().unwrap_or_default()),
    })?;
    let close = body.find('}').ok_or("missing `}` after the prototype")?;
    let (inner, after) = (body[..close].trim(), body[close + 1..].trim());
    let inner = inner.strip_suffix(';').ok_or("missing `;` before `}`")?.trim_end();
    if inner.contains(';') {
        return Err("more than one `;` in the prototype".to_string());
    }
    let mut proto = parse_proto(inner)?;
    if !after.is_empty() {
        if !is_ident(after) {
            return Err(format!("unexpected text after `}}`: `{after}`"));
        }
        proto.alias = Some(after.to_string());
    }
    entry.proto = Some(proto);
    Ok(entry)
}

fn parse_proto(text: &str) -> Result<Proto, String> {
    let fields: Vec<&str> = text.split('|').map(str::trim).collect();
    if fields.len() != 4 {
        return Err(format!(
            "prototype needs 4 `|`-separated fields (ret|prefix|version|name(args)), found {}",
            fields.len()
        ));
    }
    let ret_toks = tokens(fields[0])?;
    let ret = parse_type(&ret_toks, fields[0])?;
    let prefix = fields[1];
    if !is_ident(prefix) {
        return Err(format!("bad prefix `{prefix}`"));
    }
    let version = match fields[2] {
        "" => None,
        v if v.bytes().all(|b| b.is_ascii_digit()) => Some(v.parse().map_err(|_| format!("bad version `{v}`"))?),
        v => return Err(format!("bad version `{v}`")),
    };
    let call = fields[3];
    let open = call.find('(').ok_or("missing `(` after the syscall name")?;
    let name = call[..open].trim();
    if !is_ident(name) {
        return Err(format!("bad syscall name `{name}`"));
    }
    let list = call[open + 1..].strip_suffix(')').ok_or("missing `)` at the end of the argument list")?;

    let raw = split_args(list)?;
    if raw.len() > MAXARGS {
        return Err(too_many(raw.len(), MAXARGS));
    }
    for (i, a) in raw.iter().enumerate() {
        if a.name != "PAD" && raw[..i].iter().any(|b| b.name == a.name) {
            return Err(format!("duplicate argument name `{}`", a.name));
        }
    }
    let args = raw
        .iter()
        .map(|a| {
            Ok(Arg {
                name: a.name.clone(),
                ctype: a.ctype.clone(),
                ctext: a.ctext.clone(),
                marshal: resolve(a, &raw)?,
                variadic: a.variadic,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Proto {
        ret,
        ret_text: type_text(&ret_toks),
        prefix: prefix.to_string(),
        version,
        name: name.to_string(),
        args,
        alias: None,
    })
}

/// An argument before its annotation is resolved against the others.
struct RawArg {
    name: String,
    ctype: CType,
    ctext: String,
    ann: Option<(String, Vec<String>)>,
    variadic: bool,
}

fn split_args(list: &str) -> Result<Vec<RawArg>, String> {
    let list = list.trim();
    if list.is_empty() || list == "void" {
        return Ok(Vec::new());
    }
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or("unbalanced `)` in the argument list")?,
            ',' if depth == 0 => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced `(` in the argument list".to_string());
    }
    parts.push(&list[start..]);
    parts.into_iter().map(parse_arg).collect()
}

fn parse_arg(text: &str) -> Result<RawArg, String> {
    let whole = text.trim();
    // NetBSD's varargs marker (`int flags, ... mode_t mode`) changes nothing
    // for the slots: the argument still has its own. Only C prototypes
    // (codegen/capi.rs) say `...` there.
    let variadic = whole.starts_with("...");
    let mut t = whole.strip_prefix("...").unwrap_or(whole).trim_start();
    if t.is_empty() {
        return Err("empty argument".to_string());
    }
    let mut ann = None;
    if t.starts_with('_') {
        let end = t.find(|c: char| !(c == '_' || c.is_ascii_alphanumeric())).unwrap_or(t.len());
        let name = t[..end].to_string();
        t = t[end..].trim_start();
        let mut params = Vec::new();
        if let Some(inside) = t.strip_prefix('(') {
            let close = inside.find(')').ok_or_else(|| format!("missing `)` after `{name}(`"))?;
            params = inside[..close].split(',').map(|p| p.trim().to_string()).collect();
            if params.len() == 1 && params[0].is_empty() {
                params.clear();
            }
            t = inside[close + 1..].trim_start();
        }
        ann = Some((name, params));
    }
    let mut toks = tokens(t)?;
    let name = match toks.pop() {
        Some(n) if n != "*" && !toks.is_empty() => n,
        _ => return Err(format!("argument `{whole}` needs a type and a name")),
    };
    let ctype = parse_type(&toks, whole)?;
    if ctype == CType::Void {
        return Err(format!("argument `{name}` has type `void`"));
    }
    Ok(RawArg { name, ctext: type_text(&toks), ctype, ann, variadic })
}

/// Words and `*`s.
fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        if c == '_' || c.is_ascii_alphanumeric() {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        match c {
            '*' => out.push("*".to_string()),
            c if c.is_whitespace() => {}
            c => return Err(format!("unexpected `{c}` in `{}`", s.trim())),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    Ok(out)
}

/// C spelling of type tokens: `const char *`, `char *const *`.
fn type_text(toks: &[String]) -> String {
    let mut out = String::new();
    for (i, t) in toks.iter().enumerate() {
        if i > 0 && toks[i - 1] != "*" {
            out.push(' ');
        }
        out.push_str(t);
    }
    out
}

fn scalar(name: &str) -> Option<Scalar> {
    Some(match name {
        "int" | "signed" | "signed int" | "int32_t" | "pid_t" | "clockid_t" => Scalar::I32,
        "u_int" | "unsigned" | "unsigned int" | "uint32_t" | "u_int32_t" | "mode_t" | "umode_t" | "uid_t" | "gid_t"
        | "socklen_t" => Scalar::U32,
        "long" | "long int" | "signed long" | "int64_t" | "off_t" | "loff_t" => Scalar::I64,
        "u_long" | "unsigned long" | "unsigned long int" | "uint64_t" | "u_int64_t" | "dev_t" => Scalar::U64,
        "size_t" => Scalar::Usize,
        "ssize_t" => Scalar::Isize,
        _ => return None,
    })
}

/// A C type from its tokens (the argument name already removed).
fn parse_type(toks: &[String], context: &str) -> Result<CType, String> {
    let mut i = 0;
    let mut is_const = false;
    let mut base: Vec<&str> = Vec::new();
    while i < toks.len() && toks[i] != "*" {
        match toks[i].as_str() {
            "const" => is_const = true,
            w => base.push(w),
        }
        i += 1;
    }
    let base_text = base.join(" ");
    let pointee = match base.as_slice() {
        [] => return Err(format!("missing type in `{}`", context.trim())),
        ["struct", tag] if is_ident(tag) => Pointee::Struct(tag.to_string()),
        ["void"] => Pointee::Void,
        ["char"] => Pointee::Char,
        ["sigset_t"] => Pointee::Sigset,
        _ => Pointee::Scalar(scalar(&base_text).ok_or_else(|| format!("unknown C type `{base_text}`"))?),
    };
    let (mut stars, mut inner_const) = (0, false);
    for t in &toks[i..] {
        match t.as_str() {
            "*" => stars += 1,
            // `char * const *`: the pointed-to pointer is const. A const on
            // the outermost pointer only binds the parameter itself.
            "const" if stars == 1 => inner_const = true,
            "const" => {}
            w => return Err(format!("unexpected `{w}` after `*` in `{}`", context.trim())),
        }
    }
    match (stars, pointee) {
        (0, Pointee::Void) => Ok(CType::Void),
        (0, Pointee::Scalar(s)) => Ok(CType::Scalar(s)),
        (0, _) => Err(format!("`{base_text}` cannot be passed by value")),
        (1, to) => Ok(CType::Ptr { is_const, to }),
        (2, Pointee::Char) => Ok(CType::Ptr { is_const: is_const || inner_const, to: Pointee::CharPtr }),
        _ => Err(format!("unsupported pointer type `{}`", toks.join(" "))),
    }
}

/// The parameter of an array annotation.
enum Count {
    Fixed(u64),
    Arg(usize),
}

/// Resolves an argument's annotation against the whole argument list.
fn resolve(a: &RawArg, all: &[RawArg]) -> Result<Marshal, String> {
    if a.name == "PAD" {
        if a.ann.is_some() {
            return Err("annotation on a PAD argument".to_string());
        }
        if a.ctype.is_ptr() {
            return Err("PAD must be an integer".to_string());
        }
        return Ok(Marshal::Pad);
    }
    let Some((ann, params)) = &a.ann else {
        return Ok(if a.ctype.is_ptr() { Marshal::Opaque } else { Marshal::Value });
    };
    let nparams = match ann.as_str() {
        "_In_z_" | "_In_" | "_Out_" | "_Inout_" => 0,
        "_In_reads_bytes_" | "_Out_writes_bytes_" | "_In_reads_" | "_Out_writes_" | "_Inout_updates_" | "_In_iov_"
        | "_Out_iov_" => 1,
        "_Out_writes_bytes_to_" => 2,
        _ => return Err(format!("unknown annotation `{ann}`")),
    };
    let CType::Ptr { to, .. } = &a.ctype else {
        return Err(format!("annotation `{ann}` on non-pointer argument `{}`", a.name));
    };
    if params.len() != nparams {
        return Err(format!("`{ann}` takes {nparams} parameter(s), found {}", params.len()));
    }
    // The slot of the integer argument a size refers to.
    let arg_ref = |p: &str| -> Result<usize, String> {
        let i = all
            .iter()
            .position(|b| b.name == p && p != "PAD")
            .ok_or_else(|| format!("annotation `{ann}` names unknown argument `{p}`"))?;
        if all[i].ctype.is_ptr() {
            return Err(format!("annotation `{ann}`: `{p}` is a pointer, not a size"));
        }
        Ok(i)
    };
    let sized = || match to {
        Pointee::Scalar(_) | Pointee::Struct(_) | Pointee::Char => Ok(()),
        _ => Err(format!("`{ann}` needs a pointer to a sized type, not `{}`", a.ctext)),
    };
    // `_In_reads_(2)` is a fixed-size block; `_In_reads_(n)` an array.
    let count = |p: &str| -> Result<Count, String> {
        sized()?;
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            return arg_ref(p).map(Count::Arg);
        }
        match p.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Count::Fixed(n)),
            _ => Err(format!("`{ann}` needs a positive count, found `{p}`")),
        }
    };
    let iov = || match to {
        Pointee::Struct(s) if s == "iovec" => Ok(()),
        _ => Err(format!("`{ann}` needs a `struct iovec *`, not `{}`", a.ctext)),
    };
    Ok(match ann.as_str() {
        "_In_z_" => match to {
            Pointee::Char => Marshal::InStr,
            _ => return Err(format!("`_In_z_` needs a `char *`, not `{}`", a.ctext)),
        },
        "_In_reads_bytes_" => Marshal::InBytes { len: arg_ref(&params[0])? },
        "_Out_writes_bytes_" => Marshal::OutBytes { len: arg_ref(&params[0])? },
        "_Out_writes_bytes_to_" => {
            if params[1] != "return" {
                return Err(format!("`{ann}` second parameter must be `return`, found `{}`", params[1]));
            }
            Marshal::OutBytesToRet { len: arg_ref(&params[0])? }
        }
        "_In_" => sized().map(|_| Marshal::In { elems: 1 })?,
        "_Out_" => sized().map(|_| Marshal::Out { elems: 1 })?,
        "_Inout_" => sized().map(|_| Marshal::InOut { elems: 1 })?,
        "_In_reads_" => match count(&params[0])? {
            Count::Fixed(elems) => Marshal::In { elems },
            Count::Arg(count) => Marshal::InArray { count },
        },
        "_Out_writes_" => match count(&params[0])? {
            Count::Fixed(elems) => Marshal::Out { elems },
            Count::Arg(count) => Marshal::OutArray { count },
        },
        "_Inout_updates_" => match count(&params[0])? {
            Count::Fixed(elems) => Marshal::InOut { elems },
            Count::Arg(count) => Marshal::InOutArray { count },
        },
        "_In_iov_" => iov().and_then(|_| arg_ref(&params[0])).map(|count| Marshal::InIov { count })?,
        "_Out_iov_" => iov().and_then(|_| arg_ref(&params[0])).map(|count| Marshal::OutIov { count })?,
        _ => unreachable!("annotation names are checked above"),
    })
}
