use keel_validation::Validate;

#[derive(Validate)]
struct Signup {
    #[validate(lenght(min = 1))]
    name: String,
}

fn main() {}
