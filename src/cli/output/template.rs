//! The small part of Go's `text/template` that `--format` strings use in practice: literal text,
//! `{{.Field}}`, `{{json .}}`, `{{json .Field}}` and `{{.Label "name"}}`, with `{{-`/`-}}` trim
//! markers. A format is parsed once into segments, then executed per row against any [`Fields`]
//! source; a field the source does not have fails the row with docker's error text.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template parsing error: template: :{line}: unclosed action")]
    Unclosed { line: usize },
    #[error(
        "template parsing error: unsupported template action {{{{{action}}}}} (supported: {{{{.Field}}}}, {{{{json .}}}}, {{{{json .Field}}}}, {{{{.Label \"name\"}}}})"
    )]
    Unsupported { action: String },
    #[error(
        "template parsing error: template: :{line}:{col}: executing \"\" at <.{field}>: can't evaluate field {field} in type {type_name}"
    )]
    UnknownField {
        line: usize,
        col: usize,
        field: String,
        type_name: &'static str,
    },
}

/// A value a field yields: Go prints it with `%v`, or as JSON under `json`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    /// Already rendered by the source: its `%v` text and its JSON.
    Composite {
        text: String,
        json: String,
    },
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Composite { text, .. } => text.clone(),
        }
    }

    /// What the `json` template function prints (Go's encoder with HTML escaping off).
    fn json(&self) -> String {
        match self {
            Value::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
            Value::Int(i) => i.to_string(),
            Value::Composite { json, .. } => json.clone(),
        }
    }
}

/// What a template is executed against (one `ps` row, or the table header).
pub trait Fields {
    /// Go type name used in "can't evaluate field" errors (`*formatter.ContainerContext`).
    const TYPE_NAME: &'static str;
    fn field(&self, name: &str) -> Option<Value>;
    /// `{{json .}}`.
    fn json(&self) -> String;
    /// `{{.Label "name"}}`.
    fn label(&self, key: &str) -> String;
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    /// `pos` is the byte offset of `.Field` in the format, for error positions.
    Field {
        name: String,
        pos: usize,
    },
    Json {
        field: Option<String>,
        pos: usize,
    },
    Label(String),
}

/// A parsed `--format` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
    source: String,
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut rest = source;
        let mut offset = 0;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            let mut text = &rest[..open];
            if trim_next {
                text = text.trim_start_matches(is_go_space);
            }
            let after_open = &rest[open + 2..];
            let trim_prev = after_open.starts_with("- ");
            if trim_prev {
                text = text.trim_end_matches(is_go_space);
            }
            push_text(&mut segments, text);
            let Some(close) = after_open.find("}}") else {
                let line = 1 + source[..offset + open].matches('\n').count();
                return Err(TemplateError::Unclosed { line });
            };
            let mut inner = &after_open[..close];
            let inner_start = offset + open + 2;
            let mut lead = 0;
            if trim_prev {
                inner = &inner[2..];
                lead = 2;
            }
            trim_next = inner.ends_with(" -");
            if trim_next {
                inner = &inner[..inner.len() - 2];
            }
            let pos = inner_start + lead + (inner.len() - inner.trim_start().len());
            segments.push(parse_action(inner.trim(), pos)?);
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        let tail = if trim_next {
            rest.trim_start_matches(is_go_space)
        } else {
            rest
        };
        push_text(&mut segments, tail);
        Ok(Template {
            segments,
            source: source.to_owned(),
        })
    }

    /// Executes against a row; a field the row lacks is an error, as in Go.
    pub fn execute<F: Fields>(&self, row: &F) -> Result<String, TemplateError> {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => out.push_str(t),
                Segment::Field { name, pos } => {
                    out.push_str(&self.lookup(row, name, *pos)?.text());
                }
                Segment::Json { field: None, .. } => out.push_str(&row.json()),
                Segment::Json {
                    field: Some(name),
                    pos,
                } => out.push_str(&self.lookup(row, name, *pos)?.json()),
                Segment::Label(key) => out.push_str(&row.label(key)),
            }
        }
        Ok(out)
    }

    /// Executes against a table header: each field shows its column title, or `<no value>`
    /// for a field that has none (Go's rendering of a missing map key).
    pub fn execute_header(&self, header: impl Fn(&str) -> Option<&'static str>) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => out.push_str(t),
                Segment::Field { name, .. }
                | Segment::Json {
                    field: Some(name), ..
                } => out.push_str(header(name).unwrap_or("<no value>")),
                Segment::Json { field: None, .. } | Segment::Label(_) => out.push_str("<no value>"),
            }
        }
        out
    }

    fn lookup<F: Fields>(&self, row: &F, name: &str, pos: usize) -> Result<Value, TemplateError> {
        row.field(name).ok_or_else(|| {
            let before = &self.source[..pos];
            let line = 1 + before.matches('\n').count();
            let col = match before.rfind('\n') {
                Some(nl) => pos - (nl + 1),
                None => pos,
            };
            TemplateError::UnknownField {
                line,
                col,
                field: name.to_owned(),
                type_name: F::TYPE_NAME,
            }
        })
    }
}

fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if !text.is_empty() {
        segments.push(Segment::Text(text.to_owned()));
    }
}

fn parse_action(action: &str, pos: usize) -> Result<Segment, TemplateError> {
    let unsupported = || TemplateError::Unsupported {
        action: action.to_owned(),
    };
    let words: Vec<&str> = action.split_whitespace().collect();
    match words.as_slice() {
        [field] => field_name(field)
            .map(|name| Segment::Field { name, pos })
            .ok_or_else(unsupported),
        ["json", "."] => Ok(Segment::Json { field: None, pos }),
        ["json", field] => {
            let name = field_name(field).ok_or_else(unsupported)?;
            let field_pos = pos + action.find(field).unwrap_or(0);
            Ok(Segment::Json {
                field: Some(name),
                pos: field_pos,
            })
        }
        [".Label", key] => parse_string_literal(key)
            .map(Segment::Label)
            .ok_or_else(unsupported),
        _ => Err(unsupported()),
    }
}

fn field_name(word: &str) -> Option<String> {
    let name = word.strip_prefix('.')?;
    let ok = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    ok.then(|| name.to_owned())
}

fn parse_string_literal(word: &str) -> Option<String> {
    if word.len() >= 2 && word.starts_with('"') && word.ends_with('"') {
        return serde_json::from_str(word).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row;

    impl Fields for Row {
        const TYPE_NAME: &'static str = "*test.Row";
        fn field(&self, name: &str) -> Option<Value> {
            match name {
                "Name" => Some(Value::Str("web-1".into())),
                "ExitCode" => Some(Value::Int(3)),
                "Ports" => Some(Value::Str("0.0.0.0:80->80/tcp".into())),
                _ => None,
            }
        }
        fn json(&self) -> String {
            r#"{"Name":"web-1"}"#.into()
        }
        fn label(&self, key: &str) -> String {
            format!("label:{key}")
        }
    }

    #[test]
    fn substitutes_fields_and_keeps_text() {
        let t = Template::parse("{{.Name}} exited {{ .ExitCode }}!").unwrap();
        assert_eq!(t.execute(&Row).unwrap(), "web-1 exited 3!");
    }

    #[test]
    fn json_forms_and_label() {
        let t =
            Template::parse(r#"{{json .}} {{json .Ports}} {{json .ExitCode}} {{.Label "a.b"}}"#)
                .unwrap();
        assert_eq!(
            t.execute(&Row).unwrap(),
            r#"{"Name":"web-1"} "0.0.0.0:80->80/tcp" 3 label:a.b"#
        );
    }

    #[test]
    fn trim_markers_eat_adjacent_whitespace() {
        let t = Template::parse("a  {{- .Name -}}  \n b").unwrap();
        assert_eq!(t.execute(&Row).unwrap(), "aweb-1b");
    }

    #[test]
    fn unknown_field_fails_with_docker_wording() {
        let t = Template::parse("{{.Nope}}").unwrap();
        assert_eq!(
            t.execute(&Row).unwrap_err().to_string(),
            "template parsing error: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *test.Row"
        );
        let t = Template::parse("x\n  {{json .Nope}}").unwrap();
        assert_eq!(
            t.execute(&Row).unwrap_err(),
            TemplateError::UnknownField {
                line: 2,
                col: 9,
                field: "Nope".into(),
                type_name: "*test.Row"
            }
        );
    }

    #[test]
    fn header_shows_titles_or_no_value() {
        let t = Template::parse("{{.Name}}\t{{.Nope}}").unwrap();
        let h = t.execute_header(|f| (f == "Name").then_some("NAME"));
        assert_eq!(h, "NAME\t<no value>");
    }

    #[test]
    fn rejects_what_it_does_not_implement() {
        assert!(matches!(
            Template::parse("{{if .Name}}x{{end}}"),
            Err(TemplateError::Unsupported { .. })
        ));
        assert_eq!(
            Template::parse("{{.Name").unwrap_err(),
            TemplateError::Unclosed { line: 1 }
        );
    }
}
