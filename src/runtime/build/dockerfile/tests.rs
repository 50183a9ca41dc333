//! Whole-file tests: BuildKit's parser testfiles (`frontend/dockerfile/parser/testfiles`, with
//! their expected AST dumps), its heredoc and instruction test cases, and typed results.

use std::path::Path;
use std::time::Duration;

use super::lines::scan;
use super::node::{Args, Node};
use super::*;

/// Go's `strconv.Quote`, enough for the testfiles.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// BuildKit's `Node.Dump` of one instruction node.
fn dump(node: &Node) -> String {
    let mut out = node.keyword.to_lowercase();
    if !node.flags.is_empty() {
        let flags: Vec<String> = node.flags.iter().map(|f| go_quote(f)).collect();
        out.push_str(&format!(" [{}]", flags.join(" ")));
    }
    if let Some(trigger) = &node.trigger {
        out.push_str(&format!(" ({})", dump(trigger)));
    }
    match &node.args {
        Args::Words(words) => words.iter().for_each(|w| {
            out.push(' ');
            out.push_str(&go_quote(w));
        }),
        Args::Pairs { pairs, legacy } => {
            for (key, value) in pairs {
                let sep = if *legacy { "" } else { "=" };
                out.push_str(&format!(
                    " {} {} {}",
                    go_quote(key),
                    go_quote(value),
                    go_quote(sep)
                ));
            }
        }
    }
    out.trim().to_string()
}

fn testdata() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime/build/dockerfile/testdata")
}

/// Every BuildKit parser testfile parses to the AST dump BuildKit expects (`TestParseCases`).
#[test]
fn buildkit_parser_testfiles() {
    let dir = testdata().join("buildkit");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let source = std::fs::read_to_string(case.join("Dockerfile")).unwrap();
        let expected = std::fs::read_to_string(case.join("result")).unwrap();
        let (_, nodes) = scan(&source).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let got: String = nodes.iter().map(|n| format!("({})\n", dump(n))).collect();
        assert_eq!(got, expected, "{}", case.display());
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} testfiles");
}

/// BuildKit's `testfiles-negative`, `TestParseReturnsScannerErrors` and friends.
#[test]
fn buildkit_negative_cases() {
    for source in [
        "",
        "FROM busybox\n\nENV PATH\n",
        "# Hello\n# These are just comments\n",
        "CMD [ \"echo\", [ \"nested json\" ] ]\n",
        &format!(
            "\n\t\tFROM image\n\t\tLABEL test={}\n",
            "a".repeat(64 * 1024)
        ),
    ] {
        assert!(scan(source).is_err(), "{source:?}");
        assert!(parse(source).is_err(), "{source:?}");
    }
}

/// BuildKit's `TestParseIncludesLineNumbers` on its `testfile-line/Dockerfile`.
#[test]
fn line_numbers_cover_continuations() {
    let source = std::fs::read_to_string(testdata().join("testfile-line.Dockerfile")).unwrap();
    let (_, nodes) = scan(&source).unwrap();
    let lines: Vec<(usize, usize)> = nodes.iter().map(|n| (n.start_line, n.end_line)).collect();
    assert_eq!(lines, [(5, 5), (11, 12), (17, 31)]);
}

/// BuildKit's `TestParseExtractsHeredoc` (parser/parser_heredoc_test.go).
#[test]
fn heredocs_extracted_like_buildkit() {
    let source = "
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN \"<<NOHEREDOC\"

RUN <<INDENT
\tfoo
\tbar
INDENT

RUN <<-UNINDENT
\tbaz
\tquux
UNINDENT

RUN <<-UNINDENT2
\tbaz
\tquux
\tUNINDENT2

RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

RUN <<eo'f'
echo foo
eof

RUN <<eo\\'f
echo foo
eo'f

RUN <<'e'o\\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF  > foo
EOF
\t";
    let (_, nodes) = scan(source).unwrap();
    type Doc<'a> = (String, &'a str, bool, bool, u32);
    let docs: Vec<Vec<Doc>> = nodes[1..]
        .iter()
        .map(|n| {
            n.heredocs
                .iter()
                .map(|h| (h.name.clone(), h.content.as_str(), h.expand, h.chomp, h.fd))
                .collect()
        })
        .collect();
    let one = |name: &str, content: &'static str, expand: bool, chomp: bool| {
        vec![(name.to_string(), content, expand, chomp, 0)]
    };
    let expected = vec![
        vec![],
        vec![],
        vec![],
        vec![],
        one("EMPTY", "", true, false),
        vec![("EMPTY2".to_string(), "", true, false, 3)],
        vec![],
        one("INDENT", "\tfoo\n\tbar\n", true, false),
        one("UNINDENT", "\tbaz\n\tquux\n", true, true),
        one("UNINDENT2", "\tbaz\n\tquux\n", true, true),
        one("NOEXPAND", "\tdon't expand $NAME\n", false, true),
        one(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
            true,
            false,
        ),
        one("MOUNT", "echo hello\n", true, false),
        vec![
            ("FILE1".to_string(), "content 1\n", true, false, 0),
            ("FILE2".to_string(), "content 2\n", true, false, 0),
        ],
        vec![
            ("X".to_string(), "Y\n", true, false, 0),
            ("Y".to_string(), "X\n", true, false, 0),
        ],
        one("COMPLEX", "print('hello world')\n", true, false),
        one("eof", "echo foo\n", false, false),
        one("eo'f", "echo foo\n", true, false),
        one("eo'f", "echo foo\n", false, false),
        one("one two", "echo bar\n", false, false),
        one("$EOF", "", true, false),
        one("EOF", "", true, false),
    ];
    assert_eq!(docs, expected);
}

/// BuildKit's `TestParseJSONHeredoc`: exec form has no heredocs.
#[test]
fn json_form_has_no_heredocs() {
    let (_, nodes) = scan("FROM a\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n").unwrap();
    assert!(nodes.iter().all(|n| n.heredocs.is_empty()));
}

fn parse_ok(source: &str) -> Dockerfile {
    parse(source).unwrap_or_else(|e| panic!("{e}\n{source}"))
}

fn instructions(source: &str) -> Vec<Instruction> {
    let df = parse_ok(source);
    df.stages[0]
        .instructions
        .iter()
        .map(|l| l.node.clone())
        .collect()
}

fn error(source: &str) -> (usize, String) {
    let err = parse(source).expect_err(source);
    (err.line, err.message)
}

#[test]
fn stages_names_and_global_args() {
    let df = parse_ok(
        "# syntax=docker/dockerfile:1\nARG BASE=alpine\nARG V\nFROM --platform=$BUILDPLATFORM ${BASE}:$V AS Build\nRUN make\n\nfrom build as Final\ncopy --from=Build /out /out\nFROM scratch\n",
    );
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(
        df.global_args,
        [
            ArgDecl {
                name: "BASE".into(),
                default: Some("alpine".into())
            },
            ArgDecl {
                name: "V".into(),
                default: None
            }
        ]
    );
    let summary: Vec<(usize, Option<&str>, &str, usize, usize)> = df
        .stages
        .iter()
        .map(|s| {
            (
                s.index,
                s.name.as_deref(),
                s.from.image.as_str(),
                s.line,
                s.instructions.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (0, Some("build"), "${BASE}:$V", 4, 1),
            (1, Some("final"), "build", 7, 1),
            (2, None, "scratch", 9, 0)
        ]
    );
    assert_eq!(
        df.stages[0].from.platform.as_deref(),
        Some("$BUILDPLATFORM")
    );
    assert_eq!(
        df.stages[0].source,
        "FROM --platform=$BUILDPLATFORM ${BASE}:$V AS Build"
    );
    let located = &df.stages[1].instructions[0];
    assert_eq!(
        (located.line, located.source.as_str()),
        (8, "copy --from=Build /out /out")
    );
    let Instruction::Copy(copy) = &located.node else {
        panic!()
    };
    assert_eq!(copy.from.as_deref(), Some("Build"));
}

#[test]
fn run_forms_flags_and_heredocs() {
    let got = instructions(
        "FROM a\nRUN --mount=type=cache,target=/c --mount=type=secret,id=x --network=none echo \\\n  hi\nRUN [\"/bin/echo\", \"a b\"]\nRUN ['not', 'json']\nRUN <<EOF\nset -e\necho $HOME\nEOF\nRUN <<-A cat - /dev/fd/3 3<<'B'\n\t\tone\n\tA\ntwo\nB\n",
    );
    assert_eq!(
        got[0],
        Instruction::Run(Run {
            command: CommandForm::Shell("echo   hi".into()),
            heredocs: vec![],
            mounts: vec!["type=cache,target=/c".into(), "type=secret,id=x".into()],
            network: Some("none".into()),
            security: None,
        })
    );
    let Instruction::Run(exec) = &got[1] else {
        panic!()
    };
    assert_eq!(
        exec.command,
        CommandForm::Exec(vec!["/bin/echo".into(), "a b".into()])
    );
    let Instruction::Run(fallback) = &got[2] else {
        panic!()
    };
    assert_eq!(
        fallback.command,
        CommandForm::Shell("['not', 'json']".into())
    );
    let Instruction::Run(script) = &got[3] else {
        panic!()
    };
    assert_eq!(script.command, CommandForm::Shell("<<EOF".into()));
    assert_eq!(
        script.heredocs,
        [Heredoc {
            name: "EOF".into(),
            content: "set -e\necho $HOME\n".into(),
            expand: true,
            strip_tabs: false,
            fd: 0
        }]
    );
    let Instruction::Run(two) = &got[4] else {
        panic!()
    };
    let docs: Vec<(&str, &str, bool, bool, u32)> = two
        .heredocs
        .iter()
        .map(|h| {
            (
                h.name.as_str(),
                h.content.as_str(),
                h.expand,
                h.strip_tabs,
                h.fd,
            )
        })
        .collect();
    assert_eq!(
        docs,
        [
            ("A", "one\n", true, true, 0),
            ("B", "two\n", false, false, 3)
        ]
    );
}

#[test]
fn copy_and_add() {
    let got = instructions(
        "FROM a\nCOPY --chown=1:2 --chmod=644 --link --parents --exclude=*.md --exclude=x a b /dst/\nCOPY [\"a b\", \"/c d/\"]\nCOPY <<hello.txt <<-'raw.sh' /dest/\nhi $X\nhello.txt\n\techo $Y\n\traw.sh\nADD --checksum=sha256:abc --keep-git-dir=true --unpack=false https://x/y.tgz /y\n",
    );
    assert_eq!(
        got[0],
        Instruction::Copy(Copy {
            sources: vec!["a".into(), "b".into()],
            dest: "/dst/".into(),
            from: None,
            chown: Some("1:2".into()),
            chmod: Some("644".into()),
            link: true,
            parents: true,
            excludes: vec!["*.md".into(), "x".into()],
            heredocs: vec![],
        })
    );
    let Instruction::Copy(json) = &got[1] else {
        panic!()
    };
    assert_eq!(
        (json.sources.as_slice(), json.dest.as_str()),
        (&["a b".to_string()][..], "/c d/")
    );
    let Instruction::Copy(inline) = &got[2] else {
        panic!()
    };
    assert!(inline.sources.is_empty());
    let docs: Vec<(&str, &str, bool)> = inline
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str(), h.expand))
        .collect();
    assert_eq!(
        docs,
        [
            ("hello.txt", "hi $X\n", true),
            ("raw.sh", "echo $Y\n", false)
        ]
    );
    let Instruction::Add(add) = &got[3] else {
        panic!()
    };
    assert_eq!(add.checksum.as_deref(), Some("sha256:abc"));
    assert!(add.keep_git_dir);
    assert_eq!(add.unpack, Some(false));
    assert_eq!(add.sources, ["https://x/y.tgz"]);
}

#[test]
fn metadata_instructions() {
    let got = instructions(
        "FROM a\nENV A=1 B=\"two words\"\nENV LEGACY value with spaces\nLABEL \"com.x\"=y z=\"\"\nARG X Y=2\nEXPOSE 8080 80/udp $P\nUSER app:app\nWORKDIR /srv\nVOLUME [\"/a\", \"/b\"]\nVOLUME /c /d\nSTOPSIGNAL SIGINT\nSHELL [\"/bin/bash\", \"-c\"]\nCMD [\"run\"]\nENTRYPOINT exec app\nMAINTAINER me\nONBUILD RUN echo hi\nONBUILD COPY <<EOF /x\nbody\nEOF\n",
    );
    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        got,
        [
            Instruction::Env(pairs(&[("A", "1"), ("B", "\"two words\"")])),
            Instruction::Env(pairs(&[("LEGACY", "value with spaces")])),
            Instruction::Label(pairs(&[("\"com.x\"", "y"), ("z", "\"\"")])),
            Instruction::Arg(vec![
                ArgDecl {
                    name: "X".into(),
                    default: None
                },
                ArgDecl {
                    name: "Y".into(),
                    default: Some("2".into())
                }
            ]),
            Instruction::Expose(vec!["$P".into(), "80/udp".into(), "8080".into()]),
            Instruction::User("app:app".into()),
            Instruction::Workdir("/srv".into()),
            Instruction::Volume(vec!["/a".into(), "/b".into()]),
            Instruction::Volume(vec!["/c".into(), "/d".into()]),
            Instruction::StopSignal("SIGINT".into()),
            Instruction::Shell(vec!["/bin/bash".into(), "-c".into()]),
            Instruction::Cmd(CommandForm::Exec(vec!["run".into()])),
            Instruction::Entrypoint(CommandForm::Shell("exec app".into())),
            Instruction::Maintainer("me".into()),
            Instruction::OnBuild("RUN echo hi".into()),
            Instruction::OnBuild("COPY <<EOF /x\nbody\nEOF".into()),
        ]
    );
}

#[test]
fn healthchecks() {
    let got = instructions(
        "FROM a\nHEALTHCHECK NONE\nHEALTHCHECK --interval=1m30s --timeout=500ms --start-period=0s --retries=3 CMD curl -f http://x/ || exit 1\nhealthcheck cmd [\"/bin/check\"]\n",
    );
    assert_eq!(got[0], Instruction::Healthcheck(Healthcheck::None));
    assert_eq!(
        got[1],
        Instruction::Healthcheck(Healthcheck::Cmd(HealthCmd {
            test: CommandForm::Shell("curl -f http://x/ || exit 1".into()),
            interval: Some(Duration::from_secs(90)),
            timeout: Some(Duration::from_millis(500)),
            start_period: None,
            start_interval: None,
            retries: Some(3),
        }))
    );
    let Instruction::Healthcheck(Healthcheck::Cmd(exec)) = &got[2] else {
        panic!()
    };
    assert_eq!(exec.test, CommandForm::Exec(vec!["/bin/check".into()]));
}

#[test]
fn escape_directive_switches_continuations() {
    let df = parse_ok("# escape=`\nFROM windows\nRUN dir C:\\ `\n  && echo done\nCOPY a\\b c:\\\n");
    assert_eq!(df.directives.escape, '`');
    let sources: Vec<&str> = df.stages[0]
        .instructions
        .iter()
        .map(|l| l.source.as_str())
        .collect();
    assert_eq!(sources, ["RUN dir C:\\   && echo done", "COPY a\\b c:\\"]);
}

/// BuildKit's instruction test cases (instructions/parse_test.go) and its error messages.
#[test]
fn instruction_errors_name_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "FROM a\nRUNN x\n",
            2,
            "unknown instruction: RUNN (did you mean RUN?)",
        ),
        (
            "FROM a\nfoo bar\n",
            2,
            "unknown instruction: foo (did you mean from?)",
        ),
        ("FROM a\nXYZZY bar\n", 2, "unknown instruction: XYZZY"),
        (
            "FROM a\nMAINTAINER\n",
            2,
            "MAINTAINER requires exactly one argument",
        ),
        (
            "FROM a\nWORKDIR\n",
            2,
            "WORKDIR requires exactly one argument",
        ),
        ("FROM a\nUSER\n", 2, "USER requires exactly one argument"),
        (
            "FROM a\nSTOPSIGNAL\n",
            2,
            "STOPSIGNAL requires exactly one argument",
        ),
        ("FROM a\nENV\n", 2, "ENV requires at least one argument"),
        ("FROM a\nLABEL\n", 2, "LABEL requires at least one argument"),
        (
            "FROM a\nONBUILD\n",
            2,
            "ONBUILD requires at least one argument",
        ),
        (
            "FROM a\nHEALTHCHECK\n",
            2,
            "HEALTHCHECK requires at least one argument",
        ),
        (
            "FROM a\nEXPOSE\n",
            2,
            "EXPOSE requires at least one argument",
        ),
        (
            "FROM a\nVOLUME\n",
            2,
            "VOLUME requires at least one argument",
        ),
        (
            "FROM a\nCOPY\t\n\t\tquux \\\n      bar",
            2,
            "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
        ),
        (
            "FROM a\nADD x\n",
            2,
            "ADD requires at least two arguments, but only one was provided. Destination could not be determined",
        ),
        ("FROM a\nENV =x\n", 2, "ENV names can not be blank"),
        ("FROM a\nARG =x\n", 2, "ARG names can not be blank"),
        (
            "FROM a\nONBUILD FROM scratch\n",
            2,
            "FROM isn't allowed as an ONBUILD trigger",
        ),
        (
            "FROM a\nONBUILD ONBUILD RUN x\n",
            2,
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        (
            "FROM a\nMAINTAINER --boo joe@example.com\n",
            2,
            "unknown flag: --boo",
        ),
        (
            "FROM a\nCOPY --form=x a b\n",
            2,
            "unknown flag: --form (did you mean from?)",
        ),
        (
            "FROM a\nCOPY --from a b\n",
            2,
            "missing a value on flag: --from",
        ),
        (
            "FROM a\nCOPY --link=maybe a b\n",
            2,
            "expecting boolean value for flag --link, not: maybe",
        ),
        (
            "FROM a\nRUN --network=bridge x\n",
            2,
            "invalid network mode \"bridge\"",
        ),
        (
            "FROM a\nRUN --security=x y\n",
            2,
            "security \"x\" is not valid",
        ),
        ("FROM a\nRUN --device=x y\n", 2, "unknown flag: --device"),
        (
            "FROM a\nSHELL /bin/sh -c\n",
            2,
            "SHELL requires the arguments to be in JSON form",
        ),
        (
            "FROM a\nHEALTHCHECK NONE x\n",
            2,
            "HEALTHCHECK NONE takes no arguments",
        ),
        (
            "FROM a\nHEALTHCHECK CONNECT x\n",
            2,
            "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)",
        ),
        (
            "FROM a\nHEALTHCHECK CMD\n",
            2,
            "Missing command after HEALTHCHECK CMD",
        ),
        (
            "FROM a\nHEALTHCHECK --interval=50ns CMD x\n",
            2,
            "Interval \"interval\" cannot be less than 1ms",
        ),
        (
            "FROM a\nHEALTHCHECK --retries=-1 CMD x\n",
            2,
            "--retries cannot be negative (-1)",
        ),
        (
            "FROM a\nHEALTHCHECK --timeout=3 CMD x\n",
            2,
            "time: missing unit in duration \"3\"",
        ),
        (
            "FROM a\nCOPY <<EOF <<X\nEOF\nX\n",
            2,
            "COPY cannot accept a heredoc as a destination",
        ),
        (
            "FROM a b\n",
            1,
            "FROM requires either one or three arguments",
        ),
        (
            "FROM a AS 1st\n",
            1,
            "invalid name for build stage: \"1st\", name can't start with a number or contain symbols",
        ),
        ("RUN x\n", 1, "no build stage in current context"),
        (
            "ARG A\nARG B\n",
            2,
            "dockerfile contains no stages to build",
        ),
        // Checked against docker 20.10 with BuildKit: a directive after a blank line is a comment
        // (20.10 upper-cases the keyword in the message; current BuildKit keeps it as written).
        (
            "\n# escape=`\nFROM a\nRUN echo a `\n b\n",
            5,
            "unknown instruction: b",
        ),
        (
            "# escape=x\nFROM a\n",
            1,
            "invalid escape token 'x' does not match ` or \\",
        ),
        (
            "FROM a\nRUN x\nRUN <<EOF\nnever ends\n",
            3,
            "unterminated heredoc: no line \"EOF\" ends it",
        ),
        ("FROM a\nENV A\n", 2, "ENV must have two arguments"),
        (
            "FROM a\nCMD [\"a\", 1]\n",
            2,
            "when using JSON array syntax, arrays must be comprised of strings only",
        ),
    ];
    for (source, line, message) in cases {
        assert_eq!(error(source), (*line, message.to_string()), "{source:?}");
    }
    // Syntax errors anywhere come before instruction errors (BuildKit's two passes).
    assert_eq!(error("FROM a\nRUNN x\nENV A\n").0, 3);
    let err = parse("FROM a\nRUNN x\n")
        .unwrap_err()
        .in_file("app/Dockerfile.dev");
    assert_eq!(
        err.to_string(),
        "app/Dockerfile.dev:2: unknown instruction: RUNN (did you mean RUN?)"
    );
}

#[test]
fn keywords_are_case_insensitive_and_flags_ignored_where_buildkit_ignores_them() {
    let got = instructions(
        "FROM a\nrun echo\nRuN echo\nSTOPSIGNAL --x 9\nHEALTHCHECK --x=1 NONE\nARG --x y\n",
    );
    assert_eq!(got.len(), 5);
    assert_eq!(got[2], Instruction::StopSignal("9".into()));
    assert_eq!(got[3], Instruction::Healthcheck(Healthcheck::None));
    assert_eq!(
        got[4],
        Instruction::Arg(vec![ArgDecl {
            name: "y".into(),
            default: None
        }])
    );
}

/// BuildKit's `dispatchRun` heredoc handling, through [`Run::script`].
#[test]
fn run_scripts_from_heredocs() {
    let got = instructions(
        "FROM a\nRUN [\"a\", \"b\"]\nRUN echo hi\nRUN <<EOF\necho one\nEOF\nRUN <<-EOF\n\t#!/usr/bin/env python3\n\tprint(1)\nEOF\nRUN python3 <<EOF > out\nprint(2)\nEOF\n",
    );
    let scripts: Vec<RunScript> = got
        .iter()
        .map(|i| match i {
            Instruction::Run(run) => run.script(),
            other => panic!("{other:?}"),
        })
        .collect();
    let argv = ["a".to_string(), "b".to_string()];
    assert_eq!(
        scripts,
        [
            RunScript::Exec(&argv),
            RunScript::Shell("echo hi".into()),
            RunScript::Shell("echo one\n".into()),
            RunScript::File {
                name: "EOF",
                content: "#!/usr/bin/env python3\nprint(1)\n"
            },
            RunScript::Shell("python3 <<EOF > out\nprint(2)\nEOF".into()),
        ]
    );
}
