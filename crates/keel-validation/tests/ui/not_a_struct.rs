use keel_validation::Validate;

#[derive(Validate)]
enum Role {
    Admin,
    User,
}

#[derive(Validate)]
struct Confirm {
    password: String,
    #[validate(must_match(other = pasword))]
    confirmation: String,
}

fn main() {}
