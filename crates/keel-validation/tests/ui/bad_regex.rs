use keel_validation::Validate;

#[derive(Validate)]
struct Signup {
    #[validate(regex = "^[a-z+$")]
    name: String,
}

fn main() {}
