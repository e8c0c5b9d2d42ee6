//! A static value held in place or shared: moved, shared, downcast and dropped exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Received, StaticValue};
use crate::prelude::*;

/// Counts its drops in the counter it points to.
struct Drops(&'static AtomicUsize);

impl Drop for Drops {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Two words: held in place.
#[derive(StaticEvent)]
#[event(name = "bus.value.tests.small")]
struct Small {
    value: u64,
    _drops: Drops,
}

/// Larger than two words: shared from the start.
#[derive(StaticEvent)]
#[event(name = "bus.value.tests.large")]
struct Large {
    _padding: [u64; 8],
    _drops: Drops,
}

/// Over-aligned: shared, whatever its size.
#[derive(StaticEvent)]
#[event(name = "bus.value.tests.aligned")]
#[repr(align(32))]
struct Aligned {
    _byte: u8,
}

#[derive(StaticEvent, Debug, Clone, PartialEq)]
#[event(name = "bus.value.tests.other")]
struct Other(u64);

fn counter() -> &'static AtomicUsize {
    Box::leak(Box::new(AtomicUsize::new(0)))
}

#[test]
fn small_values_are_held_in_place_large_or_over_aligned_ones_shared() {
    let drops = counter();
    assert!(
        StaticValue::new(Small {
            value: 1,
            _drops: Drops(drops)
        })
        .is_inline()
    );
    assert!(StaticValue::new(Other(1)).is_inline());
    assert!(
        !StaticValue::new(Large {
            _padding: [0; 8],
            _drops: Drops(drops)
        })
        .is_inline()
    );
    assert!(!StaticValue::new(Aligned { _byte: 1 }).is_inline());
    assert_eq!(drops.load(Ordering::SeqCst), 2, "each dropped once");
}

#[test]
fn an_in_place_value_is_moved_out_once_and_not_dropped_again() {
    let drops = counter();
    let value = StaticValue::new(Small {
        value: 7,
        _drops: Drops(drops),
    });
    assert_eq!(value.desc().name(), "bus.value.tests.small");
    let received: Received<Small> = value.downcast::<Small>().ok().expect("its own type");
    assert!(!received.is_shared());
    assert_eq!(received.value, 7);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "moved, not dropped");
    let small = received.try_into_inner().ok().expect("owned");
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(small);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_wrong_downcast_gives_the_value_back_intact() {
    let drops = counter();
    let value = StaticValue::new(Small {
        value: 3,
        _drops: Drops(drops),
    });
    let Err(value) = value.downcast::<Other>() else {
        panic!("another type")
    };
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let back = value.downcast::<Small>().ok().expect("its own type");
    assert_eq!(back.value, 3);
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn sharing_moves_the_value_into_one_arc_that_every_holder_sees() {
    let drops = counter();
    let mut first = StaticValue::new(Small {
        value: 5,
        _drops: Drops(drops),
    });
    let second = first.share();
    assert!(!first.is_inline(), "moved into the Arc");
    let third = first.share();
    let (a, b, c) = (
        first.downcast::<Small>().ok().unwrap(),
        second.downcast::<Small>().ok().unwrap(),
        third.downcast::<Small>().ok().unwrap(),
    );
    assert!(a.is_shared() && Received::ptr_eq(&a, &b) && Received::ptr_eq(&b, &c));
    assert_eq!((a.value, b.value, c.value), (5, 5, 5));
    drop((a, b));
    assert_eq!(drops.load(Ordering::SeqCst), 0, "still held");
    let last = c.try_into_inner().ok().expect("the last holder");
    drop(last);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "dropped once, by its last holder"
    );
}

#[test]
fn the_dynamic_form_shares_the_value() {
    let mut value = StaticValue::new(Other(9));
    let dynamic = value.make_dynamic();
    assert_eq!(dynamic.topic().as_str(), "bus.value.tests.other");
    assert_eq!(dynamic.downcast_ref::<Other>(), Some(&Other(9)));
    let typed = value.downcast::<Other>().ok().unwrap();
    assert!(typed.is_shared(), "the payload holds it too");
    assert_eq!(Other::clone(&typed), Other(9));
    drop(dynamic);
    assert_eq!(typed.into_inner(), Other(9));
}

#[test]
fn received_reads_like_the_value() {
    let owned = StaticValue::new(Other(4)).downcast::<Other>().ok().unwrap();
    assert_eq!(owned, Other(4));
    assert_eq!(format!("{owned:?}"), "Other(4)");
    assert_eq!(*owned.into_arc(), Other(4));
    let shared: Received<Other> = Received::shared(Arc::new(Other(6)));
    assert_eq!(shared.as_ref(), &Other(6));
    assert_eq!(
        shared.try_into_inner().ok(),
        Some(Other(6)),
        "no other holder"
    );
}

#[test]
fn a_buffered_item_stays_three_words() {
    // Every push and receive moves one; an `Arc<DynamicEvent>` or a value of up to two words.
    assert_eq!(size_of::<StaticValue>(), 3 * size_of::<usize>());
    assert_eq!(size_of::<crate::bus::Item>(), 3 * size_of::<usize>());
}
