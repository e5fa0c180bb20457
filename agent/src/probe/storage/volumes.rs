//! Mounted local volumes, from sysinfo: pseudo, network and container
//! filesystems are skipped, and a device mounted several times counts once.

/// One mount as the system lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The device (`/dev/nvme0n1p2`); never sent.
    pub device: String,
    pub mount_point: String,
    pub filesystem: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub removable: bool,
}

/// A local volume worth reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFacts {
    pub mount_point: String,
    pub filesystem: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub removable: bool,
}

/// Filesystems that hold no user data on a local disk.
const SKIPPED: &[&str] = &[
    "tmpfs",
    "devtmpfs",
    "ramfs",
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "debugfs",
    "tracefs",
    "securityfs",
    "pstore",
    "efivarfs",
    "bpf",
    "configfs",
    "fusectl",
    "autofs",
    "binfmt_misc",
    "hugetlbfs",
    "overlay",
    "squashfs",
    "nsfs",
    "rpc_pipefs",
    // network
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "afs",
    "ceph",
    "glusterfs",
    "davfs",
];

/// The local volumes among `mounts`.
pub fn local_volumes(mounts: Vec<Mount>) -> Vec<VolumeFacts> {
    let mut by_device: std::collections::BTreeMap<String, Mount> =
        std::collections::BTreeMap::new();
    for mount in mounts {
        let fs = mount.filesystem.to_ascii_lowercase();
        if mount.total_bytes == 0 || SKIPPED.contains(&fs.as_str()) || fs.starts_with("fuse.") {
            continue;
        }
        // A device mounted several times (bind mounts): keep the shortest path.
        match by_device.get(&mount.device) {
            Some(kept) if kept.mount_point.len() <= mount.mount_point.len() => {}
            _ => {
                by_device.insert(mount.device.clone(), mount);
            }
        }
    }
    let mut volumes: Vec<VolumeFacts> = by_device
        .into_values()
        .map(|m| VolumeFacts {
            used_bytes: m.total_bytes.saturating_sub(m.available_bytes),
            mount_point: m.mount_point,
            filesystem: m.filesystem,
            total_bytes: m.total_bytes,
            removable: m.removable,
        })
        .collect();
    volumes.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    volumes
}

/// This machine's mounts, from sysinfo.
pub fn live_mounts() -> Vec<Mount> {
    let Ok(disks) = sysinfo::Disks::new_with_refreshed_list() else {
        return Vec::new();
    };
    disks
        .iter()
        .map(|disk| Mount {
            device: disk.name().to_string_lossy().into_owned(),
            mount_point: disk.mount_point().to_string_lossy().into_owned(),
            filesystem: disk.file_system().to_string_lossy().into_owned(),
            total_bytes: disk.total_space(),
            available_bytes: disk.available_space(),
            removable: disk.is_removable(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(device: &str, point: &str, fs: &str, total: u64, available: u64) -> Mount {
        Mount {
            device: device.into(),
            mount_point: point.into(),
            filesystem: fs.into(),
            total_bytes: total,
            available_bytes: available,
            removable: false,
        }
    }

    #[test]
    fn pseudo_network_and_duplicate_mounts_are_skipped() {
        let volumes = local_volumes(vec![
            mount("/dev/nvme0n1p2", "/", "ext4", 500, 200),
            mount("/dev/nvme0n1p2", "/var/lib/docker/x", "ext4", 500, 200),
            mount("/dev/nvme0n1p1", "/boot/efi", "vfat", 1, 0),
            mount("tmpfs", "/run", "tmpfs", 10, 10),
            mount("server:/home", "/mnt/home", "nfs4", 9000, 100),
            mount("gvfsd-fuse", "/run/user/1000/gvfs", "fuse.gvfsd-fuse", 0, 0),
            mount("overlay", "/", "overlay", 100, 50),
        ]);
        let points: Vec<&str> = volumes.iter().map(|v| v.mount_point.as_str()).collect();
        assert_eq!(points, ["/", "/boot/efi"]);
        assert_eq!(volumes[0].used_bytes, 300);
    }
}
