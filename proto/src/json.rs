//! JSON names for enum-typed fields, used by the generated `Serialize` impls.
//!
//! prost stores enum fields as `i32`; in JSON they read as their proto name
//! without the type prefix, lower-cased (`CHASSIS_ALL_IN_ONE` → `all_in_one`).
//! A number that names no variant (a newer peer) is shown as the number.

use serde::Serializer;

use crate::v1;

macro_rules! enum_serializer {
    ($name:ident, $ty:ty, $prefix:literal) => {
        pub(crate) fn $name<S: Serializer>(value: &i32, serializer: S) -> Result<S::Ok, S::Error> {
            match <$ty>::try_from(*value) {
                Ok(variant) => {
                    let name = variant.as_str_name();
                    let short = name.strip_prefix($prefix).unwrap_or(name);
                    serializer.serialize_str(&short.to_ascii_lowercase())
                }
                Err(_) => serializer.serialize_i32(*value),
            }
        }
    };
}

enum_serializer!(chassis, v1::Chassis, "CHASSIS_");
enum_serializer!(disk_kind, v1::DiskKind, "DISK_KIND_");
enum_serializer!(disk_health, v1::DiskHealth, "DISK_HEALTH_");
enum_serializer!(age_source, v1::AgeSource, "AGE_SOURCE_");
enum_serializer!(confidence, v1::Confidence, "CONFIDENCE_");
enum_serializer!(activity_source, v1::ActivitySource, "ACTIVITY_SOURCE_");

#[cfg(test)]
mod tests {
    use crate::v1::{Chassis, Inventory, Report};

    #[test]
    fn enums_read_by_name_and_absent_fields_are_null() {
        let report = Report {
            report_id: "r".into(),
            inventory: Some(Inventory {
                hostname: "h".into(),
                chassis: Chassis::AllInOne as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["inventory"]["chassis"], "all_in_one");
        assert!(json["inventory"]["memory_bytes"].is_null());
        assert!(json["usage"].is_null());
    }

    #[test]
    fn an_unknown_enum_number_is_shown_as_the_number() {
        let inventory = Inventory {
            chassis: 99,
            ..Default::default()
        };
        let json = serde_json::to_value(&inventory).unwrap();
        assert_eq!(json["chassis"], 99);
    }
}
