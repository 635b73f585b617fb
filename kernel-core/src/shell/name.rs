//! The forms a shell command accepts for a device: `NAME`, `BUS/NAME` (`-/NAME` for a
//! device on no bus) and a tree path (`/devices/platform/uart16550.0`).

use core::fmt;

/// A device as the user named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceName<'a> {
    /// A path in the device tree, starting with `/`.
    Path(&'a str),
    /// `BUS/NAME`; `bus` is `None` for `-/NAME` (a device on no bus).
    OnBus {
        /// The bus, or `None` for `-`.
        bus: Option<&'a str>,
        /// The device's name.
        name: &'a str,
    },
    /// A bare name, unique across buses in practice.
    Name(&'a str),
}

impl<'a> DeviceName<'a> {
    /// Classifies `text` (which form it is; whether it exists is the model's business).
    pub fn parse(text: &'a str) -> Self {
        if text.starts_with('/') {
            Self::Path(text)
        } else if let Some((bus, name)) = text.split_once('/') {
            Self::OnBus {
                bus: (bus != "-").then_some(bus),
                name,
            }
        } else {
            Self::Name(text)
        }
    }

    /// The device's name on `bus` (for `add`, which re-creates a device by name on one
    /// bus): `NAME`, `BUS/NAME` and `/devices/BUS/NAME` all give `NAME`.
    ///
    /// # Errors
    ///
    /// [`NotOnBus`] when the text names another bus, a path outside
    /// `/devices/BUS/`, or an empty name.
    pub fn on_bus(self, bus: &str) -> Result<&'a str, NotOnBus<'a>> {
        let (text, name) = match self {
            Self::Name(name) => (name, Some(name)),
            Self::OnBus {
                bus: Some(named),
                name,
            } => (name, (named == bus).then_some(name)),
            Self::OnBus { bus: None, name } => (name, None),
            Self::Path(path) => (
                path,
                path.strip_prefix("/devices/")
                    .and_then(|rest| rest.strip_prefix(bus))
                    .and_then(|rest| rest.strip_prefix('/')),
            ),
        };
        name.filter(|name| !name.is_empty() && !name.contains('/'))
            .ok_or(NotOnBus { text })
    }
}

/// A name that does not name a device on the wanted bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotOnBus<'a> {
    /// The offending text (or its name part).
    pub text: &'a str,
}

impl fmt::Display for NotOnBus<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "`{}` names no device on this bus", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_are_told_apart() {
        assert_eq!(
            DeviceName::parse("uart16550.0"),
            DeviceName::Name("uart16550.0")
        );
        assert_eq!(
            DeviceName::parse("platform/uart16550.0"),
            DeviceName::OnBus {
                bus: Some("platform"),
                name: "uart16550.0"
            }
        );
        assert_eq!(
            DeviceName::parse("-/platform"),
            DeviceName::OnBus {
                bus: None,
                name: "platform"
            }
        );
        assert_eq!(
            DeviceName::parse("/devices/platform/uart16550.0"),
            DeviceName::Path("/devices/platform/uart16550.0")
        );
        // A PCI address is a bare name: its colons are not separators.
        assert_eq!(
            DeviceName::parse("0000:00:02.0"),
            DeviceName::Name("0000:00:02.0")
        );
    }

    #[test]
    fn every_form_gives_the_name_on_the_bus() {
        for text in ["pit.0", "platform/pit.0", "/devices/platform/pit.0"] {
            assert_eq!(
                DeviceName::parse(text).on_bus("platform"),
                Ok("pit.0"),
                "{text}"
            );
        }
    }

    #[test]
    fn other_buses_and_odd_paths_are_refused() {
        for text in [
            "pci/0000:00:02.0",
            "-/pit.0",
            "/devices/pit.0",
            "/devices/platformx/pit.0",
            "/devices/platform/",
            "/devices/platform/pit.0/child",
            "/bus/platform/pit.0",
            "platform/",
        ] {
            assert!(
                DeviceName::parse(text).on_bus("platform").is_err(),
                "{text}"
            );
        }
    }
}
