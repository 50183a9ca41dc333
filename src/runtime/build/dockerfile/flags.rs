//! Instruction flags (`--from=x`, `--link`, `--mount=...`), checked as BuildKit's `BFlags`
//! checks them: each instruction declares its flags; unknown, duplicated, valueless string and
//! non-boolean boolean flags are errors.

use std::collections::BTreeMap;

use super::suggest::with_hint;

/// What values a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `--link`, `--link=true|false`.
    Bool,
    /// `--from=x`, at most once.
    String,
    /// `--mount=...`, repeatable.
    Strings,
}

/// The flags an instruction was given, by name.
#[derive(Debug, Default)]
pub(super) struct Flags {
    values: BTreeMap<String, Vec<String>>,
}

impl Flags {
    /// Checks `args` (`--name[=value]` words) against the declared `(name, kind)` pairs.
    pub fn parse(args: &[String], declared: &[(&str, Kind)]) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for arg in args {
            if arg == "--" {
                break;
            }
            let Some(body) = arg.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {arg}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let flag = format!("--{name}");
            let Some(&(_, kind)) = declared.iter().find(|(n, _)| *n == name) else {
                let names = declared.iter().map(|(n, _)| *n);
                return Err(with_hint(
                    format!("unknown flag: {flag}"),
                    name,
                    names,
                    true,
                ));
            };
            if kind != Kind::Strings && flags.values.contains_key(name) {
                return Err(format!("duplicate flag specified: {flag}"));
            }
            let value = match (kind, value) {
                (Kind::Bool, Some("")) | (Kind::String | Kind::Strings, None) => {
                    return Err(format!("missing a value on flag: {flag}"));
                }
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_string(),
                    "false" => "false".to_string(),
                    _ => {
                        return Err(format!("expecting boolean value for flag {flag}, not: {v}"));
                    }
                },
                (_, Some(v)) => v.to_string(),
            };
            flags
                .values
                .entry(name.to_string())
                .or_default()
                .push(value);
        }
        Ok(flags)
    }

    /// A string flag's value, if given.
    pub fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }

    /// A boolean flag's value, if given.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }

    /// Every value of a repeatable flag, in order.
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECLARED: &[(&str, Kind)] = &[
        ("from", Kind::String),
        ("link", Kind::Bool),
        ("exclude", Kind::Strings),
    ];

    fn parse(args: &[&str]) -> Result<Flags, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Flags::parse(&args, DECLARED)
    }

    /// Cases from BuildKit's `TestBuilderFlags` (instructions/bflag_test.go).
    #[test]
    fn values_and_errors() {
        let f = parse(&["--from=a", "--link", "--exclude=x", "--exclude=y"]).unwrap();
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert_eq!(f.bool("link"), Some(true));
        assert_eq!(f.strings("exclude"), ["x", "y"]);
        assert_eq!(parse(&["--link=FALSE"]).unwrap().bool("link"), Some(false));
        assert_eq!(
            parse(&["--from="]).unwrap().string("from").as_deref(),
            Some("")
        );
        assert_eq!(parse(&[]).unwrap().bool("link"), None);

        let err = |args: &[&str]| parse(args).unwrap_err();
        assert_eq!(
            err(&["--fron=a"]),
            "unknown flag: --fron (did you mean from?)"
        );
        assert_eq!(err(&["--nope"]), "unknown flag: --nope");
        assert_eq!(
            err(&["--from=a", "--from=b"]),
            "duplicate flag specified: --from"
        );
        assert_eq!(err(&["--from"]), "missing a value on flag: --from");
        assert_eq!(err(&["--link="]), "missing a value on flag: --link");
        assert_eq!(
            err(&["--link=yes"]),
            "expecting boolean value for flag --link, not: yes"
        );
    }
}
