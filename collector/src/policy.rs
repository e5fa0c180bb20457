//! The policy a device receives, from the configuration and the public part
//! of the organisation's pseudonym key.

use sobrio_proto::Message;
use sobrio_proto::v1::{Limits, Policy, Signals, WorkingHours};

use crate::config::CollectorConfig;

/// Builds the policy for a device of `department`. Its version is derived
/// from its content, so replicas with the same configuration agree and any
/// change gives a new version.
pub fn policy_for(
    config: &CollectorConfig,
    department: &str,
    pseudonym_public_key: &[u8],
) -> Policy {
    let hours = config.working_hours(department);
    let signals = &config.policy.signals;
    let mut policy = Policy {
        version: 0,
        report_interval_secs: i32::try_from(config.policy.report_interval_secs).unwrap_or(i32::MAX),
        working_hours: Some(WorkingHours {
            start_minute: hours.start_minute,
            end_minute: hours.end_minute,
            days: hours.iso_days(),
        }),
        signals: Some(Signals {
            inventory: signals.inventory,
            usage: signals.usage,
            storage: signals.storage,
            calendar: signals.calendar,
            calls: signals.calls,
            notifications: signals.notifications,
            activity: signals.activity,
        }),
        scan_roots: config.policy.scan_roots.clone(),
        limits: Some(Limits {
            max_reports_per_submit: i32::try_from(config.limits.max_reports_per_submit)
                .unwrap_or(i32::MAX),
            max_report_bytes: i32::try_from(config.limits.max_report_bytes).unwrap_or(i32::MAX),
            storage_scan_budget_secs: i32::try_from(config.policy.storage_scan_budget_secs)
                .unwrap_or(i32::MAX),
        }),
        pseudonym_key: Vec::new(),
        pseudonym_public_key: pseudonym_public_key.to_vec(),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, &policy.encode_to_vec());
    let mut version = [0_u8; 8];
    version.copy_from_slice(&digest.as_ref()[..8]);
    // Version 0 means "no policy yet" to agents; never hand it out.
    policy.version = u64::from_be_bytes(version).max(1);
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_follows_the_content() {
        let config = CollectorConfig::default();
        let a = policy_for(&config, "Finance", b"key");
        assert_eq!(a.version, policy_for(&config, "Finance", b"key").version);
        let mut changed = config.clone();
        changed.policy.report_interval_secs = 600;
        assert_ne!(a.version, policy_for(&changed, "Finance", b"key").version);
        assert_ne!(
            a.version,
            policy_for(&config, "Finance", b"other key").version
        );
    }

    #[test]
    fn no_policy_carries_a_secret() {
        let key = sobrio_proto::pseudonym::PseudonymKey::from_seed(&[5; 32]).unwrap();
        let policy = policy_for(&CollectorConfig::default(), "Finance", key.public_key());
        assert!(
            policy.pseudonym_key.is_empty(),
            "no shared key leaves the collector"
        );
        assert_eq!(policy.pseudonym_public_key, key.public_key());
    }
}
