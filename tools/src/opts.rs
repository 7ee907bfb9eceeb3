//! getopt(3) as NetBSD's tools use it: single-letter flags that may be
//! grouped (`-sv`), options whose value is attached or the next argument
//! (`-c2`, `-c 2`), `--` ending the options, and the first operand ending
//! them too. Long options with values (`--hijack SPEC`, `--hijack=SPEC`)
//! for the few that have no NetBSD letter. Errors name the option.

/// One parsed option: its letter and, for options taking a value, the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt {
    pub letter: char,
    pub value: Option<String>,
}

/// Splits `args` (without the program name) into options and operands.
/// `spec` lists the letters; a letter followed by `:` takes a value.
pub fn getopt(args: &[String], spec: &str) -> Result<(Vec<Opt>, Vec<String>), String> {
    getopt_long(args, spec, &[])
}

/// As `getopt`, also taking the long options `long` names, each with a
/// value and reported as the letter it maps to (one not in `spec`).
pub fn getopt_long(args: &[String], spec: &str, long: &[(&str, char)]) -> Result<(Vec<Opt>, Vec<String>), String> {
    let takes_value = |c: char| -> Option<bool> {
        let i = spec.find(c)?;
        Some(spec[i + c.len_utf8()..].starts_with(':'))
    };
    let mut opts = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let &(_, letter) =
                long.iter().find(|(n, _)| *n == name).ok_or_else(|| format!("unknown option --{name}"))?;
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i).cloned().ok_or_else(|| format!("option --{name} needs a value"))?
                }
            };
            opts.push(Opt { letter, value: Some(value) });
            i += 1;
            continue;
        }
        let letters: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < letters.len() {
            let c = letters[j];
            match takes_value(c) {
                None => return Err(format!("unknown option -{c}")),
                Some(false) => opts.push(Opt { letter: c, value: None }),
                Some(true) => {
                    let rest: String = letters[j + 1..].iter().collect();
                    let value = if !rest.is_empty() {
                        rest
                    } else {
                        i += 1;
                        args.get(i).cloned().ok_or_else(|| format!("option -{c} needs a value"))?
                    };
                    opts.push(Opt { letter: c, value: Some(value) });
                    break;
                }
            }
            j += 1;
        }
        i += 1;
    }
    Ok((opts, args[i..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn groups_values_and_operands() {
        let (o, rest) = getopt(&v(&["-sv", "-c2", "-r", "16m", "unix://x", "-z"]), "svc:r:").unwrap();
        let letters: Vec<char> = o.iter().map(|o| o.letter).collect();
        assert_eq!(letters, ['s', 'v', 'c', 'r']);
        assert_eq!(o[2].value.as_deref(), Some("2"));
        assert_eq!(o[3].value.as_deref(), Some("16m"));
        assert_eq!(rest, v(&["unix://x", "-z"]));
        assert_eq!(getopt(&v(&["--", "-s"]), "s").unwrap().1, v(&["-s"]));
    }

    #[test]
    fn errors_name_the_option() {
        assert_eq!(getopt(&v(&["-x"]), "s").unwrap_err(), "unknown option -x");
        assert_eq!(getopt(&v(&["-c"]), "c:").unwrap_err(), "option -c needs a value");
        assert_eq!(getopt(&v(&["--help"]), "s").unwrap_err(), "unknown option --help");
        let long = [("hijack", 'j')];
        assert_eq!(getopt_long(&v(&["--hijack"]), "s", &long).unwrap_err(), "option --hijack needs a value");
        assert_eq!(getopt_long(&v(&["--hi=x"]), "s", &long).unwrap_err(), "unknown option --hi");
    }

    #[test]
    fn long_options_with_values() {
        let long = [("hijack", 'j')];
        let args = v(&["-s", "u", "--hijack", "path=/x", "--hijack=", "-m", "a:/b", "--", "ls", "--hijack"]);
        let (o, rest) = getopt_long(&args, "s:m:", &long).unwrap();
        let got: Vec<(char, &str)> = o.iter().map(|o| (o.letter, o.value.as_deref().unwrap())).collect();
        assert_eq!(got, [('s', "u"), ('j', "path=/x"), ('j', ""), ('m', "a:/b")]);
        assert_eq!(rest, v(&["ls", "--hijack"]));
        // A long option's letter is not a short one.
        assert_eq!(getopt_long(&v(&["-j", "x"]), "s", &long).unwrap_err(), "unknown option -j");
    }
}
