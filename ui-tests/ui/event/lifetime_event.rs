use staticbus::prelude::*;

#[derive(StaticEvent)]
struct UserRenamed<'a> {
    new_name: &'a str,
}

fn main() {}
