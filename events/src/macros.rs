//! The macro that turns one aggregate's list of payload structs into its event enum.

/// Declares the event enum of one aggregate from the payload structs of its module.
///
/// Each `Name = version` line adds a variant `Name(Name)` whose event type is `"Name"`
/// at current schema `version`, plus `From<Name>` for the enum and for
/// [`Event`](crate::Event). The payload struct `Name` must be declared in the same module.
macro_rules! aggregate_events {
    (
        $(#[$enum_meta:meta])*
        pub enum $enum:ident for $aggregate:ident {
            $( $name:ident = $version:literal ),+ $(,)?
        }
    ) => {
        $(#[$enum_meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        // Events are short-lived values matched by every consumer; boxing the few
        // large payloads (e.g. `TransferScheduled`) would burden every pattern.
        #[allow(clippy::large_enum_variant)]
        pub enum $enum {
            $(
                #[doc = concat!(
                    "[`", stringify!($name), "`], current schema version ",
                    stringify!($version), "."
                )]
                $name($name),
            )+
        }

        impl $enum {
            /// The aggregate type every event of this enum belongs to.
            pub const AGGREGATE_TYPE: $crate::AggregateType = $crate::AggregateType::$aggregate;

            /// Every event type of this aggregate, with its current schema version.
            pub const TYPES: &'static [(&'static str, u16)] =
                &[$((stringify!($name), $version)),+];

            /// The PascalCase event type, unique across the whole catalogue.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$name(_) => stringify!($name),)+
                }
            }

            /// The current schema version of this event's type.
            pub fn schema_version(&self) -> u16 {
                match self {
                    $(Self::$name(_) => $version,)+
                }
            }

            /// The current schema version of `event_type`, if it is an event of this
            /// aggregate.
            pub fn current_version(event_type: &str) -> Option<u16> {
                match event_type {
                    $(stringify!($name) => Some($version),)+
                    _ => None,
                }
            }

            /// Serializes the payload alone (the wire form's `data`).
            pub(crate) fn serialize_payload<S: serde::Serializer>(
                &self,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                match self {
                    $(Self::$name(payload) => serde::Serialize::serialize(payload, serializer),)+
                }
            }

            /// Deserializes a current-version payload of `event_type`; `None` when the
            /// type is not an event of this aggregate.
            pub(crate) fn deserialize_payload<'de, D: serde::Deserializer<'de>>(
                event_type: &str,
                deserializer: D,
            ) -> Option<Result<Self, D::Error>> {
                match event_type {
                    $(stringify!($name) => Some(
                        <$name as serde::Deserialize>::deserialize(deserializer).map(Self::$name)
                    ),)+
                    _ => None,
                }
            }
        }

        $(
            impl From<$name> for $enum {
                fn from(event: $name) -> Self {
                    Self::$name(event)
                }
            }

            impl From<$name> for $crate::Event {
                fn from(event: $name) -> Self {
                    $crate::Event::$aggregate($enum::$name(event))
                }
            }
        )+
    };
}
