//! Device-managed resources ("devres"): actions and values tied to a device, released
//! newest first, and [`Devres<T>`], a resource that is revoked when the binding ends.
//!
//! # Ordering
//!
//! Every device has one list. Adds append; releases go from the tail (LIFO), so a
//! resource is always released before the ones it was built on. The whole list is
//! released:
//!
//! 1. when the binding ends, after the driver's [`unbind`](crate::Driver::unbind) hook and
//!    the drop of its state;
//! 2. right after a failed probe (the driver's state never existed, so nothing else runs);
//! 3. when the device is deleted, **even if no driver was ever bound** (this breaks the
//!    classic reference loop of a devres action owning a reference to its own device);
//! 4. at the final drop of the device, for anything added after delete.
//!
//! Release callbacks always run with no lock held, so an action may drop device
//! references, delete other devices or touch the same list.
//!
//! # Identity
//!
//! A node is named by a [`ResourceKey`]: a kind (a type) plus a tag. Plain adds return a
//! fresh unique key; keyed adds let several nodes share a key, and then lookups find the
//! **newest** match, as Linux's do. Three ways to take one node out:
//! [`release`](List::release) runs it now, [`destroy`](List::destroy) drops it without
//! running it, [`remove`](List::remove) hands it back to the caller.
//!
//! # Groups
//!
//! [`open_group`](List::open_group) appends an open marker, [`close_group`](List::close_group)
//! a close marker. [`release_group`](List::release_group) releases, newest first, every
//! resource between the two markers (to the end of the list if the group is still open),
//! including nested groups that lie wholly inside; [`remove_group`](List::remove_group)
//! drops just the markers, merging the resources into the enclosing scope.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use drivermodel::{DeviceBuilder, DeviceModel};
//!
//! let model = DeviceModel::new();
//! let device = model.add_device(DeviceBuilder::new("virtual0"))?;
//! let log = Arc::new(Mutex::new(Vec::new()));
//! let record = |name: &'static str| {
//!     let log = log.clone();
//!     move || log.lock().unwrap().push(name)
//! };
//! let devres = device.devres();
//! devres.add_action(record("first"))?;
//! let group = devres.open_group()?;
//! devres.add_action(record("in group"))?;
//! devres.close_group(Some(group))?;
//! devres.add_action(record("last"))?;
//! assert_eq!(devres.release_group(group)?, 1);
//! drop(device); // delete: releases the rest, newest first, although nothing was bound
//! assert_eq!(*log.lock().unwrap(), ["in group", "last", "first"]);
//! assert!(model.is_quiescent());
//! # Ok::<(), drivermodel::Error>(())
//! ```
//!
//! # `Devres<T>`
//!
//! [`Devres::new`] needs a [`Device<Bound>`] proof and puts `T` behind a
//! [`Revocable`] whose revocation is a node of the list. When
//! the binding ends the value is revoked: [`Devres::try_access`] returns `None`, readers in
//! flight are waited for, then `T` is dropped. With a proof that the same binding is still
//! alive, [`Devres::access`] returns `&T` with no atomic operation at all. Dropping the
//! `Devres` first revokes it and takes its node out of the list.
//!
//! **Revocation is finished before the binding's end returns.** When a `Devres` is dropped
//! on one thread while its binding ends on another (unbind, delete, a failed probe), the
//! two revocations wait for each other: whichever wins drops `T`, and the other returns
//! only once that drop has returned. So an unbind never returns (and no other driver can
//! bind) while a value of the old binding is still being dropped, and a `Devres` drop
//! never returns while its value still exists. A value's `Drop` must therefore not end
//! the binding that owns it.
//!
//! A `Devres` node has a private key, so key lookups never find it, and
//! [`release_group`](List::release_group) leaves it in place: only the end of the binding
//! or the handle's drop revoke it. That is what makes [`Devres::access`] sound.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::{Any, TypeId};
use core::fmt;
use core::sync::atomic::Ordering;

use crate::context::Bound;
use crate::counters::Counters;
use crate::device::{ARef, Device, State};
use crate::error::{Error, Result};
use crate::revocable::{Revocable, RevocableGuard};

/// Names a devres node: a kind plus a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceKey {
    kind: TypeId,
    tag: u64,
}

impl ResourceKey {
    /// A key of kind `K` (any type, usually a marker of the subsystem) with `tag`.
    pub fn new<K: ?Sized + 'static>(tag: u64) -> Self {
        Self {
            kind: TypeId::of::<K>(),
            tag,
        }
    }
}

/// The kind of the keys that plain adds generate.
enum Generated {}
/// The kind of `Devres<T>` revocation nodes; never handed out.
enum Revocation {}

/// Names a devres group of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(u64);

pub(crate) enum Payload {
    Action(Box<dyn FnOnce() + Send>),
    Data(Box<dyn Any + Send>),
}

impl Payload {
    fn release(self) {
        match self {
            Self::Action(action) => action(),
            Self::Data(data) => drop(data),
        }
    }
}

pub(crate) enum Node {
    Resource {
        key: ResourceKey,
        payload: Payload,
    },
    /// A `Devres<T>` revocation; the payload is the revoking action.
    Revocation {
        key: ResourceKey,
        payload: Payload,
    },
    GroupOpen(GroupId),
    GroupClose(GroupId),
}

impl Node {
    fn key(&self) -> Option<ResourceKey> {
        match self {
            Self::Resource { key, .. } => Some(*key),
            _ => None,
        }
    }
}

/// The per-device list. It lives in the device's state, under the device's state lock
/// (while it is held for the list, nothing else is locked and nothing is called), and
/// it is boxed on first use: a device that never uses devres pays one pointer.
pub(crate) struct Store {
    #[expect(
        clippy::box_collection,
        reason = "a thin pointer in every device (a `Vec` is three words); the box and \
                  the vector are made by the first node"
    )]
    nodes: Option<Box<Vec<Node>>>,
}

impl Store {
    pub(crate) const fn new() -> Self {
        Self { nodes: None }
    }

    /// The nodes, oldest first.
    fn nodes(&self) -> &[Node] {
        self.nodes.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The nodes, for a change (boxing the list on its first use).
    fn nodes_mut(&mut self) -> &mut Vec<Node> {
        self.nodes.get_or_insert_with(Box::default)
    }

    /// Takes out the newest node that is `wanted`.
    fn remove_newest(&mut self, wanted: impl Fn(&Node) -> bool) -> Option<Node> {
        let nodes = self.nodes.as_deref_mut()?;
        let position = nodes.iter().rposition(wanted)?;
        Some(nodes.remove(position))
    }

    /// Takes every node out, oldest first, for release (the list's box goes with them).
    pub(crate) fn take_all(&mut self) -> Vec<Node> {
        self.nodes.take().map_or_else(Vec::new, |nodes| *nodes)
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes().len()
    }
}

/// Releases `nodes` newest first, with no lock held.
pub(crate) fn release_all_nodes(nodes: Vec<Node>, counters: &Counters) {
    for node in nodes.into_iter().rev() {
        counters.devres_nodes.fetch_sub(1, Ordering::Relaxed);
        match node {
            Node::Resource { payload, .. } | Node::Revocation { payload, .. } => payload.release(),
            Node::GroupOpen(_) | Node::GroupClose(_) => {}
        }
    }
}

/// Releases every devres node of `device`, newest first.
pub(crate) fn release_all(device: &Device) {
    let nodes = device.inner().state.lock().devres.take_all();
    release_all_nodes(nodes, &device.inner().counters);
}

/// A device's devres list, from [`Device::devres`].
pub struct List<'a> {
    device: &'a Device,
}

impl<'a> List<'a> {
    pub(crate) fn new(device: &'a Device) -> Self {
        Self { device }
    }

    /// The device's state, locked for its devres list (`devres`).
    fn lock(&self) -> spin::MutexGuard<'a, State> {
        self.device.inner().state.lock()
    }

    fn not_found(&self) -> Error {
        Error::DevresNotFound {
            device: crate::error::owned(self.device.name()),
        }
    }

    fn group_not_found(&self) -> Error {
        Error::GroupNotFound {
            device: crate::error::owned(self.device.name()),
        }
    }

    /// Appends a node made by `make` (given a fresh tag), checking capacity and memory.
    fn push(&self, make: impl FnOnce(u64) -> Node) -> Result<u64> {
        // Tags are unique per model; taking one that is then not used is harmless.
        let tag = self
            .device
            .inner()
            .counters
            .next_tag
            .fetch_add(1, Ordering::Relaxed);
        self.push_node(make(tag)).map(|()| tag)
    }

    /// The body of [`push`](Self::push), one copy for every kind of node. On failure
    /// `node` is dropped after the lock is released (a value's drop is driver code).
    #[inline(never)]
    fn push_node(&self, node: Node) -> Result<()> {
        crate::fault::point!(self.device.inner().counters, DevresAdd)?;
        let limit = self.device.inner().devres_capacity();
        let mut state = self.lock();
        let nodes = state.devres.nodes_mut();
        if let Some(capacity) = limit
            && nodes.len() >= capacity
        {
            drop(state);
            return Err(Error::DevresFull {
                device: crate::error::owned(self.device.name()),
                capacity,
            });
        }
        if nodes.len() == nodes.capacity() && nodes.try_reserve(1).is_err() {
            drop(state);
            return Err(Error::OutOfMemory);
        }
        nodes.push(node);
        drop(state);
        self.device
            .inner()
            .counters
            .devres_nodes
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Adds an action run at release. Returns its unique key.
    ///
    /// # Errors
    ///
    /// [`Error::DevresFull`] or [`Error::OutOfMemory`]; the action is dropped without
    /// running.
    pub fn add_action(&self, action: impl FnOnce() + Send + 'static) -> Result<ResourceKey> {
        self.push_generated(|key| Node::Resource {
            key,
            payload: Payload::Action(Box::new(action)),
        })
    }

    fn push_generated(&self, make: impl FnOnce(ResourceKey) -> Node) -> Result<ResourceKey> {
        let tag = self.push(|tag| make(ResourceKey::new::<Generated>(tag)))?;
        Ok(ResourceKey::new::<Generated>(tag))
    }

    /// Adds an action, or runs it at once if adding fails, so that on error the caller
    /// can treat the resource as already cleaned up.
    ///
    /// # Errors
    ///
    /// As [`add_action`](Self::add_action), after running the action.
    pub fn add_action_or_reset(
        &self,
        action: impl FnOnce() + Send + 'static,
    ) -> Result<ResourceKey> {
        let slot = Arc::new(spin::Mutex::new(Some(action)));
        let taker = slot.clone();
        let result = self.add_action(move || {
            if let Some(action) = taker.lock().take() {
                action();
            }
        });
        if result.is_err() {
            let action = slot.lock().take();
            if let Some(action) = action {
                action();
            }
        }
        result
    }

    /// Adds an action under a caller-chosen key (several nodes may share one).
    ///
    /// # Errors
    ///
    /// As [`add_action`](Self::add_action).
    pub fn add_action_keyed(
        &self,
        key: ResourceKey,
        action: impl FnOnce() + Send + 'static,
    ) -> Result<()> {
        self.push(|_| Node::Resource {
            key,
            payload: Payload::Action(Box::new(action)),
        })
        .map(|_| ())
    }

    /// A managed allocation: the list owns `value` and drops it at release. Returns its
    /// unique key; [`remove`](Self::remove) gives the value back.
    ///
    /// # Errors
    ///
    /// As [`add_action`](Self::add_action); the value is dropped.
    pub fn alloc<T: Any + Send>(&self, value: T) -> Result<ResourceKey> {
        crate::fault::point!(self.device.inner().counters, Alloc)?;
        self.push_generated(|key| Node::Resource {
            key,
            payload: Payload::Data(Box::new(value)),
        })
    }

    /// A managed allocation under a caller-chosen key.
    ///
    /// # Errors
    ///
    /// As [`add_action`](Self::add_action); the value is dropped.
    pub fn alloc_keyed<T: Any + Send>(&self, key: ResourceKey, value: T) -> Result<()> {
        crate::fault::point!(self.device.inner().counters, Alloc)?;
        self.push(|_| Node::Resource {
            key,
            payload: Payload::Data(Box::new(value)),
        })
        .map(|_| ())
    }

    /// Unlinks the newest node with `key`.
    fn unlink(&self, key: ResourceKey) -> Result<Payload> {
        let mut state = self.lock();
        let node = state.devres.remove_newest(|node| node.key() == Some(key));
        drop(state);
        let Some(Node::Resource { payload, .. }) = node else {
            // Only resources have keys, so a node found is one; stay total anyway.
            return Err(self.not_found());
        };
        self.device
            .inner()
            .counters
            .devres_nodes
            .fetch_sub(1, Ordering::Relaxed);
        Ok(payload)
    }

    /// Whether a node with `key` is on the list.
    pub fn contains(&self, key: ResourceKey) -> bool {
        self.lock()
            .devres
            .nodes()
            .iter()
            .any(|node| node.key() == Some(key))
    }

    /// Unlinks the newest node with `key` and releases it now (runs the action, drops the
    /// value).
    ///
    /// # Errors
    ///
    /// [`Error::DevresNotFound`].
    pub fn release(&self, key: ResourceKey) -> Result<()> {
        self.unlink(key)?.release();
        Ok(())
    }

    /// Unlinks the newest node with `key` and drops it **without** running its action
    /// (a value is dropped: Rust cannot free without dropping).
    ///
    /// # Errors
    ///
    /// [`Error::DevresNotFound`].
    pub fn destroy(&self, key: ResourceKey) -> Result<()> {
        drop(self.unlink(key)?);
        Ok(())
    }

    /// Unlinks the newest node with `key` and hands it to the caller.
    ///
    /// # Errors
    ///
    /// [`Error::DevresNotFound`].
    pub fn remove(&self, key: ResourceKey) -> Result<Removed> {
        self.unlink(key).map(|payload| Removed { payload })
    }

    /// Opens a group: appends its open marker.
    ///
    /// # Errors
    ///
    /// [`Error::DevresFull`] or [`Error::OutOfMemory`].
    pub fn open_group(&self) -> Result<GroupId> {
        let tag = self.push(|tag| Node::GroupOpen(GroupId(tag)))?;
        Ok(GroupId(tag))
    }

    /// Closes `group`, or the newest still-open group when `None`: appends its close
    /// marker.
    ///
    /// # Errors
    ///
    /// [`Error::GroupNotFound`] if no such open group exists; [`Error::DevresFull`] or
    /// [`Error::OutOfMemory`].
    pub fn close_group(&self, group: Option<GroupId>) -> Result<()> {
        let target = {
            let state = self.lock();
            let nodes = state.devres.nodes();
            let open = nodes.iter().rev().find_map(|node| match node {
                Node::GroupOpen(id) if group.is_none_or(|wanted| wanted == *id) => {
                    let closed = nodes
                        .iter()
                        .any(|other| matches!(other, Node::GroupClose(closed) if closed == id));
                    (!closed).then_some(*id)
                }
                _ => None,
            });
            open.ok_or_else(|| self.group_not_found())?
        };
        self.push(|_| Node::GroupClose(target)).map(|_| ())
    }

    /// The positions of `group`'s markers: open, and close if closed.
    fn group_span(nodes: &[Node], group: GroupId) -> Option<(usize, Option<usize>)> {
        let open = nodes
            .iter()
            .rposition(|node| matches!(node, Node::GroupOpen(id) if *id == group))?;
        let close = nodes[open..]
            .iter()
            .position(|node| matches!(node, Node::GroupClose(id) if *id == group))
            .map(|offset| open + offset);
        Some((open, close))
    }

    /// Removes `group`'s markers only; its resources join the enclosing scope.
    ///
    /// # Errors
    ///
    /// [`Error::GroupNotFound`].
    pub fn remove_group(&self, group: GroupId) -> Result<()> {
        let mut state = self.lock();
        let (open, close) =
            Self::group_span(state.devres.nodes(), group).ok_or_else(|| self.group_not_found())?;
        let nodes = state.devres.nodes_mut();
        let mut removed = 1;
        if let Some(close) = close {
            nodes.remove(close);
            removed += 1;
        }
        nodes.remove(open);
        drop(state);
        self.device
            .inner()
            .counters
            .devres_nodes
            .fetch_sub(removed, Ordering::Relaxed);
        Ok(())
    }

    /// Releases, newest first, every resource of `group` (to the end of the list if it is
    /// still open), with its markers and those of groups nested wholly inside. Returns how
    /// many resources were released. `Devres<T>` nodes stay where they are.
    ///
    /// If the list is empty the call does nothing and returns `Ok(0)` (the device is
    /// probably being torn down by a full release that already took the group).
    ///
    /// # Errors
    ///
    /// [`Error::GroupNotFound`].
    pub fn release_group(&self, group: GroupId) -> Result<usize> {
        let mut state = self.lock();
        if state.devres.len() == 0 {
            return Ok(0);
        }
        let (open, close) =
            Self::group_span(state.devres.nodes(), group).ok_or_else(|| self.group_not_found())?;
        let nodes = state.devres.nodes_mut();
        let end = close.map_or(nodes.len(), |close| close + 1);
        let range: Vec<Node> = nodes.drain(open..end).collect();
        // Which groups lie wholly inside the range: a closed group needs both markers in
        // it, a still-open group only its open marker.
        let mut contained: Vec<GroupId> = Vec::new();
        for (index, node) in range.iter().enumerate() {
            if let Node::GroupOpen(id) = node {
                let closed_inside = range[index..]
                    .iter()
                    .any(|other| matches!(other, Node::GroupClose(closed) if closed == id));
                let closed_anywhere = closed_inside
                    || nodes
                        .iter()
                        .any(|other| matches!(other, Node::GroupClose(closed) if closed == id));
                if closed_inside || !closed_anywhere {
                    contained.push(*id);
                }
            }
        }
        let mut kept = Vec::new();
        let mut released = Vec::new();
        let mut dropped_markers = 0;
        for node in range {
            match node {
                Node::Resource { payload, .. } => released.push(payload),
                Node::GroupOpen(id) | Node::GroupClose(id) if contained.contains(&id) => {
                    dropped_markers += 1;
                }
                other => kept.push(other),
            }
        }
        let tail = nodes.split_off(open);
        nodes.extend(kept);
        nodes.extend(tail);
        drop(state);
        let count = released.len();
        self.device
            .inner()
            .counters
            .devres_nodes
            .fetch_sub(count + dropped_markers, Ordering::Relaxed);
        for payload in released.into_iter().rev() {
            payload.release();
        }
        Ok(count)
    }

    /// How many nodes the list holds (group markers and `Devres` nodes included).
    pub fn len(&self) -> usize {
        self.lock().devres.len()
    }

    /// Whether the list is empty (the precondition of a probe).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a `Devres` revocation node.
    fn push_revocation(&self, revoke: Box<dyn FnOnce() + Send>) -> Result<ResourceKey> {
        let tag = self.push(|tag| Node::Revocation {
            key: ResourceKey::new::<Revocation>(tag),
            payload: Payload::Action(revoke),
        })?;
        Ok(ResourceKey::new::<Revocation>(tag))
    }

    /// Drops a `Devres` revocation node without running it.
    fn destroy_revocation(&self, key: ResourceKey) {
        let mut state = self.lock();
        let node = state
            .devres
            .remove_newest(|node| matches!(node, Node::Revocation { key: own, .. } if *own == key));
        drop(state);
        if node.is_some() {
            self.device
                .inner()
                .counters
                .devres_nodes
                .fetch_sub(1, Ordering::Relaxed);
        }
        drop(node);
    }
}

impl fmt::Debug for List<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("devres::List")
            .field("device", &self.device.name())
            .field("nodes", &self.len())
            .finish()
    }
}

/// A node taken out of the list by [`List::remove`]: the caller now owns it.
pub struct Removed {
    payload: Payload,
}

impl Removed {
    /// Releases it now (runs the action or drops the value).
    pub fn release(self) {
        self.payload.release();
    }

    /// The managed value, if it is a `T` (actions are never values).
    ///
    /// # Errors
    ///
    /// Gives `self` back when it is not a `T`.
    pub fn downcast<T: Any>(self) -> Result<T, Self> {
        match self.payload {
            Payload::Data(data) => match data.downcast::<T>() {
                Ok(value) => Ok(*value),
                Err(data) => Err(Self {
                    payload: Payload::Data(data),
                }),
            },
            action @ Payload::Action(_) => Err(Self { payload: action }),
        }
    }
}

impl fmt::Debug for Removed {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.payload {
            Payload::Action(_) => "action",
            Payload::Data(_) => "value",
        };
        formatter
            .debug_struct("Removed")
            .field("kind", &kind)
            .finish()
    }
}

/// A value owned by a binding: revoked (and dropped) when the binding ends.
///
/// ```
/// use drivermodel::{Devres, DeviceModel, faux};
///
/// let model = DeviceModel::new();
/// let faux = faux::Registration::new(&model, "vdisplay", None)?;
/// let registers = Devres::new(faux.device(), [0u32; 4])?;
/// assert_eq!(registers.try_access().map(|regs| regs[0]), Some(0));
/// // With the bound proof, no check at all:
/// assert_eq!(registers.access(faux.device())?[1], 0);
/// drop(faux); // delete: unbind, devres release, revocation
/// assert!(registers.try_access().is_none());
/// drop(registers);
/// assert!(model.is_quiescent());
/// # Ok::<(), drivermodel::Error>(())
/// ```
pub struct Devres<T: Send + Sync + 'static> {
    device: ARef<Device>,
    key: ResourceKey,
    generation: u64,
    data: Arc<Revocable<T>>,
}

impl<T: Send + Sync + 'static> Devres<T> {
    /// Puts `value` under the management of `device`'s current binding.
    ///
    /// # Errors
    ///
    /// [`Error::DevresFull`] or [`Error::OutOfMemory`]; `value` is dropped.
    pub fn new(device: &Device<Bound>, value: T) -> Result<Self> {
        crate::fault::point!(device.inner().counters, Alloc)?;
        let data = Arc::new(Revocable::new(value));
        let revoker = data.clone();
        let key = device.devres().push_revocation(Box::new(move || {
            revoker.revoke();
        }))?;
        Ok(Self {
            device: ARef::from(device),
            key,
            generation: device.inner().generation.load(Ordering::Acquire),
            data,
        })
    }

    /// Shared access, or `None` once the binding has ended. Revocation waits while the
    /// guard lives: keep it short.
    pub fn try_access(&self) -> Option<RevocableGuard<'_, T>> {
        self.data.try_access()
    }

    /// Runs `function` on the value unless it is revoked.
    pub fn try_access_with<R>(&self, function: impl FnOnce(&T) -> R) -> Option<R> {
        self.data.try_access_with(function)
    }

    /// Access with no runtime check beyond comparing the proof: `device` proves that the
    /// binding this value belongs to is alive for `'a`.
    ///
    /// # Errors
    ///
    /// [`Error::WrongDevice`] if `device` is another device, or the same device in a
    /// later binding.
    pub fn access<'a>(&'a self, device: &'a Device<Bound>) -> Result<&'a T> {
        let same_binding = device.same_as(&self.device)
            && device.inner().generation.load(Ordering::Acquire) == self.generation;
        if !same_binding {
            return Err(Error::WrongDevice {
                device: crate::error::owned(device.name()),
            });
        }
        // SAFETY: `device` proves that the binding in which this value was created (same
        // device, same generation) lasts for `'a`. Only two things revoke the value: the
        // full devres release at the end of that binding, which cannot start during `'a`,
        // and the drop of `self`, which cannot happen while `self` is borrowed for `'a`.
        // Key lookups and group releases never touch revocation nodes.
        Ok(unsafe { self.data.access_unchecked() })
    }

    /// Whether the value has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.data.is_revoked()
    }

    /// The device whose binding owns the value.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

impl<T: Send + Sync + 'static> Drop for Devres<T> {
    fn drop(&mut self) {
        if self.data.revoke() {
            // We revoked first: the node is still listed (or being released right now by
            // a full release, whose revoke call then waits for our drop). Take it out.
            self.device.devres().destroy_revocation(self.key);
        }
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Devres<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Devres")
            .field("device", &self.device.name())
            .field("revoked", &self.is_revoked())
            .finish_non_exhaustive()
    }
}
