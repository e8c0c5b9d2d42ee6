// Every macro works through its full path, without the prelude, and with `crate = path`.

#[derive(staticbus::StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(Default)]
struct Audit {
    seen: std::sync::atomic::AtomicU64,
}

#[staticbus::plugin]
impl Audit {
    #[staticbus::on]
    fn placed(&self, e: &OrderPlaced) {
        self.seen.fetch_add(e.id, std::sync::atomic::Ordering::Relaxed);
    }
}

#[staticbus::handler]
fn log(_: &OrderPlaced) {}

// An explicit runtime path, for code that re-exports staticbus under another name.
#[staticbus::handler(crate = staticbus, priority = -1)]
fn log_again(_: &OrderPlaced) {}

fn main() {
    let system = staticbus::EventSystem::builder().build().unwrap();
    assert_eq!(system.emit(&OrderPlaced { id: 3 }).handled(), 3);
    let audit = system.plugin::<Audit>().unwrap();
    assert_eq!(audit.seen.load(std::sync::atomic::Ordering::Relaxed), 3);
}
