//! A bridge's options out of range are setup errors that name the option, never a panic
//! or an exhausted memory (against a real NATS server, which `start` does not reach then).

mod common;

use std::time::Duration;

use common::{NatsServer, nats, system};
use staticbus_bridge::{Bridge, BridgeError, Group};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_out_of_range_are_errors_naming_the_option() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let consumer = system();
    let group = || Group::new("g", "order.*");
    let cases: Vec<(&str, Group, (usize, usize))> = vec![
        (
            "Group::max_in_flight",
            group().max_in_flight(usize::MAX),
            (256, 4096),
        ),
        (
            "Group::max_in_flight",
            group().max_in_flight(65_537),
            (256, 4096),
        ),
        (
            "Group::ack_wait",
            group().ack_wait(Duration::ZERO),
            (256, 4096),
        ),
        (
            "Group::ack_wait",
            group().ack_wait(Duration::MAX),
            (256, 4096),
        ),
        ("Group", group().max_deliver(0), (256, 4096)),
        ("max_unacked", group(), (usize::MAX, 4096)),
        ("max_unacked", group(), (0, 4096)),
        ("max_unacked", group(), (256, 0)),
    ];
    for (option, group, (unacked, queue)) in cases {
        let error = Bridge::builder(&consumer, nats(&server).await)
            .export("order.*")
            .max_unacked(unacked, queue)
            .group(group)
            .start()
            .await
            .unwrap_err();
        match &error {
            BridgeError::InvalidOption { option: named, .. } => {
                assert_eq!(*named, option, "{error}");
            }
            other => panic!("{option}: expected InvalidOption, got {other:?}"),
        }
        assert!(!error.to_string().is_empty());
    }
    // At the limits, it starts.
    let bridge = Bridge::builder(&consumer, nats(&server).await)
        .max_unacked(65_536, 4096)
        .group(
            group()
                .max_in_flight(65_536)
                .ack_wait(Duration::from_millis(1)),
        )
        .start()
        .await
        .unwrap();
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_durations_out_of_range_are_errors_before_connecting() {
    use staticbus_bridge::nats::{Nats, NatsConfig};
    // No server is needed: the options are checked first.
    let url = "nats://127.0.0.1:1";
    let cases = [
        (
            "duplicate_window",
            NatsConfig::new(url).duplicate_window(Duration::MAX),
        ),
        (
            "publish_timeout",
            NatsConfig::new(url).publish_timeout(Duration::ZERO),
        ),
        ("heartbeat", NatsConfig::new(url).heartbeat(Duration::ZERO)),
        (
            "heartbeat",
            NatsConfig::new(url).heartbeat(Duration::from_secs(16)),
        ),
    ];
    for (option, config) in cases {
        let error = Nats::connect(config).await.unwrap_err();
        assert!(error.permanent, "{error}");
        assert!(error.to_string().contains(option), "{option}: {error}");
    }
}
