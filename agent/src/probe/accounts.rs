//! Local accounts: a login's uid, gid and home directory, from `/etc/passwd`
//! under the host root (logins from logind are local or cached by NSS; an
//! account unknown here has no calendar settings or session bus we can find).

use std::path::{Path, PathBuf};

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub login: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// The account named `login`, if `/etc/passwd` has it.
pub fn find(root: &Path, login: &str) -> Option<Account> {
    parse(&std::fs::read_to_string(root.join("etc/passwd")).ok()?)
        .into_iter()
        .find(|a| a.login == login)
}

/// The account with `uid`.
pub fn by_uid(root: &Path, uid: u32) -> Option<Account> {
    parse(&std::fs::read_to_string(root.join("etc/passwd")).ok()?)
        .into_iter()
        .find(|a| a.uid == uid)
}

/// This process's real uid, from `/proc/self/status`.
pub fn own_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn parse(passwd: &str) -> Vec<Account> {
    passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let [login, _, uid, gid, _, home, ..] = fields.as_slice() else {
                return None;
            };
            Some(Account {
                login: (*login).to_owned(),
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
                home: PathBuf::from(home),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_give_uid_gid_and_home() {
        let accounts = parse(
            "root:x:0:0:root:/root:/bin/bash\n# comment\nalice:x:1000:1000:Alice Martin,,,:/home/alice:/bin/bash\nbroken\n",
        );
        assert_eq!(accounts.len(), 2);
        assert_eq!(
            accounts[1],
            Account {
                login: "alice".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/alice".into()
            }
        );
    }
}
