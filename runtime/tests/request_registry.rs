//! A request type must have exactly one responder in the binary: none, or several, is a
//! `build()` error naming them.

use staticbus::{Error, EventSystem, RegistryProblem, plugin};

#[derive(staticbus::Request)]
#[request(response = u32)]
struct Orphan;

#[derive(staticbus::Request)]
#[request(response = u32)]
struct Contested;

#[derive(Default)]
struct Left;

#[plugin(name = "left")]
impl Left {
    #[responds]
    fn answer(&self, _: Contested) -> Result<u32, std::io::Error> {
        Ok(1)
    }
}

#[derive(Default)]
struct Right;

#[plugin(name = "right")]
impl Right {
    #[responds]
    fn answer(&self, _: Contested) -> Result<u32, std::io::Error> {
        Ok(2)
    }
}

#[test]
fn none_and_several_responders_are_build_errors() {
    let err = EventSystem::builder().build().unwrap_err();
    let Error::Registry(problems) = &err else {
        panic!("{err}")
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        matches!(&problems[0], RegistryProblem::SeveralResponders { request: "Contested", responders }
            if responders.len() == 2 && responders[0].ends_with("Left::answer") && responders[1].ends_with("Right::answer")),
        "{problems:?}"
    );
    assert!(
        matches!(
            &problems[1],
            RegistryProblem::NoResponder {
                request: "Orphan",
                ..
            }
        ),
        "{problems:?}"
    );
    let text = err.to_string();
    assert!(text.contains("has no responder"), "{text}");
    assert!(text.contains("has 2 responders"), "{text}");
}
