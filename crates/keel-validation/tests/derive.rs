//! The derive macro end to end: paths, renames, ordering, normalization.

use keel_validation::{Path, Sensitive, Validate, ValidationErrors, Violation};
use serde::Deserialize;

fn fields(e: &ValidationErrors) -> Vec<(String, String)> {
    e.iter()
        .map(|f| (f.field.clone(), f.code.to_string()))
        .collect()
}

#[derive(Debug, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
struct Address {
    #[normalize(trim, title_case)]
    #[validate(length(min = 2, max = 50))]
    city_name: String,
    #[serde(rename = "zip")]
    #[validate(regex = r"^\d{5}$")]
    postal_code: String,
}

#[derive(Debug, Deserialize, Validate)]
struct Item {
    #[validate(
        length(min = 1, max = 8),
        regex(pattern = "^[A-Z0-9]+$", message = "must be upper-case SKU")
    )]
    sku: String,
    #[validate(range(min = 1, max = 99))]
    qty: u32,
}

fn check_not_reserved(s: &str) -> Result<(), Violation> {
    if s == "admin" {
        Err(Violation::new("reserved", "is reserved"))
    } else {
        Ok(())
    }
}

fn cross_check(o: &Order, path: &Path<'_>, errors: &mut ValidationErrors) {
    if o.items.len() > 1 && o.coupon.is_some() {
        errors.add(
            &path.key("coupon"),
            Violation::new("coupon_single_item", "applies to one item only"),
        );
    }
}

#[derive(Debug, Deserialize, Validate)]
#[validate(custom = cross_check)]
struct Order {
    #[normalize(trim, lowercase)]
    #[validate(username, custom = check_not_reserved)]
    user: String,
    #[validate(nested)]
    address: Address,
    #[validate(min_items = 1, max_items = 3, nested)]
    items: Vec<Item>,
    #[validate(each(length(max = 5)))]
    tags: Vec<String>,
    #[validate(required, length(min = 3))]
    coupon: Option<String>,
    #[validate(one_of("standard", "express"))]
    shipping: String,
    #[normalize(collapse_whitespace)]
    #[validate(length(max = 200))]
    note: Option<String>,
}

fn order() -> Order {
    Order {
        user: " Ada_1815 ".into(),
        address: Address {
            city_name: " london ".into(),
            postal_code: "12345".into(),
        },
        items: vec![Item {
            sku: "AB1".into(),
            qty: 2,
        }],
        tags: vec!["gift".into()],
        coupon: Some("SAVE".into()),
        shipping: "express".into(),
        note: Some("  leave   at door ".into()),
    }
}

#[test]
fn valid_value_is_normalized() {
    let o = order().clean().unwrap();
    assert_eq!(o.user, "ada_1815");
    assert_eq!(o.address.city_name, "London");
    assert_eq!(o.note.as_deref(), Some("leave at door"));
}

#[test]
fn all_errors_in_declaration_order_with_renamed_paths() {
    let mut o = order();
    o.user = "admin".into();
    o.address.city_name = "x".into();
    o.address.postal_code = "1234".into();
    o.items = vec![
        Item {
            sku: "ok".into(),
            qty: 0,
        },
        Item {
            sku: "GOOD".into(),
            qty: 1,
        },
        Item {
            sku: "TOOLONGSKU".into(),
            qty: 100,
        },
    ];
    o.tags = vec!["fine".into(), "toolong".into()];
    o.coupon = None;
    o.shipping = "drone".into();
    o.note = Some("bad\0".into());
    let e = o.validate().unwrap_err();
    assert_eq!(
        fields(&e),
        [
            ("user", "reserved"),
            ("address.cityName", "too_short"),
            ("address.zip", "pattern_mismatch"),
            ("items[0].sku", "pattern_mismatch"),
            ("items[0].qty", "too_small"),
            ("items[2].sku", "too_long"),
            ("items[2].qty", "too_large"),
            ("tags[1]", "too_long"),
            ("coupon", "required"),
            ("shipping", "not_one_of"),
            ("note", "control_chars"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(e.as_slice()[3].message, "must be upper-case SKU");
    assert_eq!(e.as_slice()[3].pointer, "/items/0/sku");
    // Run to run, the same bytes.
    let again = o.validate().unwrap_err();
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}

#[test]
fn struct_level_rule_runs_after_fields() {
    let mut o = order();
    o.items.push(Item {
        sku: "X".into(),
        qty: 1,
    });
    let e = o.clean().unwrap_err();
    assert_eq!(
        fields(&e),
        [("coupon".to_owned(), "coupon_single_item".to_owned())]
    );
}

#[derive(Deserialize, Validate, keel_validation::RedactedDebug)]
struct Signup {
    #[normalize(email)]
    #[validate(email)]
    email: String,
    #[validate(password(context(email)))]
    password: String,
    #[validate(must_match(other = password))]
    password_confirmation: String,
    #[validate(sensitive, length(min = 6, max = 6))]
    otp: String,
    #[validate(password)]
    pin: Sensitive<String>,
}

#[test]
fn password_confirmation_and_redaction() {
    let s = Signup {
        email: "Ada@Example.com".into(),
        password: "ada@example.com".into(),
        password_confirmation: "nope".into(),
        otp: "123".into(),
        pin: Sensitive::new("correct horse battery".into()),
    };
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("ada@example.com\"") || dbg.contains("email: \"Ada@Example.com\""));
    assert!(!dbg.contains("nope") || dbg.contains("password_confirmation"));
    assert!(!dbg.contains("123"), "{dbg}");
    assert!(dbg.contains(r#"password: [REDACTED]"#), "{dbg}");
    let e = s.clean().unwrap_err();
    assert_eq!(
        fields(&e),
        [
            ("password", "password_matches_user_info"),
            ("password_confirmation", "mismatch"),
            ("otp", "too_short"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let json = serde_json::to_string(&e).unwrap();
    assert!(!json.contains("ada@example.com"));
}

#[derive(Validate)]
struct Email(
    #[normalize(email)]
    #[validate(email)]
    String,
);

#[test]
fn newtype_validates_at_the_root() {
    let e = Email("nope".into()).validate().unwrap_err();
    assert_eq!(e.as_slice()[0].field, "");
    assert_eq!(Email(" A@B.CO ".into()).clean().unwrap().0, "a@b.co");
}

fn not_unknown(s: &str) -> Result<(), Violation> {
    if s == "Unknown" {
        Err(Violation::new("reserved", "is reserved"))
    } else {
        Ok(())
    }
}

/// A merge-patch body: every field absent, `null` or a value.
#[derive(Debug, Deserialize, Validate)]
struct Patch {
    #[serde(default, deserialize_with = "keel_validation::serde::double_option")]
    #[normalize(phone)]
    #[validate(phone)]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "keel_validation::serde::double_option")]
    #[normalize(collapse_whitespace, title_case)]
    #[validate(length(min = 2, max = 5), custom = not_unknown)]
    nickname: Option<Option<String>>,
    #[serde(default, deserialize_with = "keel_validation::serde::double_option")]
    #[validate(required, range(max = 10))]
    level: Option<Option<u8>>,
}

fn patch(json: &str) -> Result<Patch, serde_json::Error> {
    serde_json::from_str(json)
}

#[test]
fn three_state_fields_absent_null_and_value() {
    // Absent: `None`, no rule runs (but `required` asks for presence).
    let p = patch("{}").unwrap();
    assert_eq!((&p.phone, &p.nickname, p.level), (&None, &None, None));
    assert_eq!(
        fields(&p.validate().unwrap_err()),
        [("level".to_owned(), "required".to_owned())]
    );
    // `null`: `Some(None)`, present, so `required` is met; the value rules are skipped.
    let p = patch(r#"{"phone": null, "nickname": null, "level": null}"#)
        .unwrap()
        .clean()
        .unwrap();
    assert_eq!(
        (p.phone, p.nickname, p.level),
        (Some(None), Some(None), Some(None))
    );
    // A value: normalized, then validated as a plain field would be.
    let p = patch(r#"{"phone": "+44 20 7183 8750", "nickname": "  ada  ", "level": 3}"#).unwrap();
    let p = p.clean().unwrap();
    assert_eq!(p.phone, Some(Some("+442071838750".to_owned())));
    assert_eq!(p.nickname, Some(Some("Ada".to_owned())));
    assert_eq!(p.level, Some(Some(3)));
}

#[test]
fn three_state_fields_report_the_inner_value_errors() {
    let p = patch(r#"{"phone": "12", "nickname": "a\u0000", "level": 11}"#).unwrap();
    assert_eq!(
        fields(&p.clean().unwrap_err()),
        [
            ("phone", "invalid_phone"),
            ("nickname", "control_chars"),
            ("level", "too_large"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    // Custom rules receive the inner value (`&String`), after normalization.
    let p = patch(r#"{"nickname": "unknown", "level": 1}"#).unwrap();
    assert_eq!(
        fields(&p.clean().unwrap_err()),
        [
            ("nickname".to_owned(), "too_long".to_owned()),
            ("nickname".to_owned(), "reserved".to_owned())
        ]
    );
    // Anything but `null` or a `T` is a deserialization error, not a silent "absent".
    assert!(serde_json::from_str::<Patch>(r#"{"level": "x"}"#).is_err());
}

/// `RedactedDebug` on a plain record (no `Validate`): personal data and hashes marked
/// `sensitive` print as `[REDACTED]`, whatever their type.
#[derive(keel_validation::RedactedDebug)]
#[allow(dead_code)]
struct Record {
    id: u32,
    #[validate(sensitive)]
    email: String,
    #[validate(sensitive)]
    phone_encrypted: Option<Vec<u8>>,
}

#[test]
fn redacted_debug_on_a_record() {
    let r = Record {
        id: 7,
        email: "ada@example.org".into(),
        phone_encrypted: Some(vec![1, 2, 3]),
    };
    assert_eq!(
        format!("{r:?}"),
        "Record { id: 7, email: [REDACTED], phone_encrypted: [REDACTED] }"
    );
}
