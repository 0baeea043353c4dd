use keel_validation::Validate;

#[derive(Validate)]
struct Signup {
    #[validate(length(unit = "chars"))]
    name: String,
    #[validate(email(allow_ip = true))]
    email: String,
    #[validate(required)]
    nickname: String,
}

fn main() {}
