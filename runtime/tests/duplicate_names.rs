//! Two event types with one name, and two plugins with one name, make `build()` fail with an
//! error naming both types. Its own test binary: the conflicts poison the whole registry.

use staticbus::prelude::*;
use staticbus::{RegistryProblem, registry};

mod billing {
    use super::*;

    #[derive(StaticEvent)]
    #[event(name = "invoice.sent")]
    pub(crate) struct InvoiceSent;

    #[derive(Default)]
    pub(crate) struct Mailer;

    #[plugin(name = "mailer")]
    impl Mailer {}
}

mod crm {
    use super::*;

    #[derive(StaticEvent)]
    #[event(name = "invoice.sent")]
    pub(crate) struct InvoiceSent;

    #[derive(Default)]
    pub(crate) struct Mailer;

    #[plugin(name = "mailer")]
    impl Mailer {}
}

#[test]
fn build_names_both_types_of_a_duplicate_event_name() {
    let err = EventSystem::builder().build().unwrap_err();
    let Error::Registry(problems) = &err else {
        panic!("unexpected: {err}")
    };
    assert_eq!(
        problems[0],
        RegistryProblem::DuplicateEventName {
            name: "invoice.sent",
            first: "duplicate_names::billing::InvoiceSent",
            second: "duplicate_names::crm::InvoiceSent",
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("duplicate_names::billing::InvoiceSent"),
        "{text}"
    );
    assert!(text.contains("duplicate_names::crm::InvoiceSent"), "{text}");
    assert!(text.contains("#[event(name"), "{text}");
}

#[test]
fn build_names_both_types_of_a_duplicate_plugin_name() {
    let err = EventSystem::builder().build().unwrap_err();
    let Error::Registry(problems) = &err else {
        panic!("unexpected: {err}")
    };
    assert_eq!(problems.len(), 2, "{err}");
    assert_eq!(
        problems[1],
        RegistryProblem::DuplicatePluginName {
            name: "mailer",
            first: "duplicate_names::billing::Mailer",
            second: "duplicate_names::crm::Mailer",
        }
    );
    assert_eq!(registry().problems(), problems.as_slice());
}
