//! Resolves a `user:` string (`name`, `uid`, `uid:gid`, `name:group`, ...) against the
//! container rootfs's `/etc/passwd` and `/etc/group`, like docker does.

use std::path::Path;

use super::error::{ContainerError, Result};
use super::inroot;

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the user's memberships in `/etc/group` plus `group_add`.
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// A user database file of the container (`/etc/passwd`, `/etc/group`), resolved inside its
/// root: the container may have made it a symlink to a host file, a FIFO or `/dev/zero`.
fn read_db(rootfs: &Path, path: &str) -> Result<String> {
    let data = inroot::read_regular_file(rootfs, path, inroot::MAX_CONFIG_FILE)
        .map_err(|e| ContainerError::io("read in the container", path, e))?;
    Ok(String::from_utf8_lossy(&data.unwrap_or_default()).into_owned())
}

fn read_passwd(rootfs: &Path) -> Result<Vec<PasswdEntry>> {
    let text = read_db(rootfs, "/etc/passwd")?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect())
}

fn read_group(rootfs: &Path) -> Result<Vec<GroupEntry>> {
    let text = read_db(rootfs, "/etc/group")?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
}

fn resolve_group(groups: &[GroupEntry], user: &str, g: &str) -> Result<u32> {
    if let Ok(gid) = g.parse::<u32>() {
        return Ok(gid);
    }
    groups
        .iter()
        .find(|e| e.name == g)
        .map(|e| e.gid)
        .ok_or_else(|| ContainerError::User {
            user: user.to_string(),
            reason: format!("no group {g:?} in the container's /etc/group"),
        })
}

/// Resolves `user` (empty or `None` = root) plus `group_add` in `rootfs`.
pub fn resolve(rootfs: &Path, user: Option<&str>, group_add: &[String]) -> Result<ResolvedUser> {
    let spec = user.unwrap_or("").trim();
    let passwd = read_passwd(rootfs)?;
    let groups = read_group(rootfs)?;
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|e| e.uid == uid),
        Err(_) => {
            Some(
                passwd
                    .iter()
                    .find(|e| e.name == u)
                    .ok_or_else(|| ContainerError::User {
                        user: spec.to_string(),
                        reason: format!("no user {u:?} in the container's /etc/passwd"),
                    })?,
            )
        }
    };
    let uid = match entry {
        Some(e) => e.uid,
        None => u.parse().unwrap_or(0),
    };
    let gid = match g {
        Some(g) if !g.is_empty() => resolve_group(&groups, spec, g)?,
        _ => entry.map(|e| e.gid).unwrap_or(0),
    };
    let mut additional_gids = Vec::new();
    if g.is_none()
        && let Some(e) = entry
    {
        for grp in &groups {
            if grp.members.iter().any(|m| m == &e.name) && !additional_gids.contains(&grp.gid) {
                additional_gids.push(grp.gid);
            }
        }
    }
    for extra in group_add {
        let gid = resolve_group(&groups, spec, extra)?;
        if !additional_gids.contains(&gid) {
            additional_gids.push(gid);
        }
    }
    let home = entry
        .map(|e| e.home.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string());
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(d.path().join("etc")).expect("mkdir");
        fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .expect("write");
        fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nwheel:x:10:app\n",
        )
        .expect("write");
        d
    }

    #[test]
    fn forms() {
        let d = rootfs();
        let r = |u: &str| resolve(d.path(), Some(u), &[]);
        let root = r("").expect("root");
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let app = r("app").expect("app");
        assert_eq!(
            (app.uid, app.gid, app.additional_gids.clone()),
            (1000, 1000, vec![10])
        );
        assert_eq!(r("65534").expect("uid").gid, 65534);
        let unknown = r("4242").expect("unknown uid");
        assert_eq!((unknown.uid, unknown.gid), (4242, 0));
        assert_eq!(r("1000:10").expect("uid:gid").gid, 10);
        assert_eq!(r("app:nogroup").expect("name:group").gid, 65534);
        assert!(r("ghost").is_err());
        assert!(r("app:ghosts").is_err());
        let extra = resolve(d.path(), Some("nobody"), &["wheel".into()]).expect("group_add");
        assert_eq!(extra.additional_gids, vec![10]);
    }
}
