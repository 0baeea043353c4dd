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
