//! The shared, ordered log that test doubles write to.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

#[cfg(feature = "events")]
use crate::event::{Event, Subscription};
#[cfg(feature = "events")]
use crate::model::DeviceModel;

/// A shared, ordered log of what happened, for checking the order of callbacks, devres
/// releases and drops. Clones share one log.
///
/// Entries are strings by default ([`Log::new`]). A test that predicts a whole log
/// exactly can log its own entry type instead (`Log<E>`, made with [`Log::default`]):
/// comparing typed entries says which field differs and needs no parsing.
///
/// ```
/// use drivermodel::testing::Log;
///
/// // Strings, the default.
/// let log = Log::new();
/// let release = log.action("released");
/// log.push("probed");
/// release();
/// assert_eq!(log.take(), ["probed", "released"]);
///
/// // A typed log.
/// #[derive(Debug, Clone, PartialEq)]
/// enum Entry { Probe { device: usize }, Release { id: u32 } }
/// let log: Log<Entry> = Log::default();
/// log.push(Entry::Probe { device: 0 });
/// log.action(Entry::Release { id: 7 })();
/// assert_eq!(log.snapshot(), [Entry::Probe { device: 0 }, Entry::Release { id: 7 }]);
/// ```
pub struct Log<E = String>(Arc<spin::Mutex<Vec<E>>>);

impl Log {
    /// A new, empty log of strings.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<E> Log<E> {
    /// Appends `entry`.
    pub fn push(&self, entry: impl Into<E>) {
        self.0.lock().push(entry.into());
    }

    /// The entries so far, emptying the log.
    pub fn take(&self) -> Vec<E> {
        core::mem::take(&mut *self.0.lock())
    }

    /// An action (for devres, a release hook, ...) that logs `entry` when it runs.
    pub fn action(&self, entry: impl Into<E>) -> impl FnOnce() + Send + 'static
    where
        E: Send + 'static,
    {
        let log = self.clone();
        let entry = entry.into();
        move || log.push(entry)
    }
}

#[cfg(feature = "events")]
impl<E: Send + 'static> Log<E> {
    /// Logs the events of `model` from now on, each as the entry `entry` makes of it
    /// (`None`: not logged), until the returned subscription drops.
    ///
    /// ```
    /// use drivermodel::event::EventKind;
    /// use drivermodel::testing::{self, Log};
    ///
    /// let model = testing::model();
    /// let events = Log::default();
    /// let _subscription = events.subscribe(&model, |event| Some(event.kind));
    /// drop(model.add_device(testing::device("dev", "acme,none"))?);
    /// assert_eq!(events.take(), [EventKind::Add, EventKind::Delete, EventKind::Removed]);
    /// # Ok::<(), drivermodel::Error>(())
    /// ```
    pub fn subscribe(
        &self,
        model: &DeviceModel,
        entry: impl Fn(&Event) -> Option<E> + Send + Sync + 'static,
    ) -> Subscription {
        let log = self.clone();
        model.subscribe(move |event| {
            if let Some(entry) = entry(event) {
                log.push(entry);
            }
        })
    }
}

impl<E: Clone> Log<E> {
    /// The entries so far.
    pub fn snapshot(&self) -> Vec<E> {
        self.0.lock().clone()
    }
}

// By hand rather than derived: a derive would ask `E: Clone` / `E: Default`, which
// sharing one log does not need.
impl<E> Clone for Log<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<E> Default for Log<E> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<E: fmt::Debug> fmt::Debug for Log<E> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_tuple("Log").field(&*self.0.lock()).finish()
    }
}
