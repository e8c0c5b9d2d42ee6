//! `require_plugins` turns a plugin the linker dropped into a start-up error.

use staticbus::prelude::*;

#[derive(Default)]
struct Present;

#[plugin(name = "present")]
impl Present {}

#[test]
fn required_and_linked_builds() {
    let system = EventSystem::builder()
        .require_plugins(["present"])
        .build()
        .unwrap();
    assert!(system.plugin::<Present>().is_some());
}

#[test]
fn required_but_missing_fails_and_lists_what_is_linked() {
    let err = EventSystem::builder()
        .require_plugins(["present", "billing", "crm"])
        .build()
        .unwrap_err();
    let Error::MissingPlugins { missing, linked } = &err else {
        panic!("unexpected: {err}")
    };
    assert_eq!(missing, &["billing", "crm"]);
    assert_eq!(linked, &["present"]);
    assert!(err.to_string().contains("staticbus::link!"), "{err}");
}
