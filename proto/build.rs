//! Generates the `sobrio.v1` code with protox, a pure-Rust protobuf compiler,
//! so that nobody needs `protoc` installed.

use std::path::Path;

/// Enum-typed fields: shown by name in JSON (`"laptop"`), not by number.
const ENUM_FIELDS: &[(&str, &str)] = &[
    ("sobrio.v1.Inventory.chassis", "chassis"),
    ("sobrio.v1.Disk.kind", "disk_kind"),
    ("sobrio.v1.Disk.health", "disk_health"),
    ("sobrio.v1.AgeEstimate.source", "age_source"),
    ("sobrio.v1.AgeEstimate.confidence", "confidence"),
    ("sobrio.v1.UsageHour.activity_source", "activity_source"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = ["report", "policy", "enrollment", "ingest"]
        .map(|name| root.join(format!("sobrio/v1/{name}.proto")));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [root])?;

    let mut builder = tonic_prost_build::configure()
        .type_attribute(".sobrio.v1", "#[derive(serde::Serialize)]")
        .field_attribute(
            "sobrio.v1.Policy.pseudonym_key",
            "#[serde(skip_serializing)]",
        )
        .field_attribute(
            "sobrio.v1.EnrollResponse.bearer_secret",
            "#[serde(skip_serializing)]",
        )
        .field_attribute(
            "sobrio.v1.EnrollRequest.token",
            "#[serde(skip_serializing)]",
        );
    for (field, serializer) in ENUM_FIELDS {
        builder = builder.field_attribute(
            field,
            format!("#[serde(serialize_with = \"crate::json::{serializer}\")]"),
        );
    }
    builder.compile_fds(descriptors)?;
    Ok(())
}
