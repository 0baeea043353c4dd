//! The OpenAPI schemas tell the truth about the rules they name: every string a schema
//! accepts passes the normalizers and rules (a schema-valid request is never rejected),
//! and the values the rules refuse for reasons a schema can state are refused by it.
#![cfg(all(feature = "utoipa", feature = "derive", feature = "html"))]

use keel_validation::openapi::{self, EmailAddress, Password, PersonName};
use keel_validation::rules::password::is_common_password;
use keel_validation::{PasswordPolicy, Validate};
use proptest::prelude::*;
use regex::Regex;
use serde_json::Value;
use utoipa::{PartialSchema, ToSchema};

#[derive(Validate)]
struct Name {
    #[normalize(strip_html, collapse_whitespace, title_case)]
    #[validate(length(min = 2, max = 50))]
    name: String,
}

#[derive(Validate)]
struct Secret {
    #[validate(password)]
    password: String,
}

/// A JSON Schema string check: `pattern`, `minLength` and `maxLength` (code points).
struct StringSchema {
    pattern: Option<Regex>,
    min: usize,
    max: usize,
}

impl StringSchema {
    fn of<T: PartialSchema>() -> Result<Self, Box<dyn std::error::Error>> {
        let v = serde_json::to_value(T::schema())?;
        assert_eq!(v["type"], "string", "{v}");
        let bound = |key: &str| v[key].as_u64().map(usize::try_from).transpose();
        Ok(Self {
            pattern: v["pattern"].as_str().map(Regex::new).transpose()?,
            min: bound("minLength")?.unwrap_or(0),
            max: bound("maxLength")?.unwrap_or(usize::MAX),
        })
    }

    fn accepts(&self, s: &str) -> bool {
        let n = s.chars().count();
        (self.min..=self.max).contains(&n) && self.pattern.as_ref().is_none_or(|p| p.is_match(s))
    }
}

fn name_rule_accepts(s: &str) -> bool {
    Name { name: s.to_owned() }.clean().is_ok()
}

fn password_rule_accepts(s: &str) -> bool {
    Secret {
        password: s.to_owned(),
    }
    .clean()
    .is_ok()
}

/// Characters that stress the name rules: markup, entities, every kind of whitespace,
/// controls, case mappings that change length, combining marks, other scripts.
fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range('a', 'z'),
        2 => prop::char::range('A', 'Z'),
        2 => Just(' '),
        1 => prop::sample::select(vec![
            '\t', '\n', '\u{0b}', '\u{0c}', '\r', '\u{85}', '\u{a0}', '\u{1680}', '\u{2003}',
            '\u{2028}', '\u{3000}', '\u{feff}', '\u{200b}', '\0', '\u{1f}', '\u{7f}', '\u{9f}',
            '<', '>', '&', '#', ';', '/', '\'', '-', '"', 'ß', 'ŉ', 'ǆ', 'İ', 'ﬃ', '\u{301}',
            'é', 'Ж', '李', '🙂',
        ]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn person_name_schema_valid_is_accepted(chars in prop::collection::vec(name_char(), 0..60)) {
        let s: String = chars.into_iter().collect();
        let schema = StringSchema::of::<PersonName>().unwrap();
        if schema.accepts(&s) {
            prop_assert!(name_rule_accepts(&s), "schema-valid {s:?} rejected");
        }
    }

    #[test]
    fn password_schema_valid_is_accepted(s in "[\\x00-\\x7f]{0,140}") {
        // ASCII (NFKC leaves it alone); the common list and the account's own e-mail or
        // name are the rules the description names instead.
        let schema = StringSchema::of::<Password>().unwrap();
        if schema.accepts(&s) && !is_common_password(&s) {
            prop_assert!(password_rule_accepts(&s), "schema-valid {s:?} rejected");
        }
    }
}

#[test]
fn person_name_accepts_and_refuses_like_the_rule() {
    let schema = StringSchema::of::<PersonName>().unwrap();
    for ok in [
        "Ada",
        "ada  LOVELACE",
        " Mary-Jane O'Neil ",
        "José da Silva",
        "李小龍",
        "Jo",
        "\u{a0}Ada\u{a0}",
        &"x".repeat(50),
    ] {
        assert!(schema.accepts(ok), "schema refuses {ok:?}");
        assert!(name_rule_accepts(ok), "rule refuses {ok:?}");
    }
    // Refused by both: too short (also once whitespace is collapsed), too long, controls.
    for bad in [
        "",
        "A",
        " A ",
        "   ",
        "a \u{3000}",
        &"x".repeat(51),
        "Ada\0",
        "A\u{1f}da",
    ] {
        assert!(!schema.accepts(bad), "schema accepts {bad:?}");
        assert!(!name_rule_accepts(bad), "rule accepts {bad:?}");
    }
    // Refused by the schema only: markup and references, which cleaning rewrites, and
    // U+0085, a C1 control that is also whitespace (collapsed to a space).
    for cleaned in ["<b>Ada</b>", "Tom & Jerry", "&#1;Ada", "a>b", "Ad\u{85}a"] {
        assert!(!schema.accepts(cleaned), "schema accepts {cleaned:?}");
    }
    // `&#1;` is a control character once decoded: the rule refuses it too.
    assert!(!name_rule_accepts("&#1;Ada"));
}

#[test]
fn password_accepts_and_refuses_like_the_rule() {
    let schema = StringSchema::of::<Password>().unwrap();
    for ok in [
        "correct horse battery staple",
        "Tr0ub4dor&3 longer",
        &"k".repeat(128),
    ] {
        assert!(schema.accepts(ok), "schema refuses {ok:?}");
        assert!(password_rule_accepts(ok), "rule refuses {ok:?}");
    }
    for bad in [
        "short",
        &"k".repeat(129),
        "correct\nhorse battery",
        "tab\there!!",
    ] {
        assert!(!schema.accepts(bad), "schema accepts {bad:?}");
        assert!(!password_rule_accepts(bad), "rule accepts {bad:?}");
    }
}

#[test]
fn schemas_describe_their_rules() {
    let v = |s: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
        serde_json::to_value(s).unwrap()
    };
    let email = v(EmailAddress::schema());
    assert_eq!(email["format"], "email");
    assert_eq!(email["maxLength"], 254);
    assert!(email["description"].as_str().unwrap().contains("254 bytes"));
    let pw = v(Password::schema());
    assert_eq!(
        (pw["minLength"].as_u64(), pw["maxLength"].as_u64()),
        (Some(8), Some(128))
    );
    assert_eq!(pw["format"], "password");
    let text = pw["description"].as_str().unwrap();
    assert!(
        text.contains("most common") && text.contains("e-mail address or name"),
        "{text}"
    );
    assert!(!text.contains("upper-case"), "{text}");
    // A custom policy is described as it is.
    let strict = PasswordPolicy::composition()
        .min_chars(12)
        .reject_user_info(false);
    let strict: Value = serde_json::to_value(openapi::password(&strict)).unwrap();
    assert_eq!(strict["minLength"], 12);
    let text = strict["description"].as_str().unwrap();
    assert!(
        text.contains("upper-case") && !text.contains("e-mail address"),
        "{text}"
    );
    // Component names, and the examples are valid values.
    assert_eq!(
        [PersonName::name(), EmailAddress::name(), Password::name()],
        ["PersonName", "EmailAddress", "Password"]
    );
    assert!(name_rule_accepts(
        v(PersonName::schema())["examples"][0].as_str().unwrap()
    ));
    assert!(password_rule_accepts(pw["examples"][0].as_str().unwrap()));
    let custom: Value = serde_json::to_value(openapi::person_name(3, 20)).unwrap();
    assert_eq!(
        (custom["minLength"].as_u64(), custom["maxLength"].as_u64()),
        (Some(3), Some(20))
    );
    assert!(custom["pattern"].as_str().unwrap().ends_with("{3}$"));
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct Signup {
    /// Used to greet you.
    #[schema(value_type = PersonName)]
    first_name: String,
    /// Optional.
    #[schema(value_type = Option<PersonName>)]
    nickname: Option<String>,
}

#[test]
fn value_type_references_the_component_and_keeps_the_field_description() {
    let v = serde_json::to_value(Signup::schema()).unwrap();
    let first = &v["properties"]["first_name"];
    assert_eq!(first["$ref"], "#/components/schemas/PersonName");
    assert_eq!(first["description"], "Used to greet you.");
    assert_eq!(v["required"], serde_json::json!(["first_name"]));
    // `Option<_>` documents `null` as accepted.
    let nick = v["properties"]["nickname"].to_string();
    assert!(
        nick.contains(r#""type":"null""#) && nick.contains("PersonName"),
        "{nick}"
    );
    // The referenced component is collected with the body.
    let mut schemas = Vec::new();
    Signup::schemas(&mut schemas);
    assert!(schemas.iter().any(|(name, _)| name == "PersonName"));
}
