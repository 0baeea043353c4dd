#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use super::*;

fn reader<'a>(vars: &'a [(&'a str, &'a str)]) -> EnvReader<'a> {
    let map: HashMap<&str, &str> = vars.iter().copied().collect();
    EnvReader::from_lookup(move |var| map.get(var).map(|v| (*v).to_owned()))
}

/// The messages recorded by `read` on `vars`.
fn check(vars: &[(&str, &str)], read: impl FnOnce(&mut EnvReader<'_>), expected: &[&str]) {
    let mut env = reader(vars);
    read(&mut env);
    let got: Vec<&str> = env.problems().iter().map(EnvProblem::message).collect();
    assert_eq!(got, expected);
}

#[test]
fn values_are_trimmed_and_empty_means_unset() {
    let mut env = reader(&[("A", "  x  "), ("B", "   "), ("C", "")]);
    assert_eq!(env.optional("A").as_deref(), Some("x"));
    assert_eq!(env.optional("B"), None);
    assert_eq!(env.or("C", "dflt"), "dflt");
    assert_eq!(env.or("MISSING", "dflt"), "dflt");
    assert!(env.finish(Some(())).is_ok());
}

#[test]
fn required_names_the_variable_and_hint() {
    check(
        &[("SET", "v")],
        |env| {
            assert_eq!(env.required("SET", "").as_deref(), Some("v"));
            assert_eq!(env.required("GONE", " (a URL)"), None);
            assert_eq!(env.required("ALSO", ": run setup"), None);
        },
        &["GONE is not set (a URL)", "ALSO is not set: run setup"],
    );
}

#[test]
fn lists_skip_empty_entries() {
    let mut env = reader(&[("L", " a, b ,,c, "), ("E", " , ")]);
    assert_eq!(env.list("L"), ["a", "b", "c"]);
    assert!(env.list("E").is_empty());
    assert!(env.list("UNSET").is_empty());
}

#[test]
fn numbers_have_ranges_and_never_quote_the_value() {
    check(
        &[
            ("OK", "7"),
            ("LOW", "0"),
            ("HIGH", "65"),
            ("NEG", "-1"),
            ("TXT", "s3cr3t"),
        ],
        |env| {
            assert_eq!(env.number("OK", 1..=64_u32, "a number"), Some(7));
            assert_eq!(env.number("LOW", 1..=64_u32, "a number"), None);
            assert_eq!(env.number("HIGH", 1..=64_u32, "a number"), None);
            assert_eq!(env.number("NEG", 1..=64_usize, "a number"), None);
            assert_eq!(env.number("TXT", 1..=64_u8, "a count"), None);
            assert_eq!(env.number("UNSET", 1..=64_u8, "a count"), None);
        },
        &[
            "LOW must be a number in 1..=64",
            "HIGH must be a number in 1..=64",
            "NEG must be a number in 1..=64",
            "TXT must be a count in 1..=64",
        ],
    );
}

#[test]
fn durations_fall_back_to_their_default() {
    let mut env = reader(&[
        ("S", "30"),
        ("M", "250"),
        ("BAD", "10s"),
        ("BIG", "18446744073709551616"),
    ]);
    assert_eq!(env.secs("S", 10, 1..=60), Duration::from_secs(30));
    assert_eq!(env.millis("M", 10, 100..=1000), Duration::from_millis(250));
    assert_eq!(env.secs("UNSET", 10, 1..=60), Duration::from_secs(10));
    assert_eq!(env.secs("BAD", 10, 1..=60), Duration::from_secs(10));
    assert_eq!(
        env.millis("BIG", 500, 100..=1000),
        Duration::from_millis(500)
    );
    let err = env.finish(Some(())).unwrap_err();
    assert_eq!(
        err.messages().collect::<Vec<_>>(),
        [
            "BAD must be a whole number of seconds in 1..=60",
            "BIG must be a whole number of milliseconds in 100..=1000",
        ]
    );
}

#[test]
fn flags_and_choices() {
    check(
        &[
            ("T", "TRUE"),
            ("Y", "yes"),
            ("Z", "0"),
            ("BAD", "maybe"),
            ("LOG", "Pretty"),
            ("FMT", "xml"),
        ],
        |env| {
            assert!(env.flag("T", false));
            assert!(env.flag("Y", false));
            assert!(!env.flag("Z", true));
            assert!(env.flag("UNSET", true));
            // A refused flag keeps its default; the problem fails `finish`.
            assert!(!env.flag("BAD", false));
            let choices = [("json", 1), ("pretty", 2), ("compact", 3)];
            assert_eq!(env.one_of("LOG", &choices, 1), 2);
            assert_eq!(env.one_of("FMT", &choices, 1), 1);
            assert_eq!(env.one_of("FMT", &choices[..2], 1), 1);
            assert_eq!(env.one_of("FMT", &choices[..1], 1), 1);
        },
        &[
            "BAD `maybe` must be true or false",
            "FMT `xml` must be json, pretty or compact",
            "FMT `xml` must be json or pretty",
            "FMT `xml` must be json",
        ],
    );
}

#[test]
fn parse_quotes_and_parse_with_does_not() {
    check(
        &[
            ("ADDR", "127.0.0.1:80"),
            ("BAD", "nowhere"),
            ("KEY", "hunter2"),
        ],
        |env| {
            let addr: Option<std::net::SocketAddr> = env.parse("ADDR", "an address");
            assert_eq!(addr.unwrap().port(), 80);
            assert_eq!(env.parse::<std::net::SocketAddr>("BAD", "an address"), None);
            assert_eq!(env.parse::<u8>("UNSET", "a byte"), None);
            let key = env.parse_with("KEY", |_| Err::<(), _>("not base64".to_owned()));
            assert_eq!(key, None);
            assert_eq!(
                env.parse_with("ADDR", |v| Ok::<_, String>(v.len())),
                Some(12)
            );
            let port = env.parse_with("KEY", str::parse::<u16>);
            assert_eq!(port, None);
        },
        &[
            "BAD `nowhere` must be an address",
            "KEY: not base64",
            "KEY: invalid digit found in string",
        ],
    );
}

#[test]
fn schemes() {
    check(
        &[],
        |env| {
            let pg = ["postgres", "postgresql"];
            let ok = env.scheme("DB", "postgresql://u:pw@h/d".to_owned(), &pg);
            assert!(ok.is_some());
            assert_eq!(env.scheme("DB", "mysql://u:pw@h/d".to_owned(), &pg), None);
            // A prefix of a scheme name is not the scheme.
            assert_eq!(env.scheme("DB", "postgresx://h".to_owned(), &pg), None);
            assert_eq!(env.scheme("R", "redis:/x".to_owned(), &["redis"]), None);
        },
        &[
            "DB must start with postgres:// or postgresql://",
            "DB must start with postgres:// or postgresql://",
            "R must start with redis://",
        ],
    );
}

#[test]
fn quoted_values_cannot_forge_lines_or_flood_the_report() {
    let long = "x".repeat(10_000);
    let vars = [
        ("NL", "a\n  - FAKE problem"),
        ("LONG", long.as_str()),
        ("TICK", "a`b"),
    ];
    let mut env = reader(&vars);
    env.flag("NL", false);
    env.flag("LONG", false);
    env.flag("TICK", false);
    let err = env.finish(Some(())).unwrap_err();
    let text = err.to_string();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert_eq!(
        err.problems()[0].message(),
        "NL `a\\n  - FAKE problem` must be true or false"
    );
    let long_message = err.problems()[1].message();
    assert!(long_message.len() < 100, "{long_message}");
    assert!(long_message.contains(&format!("`{}…`", "x".repeat(MAX_QUOTED_CHARS))));
    assert_eq!(
        err.problems()[2].message(),
        "TICK `a'b` must be true or false"
    );
}

#[test]
fn every_problem_is_kept_in_order_with_its_variable() {
    let mut env = reader(&[("B", "x")]);
    env.required("A", "");
    env.flag("B", false);
    env.problem("C", "and D are both set");
    assert_eq!(env.refuse::<u8>("D", "is wrong"), None);
    let err = env.finish(Some(1)).unwrap_err();
    let vars: Vec<&str> = err.problems().iter().map(EnvProblem::var).collect();
    assert_eq!(vars, ["A", "B", "C", "D"]);
    assert_eq!(
        err.to_string(),
        "invalid configuration:\n  - A is not set\n  - B `x` must be true or false\n  \
         - C and D are both set\n  - D is wrong"
    );
    assert_eq!(err.clone().into_problems().len(), 4);
}

#[test]
fn finish_without_a_value_is_never_ok() {
    let env = reader(&[]);
    let err = env.finish(None::<()>).unwrap_err();
    assert_eq!(err.problems().len(), 1);
    assert_eq!(err.problems()[0].var(), "");
}

#[test]
fn debug_shows_problems_not_values() {
    let mut env = reader(&[("SECRET", "hunter2-hunter2")]);
    env.required("SECRET", "");
    env.number("SECRET", 1..=2_u8, "a number");
    let debug = format!("{env:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("SECRET must be a number"), "{debug}");
}

/// A non-UTF-8 value is a problem, not "unset". `set_var` is unsafe (and the crate
/// forbids unsafe), so the test re-runs itself as a child process with the variable set.
#[cfg(unix)]
#[test]
fn process_env_reports_non_utf8_values() {
    use std::os::unix::ffi::OsStrExt as _;
    const VAR: &str = "KEEL_VALIDATION_ENV_TEST_NOT_UTF8";
    const CHILD: &str = "KEEL_VALIDATION_ENV_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let mut env = EnvReader::from_process_env();
        assert_eq!(env.required(VAR, ""), None);
        assert_eq!(env.or("KEEL_VALIDATION_ENV_TEST_UNSET", "d"), "d");
        let err = env.finish(Some(())).unwrap_err();
        let messages: Vec<&str> = err.messages().collect();
        assert_eq!(messages, [format!("{VAR} is not valid UTF-8")]);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "env::tests::process_env_reports_non_utf8_values"])
        .env(CHILD, "1")
        .env(VAR, std::ffi::OsStr::from_bytes(b"on\xff"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The child ran exactly this test (not zero tests) and it passed.
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(
        out.status.success(),
        "the child's assertions failed: {stdout}"
    );
}
