//! `watch_config(true)`: the configuration file watched with `notify`, each burst of changes
//! debounced into one [`reload_config`](EventSystem::reload_config) by a Tokio task.
//!
//! The file's directory is watched, not the file: editors save by writing another file and
//! renaming it over the old one, which a watch on the file itself would lose with the old
//! inode. Events are kept when they name the file and may have changed it (reads, which a
//! reload makes itself, are not). The task holds the system weakly, so that dropping its last
//! clone stops it (the stop signal it waits for lives in the system), as `shutdown` does.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, oneshot};

use crate::system::{Error, EventSystem, SystemHandle};

/// How long the file must stay quiet after a change before it is reloaded: an editor's
/// save, or a deployment tool's write, is several events.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(200);

/// A watch set up on the configuration file's directory, not yet handed to a system.
pub(crate) struct Watch {
    watcher: RecommendedWatcher,
    /// One message per burst at least (a full channel already says "changed").
    changes: mpsc::Receiver<()>,
    runtime: tokio::runtime::Handle,
}

fn invalid(reason: String) -> Error {
    Error::InvalidConfig {
        option: "watch_config",
        reason,
    }
}

impl Watch {
    /// Starts watching `path`'s directory for changes to `path`. Needs a Tokio runtime (the
    /// one the debouncing task will run on).
    pub(crate) fn new(path: &Path) -> Result<Watch, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            invalid(
                "needs a Tokio runtime to run the watcher on: build the system inside one (or \
                 with `start().await`)"
                    .to_owned(),
            )
        })?;
        let Some(name) = path.file_name().map(OsString::from) else {
            return Err(invalid(format!(
                "the configuration file's path `{}` names no file",
                path.display()
            )));
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tell, changes) = mpsc::channel(1);
        let handler = move |event: notify::Result<notify::Event>| match event {
            Ok(event) if changes_file(&event, &name) => {
                // Full: a change is already waiting to be seen.
                let _ = tell.try_send(());
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error, "staticbus: watching the configuration failed");
            }
        };
        let cannot = |e: notify::Error| {
            invalid(format!(
                "cannot watch `{}` for changes to `{}`: {e}",
                dir.display(),
                path.display()
            ))
        };
        let mut watcher = notify::recommended_watcher(handler).map_err(cannot)?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(cannot)?;
        Ok(Watch {
            watcher,
            changes,
            runtime,
        })
    }

    /// Hands the watch to `system`: a task reloads it after each burst of changes, until the
    /// system is dropped or shut down.
    pub(crate) fn run(self, system: &EventSystem) {
        let (stop, stopped) = oneshot::channel();
        system.core().reload.watching(stop);
        let handle = system.downgrade();
        let Watch {
            watcher,
            changes,
            runtime,
        } = self;
        runtime.spawn(debounce(handle, watcher, changes, stopped));
    }
}

/// Whether `event` may have changed the file called `name` (an event that says events were
/// lost may have).
fn changes_file(event: &notify::Event, name: &OsString) -> bool {
    if event.need_rescan() {
        return true;
    }
    let kind = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    kind && event
        .paths
        .iter()
        .any(|p| p.file_name() == Some(name.as_os_str()))
}

/// The watcher's task: waits for a change, then for [`DEBOUNCE`] of quiet, then reloads.
async fn debounce(
    system: SystemHandle,
    watcher: RecommendedWatcher,
    mut changes: mpsc::Receiver<()>,
    mut stopped: oneshot::Receiver<()>,
) {
    // Dropped with the task: the watch ends.
    let _watcher = watcher;
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            change = changes.recv() => if change.is_none() { return },
        }
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                () = tokio::time::sleep(DEBOUNCE) => break,
                change = changes.recv() => if change.is_none() { return },
            }
        }
        let Some(system) = system.upgrade() else {
            return;
        };
        match system.reload_config().await {
            Ok(_) | Err(Error::Plugins(_)) => {}
            Err(error) => {
                tracing::warn!(error = %error, "staticbus: the configuration watcher stops");
                return;
            }
        }
    }
}
