//! [`Event`]: any event of the catalogue, one variant per aggregate type.

use crate::aggregate::AggregateType;
use crate::{
    AccountTrafficEvent, ApiTokenEvent, DnsZoneEvent, IpRouteEvent, LoanEvent, MigrationEvent,
    NotificationEvent, OptionalMigrationEvent, ServerEvent, TargetInfrastructureEvent,
    TransferEvent, TransitQueueEvent, TransitServerEvent, UserGrantsEvent,
};

macro_rules! catalogue {
    ( $( $aggregate:ident($enum:ident) ),+ $(,)? ) => {
        /// Any event of the catalogue: the per-aggregate event enum, under the variant
        /// named after its [`AggregateType`].
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Event {
            $(
                #[doc = concat!("An event of a `", stringify!($aggregate), "` aggregate.")]
                $aggregate($enum),
            )+
        }

        impl Event {
            /// Every event type in the catalogue, with its aggregate type and current
            /// schema version, grouped by aggregate.
            pub const TYPES: &'static [(&'static str, AggregateType, u16)] = {
                const COUNT: usize = 0 $(+ $enum::TYPES.len())+;
                const ALL: [(&str, AggregateType, u16); COUNT] = {
                    let mut all = [("", AggregateType::Server, 0u16); COUNT];
                    let mut at = 0;
                    $({
                        let mut i = 0;
                        while i < $enum::TYPES.len() {
                            all[at] = ($enum::TYPES[i].0, AggregateType::$aggregate, $enum::TYPES[i].1);
                            at += 1;
                            i += 1;
                        }
                    })+
                    all
                };
                &ALL
            };

            /// The PascalCase event type, unique across the whole catalogue,
            /// e.g. `"AccountMarkedReady"`.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Event::$aggregate(event) => event.event_type(),)+
                }
            }

            /// The current schema version of this event's type.
            pub fn schema_version(&self) -> u16 {
                match self {
                    $(Event::$aggregate(event) => event.schema_version(),)+
                }
            }

            /// The type of aggregate this event belongs to.
            pub fn aggregate_type(&self) -> AggregateType {
                match self {
                    $(Event::$aggregate(_) => AggregateType::$aggregate,)+
                }
            }

            /// The current schema version of `event_type` if it is an event of
            /// `aggregate_type`.
            pub(crate) fn current_version_in(
                aggregate_type: AggregateType,
                event_type: &str,
            ) -> Option<u16> {
                match aggregate_type {
                    $(AggregateType::$aggregate => $enum::current_version(event_type),)+
                }
            }

            /// Serializes the payload alone (the wire form's `data`).
            pub(crate) fn serialize_payload<S: serde::Serializer>(
                &self,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                match self {
                    $(Event::$aggregate(event) => event.serialize_payload(serializer),)+
                }
            }

            /// Deserializes a current-version payload; `None` when `event_type` is not
            /// an event of `aggregate_type`.
            pub(crate) fn deserialize_payload<'de, D: serde::Deserializer<'de>>(
                aggregate_type: AggregateType,
                event_type: &str,
                deserializer: D,
            ) -> Option<Result<Self, D::Error>> {
                match aggregate_type {
                    $(AggregateType::$aggregate => $enum::deserialize_payload(event_type, deserializer)
                        .map(|result| result.map(Event::$aggregate)),)+
                }
            }
        }

        $(
            impl From<$enum> for Event {
                fn from(event: $enum) -> Self {
                    Event::$aggregate(event)
                }
            }
        )+
    };
}

catalogue! {
    Server(ServerEvent),
    TargetInfrastructure(TargetInfrastructureEvent),
    Migration(MigrationEvent),
    OptionalMigration(OptionalMigrationEvent),
    TransitServer(TransitServerEvent),
    TransitQueue(TransitQueueEvent),
    Transfer(TransferEvent),
    DnsZone(DnsZoneEvent),
    AccountTraffic(AccountTrafficEvent),
    IpRoute(IpRouteEvent),
    Loan(LoanEvent),
    Notification(NotificationEvent),
    ApiToken(ApiTokenEvent),
    UserGrants(UserGrantsEvent),
}

impl Event {
    /// The aggregate type and current schema version of `event_type`, if the catalogue
    /// has such an event.
    pub fn find_type(event_type: &str) -> Option<(AggregateType, u16)> {
        Event::TYPES
            .iter()
            .find(|(name, _, _)| *name == event_type)
            .map(|&(_, aggregate_type, version)| (aggregate_type, version))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn event_types_are_unique_pascal_case_and_cover_every_aggregate() {
        let mut seen = HashSet::new();
        for (name, _, version) in Event::TYPES {
            assert!(seen.insert(*name), "{name} appears twice in the catalogue");
            assert!(*version >= 1, "{name} has schema version 0");
            assert!(
                name.starts_with(|c: char| c.is_ascii_uppercase())
                    && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "{name} is not PascalCase"
            );
        }
        for aggregate in AggregateType::ALL {
            assert!(
                Event::TYPES.iter().any(|(_, a, _)| a == aggregate),
                "{aggregate} has no event"
            );
        }
        for (name, aggregate, version) in Event::TYPES {
            assert_eq!(Event::find_type(name), Some((*aggregate, *version)));
            assert_eq!(Event::current_version_in(*aggregate, name), Some(*version));
        }
        assert_eq!(Event::find_type("NoSuchEvent"), None);
    }
}
